"""assistant/read/generate.py, respond.py, verify.py and compose.py: Generative answers, verified sentence by sentence:
the real llama-index OpenAI-compatible client talks over HTTP to a scripted server (tests/fake_openai.py), against
the real store and embedding model."""

from __future__ import annotations

import json
import re

import pytest

from assistant import Assistant
from assistant.read.answer import ABSTAIN
from assistant.read.generate import LLMError, make_llm
from assistant.read.verify import split_answer
from assistant.settings import Settings
from assistant.text import passage_window

from .fake_openai import FakeOpenAI

FREIGHT = "How many freight cars did satellite images show at Tumangang station?"


def passages_of(messages: list[dict]) -> dict[int, str]:
    """The numbered passages of the answer prompt the server received: "Passage [n], date:" and its text."""
    user = next(m["content"] for m in messages if m["role"] == "user")
    blocks = re.split(r"\n\n(?=Passage \[\d+\])", user.split("Passages:\n\n", 1)[1].split("\n\nQuestion:")[0])
    heads = [re.match(r"Passage \[(\d+)\][^\n]*\n", b) for b in blocks]
    return {int(h.group(1)): b[h.end():] for h, b in zip(heads, blocks)}


def number_with(messages: list[dict], needle: str) -> int:
    return next(n for n, text in passages_of(messages).items() if needle in text)


def number_without(messages: list[dict], needle: str) -> int:
    return next(n for n, text in passages_of(messages).items() if needle not in text)


@pytest.fixture
def server():
    with FakeOpenAI() as s:
        yield s


@pytest.fixture
def llm_assistant(assistant, server):
    """The session's store and model, answering through the fake server."""
    a = Assistant(settings=assistant.settings.model_copy(update={
        "answerer": "openai", "llm_model": "fake-model", "llm_base_url": server.base_url}))
    for part in ("embed_model", "store", "retriever", "answerer", "verifier", "chunker"):
        a.__dict__[part] = getattr(assistant, part)
    return a


def test_a_correct_cited_sentence_stays_supported(llm_assistant, server):
    server.reply = lambda m: f"Satellite images showed 73 freight cars at Tumangang station [{number_with(m, '73')}]."
    answer = llm_assistant.ask(FREIGHT)
    assert not answer.abstained and answer.answerer == "openai"
    [sentence] = answer.sentences
    assert sentence.supported and sentence.markers == [1] and not sentence.flags
    [citation] = answer.citations
    assert citation.supported and not citation.repaired and "73" in citation.quote
    assert llm_assistant.document(citation.doc_id).text[citation.start:citation.end] == citation.quote
    assert answer.answer == "Satellite images showed 73 freight cars at Tumangang station. [1]"
    prompt = server.requests[-1]["messages"]
    assert "only" in prompt[0]["content"] and "[2]" in prompt[0]["content"]  # cite-after-each-sentence rule
    assert "Question: " + FREIGHT in prompt[1]["content"]
    assert " · " not in prompt[1]["content"]  # no "title · outlet · date" headings for a small model to copy
    assert f"Passage [1], {citation.date}:" in prompt[1]["content"]


def test_a_wrong_number_is_flagged_and_strict_removes_it(llm_assistant, server):
    def reply(m):
        n = number_with(m, "73")
        return f"Satellite images showed 73 freight cars at Tumangang station [{n}]. The study counted 95 wagons [{n}]."

    server.reply = reply
    answer = llm_assistant.ask(FREIGHT)
    good, bad = answer.sentences
    assert good.supported and not bad.supported
    assert any("95" in flag for flag in bad.flags)
    assert "95 wagons" in answer.answer  # shown, flagged: the chat marks it
    assert [c.supported for c in answer.citations] == [True, False]
    strict = llm_assistant.ask(FREIGHT, strict=True)
    assert "95" not in strict.answer and "73 freight cars" in strict.answer
    assert all(c.supported for c in strict.citations)
    assert "removed (strict)" in strict.sentences[1].flags


def test_a_sentence_citing_the_wrong_passage_is_repaired(llm_assistant, server):
    server.reply = lambda m: f"Satellite images showed 73 freight cars at Tumangang [{number_without(m, '73')}]."
    answer = llm_assistant.ask(FREIGHT)
    [citation] = answer.citations
    assert citation.repaired and citation.supported and "73" in citation.quote
    assert answer.sentences[0].supported and "does not support it" in answer.sentences[0].flags[0]


def test_a_sentence_without_a_citation_gets_one_and_is_flagged(llm_assistant, server):
    server.reply = lambda m: "Satellite images showed 73 freight cars at Tumangang station."
    answer = llm_assistant.ask(FREIGHT)
    assert answer.citations[0].repaired and "73" in answer.citations[0].quote
    assert answer.sentences[0].flags and answer.sentences[0].flags[0].startswith("no citation")


@pytest.mark.parametrize("written", [
    "Kim Jong-un ordered the freight cars to carry 400 tanks to Moscow [1].",
    "The reports do not say.",
    "",
])
def test_an_answer_with_no_support_gives_the_reports_own_sentences_instead(llm_assistant, server, written):
    server.reply = lambda m: written
    answer = llm_assistant.ask(FREIGHT)
    assert not answer.abstained and answer.answerer == "extractive" and "73" in answer.answer
    for c in answer.citations:
        assert llm_assistant.document(c.doc_id).text[c.start:c.end] == c.quote
    written_ones = [s for s in answer.sentences if not s.supported]
    assert all("the reports' own sentences" in s.flags[-1] for s in written_ones)
    assert len(written_ones) == len(split_answer(written))
    assert all(s.supported for s in answer.sentences[len(written_ones):])


@pytest.mark.parametrize("written", ["Kim Jong-un ordered the freight cars to carry 400 tanks to Moscow [1].",
                                     "The reports do not say."])
def test_an_answer_with_no_support_abstains_when_the_reports_do_not_answer(llm_assistant, server, written):
    server.reply = lambda m: written
    answer = llm_assistant.ask("What did Kim Jong-un eat at the banquet with the Pope in Madrid?")
    assert answer.abstained and answer.answer == ABSTAIN and not answer.citations
    assert all(not s.supported for s in answer.sentences)


def test_the_history_is_condensed_before_retrieval(llm_assistant, server):
    standalone = "How many freight cars were at Tumangang station in the satellite images?"
    server.replies = [standalone]
    server.reply = None
    server.default_reply = "Satellite images showed 73 freight cars at Tumangang station [1]."
    history = [{"role": "user", "content": "What did satellite images show at Tumangang?"},
               {"role": "assistant", "content": "A surge of rail traffic [1]."}]
    answer = llm_assistant.ask("And how many were there?", history=history)
    assert answer.query == standalone and answer.question == "And how many were there?"
    condense, final = server.requests
    assert "What did satellite images show at Tumangang?" in condense["messages"][0]["content"]
    assert "And how many were there?" in condense["messages"][0]["content"]
    assert "Question: " + standalone in final["messages"][1]["content"]
    assert any("73" in p.text for p in answer.retrieved[:3])


def test_streaming_yields_the_text_then_the_verified_answer(llm_assistant, server):
    written = ("Satellite images showed 73 freight cars at Tumangang station [1]. "
               "Officials in Pyongyang confirmed 500 wagons [1].")
    sent = []
    server.reply = lambda m: sent.append(written.replace("[1]", f"[{number_with(m, '73')}]")) or sent[-1]
    *deltas, answer = llm_assistant.ask_stream(FREIGHT)
    assert len(deltas) > 3 and all(isinstance(d, str) for d in deltas)
    assert "".join(deltas) == sent[0]
    assert server.requests[-1]["stream"] is True
    assert [s.supported for s in answer.sentences] == [True, False]


def test_the_server_failing_is_an_llm_error_naming_it(llm_assistant, server):
    def reply(m):
        raise RuntimeError("model overloaded")

    server.reply = reply
    with pytest.raises(LLMError, match="model overloaded"):
        llm_assistant.ask(FREIGHT)


def test_misconfigured_llms_say_what_is_missing_and_call_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-matter")
    with pytest.raises(LLMError, match="--llm-base-url"):
        make_llm(Settings(answerer="openai", llm_model="gpt-4o"))  # no silent fallback to api.openai.com
    with pytest.raises(LLMError, match="--llm-model"):
        make_llm(Settings(answerer="ollama"))
    with pytest.raises(LLMError, match="no model file"):
        make_llm(Settings(answerer="llamacpp", llm_model=str(tmp_path / "missing.gguf")))
    llm = make_llm(Settings(answerer="ollama", llm_model="llama3.2"))
    assert llm.base_url == "http://127.0.0.1:11434"  # local unless told otherwise


def test_cli_ask_with_the_openai_answerer(assistant, server):
    from typer.testing import CliRunner

    from assistant.cli import app

    server.reply = lambda m: f"Satellite images showed 73 freight cars at Tumangang station [{number_with(m, '73')}]."
    args = ["ask", FREIGHT, "--store", str(assistant.settings.store), "--answerer", "openai",
            "--llm-model", "fake-model", "--llm-base-url", server.base_url]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["answerer"] == "openai" and data["sentences"][0]["supported"]
    missing = CliRunner().invoke(app, ["ask", FREIGHT, "--store", str(assistant.settings.store),
                                       "--answerer", "openai", "--llm-model", "m"])
    assert missing.exit_code == 2 and "--llm-base-url" in missing.output


def test_split_answer_gives_markers_to_their_sentence():
    assert split_answer("Seventy-three cars were seen [1]. They were empty.[2][3] Kim left. [4]") == [
        ("Seventy-three cars were seen.", [1]), ("They were empty.", [2, 3]), ("Kim left.", [4])]
    assert split_answer("") == []


def test_passage_window_widens_a_chunk_to_whole_sentences():
    text = "First sentence here. Second one is longer, with 73 cars. Third sentence ends."
    start, end = passage_window(text, 25, 50)
    assert text[start:end] == "Second one is longer, with 73 cars."


def test_verification_catches_every_planted_sentence(llm_assistant, server):
    """evals/planted.py on the first questions of the bundled set: true sentences stay, miscited ones are
    repaired, and every planted one (changed figure, swapped name, negation, invention) is flagged."""
    import importlib.util

    from .conftest import ROOT

    spec = importlib.util.spec_from_file_location("planted", ROOT / "evals" / "planted.py")
    planted = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(planted)
    questions = [json.loads(line) for line in (ROOT / "evals" / "sets" / "corpus.jsonl").read_text().splitlines()]
    result = planted.run(llm_assistant, [q for q in questions if q["answerable"]][:6], server)
    assert result["counts"]["number"] >= 4 and result["counts"]["negation"] >= 4
    assert result["planted_caught"] == 1.0
    assert result["ok_share"]["true"] == 1.0 and result["ok_share"]["miscited"] == 1.0


def test_generative_eval_runs_report_supported_and_repaired_shares(llm_assistant, server, tmp_path):
    from assistant.evaluation.report import write_report
    from assistant.evaluation.run import load_set, run_eval

    from .conftest import ROOT

    def reply(m):  # one true sentence citing the wrong passage, one invented
        n = max(passages_of(m))
        return f"{passages_of(m)[1].split('. ')[0]}. [{n}] The moon is made of cheese [1]."

    server.reply = reply
    cases = [c for c in load_set(ROOT / "evals" / "sets" / "corpus.jsonl") if c.answerable][:3]
    summary = run_eval(llm_assistant, cases, tmp_path / "run")
    assert summary["run"]["answerer"] == "openai"
    assert summary["verification"]["supported_sentences"] == 0.5
    assert summary["verification"]["repaired_citations"] > 0
    md, _ = write_report(tmp_path / "run")
    assert "Verification of answer sentences" in md.read_text() and "supported_sentences" in md.read_text()


def test_no_passages_means_no_llm_call_and_an_abstention(llm_assistant, server):
    from assistant.models import Filters

    answer = llm_assistant.ask(FREIGHT, filters=Filters(sources=["No Such Outlet"]))
    assert answer.abstained and answer.answer == ABSTAIN and not server.requests


def test_the_ollama_answerer_is_verified_too(assistant, server):
    """The same verification behind llama-index's Ollama, which speaks Ollama's own API (/api/chat; NDJSON when
    streaming) to the server's root."""
    from assistant.models import Answer

    a = Assistant(settings=assistant.settings.model_copy(update={
        "answerer": "ollama", "llm_model": "fake", "llm_base_url": server.root_url}))
    for part in ("embed_model", "store", "retriever", "answerer", "verifier", "chunker"):
        a.__dict__[part] = getattr(assistant, part)

    def reply(m):
        n = number_with(m, "73")
        return f"Satellite images showed 73 freight cars at Tumangang station [{n}]. The study counted 95 wagons [{n}]."

    server.reply = reply
    answer = a.ask(FREIGHT)
    assert answer.answerer == "ollama" and not answer.abstained
    good, bad = answer.sentences
    assert good.supported and not bad.supported and any("95" in flag for flag in bad.flags)
    [request] = server.requests  # the context window is configured: no /api/show first
    assert request["_path"] == "/api/chat" and request["model"] == "fake" and request["stream"] is False
    assert request["options"] == {"temperature": a.settings.llm_temperature, "num_ctx": a.settings.llm_context_window,
                                  "num_predict": a.settings.llm_max_tokens}
    assert "Question: " + FREIGHT in request["messages"][1]["content"]
    *deltas, streamed = a.ask_stream(FREIGHT)
    assert len(deltas) > 3 and all(isinstance(d, str) for d in deltas)
    assert "".join(deltas) == reply(server.requests[-1]["messages"])
    assert server.requests[-1]["_path"] == "/api/chat" and server.requests[-1]["stream"] is True
    assert isinstance(streamed, Answer) and [s.supported for s in streamed.sentences] == [True, False]


def numbered_sentences(messages: list[dict]) -> dict[int, str]:
    """The numbered report sentences of a selection-mode prompt."""
    user = next(m["content"] for m in messages if m["role"] == "user")
    return {int(n): text for n, text in re.findall(r"^\[(\d+)\] (.*)$", user, re.M)}


def test_selection_mode_answers_with_the_sentences_the_model_names_verbatim(llm_assistant, server):
    def reply(m):
        [n] = [n for n, text in numbered_sentences(m).items() if "73 freight cars" in text][:1]
        return f"{n}"

    server.reply = reply
    a = llm_assistant
    a.settings = a.settings.model_copy(update={"llm_mode": "select"})
    answer = a.ask(FREIGHT)
    prompt = server.requests[-1]["messages"]
    assert "numbers of the sentences" in prompt[0]["content"] and prompt[1]["content"].endswith("Numbers:")
    assert not answer.abstained and "73 freight cars" in answer.answer and answer.answer.endswith("[1]")
    [citation] = answer.citations
    assert a.document(citation.doc_id).text[citation.start:citation.end] == citation.quote  # verbatim, exact offsets
    assert all(s.supported for s in answer.sentences)


@pytest.mark.parametrize(("reply", "abstains"), [("none", True), ("The reports do not say.", True),
                                                 ("Sentence 99.", False), ("I think it is about trains.", False)])
def test_selection_mode_abstains_on_none_and_falls_back_on_an_unusable_reply(llm_assistant, server, reply, abstains):
    server.reply = lambda m: reply
    a = llm_assistant
    a.settings = a.settings.model_copy(update={"llm_mode": "select"})
    answer = a.ask(FREIGHT)
    assert answer.abstained is abstains
    if not abstains:  # a reply naming no shown sentence: the extractive answer, as without an LLM
        assert "73" in answer.answer and answer.citations


def test_selection_reply_parsing():
    from assistant.read.generate import GenerativeAnswerer

    g = GenerativeAnswerer(llm=None, max_sentences=2)
    assert g.selection("3, 7, 3, 9", count=8) == [3, 7]
    assert g.selection("[12]", count=12) == [12]
    assert g.selection("Sentence 0 and 40", count=12) is None
    assert g.selection("None of them.", count=5) == []


@pytest.mark.parametrize(("question", "needle", "written"), [
    # Three true sentences that small models wrote and the verifier used to flag (issue 15):
    ("Which US network reported that North Korea had started sending artillery to Russia?", "CBS", "CBS"),
    ("Where did Kim and Putin meet?", "Vostochny",
     "The Russian president hosted Kim Jong Un for their September sit-down at Russia's Vostochny space centre."),
    ("Who are the authors of the Beyond Parallel report?", "Bermudez",
     "The study was signed by Joseph Bermudez, Victor Cha and Jennifer Jun."),
    # A weekday the report does not write, read from its date: 13 September 2023 was a Wednesday.
    ("When did Kim and Putin meet?", "13 September", "Kim and Putin met on Wednesday at the Vostochny Cosmodrome."),
])
def test_true_short_or_reworded_sentences_are_supported(llm_assistant, server, question, needle, written):
    server.reply = lambda m: f"{written} [{number_with(m, needle)}]"
    answer = llm_assistant.ask(question)
    [sentence] = answer.sentences
    assert sentence.supported, sentence.flags


@pytest.mark.parametrize("written", ["Kim Jong-un sent 500 tanks to Vladivostok.",
                                     "Kim and Putin met on a Friday at the Vostochny Cosmodrome.",
                                     "The study was signed by Joseph Bermudez, Victor Cha and John Smith."])
def test_planted_facts_stay_flagged(llm_assistant, server, written):
    server.reply = lambda m: f"{written} [1]"
    answer = llm_assistant.ask("Where did Kim and Putin meet?")
    assert not answer.sentences[0].supported and answer.sentences[0].flags
    assert written.removesuffix(".") not in answer.answer  # not shown as the answer


def test_a_short_claim_inside_a_long_sentence_is_compared_with_its_clauses(assistant):
    from assistant.models import Passage
    from assistant.read.verify import Verifier

    text = ("The railway station at Tumangang has seen more traffic since the summit, according to the study by "
            "Beyond Parallel, a programme of the Center for Strategic and International Studies in Washington, "
            "adds the report signed by Joseph Bermudez, Victor Cha and Jennifer Jun.")
    passage = Passage(doc_id="d", chunk_id="d:0", title="Rail study", start=0, end=len(text), text=text, score=1.0,
                      rank=1)
    verifier = Verifier(assistant.embed, assistant.settings.min_support)
    [checked] = verifier.check("The study was signed by Joseph Bermudez, Victor Cha and Jennifer Jun. [1]",
                               [passage], {"d": text}, {"d": "Rail study"})
    assert checked.supported and (checked.span.start, checked.span.end) == (0, len(text))  # the whole sentence
