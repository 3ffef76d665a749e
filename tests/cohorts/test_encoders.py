"""Product features: text and image tokens with masks; the packaged EfficientNet-Lite0
image model and the pixel-statistics fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adloom import registry
from adloom.cohorts.data import Items
from adloom.cohorts.encoders import IMAGE_TOKENS, EfficientNetLite, PixelStats, encode_items
from adloom.cohorts.simulate import draw_creative
from adloom.errors import InputError


def test_tokens_and_masks(sim) -> None:  # type: ignore[no-untyped-def]
    f = encode_items(sim.items, "hashing", "pixels")
    assert f.text.shape[:2] == (len(sim.items), 3)
    assert f.text_mask.all()
    assert f.image.shape == (len(sim.items), IMAGE_TOKENS, 8)
    assert f.image_mask.all()
    # Creatives of different styles look different; the same style in two products alike.
    assert not np.allclose(f.image[0], f.image[1])
    np.testing.assert_allclose(f.image[0, -1, :6], f.image[4, -1, :6], atol=0.02)


def test_items_without_images_and_with_fewer_fields() -> None:
    ids = np.asarray(["a", "b"])
    items = Items(ids=ids, product=ids, texts=(("one", "two"), ("one",)), images=(None, None))
    f = encode_items(items, "hashing", "pixels")
    assert f.image_dim == 0
    assert not f.image_mask.any()
    assert f.text_mask.tolist() == [[True, True], [True, False]]
    assert not f.text[1, 1].any()


def test_unreadable_image(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="unreadable image"):
        PixelStats().encode([str(bad)])
    assert PixelStats().encode([]).shape == (0, IMAGE_TOKENS, 8)


def test_efficientnet_lite0_tells_styles_apart(tmp_path: Path) -> None:
    styles = ("bold", "calm", "bold")
    paths = [str(draw_creative(tmp_path / f"{i}.png", s, seed=3 * i)) for i, s in enumerate(styles)]
    encoder = registry.create("image_encoder", "efficientnet", "efficientnet")
    assert isinstance(encoder, EfficientNetLite)
    tokens = encoder.encode(paths)
    assert tokens.shape == (3, IMAGE_TOKENS, 1280)
    assert np.isfinite(tokens).all()
    g = tokens[:, -1]
    cos = g @ g.T / np.outer(np.linalg.norm(g, axis=1), np.linalg.norm(g, axis=1))
    assert cos[0, 2] > cos[0, 1]  # same style (other offset) closer than another style
    assert encoder.encode([]).shape == (0, IMAGE_TOKENS, 1280)


def test_missing_image_model_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    from adloom.cohorts import encoders
    from adloom.errors import MissingExtraError

    encoders._efficientnet.cache_clear()
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    path = str(draw_creative(tmp_path / "a.png", "calm"))
    with pytest.raises(MissingExtraError, match=r"pip install 'adloom\[cohorts\]'"):
        EfficientNetLite().encode([path])
    encoders._efficientnet.cache_clear()
