"""Does verification catch unsupported sentences? Plant them and count.

For every answerable question of a set, a scripted OpenAI-compatible server (tests/fake_openai.py, the
real llama-index client over loopback HTTP) answers from the prompt it receives with:
  - a true sentence: copied from passage [1], citing [1]            -> must stay supported
  - a true sentence shortened to its first clause, as models do     -> must stay supported
  - the same true sentence citing another report's passage          -> must be repaired (moved back)
  - planted sentences, each citing the passage they were made from:
      number   a figure of a passage sentence changed (73 -> 80)
      name     a name of a passage sentence swapped for one in no report
      negation a passage sentence negated ("showed" -> "did not show")
      invented a claim that none of the reports makes
                                                                  -> each must be flagged unsupported
Prints the share caught per kind and writes the per-question detail as JSON.

  .venv/bin/python evals/planted.py [--set evals/sets/corpus.jsonl] [--limit N] [--out runs/planted.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

INVENTED = [
    "The United Nations voted to lift all sanctions on both countries in a unanimous decision",
    "The city council approved a new airport to be built beside the harbour within two years",
    "Investigators found that the cargo consisted entirely of frozen fish bound for Japan",
    "The company announced it would move its headquarters to Singapore after the merger",
    "Officials said the festival drew a record crowd of visitors from across Europe",
]
SWAP_NAME = "Ingrid Vandersloot"
VERB = re.compile(r"\b(showed|said|met|signed|counted|published|reported|found|was|were|is|are|has|had)\b")


def passages_of(messages: list[dict]) -> dict[int, str]:
    """The numbered passages of the answer prompt ("Passage [n], date:" and its text), without their dates."""
    user = next(m["content"] for m in messages if m["role"] == "user")
    body = user.split("Passages:\n\n", 1)[1].rsplit("\n\nQuestion:", 1)[0]
    blocks = re.split(r"\n\n(?=Passage \[\d+\])", body)
    heads = [re.match(r"Passage \[(\d+)\][^\n]*\n", b) for b in blocks]
    return {int(h.group(1)): b[h.end():] for h, b in zip(heads, blocks)}


def sentences(text: str) -> list[str]:
    from assistant.text import sentence_spans

    return [text[a:b] for a, b in sentence_spans(text, 0, len(text)) if len(text[a:b].split()) >= 6]


def plant(messages: list[dict], index: int) -> tuple[str, dict]:
    """The scripted answer for one prompt, and what was planted in it (kind -> sentence)."""
    passages = passages_of(messages)
    candidates = [(n, s) for n, text in passages.items() for s in sentences(text)]
    if not candidates:
        return "The reports do not say.", {}
    true_n, true = candidates[0]
    plan: dict[str, tuple[str, int]] = {"true": (true, true_n)}
    clause = next((c for n, s in candidates if n == true_n for c in [s.split(", ")[0]] if len(c.split()) >= 6), None)
    if clause:
        plan["shortened"] = (clause, true_n)
    words = set(true.lower().split())
    # A passage that does not hold the true sentence, nor most of its words (an overlapping chunk would).
    other = next((n for n, text in passages.items()
                  if n != true_n and len(words & set(text.lower().split())) < 0.5 * len(words)), None)
    if other is not None:
        plan["miscited"] = (true, other)
    with_number = next(((n, s) for n, s in candidates if re.search(r"\d", s)), None)
    if with_number:
        n, s = with_number
        figure = re.search(r"\d+", s).group(0)
        plan["number"] = (s.replace(figure, str(int(figure) + 7), 1), n)
    with_name = next(((n, s, m) for n, s in candidates for m in re.finditer(r"(?<=\w )[A-Z][a-z]{2,}", s)), None)
    if with_name:
        n, s, m = with_name
        plan["name"] = (s[:m.start()] + SWAP_NAME + s[m.end():], n)
    with_verb = next(((n, s) for n, s in candidates if VERB.search(s) and not re.search(r"\bnot\b|n't", s)), None)
    if with_verb:
        n, s = with_verb
        plan["negation"] = (VERB.sub(lambda v: f"{v.group(0)} not" if v.group(0) in (
            "was", "were", "is", "are", "has", "had") else f"did not {_base(v.group(0))}", s, count=1), n)
    plan["invented"] = (INVENTED[index % len(INVENTED)] + ".", true_n)
    text = " ".join(f"{s.rstrip('.')} [{n}]." for s, n in plan.values())
    return text, {kind: s for kind, (s, _) in plan.items()}


def _base(verb: str) -> str:
    return {"showed": "show", "said": "say", "met": "meet", "signed": "sign", "counted": "count",
            "published": "publish", "reported": "report", "found": "find"}.get(verb, verb)


def run(assistant, questions: list[dict], base_url_server) -> dict:
    """Ask each question through the scripted server; score what the verifier made of each sentence."""
    kinds = ["true", "shortened", "miscited", "number", "name", "negation", "invented"]
    outcome: dict[str, list[bool]] = {k: [] for k in kinds}
    detail = []
    for i, q in enumerate(questions):
        planted: dict = {}

        def reply(messages, i=i, planted=planted):
            text, what = plant(messages, i)
            planted.update(what)
            return text

        base_url_server.reply = reply
        answer = assistant.ask(q["question"], answerer="openai")
        # The answer's sentences come back in the order they were planted (strict mode is off).
        if len(answer.sentences) != len(planted):
            detail.append({"id": q["id"], "kind": "unmatched", "ok": False, "sentences": len(answer.sentences)})
            continue
        for kind, s in zip(planted, answer.sentences):
            if kind in ("true", "shortened"):
                ok = s.supported
            elif kind == "miscited":
                ok = s.supported and any(c.repaired for c in answer.citations if c.marker in s.markers)
            else:
                ok = not s.supported
            outcome[kind].append(ok)
            detail.append({"id": q["id"], "kind": kind, "ok": ok, "sentence": s.text, "supported": s.supported,
                           "support_score": s.support_score, "flags": s.flags})
    share = {k: round(sum(v) / len(v), 3) if v else None for k, v in outcome.items()}
    counts = {k: len(v) for k, v in outcome.items()}
    planted_all = [ok for k in kinds[3:] for ok in outcome[k]]
    return {"questions": len(questions), "counts": counts, "ok_share": share,
            "planted_caught": round(sum(planted_all) / len(planted_all), 3) if planted_all else None,
            "detail": detail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=ROOT / "evals" / "sets" / "corpus.jsonl")
    parser.add_argument("--store", type=Path, default=ROOT / ".store" / "planted")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "planted.json")
    args = parser.parse_args()

    from assistant import Assistant
    from assistant.settings import load_settings
    from tests.fake_openai import FakeOpenAI

    questions = [json.loads(line) for line in args.set.read_text().splitlines() if line.strip()]
    questions = [q for q in questions if q["answerable"]][:args.limit]
    with FakeOpenAI() as server:
        assistant = Assistant(settings=load_settings(store=args.store, answerer="openai", llm_model="scripted",
                                                     llm_base_url=server.base_url))
        assistant.ingest([args.corpus])
        started = time.perf_counter()
        result = run(assistant, questions, server)
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"{result['questions']} questions from {args.set.name}; {result['seconds']} s")
    print("| sentence | count | handled as it should |")
    print("|---|---|---|")
    for kind, share in result["ok_share"].items():
        print(f"| {kind} | {result['counts'][kind]} | {share} |")
    print(f"planted sentences caught: {result['planted_caught']}")
    for d in result["detail"]:
        if not d["ok"]:
            print(f"  missed {d['kind']}: {d['id']} {d['sentence'][:110]!r} score {d['support_score']} {d['flags']}")


if __name__ == "__main__":
    main()
