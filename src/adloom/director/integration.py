"""The integration decision and the storyboard that starts and ends on the host's frame.

Where a segment goes matters more to a viewer than what it shows: an ad that cuts into a
sentence or a chase reads as an interruption, one placed where the host itself pauses
reads as part of the programme. Candidates are the host's own shot boundaries (the viewer
already expects a cut there) and the calmest moment of each longer shot. Each is scored on

* **visual continuity**: how still the picture is around the point (a segment that fades
  out of a moving picture jars) and whether the host cuts there anyway;
* **semantic fit**: how close what the viewer is watching (the shot's on-screen text and
  description) is to the product, with the Director's sentence embedder;
* **intrusiveness**: speech-like audio around the point rules it out ("never mid-speech"),
  fast motion ("mid-action") counts against it.

The decision is the best allowed candidate, with its start frame and a rationale. The
baselines the benchmark and verifier compare with are here too: the midpoint (the generic
integration, which needs no analysis) and a seeded random point.

The storyboard is the Director's own plan for the product (consent, matching and grounding
unchanged: no invented product facts), re-timed for a short segment, with the host's
integration frame as the first scene's and the last scene's backdrop, so the segment opens
on what the viewer just saw and hands back to it.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from adloom.director.base import Planner
from adloom.domain import (
    MAX_DURATION_S,
    MIN_DURATION_S,
    SUPPORTED_FPS,
    Background,
    Campaign,
    Context,
    CreativePlan,
    HostAnalysis,
    HostShot,
    IntegrationCandidate,
    IntegrationDecision,
    Product,
    User,
)
from adloom.errors import InputError

Kind = Literal["shot_boundary", "calm", "midpoint", "random", "manual"]


class IntegrationSettings(BaseModel):
    """Weights and limits of the integration decision."""

    model_config = ConfigDict(extra="forbid")

    w_continuity: float = Field(0.4, ge=0.0)
    w_semantic: float = Field(0.3, ge=0.0)
    w_intrusion: float = Field(0.3, ge=0.0)
    margin_s: float = Field(
        2.0, ge=0.0, description="No integration this close to the host's start or end."
    )
    speech_guard_s: float = Field(
        0.6, ge=0.0, description="Speech this close to a point rules it out."
    )
    motion_ref: float = Field(
        0.04, gt=0.0, description="Mean luma change (0..1) that counts as full action."
    )
    min_calm_shot_s: float = Field(2.0, ge=0.0, description="Shorter shots get no calm point.")
    embedder: str | dict[str, Any] = Field(
        "minilm", description="Sentence embedder for semantic fit (minilm or hashing)."
    )


def product_text(product: Product) -> str:
    return ". ".join([product.name, product.category, product.description, *product.selling_points])


def shot_text(shot: HostShot) -> str:
    return shot.text or shot.description


def _window(host: HostAnalysis, t: float, half: float) -> slice:
    step = host.timeline.step_s
    n = len(host.timeline.motion)
    return slice(max(0, int((t - half) / step)), min(n, int(np.ceil((t + half) / step))))


def _shot_at(host: HostAnalysis, t: float) -> HostShot:
    """The shot the viewer is leaving at ``t`` (the one ending there at a boundary)."""
    for shot in host.shots:
        if shot.start_s < t <= shot.end_s:
            return shot
    return host.shots[0]


def _frame(host: HostAnalysis, t: float) -> int:
    return max(0, min(host.frame_count - 1, round(t * host.fps)))


def candidate_points(host: HostAnalysis, settings: IntegrationSettings) -> list[tuple[float, Kind]]:
    """Shot boundaries plus the calmest window of each long enough shot."""
    lo, hi = settings.margin_s, host.duration_s - settings.margin_s
    points: list[tuple[float, Kind]] = [
        (s.start_s, "shot_boundary") for s in host.shots[1:] if lo <= s.start_s <= hi
    ]
    tl = host.timeline
    for shot in host.shots:
        if shot.end_s - shot.start_s < settings.min_calm_shot_s:
            continue
        a = max(int(np.ceil((shot.start_s + 0.5) / tl.step_s)), int(np.ceil(lo / tl.step_s)))
        b = min(int((shot.end_s - 0.5) / tl.step_s), int(hi / tl.step_s), len(tl.motion))
        if b <= a:
            continue
        motion = np.asarray(tl.motion[a:b])
        speech = np.asarray(tl.speech[a:b], dtype=float)
        best = a + int(np.argmin(motion + speech))
        points.append((round(_frame(host, (best + 0.5) * tl.step_s) / host.fps, 3), "calm"))
    return points


def score_point(
    host: HostAnalysis,
    t: float,
    kind: Kind,
    fit: float,
    settings: IntegrationSettings,
) -> IntegrationCandidate:
    """Continuity, semantic fit and intrusiveness of inserting at ``t``."""
    tl = host.timeline
    near = _window(host, t, 0.5)
    motion = float(np.mean(tl.motion[near])) if tl.motion[near] else 0.0
    calm = float(np.clip(1.0 - motion / settings.motion_ref, 0.0, 1.0))
    continuity = 0.7 * calm + 0.3 * (1.0 if kind == "shot_boundary" else 0.5 * calm)
    speech = any(tl.speech[_window(host, t, settings.speech_guard_s)])
    intrusiveness = 1.0 if speech else float(np.clip(motion / settings.motion_ref, 0.0, 1.0))
    reasons = []
    if speech:
        reasons.append("speech-like audio around the point")
    if motion >= settings.motion_ref:
        reasons.append("fast motion (mid-action)")
    if kind == "shot_boundary":
        reasons.append("the host cuts here anyway")
    total = settings.w_continuity + settings.w_semantic + settings.w_intrusion or 1.0
    score = (
        settings.w_continuity * continuity
        + settings.w_semantic * fit
        + settings.w_intrusion * (1.0 - intrusiveness)
    ) / total
    frame = _frame(host, t)
    return IntegrationCandidate(
        time_s=round(frame / host.fps, 3),
        frame=frame,
        kind=kind,
        shot_index=_shot_at(host, t).index,
        continuity=round(continuity, 4),
        semantic_fit=round(float(np.clip(fit, 0, 1)), 4),
        intrusiveness=round(intrusiveness, 4),
        score=round(float(np.clip(score, 0, 1)), 4),
        allowed=not speech,
        reasons=reasons,
    )


def _fits(host: HostAnalysis, product: Product, settings: IntegrationSettings) -> list[float]:
    """Semantic fit of each shot with the product, on the Director's 0..1 scale."""
    from adloom import registry

    embedder = registry.create("embedder", settings.embedder, "minilm")
    vectors = embedder.embed([product_text(product), *(shot_text(s) for s in host.shots)])
    cosines = vectors[1:] @ vectors[0]
    return [float(v) for v in embedder.to_score(cosines)]


def decide(
    host: HostAnalysis, product: Product, settings: IntegrationSettings | None = None
) -> IntegrationDecision:
    """Rank the candidates and choose the best point where nothing is interrupted."""
    settings = settings or IntegrationSettings()
    fits = _fits(host, product, settings)
    scored = []
    for t, kind in candidate_points(host, settings):
        shot = _shot_at(host, t)
        scored.append(score_point(host, t, kind, fits[shot.index], settings))
    if not scored:  # too short for any candidate inside the margins: fall back to the middle
        scored = [
            score_point(host, host.duration_s / 2, "midpoint", fits[0], settings).model_copy(
                update={"kind": "midpoint"}
            )
        ]
    scored.sort(key=lambda c: (not c.allowed, -c.score, c.time_s))
    best = scored[0]
    shot = host.shots[best.shot_index]
    why = [
        f"{best.kind.replace('_', ' ')} at {best.time_s:.2f}s (frame {best.frame}) after "
        f"shot {shot.index} ({shot.description})",
        f"continuity {best.continuity:.2f}, fit with the product {best.semantic_fit:.2f}, "
        f"intrusiveness {best.intrusiveness:.2f}",
    ]
    if not best.allowed:
        why.append("every candidate interrupts speech; chose the least intrusive")
    why += best.reasons
    return IntegrationDecision(
        host_sha256=host.sha256,
        strategy="ranked",
        point=best,
        start_frame=max(0, best.frame - 1),
        rationale="; ".join(why),
        candidates=scored,
    )


def baseline(
    host: HostAnalysis,
    strategy: Literal["midpoint", "random"],
    *,
    product: Product | None = None,
    seed: int = 0,
    settings: IntegrationSettings | None = None,
) -> IntegrationDecision:
    """The midpoint (the generic integration) or a seeded random point, scored the same way.

    The midpoint needs only the host's duration; its scores are filled in when an analysis
    is at hand so that reports can compare like with like.
    """
    settings = settings or IntegrationSettings()
    if strategy == "midpoint":
        t = host.duration_s / 2
    else:
        lo, hi = settings.margin_s, max(settings.margin_s, host.duration_s - settings.margin_s)
        t = random.Random(seed).uniform(lo, hi)
    fits = _fits(host, product, settings) if product is not None else [0.5] * len(host.shots)
    point = score_point(host, t, strategy, fits[_shot_at(host, t).index], settings)
    return IntegrationDecision(
        host_sha256=host.sha256,
        strategy=strategy,
        point=point,
        start_frame=max(0, point.frame - 1),
        rationale=f"{strategy} of the host at {point.time_s:.2f}s, chosen without analysis",
        candidates=[point],
    )


def manual(
    host: HostAnalysis,
    time_s: float,
    product: Product,
    settings: IntegrationSettings | None = None,
) -> IntegrationDecision:
    """A point a person chose (the plan is an interface: it can be overridden), scored
    like the others so the report shows what the choice costs."""
    settings = settings or IntegrationSettings()
    last = (host.frame_count - 1) / host.fps
    if not 1 / host.fps <= time_s <= last:
        raise InputError("integration point", f"{time_s:g}s is outside the host (0.04-{last:.2f}s)")
    fits = _fits(host, product, settings)
    point = score_point(host, time_s, "manual", fits[_shot_at(host, time_s).index], settings)
    point = point.model_copy(update={"frame": max(1, point.frame)})
    why = [f"chosen by hand at {point.time_s:.2f}s (frame {point.frame})", *point.reasons]
    return IntegrationDecision(
        host_sha256=host.sha256,
        strategy="manual",
        point=point,
        start_frame=point.frame - 1,
        rationale="; ".join(why),
        candidates=[point],
    )


def segment_context(base: Context, host: HostAnalysis, duration_s: float) -> Context:
    """The segment's context: the host's orientation, the nearest supported frame rate."""
    if not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise InputError(
            "segment duration", f"{duration_s:g}s is outside {MIN_DURATION_S:g}-{MAX_DURATION_S:g}s"
        )
    fps = min(SUPPORTED_FPS, key=lambda f: abs(f - host.fps))
    aspect = "16:9" if host.width >= host.height else "9:16"
    return base.model_copy(update={"aspect_ratio": aspect, "fps": fps, "duration_s": duration_s})


def integration_plan(
    planner: Planner,
    campaign: Campaign,
    product: Product,
    host: HostAnalysis,
    decision: IntegrationDecision,
    frame_image: Path | None,
    *,
    user: User | None = None,
    duration_s: float = 6.0,
    seed: int = 0,
) -> CreativePlan:
    """The Director's plan for the segment, opening on and returning to the host's frame.

    ``user=None`` (or a user without consent, which the planner checks) gives the generic
    segment. ``frame_image`` is the host frame the segment starts from; without it (the
    generic baseline) the scenes keep the planner's backdrops.
    """
    context = segment_context(campaign.contexts[0], host, duration_s)
    plan = planner.plan(campaign, product, context, user, seed=seed)
    scenes = list(plan.scenes)
    if frame_image is not None:
        backdrop = Background(kind="image", image=str(Path(frame_image).resolve()))
        first, last = scenes[0], scenes[-1]
        scenes[0] = first.model_copy(
            update={
                "background": backdrop,
                "visual_description": "opens on the host's frame: "
                + (first.visual_description or ""),
            }
        )
        if len(scenes) > 1:
            scenes[-1] = last.model_copy(
                update={
                    "background": backdrop,
                    "visual_description": "returns to the host's frame: "
                    + (last.visual_description or ""),
                }
            )
    shot = host.shots[decision.point.shot_index]
    note = (
        f"integration: {decision.strategy} point at {decision.point.time_s:.2f}s, starts "
        f"from host frame {decision.start_frame} and returns to frame {decision.point.frame}; "
        f"host: {host.summary.topic}; leaving shot {shot.index} ({shot.description})"
    )
    return plan.model_copy(update={"scenes": scenes, "notes": [*plan.notes, note]})
