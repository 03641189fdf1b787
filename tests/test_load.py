"""assistant/serve/ under load: Issue 8: 20 concurrent chat sessions against `assistant serve` on loopback, all
answered correctly, none mixed with another's history; p50/p95 latency is printed on lines starting with "LOAD:"
(run with -s).  One server over a copy of the session's store. The API part runs 20 threads, each with its own
gradio_client; the chat part runs 20 browser contexts in one headless Chromium (the chat's own event is private, so
a browser is the only client of it). Latencies are recorded, never asserted."""

from __future__ import annotations

import json
import shutil
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest

from .conftest import corpus_questions, store_copy
from .test_browser import CHROMIUM_FLAGS, serving

pytestmark = pytest.mark.slow

SESSIONS = 20
BY_ID = {q["id"]: q for q in corpus_questions()}
# Answerable questions whose reference answer the extractive answerer gives in so many words.
API_IDS = ["cq-01", "cq-17", "cq-08", "cq-09", "cq-11", "cq-12", "cq-13", "cq-14", "cq-15", "cq-16"]
CHAT_IDS = [*API_IDS, "cq-18", "cq-19", "cq-21", "cq-22", "cq-23", "cq-26", "cq-27", "cq-29", "cq-30", "cq-31"]
# Read with the session's own previous question (answer.standalone_question): the answer depends on the history.
FOLLOW_UPS = ["And who reported it?", "When did that happen?", "Where was that?"]
# Records, in each page, when the n-th answer is complete (the streamed text is replaced by the verified
# answer): a MutationObserver, so that the time is right even while the test waits on another page.
WATCH = """() => {
  window.__answered = {};
  const seen = () => {
    const n = document.querySelectorAll('#conversation .a:not(.streaming)').length;
    if (n && !(n in window.__answered)) window.__answered[n] = Date.now();
  };
  new MutationObserver(seen).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def answered(case: dict, text: str) -> bool:
    return any(a.lower() in text.lower() for a in [case["reference_answer"], *case.get("answer_aliases", [])] if a)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(label: str, latencies_ms: list[float], extra: str = "") -> None:
    print(f"\nLOAD: {label}: n={len(latencies_ms)} p50 {percentile(latencies_ms, 50):.0f} ms, "
          f"p95 {percentile(latencies_ms, 95):.0f} ms, max {max(latencies_ms):.0f} ms{extra}")


def without_timings(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "timings_ms"}


@pytest.fixture(scope="module")
def load_store(assistant, tmp_path_factory) -> Path:
    return store_copy(assistant, tmp_path_factory, "load")


@pytest.fixture(scope="module")
def load_server(load_store):
    with serving(load_store) as url:
        yield url


def test_twenty_api_clients_at_once_each_get_their_own_answer(load_server):
    from gradio_client import Client

    questions = [BY_ID[i]["question"] for i in API_IDS]
    # The same questions one at a time first: the reference answers, and the latency of an idle server.
    client = Client(load_server, verbose=False, analytics_enabled=False)
    client.predict(questions[0], api_name="/ask")  # warm-up: the server loads its models on first use
    serial, baseline = [], {}
    for q in questions:
        started = time.perf_counter()
        baseline[q] = json.loads(client.predict(q, api_name="/ask"))
        serial.append((time.perf_counter() - started) * 1000)
    client.close()

    asked = [questions[i % len(questions)] for i in range(SESSIONS)]  # each question by two threads
    ready = threading.Barrier(SESSIONS, timeout=120)

    def session(question: str) -> tuple[dict, float, float]:
        client = Client(load_server, verbose=False, analytics_enabled=False)
        try:
            ready.wait()  # every client connected: the questions go out together
            started = time.perf_counter()
            data = json.loads(client.predict(question, api_name="/ask"))
            return data, (time.perf_counter() - started) * 1000, time.perf_counter()
        finally:
            client.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(SESSIONS) as pool:
        results = list(pool.map(session, asked))
    # from the barrier's release (about the first request's start) to the last answer
    wall = max(end for _, _, end in results) - min(end - ms / 1000 for _, ms, end in results)

    report(f"api serial, 1 client, {len(serial)} questions", serial)
    latencies = [ms for _, ms, _ in results]
    report(f"api concurrent, {SESSIONS} clients, 1 question each", latencies,
           f"; {SESSIONS / wall:.2f} answers/s over {wall:.1f} s; server compute p50 "
           f"{statistics.median(d['timings_ms']['total'] for d, _, _ in results):.0f} ms "
           f"(setup+connect {time.perf_counter() - started - wall:.1f} s)")
    for question, (data, _, _) in zip(asked, results):
        assert data["question"] == question
        assert not data["abstained"] and answered(next(c for c in BY_ID.values() if c["question"] == question),
                                                  data["answer"]), (question, data["answer"])
        # deterministic, and the same under load as alone: nothing of another request mixed in
        assert without_timings(data) == without_timings(baseline[question]), question
    for i in range(len(questions)):
        assert without_timings(results[i][0]) == without_timings(results[i + len(questions)][0])
    freight = results[API_IDS.index("cq-01")][0]
    assert "73" in freight["citations"][0]["quote"]


def test_twenty_browser_chats_at_once_keep_their_own_history(load_server, load_store, assistant):
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    firsts = [BY_ID[i] for i in CHAT_IDS]
    follow_ups = [FOLLOW_UPS[i % len(FOLLOW_UPS)] for i in range(SESSIONS)]
    outside: list[str] = []  # requests the pages make anywhere but the server

    def note(request) -> None:
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and urlparse(request.url).hostname != "127.0.0.1":
            outside.append(request.url)

    def round_of(pages, questions: list[str], n: int) -> list[float]:
        """Every page asks (no waiting in between), then each page is waited on in turn."""
        sent = []
        for page, question in zip(pages, questions):
            box = page.locator("#question textarea")
            box.fill(question)
            sent.append(time.time() * 1000)
            box.press("Enter")
        latencies = []
        for i, (page, at) in enumerate(zip(pages, sent)):
            try:
                page.wait_for_function(f"{n} in window.__answered", timeout=240_000)
            except PlaywrightTimeout:
                log = "".join(path.read_text()[-3000:] for path in load_store.parent.glob("serve-*.log"))
                pytest.fail(f"session {i}: answer {n} did not come in 240 s; the server's log ends:\n{log}")
            latencies.append(page.evaluate(f"window.__answered[{n}]") - at)
        return latencies

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            pages = []
            for _ in range(SESSIONS):
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                page.on("request", note)
                page.goto(load_server)
                page.locator("#question textarea").wait_for(timeout=60_000)
                page.evaluate(WATCH)
                pages.append(page)
            first = round_of(pages, [c["question"] for c in firsts], 1)
            second = round_of(pages, follow_ups, 2)
            shown = [(page.locator("#conversation .q").all_inner_texts(),
                      page.eval_on_selector_all("#conversation .a", "els => els.map(e => [e.className, e.innerText])"))
                     for page in pages]
        finally:
            browser.close()

    report(f"chat first question, {SESSIONS} browser sessions at once", first)
    report(f"chat follow-up, {SESSIONS} browser sessions at once", second)
    assert outside == []
    for case, follow_up, (questions, answers) in zip(firsts, follow_ups, shown):
        assert questions == [case["question"], follow_up]  # exactly its own two questions, in order
        assert len(answers) == 2 and "streaming" not in answers[0][0] + answers[1][0]
        assert "abstained" not in answers[0][0] and answered(case, answers[0][1]), (case["question"], answers[0][1])
        # the follow-up is read with this session's question, as the same chat alone would read it
        expected = assistant.ask(follow_up, history=[{"role": "user", "content": case["question"]}])
        assert ("abstained" in answers[1][0]) == expected.abstained, (case["question"], follow_up)
        for sentence in [expected.answer] if expected.abstained else [s.text for s in expected.sentences]:
            assert sentence in answers[1][1], (case["question"], follow_up, sentence, answers[1][1])


def test_a_streamed_answer_while_other_tabs_open_leaves_the_server_usable(assistant, tmp_path_factory):
    """Other tabs opening the chat while an answer streams (each page load runs an event in one of Gradio's
    worker threads) must not leave the store's lock held: the next question is answered."""
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    from .fake_openai import FakeOpenAI
    from .test_browser import FREIGHT

    # A store of its own: the module's server holds load_store, and a second server on one store is refused.
    store = store_copy(assistant, tmp_path_factory, "stream")
    with FakeOpenAI(lambda messages: "Satellite images showed 73 freight cars at Tumangang station [1]. " * 6) as llm:
        llm.stream_delay = 0.05
        with serving(store, "--answerer", "openai", "--llm-model", "fake-model",
                     "--llm-base-url", llm.base_url) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            try:
                page, *others = [browser.new_page() for _ in range(4)]
                page.goto(url)
                page.locator("#question textarea").fill(FREIGHT)
                page.locator("#question textarea").press("Enter")
                page.locator("#conversation .a.streaming").wait_for(timeout=60_000)
                loads = 0
                while page.locator("#conversation .a:not(.streaming)").count() == 0 and loads < 60:
                    for other in others:
                        other.goto(url)
                        loads += 1
                page.locator("#conversation .a:not(.streaming)").wait_for(timeout=60_000)
                page.wait_for_timeout(1000)
                errors = page.locator(".toast-wrap").all_inner_texts()
            finally:
                browser.close()
            answer: list[dict] = []  # in a daemon thread: a held lock would hang it for ever
            asking = threading.Thread(target=lambda: answer.append(json.loads(
                Client(url, verbose=False, analytics_enabled=False).predict(FREIGHT, api_name="/ask"))), daemon=True)
            asking.start()
            asking.join(timeout=60)
            log = "".join(path.read_text()[-2000:] for path in store.parent.glob("serve-*.log"))
    print(f"\nLOAD: {loads} page loads while one answer streamed")
    assert not any(errors), errors
    assert answer, f"/ask got no answer in 60 s after the streamed chat answer; the server's log ends:\n{log}"
