"""Video quality and pacing checks: cheap, analytic stand-ins for VBench's learned metrics.

VBench scores generated video with learned models (AMT frame interpolation for motion
smoothness, RAFT optical flow for dynamic degree, MUSIQ for imaging quality, the LAION
aesthetic predictor for aesthetics). A campaign verifies hundreds of creatives on CPUs,
so these checks measure the same properties with closed-form statistics instead: the
error of flow-compensated frame interpolation, Farneback flow magnitude, Laplacian
sharpness, a robust noise estimate, exposure percentiles, contrast, colourfulness and
text contrast. They are less semantic (nothing here knows what a pleasing picture is),
but they run in milliseconds, need no weights, and their numbers mean the same thing on
every machine. ``pacing`` reads the plan alone: whether the hook is short and every
string stays up long enough to read.

Motion is analyzed on the :class:`~adloom.verifier.video.VideoScan`'s reduced luma frames
(about 10 per second), the stills on each scene's full-resolution frame. Optical flow is
computed once per scan and shared by ``motion_smoothness`` and ``dynamic_degree``.
The verifier config section for these checks is :data:`SECTION` (:class:`QualityOptions`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from adloom.domain import Box, CreativePlan
from adloom.errors import MissingExtraError
from adloom.verifier.checks import Check, CheckContext, Outcome, Problem, Severity, check, runs
from adloom.verifier.video import VideoScan

if TYPE_CHECKING:
    from types import ModuleType

#: The verifier config section holding :class:`QualityOptions`.
SECTION = "quality"

F32Array = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]
U8Array = npt.NDArray[np.uint8]
T = TypeVar("T")

#: Share of the largest flow vectors a sample's motion is read from: the moving subject,
#: not the still background around it (VBench's dynamic degree does the same).
_TOP_SHARE = 0.05
#: Motion speed is read on every this many samples (about 4 a second): enough to tell a
#: moving scene from a still one at a third of the flow cost.
_SPEED_EVERY = 3
#: Block size (px at flow size) for locating where an interpolation failed.
_BLOCK = 8
#: Luma weights (BT.601, as video luma is coded) and the sRGB-linear ones for contrast.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_LUMINANCE = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
#: Text contrast ratio at which legibility scores 1 (WCAG AA for body text).
_LEGIBLE = 4.5


class QualityOptions(BaseModel):
    """Thresholds of the quality and pacing checks (verifier config section ``quality``)."""

    model_config = ConfigDict(extra="forbid")

    # motion_smoothness and dynamic_degree
    flow_size: int = Field(
        160,
        ge=32,
        le=640,
        description="Longer side (px) frames are reduced to for optical flow: motion at "
        "ad pace survives the reduction, and flow there costs a fifth of what it does at 320 px.",
    )
    transition_s: float = Field(
        0.4,
        ge=0.0,
        description="How long after a scene boundary its transition may run; samples that "
        "touch a boundary or this window are not judged (cuts and fades are intended).",
    )
    jerk_error: float = Field(
        5.0,
        gt=0.0,
        description="Mean absolute luma error (0-255) of interpolating a sample from its "
        "neighbours above which the motion there is jerky (dropped, doubled or shaken "
        "frames). Smooth renders stay below 3.",
    )
    judder_share: float = Field(
        0.2,
        gt=0.0,
        le=1.0,
        description="Share of judged samples that, once jerky, makes the problem major: "
        "the whole creative judders rather than one spot.",
    )
    moving_speed: float = Field(
        0.01,
        ge=0.0,
        description="Speed (frame long sides per second) of the fastest 5% of the picture "
        "from which a sample counts as moving; template pans run at about 0.03-0.08.",
    )
    min_moving_share: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Share of judged samples that must move; below it the creative is dull.",
    )
    # imaging_quality
    still_size: int = Field(
        640,
        ge=64,
        description="Longer side (px) stills are reduced to, so sharpness and noise mean "
        "the same at 720p and 1080x1920.",
    )
    min_sharpness: float = Field(
        1.0,
        gt=0.0,
        description="Laplacian variance over mean squared gradient below which a still is "
        "blurry (sharp renders: 3.5-5.5; a 2 px blur at 720p: about 0.6).",
    )
    max_noise: float = Field(
        3.0,
        gt=0.0,
        description="Estimated noise standard deviation (luma 0-255, at still_size) above "
        "which a still is noisy.",
    )
    min_bright_luma: float = Field(
        64.0,
        ge=0.0,
        le=255.0,
        description="The 98th-percentile luma must reach this, else nothing in the frame is "
        "bright: under-exposed.",
    )
    max_dark_luma: float = Field(
        192.0,
        ge=0.0,
        le=255.0,
        description="The 2nd-percentile luma must stay below this, else nothing in the "
        "frame is dark: washed out.",
    )
    max_clipped_shadows: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Largest share of pixels crushed to black (luma <= 8); generous because "
        "dark designs are common.",
    )
    max_clipped_highlights: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="Largest share of pixels blown to white (luma >= 247).",
    )
    major_factor: float = Field(
        2.0,
        gt=1.0,
        description="A still this many times past a threshold has a major problem, not a "
        "minor one.",
    )
    # aesthetics
    contrast_target: float = Field(
        0.12,
        gt=0.0,
        description="RMS contrast (luma std / 255) at which a still's contrast scores 1.",
    )
    colourfulness_target: float = Field(
        20.0,
        gt=0.0,
        description="Hasler-Suesstrunk colourfulness at which a still's colour scores 1 "
        "(15 is 'slightly', 33 'moderately' colourful).",
    )
    min_text_contrast: float = Field(
        3.0,
        ge=1.0,
        description="Contrast ratio (WCAG, 1-21) a drawn string needs against its own "
        "background; 3 is the WCAG minimum for large text.",
    )
    min_aesthetic: float = Field(
        0.5, ge=0.0, le=1.0, description="Aesthetic score (0-1) a still needs."
    )
    # pacing
    max_hook_s: float = Field(
        3.0, gt=0.0, description="Longest hook scene: attention is won or lost early."
    )
    min_scene_s: float = Field(1.0, gt=0.0, description="Shortest scene.")
    min_read_s: float = Field(
        0.6,
        ge=0.0,
        description="Time to notice a string (it fades in) before reading starts.",
    )
    reading_wps: float = Field(
        3.0,
        gt=0.0,
        description="Comfortable reading rate (words per second); strings shown for less "
        "are reported as tight (evidence only).",
    )
    skim_wps: float = Field(
        6.0,
        gt=0.0,
        description="Fastest rate (words per second) a string can be skimmed; strings shown "
        "for less fail (minor, major below half that time).",
    )


def _memo(scan: VideoScan, key: Hashable, compute: Callable[[], T]) -> T:
    """The motion checks share one optical-flow pass, the still checks one reduction."""
    return scan.memo(key, compute)


def _cv2(check_name: str) -> ModuleType:
    try:
        import cv2
    except ImportError as exc:
        raise MissingExtraError(check_name, "vision", "opencv-python-headless") from exc
    return cv2


# --------------------------------------------------------------------------- motion


@dataclass(frozen=True)
class MotionProfile:
    """Per-sample motion facts; sample ``k`` is the scan's sample ``k + 1`` (the middle of
    the three frames it is computed from), so the first and last samples have none."""

    #: Time of each middle sample.
    times: F64Array
    #: Time of the frames before and after it.
    spans: F64Array
    #: Mean absolute luma error (0-255) of the better of two predictions of the middle
    #: frame from its neighbours: their average in place, or warped along their flow.
    error: F64Array
    #: Mean speed of the fastest 5% of the picture, in frame long sides per second;
    #: measured on every third sample, NaN on the others.
    speed: F64Array


def reduce_frames(frames: Sequence[U8Array], size: int) -> list[U8Array]:
    """``frames`` with their longer side brought down to about ``size`` pixels."""
    if not frames:
        return []
    h, w = frames[0].shape
    f = min(1.0, size / max(h, w))
    if f >= 1.0:
        return list(frames)
    dims = (max(1, round(w * f)), max(1, round(h * f)))
    return [np.asarray(Image.fromarray(x).resize(dims, Image.Resampling.BOX)) for x in frames]


def optical_flow(a: U8Array, b: U8Array, cv2: ModuleType | None = None) -> F32Array:
    """Farneback flow from ``a`` to ``b`` (per pixel of ``a``: where it went, in px)."""
    cv2 = cv2 or _cv2("motion_smoothness")
    # Two pyramid levels, a small window and one iteration: at 160 px ad motion is a few
    # pixels per sample, and this is the hot loop (one call per sample).
    return cast(F32Array, cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 2, 7, 1, 5, 1.1, 0))


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[F32Array, F32Array]:
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    gy.flags.writeable = gx.flags.writeable = False
    return gy, gx


def interpolation_error_map(
    prev: U8Array, mid: U8Array, nxt: U8Array, flow: F32Array, cv2: ModuleType | None = None
) -> F32Array:
    """Absolute error of predicting ``mid`` halfway along ``flow`` (from ``prev`` to ``nxt``).

    Each neighbour is warped half way towards the middle and the two are averaged, so
    steady motion, zooms and fades are predicted almost exactly; a doubled, dropped or
    shaken frame is not.
    """
    cv2 = cv2 or _cv2("motion_smoothness")
    gy, gx = _grid(*mid.shape)
    hx, hy = flow[..., 0] * 0.5, flow[..., 1] * 0.5
    mode, border = cv2.INTER_LINEAR, cv2.BORDER_REPLICATE
    a = cv2.remap(prev.astype(np.float32), gx - hx, gy - hy, mode, borderMode=border)
    b = cv2.remap(nxt.astype(np.float32), gx + hx, gy + hy, mode, borderMode=border)
    return cast(F32Array, np.abs((a + b) * 0.5 - mid.astype(np.float32)))


def flow_speed(flow: F32Array, seconds: float, long_side: int) -> float:
    """Mean magnitude of the largest 5% of ``flow``, in frame long sides per second."""
    mag = np.hypot(flow[..., 0], flow[..., 1]).ravel()
    if mag.size == 0 or seconds <= 0:
        return 0.0
    k = min(mag.size - 1, int(mag.size * (1.0 - _TOP_SHARE)))
    top = np.partition(mag, k)[k:]
    return float(top.mean()) / seconds / long_side


def motion_profile(scan: VideoScan, flow_size: int = 160, gate: float = 2.5) -> MotionProfile:
    """Interpolation error and speed of the inner samples, computed once per scan.

    Flow, the costly part, is computed only where it can matter: on every third sample
    for speed, and wherever averaging the neighbours in place misses by more than
    ``gate``. A sample that in-place averaging already predicts is smooth whatever the
    flow says, so below the gate its error is the in-place one.
    """
    key = ("motion", flow_size, gate)
    return _memo(scan, key, lambda: _motion_profile(scan, flow_size, gate))


def _motion_profile(scan: VideoScan, flow_size: int, gate: float) -> MotionProfile:
    cv2 = _cv2("motion_smoothness")
    frames = reduce_frames(scan.small, flow_size)
    n = min(len(frames), len(scan.times))
    inner = max(0, n - 2)
    error = np.zeros(inner, dtype=np.float64)
    speed = np.full(inner, np.nan, dtype=np.float64)
    long_side = max(frames[0].shape) if frames else 1
    for k in range(inner):
        a, m, b = frames[k], frames[k + 1], frames[k + 2]
        mid = m.astype(np.float32)
        error[k] = float(np.abs((a.astype(np.float32) + b) * 0.5 - mid).mean())
        timed = k % _SPEED_EVERY == 0
        if error[k] <= gate and not timed:
            continue
        flow = optical_flow(a, b, cv2)
        if error[k] > gate:
            error[k] = min(error[k], float(interpolation_error_map(a, m, b, flow, cv2).mean()))
        if timed:
            speed[k] = flow_speed(flow, float(scan.times[k + 2] - scan.times[k]), long_side)
    times = np.asarray(scan.times[1 : inner + 1], dtype=np.float64)
    spans = np.stack([scan.times[:inner], scan.times[2 : inner + 2]], axis=1).astype(np.float64)
    return MotionProfile(times=times, spans=spans, error=error, speed=speed)


def judged(
    profile: MotionProfile, plan: CreativePlan, transition_s: float
) -> npt.NDArray[np.bool_]:
    """Which samples are judged: not touching a scene boundary or the transition after it."""
    keep = np.ones(len(profile.times), dtype=bool)
    if not len(keep):
        return keep
    half = float(np.median(np.diff(profile.times))) / 2 if len(keep) > 1 else 0.0
    lo, hi = profile.spans[:, 0], profile.spans[:, 1]
    for scene in plan.scenes[1:]:
        b = scene.start_s
        keep &= ~((hi >= b - half) & (lo <= b + transition_s + half))
    return keep


def _jerk_box(ctx: CheckContext, sample: int, limit: float) -> Box | None:
    """Where, in video pixels, the worst interpolation of a jerky stretch failed."""
    v = ctx.scan
    size = ctx.options(SECTION, QualityOptions).flow_size
    a, m, b = reduce_frames(v.small[sample - 1 : sample + 2], size)
    cv2 = _cv2("motion_smoothness")
    err = interpolation_error_map(a, m, b, optical_flow(a, b, cv2), cv2)
    h, w = err.shape
    bh, bw = h // _BLOCK, w // _BLOCK
    if not bh or not bw:
        return None
    blocks = err[: bh * _BLOCK, : bw * _BLOCK].reshape(bh, _BLOCK, bw, _BLOCK).mean(axis=(1, 3))
    ys, xs = np.nonzero(blocks > limit)
    if not len(ys):
        return None
    sx, sy = v.width / w, v.height / h
    x0, y0 = int(xs.min() * _BLOCK * sx), int(ys.min() * _BLOCK * sy)
    x1 = min(v.width, math.ceil((xs.max() + 1) * _BLOCK * sx))
    y1 = min(v.height, math.ceil((ys.max() + 1) * _BLOCK * sy))
    return Box(x=x0, y=y0, w=x1 - x0, h=y1 - y0)


@check("motion_smoothness", "utility", needs_video=True)
def motion_smoothness(ctx: CheckContext) -> Outcome:
    """Frames follow each other smoothly: each sample is predictable from its neighbours.

    Scene boundaries and the transitions after them are left out: a cut is meant to be
    unpredictable. The score is the share of judged samples that are smooth.
    """
    opt = ctx.options(SECTION, QualityOptions)
    prof = motion_profile(ctx.scan, opt.flow_size, opt.jerk_error / 2)
    keep = judged(prof, ctx.plan, opt.transition_s)
    if not keep.any():
        return Outcome(1.0, "too few samples away from scene boundaries to judge smoothness")
    jerky = keep & (prof.error > opt.jerk_error)
    share = float(jerky.sum() / keep.sum())
    severity: Severity = "major" if share >= opt.judder_share else "minor"
    problems: list[Problem] = []
    for first, last in runs(jerky):
        worst = first + int(np.argmax(prof.error[first : last + 1]))
        a, b = float(prof.spans[first, 0]), float(prof.spans[last, 1])
        t = float(prof.times[worst])
        problems.append(
            Problem(
                severity,
                f"jerky motion from {a:.2f}s to {b:.2f}s (interpolation error "
                f"{prof.error[worst]:.1f}, max {opt.jerk_error:g})",
                ctx.scene_for(a, b),
                a,
                b,
                frame=ctx.frame_at(t),
                box=_jerk_box(ctx, worst + 1, opt.jerk_error),
            )
        )
    worst_all = float(prof.error[keep].max())
    msg = (
        "; ".join(p.message for p in problems)
        if problems
        else f"smooth: {int(keep.sum())} samples judged, worst interpolation error "
        f"{worst_all:.1f} (max {opt.jerk_error:g})"
    )
    return Outcome(1.0 - share, msg, problems)


@check("dynamic_degree", "utility", needs_video=True)
def dynamic_degree(ctx: CheckContext) -> Outcome:
    """Enough of the creative moves: a slideshow of still frames is dull.

    Every scene's share of moving samples is reported; the creative fails only when the
    moving share of the whole falls below the floor, so one calm scene is fine.
    """
    opt = ctx.options(SECTION, QualityOptions)
    prof = motion_profile(ctx.scan, opt.flow_size, opt.jerk_error / 2)
    keep = judged(prof, ctx.plan, opt.transition_s) & ~np.isnan(prof.speed)
    if not keep.any():
        return Outcome(1.0, "too few samples away from scene boundaries to judge motion")
    moving = keep & (prof.speed >= opt.moving_speed)
    share = float(moving.sum() / keep.sum())
    dull = share < opt.min_moving_share
    problems: list[Problem] = []
    for scene in ctx.plan.scenes:
        inside = keep & (prof.times >= scene.start_s) & (prof.times < scene.end_s)
        if not inside.any():
            continue
        scene_share = float(moving[inside].sum() / inside.sum())
        if scene_share >= opt.min_moving_share:
            continue
        problems.append(
            Problem(
                "minor" if dull else "info",
                f"scene {scene.index} is static: {scene_share:.0%} of its samples move",
                scene.index,
                scene.start_s,
                scene.end_s,
                frame=ctx.frame_at(scene.start_s + scene.duration_s / 2),
            )
        )
    msg = f"{share:.0%} of {int(keep.sum())} samples move (min {opt.min_moving_share:.0%})"
    if dull:
        msg = "dull: " + msg
        if not problems:  # moving samples spread thin over every scene
            problems.append(Problem("minor", msg))
    score = min(1.0, share / opt.min_moving_share) if opt.min_moving_share > 0 else 1.0
    return Outcome(score, msg, problems)


# --------------------------------------------------------------------------- still metrics


def to_luma(rgb: npt.NDArray[np.uint8] | F32Array) -> F32Array:
    """Luma (0-255, float) of an RGB image."""
    return cast(F32Array, np.asarray(rgb, dtype=np.float32) @ _LUMA)


def _laplacian(y: F32Array) -> F32Array:
    return cast(
        F32Array, y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4 * y[1:-1, 1:-1]
    )


def _gradient_energy(y: F32Array) -> F32Array:
    gx = (y[1:-1, 2:] - y[1:-1, :-2]) * 0.5
    gy = (y[2:, 1:-1] - y[:-2, 1:-1]) * 0.5
    return cast(F32Array, gx * gx + gy * gy)


def laplacian_variance(y: F32Array) -> float:
    """Variance of the 4-neighbour Laplacian: high-frequency energy, the classic blur cue."""
    if min(y.shape) < 3:
        return 0.0
    return float(_laplacian(y).var())


def sharpness(y: F32Array, min_gradient: float = 1.0) -> float | None:
    """Laplacian variance over mean squared gradient; None for a featureless image.

    Dividing by gradient energy cancels contrast and the amount of detail, leaving how
    steep edges are (about 1/blur width squared): a dim or sparse frame is not blurry.
    """
    if min(y.shape) < 3:
        return None
    energy = float(_gradient_energy(y).mean())
    if energy < min_gradient:
        return None
    return laplacian_variance(y) / energy


def noise_sigma(y: F32Array) -> float:
    """Noise standard deviation from the median absolute response of a second-difference
    mask (Immerkaer's operator, made robust to edges by taking the median)."""
    if min(y.shape) < 3:
        return 0.0
    r = (
        y[:-2, :-2]
        + y[:-2, 2:]
        + y[2:, :-2]
        + y[2:, 2:]
        - 2 * (y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:])
        + 4 * y[1:-1, 1:-1]
    )
    # The mask's L2 norm is 6; 1.4826 turns a median absolute deviation into a sigma.
    return float(1.4826 * np.median(np.abs(r)) / 6.0)


@dataclass(frozen=True)
class Exposure:
    """Where a still's tones sit: mean, both ends, and how much is clipped."""

    mean: float
    low: float  #: 2nd-percentile luma
    high: float  #: 98th-percentile luma
    shadows: float  #: share of pixels at luma <= 8
    highlights: float  #: share of pixels at luma >= 247


def exposure(y: F32Array) -> Exposure:
    """Tone statistics of luma ``y`` (0-255): percentiles resist a few stray pixels."""
    low, high = np.percentile(y, [2, 98])
    return Exposure(
        mean=float(y.mean()),
        low=float(low),
        high=float(high),
        shadows=float((y <= 8).mean()),
        highlights=float((y >= 247).mean()),
    )


def rms_contrast(y: F32Array) -> float:
    """Standard deviation of luma scaled to 0..1."""
    return float((y / 255.0).std())


def colourfulness(rgb: npt.NDArray[np.uint8] | F32Array) -> float:
    """Hasler and Suesstrunk's colourfulness: spread plus offset of two opponent channels."""
    a = np.asarray(rgb, dtype=np.float32)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = math.hypot(float(rg.std()), float(yb.std()))
    offset = math.hypot(float(rg.mean()), float(yb.mean()))
    return spread + 0.3 * offset


def edge_balance(y: F32Array) -> float:
    """1 when the picture's edge energy is centred, falling to 0 when it all sits in a
    corner; 0 for a featureless frame (there is no composition to balance)."""
    if min(y.shape) < 3:
        return 0.0
    e = np.sqrt(_gradient_energy(y))
    total = float(e.sum())
    if total <= 1e-6 * e.size:
        return 0.0
    h, w = e.shape
    cx = float((e.sum(axis=0) * np.arange(w)).sum()) / total
    cy = float((e.sum(axis=1) * np.arange(h)).sum()) / total
    dx = (cx - (w - 1) / 2) / (w / 2)
    dy = (cy - (h - 1) / 2) / (h / 2)
    return max(0.0, 1.0 - math.hypot(dx, dy) / math.sqrt(2))


def _relative_luminance(v: float) -> float:
    c = v / 255.0
    return c / 12.92 if c <= 0.04045 else float(((c + 0.055) / 1.055) ** 2.4)


def text_contrast(rgb_box: npt.NDArray[np.uint8] | F32Array) -> float:
    """WCAG contrast ratio (1-21) between a text box's lightest and darkest 5%.

    Glyphs cover a good share of a tight text box, so the two tails are the strokes and
    the backing they are read against, whichever is lighter.
    """
    a = np.asarray(rgb_box, dtype=np.float32)
    if a.size == 0:
        return 1.0
    y = a @ _LUMINANCE
    lo, hi = np.percentile(y, [5, 95])
    return (_relative_luminance(float(hi)) + 0.05) / (_relative_luminance(float(lo)) + 0.05)


# --------------------------------------------------------------------------- still checks


@dataclass(frozen=True)
class StillStats:
    """What the still checks measure on one scene's still (reduced to ``still_size``)."""

    scene_index: int
    #: When the still was taken.
    time: float
    sharpness: float | None
    noise: float
    exposure: Exposure
    contrast: float
    colourfulness: float
    balance: float


def still_stats(ctx: CheckContext, size: int = 640) -> list[StillStats]:
    """Statistics of every scene still, measured once per scan for both still checks."""

    def measure() -> list[StillStats]:
        out = []
        for index, t, rgb in ctx.stills():
            img = Image.fromarray(rgb)
            f = size / max(img.size)
            if f < 1.0:
                dims = (max(1, round(img.width * f)), max(1, round(img.height * f)))
                img = img.resize(dims, Image.Resampling.BOX)
            small = np.asarray(img, dtype=np.float32)
            y = to_luma(small)
            out.append(
                StillStats(
                    scene_index=index,
                    time=t,
                    sharpness=sharpness(y),
                    noise=noise_sigma(y),
                    exposure=exposure(y),
                    contrast=rms_contrast(y),
                    colourfulness=colourfulness(small),
                    balance=edge_balance(y),
                )
            )
        return out

    times = tuple(sorted(ctx.still_times.items()))
    return _memo(ctx.scan, ("stills", size, times), measure)


def _scene_span(ctx: CheckContext, index: int) -> tuple[float, float]:
    scene = ctx.plan.scenes[index]
    return scene.start_s, scene.end_s


def _shortfall(value: float, limit: float, factor: float, *, floor: bool) -> Severity | None:
    """Severity of ``value`` against a lower (``floor``) or upper limit, None if within."""
    if floor:
        if value >= limit:
            return None
        return "major" if value < limit / factor else "minor"
    if value <= limit:
        return None
    return "major" if value > limit * factor else "minor"


def _ratio(value: float, limit: float, *, floor: bool) -> float:
    """How far within ``limit`` a value is, 0..1 (1 = at or inside the limit)."""
    if floor:
        return 1.0 if value >= limit else max(0.0, value / limit)
    return 1.0 if value <= limit else limit / value


@check("imaging_quality", "utility", needs_video=True)
def imaging_quality(ctx: CheckContext) -> Outcome:
    """Each scene's still is sharp, clean and properly exposed.

    A still scores the worst of its sharpness, noise and exposure ratios to their limits;
    the check scores the mean over scenes.
    """
    opt = ctx.options(SECTION, QualityOptions)
    stills = still_stats(ctx, opt.still_size)
    if not stills:
        return Outcome(1.0, "no stills to judge")
    problems: list[Problem] = []
    scores: list[float] = []
    worst_sharp = math.inf
    for s in stills:
        found: list[tuple[Severity | None, str]] = []
        ratios: list[float] = []
        sharp = s.sharpness
        if sharp is not None:
            worst_sharp = min(worst_sharp, sharp)
            found.append(
                (
                    _shortfall(sharp, opt.min_sharpness, opt.major_factor, floor=True),
                    f"blurry (sharpness {sharp:.2f}, min {opt.min_sharpness:g})",
                )
            )
            ratios.append(_ratio(sharp, opt.min_sharpness, floor=True))
        noise = s.noise
        found.append(
            (
                _shortfall(noise, opt.max_noise, opt.major_factor, floor=False),
                f"noisy (noise sigma {noise:.1f}, max {opt.max_noise:g})",
            )
        )
        ratios.append(_ratio(noise, opt.max_noise, floor=False))
        ex = s.exposure
        # (value, limit, is a floor, what is wrong, how value and limit read)
        tones = [
            (ex.high, opt.min_bright_luma, True, "under-exposed", "98th-percentile luma {:.0f}"),
            (ex.low, opt.max_dark_luma, False, "washed out", "2nd-percentile luma {:.0f}"),
            (ex.shadows, opt.max_clipped_shadows, False, "crushed shadows", "{:.0%} black"),
            (ex.highlights, opt.max_clipped_highlights, False, "blown highlights", "{:.0%} white"),
        ]
        for value, limit, floor, what, unit in tones:
            bound = "min" if floor else "max"
            found.append(
                (
                    _shortfall(value, limit, opt.major_factor, floor=floor),
                    f"{what} ({unit.format(value)}, {bound} {unit.format(limit)}; "
                    f"mean luma {ex.mean:.0f})",
                )
            )
            ratios.append(_ratio(value, limit, floor=floor))
        scores.append(min(ratios))
        for severity, message in found:
            if severity is not None:
                problems.append(
                    Problem(
                        severity,
                        f"scene {s.scene_index}: {message}",
                        s.scene_index,
                        *_scene_span(ctx, s.scene_index),
                        frame=ctx.frame_at(s.time),
                    )
                )
    msg = "; ".join(p.message for p in problems)
    if not msg:
        sharp_txt = f"sharpness >= {worst_sharp:.2f}" if math.isfinite(worst_sharp) else ""
        msg = f"{len(stills)} scene stills sharp, clean and well exposed"
        msg += f" ({sharp_txt})" if sharp_txt else ""
    return Outcome(float(np.mean(scores)), msg, problems)


@check("aesthetics", "utility", needs_video=True)
def aesthetics(ctx: CheckContext) -> Outcome:
    """Each scene's still has contrast, colour, a balanced composition and legible text.

    The score of a still is the mean of four 0-1 parts: RMS contrast and colourfulness
    against their targets, edge balance, and drawn text's contrast against its backing
    (WCAG ratio over 4.5); a drawn string below the text-contrast minimum is flagged on
    its own, with its box.
    """
    opt = ctx.options(SECTION, QualityOptions)
    stills = still_stats(ctx, opt.still_size)
    if not stills:
        return Outcome(1.0, "no stills to judge")
    frames = {index: rgb for index, _, rgb in ctx.stills()}
    problems: list[Problem] = []
    scores: list[float] = []
    for s in stills:
        rgb = frames[s.scene_index]
        h, w = rgb.shape[:2]
        contrast, colour, balance = s.contrast, s.colourfulness, s.balance
        parts = [
            min(1.0, contrast / opt.contrast_target),
            min(1.0, colour / opt.colourfulness_target),
            balance,
        ]
        ratios = []
        for r in ctx.creative.rendered_text:
            if not r.start_s <= s.time <= r.end_s:
                continue
            x0, y0 = max(0, r.box.x), max(0, r.box.y)
            x1, y1 = min(w, r.box.x + r.box.w), min(h, r.box.y + r.box.h)
            if x1 <= x0 or y1 <= y0:
                continue
            ratio = text_contrast(rgb[y0:y1, x0:x1])
            ratios.append(ratio)
            if ratio < opt.min_text_contrast:
                problems.append(
                    Problem(
                        "minor",
                        f"scene {s.scene_index} {r.field}: text contrast {ratio:.1f}:1 "
                        f"(min {opt.min_text_contrast:g}:1)",
                        s.scene_index if r.scene_index is None else r.scene_index,
                        r.start_s,
                        r.end_s,
                        text=r.text,
                        frame=ctx.frame_at(s.time),
                        box=r.box,
                    )
                )
        if ratios:
            parts.append(min(1.0, min(ratios) / _LEGIBLE))
        score = float(np.mean(parts))
        scores.append(score)
        if score < opt.min_aesthetic:
            problems.append(
                Problem(
                    "minor",
                    f"scene {s.scene_index}: aesthetic score {score:.2f} (min "
                    f"{opt.min_aesthetic:g}; contrast {contrast:.2f}, colourfulness "
                    f"{colour:.0f}, balance {balance:.2f})",
                    s.scene_index,
                    *_scene_span(ctx, s.scene_index),
                    frame=ctx.frame_at(s.time),
                )
            )
    mean = float(np.mean(scores))
    msg = "; ".join(p.message for p in problems) or (
        f"aesthetic score {mean:.2f} over {len(stills)} scenes (lowest {min(scores):.2f})"
    )
    return Outcome(mean, msg, problems)


# --------------------------------------------------------------------------- pacing


def words(text: str) -> int:
    """Words to read in ``text``; a run of CJK characters counts one word per two."""
    count = 0
    for token in text.split():
        cjk = sum(1 for ch in token if _is_cjk(ch))
        count += max(1, math.ceil(cjk / 2)) if cjk else 1
    return count


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF


def read_time(text: str, min_read_s: float, wps: float) -> float:
    """Seconds ``text`` must stay up to be read at ``wps`` words per second."""
    return min_read_s + words(text) / wps


@check("pacing", "utility")
def pacing(ctx: CheckContext) -> Outcome:
    """The plan's timing: a short hook, no flash scenes, every string up long enough.

    Judged on the plan, so a Reflector can retime before anything is rendered. A string
    shown for less than comfortable reading needs is reported as tight (evidence only);
    less than skimming needs fails.
    """
    opt = ctx.options(SECTION, QualityOptions)
    problems: list[Problem] = []
    plan = ctx.plan
    for scene in plan.scenes:
        if scene.role == "hook" and scene.duration_s > opt.max_hook_s + 1e-6:
            problems.append(
                Problem(
                    "major",
                    f"scene {scene.index} (hook) lasts {scene.duration_s:g}s: shorten it to "
                    f"{opt.max_hook_s:g}s at most",
                    scene.index,
                    scene.start_s,
                    scene.end_s,
                )
            )
        if scene.duration_s < opt.min_scene_s - 1e-6:
            severity: Severity = "major" if scene.duration_s < opt.min_scene_s / 2 else "minor"
            problems.append(
                Problem(
                    severity,
                    f"scene {scene.index} ({scene.role}) lasts {scene.duration_s:g}s "
                    f"(min {opt.min_scene_s:g}s)",
                    scene.index,
                    scene.start_s,
                    scene.end_s,
                )
            )
    last = plan.scenes[-1]
    seen: set[tuple[int, str]] = set()
    for index, field, grounded in plan.texts():
        scene = plan.scenes[index] if index is not None else last
        shown = scene.duration_s
        text = grounded.text
        if (scene.index, text) in seen:  # a caption repeating the headline is read once
            continue
        seen.add((scene.index, text))
        skim = read_time(text, opt.min_read_s, opt.skim_wps)
        read = read_time(text, opt.min_read_s, opt.reading_wps)
        where = f"scene {scene.index} {field}" if index is not None else "cta"
        if shown + 1e-6 < skim:
            problems.append(
                Problem(
                    "major" if shown < skim / 2 else "minor",
                    f"{where}: {words(text)} words need {skim:.1f}s to skim, shown {shown:g}s",
                    scene.index,
                    scene.start_s,
                    scene.end_s,
                    text=text,
                )
            )
        elif shown + 1e-6 < read:
            problems.append(
                Problem(
                    "info",
                    f"{where}: tight, {words(text)} words read comfortably in {read:.1f}s, "
                    f"shown {shown:g}s",
                    scene.index,
                    scene.start_s,
                    scene.end_s,
                    text=text,
                )
            )
    failing = [p for p in problems if p.severity != "info"]
    hook = plan.scenes[0].duration_s if plan.scenes[0].role == "hook" else None
    summary = f"{len(plan.scenes)} scenes"
    if hook is not None:
        summary += f", hook {hook:g}s"
    msg = "; ".join(p.message for p in failing) or f"{summary}, every string readable"
    checked = len(plan.scenes) + len(plan.texts())
    return Outcome(max(0.0, 1.0 - len(failing) / checked), msg, problems)


#: The quality checks, in report order.
CHECKS: tuple[Check, ...] = (
    motion_smoothness,
    dynamic_degree,
    imaging_quality,
    aesthetics,
    pacing,
)
