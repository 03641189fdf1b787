"""Fit the timeline's topicality model (assistant/read/topicality.py) and write topicality.json beside it.

  .venv/bin/python evals/train_topicality.py evals/sets/timeline_train.jsonl --store DIR \
      [--set evals/sets/timelines.jsonl --fit-store corpus=DIR --fit-store realtimeqa=DIR]

Training data: evals/sets/timeline_train.jsonl, the candidate rows of 42 topics of their own over the
RealTimeQA pages (none of them a topic of evals/sets/timelines.jsonl), each labelled by a reader of the page:
does the sentence tell an event of the topic, and is its date right (evals/README.md, "Timeline training
rows"). The candidates are made again here by the product's own code (every dated sentence the timeline
reads, margins aside) and joined to their labels by report and sentence; one no label names is left out.

1. The model: a logistic regression on every labelled candidate's features.
2. Its threshold: the one whose rows, among those within the shipped margins, score best (the share of the
   topic's events kept plus the share of kept rows that are events), each topic's candidates scored by a
   model fit on the other topics.
3. With --set, the timelines of the set's fit topics are scored with and without the model, for the record.
   The held topics are never read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

THRESHOLDS = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]
C = 0.5  # the regression's inverse regularisation: few topics, many correlated features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labels", type=Path)
    parser.add_argument("--store", required=True, help="the store of the RealTimeQA pages the labels are on")
    parser.add_argument("--set", type=Path, help="a timeline set whose fit topics are scored with the model")
    parser.add_argument("--fit-store", action="append", default=[], metavar="CORPUS=DIR")
    parser.add_argument("--out", type=Path, default=ROOT / "assistant" / "read" / "topicality.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    names, X, Y, G, within = _rows(args.labels, Path(args.store))
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-9
    Z = (X - mean) / scale
    print(f"{len(Y)} labelled candidates, {Y.sum()} of them events of their topic, from {len(set(G))} topics")
    held_out = np.zeros(len(Y))
    for topic in set(G):
        out = np.equal(G, topic)
        held_out[out] = LogisticRegression(C=C, max_iter=3000).fit(Z[~out], Y[~out]).predict_proba(Z[out])[:, 1]
    auc = float(roc_auc_score(Y, held_out))
    print(f"leave-one-topic-out AUC {auc:.3f} (the reader's log-odds alone: "
          f"{roc_auc_score(Y, X[:, names.index('reader')]):.3f})")

    def figures(kept: np.ndarray) -> dict[str, float]:
        return {"precision": round(float(Y[kept].mean()), 4), "recall": round(float(Y[kept].sum() / Y.sum()), 4)}

    margins_only = figures(within)
    print(f"  margins alone: {margins_only}")
    scored = []
    for t in THRESHOLDS:
        f = figures(within & (held_out >= t))
        scored.append((f["precision"] + f["recall"], -t, t, f))
        print(f"  threshold {t:.2f}: {f}")
    _, _, threshold, chosen = max(scored)
    model = LogisticRegression(C=C, max_iter=3000).fit(Z, Y)
    fitted = {"weights": dict(zip(names, model.coef_[0].tolist())), "bias": float(model.intercept_[0]),
              "mean": dict(zip(names, mean.tolist())), "scale": dict(zip(names, scale.tolist())),
              "threshold": threshold,
              "trained_on": {"topics": len(set(G)), "rows": len(Y), "events": int(Y.sum()),
                             "leave_one_topic_out_auc": round(auc, 4),
                             "rows_within_margins": {"margins_alone": margins_only, "with_the_model": chosen}}}
    args.out.write_text(json.dumps(fitted, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: threshold {threshold}")
    if args.set:
        _fit_topics(args.set, dict(s.split("=", 1) for s in args.fit_store), args.out)


def _rows(labels_path: Path, store: Path):
    """Every labelled candidate's features, label, topic, and whether it is within the shipped margins."""
    from assistant import Assistant
    from assistant.read.timeline import Margins, candidates, describe

    labels = [json.loads(line) for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assistant = Assistant(store=store)
    shipped = Margins()
    x, y, groups, within = [], [], [], []
    for topic in dict.fromkeys(r["topic"] for r in labels):
        # A sentence's label is whether it tells an event of the topic: its date may since be read otherwise.
        by_row = {(r["doc_id"], r["sentence"]): r for r in labels if r["topic"] == topic}
        ranked, found = assistant.timeline_sentences(topic)
        if not ranked:
            continue
        events = candidates(ranked, found.infos, Margins(sentence=100.0, report=100.0))
        describe(events, ranked, found.texts, found.infos, assistant.embed, topic)
        listed = {(e.sentence.doc_id, e.sentence.start, e.when.iso) for e in candidates(ranked, found.infos, shipped)}
        for e in events:
            label = by_row.get((e.sentence.doc_id, " ".join(e.sentence.text.split())))
            if label is not None and e.kind == "event":
                x.append(e.features)
                y.append(label["event"])
                groups.append(topic)
                within.append((e.sentence.doc_id, e.sentence.start, e.when.iso) in listed)
    names = sorted(x[0])
    return (names, np.array([[f[n] for n in names] for f in x]), np.array(y, dtype=int), np.array(groups),
            np.array(within))


def _fit_topics(set_path: Path, stores: dict[str, str], model_path: Path) -> None:
    """The fit topics' figures with the margins alone and with the model (never the held topics')."""
    from assistant import Assistant
    from assistant.evaluation.timelines import METRICS, cited_texts, load_timeline_set, score_topic
    from assistant.models import TIMELINE_SECTIONS
    from assistant.read.compose import citer
    from assistant.read.timeline import build
    from assistant.read.topicality import Topicality

    cases = [c for c in load_timeline_set(set_path) if c.split == "fit" and c.corpus in stores]
    totals = {"margins alone": {}, "with the model": {}}
    for corpus, store in stores.items():
        assistant = Assistant(store=Path(store))
        texts: dict[str, str] = {}
        for case in (c for c in cases if c.corpus == corpus):
            ranked, found = assistant.timeline_sentences(case.topic)
            for name, model in (("margins alone", None), ("with the model", Topicality.load(model_path))):
                sections = build(ranked, found.texts, found.infos, assistant.embed, citer(found), topic=case.topic,
                                 topicality=model)
                timeline = {n: [e.model_dump(mode="json") for e in rows]
                            for n, rows in zip(TIMELINE_SECTIONS, sections)}
                timeline["timings_ms"] = {"total": 0.0}
                counts = score_topic(case, timeline, cited_texts(timeline, texts, assistant.document))["counts"]
                for key, value in counts.items():
                    totals[name][key] = totals[name].get(key, 0) + value
    for name, counts in totals.items():
        print(f"fit topics ({len(cases)}), {name}: " + ", ".join(
            f"{m} {counts[n] / counts[d]:.3f} ({counts[n]}/{counts[d]})" for m, (n, d) in METRICS.items() if counts[d]))


if __name__ == "__main__":
    main()
