"""assistant/read/answer.py and values.py, the parts that need no model: words, question kinds, values,
disagreements."""

from dataclasses import dataclass, field

import pytest

from assistant.read.answer import _question_terms, is_summary, question_type
from assistant.read.values import find_disagreements, values
from assistant.text import words


def test_a_hyphenated_name_is_the_same_name_spelled_apart():
    assert words("Kim Jong-un met Putin") == words("kim jong un met putin") == ["kim", "jong", "un", "met", "putin"]
    assert words("Kim's train, Kim Jong-un’s trip") == ["kim", "train", "kim", "jong", "un", "trip"]


def test_the_words_that_frame_a_request_are_not_terms():
    assert set(_question_terms("Give me a rundown on the rail traffic")) == {"rail", "traffic"}
    assert set(_question_terms("Summarize what the reports say about Tumangang")) == {"tumangang"}
    assert set(_question_terms("When did Kim set off from Pyongyang?")) == {"kim", "pyongyang"}


@pytest.mark.parametrize("question, kind", [
    ("How many freight cars were at Tumangang?", "number"),
    ("tumangang freight car count", "number"),
    ("number of wagons at the border station", "number"),
    ("How long did Kim's trip last?", "duration"),
    ("when was the study published", "date"),
    ("Who wrote the satellite study?", "person"),
    ("Where did Kim Jong Un and Putin meet", "place"),
    ("On what dates did the launches fail?", "date"),
    ("What is the name of the Russian defence minister?", "person"),
    ("Why did Kim go to Russia?", None),
])
def test_the_kind_of_answer_is_read_from_the_wording_anywhere(question, kind):
    assert question_type(question) == kind


@pytest.mark.parametrize("question, summary", [
    ("Summarize the rail traffic between North Korea and Russia.", True),
    ("give me a rundown on the summit", True),
    ("What do the reports say about the freight cars?", True),
    ("How many freight cars were counted?", False),
])
def test_summaries_are_recognised(question, summary):
    assert is_summary(question) is summary


def test_values_of_each_kind_as_worded():
    sentence = "Researchers counted about 70 freight cars at Tumangang on 5 October, a trip of seven days."
    assert [(v.text, v.key) for v in values(sentence, "number")] == [("about 70", ("about", 70.0))]
    assert [(v.text, v.key) for v in values(sentence, "date")] == [("5 October", (10, 5))]
    assert [(v.text, v.key) for v in values(sentence, "duration")] == [("seven days", ("", 7.0, "day"))]
    assert [v.key for v in values("It was released on October 6.", "date")] == [(10, 6)]
    assert values("In 2023 the index fell.", "number") == [], "a year is not a count"


@dataclass
class FakeSentence:  # the fields find_disagreements reads
    doc_id: str
    text: str
    logit: float
    features: dict = field(default_factory=lambda: {"terms": 1.0})


def test_different_figures_for_the_same_thing_from_two_reports_disagree():
    a = FakeSentence("a", "Analysts counted 73 freight cars at Tumangang station.", 3.0)
    b = FakeSentence("b", "Researchers counted about 70 freight cars at Tumangang.", 2.5)
    c = FakeSentence("c", "The line carried 12 passenger trains a week.", 2.4)  # another thing: not compared
    [(differ, cited)] = find_disagreements("number", [a, b, c], [a], floor=1.0)
    assert [value for value, _ in differ.values] == ["73", "about 70"] and cited == [a, b]
    assert differ.about == "freight cars"
    differ.with_markers({id(a): 1, id(b): 2})
    assert differ.sentence() == "Reports differ on freight cars: 73 [1]; about 70 [2]."
    assert differ.model().model_dump() == {"about": "freight cars", "values": [
        {"value": "73", "markers": [1]}, {"value": "about 70", "markers": [2]}]}


def test_no_disagreement_when_reports_agree_or_score_too_low_or_the_question_asks_no_value():
    a = FakeSentence("a", "All told, the journey lasted seven days.", 3.0)
    b = FakeSentence("b", "The trip took seven days in all.", 2.8)
    low = FakeSentence("c", "In all, the trip lasted six days.", 0.5)
    assert find_disagreements("duration", [a, b, low], [a], floor=1.0) == []
    assert find_disagreements("duration", [a, low], [a], floor=0.0) != []
    assert find_disagreements(None, [a, low], [a], floor=0.0) == []
    one_report = FakeSentence("a", "Later the count was revised to six days.", 2.9)
    assert find_disagreements("duration", [a, one_report], [a], floor=0.0) == [], "one report is no disagreement"


def test_a_sentence_without_the_figure_asked_about_ranks_after_one_with_it():
    from assistant.read.answer import rank_key
    from assistant.read.sentences import Sentence

    berth_12 = Sentence("a", 0, 10, "84 containers at berth 12", None, logit=2.0, unmet=True)
    berth_7 = Sentence("a", 20, 30, "49 containers at berth 7", None, logit=-1.0)
    assert sorted([berth_12, berth_7], key=rank_key) == [berth_7, berth_12]
    assert set(_question_terms("How many containers at berth 7?")) == {"contain", "berth", "7"}
