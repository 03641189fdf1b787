"""assistant/serve/ui.py in a browser: The chat in a real browser: `assistant serve` on a free loopback port over a
copy of the session's store, driven by Playwright with Debian's headless Chromium (no browser download). Screenshots
of the main screens go to test-output/screenshots/."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, store_copy

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = ROOT / "test-output" / "screenshots"
FREIGHT = "How many freight cars did satellite images show at Tumangang station?"
# The planted disagreement's own wording (tests/test_end_to_end.py): "about 70" is within the answer's margin.
DIFFERS = "How many freight cars were at Tumangang station?"
NEW_REPORT = """---
title: Ferry crews walk out in Harbor City
source: Harbor City Times
date: 2024-03-01
---
Ferry crews in Harbor City walked out on Friday, halting all 42 daily crossings to the islands.

The union said the strike would last until the port authority reopened pay talks.
"""
HOSTILE_REPORT = """---
title: Council notes <img src=x onerror="window.__pwned = 2">
source: Lakeside Evening Post
date: 2024-04-02
---
The lantern committee published its budget <script>window.__pwned = 1</script> on Tuesday, setting aside
18,000 dollars for paper lanterns.
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(store: Path, *args: str):
    """`assistant serve` in its own process on a free loopback port; yields its URL."""
    port = free_port()
    log_path = store.parent / f"serve-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--store", str(store),
                                    "--port", str(port), *args],
                                   stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        if process.poll() is not None or time.time() >= deadline:
            process.kill()
            pytest.fail(f"assistant serve did not start: {log_path.read_text()[-2000:]}")
        try:
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def served_store(assistant, tmp_path_factory) -> Path:
    """A copy of the session's store: uploads in these tests change it."""
    return store_copy(assistant, tmp_path_factory, "served")


@pytest.fixture
def own_store(assistant, tmp_path_factory) -> Path:
    """A store of its own, for a test that starts its own server: the module's server holds served_store,
    and a second server on one store is refused."""
    return store_copy(assistant, tmp_path_factory, "own")


@pytest.fixture(scope="module")
def server(served_store):
    with serving(served_store) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server)
    page.locator("#question textarea").wait_for()
    yield page
    context.close()


def ask(page, question: str) -> str:
    """Asks in the chat and waits for the verified answer (the streamed text is replaced by it)."""
    turns = page.locator("#conversation .q").count()
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")
    page.wait_for_function(
        f"document.querySelectorAll('#conversation .a:not(.streaming)').length > {turns}", timeout=60_000)
    return page.locator("#conversation .a").last.inner_text()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_ask_then_click_a_marker_to_read_the_highlighted_source(page):
    answer = ask(page, FREIGHT)
    assert "73" in answer
    page.locator("#conversation .a button.cite").first.click()
    mark = page.locator("#passage mark")
    mark.wait_for(timeout=20_000)
    assert "73 freight cars" in mark.inner_text()
    outlets = ("Northeast Asia Monitor", "Harbor City Times", "Lakeside Evening Post")  # the study and its wire copy
    assert any(outlet in page.locator("#passage").inner_text() for outlet in outlets)
    shot(page, "chat")
    # a second question keeps the conversation; its marker is a button, pressed here with the keyboard
    ask(page, "How long did Kim Jong-un's trip to Russia last?")
    assert page.locator("#conversation .q").count() == 2
    first = mark.inner_text()
    page.locator("#conversation .a").last.locator("button.cite").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelector('#passage mark').innerText !== {json.dumps(first)}",
                           timeout=20_000)


def test_abstention_looks_like_one_and_the_export_has_provenance(page):
    ask(page, "What did Kim and Putin eat at the summit banquet?")
    assert page.locator("#conversation .a.abstained").count() == 1
    page.get_by_role("button", name="Export JSON").click()
    link = page.locator("#export a[download]").first
    link.wait_for(timeout=20_000)
    assert ".json" in page.locator("#export").inner_text()
    with page.expect_download() as download:
        link.click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["turns"][0]["abstained"] and exported["settings"]["top_k"]


def test_reports_that_differ_are_shown_and_each_value_opens_its_passage(page):
    ask(page, "How long did Kim Jong-un's trip to Russia last?")
    box = page.locator("#conversation .a").last.locator(".differ")
    # "seven days" in one report, "a seven-day trip" in another: both say seven.
    assert "Reports differ" in box.inner_text() and "seven" in box.inner_text() and "six days" in box.inner_text()
    box.locator("button.cite").last.click()
    mark = page.locator("#passage mark")
    mark.wait_for(timeout=20_000)
    assert "six days" in mark.inner_text() or "seven" in mark.inner_text()
    shot(page, "reports-differ")


def test_a_low_confidence_answer_is_shown_as_such_with_its_sources(page, server):
    # Which answers are low confidence depends on the fitted model: find one through the API first.
    from gradio_client import Client

    client = Client(server, analytics_enabled=False, verbose=False)
    candidates = ("Who wrote the satellite study?", "How did North Korea react to the summit?",
                  "What did Kim and Putin agree at the summit?")
    question = next((q for q in candidates if json.loads(client.predict(q, api_name="/ask"))["low_confidence"]), None)
    assert question, "none of the three questions is answered with low confidence"
    answer = ask(page, question)
    last = page.locator("#conversation .a").last
    assert "low" in last.get_attribute("class") and "Low confidence" in answer
    assert last.locator("button.cite").count() >= 1, "still an answer, with its citations"
    shot(page, "low-confidence")


def test_timeline_tab_lists_events_in_order_and_a_row_opens_its_passage(page):
    page.get_by_role("tab", name="Timeline").click()
    page.locator("#timeline-topic textarea").fill("Kim Jong Un's trip to Russia")
    page.locator("#timeline-build").click()
    rows = page.locator('#timeline table[aria-label="Timeline"] tr.event')
    rows.first.wait_for(timeout=60_000)
    background = page.locator('#timeline table[aria-label="Background"] tr.event')
    # Kim's accession and earlier visit, under their heading, not interleaved with the trip
    assert background.count() >= 1 and "2019" in page.locator('#timeline table[aria-label="Background"]').inner_text()
    assert "Background" in page.locator("#timeline h4.timeline-section").first.inner_text()
    dates = [rows.nth(i).locator("td.when").inner_text().split("\n")[0] for i in range(rows.count())]
    assert "2023-09-13" in dates and "2023-09-17" in dates and dates.index("2023-09-13") < dates.index("2023-09-17")
    meeting = rows.filter(has_text="Kim met Putin on 13 September").first
    meeting.locator("td").nth(1).click()  # the row itself, not a [n]
    mark = page.locator("#timeline-passage mark")
    mark.wait_for(timeout=20_000)
    assert "Vostochny" in mark.inner_text() and "13 September" in mark.inner_text()
    passage = page.locator("#timeline-passage").inner_text()
    assert "Lakeside Evening Post" in passage or "Harbor City Times" in passage  # the wire story and its copy
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "timeline")
    page.locator("#timeline-csv").click()
    link = page.locator("#timeline-export a[download]").first
    link.wait_for(timeout=20_000)
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_text().startswith("date,precision,date_source,event,outlets,links")


def test_a_timeline_flags_reports_that_date_an_event_differently(page):
    page.get_by_role("tab", name="Timeline").click()
    page.locator("#timeline-topic textarea").fill("When was the Beyond Parallel study published?")
    page.locator("#timeline-topic textarea").press("Enter")
    flagged = page.locator("#timeline tr.conflict")
    flagged.first.wait_for(timeout=60_000)
    assert flagged.count() >= 2 and "another report dates this" in flagged.first.inner_text()
    flagged.first.locator(".conflict-note button.cite").first.click()
    page.locator("#timeline-passage mark").wait_for(timeout=20_000)


def test_by_outlet_view_marks_the_outlet_that_differs_and_opens_its_passage(page):
    ask(page, DIFFERS)
    note = page.locator("#conversation .a").last.locator(".update")
    assert note.count() >= 1 and "A later report" in note.first.inner_text()
    page.locator("#conversation .a").last.locator("button.by-outlet").click()
    view = page.locator("#by-outlet table.outlets")
    view.wait_for(timeout=60_000)
    differs = view.locator("tr.differs")
    assert differs.count() == 1 and "Amur Business Daily" in differs.inner_text() and "about 70" in differs.inner_text()
    assert "not covered" in view.inner_text()
    differs.locator("td").first.click()  # the row, not its [n]
    mark = page.locator("#passage mark")
    mark.wait_for(timeout=20_000)
    assert "about 70 freight cars" in mark.inner_text()
    assert "Amur Business Daily" in page.locator("#passage").inner_text()
    shot(page, "by-outlet")


def test_upload_ask_and_remove_a_report(page, tmp_path):
    report = tmp_path / "2024-03-01 ferry strike (Harbor City).md"  # spaces and brackets in the name
    report.write_text(NEW_REPORT)
    page.get_by_role("tab", name="Library").click()
    page.locator("#upload input[type=file]").set_input_files(str(report))
    page.locator("#add").click()
    results = page.locator("#ingest-results")
    page.wait_for_function("document.querySelector('#ingest-results').innerText.includes('added')", timeout=60_000)
    assert "Ferry crews walk out" in page.locator("#library").inner_text()
    shot(page, "library")
    page.get_by_role("tab", name="Chat").click()
    assert "42" in ask(page, "How many daily crossings did the ferry strike halt?")
    page.get_by_role("tab", name="Library").click()
    picker = page.locator("#remove-picker input")
    picker.click()
    picker.fill("Ferry crews")
    page.get_by_role("option", name="Ferry crews walk out").first.click()
    page.locator("#remove").click()
    page.wait_for_function("!document.querySelector('#library').innerText.includes('Ferry crews walk out')",
                           timeout=30_000)
    assert "Removed 1 document" in page.locator("#removed").inner_text()
    assert results.count() == 1


def test_a_hostile_report_is_shown_as_text_and_runs_nothing(page, tmp_path):
    report = tmp_path / "council-lanterns.md"
    report.write_text(HOSTILE_REPORT)
    page.get_by_role("tab", name="Library").click()
    page.locator("#upload input[type=file]").set_input_files(str(report))
    page.locator("#add").click()
    page.wait_for_function("document.querySelector('#ingest-results').innerText.includes('added')", timeout=60_000)
    page.get_by_role("tab", name="Chat").click()
    answer = ask(page, "How much did the lantern committee set aside for paper lanterns?")
    assert "18,000" in answer
    page.locator("#conversation .a button.cite").first.click()
    page.locator("#passage mark").wait_for(timeout=20_000)
    assert "<script>window.__pwned = 1</script>" in page.locator("#passage").inner_text()
    assert 'onerror="window.__pwned = 2"' in page.locator("#conversation").inner_text()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#conversation img, #passage img, #conversation script, #passage script").count() == 0


def test_phone_width_has_no_sideways_scrolling(page):
    page.set_viewport_size({"width": 390, "height": 844})
    ask(page, FREIGHT)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "phone")


def test_the_api_endpoint_answers_like_the_cli(server):
    from gradio_client import Client

    data = json.loads(Client(server, verbose=False).predict(FREIGHT, api_name="/ask"))
    assert set(data) == {"question", "answer", "abstained", "citations", "retrieved", "timings_ms", "answerer",
                         "query", "sentences", "confidence", "low_confidence", "disagreements", "updates"}
    assert "73" in data["citations"][0]["quote"]



def test_filters_limit_the_answer_to_an_outlet(page):
    page.get_by_text("Filters").click()
    outlets = page.locator("#outlets input")
    outlets.click()
    outlets.fill("Lakeside")
    page.get_by_role("option", name="Lakeside Evening Post").first.click()
    page.keyboard.press("Escape")
    # (FREIGHT's own wording is read at confidence 0.37 in that one report: under min_confidence, no sources.)
    ask(page, "How many freight cars did analysts count at Tumangang?")
    sources = page.locator("#conversation .sources").last.inner_text()
    assert "Lakeside Evening Post" in sources
    assert "Northeast Asia Monitor" not in sources and "Harbor City Times" not in sources


def test_an_unsupported_upload_is_refused_by_name(page, tmp_path):
    bad = tmp_path / "payload.exe"
    bad.write_bytes(b"MZ\x90\x00")
    page.get_by_role("tab", name="Library").click()
    page.locator("#upload input[type=file]").set_input_files(str(bad))
    toast = page.locator(".toast-wrap").first
    toast.wait_for(timeout=10_000)
    assert "Invalid file type: payload.exe" in toast.inner_text() and ".jsonl" in toast.inner_text()
    page.locator("#add").click()
    page.wait_for_timeout(1000)
    assert "payload.exe" not in page.locator("#library").inner_text()


def test_a_password_keeps_the_chat_and_the_api_closed(own_store):
    from gradio_client import Client

    with serving(own_store, "--auth", "editor:s3cret") as url:
        with pytest.raises(Exception):  # noqa: B017  (gradio_client raises its own error kinds)
            Client(url, verbose=False).predict(FREIGHT, api_name="/ask")
        data = json.loads(Client(url, auth=("editor", "s3cret"), verbose=False).predict(FREIGHT, api_name="/ask"))
        assert "73" in data["citations"][0]["quote"]


def test_an_llm_answer_streams_then_shows_its_verified_sentences(own_store, browser):
    """A served chat with the openai answerer, on the scripted server: the text streams in, then the
    sentence no passage supports is struck through and its marker shown as a bad citation."""
    from .fake_openai import FakeOpenAI

    def reply(messages):
        user = messages[-1]["content"]
        n = next(int(m) for m, text in re.findall(r"Passage \[(\d+)\][^\n]*\n([^\n]*)", user) if "73" in text)
        return (f"Satellite images showed 73 freight cars at Tumangang station [{n}]. "
                f"The study counted 95 wagons on the Russian side [{n}].")

    with FakeOpenAI(reply) as llm:
        llm.stream_delay = 0.15
        with serving(own_store, "--answerer", "openai", "--llm-model", "fake-model",
                     "--llm-base-url", llm.base_url) as url:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.locator("#question textarea").fill(FREIGHT)
            page.locator("#question textarea").press("Enter")
            page.locator("#conversation .a.streaming").wait_for(timeout=60_000)
            page.locator("#conversation .sources").wait_for(timeout=60_000)
            assert page.locator("#conversation .s.ok").first.inner_text().startswith("Satellite images showed 73")
            assert "95 wagons" in page.locator("#conversation .s.bad").first.inner_text()
            assert page.locator("#conversation .sources button.cite.bad").count() == 1
            shot(page, "llm-verified")
            page.close()


def test_two_users_from_an_auth_file_each_see_only_their_own_conversation(own_store, browser, tmp_path):
    """An --auth-file with two users, one password hashed: each logs in to the chat in their own browser,
    asks, and sees only their own question and answer; a wrong password is refused."""
    from assistant.serve.users import hash_password

    users = tmp_path / "users"
    users.write_text(f"# the newsroom\neditor:{hash_password('s3cret')}\ndesk:night shift\n")
    questions = {"editor": FREIGHT, "desk": "Where did Kim Jong-un and Vladimir Putin meet?"}
    passwords = {"editor": "s3cret", "desk": "night shift"}
    with serving(own_store, "--auth-file", str(users)) as url:
        pages = {}
        for user in questions:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(url)
            page.get_by_label("username").fill(user)
            page.get_by_label("password").fill("wrong" if user == "desk" else passwords[user])
            page.get_by_role("button", name="Login").click()
            if user == "desk":  # first a wrong password, then the right one
                page.get_by_text("Incorrect Credentials").wait_for(timeout=20_000)
                page.get_by_label("username").fill(user)  # the login form sends both again
                page.get_by_label("password").fill(passwords[user])
                page.get_by_role("button", name="Login").click()
            page.locator("#question textarea").wait_for(timeout=60_000)
            pages[user] = page
        for user, page in pages.items():
            ask(page, questions[user])
        for user, page in pages.items():
            assert page.locator("#conversation .q").all_inner_texts() == [questions[user]]
        assert "73" in pages["editor"].locator("#conversation .a").last.inner_text()
        assert "Vostochny" in pages["desk"].locator("#conversation .a").last.inner_text()
        for page in pages.values():
            page.context.close()
