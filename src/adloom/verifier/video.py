"""One pass over a rendered video, reduced to the few numbers the checks need.

Every frame is decoded (H.264 frames depend on each other, so none can be skipped), but
only a sample of them is analyzed: each sampled frame's luma plane is box-reduced to a
small image for the blank and frozen statistics, and the region where the disclosure
label should be is cut out at full resolution for the pixel check. Reading the luma
plane directly instead of converting to RGB keeps a 10 s 720p video well under a second.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

from adloom.domain import Box

# Planar 8-bit formats whose first plane is the luma the checks work on.
_LUMA_FIRST = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "gray"}
)

T = TypeVar("T")
_DERIVED_LOCK = threading.Lock()

U8Array = npt.NDArray[np.uint8]
F64Array = npt.NDArray[np.float64]


class VideoError(Exception):
    """The file cannot be opened or decoded; the message says where it stopped."""


@dataclass
class VideoScan:
    """What one decode of a video revealed: stream facts plus per-sample statistics."""

    path: Path
    format_name: str
    codec: str
    pix_fmt: str | None
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    metadata: dict[str, str]
    sample_interval_s: float
    #: Time of each analyzed frame, from the first frame.
    times: F64Array
    #: Luma standard deviation of each analyzed frame (the label region left out).
    std: F64Array
    #: Mean absolute luma change from the frame analyzed ``lag`` samples earlier (NaN for
    #: the first ``lag``): comparing across a lag lets slow motion add up while encoder
    #: noise on a still picture does not.
    diff: F64Array
    #: Samples between the two frames each ``diff`` compares.
    lag: int = 1
    #: Full-resolution luma of ``region`` (clipped to the frame) per analyzed frame.
    crops: list[U8Array] = field(default_factory=list)
    #: Top-left corner of the crops in frame coordinates.
    crop_origin: tuple[int, int] = (0, 0)
    #: Each analyzed frame's luma, box-reduced to about ``analysis_size`` (label kept),
    #: for motion and quality measures.
    small: list[U8Array] = field(default_factory=list)
    #: Full-resolution RGB frames at the requested still times: {time asked: frame}.
    #: Each is the first frame at or after the time asked (the last frame if none is).
    stills: dict[float, U8Array] = field(default_factory=dict)
    #: The time each still was actually taken at.
    still_times: dict[float, float] = field(default_factory=dict)

    #: Results derived from this decode that several checks share (optical flow, OCR,
    #: image matches), computed once by :meth:`memo`.
    derived: dict[Hashable, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per scan and key (checks may run in parallel threads)."""
        with _DERIVED_LOCK:
            if key in self.derived:
                return cast(T, self.derived[key])
        value = compute()
        with _DERIVED_LOCK:
            return cast(T, self.derived.setdefault(key, value))

    def still_near(self, t: float) -> tuple[float, U8Array] | None:
        """The still asked for closest to ``t``, as (time taken, frame)."""
        if not self.stills:
            return None
        asked = min(self.stills, key=lambda k: abs(k - t))
        return self.still_times[asked], self.stills[asked]


def _luma(frame: av.VideoFrame) -> U8Array:
    if frame.format.name in _LUMA_FIRST:
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
        return rows[:, : plane.width]
    return np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)


def _rgb(frame: av.VideoFrame) -> U8Array:
    return np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


class _Sampler:
    """Per-sample measurements; its geometry is fixed by the first frame it sees."""

    def __init__(self, luma: U8Array, analysis_size: int, region: Box | None, margin: int):
        height, width = luma.shape
        factor = max(1, round(max(width, height) / analysis_size))
        # Point-sample, then average only the last 2x2: most of a box filter's noise
        # suppression at a fraction of its cost on 1080x1920 frames.
        self.stride = max(1, factor // 2)
        self.pool = max(1, factor // self.stride)
        scale = self.stride * self.pool
        self.mask = np.ones(self._reduce(luma).shape, dtype=bool)
        self.crop: tuple[slice, slice] | None = None
        self.origin = (0, 0)
        if region is not None:
            # The label is the same on every frame: leave it out of the statistics.
            self.mask[
                max(0, region.y // scale - 1) : math.ceil((region.y + region.h) / scale) + 1,
                max(0, region.x // scale - 1) : math.ceil((region.x + region.w) / scale) + 1,
            ] = False
            x0, y0 = max(0, region.x - margin), max(0, region.y - margin)
            x1 = min(width, region.x + region.w + margin)
            y1 = min(height, region.y + region.h + margin)
            self.origin = (x0, y0)
            if x1 > x0 and y1 > y0:
                self.crop = (slice(y0, y1), slice(x0, x1))
        if not self.mask.any():
            self.mask[:] = True

    def _reduce(self, luma: U8Array) -> npt.NDArray[np.int16]:
        sampled = np.ascontiguousarray(luma[:: self.stride, :: self.stride])
        return np.asarray(Image.fromarray(sampled).reduce(self.pool), dtype=np.int16)

    def reduce(self, luma: U8Array) -> npt.NDArray[np.int16]:
        """The whole frame, box-reduced."""
        return self._reduce(luma)

    def values(self, reduced: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """The reduced frame's pixels outside the label, as a flat array."""
        return reduced[self.mask]


def scan_video(
    path: str | Path,
    *,
    sample_fps: float = 10.0,
    analysis_size: int = 320,
    region: Box | None = None,
    region_margin: int = 0,
    lag_s: float = 0.0,
    still_times: Sequence[float] = (),
) -> VideoScan:
    """Decode ``path`` once and measure a sample of about ``sample_fps`` frames per second.

    ``region`` (the disclosure label's box) is left out of the statistics, since the
    label is constant on every frame, and is cut out of each sample, grown by
    ``region_margin`` pixels so a matcher can search small offsets. ``diff`` compares
    frames about ``lag_s`` apart (at least one sample). ``still_times`` asks for
    full-resolution RGB frames (for OCR, image matching, safety models) at those times.
    """
    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"cannot open {path.name}: {exc}") from None
    with container:
        if not container.streams.video:
            raise VideoError(f"{path.name} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        step = max(1, round(fps / sample_fps)) if fps > 0 else 1
        lag = max(1, round(lag_s * fps / step)) if fps > 0 else 1
        metadata = {k.lower(): str(v) for k, v in container.metadata.items()}
        for k, v in stream.metadata.items():
            metadata.setdefault(k.lower(), str(v))

        times: list[float] = []
        stds: list[float] = []
        diffs: list[float] = []
        crops: list[U8Array] = []
        small: list[U8Array] = []
        wanted = sorted(set(float(x) for x in still_times))
        stills: dict[float, U8Array] = {}
        taken: dict[float, float] = {}
        last_frame: av.VideoFrame | None = None
        recent: deque[npt.NDArray[np.int16]] = deque(maxlen=lag)
        sampler: _Sampler | None = None
        first_t: float | None = None
        last_t = 0.0
        count = 0
        width, height = ctx.width, ctx.height
        try:
            for index, frame in enumerate(container.decode(stream)):
                t = float(frame.time) if frame.time is not None else index / (fps or 25.0)
                first_t = t if first_t is None else first_t
                last_t = max(last_t, t - first_t)
                count += 1
                rel = t - first_t
                while wanted and wanted[0] <= rel + 1e-6:
                    stills[wanted[0]] = _rgb(frame)
                    taken[wanted.pop(0)] = rel
                last_frame = frame
                if index % step:
                    continue
                luma = _luma(frame)
                if sampler is None:
                    height, width = luma.shape
                    sampler = _Sampler(luma, analysis_size, region, region_margin)
                reduced = sampler.reduce(luma)
                small.append(np.clip(reduced, 0, 255).astype(np.uint8))
                values = sampler.values(reduced)
                times.append(t - first_t)
                stds.append(float(values.std()))
                full = len(recent) == lag
                diffs.append(float(np.abs(values - recent[0]).mean()) if full else math.nan)
                recent.append(values)
                if sampler.crop is not None:
                    crops.append(luma[sampler.crop].copy())
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise VideoError(
                f"decoding {path.name} failed after {count} frames ({last_t:.2f}s): {exc}"
            ) from None
        if sampler is None or last_frame is None:
            raise VideoError(f"{path.name} has no decodable video frames")
        if wanted:
            rgb = _rgb(last_frame)
            for t in wanted:
                stills[t], taken[t] = rgb, last_t
        frame_s = 1.0 / fps if fps > 0 else 0.0
        return VideoScan(
            path=path,
            format_name=container.format.name,
            codec=ctx.name,
            pix_fmt=ctx.pix_fmt,
            width=width,
            height=height,
            fps=fps,
            frame_count=count,
            duration_s=last_t + frame_s,
            metadata=metadata,
            sample_interval_s=step * frame_s,
            times=np.asarray(times, dtype=np.float64),
            std=np.asarray(stds, dtype=np.float64),
            diff=np.asarray(diffs, dtype=np.float64),
            lag=lag,
            crops=crops,
            crop_origin=sampler.origin,
            small=small,
            stills=stills,
            still_times=taken,
        )
