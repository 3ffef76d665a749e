"""The OCR wrapper on frames drawn here: what it reads, where, and how it fails."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from adloom.errors import MissingExtraError
from adloom.verifier.ocr import DEFAULT_MAX_SIDE, OcrLine, engine, read_text

pytest.importorskip("rapidocr")


def frame(
    lines: list[tuple[str, tuple[int, int]]],
    size: tuple[int, int] = (1280, 720),
    px: int = 56,
) -> np.ndarray:
    """A dark RGB frame with light text lines at the given top-left corners."""
    img = Image.new("RGB", size, (30, 50, 40))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=px)
    for text, at in lines:
        draw.text(at, text, font=font, fill=(240, 236, 225))
    return np.asarray(img)


def test_reads_lines_in_order_with_their_boxes() -> None:
    rgb = frame([("Waterproof membrane", (100, 120)), ("Shop now", (700, 500))])
    lines = read_text(rgb)
    assert [line.text for line in lines] == ["Waterproof membrane", "Shop now"]
    assert all(isinstance(line, OcrLine) and line.score > 0.9 for line in lines)
    first, second = (line.box for line in lines)
    # The boxes hold the drawn text: left edges and baselines within a few pixels.
    assert abs(first.x - 100) <= 12
    assert 110 <= first.y <= 135
    assert first.y + first.h <= 200
    assert first.w > 400
    assert abs(second.x - 700) <= 12
    assert 490 <= second.y <= 515
    assert second.x + second.w <= 1280


def test_portrait_frames_and_small_captions_are_read() -> None:
    rgb = frame(
        [("Only 480 g per boot", (120, 1200)), ("Every trail, every weather", (180, 1700))],
        size=(1080, 1920),
        px=44,
    )
    assert [line.text for line in read_text(rgb)] == [
        "Only 480 g per boot",
        "Every trail, every weather",
    ]


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grey_and_rgba_frames_are_accepted(mode: str) -> None:
    rgb = frame([("Go further, stay dry", (200, 300))])
    img = np.asarray(Image.fromarray(rgb).convert(mode))
    assert [line.text for line in read_text(img)] == ["Go further, stay dry"]


def test_a_frame_without_text_reads_nothing() -> None:
    assert read_text(np.full((720, 1280, 3), 90, dtype=np.uint8)) == []


def test_min_score_drops_unsure_lines() -> None:
    rgb = frame([("Go further, stay dry", (200, 300))])
    assert read_text(rgb, min_score=1.01) == []


@pytest.mark.parametrize(
    ("shape", "kwargs", "message"),
    [
        ((720, 1280, 2), {}, "expected an RGB or grey image, got an array of shape (720, 1280, 2)"),
        ((4, 720, 1280, 3), {}, "expected an RGB or grey image"),
        ((720, 1280, 3), {"max_side": 16}, "max_side must be at least 32 px, got 16"),
    ],
)
def test_bad_input_is_refused(shape: tuple[int, ...], kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_text(np.zeros(shape, dtype=np.uint8), **kwargs)


def test_engine_is_loaded_once_per_setting() -> None:
    assert engine(DEFAULT_MAX_SIDE, 1) is engine(DEFAULT_MAX_SIDE, 1)


def test_reading_logs_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    read_text(frame([("Shop now", (500, 300))]))
    read_text(np.full((64, 64, 3), 200, dtype=np.uint8))  # no text: rapidocr would warn
    out, err = capfd.readouterr()
    assert out == err == ""
    assert logging.getLogger("RapidOCR").getEffectiveLevel() >= logging.ERROR


@pytest.mark.parametrize("module", ["rapidocr", "onnxruntime"])
def test_missing_packages_name_the_extra(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    if module == "onnxruntime":
        monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(MissingExtraError, match=rf"needs the '{module}' package.*adloom\[ocr\]"):
        engine(DEFAULT_MAX_SIDE + 32, 1)  # a setting not loaded yet, so nothing is cached
