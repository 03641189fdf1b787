"""Convert public evaluation sets into our set format (evals/README.md) and export a run for RAGAS.

Every case has the fields `id`, `question`, `reference_answer`, `answer_aliases`, `question_type`,
`answerable`, `evidence` ([{doc_id, text, ...}]) and `tags`; a format's other fields are kept as extra keys.
Input that is not of the expected format raises ValueError naming the file (and the line of a JSONL file,
or the item of a JSON file); a missing file raises the usual OSError. No third-party packages.

Over 400 lines: one importer per public format, each short, with the checks that name a bad file's line.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ..ingest.loaders import clean_doc_id

Source = str | Path
Row = dict[str, Any]

# MultiHop-RAG's question types; null_query marks a question its articles cannot answer.
MULTIHOP_TYPES = {"inference_query", "comparison_query", "temporal_query", "null_query"}
MULTIHOP_UNANSWERABLE = {"null_query"}
# DragonBall's question type for a question its documents cannot answer (English and Chinese sets).
DRAGONBALL_UNANSWERABLE = {"Irrelevant Unsolvable Question", "无关无解问"}
# A sentence ends at . ! or ? (and any closing quotes or brackets) followed by white space.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+")


# --- public API -------------------------------------------------------------------------------------

def import_multihop_rag(src: Source) -> list[Row]:
    """MultiHop-RAG queries: the converted JSONL of ../shared/data/multihop_rag/queries.jsonl, or the
    upstream MultiHopRAG.json (a JSON array without ids: they are numbered mhq-0001... in file order).
    Evidence items keep their article's title, source and published_at; tags are the evidence sources."""
    path = Path(src)
    cases = [_multihop_case(row, where, number) for number, (where, row) in enumerate(_records(path), start=1)]
    return _nonempty(cases, path)


def import_dragonball(src: Source) -> list[Row]:
    """RAGEval DragonBall questions: the converted JSONL of ../shared/data/dragonball_finance_en/qa.jsonl,
    or upstream lines ({"query": {...}, "ground_truth": {...}, "domain", "language"}). Both keep the
    ground-truth `doc_ids` and `keypoints` as extra keys."""
    path = Path(src)
    return _nonempty([_dragonball_case(row, where) for where, row in _records(path)], path)


def import_squad(src: Source) -> list[Row]:
    """SQuAD v1.1 or v2.0 JSON. Each paragraph is a document (see `squad_documents`); an answerable
    question's evidence is the sentence of its paragraph that holds the first answer. Impossible (v2)
    questions are unanswerable, with no reference and no evidence."""
    path = Path(src)
    cases = [_squad_case(qa, paragraph, f"{paragraph.where}.qas[{i}]")
             for paragraph in _squad_paragraphs(path)
             for i, qa in enumerate(paragraph.qas)]
    return _nonempty(cases, path)


def squad_documents(src: Source) -> list[Row]:
    """The paragraphs of a SQuAD file as documents to ingest: {"doc_id", "title", "body"}."""
    path = Path(src)
    rows = [{"doc_id": p.doc_id, "title": p.title, "body": p.context} for p in _squad_paragraphs(path)]
    return _nonempty(rows, path, what="paragraphs")


def import_beir(folder: Source, split: str = "test") -> list[Row]:
    """A BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv). Each query with a positive qrel
    becomes an answerable case with no reference answer, whose evidence is its relevant documents (text
    empty: only the document is known). Queries without one are left out."""
    root = _beir_folder(folder, split)
    queries_path, qrels_path = root / "queries.jsonl", root / "qrels" / f"{split}.tsv"
    relevant = _beir_qrels(qrels_path)
    cases: list[Row] = []
    seen: set[str] = set()
    for where, row in _jsonl(queries_path):
        query_id = _identifier(row, "_id", where)
        seen.add(query_id)
        if query_id in relevant:
            cases.append(_case(where, case_id=query_id, question=_text(row, "text", where),
                               question_type="retrieval", evidence=relevant[query_id], tags=[root.name]))
    unknown = [q for q in relevant if q not in seen]
    if unknown:
        raise ValueError(f"{qrels_path}: query {unknown[0]!r} is not in {queries_path}")
    return _nonempty(cases, qrels_path, what="queries with a positive qrel")


def beir_documents(folder: Source) -> list[Row]:
    """The corpus of a BEIR folder as documents to ingest: {"doc_id", "title", "body"}. A document with
    no text has its title as body; one with neither is left out (there is nothing to ingest)."""
    path = Path(folder) / "corpus.jsonl"
    if not path.is_file():
        raise ValueError(f"{folder}: not a BEIR folder (no corpus.jsonl)")
    rows: list[Row] = []
    for where, row in _jsonl(path):
        doc_id = _doc_id(_identifier(row, "_id", where))
        title = _optional_text(row, "title", where) or ""
        body = _text(row, "text", where)
        if body.strip() or title.strip():
            rows.append({"doc_id": doc_id, "title": title, "body": body if body.strip() else title})
    return _nonempty(rows, path, what="documents")


def export_ragas(per_question_path: Source) -> list[Row]:
    """Rows for RAGAS from a run's per_question.jsonl (or its run folder): question, contexts (the
    retrieved passages' texts in rank order), answer ("" when the assistant abstained), ground_truth."""
    path = Path(per_question_path)
    if path.is_dir():
        path = path / "per_question.jsonl"
    rows = [_ragas_row(record, where) for where, record in _jsonl(path)]
    return _nonempty(rows, path)


def write_jsonl(rows: Iterable[Row], path: Source) -> None:
    """Write one JSON object a line (UTF-8), creating the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


FORMATS: dict[str, Callable[[Source], list[Row]]] = {
    "multihop": import_multihop_rag,
    "dragonball": import_dragonball,
    "squad": import_squad,
    "beir": import_beir,
}


# --- MultiHop-RAG -----------------------------------------------------------------------------------

def _multihop_case(row: Row, where: str, number: int) -> Row:
    question_type = row.get("question_type")
    if not isinstance(question_type, str) or question_type not in MULTIHOP_TYPES:
        raise ValueError(f"{where}: not a MultiHop-RAG query ('question_type' {question_type!r} is not one of "
                         f"{', '.join(sorted(MULTIHOP_TYPES))})")
    if "query" in row:  # upstream MultiHopRAG.json
        evidence = [_multihop_fact(item, f"{where}: evidence_list[{i}]")
                    for i, item in enumerate(_objects(row, "evidence_list", where))]
        return _case(where, case_id=f"mhq-{number:04d}", question=_text(row, "query", where),
                     reference_answer=_text(row, "answer", where), question_type=question_type,
                     answerable=question_type not in MULTIHOP_UNANSWERABLE, evidence=evidence,
                     tags=_sources(evidence))
    if "question" in row:  # converted
        case = _native_case(row, where)
        if "tags" not in row:
            case["tags"] = _sources(case["evidence"])
        return case
    raise ValueError(f"{where}: not a MultiHop-RAG query (no 'question' or 'query')")


def _multihop_fact(item: Row, where: str) -> Row:
    meta = {key: _optional_text(item, key, where) for key in ("title", "source", "published_at")}
    return {"doc_id": None, **meta, "text": _text(item, "fact", where)}


def _sources(evidence: list[Row]) -> list[str]:
    """The distinct sources of the evidence items, in order."""
    return list(dict.fromkeys(e["source"] for e in evidence if isinstance(e.get("source"), str) and e["source"]))


# --- DragonBall -------------------------------------------------------------------------------------

def _dragonball_case(row: Row, where: str) -> Row:
    if isinstance(row.get("query"), dict):  # upstream
        return _dragonball_upstream_case(row, where)
    if "question" in row and "doc_ids" in row:  # converted
        case = _native_case(row, where)
        _texts(case, "doc_ids", where)
        return case
    raise ValueError(f"{where}: not a DragonBall question (no 'query' object, nor 'question' and 'doc_ids')")


def _dragonball_upstream_case(row: Row, where: str) -> Row:
    query, truth = _object(row, "query", where), _object(row, "ground_truth", where)
    at_query, at_truth = f"{where}: query", f"{where}: ground_truth"
    query_id, question_type = _identifier(query, "query_id", at_query), _text(query, "query_type", at_query)
    doc_ids = [_as_id(value, f"{at_truth}.doc_ids") for value in _list(truth, "doc_ids", at_truth)]
    document = doc_ids[0] if len(doc_ids) == 1 else None
    evidence = [{"doc_id": document, "text": text} for text in _texts(truth, "references", at_truth)]
    domain, language = _text(row, "domain", where, default=""), _text(row, "language", where, default="")
    case_id = "-".join(part for part in ("dbq", domain[:3].lower(), language.lower(), query_id) if part)
    return _case(where, case_id=case_id, question=_text(query, "content", at_query),
                 reference_answer=_text(truth, "content", at_truth), question_type=question_type,
                 answerable=question_type not in DRAGONBALL_UNANSWERABLE, evidence=evidence,
                 tags=[t.lower() for t in (domain, language) if t], source_query_id=query["query_id"],
                 doc_ids=doc_ids, keypoints=_texts(truth, "keypoints", at_truth, default=[]))


# --- SQuAD ------------------------------------------------------------------------------------------

class _Paragraph(NamedTuple):
    article: str  # the article's slug
    doc_id: str
    title: str
    context: str
    qas: list[Row]
    where: str


def _squad_paragraphs(path: Path) -> list[_Paragraph]:
    data = _read_json(path)
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise ValueError(f"{path}: not SQuAD JSON (no 'data' list)")
    paragraphs: list[_Paragraph] = []
    slugs: set[str] = set()
    for a, article in enumerate(articles):
        where = f"{path}: data[{a}]"
        if not isinstance(article, dict):
            raise ValueError(f"{where}: must be a JSON object")
        title = _text(article, "title", where)
        slug = _slug(title) or f"article-{a}"
        slug = f"{slug}-{a}" if slug in slugs else slug
        slugs.add(slug)
        for p, paragraph in enumerate(_objects(article, "paragraphs", where)):
            at = f"{where}.paragraphs[{p}]"
            paragraphs.append(_Paragraph(slug, f"{slug}-p{p}", title.replace("_", " "),
                                         _text(paragraph, "context", at), _objects(paragraph, "qas", at), at))
    return paragraphs


def _squad_case(qa: Row, paragraph: _Paragraph, where: str) -> Row:
    impossible = _flag(qa, "is_impossible", where, default=False)
    answers = [_squad_answer(a, f"{where}.answers[{i}]") for i, a in enumerate(_objects(qa, "answers", where))]
    if not impossible and not answers:
        raise ValueError(f"{where}: an answerable question without answers")
    texts = [] if impossible else list(dict.fromkeys(text for text, _ in answers))
    evidence = [] if impossible else [{"doc_id": paragraph.doc_id,
                                       "text": _answer_sentence(paragraph.context, *answers[0])}]
    return _case(where, case_id=_identifier(qa, "id", where), question=_text(qa, "question", where),
                 reference_answer=texts[0] if texts else "", answer_aliases=texts[1:],
                 question_type="no_answer" if impossible else "has_answer", answerable=not impossible,
                 evidence=evidence, tags=[paragraph.article])


def _squad_answer(answer: Row, where: str) -> tuple[str, int]:
    start = answer.get("answer_start")
    if not isinstance(start, int) or isinstance(start, bool):
        raise ValueError(f"{where}: 'answer_start' must be an integer")
    text = _text(answer, "text", where)
    if not text.strip():
        raise ValueError(f"{where}: empty answer 'text'")
    return text, start


def _answer_sentence(context: str, answer: str, start: int) -> str:
    """The sentence(s) of `context` that hold the answer at `start`, or the whole context when the answer
    is not there."""
    if context[start:start + len(answer)] != answer:
        start = context.find(answer)
        if start < 0:
            return context.strip()
    end = start + len(answer)
    begin = max((m.end() for m in _SENTENCE_END.finditer(context, 0, start)), default=0)
    stop = _SENTENCE_END.search(context, end)
    finish = stop.start() + len(stop.group().rstrip()) if stop else len(context)
    return context[begin:finish].strip()


def _slug(text: str) -> str:
    """Lower-case ASCII letters and digits joined by '-' (stable, and unchanged by the loader's id rules)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- BEIR -------------------------------------------------------------------------------------------

def _beir_folder(folder: Source, split: str) -> Path:
    root = Path(folder)
    for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (root / name).is_file():
            raise ValueError(f"{root}: not a BEIR folder (no {name})")
    return root


def _beir_qrels(path: Path) -> dict[str, list[Row]]:
    """Positive qrels by query id, in file order: [{doc_id, text: "", relevance}]."""
    relevant: dict[str, list[Row]] = {}
    for where, columns in _tsv_rows(path):
        if len(columns) != 3 or not _is_int(columns[2]):
            raise ValueError(f"{where}: not a qrel (query-id, corpus-id, integer score)")
        query_id, corpus_id, score = columns[0], columns[1], int(columns[2])
        if score > 0:
            relevant.setdefault(query_id, []).append({"doc_id": _doc_id(corpus_id), "text": "", "relevance": score})
    return relevant


def _tsv_rows(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(where, columns) of each line of a tab-separated file (read as BEIR reads it), without blank lines
    and without a header line (a first line of three columns whose last is not a number)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter="\t")
            for columns in reader:
                header = reader.line_num == 1 and len(columns) == 3 and not _is_int(columns[2])
                if any(c.strip() for c in columns) and not header:
                    yield f"{path}:{reader.line_num}", columns
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text") from exc


def _doc_id(value: str) -> str:
    """The id the loader stores for a JSONL row with this doc_id, so evidence and ingested documents
    agree; an id with no usable character becomes its hex code."""
    return clean_doc_id(value) or "id-" + value.encode("utf-8").hex()


def _is_int(text: str) -> bool:
    return text.strip().lstrip("-").isdigit()


# --- RAGAS ------------------------------------------------------------------------------------------

def _ragas_row(record: Row, where: str) -> Row:
    passages = _objects(record, "retrieved", where)
    for i, passage in enumerate(passages):
        _text(passage, "text", f"{where}: retrieved[{i}]")
        if not isinstance(passage.get("rank"), int):
            raise ValueError(f"{where}: retrieved[{i}]: 'rank' must be an integer")
    abstained = _flag(record, "abstained", where)
    return {"question": _text(record, "question", where),
            "contexts": [p["text"] for p in sorted(passages, key=lambda p: p["rank"])],
            "answer": "" if abstained else _text(record, "answer", where),
            "ground_truth": _text(record, "reference_answer", where)}


# --- our format -------------------------------------------------------------------------------------

def _case(where: str, *, case_id: str, question: str, reference_answer: str = "",
          answer_aliases: list[str] | None = None, question_type: str = "", answerable: bool = True,
          evidence: list[Row] | None = None, tags: list[str] | None = None, **extra: Any) -> Row:
    """One case with every field of the set format; `extra` keys follow them."""
    if not case_id.strip():
        raise ValueError(f"{where}: empty id")
    if not question.strip():
        raise ValueError(f"{where}: empty question")
    return {"id": case_id, "question": question, "reference_answer": reference_answer,
            "answer_aliases": list(answer_aliases or []), "question_type": question_type,
            "answerable": answerable, "evidence": list(evidence or []), "tags": list(tags or []), **extra}


def _native_case(row: Row, where: str) -> Row:
    """A row already in our format (the converted sets of ../shared/): checked, other fields kept."""
    evidence = [_evidence_item(e, f"{where}: evidence[{i}]") for i, e in enumerate(_objects(row, "evidence", where))]
    case = _case(where, case_id=_identifier(row, "id", where), question=_text(row, "question", where),
                 reference_answer=_text(row, "reference_answer", where),
                 answer_aliases=_texts(row, "answer_aliases", where, default=[]),
                 question_type=_text(row, "question_type", where), answerable=_flag(row, "answerable", where),
                 evidence=evidence, tags=_texts(row, "tags", where, default=[]))
    return {**case, **{k: v for k, v in row.items() if k not in case}}


def _evidence_item(item: Row, where: str) -> Row:
    return {**item, "doc_id": _optional_text(item, "doc_id", where), "text": _text(item, "text", where)}


# --- reading ----------------------------------------------------------------------------------------

def _records(path: Path) -> Iterator[tuple[str, Row]]:
    """(where, object) for each object of a JSON array file, or of each line of a JSONL file."""
    if not _starts_with_array(path):
        yield from _jsonl(path)
        return
    items = _read_json(path)
    for i, item in enumerate(items):
        where = f"{path}: item {i}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: must be a JSON object")
        yield where, item


def _jsonl(path: Path) -> Iterator[tuple[str, Row]]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(row, dict):
            raise ValueError(f"{where}: a line must be a JSON object")
        yield where, row


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    _require_file(path)
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}:{number}: not UTF-8 text") from exc
            yield number, line


def _read_json(path: Path) -> Any:
    _require_file(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc


def _starts_with_array(path: Path) -> bool:
    _require_file(path)
    with path.open("rb") as f:
        head = f.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"[")


def _require_file(path: Path) -> None:
    if path.is_dir():
        raise ValueError(f"{path}: a folder, not a file")


def _nonempty(rows: list[Row], path: Path, what: str = "questions") -> list[Row]:
    if not rows:
        raise ValueError(f"{path}: no {what}")
    return rows


# --- field checks -----------------------------------------------------------------------------------

def _bad(row: Row, key: str, where: str, wanted: str) -> ValueError:
    found = f"not {type(row[key]).__name__}" if key in row else "missing"
    return ValueError(f"{where}: '{key}' must be {wanted} ({found})")


def _text(row: Row, key: str, where: str, default: str | None = None) -> str:
    value = row.get(key, default)
    if not isinstance(value, str):
        raise _bad(row, key, where, "a string")
    return value


def _optional_text(row: Row, key: str, where: str) -> str | None:
    value = row.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(row, key, where, "a string or null")
    return value


def _flag(row: Row, key: str, where: str, default: bool | None = None) -> bool:
    value = row.get(key, default)
    if not isinstance(value, bool):
        raise _bad(row, key, where, "true or false")
    return value


def _list(row: Row, key: str, where: str, default: list | None = None) -> list:
    value = row.get(key, default)
    if not isinstance(value, list):
        raise _bad(row, key, where, "a list")
    return value


def _texts(row: Row, key: str, where: str, default: list | None = None) -> list[str]:
    values = _list(row, key, where, default)
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"{where}: '{key}' must be a list of strings")
    return list(values)


def _objects(row: Row, key: str, where: str) -> list[Row]:
    values = _list(row, key, where)
    for i, value in enumerate(values):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: '{key}[{i}]' must be a JSON object")
    return values


def _object(row: Row, key: str, where: str) -> Row:
    value = row.get(key)
    if not isinstance(value, dict):
        raise _bad(row, key, where, "a JSON object")
    return value


def _identifier(row: Row, key: str, where: str) -> str:
    """An id given as a string or an integer, as a string."""
    if key not in row:
        raise _bad(row, key, where, "a string or an integer")
    return _as_id(row[key], f"{where}: '{key}'")


def _as_id(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{where}: an id must be a string or an integer, not {type(value).__name__}")
    return str(value)
