"""assistant/evaluation/importers.py: Evaluation-set importers and the RAGAS export: the shared MultiHop-RAG and
DragonBall files, and tiny hand-made SQuAD v2, BEIR, upstream-form and run fixtures under tests/data/importers/."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from assistant.evaluation import importers
from assistant.evaluation.importers import (
    FORMATS,
    beir_documents,
    export_ragas,
    import_beir,
    import_dragonball,
    import_multihop_rag,
    import_squad,
    squad_documents,
    write_jsonl,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = Path(__file__).resolve().parent / "data" / "importers"
FIELDS = {"id": str, "question": str, "reference_answer": str, "answer_aliases": list, "question_type": str,
          "answerable": bool, "evidence": list, "tags": list}


def shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/ comes with the development machines and CI, not a fresh clone)")
    return path


def assert_case(case: dict) -> None:
    """Every field of the set format, with its type."""
    for key, kind in FIELDS.items():
        assert type(case.get(key)) is kind, f"{case.get('id')}: {key} is {type(case.get(key)).__name__}"
    assert case["id"].strip() and case["question"].strip(), case
    assert all(isinstance(a, str) and a for a in case["answer_aliases"]), case["id"]
    assert all(isinstance(t, str) and t for t in case["tags"]), case["id"]
    for item in case["evidence"]:
        assert isinstance(item, dict), case["id"]
        assert item["doc_id"] is None or (isinstance(item["doc_id"], str) and item["doc_id"]), case["id"]
        assert isinstance(item["text"], str), case["id"]


def squad_doc_text(doc_id: str) -> str:
    return next(d["body"] for d in squad_documents(DATA / "squad_v2.json") if d["doc_id"] == doc_id)


def loaded_documents(rows: list[dict], tmp_path: Path) -> dict[str, str]:
    """doc_id -> text as the project's loader reads the rows written as JSONL (what an ingest stores)."""
    from assistant.ingest.loaders import load_file

    path = tmp_path / "docs.jsonl"
    write_jsonl(rows, path)
    loaded = load_file(path, max_bytes=10_000_000)
    assert loaded.errors == []
    return {d.meta["doc_id"]: d.text for d in loaded.documents}


# --- the shared sets ----------------------------------------------------------------------------------

def test_multihop_rag_shared_queries():
    cases = import_multihop_rag(shared("data/multihop_rag/queries.jsonl"))
    assert len(cases) == 2556
    assert sum(not c["answerable"] for c in cases) == 301
    assert len({c["id"] for c in cases}) == 2556
    for case in cases:
        assert_case(case)
        assert case["answerable"] == (case["question_type"] != "null_query"), case["id"]
        assert bool(case["evidence"]) == case["answerable"], case["id"]
        for item in case["evidence"]:
            assert item["doc_id"] is None and item["text"].strip()
            assert {"title", "source", "published_at"} <= item.keys()
        assert case["tags"] == list(dict.fromkeys(e["source"] for e in case["evidence"] if e["source"]))
    first = cases[0]
    assert (first["id"], first["reference_answer"]) == ("mhq-0001", "Sam Bankman-Fried")
    assert first["tags"] == ["The Verge", "TechCrunch"]


def test_dragonball_shared_questions():
    cases = import_dragonball(shared("data/dragonball_finance_en/qa.jsonl"))
    assert len(cases) == 350
    assert sum(not c["answerable"] for c in cases) == 52
    assert len({c["id"] for c in cases}) == 350
    for case in cases:
        assert_case(case)
        assert case["answerable"] == (case["question_type"] != "Irrelevant Unsolvable Question"), case["id"]
        assert case["doc_ids"] and all(isinstance(d, str) for d in case["doc_ids"]), case["id"]
        assert all(isinstance(k, str) for k in case["keypoints"]), case["id"]
        assert all(e["doc_id"] in case["doc_ids"] or e["doc_id"] is None for e in case["evidence"]), case["id"]
        if case["answerable"]:
            assert case["evidence"], case["id"]
    first = cases[0]
    assert first["id"] == "dbq-fin-en-2134" and first["reference_answer"] == "January 2021"
    assert first["evidence"] == [{"doc_id": "db-fin-en-044",
                                  "text": "The first sub-event was the appointment of a new CEO in January 2021."}]


def test_imported_shared_set_reads_back_with_load_set(tmp_path):
    from assistant.evaluation.run import load_set

    cases = import_dragonball(shared("data/dragonball_finance_en/qa.jsonl"))
    write_jsonl(cases, tmp_path / "sets" / "db.jsonl")
    loaded = load_set(tmp_path / "sets" / "db.jsonl")
    assert [c.id for c in loaded] == [c["id"] for c in cases]
    assert [c.answerable for c in loaded] == [c["answerable"] for c in cases]
    assert loaded[0].evidence == cases[0]["evidence"]


# --- upstream forms ---------------------------------------------------------------------------------

def test_multihop_rag_upstream_json_array():
    cases = import_multihop_rag(DATA / "multihop_upstream.json")
    assert [c["id"] for c in cases] == ["mhq-0001", "mhq-0002", "mhq-0003"]
    for case in cases:
        assert_case(case)
    inference, null, temporal = cases
    assert inference["answerable"] and inference["reference_answer"] == "Kestrel Point"
    assert [e["text"] for e in inference["evidence"]][0] == "The Kestrel Point lamp was first lit in 1872."
    assert inference["evidence"][1] == {"doc_id": None, "title": "Towers of the coast", "source": "Harbour Gazette",
                                        "published_at": "2023-10-05T09:30:00+00:00",
                                        "text": "Kestrel Point's tower is 31 metres tall."}
    assert inference["tags"] == ["Coast Courier", "Harbour Gazette"]
    assert not null["answerable"] and null["question_type"] == "null_query" and null["evidence"] == []
    assert temporal["evidence"][1]["source"] is None and temporal["tags"] == ["Harbour Gazette"]


def test_upstream_and_converted_forms_give_the_same_fields():
    converted = import_multihop_rag(shared("data/multihop_rag/queries.jsonl"))[0]
    upstream = import_multihop_rag(DATA / "multihop_upstream.json")[0]
    assert list(upstream) == list(converted)
    assert [sorted(e) for e in upstream["evidence"]] == [sorted(e) for e in converted["evidence"]][:3]
    converted = import_dragonball(shared("data/dragonball_finance_en/qa.jsonl"))[0]
    upstream = import_dragonball(DATA / "dragonball_upstream.jsonl")[0]
    assert sorted(upstream) == sorted(converted)


def test_dragonball_upstream_lines():
    cases = import_dragonball(DATA / "dragonball_upstream.jsonl")
    for case in cases:
        assert_case(case)
    factual, comparison, unsolvable = cases
    assert factual["id"] == "dbq-fin-en-9001" and factual["reference_answer"] == "May 2020"
    assert factual["evidence"] == [{"doc_id": "44", "text": "Harbour Lights Ltd. opened its museum in May 2020."}]
    assert factual["tags"] == ["finance", "en"] and factual["doc_ids"] == ["44"]
    assert factual["keypoints"] == ["1. Harbour Lights Ltd. opened its museum in May 2020."]
    assert "prediction" not in factual
    assert [e["doc_id"] for e in comparison["evidence"]] == [None, None]  # two documents: which one is unknown
    assert comparison["doc_ids"] == ["44", "47"] and comparison["answerable"]
    assert not unsolvable["answerable"] and unsolvable["evidence"] == []


# --- SQuAD ------------------------------------------------------------------------------------------

def test_squad_v2_cases():
    cases = {c["id"]: c for c in import_squad(DATA / "squad_v2.json")}
    assert list(cases) == ["hl-1", "hl-2", "hl-3", "zt-1"]
    for case in cases.values():
        assert_case(case)
    lit = cases["hl-1"]
    assert lit["reference_answer"] == "Ada Morrow" and lit["answer_aliases"] == ["keeper Ada Morrow"]
    assert lit["evidence"] == [{"doc_id": "harbour-lighthouse-p0",
                                "text": "Its lamp was first lit by keeper Ada Morrow on 3 March 1872."}]
    assert lit["answerable"] and lit["question_type"] == "has_answer" and lit["tags"] == ["harbour-lighthouse"]
    impossible = cases["hl-2"]
    assert not impossible["answerable"] and impossible["question_type"] == "no_answer"
    assert impossible["reference_answer"] == "" and impossible["answer_aliases"] == [] and impossible["evidence"] == []
    # a wrong answer_start: the answer is found in the paragraph instead
    assert cases["hl-3"]["evidence"][0]["text"] == "The keepers left in 1990, when the light became automatic."
    assert cases["zt-1"]["evidence"][0]["doc_id"] == "z-rich-tram-p0"
    assert cases["zt-1"]["answer_aliases"] == ["15"]
    for case in cases.values():
        for item in case["evidence"]:
            assert item["text"] in squad_doc_text(item["doc_id"]) and case["reference_answer"] in item["text"]


@pytest.mark.parametrize(("context", "answer", "start", "sentence"), [
    ("One. Two three. Four.", "three", 9, "Two three."),
    ("He said \"go.\" Then she went home. End.", "she", 20, "Then she went home."),
    ("First part. Second part! Third part?", "part! Third", 19, "Second part! Third part?"),  # spans two
    ("Only one sentence without a stop", "sentence", 9, "Only one sentence without a stop"),
    ("The answer is not here. Nor here.", "absent", 3, "The answer is not here. Nor here."),  # whole paragraph
])
def test_answer_sentence(context, answer, start, sentence):
    assert importers._answer_sentence(context, answer, start) == sentence


def test_squad_documents_ingest_under_the_evidence_ids(tmp_path):
    rows = squad_documents(DATA / "squad_v2.json")
    assert [r["doc_id"] for r in rows] == ["harbour-lighthouse-p0", "harbour-lighthouse-p1", "z-rich-tram-p0"]
    assert rows[2]["title"] == "Zürich Tram" and rows[2]["body"].startswith("Zürich's first electric tram")
    texts = loaded_documents(rows, tmp_path)
    assert list(texts) == [r["doc_id"] for r in rows]
    for case in import_squad(DATA / "squad_v2.json"):
        for item in case["evidence"]:
            assert item["text"] in texts[item["doc_id"]]


# --- BEIR -------------------------------------------------------------------------------------------

def test_beir_cases():
    cases = import_beir(DATA / "beir_tiny")
    assert [c["id"] for c in cases] == ["q1", "q2"]  # q3 has no qrel, q4 only a score-0 one
    for case in cases:
        assert_case(case)
        assert case["answerable"] and case["reference_answer"] == "" and case["tags"] == ["beir_tiny"]
    assert cases[0]["question"] == "how often is high tide at kestrel point"
    assert cases[0]["evidence"] == [{"doc_id": "d1", "text": "", "relevance": 1}]
    assert cases[1]["evidence"] == [{"doc_id": "Kestrel_-bird", "text": "", "relevance": 2},
                                    {"doc_id": "d2", "text": "", "relevance": 1}]
    assert [c["id"] for c in import_beir(DATA / "beir_tiny", split="dev")] == ["q3"]
    assert FORMATS["beir"](DATA / "beir_tiny") == cases


def test_beir_documents_ingest_under_the_evidence_ids(tmp_path):
    rows = beir_documents(DATA / "beir_tiny")
    assert [r["doc_id"] for r in rows] == ["d1", "d2", "Kestrel_-bird", "d4"]
    assert rows[3] == {"doc_id": "d4", "title": "A document with a title only", "body": "A document with a title only"}
    texts = loaded_documents(rows, tmp_path)
    assert list(texts) == [r["doc_id"] for r in rows]
    assert texts["Kestrel_-bird"].startswith("A kestrel is a small falcon")
    evidence_ids = {e["doc_id"] for c in import_beir(DATA / "beir_tiny") for e in c["evidence"]}
    assert evidence_ids <= texts.keys()


# --- RAGAS export -----------------------------------------------------------------------------------

def test_export_ragas():
    rows = export_ragas(DATA / "per_question.jsonl")
    assert rows == [
        {"question": "When did the keepers leave?",
         "contexts": ["The last keepers of the Kestrel Point light left in 1990.", "High tide comes twice a day."],
         "answer": "The last keepers left in 1990 [1].", "ground_truth": "1990"},
        {"question": "Who painted the tower's first stripe?", "contexts": ["High tide comes twice a day."],
         "answer": "", "ground_truth": ""},
    ]


def test_export_ragas_takes_a_run_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "per_question.jsonl").write_bytes((DATA / "per_question.jsonl").read_bytes())
    assert export_ragas(run) == export_ragas(DATA / "per_question.jsonl")


# --- writing and the module -------------------------------------------------------------------------

def test_write_jsonl_round_trip(tmp_path):
    rows = [{"question": "Où est le phare ?", "contexts": ["a", "b"]}, {"question": "second", "contexts": []}]
    path = tmp_path / "new" / "folder" / "out.jsonl"
    write_jsonl(rows, path)
    text = path.read_text(encoding="utf-8")
    assert "Où est le phare ?" in text  # not \\u escapes
    assert [json.loads(line) for line in text.splitlines()] == rows


def test_formats_table():
    expected = {"multihop": import_multihop_rag, "dragonball": import_dragonball, "squad": import_squad,
                "beir": import_beir}
    assert expected == FORMATS


def test_importers_need_no_third_party_package():
    tree = ast.parse(Path(importers.__file__).read_text(encoding="utf-8"))
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert modules and modules <= set(sys.stdlib_module_names), modules - set(sys.stdlib_module_names)


# --- malformed input --------------------------------------------------------------------------------

GOOD_MULTIHOP = json.dumps({"id": "m1", "question": "Q?", "reference_answer": "A", "question_type": "inference_query",
                            "answerable": True, "evidence": [{"doc_id": None, "text": "fact"}]})
GOOD_DRAGONBALL = json.dumps({"id": "d1", "question": "Q?", "reference_answer": "A",
                              "question_type": "Factual Question", "answerable": True, "evidence": [],
                              "doc_ids": ["db-1"]})


@pytest.mark.parametrize(("importer", "name", "content", "where", "reason"), [
    (import_multihop_rag, "q.jsonl", GOOD_MULTIHOP + "\n{not json\n", ":2:", "not valid JSON"),
    (import_multihop_rag, "q.jsonl", '{"doc_id": "x", "body": "a document"}\n', ":1:", "not a MultiHop-RAG query"),
    (import_multihop_rag, "q.jsonl", GOOD_DRAGONBALL + "\n", ":1:",
     "not a MultiHop-RAG query ('question_type' 'Factual Question' is not one of"),
    (import_multihop_rag, "q.jsonl", GOOD_MULTIHOP.replace('"inference_query"', '["a list"]') + "\n", ":1:",
     "not a MultiHop-RAG query ('question_type' ['a list']"),
    (import_multihop_rag, "q.jsonl", GOOD_MULTIHOP.replace('"fact"}]', '"fact", "doc_id": 7}]') + "\n", ":1:",
     "'doc_id' must be a string or null"),
    (import_multihop_rag, "q.json", '[{"query": "Q?", "answer": "A", "question_type": "inference_query",'
     ' "evidence_list": [{"title": "t"}]}]', ": item 0: evidence_list[0]", "'fact' must be a string (missing)"),
    (import_multihop_rag, "q.json", '[{"query": "Q?"', "", "not valid JSON"),
    (import_multihop_rag, "q.jsonl", "\n\n", "", "no questions"),
    (import_multihop_rag, "q.jsonl", "[1, 2]\n", ": item 0", "must be a JSON object"),
    (import_dragonball, "qa.jsonl", GOOD_DRAGONBALL + "\n" + GOOD_DRAGONBALL.replace("true", '"yes"') + "\n", ":2:",
     "'answerable' must be true or false (not str)"),
    (import_dragonball, "qa.jsonl", '{"query": {"query_id": 1, "content": "Q?"}, "ground_truth": {}}\n', ":1:",
     "'query_type' must be a string (missing)"),
    (import_dragonball, "qa.jsonl", '["a", "list"]\n', ": item 0", "must be a JSON object"),
    (import_dragonball, "qa.jsonl", GOOD_MULTIHOP + "\n", ":1:", "not a DragonBall question"),
    (import_dragonball, "qa.jsonl", GOOD_DRAGONBALL.replace('["db-1"]', '[44]') + "\n", ":1:",
     "'doc_ids' must be a list of strings"),
    (import_dragonball, "qa.jsonl", '"a string"\n', ":1:", "a line must be a JSON object"),
    (import_squad, "squad.json", '{"version": "v2.0"}', "", "not SQuAD JSON"),
    (import_squad, "squad.json", '{"data": [{"title": "T", "paragraphs": [{"context": "C.", "qas": [{"id": "1",'
     ' "question": "Q?", "answers": []}]}]}]}', ": data[0].paragraphs[0].qas[0]", "without answers"),
    (import_squad, "squad.json", '{"data": [{"title": "T", "paragraphs": [{"context": "C.", "qas": [{"id": "1",'
     ' "question": "Q?", "answers": [{"text": "C"}]}]}]}]}',
     ": data[0].paragraphs[0].qas[0].answers[0]", "'answer_start' must be an integer"),
    (import_squad, "squad.json", '{"data": [{"title": "T", "paragraphs": [{"context": "C.", "qas": [{"id": "1",'
     ' "question": "Q?", "answers": [{"text": " ", "answer_start": 0}]}]}]}]}',
     ": data[0].paragraphs[0].qas[0].answers[0]", "empty answer 'text'"),
    (squad_documents, "squad.json", '{"data": [{"title": "T", "paragraphs": [{"qas": []}]}]}',
     ": data[0].paragraphs[0]", "'context' must be a string (missing)"),
    (export_ragas, "per_question.jsonl", '{"question": "Q?", "answer": "A", "abstained": false}\n', ":1:",
     "'retrieved' must be a list (missing)"),
    (export_ragas, "per_question.jsonl", '{"question": "Q?", "answer": "A", "abstained": false, "reference_answer": "",'
     ' "retrieved": [{"text": "t"}]}\n', ":1: retrieved[0]", "'rank' must be an integer"),
])
def test_malformed_input_names_the_file(tmp_path, importer, name, content, where, reason):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as error:
        importer(path)
    message = str(error.value)
    assert message.startswith(f"{path}{where}"), message
    assert reason in message, message


def test_text_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_bytes(GOOD_DRAGONBALL.encode() + b"\n" + b'{"id": "\xff"}\n')
    with pytest.raises(ValueError, match=r"qa\.jsonl:2: not UTF-8 text"):
        import_dragonball(path)


def test_a_folder_is_not_a_set_file():
    with pytest.raises(ValueError, match=r"beir_tiny: a folder, not a file"):
        import_squad(DATA / "beir_tiny")


def _beir_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "beir"
    for path in (DATA / "beir_tiny").rglob("*"):
        if path.is_file():
            target = folder / path.relative_to(DATA / "beir_tiny")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return folder


def test_beir_folder_without_qrels(tmp_path):
    folder = _beir_copy(tmp_path)
    (folder / "qrels" / "test.tsv").unlink()
    with pytest.raises(ValueError, match=r"not a BEIR folder \(no qrels/test.tsv\)") as error:
        import_beir(folder)
    assert str(folder) in str(error.value)
    with pytest.raises(ValueError, match=r"not a BEIR folder \(no corpus.jsonl\)"):
        beir_documents(folder / "qrels")


@pytest.mark.parametrize(("qrels", "where", "reason"), [
    ("query-id\tcorpus-id\tscore\nq1\td1\tone\n", ":2:", "not a qrel"),
    ("q1\td1\n", ":1:", "not a qrel"),
    ("query-id\tcorpus-id\tscore\nq9\td1\t1\n", ":", "query 'q9' is not in"),
    ("query-id\tcorpus-id\tscore\nq3\td1\t0\n", ":", "no queries with a positive qrel"),
])
def test_malformed_qrels_name_the_file(tmp_path, qrels, where, reason):
    folder = _beir_copy(tmp_path)
    path = folder / "qrels" / "test.tsv"
    path.write_text(qrels, encoding="utf-8")
    with pytest.raises(ValueError) as error:
        import_beir(folder)
    assert str(error.value).startswith(f"{path}{where}") and reason in str(error.value), str(error.value)


def test_beir_corpus_line_without_text_names_the_line(tmp_path):
    folder = _beir_copy(tmp_path)
    with (folder / "corpus.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"_id": "d5", "title": "no text field"}\n')
    with pytest.raises(ValueError, match=r"corpus\.jsonl:5: 'text' must be a string \(missing\)"):
        beir_documents(folder)
