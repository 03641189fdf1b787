"""assistant/read/timeline.py, dates.py, clauses.py and outlets.py: Issue 17: what happened when, and who said
what. Dates as the reports state them (dateparser, resolved against the report's date), timelines of the bundled
corpus (real model, real Chroma), the answer by outlet, notes where a later report gives a cited figure
differently, and the exports. Issue 27: each sentence dated by its main clause (a real spaCy parse), background
and forecasts apart from the events, no undated rows, and the new sections in the exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.models import Filters
from assistant.read.dates import dates_in, period
from assistant.read.timeline import datings
from assistant.read.timeline_export import to_csv, to_markdown

TRIP = "Kim Jong Un's trip to Russia"
STUDY = "When was the Beyond Parallel study published?"
FREIGHT = "How many freight cars were at Tumangang?"
HEAT = "the Harbor City heatwave"
WEDNESDAY = date(2023, 9, 13)  # the summit report's date, a Wednesday


def found(sentence: str, reported: date | None = WEDNESDAY) -> list[tuple[str, str, bool, str]]:
    return [(w.iso, w.precision, w.stated, w.words) for w in dates_in(sentence, reported)]


# --- dates -------------------------------------------------------------------------------------------

def test_a_stated_date_is_read_whole_and_without_the_words_around_it():
    assert found("The summit took place on 13 September 2023 at the Vostochny Cosmodrome.") == [
        ("2023-09-13", "day", True, "13 September 2023")]
    # Without its year, a date takes the year that puts it on or before the report's date.
    assert found("The train left Pyongyang on 10 September and headed north-east.") == [
        ("2023-09-10", "day", True, "10 September")]
    assert found("Talks are planned for 20 December.", date(2023, 1, 5))[0][0] == "2022-12-20"


def test_a_weekday_is_counted_back_from_the_report_and_says_so():
    assert found("Kim crossed the frontier after leaving Pyongyang on Sunday.") == [
        ("2023-09-10", "day", False, "Sunday")]
    # A report dated Wednesday that says "on Wednesday" means that day, not the week before.
    assert found("Kim and Putin sat down for talks on Wednesday at a rocket launch site.") == [
        ("2023-09-13", "day", False, "Wednesday")]


def test_relative_dates_resolve_against_the_report_date():
    assert found("Officials met two days ago to discuss it.")[0][:3] == ("2023-09-11", "day", False)
    assert found("The ministry changed its rules last month and again this week.")[0][:3] == (
        "2023-08", "month", False)


def test_a_month_or_a_year_alone_is_a_date_of_that_precision():
    assert found("The same route carried his train into Russia in September.") == [
        ("2023-09", "month", True, "September")]
    assert found("The first meeting was held in Vladivostok in 2019.") == [("2019", "year", True, "2019")]
    # A finer date makes a coarser one in the same sentence redundant.
    assert [d[0] for d in found("In September, on 13 September, they met.")] == ["2023-09-13"]


def test_words_that_only_look_like_dates_are_not_dates():
    assert found("Kim toured an aircraft plant where Russian military jets are assembled.") == []
    assert found("The study was written by Joseph Bermudez, Victor Cha and Jennifer Jun.") == []
    assert found("He said talks may sat well with both sides, and 73 and may be more.") == []


def test_dates_as_news_writes_them_are_found_and_quoted_as_written():
    thursday = date(2023, 1, 5)
    # An abbreviated month with its point, which dateparser's search stops at.
    assert found("The game was suspended Jan. 2 after Hamlin collapsed.", thursday) == [
        ("2023-01-02", "day", True, "Jan. 2")]
    assert found("The House voted on Oct. 5, 2022, to adjourn.", thursday) == [
        ("2022-10-05", "day", True, "Oct. 5, 2022")]
    # A weekday's possessive, a prefixed month, a part of a day after "last" or "this".
    assert found("Wednesday's storm flooded the coast.", thursday) == [("2023-01-04", "day", False, "Wednesday")]
    assert found("In mid-October the White House said so.", thursday) == [("2022-10", "month", True, "October")]
    assert found("The crash happened last night near the airport.", thursday)[0][:2] == ("2023-01-04", "day")
    assert found("The layoffs were announced this morning.", thursday)[0][:2] == ("2023-01-05", "day")
    # A holiday is its day, quoted as the sentence names it; "Christmas" alone only after "on".
    assert found("More than 5 inches of rain fell on New Year's Eve.", thursday) == [
        ("2022-12-31", "day", True, "New Year's Eve")]
    assert found("He died on Christmas Day at home.", thursday)[0][:2] == ("2022-12-25", "day")
    assert found("The Christmas storm killed dozens in Buffalo.", thursday) == []


def test_a_month_s_day_after_it_a_number_word_and_a_programme_named_today_are_read_right():
    monday = date(2022, 9, 5)
    # dateparser's search ends some finds at the month: the day after it is the date's.
    assert found("Johnson was forced to resign from office on July 7 after a string of scandals made his "
                 "position untenable.", monday) == [("2022-07-07", "day", True, "July 7")]
    # A number word is a date's only before its unit ("two weeks ago"), never after a weekday.
    assert found("Texts were shown as evidence on Thursday, one of which said he wanted out.", monday) == [
        ("2022-09-01", "day", False, "Thursday")]
    assert found("She left two weeks ago for Paris.", monday)[0][3] == "two weeks ago"
    # "Today" inside a sentence and capitalised names a programme; at its start, it is the day.
    assert found("Two ministers resigned as he spoke to BBC Radio 4's Today programme.", monday) == []
    assert found("Today, the minister resigned from the cabinet.", monday)[0][:2] == ("2022-09-05", "day")


def test_sentences_that_may_hold_a_date_are_told_from_those_that_cannot():
    from assistant.read.dates import may_hold_date

    for sentence in ("On Jan. 2 the game was suspended.", "It happened last night.", "Rain fell on New Year's Eve.",
                     "Officials met in 2019.", "Wednesday's storm hit."):
        assert may_hold_date(sentence), sentence
    assert not may_hold_date("It may rain on the coast, officials said.")


def test_without_a_report_date_only_a_full_date_counts():
    assert found("The talks on Sunday ended on 13 September 2023.", None) == [
        ("2023-09-13", "day", True, "13 September 2023")]
    assert found("The talks ended on Sunday.", None) == []


# --- which event a date belongs to (a real spaCy parse) ---------------------------------------------------

SUMMIT = ("North Korean leader Kim Jong-un and Russian President Vladimir Putin sat down for talks on Wednesday at a "
          "rocket launch site in the Russian Far East, a meeting that officials in Seoul and Washington had been "
          "bracing for since reports of the visit first surfaced last week.")


def dated(sentence: str, reported: date = WEDNESDAY, anchor: date | None = WEDNESDAY) -> list[tuple[str, str, str]]:
    return [(d.when.iso, d.kind, d.note) for d in datings([sentence], [reported], anchor)[0]]


def test_a_sentence_with_dates_in_two_clauses_is_dated_by_its_main_clause():
    assert [d[:2] for d in dated(SUMMIT)] == [("2023-09-13", "event")]  # not "last week", a relative clause's
    two = dated("Kim's armoured train pulled out of Artyom after a farewell ceremony on Sunday 17 September, "
                "bringing to a close a journey that began on 10 September.", date(2023, 9, 18))
    assert [d[:2] for d in two] == [("2023-09-17", "event")]
    # Verbs joined by "and" are two events, each at its own date.
    both = dated("Kim met Putin on 13 September and toured the aircraft plant on 15 September.", date(2023, 9, 18))
    assert [d[0] for d in both] == ["2023-09-13", "2023-09-15"]


def test_a_date_only_a_subordinate_clause_has_is_listed_with_a_note_naming_the_clause():
    ((day, kind, note),) = dated("Kim reached Russia by train rather than by plane, crossing the frontier at the "
                                 "Tumangang-Khasan rail link after leaving Pyongyang on Sunday.")
    assert (day, kind) == ("2023-09-10", "event")
    assert "“Sunday”, counted from the report's date 2023-09-13" in note
    assert "“leaving Pyongyang”" in note and "main event is not dated" in note


def test_a_date_long_before_the_reports_is_background_and_since_dates_nothing():
    assert [d[:2] for d in dated("Kim inherited the leadership in 2011 and has rarely travelled abroad.")] == [
        ("2011", "background")]
    assert dated("The sanctions regime built around North Korea since 2006 depended on the Security Council.") == []
    # Without reports to count back from, nothing is background.
    assert dated("Kim inherited the leadership in 2011 and has rarely travelled abroad.", anchor=None)[0][1] == "event"


def test_a_forecast_or_plan_is_expected_not_an_event():
    heat = dated("The weather office expects temperatures to stay above 35 degrees through Thursday before a cold "
                 "front brings thunderstorms on Friday afternoon.", date(2023, 8, 9), date(2023, 8, 9))
    # "through Thursday" bounds a span; the cold front's "Friday" is the coming one, as its clause is a forecast.
    assert heat and all(kind == "expected" for _, kind, _ in heat) and heat[0][0] == "2023-08-11"
    assert [d[:2] for d in dated("The two leaders will meet again in Moscow on 20 September, officials said.")] == [
        ("2023-09-20", "expected")]
    # A forecast's weekday that is its report's own day is that day, not the week after.
    assert [d[:2] for d in dated("The House will vote again on the rules package on Wednesday, aides said.")] == [
        ("2023-09-13", "expected")]


def test_the_day_an_opinion_was_given_dates_no_event_but_a_reported_event_keeps_its_day():
    monday = date(2023, 1, 2)
    for comment in ("Cardiac arrest can stem from a variety of other things too, a trauma surgeon said Tuesday.",
                    "An expert said on Tuesday that the outage highlights a need for a more redundant system.",
                    "He emphasized that travelers should feel safe getting on planes today, even if delayed."):
        assert dated(comment, date(2023, 1, 4), date(2023, 1, 4)) == [], comment
    # What was said happened ("was breathing"), or is how things stand ("is in critical condition").
    for update in ("On Tuesday, the Bills said Damar Hamlin was breathing on his own after the collapse.",
                   "The Bills said Tuesday that Hamlin is in critical condition at the medical centre."):
        assert [d[:2] for d in dated(update, date(2023, 1, 4), monday)] == [("2023-01-03", "event")], update
    # An announcement of what will be is the day of a decision, not a forecast.
    assert [d[:2] for d in dated("The Bills and Bengals will not resume their suspended game, the league announced "
                                 "Thursday.", date(2023, 1, 5), date(2023, 1, 5))] == [("2023-01-05", "event")]


def test_a_forecast_s_sentence_still_dates_the_past_event_of_its_subordinate_clause():
    rows = dated("Because the ground was saturated with the more than 5 inches of rain that fell on New Year's Eve, "
                 "Wednesday's storm could cause severe problems, forecasters said.", date(2023, 1, 4), date(2023, 1, 4))
    assert [d[:2] for d in rows] == [("2023-01-04", "expected"), ("2022-12-31", "event")]
    assert "“fell”; the sentence's main event is a forecast" in rows[1][2]


def test_a_note_added_to_a_report_later_counts_its_weekdays_forward():
    ((day, kind, note),) = dated("Editor's note: On Thursday, the Bills said Damar Hamlin has shown remarkable "
                                 "improvement.", date(2023, 1, 4), date(2023, 1, 4))
    assert (day, kind) == ("2023-01-05", "event") and "a note added later" in note


def test_a_bare_weekday_six_days_back_is_the_day_after_the_report_s_date():
    saturday = date(2022, 10, 29)  # a page filed under Saturday's date, updated on Sunday
    ((day, kind, note),) = dated("Relatives of the missing gathered on Sunday at a community centre in Seoul.",
                                 saturday, saturday)
    assert (day, kind) == ("2022-10-30", "event") and "the page was updated after its date" in note
    # Said as the week before, or five days back: counted back as written.
    assert [d[:2] for d in dated("The families gathered last Sunday at a community centre in Seoul.", saturday,
                                 saturday)] == [("2022-10-23", "event")]
    assert [d[:2] for d in dated("The families gathered on Monday at a community centre in Seoul.", saturday,
                                 saturday)] == [("2022-10-24", "event")]


def test_a_sentence_with_no_date_of_its_own_gives_no_row():
    assert dated("Kim made the journey aboard his armoured train, a slow, heavy convoy of dark green carriages.") == []
    assert dated("Analysts expect more details to emerge in the coming days.") == []


# --- timelines of the corpus --------------------------------------------------------------------------

def _exact(assistant, citation) -> None:
    assert assistant.document(citation.doc_id).text[citation.start:citation.end] == citation.quote


def test_the_trip_is_listed_in_the_order_it_happened_each_event_quoted_exactly(assistant):
    result = assistant.timeline(TRIP)
    stated = [e for e in result.events if e.date_source == "stated"]
    wanted = [("2023-09-10", "Pyongyang"), ("2023-09-12", "crossed into Russia"), ("2023-09-13", "Putin"),
              ("2023-09-17", "17 September")]
    positions = []
    for day, words in wanted:
        at = next((i for i, e in enumerate(stated) if e.date == day and words in " ".join(
            c.quote for c in e.citations)), None)
        assert at is not None, (day, words, [(e.date, e.text) for e in stated])
        positions.append(at)
    assert positions == sorted(positions)
    assert [e.date for e in result.events] == sorted(e.date for e in result.events) or all(
        a.date[:7] <= b.date[:7] for a, b in zip(result.events, result.events[1:]))
    markers = [c.marker for e in result.events for c in e.citations]
    assert markers == list(range(1, len(markers) + 1))
    for e in result.events:
        assert e.citations and e.outlets
        for c in e.citations:
            _exact(assistant, c)
        if e.date_source == "report date":
            assert "report" in e.date_note


def test_a_relative_date_in_the_trip_is_resolved_and_marked(assistant):
    events = assistant.timeline(TRIP).events
    sunday = next(e for e in events if e.date_text == "Sunday" and "Pyongyang" in e.text)
    assert sunday.date == "2023-09-10" and sunday.date_source == "report date"
    assert "2023-09-13" in sunday.date_note


def _ends(event) -> date:
    parts = [int(p) for p in event.date.split("-")]
    return period(date(*parts, *[1] * (3 - len(parts))), event.precision)[1]


def test_the_trip_dates_the_summit_on_its_day_keeps_background_apart_and_lists_no_forecast(assistant):
    result = assistant.timeline(TRIP)
    summit = [e for e in result.events if any("sat down for talks" in c.quote for c in e.citations)]
    assert [e.date for e in summit] == ["2023-09-13"]
    # No event ends before the trip ("this year", 2023, holds it: the satellite launches that failed).
    assert all(_ends(e) >= date(2023, 9, 1) for e in result.events), [(e.date, e.text) for e in result.events]
    assert any("2019" in e.text for e in result.background) and all(e.kind == "background" for e in result.background)
    assert not any("expect" in c.quote for e in result.events for c in e.citations)
    assert all(e.date_text for e in result.events + result.background + result.expected)  # no undated rows


def test_wire_copies_are_one_event_citing_every_outlet(assistant):
    events = assistant.timeline(TRIP).events
    summit = next(e for e in events if e.date == "2023-09-13" and "seven-day trip" in e.text)
    docs = {c.doc_id for c in summit.citations}
    assert {"wire-tumangang-surge-hct", "wire-tumangang-wagons-lep"} <= docs
    assert {"Harbor City Times", "Lakeside Evening Post"} <= set(summit.outlets)


def test_two_events_of_one_report_on_one_day_are_two_rows_and_wire_copies_one(assistant):
    from assistant.models import Passage
    from assistant.read.sentences import Sentence
    from assistant.read.timeline import _Event, _merge

    friday = dates_in("It happened on Friday.", date(2023, 1, 6))[0]

    def event(doc_id: str, text: str) -> _Event:
        passage = Passage(doc_id=doc_id, chunk_id=f"{doc_id}-0", title="", start=0, end=len(text), rank=1,
                          score=1.0, text=text)
        return _Event(Sentence(doc_id, 0, len(text), text, passage), friday, "report date", "", True)

    twelfth = ("Kevin McCarthy finally picked up some momentum Friday, winning at least 14 new votes on the week's "
               "12th ballot and getting very close to the majority he needs to claim the speaker's job.")
    fifteenth = ("On a record 15th ballot, Kevin McCarthy tentatively racked up the votes to become speaker of the "
                 "House on Friday, picking up the last holdouts.")
    topic = "the House speaker vote and Kevin McCarthy"
    # Close in meaning, as every sentence of one story is; one report tells them as two events.
    assert len(_merge([event("a", twelfth), event("a", fifteenth)], assistant.embed, topic)) == 2
    # The same sentence in another outlet's report is one row citing both.
    (row,) = _merge([event("a", twelfth), event("b", twelfth)], assistant.embed, topic)
    assert [e.sentence.doc_id for e in row.events] == ["a", "b"]


def test_reports_dating_the_same_event_differently_are_flagged_both_cited(assistant):
    result = assistant.timeline(STUDY)
    assert "⚠ dated 2023-10-06 by another report" in to_markdown(result)
    events = result.events
    fifth = next(e for e in events if e.date == "2023-10-05" and e.conflicts)
    sixth = next(e for e in events if e.date == "2023-10-06" and e.conflicts)
    assert any(events[c.event] is sixth and c.date == "2023-10-06" for c in fifth.conflicts)
    assert any(events[c.event] is fifth and c.date == "2023-10-05" for c in sixth.conflicts)
    assert {c.doc_id for c in sixth.citations} == {"border-rail-followup-erg"}
    assert set(fifth.conflicts[0].markers) == {c.marker for c in sixth.citations}
    # Events that merely share a date or a few words are not flagged.
    assert all(not e.conflicts for e in assistant.timeline(TRIP).events)


def test_a_timeline_respects_filters_and_an_empty_topic_is_refused(assistant):
    result = assistant.timeline(TRIP, filters=Filters(until="2023-09-30"))
    assert result.events and all(c.date and c.date <= "2023-09-30" for e in result.events for c in e.citations)
    result = assistant.timeline(TRIP, filters=Filters(sources=["Eastern Rail Gazette"]))
    # One outlet's reports alone are read below min_confidence for the topic: no events, and none from elsewhere.
    assert {c.source for e in result.events for c in e.citations} <= {"Eastern Rail Gazette"}
    with pytest.raises(ValueError, match="topic is empty"):
        assistant.timeline("  ")


def test_exports_are_markdown_and_csv_with_every_event_and_link(assistant):
    result = assistant.timeline(STUDY)
    markdown = to_markdown(result)
    assert markdown.startswith(f"# Timeline: {STUDY}")
    assert markdown.count("\n- **") == len(result.events)
    rows = list(csv.DictReader(io.StringIO(to_csv(result))))
    assert len(rows) == len(result.events)
    assert list(rows[0]) == ["date", "precision", "date_source", "event", "outlets", "links", "conflicting_dates",
                             "kind"]
    for row, e in zip(rows, result.events):
        assert row["date"] == e.date and row["event"] == e.text and row["outlets"] == "; ".join(e.outlets)
        assert len(row["links"].split()) == len(e.citations) and row["kind"] == "event"


def test_exports_give_background_and_expected_rows_their_own_sections(assistant):
    trip, heat = assistant.timeline(TRIP), assistant.timeline(HEAT)
    assert trip.background and heat.expected
    markdown = to_markdown(trip)
    events, background = markdown.split("## Background")
    assert all(e.text in events for e in trip.events) and all(e.text in background for e in trip.background)
    assert "## Expected" in to_markdown(heat) and heat.expected[0].text in to_markdown(heat).split("## Expected")[1]
    rows = list(csv.DictReader(io.StringIO(to_csv(heat))))
    assert [r["kind"] for r in rows] == (["event"] * len(heat.events) + ["background"] * len(heat.background)
                                         + ["expected"] * len(heat.expected))
    # Markers run on through the sections: each cites one passage.
    markers = [c.marker for part in (trip.events, trip.background, trip.expected) for e in part for c in e.citations]
    assert markers == list(range(1, len(markers) + 1))


# --- who said what --------------------------------------------------------------------------------------

def test_compare_shows_each_outlet_its_value_date_and_citation_and_marks_the_different_one(assistant):
    result = assistant.compare(FREIGHT)
    covered = {o.outlet: o for o in result.outlets if o.covered}
    assert covered["Amur Business Daily"].value == "about 70" and covered["Amur Business Daily"].differs
    for outlet in ("Northeast Asia Monitor", "Harbor City Times", "Lakeside Evening Post"):
        assert covered[outlet].value == "73" and not covered[outlet].differs
    for o in covered.values():
        _exact(assistant, o.citation)
        assert o.citation.source == o.outlet and o.citation.date
    assert {v.value for v in result.values} == {"73", "about 70"}
    missing = {o.outlet for o in result.outlets if not o.covered}
    assert "Coastline Sports Daily" in missing
    dates = [o.citation.date for o in result.outlets if o.covered]
    assert dates == sorted(dates)


def test_compare_of_something_the_reports_do_not_say_covers_no_outlet(assistant):
    result = assistant.compare("What did the banquet menu at the summit include?")
    assert not any(o.covered for o in result.outlets) and result.outlets


# --- newer reports ----------------------------------------------------------------------------------------

def test_a_later_report_is_noted_only_when_it_is_in_scope(assistant):
    early = assistant.ask(FREIGHT, filters=Filters(until="2023-10-05"))
    assert "about 70" in early.answer and early.updates == [] and "A later report" not in early.answer
    answer = assistant.ask(FREIGHT)
    cited = {c.marker: c for c in answer.citations}
    early_marks = [m for m, c in cited.items() if c.doc_id == "early-freight-count-abd"]
    assert early_marks, answer.answer
    update = next(u for u in answer.updates if u.marker in early_marks)
    assert update.value == "about 70" and update.later_value == "73"
    assert update.later.date > cited[update.marker].date
    assert cited[update.later.marker] == update.later, "the later report is one of the answer's citations"
    _exact(assistant, update.later)
    assert f"A later report ({update.later.source}, {update.later.date}) gives 73 [{update.later.marker}]." \
        in answer.answer
    # A value no later report changes gets no note.
    assert all(u.marker in early_marks for u in answer.updates)


# --- the CLI ----------------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_timeline_json_markdown_csv_and_compare(assistant, tmp_path):
    store = str(assistant.settings.store)
    result = runner.invoke(app, ["timeline", TRIP, "--store", store, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"topic", "events", "background", "expected", "filters", "timings_ms"}
    assert set(data["events"][0]) == {"date", "precision", "date_source", "date_text", "date_note", "kind", "text",
                                      "outlets", "citations", "conflicts"}
    assert data["background"] and all(e["kind"] == "background" for e in data["background"])
    out = tmp_path / "t.csv"
    result = runner.invoke(app, ["timeline", STUDY, "--store", store, "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0 and out.read_text().startswith("date,precision,")
    text = runner.invoke(app, ["timeline", TRIP, "--store", store]).stdout
    assert "2023-09-13" in text and "Vostochny" in text
    bad = runner.invoke(app, ["timeline", TRIP, "--store", store, "--format", "pdf"])
    assert bad.exit_code == 2 and "--format" in bad.output
    compared = runner.invoke(app, ["compare", FREIGHT, "--store", store])
    assert compared.exit_code == 0, compared.output
    assert "Amur Business Daily (2023-10-05)" in compared.stdout and "<- differs (about 70)" in compared.stdout
    assert "Coastline Sports Daily: not covered" in compared.stdout
    assert "Outlets differ: " in compared.stdout
    until = runner.invoke(app, ["timeline", TRIP, "--store", store, "--until", "2023-13"])
    assert until.exit_code == 2 and "--until" in until.output
