"""The results of the Python API. `model_dump(mode="json")` of each is exactly what the CLI prints
with --json: this module is the JSON contract."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator


class DocumentInfo(BaseModel):
    doc_id: str
    title: str
    source: str | None = None
    author: str | None = None
    date: str | None = Field(default=None, description="ISO 8601 date (YYYY-MM-DD) of publication.")
    url: str | None = None
    path: str
    chunks: int
    hash: str = Field(description="sha256 of the extracted text and metadata.")


class DocumentText(DocumentInfo):
    text: str = Field(description="The full extracted text; every citation's offsets index into it.")


class IngestedDocument(BaseModel):
    doc_id: str | None
    path: str
    title: str | None
    status: Literal["added", "updated", "unchanged", "failed"]
    chunks: int = 0
    error: str | None = None


class IngestReport(BaseModel):
    documents: list[IngestedDocument] = []
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = Field(default=0, description="Documents gone from a re-ingested file (a JSONL row deleted).")
    skipped: list[str] = Field(default=[], description="Files in a folder walk with an unsupported type.")
    chunks: int = Field(default=0, description="Chunks stored by this ingest.")
    embedded: int = Field(default=0, description="Of those, chunks the model encoded: the others' vectors came "
                                                 "from the embedding cache (text unchanged since it was seen).")
    seconds: float = 0.0


class Copy(BaseModel):
    """A span of one report's text: the same passage as published by another report (a wire copy),
    collapsed into one passage; and the base of Passage."""

    doc_id: str
    chunk_id: str
    title: str
    source: str | None = None
    date: str | None = None
    start: int
    end: int


class Filters(BaseModel):
    """Which reports a question may be answered from. Empty fields do not filter."""

    sources: list[str] = Field(default=[], description="Outlets (case-insensitive).")
    since: str | None = Field(default=None, description="Published on or after this ISO date.")
    until: str | None = Field(default=None, description="Published on or before this ISO date.")
    doc_ids: list[str] = []

    @field_validator("since", "until")
    @classmethod
    def _iso(cls, value: str | None, info: ValidationInfo) -> str | None:
        """YYYY, YYYY-MM or YYYY-MM-DD; a year or month stands for its first day (since) or last (until)."""
        if not value:
            return None
        parts = value.strip().split("-")
        try:
            if len(parts) == 3:
                return date.fromisoformat(value.strip()).isoformat()
            year, month = int(parts[0]), int(parts[1]) if len(parts) == 2 else None
            if info.field_name == "since":
                return date(year, month or 1, 1).isoformat()
            month = month or 12
            last = calendar.monthrange(year, month)[1]
            return date(year, month, last).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not a date: use YYYY-MM-DD, YYYY-MM or YYYY") from None

    @property
    def empty(self) -> bool:
        return not (self.sources or self.since or self.until or self.doc_ids)


class Citation(BaseModel):
    marker: int
    doc_id: str
    title: str
    source: str | None
    author: str | None
    date: str | None
    url: str | None
    path: str
    quote: str = Field(description="Exactly the document text between start and end.")
    start: int
    end: int
    score: float
    also_in: list[Copy] = Field(default=[], description="Other reports that ran the same passage.")
    supported: bool = Field(default=True, description="The quote supports the sentence that cites it.")
    support_score: float | None = Field(default=None, description="How well it does (see docs/verification.md).")
    repaired: bool = Field(default=False, description="The answer cited another passage, or none; the "
                                                      "verifier moved the citation here.")


class Passage(Copy):
    rank: int
    score: float = Field(description="Cosine similarity to the question (dense), or BM25 score when only "
                                     "the keyword index found it.")
    fused: float = Field(default=0.0, description="Reciprocal rank fusion score: what the ranking is by.")
    text: str
    copies: list[Copy] = Field(default=[], description="Near-identical chunks of other reports (wire copies).")


class Timings(BaseModel):
    retrieve: float
    answer: float
    total: float


class AnswerSentence(BaseModel):
    """One sentence of the answer as checked against the passages."""

    text: str = Field(description="The sentence without its markers.")
    markers: list[int] = Field(description="The citations ([n]) it carries in the answer.")
    supported: bool
    support_score: float
    flags: list[str] = Field(default=[], description="What the verifier found wrong, in words.")


class DisagreementValue(BaseModel):
    value: str = Field(description="The value as the report words it (\"73\", \"about 70\", \"6 October\").")
    markers: list[int] = Field(description="The citations ([n]) that give this value.")


class Disagreement(BaseModel):
    """Reports that give different values for the same fact: a figure, a date or a duration."""

    about: str = Field(description="What the values measure, in words (\"freight cars\", \"date\").")
    values: list[DisagreementValue]


class Update(BaseModel):
    """A cited report's value that a later report gives differently: "A later report (outlet, date) gives ..."."""

    marker: int = Field(description="The citation ([n]) whose value a later report changes.")
    value: str = Field(description="The value the cited report gives.")
    later_value: str = Field(description="The value the later report gives.")
    later: Citation = Field(description="The later report's sentence; its marker is in the answer's citations.")


class Answer(BaseModel):
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    retrieved: list[Passage]
    timings_ms: Timings
    answerer: str = "extractive"
    query: str = Field(default="", description="The standalone question retrieval used (follow-ups rewritten).")
    sentences: list[AnswerSentence] = []
    confidence: float = Field(
        default=0.0, ge=0, le=1,
        description="Estimated probability that the answer is right (calibrated: see evals/README.md); for an "
                    "abstention, that of the best answer it held back.")
    low_confidence: bool = Field(
        default=False, description="Answered, but with a confidence below `confident_answer`: check the sources.")
    disagreements: list[Disagreement] = Field(
        default=[], description="Cited reports that give different values for the same fact.")
    updates: list[Update] = Field(
        default=[], description="Cited figures that a later report in scope gives differently (newer reports).")


class TimelineConflict(BaseModel):
    date: str = Field(description="The other date another report gives for this event.")
    event: int = Field(description="Index of that report's row in `events`.")
    markers: list[int]


class TimelineEvent(BaseModel):
    """One event: a sentence of the reports and the date it happened."""

    date: str = Field(description="ISO date at its precision: YYYY-MM-DD (day, week), YYYY-MM (month), YYYY (year).")
    precision: Literal["day", "week", "month", "year"]
    date_source: Literal["stated", "report date"] = Field(
        description="stated: the sentence names the date; report date: a relative date (\"on Sunday\", \"last "
                    "month\") counted from the report's date.")
    date_text: str = Field(description="The words that give the date, as the report has them.")
    date_note: str = Field(default="", description="How the date was found, in words: counted from the report's "
                                                   "date, or the date of a subordinate clause (empty: stated plainly).")
    kind: Literal["event", "background", "expected"] = Field(
        default="event", description="event: happened within the topic's span; background: long before the "
                                     "reports about it; expected: a forecast or plan, not yet happened.")
    text: str = Field(description="The sentence, verbatim (whitespace folded), of the first report below.")
    outlets: list[str]
    citations: list[Citation] = Field(description="Every report stating it, with exact offsets.")
    conflicts: list[TimelineConflict] = Field(default=[], description="Other reports dating the same event otherwise.")


# A timeline's lists, in order, and the `kind` of their rows.
TIMELINE_SECTIONS = {"events": "event", "background": "background", "expected": "expected"}


class Timeline(BaseModel):
    topic: str
    events: list[TimelineEvent]
    background: list[TimelineEvent] = Field(default=[], description="Dated facts long before the topic's events.")
    expected: list[TimelineEvent] = Field(default=[], description="Forecasts and plans the reports state, dated.")
    filters: Filters = Filters()
    timings_ms: Timings


class OutletView(BaseModel):
    """What one outlet says in answer to the question."""

    outlet: str
    covered: bool = Field(description="False: none of its reports in scope answers the question.")
    text: str | None = Field(default=None, description="Its sentence that best answers the question, verbatim.")
    citation: Citation | None = None
    value: str | None = Field(default=None, description="The figure, date or duration its sentence gives, if asked.")
    differs: bool = Field(default=False, description="Its value differs from another outlet's.")


class Comparison(BaseModel):
    question: str
    outlets: list[OutletView] = Field(description="Outlets that answer, oldest report first; then those that do not.")
    values: list[DisagreementValue] = Field(
        default=[], description="Each value given, with the markers of the outlets giving it (two or more: differ).")
    filters: Filters = Filters()
    timings_ms: Timings
