"""The one typed settings object: defaults < config file < environment (ASSISTANT_*) < arguments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "report-assistant"


def default_config_file() -> Path:
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "report-assistant" / "config.toml"


Answerer = Literal["extractive", "openai", "ollama", "llamacpp", "auto"]


class Settings(BaseSettings):
    """Every tunable of the assistant. Each field can be set in the config file, as ASSISTANT_<NAME>,
    or as an argument (the CLI's flags)."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore", toml_file=None)

    store: Path = Field(default_factory=lambda: data_home() / "store",
                        description="Folder holding one store: the Chroma database and the document catalog.")
    chroma_url: str | None = Field(
        default=None,
        description="A Chroma server (http[s]://HOST[:PORT]) to keep the vectors in, instead of the store folder; "
                    "the catalog stays in the store folder (docs/chroma-server.md).")
    catalog_url: str | None = Field(
        default=None,
        description="A PostgreSQL database (postgresql://USER@HOST[:PORT]/DB) to keep the catalog in (documents, "
                    "texts, versions, jobs, the keyword index), instead of the store folder: several servers "
                    "can then share one library, with chroma_url for the vectors (docs/scale-out.md).")
    chroma_collection: str = Field(
        default="chunks", description="The Chroma collection of this corpus: one per corpus on a shared server.")
    embedding_model: str | None = Field(
        default=None,
        description="Local folder of a sentence-transformers model; empty means the bundled all-MiniLM-L6-v2.")
    chunk_size: int = Field(default=64, ge=32,
                            description="Chunk length in the embedding model's word pieces.")
    chunk_overlap: int = Field(default=10, ge=0, description="Word pieces shared by neighbouring chunks.")
    contextual_headers: bool = Field(
        default=True, description="Embed and index each chunk with its report's title, outlet and date.")
    embed_batch_size: int = Field(default=32, ge=1, description="Chunks per encoder batch.")
    sentence_vectors_at_ingest: bool = Field(
        default=False,
        description="Also embed every chunk's sentences when ingesting, so that timelines and later-report "
                    "notes do not wait for them (evals/benchmarks/RESULTS.md).")
    top_k: int = Field(default=10, ge=1, le=100, description="Passages retrieved for an answer.")
    overview_k: int = Field(default=20, ge=1, le=100,
                            description="Passages retrieved for a timeline or a comparison by outlet.")
    retrieval_mode: Literal["hybrid", "dense", "bm25"] = Field(
        default="hybrid", description="Dense (embeddings), BM25 (keywords) or both, fused (evals/retrieval.py).")
    dense_k: int = Field(default=40, ge=1, description="Chunks the dense retriever hands to fusion.")
    bm25_k: int = Field(default=40, ge=1, description="Chunks the BM25 retriever hands to fusion.")
    dense_weight: float = Field(default=1.0, ge=0, description="Weight of the dense ranking in fusion.")
    bm25_weight: float = Field(default=1.0, ge=0, description="Weight of the BM25 ranking in fusion.")
    rrf_k: float = Field(default=10.0, gt=0, description="Reciprocal rank fusion's k: higher flattens ranks.")
    title_boost: float = Field(
        default=2.0, ge=1, description="Chunks of a report the question names by its title count this much more.")
    collapse_duplicates: bool = Field(default=True, description="Show wire copies as one passage.")
    document_decay: float = Field(
        default=0.9, gt=0, le=1,
        description="Each further chunk of a report already retrieved counts this much less (1: off).")
    answer_sentences: int = Field(default=3, ge=1, le=10,
                                  description="Most report sentences an extractive answer is made of.")
    reader_model: Path | None = Field(
        default=None, description="Folder of the reader, the model that judges whether a sentence answers the "
                                  "question; empty: the one shipped, read/reader_model (evals/train_reader.py).")
    reader_int8: bool = Field(
        default=False, description="Run the reader with int8 linear layers: about twice as fast on a CPU, but its "
                                   "scores move by up to 1.5 log-odds and depend on the other sentences in the "
                                   "batch, so answers are not reproducible (docs/reader.md).")
    rerank_k: int = Field(
        default=30, ge=0, le=200,
        description="Fused passages the reader reranks by their best sentence before the top_k are kept; "
                    "top_k or fewer: no rerank.")
    read_limit: int = Field(
        default=64, ge=1, description="Most sentences the reader reads for an answer (a few ms each); those "
                                      "holding fewest of the question's words are left out.")
    min_confidence: float | None = Field(
        default=None, ge=0, le=1,
        description="Extractive answers abstain when their confidence is below this; empty: the threshold fit with "
                    "the reader's calibration (assistant/read/reader_model/reader.json, docs/reader.md).")
    confident_answer: float | None = Field(
        default=None, ge=0, le=1,
        description="Answers below this confidence are shown as low confidence (check the sources); empty: the "
                    "value fit with the reader's calibration.")
    max_file_mb: float = Field(default=100.0, gt=0, description="Files larger than this are refused.")
    max_document_mb: float = Field(
        default=10.0, gt=0, description="Reports longer than this many million characters are refused (a JSONL "
                                        "archive may be bigger: each report in it is checked).")
    ingest_wait_seconds: float = Field(
        default=600.0, ge=0, description="How long an ingest or removal waits for another one writing to the same "
                                         "store before it gives up with a message.")
    answerer: Answerer = Field(
        default="extractive",
        description="Who writes the answer: report sentences (extractive, no LLM), or an LLM: any OpenAI-compatible "
                    "server (openai), Ollama (ollama) or a local GGUF file (llamacpp, an optional extra); auto: "
                    "Ollama when it runs on this machine (or at llm_base_url) with a model (llm_model, else the "
                    "first it lists), else extractive.")
    llm_model: str | None = Field(
        default=None, description="The LLM: a model name (openai, ollama) or the path of a .gguf file (llamacpp).")
    llm_base_url: str | None = Field(
        default=None, description="The LLM server's URL: required for openai (nothing remote is called unless "
                                  "named here); ollama defaults to http://127.0.0.1:11434.")
    llm_api_key: SecretStr | None = Field(default=None, description="API key for openai; else $OPENAI_API_KEY.")
    llm_mode: Literal["write", "select"] = Field(
        default="write",
        description="How an LLM answers: it writes the answer (write), checked sentence by sentence, or it picks "
                    "report sentences by number (select), which become the answer verbatim (docs/verification.md).")
    llm_temperature: float = Field(default=0.0, ge=0, le=2, description="Sampling temperature of the LLM.")
    llm_max_tokens: int = Field(default=400, ge=16, description="Most tokens an LLM answer may have.")
    llm_context_window: int = Field(default=4096, ge=512, description="The LLM's context window, in tokens.")
    llm_timeout: float = Field(default=120.0, gt=0, description="Seconds to wait for the LLM.")
    strict: bool = Field(default=False, description="Remove answer sentences that no passage supports.")
    workers: int = Field(default=0, ge=0, description="Questions answered at once by `serve`; 0: two per CPU core.")
    upload_wait_seconds: float = Field(
        default=10.0, ge=0, description="How long POST /api/documents waits for an ingest before it answers "
                                        "with a job id to follow instead.")
    min_support: float = Field(
        default=0.6, ge=0, le=1,
        description="An answer sentence is supported when a passage span scores at least this (docs/verification.md).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: str | Path | None = None, **overrides: object) -> Settings:
    """Settings from the config file (argument, else $ASSISTANT_CONFIG, else the XDG default),
    the environment and `overrides` (None values are ignored, so CLI flags left unset do not count)."""
    path = Path(config_file or os.environ.get("ASSISTANT_CONFIG") or default_config_file())
    if config_file and not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")

    class _FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=path if path.is_file() else None)

    return _FromFile(**{k: v for k, v in overrides.items() if v is not None})


def offline_environment() -> None:
    """No hub downloads, no telemetry, no analytics: a journalist's work never leaves the machine.
    Called before the libraries that read these variables are imported or used."""
    for name, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TOKENIZERS_PARALLELISM": "false",
    }.items():
        os.environ[name] = value
