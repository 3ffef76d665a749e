"""One pass over a rendered video, reduced to the few numbers the checks need.

Every frame is decoded (H.264 frames depend on each other, so none can be skipped), but
only a sample of them is analyzed: each sampled frame's luma plane is box-reduced to a
small image for the blank and frozen statistics, and the region where the disclosure
label should be is cut out at full resolution for the pixel check. Reading the luma
plane directly instead of converting to RGB keeps a 10 s 720p video well under a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

from adloom.domain import Box

# Planar 8-bit formats whose first plane is the luma the checks work on.
_LUMA_FIRST = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "gray"}
)

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
    #: Mean absolute luma change from the previous analyzed frame (NaN for the first).
    diff: F64Array
    #: Full-resolution luma of ``region`` (clipped to the frame) per analyzed frame.
    crops: list[U8Array] = field(default_factory=list)
    #: Top-left corner of the crops in frame coordinates.
    crop_origin: tuple[int, int] = (0, 0)


def _luma(frame: av.VideoFrame) -> U8Array:
    if frame.format.name in _LUMA_FIRST:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return rows[:, : plane.width]
    return frame.to_ndarray(format="gray")  # type: ignore[no-any-return]


def _reduce_factor(width: int, height: int, analysis_size: int) -> int:
    return max(1, round(max(width, height) / analysis_size))


def _stats_mask(shape: tuple[int, int], factor: int, exclude: Box | None) -> npt.NDArray[np.bool_]:
    mask = np.ones(shape, dtype=bool)
    if exclude is not None:
        x0, y0 = max(0, exclude.x // factor - 1), max(0, exclude.y // factor - 1)
        x1 = math.ceil((exclude.x + exclude.w) / factor) + 1
        y1 = math.ceil((exclude.y + exclude.h) / factor) + 1
        mask[y0:y1, x0:x1] = False
    if not mask.any():
        mask[:] = True
    return mask


def scan_video(
    path: str | Path,
    *,
    sample_fps: float = 10.0,
    analysis_size: int = 320,
    region: Box | None = None,
    region_margin: int = 0,
) -> VideoScan:
    """Decode ``path`` once and measure a sample of about ``sample_fps`` frames per second.

    ``region`` (the disclosure label's box) is left out of the statistics, since the
    label is constant on every frame, and is cut out of each sample, grown by
    ``region_margin`` pixels so a matcher can search small offsets.
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
        metadata = {k.lower(): str(v) for k, v in container.metadata.items()}
        for k, v in stream.metadata.items():
            metadata.setdefault(k.lower(), str(v))

        times: list[float] = []
        stds: list[float] = []
        diffs: list[float] = []
        crops: list[U8Array] = []
        origin = (0, 0)
        first_t: float | None = None
        last_t = 0.0
        count = 0
        prev: npt.NDArray[np.int16] | None = None
        mask: npt.NDArray[np.bool_] | None = None
        factor = 1
        crop_slice: tuple[slice, slice] | None = None
        width, height = ctx.width, ctx.height
        try:
            for index, frame in enumerate(container.decode(stream)):
                t = float(frame.time) if frame.time is not None else index / (fps or 25.0)
                if first_t is None:
                    first_t = t
                t -= first_t
                last_t = max(last_t, t)
                count += 1
                if index % step:
                    continue
                luma = _luma(frame)
                if mask is None:
                    height, width = luma.shape
                    factor = _reduce_factor(width, height, analysis_size)
                    small_shape = (height // factor, width // factor)
                    mask = _stats_mask(small_shape, factor, region)
                    if region is not None:
                        x0 = max(0, region.x - region_margin)
                        y0 = max(0, region.y - region_margin)
                        x1 = min(width, region.x + region.w + region_margin)
                        y1 = min(height, region.y + region.h + region_margin)
                        origin = (x0, y0)
                        if x1 > x0 and y1 > y0:
                            crop_slice = (slice(y0, y1), slice(x0, x1))
                small = np.asarray(Image.fromarray(luma).reduce(factor), dtype=np.int16)
                values = small[mask]
                times.append(t)
                stds.append(float(values.std()))
                diffs.append(
                    float(np.abs(values - prev[mask]).mean()) if prev is not None else math.nan
                )
                prev = small
                if crop_slice is not None:
                    crops.append(luma[crop_slice].copy())
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise VideoError(
                f"decoding {path.name} failed after {count} frames ({last_t:.2f}s): {exc}"
            ) from None
        if count == 0:
            raise VideoError(f"{path.name} has no decodable video frames")
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
            crops=crops,
            crop_origin=origin,
        )
