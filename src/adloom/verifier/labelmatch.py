"""Finding the disclosure label in decoded pixels.

The label is translucent: over a moving background its box pixels change from frame to
frame, so a plain difference against the label image would fail on a correct video. What
does not change is where the label decides the pixel on its own: the text (opaque white)
is bright and the box (about 75 % black) is dark over any background. The matcher looks
only at those pixels and asks two things of the decoded luma there: that it correlates
with the label's pattern (the right text in the right place) and that the text is much
brighter than the box (not a faint ghost). Both survive H.264 blur and the limited
luma range; neither holds for a background that merely happens to be there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from adloom.producer.label import disclosure_label

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
#: Label alpha from which a pixel counts as decided by the label, whatever lies beneath.
_MIN_ALPHA = 0.7

F64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class LabelMatch:
    """How well one frame's pixels match the label at its best offset."""

    correlation: float
    contrast: float
    dx: int = 0
    dy: int = 0

    def found(self, min_correlation: float, min_contrast: float) -> bool:
        return self.correlation >= min_correlation and self.contrast >= min_contrast


@dataclass(frozen=True)
class LabelTemplate:
    """The label's luma pattern and the pixels it decides regardless of the background."""

    pattern: F64Array
    decided: BoolArray
    bright: BoolArray
    dark: BoolArray
    contrast: float

    @property
    def width(self) -> int:
        return int(self.pattern.shape[1])

    @property
    def height(self) -> int:
        return int(self.pattern.shape[0])

    @cached_property
    def _centered(self) -> tuple[F64Array, float]:
        expected = self.pattern[self.decided]
        centered = expected - expected.mean()
        return centered, float(np.sqrt((centered**2).sum()))

    @classmethod
    def for_text(cls, text: str, frame_height: int) -> LabelTemplate:
        rgba = np.asarray(disclosure_label(text, frame_height), dtype=np.float64) / 255.0
        alpha = rgba[..., 3]
        luma = rgba[..., :3] @ _LUMA
        over_black = 255.0 * luma * alpha
        over_white = over_black + 255.0 * (1.0 - alpha)
        decided = alpha >= _MIN_ALPHA
        bright = decided & (over_black >= 160.0)
        dark = decided & (over_white <= 100.0)
        contrast = (
            float(over_black[bright].mean() - over_white[dark].mean())
            if bright.any() and dark.any()
            else 0.0
        )
        return cls(
            pattern=(over_black + over_white) / 2.0,
            decided=decided,
            bright=bright,
            dark=dark,
            contrast=contrast,
        )

    def score(self, window: F64Array) -> LabelMatch:
        """Correlation and relative contrast of a label-sized luma ``window``."""
        expected_c, expected_norm = self._centered
        values = window[self.decided]
        values_c = values - values.mean()
        denom = float(np.sqrt((values_c**2).sum())) * expected_norm
        correlation = float(values_c @ expected_c) / denom if denom > 0 else 0.0
        contrast = 0.0
        if self.contrast > 0:
            measured = float(window[self.bright].mean() - window[self.dark].mean())
            contrast = max(0.0, measured / self.contrast)
        return LabelMatch(correlation=correlation, contrast=contrast)

    def match(
        self,
        crop: npt.NDArray[np.uint8],
        x: int,
        y: int,
        search: int = 0,
        *,
        min_correlation: float = 1.0,
        min_contrast: float = 1.0,
    ) -> LabelMatch:
        """Best match of the label placed at ``(x, y)`` in ``crop``, within ``search`` px.

        Offsets are tried nearest first and the search stops at the first one that meets
        ``min_correlation`` and ``min_contrast``, so a correctly placed label costs one
        comparison. Offsets where the label would not fit inside the crop are skipped.
        """
        data = crop.astype(np.float64)
        offsets = sorted(
            ((dx, dy) for dy in range(-search, search + 1) for dx in range(-search, search + 1)),
            key=lambda o: (o[0] ** 2 + o[1] ** 2, o),
        )
        best = LabelMatch(correlation=0.0, contrast=0.0)
        for dx, dy in offsets:
            top, left = y + dy, x + dx
            if top < 0 or left < 0:
                continue
            window = data[top : top + self.height, left : left + self.width]
            if window.shape != self.pattern.shape:
                continue
            m = self.score(window)
            if (m.correlation, m.contrast) > (best.correlation, best.contrast):
                best = LabelMatch(m.correlation, m.contrast, dx, dy)
            if best.found(min_correlation, min_contrast):
                break
        return best
