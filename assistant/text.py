"""Words: what the keyword index, the answerer and the verifier count as a word, and which words carry
no meaning of their own in a question."""

from __future__ import annotations

import re

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both but by
can could did do does doing down during each few for from further had has have having he her here hers herself him
himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
other our ours out over own same she should so some such than that the their theirs them then there these they this
those through to too under until up very was we were what when where which while who whom why will with would you
your yours also said says say tell told according report reports reported show shows showed shown many much long
kind way ever yet still well
""".split())  # noqa: SIM905
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
