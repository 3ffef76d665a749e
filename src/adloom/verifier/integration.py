"""Integration quality for PCI: how visible the cuts are and how much the ad takes over.

A woven video is judged where the viewer notices it: at the two cuts. Each cut compares
the last picture before it with the first after it (colour-histogram distance and mean
luma jump, the disclosure label's box left out, since it is drawn on purpose) and the
sound level either side of it. The segment's share of the woven video says whether the
ad has taken over the host. These are ordinary checks (:class:`~adloom.verifier.checks.Check`
on the utility track) that read an :class:`IntegrationCheckContext`; :func:`verify_integration`
runs them with the verifier's own checks on the segment and decides in the same way, so
a badly integrated segment is revised and a non-compliant one is still rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from adloom.domain import (
    Box,
    Campaign,
    Creative,
    CreativePlan,
    CutQuality,
    IntegrationQuality,
    UserProfile,
    Verdict,
)
from adloom.errors import InputError
from adloom.verifier.basic import BasicVerifier, judge_checks
from adloom.verifier.checks import Check, CheckContext, Outcome, Problem, check

U8 = npt.NDArray[np.uint8]


class IntegrationOptions(BaseModel):
    """Tolerances of the integration checks."""

    model_config = ConfigDict(extra="forbid")

    max_colour_distance: float = Field(
        0.35, ge=0.0, le=1.0, description="Colour-histogram jump (half L1) a cut may show."
    )
    max_luma_jump: float = Field(30.0, ge=0.0, description="Mean luma jump (0-255) at a cut.")
    max_loudness_jump_db: float = Field(6.0, ge=0.0, description="Level change at a cut (dB).")
    max_share: float = Field(
        0.3, gt=0.0, le=1.0, description="Largest share of the woven video the segment may take."
    )
    window_s: float = Field(0.25, gt=0.0, description="Audio either side of a cut (s).")


def _hist(rgb: U8, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    q = (rgb[mask] >> 6).astype(np.int64)
    codes = q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2]
    counts = np.bincount(codes, minlength=64).astype(np.float64)
    out: npt.NDArray[np.float64] = counts / max(1.0, float(counts.sum()))
    return out


def _luma(rgb: U8) -> npt.NDArray[np.float64]:
    f = rgb.astype(np.float64)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def compare(a: U8, b: U8, exclude: Box | None = None) -> tuple[float, float, float]:
    """Colour distance, luma jump and a 0..1 continuity between two pictures."""
    mask = np.ones(a.shape[:2], dtype=bool)
    if exclude is not None:
        mask[exclude.y : exclude.y + exclude.h, exclude.x : exclude.x + exclude.w] = False
    dist = 0.5 * float(np.abs(_hist(a, mask) - _hist(b, mask)).sum())
    jump = float(np.abs(_luma(a) - _luma(b))[mask].mean())
    continuity = 1.0 - 0.5 * min(1.0, dist) - 0.5 * min(1.0, jump / 64.0)
    return dist, jump, max(0.0, continuity)


def _frames_at(path: Path, wanted: set[int]) -> dict[int, U8]:
    import av

    out: dict[int, U8] = {}
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(c.streams.video[0])):
            if i in wanted:
                out[i] = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            if len(out) == len(wanted):
                break
    return out


def _levels(path: Path, times: list[float], window_s: float) -> list[tuple[float, float]]:
    """RMS level (dBFS) just before and just after each time; silence where no audio."""
    import av

    with av.open(str(path)) as c:
        if not c.streams.audio:
            return [(-120.0, -120.0) for _ in times]
        stream = c.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        chunks = []
        for frame in c.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().ravel())
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    win = max(1, round(window_s * 16000))

    def level(a: int, b: int) -> float:
        seg = pcm[max(0, a) : max(0, b)]
        if seg.size == 0:
            return -120.0
        return float(
            max(-120.0, 10 * np.log10(float(np.mean(seg.astype(np.float64) ** 2)) + 1e-12))
        )

    return [
        (
            level(round(t * 16000) - win, round(t * 16000)),
            level(round(t * 16000), round(t * 16000) + win),
        )
        for t in times
    ]


def measure(
    woven: Path,
    start_frame: int,
    segment_frames: int,
    fps: float,
    label: Box | None = None,
    window_s: float = 0.25,
) -> IntegrationQuality:
    """Measure both cuts of a woven video whose segment occupies frames
    ``start_frame`` to ``start_frame + segment_frames - 1``."""
    end = start_frame + segment_frames
    if start_frame < 1:
        raise InputError("integration point", "the segment must follow at least one host frame")
    frames = _frames_at(Path(woven), {start_frame - 1, start_frame, end - 1, end})
    if len(frames) < 4:
        raise InputError(woven, f"fewer than {end + 1} frames: the segment is not where expected")
    t_in, t_out = start_frame / fps, end / fps
    (a_in, b_in), (a_out, b_out) = _levels(Path(woven), [t_in, t_out], window_s)
    d_in, j_in, c_in = compare(frames[start_frame - 1], frames[start_frame], label)
    d_out, j_out, c_out = compare(frames[end - 1], frames[end], label)
    woven_s = _duration(Path(woven))
    seg_s = segment_frames / fps
    return IntegrationQuality(
        cut_in=CutQuality(
            time_s=round(t_in, 3),
            colour_distance=round(min(1.0, d_in), 4),
            luma_jump=round(j_in, 3),
            loudness_jump_db=round(abs(b_in - a_in), 2),
            continuity=round(c_in, 4),
        ),
        cut_out=CutQuality(
            time_s=round(t_out, 3),
            colour_distance=round(min(1.0, d_out), 4),
            luma_jump=round(j_out, 3),
            loudness_jump_db=round(abs(b_out - a_out), 2),
            continuity=round(c_out, 4),
        ),
        segment_duration_s=round(seg_s, 3),
        woven_duration_s=round(woven_s, 3),
        share=round(min(1.0, seg_s / max(woven_s, 1e-9)), 4),
    )


def _duration(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        return float(c.duration or 0) / 1_000_000


@dataclass
class IntegrationCheckContext(CheckContext):
    """A check context that also carries the woven video's measured integration."""

    integration: IntegrationQuality | None = None


def _quality(ctx: CheckContext) -> tuple[IntegrationQuality, IntegrationOptions]:
    q = getattr(ctx, "integration", None)
    if q is None:
        raise LookupError("no integration measured")
    return q, ctx.options("integration", IntegrationOptions)


@check("integration_continuity", "utility")
def continuity(ctx: CheckContext) -> Outcome:
    q, opt = _quality(ctx)
    problems = []
    for name, cut in (("in", q.cut_in), ("out", q.cut_out)):
        if cut.colour_distance > opt.max_colour_distance or cut.luma_jump > opt.max_luma_jump:
            problems.append(
                Problem(
                    "minor",
                    f"visible cut {name} at {cut.time_s:.2f}s: colour distance "
                    f"{cut.colour_distance:.2f}, luma jump {cut.luma_jump:.0f}",
                    start_s=cut.time_s,
                    end_s=cut.time_s,
                )
            )
    score = min(q.cut_in.continuity, q.cut_out.continuity)
    return Outcome(
        score, f"continuity in {q.cut_in.continuity:.2f}, out {q.cut_out.continuity:.2f}", problems
    )


@check("integration_loudness", "utility")
def loudness(ctx: CheckContext) -> Outcome:
    q, opt = _quality(ctx)
    problems = [
        Problem(
            "minor",
            f"level jumps {cut.loudness_jump_db:.1f} dB at the cut {name} ({cut.time_s:.2f}s)",
            start_s=cut.time_s,
            end_s=cut.time_s,
        )
        for name, cut in (("in", q.cut_in), ("out", q.cut_out))
        if cut.loudness_jump_db > opt.max_loudness_jump_db
    ]
    worst = max(q.cut_in.loudness_jump_db, q.cut_out.loudness_jump_db)
    score = max(0.0, 1.0 - worst / (4 * opt.max_loudness_jump_db))
    return Outcome(score, f"largest level jump {worst:.1f} dB", problems)


@check("integration_share", "utility")
def share(ctx: CheckContext) -> Outcome:
    q, opt = _quality(ctx)
    problems = []
    if q.share > opt.max_share:
        problems.append(
            Problem(
                "major",
                f"the segment is {q.share:.0%} of the woven video (max {opt.max_share:.0%})",
            )
        )
    score = 1.0 if q.share <= opt.max_share else max(0.0, 1.0 - (q.share - opt.max_share))
    return Outcome(score, f"segment is {q.share:.0%} of the woven video", problems)


#: Checks of a standalone placement that do not apply inside a host video: the segment's
#: placement is the host (its size, rate and slot), not one of the campaign's contexts.
PLACEMENT_CHECKS = frozenset({"platform"})

#: The integration checks, run after the verifier's own on the segment.
CHECKS: tuple[Check, ...] = (continuity, loudness, share)


def verify_integration(
    verifier: BasicVerifier,
    segment: Creative,
    plan: CreativePlan,
    campaign: Campaign,
    quality: IntegrationQuality,
    profile: UserProfile | None = None,
    *,
    reference: CreativePlan | None = None,
    options: IntegrationOptions | None = None,
) -> Verdict:
    """The verifier's checks on the segment plus the integration checks, one decision."""
    base = verifier.context(segment, plan, campaign, profile, reference=reference)
    ctx = IntegrationCheckContext(**{f: getattr(base, f) for f in base.__dataclass_fields__})
    ctx.integration = quality
    if options is not None:
        ctx.config = _WithIntegration(verifier.config, options)  # type: ignore[assignment]
    policy = verifier.config.decision
    skip = {*policy.skip, *PLACEMENT_CHECKS}
    checks = [c for c in (*verifier.checks, *CHECKS) if c.name not in skip]
    return judge_checks(ctx, checks, policy, segment, plan, f"{verifier.name}+integration")


class _WithIntegration:
    """The verifier's config with an ``integration`` section added, for ``ctx.options``."""

    def __init__(self, config: object, options: IntegrationOptions) -> None:
        self._config = config
        self.integration = options

    def __getattr__(self, name: str) -> object:
        return getattr(self._config, name)
