"""Reading text back out of rendered frames, with RapidOCR's ONNX models on the CPU.

The detection, classification and recognition models ship inside the ``rapidocr`` wheel,
so OCR works offline. One engine is built per process and per setting (a campaign
verifies many creatives, and loading the models costs more than reading a frame).

Speed matters more than the last point of recall here: the Verifier reads one still per
scene, on machines with a couple of cores. Three settings decide the cost:

* the detector's input is capped at ``max_side`` pixels on its longer side (rapidocr
  otherwise scales the *shorter* side up to 736 px, which for a 9:16 frame means
  detecting on all of its 1080x1920 pixels). Ad copy is large; recognition still runs
  on crops of the full-resolution frame, so only detection sees the reduced frame;
* one ONNX thread: a second one saves a tenth of the time for twice the CPU, and when
  several verifications run side by side it only competes with them;
* no orientation classifier: adloom draws every string upright.

On two cores this reads a 1280x720 or a 1080x1920 frame in about a quarter of a second,
against 0.45 s and 0.85 s with rapidocr's defaults; 960 px costs half as much again,
while 640 px reads more stray marks (a dot as a bullet) and clips small wordmarks.
Colour is kept: the models take three channels anyway, so a grey frame is no faster.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from adloom.domain import Box
from adloom.errors import MissingExtraError

#: Longer side (px) frames are reduced to for text detection; see the module docstring.
DEFAULT_MAX_SIDE = 736
#: Lines the recognizer is less sure of than this are dropped.
DEFAULT_MIN_SCORE = 0.5


@dataclass(frozen=True)
class OcrLine:
    """One line of text read from a frame: what, how sure, and where (frame pixels)."""

    text: str
    score: float
    box: Box


def _quiet(name: str) -> None:
    # rapidocr logs at INFO on every model load and warns on every frame without text.
    logging.getLogger(name).setLevel(logging.ERROR)


@lru_cache(maxsize=4)
def engine(max_side: int = DEFAULT_MAX_SIDE, threads: int = 1) -> Any:
    """The RapidOCR engine for these settings, loaded once per process."""
    if importlib.util.find_spec("onnxruntime") is None:  # rapidocr's inference engine
        raise MissingExtraError("ocr", "ocr", "onnxruntime")
    try:
        from rapidocr import RapidOCR
    except ImportError as exc:  # rapidocr itself, or its OpenCV
        raise MissingExtraError("ocr", "ocr", exc.name or "rapidocr") from exc
    _quiet("RapidOCR")
    ort = "EngineConfig.onnxruntime"
    return RapidOCR(
        params={
            "Global.log_level": "error",
            "Global.use_cls": False,
            "Det.limit_type": "max",
            "Det.limit_side_len": max_side,
            f"{ort}.intra_op_num_threads": threads,
            f"{ort}.inter_op_num_threads": 1,
        }
    )


def _box(points: npt.NDArray[Any], width: int, height: int) -> Box:
    """The axis-aligned box around a detected quadrilateral, clipped to the frame."""
    xs, ys = points[:, 0], points[:, 1]
    x0, y0 = max(0, int(np.floor(xs.min()))), max(0, int(np.floor(ys.min())))
    x1, y1 = min(width, int(np.ceil(xs.max()))), min(height, int(np.ceil(ys.max())))
    return Box(x=x0, y=y0, w=max(0, x1 - x0), h=max(0, y1 - y0))


def read_text(
    rgb: npt.NDArray[np.uint8],
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    min_score: float = DEFAULT_MIN_SCORE,
    threads: int = 1,
) -> list[OcrLine]:
    """Every line of text in an RGB (or grey) frame, top to bottom, left to right."""
    if rgb.ndim not in (2, 3) or (rgb.ndim == 3 and rgb.shape[2] not in (3, 4)):
        raise ValueError(f"expected an RGB or grey image, got an array of shape {rgb.shape}")
    if max_side < 32:
        raise ValueError(f"max_side must be at least 32 px, got {max_side}")
    if rgb.ndim == 3:
        # rapidocr takes arrays as OpenCV's BGR.
        rgb = np.ascontiguousarray(rgb[..., 2::-1])
    height, width = rgb.shape[:2]
    result = engine(max_side, threads)(rgb)
    boxes, texts, scores = (getattr(result, k, None) for k in ("boxes", "txts", "scores"))
    if boxes is None or texts is None or scores is None:
        return []
    return [
        OcrLine(text=" ".join(str(text).split()), score=float(score), box=_box(pts, width, height))
        for pts, text, score in zip(boxes, texts, scores, strict=True)
        if float(score) >= min_score and str(text).strip()
    ]
