"""The results of the Python API. `model_dump(mode="json")` of each is exactly what the CLI prints
with --json: this module is the JSON contract."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


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
    chunks: int = Field(default=0, description="Chunks embedded and stored by this ingest.")
    seconds: float = 0.0


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


class Passage(BaseModel):
    rank: int
    doc_id: str
    chunk_id: str
    title: str
    start: int
    end: int
    score: float
    text: str


class Timings(BaseModel):
    retrieve: float
    answer: float
    total: float


class Answer(BaseModel):
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    retrieved: list[Passage]
    timings_ms: Timings
