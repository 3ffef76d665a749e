"""Online feedback: what viewers did with a served creative, turned into revisions.

A creative that passed the Verifier can still fail in front of people. Impression events
(:class:`~adloom.domain.Event`) say where: skips before the hook ends mean the hook does
not hold attention (``swap_hook``), completions without clicks mean the call to action
does not convert (``recaption`` the CTA), a drop between two quartiles means a scene
drags (``retime`` it), and clicks or skips say whether the interest the plan leaned on
was a good bet (``update_profile``).

Viewers are noisy, so nothing changes on a handful of events: every rule needs a minimum
number of impressions and compares a Wilson score interval of the observed rate with a
baseline rate, acting only when the whole interval lies on the wrong side of it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from statistics import NormalDist, median
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adloom.domain import (
    CreativePlan,
    Directive,
    DirectiveAction,
    Event,
    Interest,
    Model,
    Scene,
    UserProfile,
)
from adloom.errors import InputError

#: Config section name of these options in a reflector's config.
SECTION = "feedback"

#: Playback milestones in order, with the share of the creative each one marks.
MILESTONES: tuple[tuple[str, float], ...] = (
    ("start", 0.0),
    ("firstQuartile", 0.25),
    ("midpoint", 0.5),
    ("thirdQuartile", 0.75),
    ("complete", 1.0),
)


class FeedbackOptions(BaseModel):
    """When viewer behaviour is strong enough evidence to change a creative or a profile."""

    model_config = ConfigDict(extra="forbid")

    min_impressions: int = Field(
        100, ge=1, description="Impressions a creative needs before its plan is changed."
    )
    min_user_impressions: int = Field(
        20, ge=1, description="Impressions needed before a user's interest weight moves."
    )
    confidence: float = Field(
        0.95, gt=0.5, lt=1.0, description="Two-sided confidence of the Wilson intervals."
    )
    baseline_early_skip_rate: float = Field(
        0.2, ge=0.0, le=1.0, description="Share of impressions expected to skip during the hook."
    )
    early_skip_share: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of all skips that must fall in the hook."
    )
    baseline_skip_rate: float = Field(
        0.35, ge=0.0, le=1.0, description="Skip rate above which the leaned-on interest weakens."
    )
    baseline_click_rate: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="Expected clicks per completed view (CTA) and per impression (interest).",
    )
    min_completion_rate: float = Field(
        0.3, ge=0.0, le=1.0, description="Completion rate at which a silent CTA is blamed."
    )
    baseline_quartile_drop: float = Field(
        0.15, ge=0.0, le=1.0, description="Expected share of viewers lost between milestones."
    )
    weight_step: float = Field(
        0.1, gt=0.0, le=1.0, description="How far one verdict moves an interest's weight."
    )
    retime_factor: float = Field(
        0.75, gt=0.0, lt=1.0, description="A dragging scene is shortened to this share."
    )
    min_scene_s: float = Field(1.5, gt=0.0, description="Shortest a retimed scene may become.")


class FeedbackStats(Model):
    """Counts behind a feedback decision, kept so a change can be audited later."""

    impressions: int = 0
    milestones: dict[str, int] = Field(default_factory=dict)
    skips: int = 0
    early_skips: int = Field(0, description="Skips before the hook ended.")
    clicks: int = 0
    conversions: int = 0


class FeedbackResult(Model):
    """Directives for the Director and the profile as the feedback leaves it."""

    plan_id: str
    creative_id: str | None = None
    stats: FeedbackStats
    directives: list[Directive] = Field(default_factory=list)
    profile: UserProfile | None = Field(
        None, description="The updated profile; None when no interest weight moved."
    )
    rationale: str


def wilson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial rate: honest even at 0 or n successes."""
    if trials <= 0:
        return 0.0, 1.0
    successes = max(0, min(successes, trials))
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def tier_of(weight: float) -> str:
    """The tier an interest weight falls in, with the Profiler's cut-offs."""
    return "strong" if weight >= 0.4 else "medium" if weight >= 0.2 else "weak"


def _scene_at(plan: CreativePlan, t: float) -> Scene:
    for scene in plan.scenes:
        if scene.start_s <= t < scene.end_s:
            return scene
    return plan.scenes[-1]


def _hook(plan: CreativePlan) -> Scene:
    return next((s for s in plan.scenes if s.role == "hook"), plan.scenes[0])


def count(events: Sequence[Event], plan: CreativePlan) -> tuple[FeedbackStats, list[float]]:
    """Counts of ``events`` and the skip times; skips outside the creative are input errors."""
    ids = sorted({e.creative_id for e in events})
    if len(ids) > 1:
        raise InputError(
            "events", f"{len(ids)} creatives ({', '.join(ids[:3])}); pass one creative's events"
        )
    kinds: Counter[str] = Counter(e.type for e in events)
    hook_end = _hook(plan).end_s
    duration = plan.context.duration_s
    skip_times: list[float] = []
    for i, e in enumerate(events):
        if e.type != "skip" or e.value is None:
            continue
        if not 0.0 <= e.value <= duration + 0.5:
            raise InputError(
                f"events.{i}.value",
                f"skip at {e.value:g}s lies outside the {duration:g}s creative",
            )
        skip_times.append(e.value)
    stats = FeedbackStats(
        impressions=kinds["impression"],
        milestones={name: kinds[name] for name, _ in MILESTONES},
        skips=kinds["skip"],
        early_skips=sum(t < hook_end for t in skip_times),
        clicks=kinds["click"],
        conversions=kinds["conversion"],
    )
    return stats, skip_times


def _director(
    action: DirectiveAction, scene: int | None, params: dict[str, Any], reason: str
) -> Directive:
    return Directive(
        target="director", action=action, scene_index=scene, params=params, reason=reason
    )


def analyze(
    events: Sequence[Event],
    plan: CreativePlan,
    profile: UserProfile | None = None,
    options: FeedbackOptions | None = None,
) -> FeedbackResult:
    """Directives and profile updates the events justify; none while evidence is thin."""
    opt = options or FeedbackOptions()
    stats, skip_times = count(events, plan)
    n = stats.impressions
    creative_id = events[0].creative_id if events else None
    directives: list[Directive] = []
    notes: list[str] = []
    ci = opt.confidence

    if n < opt.min_impressions:
        notes.append(f"{n} impressions, fewer than {opt.min_impressions}: the plan is kept")
    else:
        hook = _hook(plan)
        lo, _ = wilson(stats.early_skips, n, ci)
        most = stats.skips > 0 and stats.early_skips / stats.skips >= opt.early_skip_share
        if most and lo > opt.baseline_early_skip_rate:
            current = hook.on_screen_text
            directives.append(
                _director(
                    "swap_hook",
                    hook.index,
                    {"avoid": [current.source_id] if current else []},
                    f"{stats.early_skips} of {n} impressions skipped before the hook ended at "
                    f"{hook.end_s:g}s (rate >= {lo:.0%}, baseline "
                    f"{opt.baseline_early_skip_rate:.0%})",
                )
            )
        directives += _cta(stats, plan, opt)
        directives += _dropoff(stats, skip_times, plan, opt)
        if not directives:
            notes.append("no rate is significantly worse than its baseline")

    updated, change = _interest(stats, plan, profile, opt)
    if change is not None:
        directives.append(change)
    else:
        notes.append("the interest weights are kept")
    lead = ", ".join(
        d.action + ("" if d.scene_index is None else f"@{d.scene_index}") for d in directives
    )
    rationale = (f"{lead}: " if lead else "No change: ") + "; ".join(
        [d.reason for d in directives] + notes
    )
    return FeedbackResult(
        plan_id=plan.plan_id,
        creative_id=creative_id,
        stats=stats,
        directives=directives,
        profile=updated,
        rationale=rationale,
    )


def _cta(stats: FeedbackStats, plan: CreativePlan, opt: FeedbackOptions) -> list[Directive]:
    """Viewers who watch to the end and still do not click were not asked well."""
    completes = stats.milestones.get("complete", 0)
    done, _ = wilson(completes, stats.impressions, opt.confidence)
    _, clicks = wilson(stats.clicks, completes, opt.confidence)
    if completes == 0 or done < opt.min_completion_rate or clicks >= opt.baseline_click_rate:
        return []
    return [
        _director(
            "recaption",
            None,
            {"fields": ["cta"], "avoid": [plan.cta.text.source_id]},
            f"{completes} of {stats.impressions} impressions completed but only "
            f"{stats.clicks} clicked (click rate <= {clicks:.1%}, baseline "
            f"{opt.baseline_click_rate:.1%})",
        )
    ]


def _dropoff(
    stats: FeedbackStats,
    skip_times: list[float],
    plan: CreativePlan,
    opt: FeedbackOptions,
) -> list[Directive]:
    """The scene where viewers leave between two milestones clearly faster than usual."""
    worst: tuple[float, int, float, float] | None = None
    for (a, ta), (b, tb) in pairwise(MILESTONES):
        before, after = stats.milestones.get(a, 0), stats.milestones.get(b, 0)
        if before == 0 or after > before:
            continue
        lo, _ = wilson(before - after, before, opt.confidence)
        if lo > opt.baseline_quartile_drop and (worst is None or lo > worst[0]):
            worst = (lo, before - after, ta, tb)
    if worst is None:
        return []
    lo, lost, ta, tb = worst
    d = plan.context.duration_s
    inside = [t for t in skip_times if ta * d <= t < tb * d]
    where = median(inside) if inside else (ta + tb) / 2 * d
    scene = _scene_at(plan, where)
    if scene.role == "hook":
        return []  # the hook is judged by its skip rate, against its own baseline
    fps = plan.context.fps
    target = math.floor(max(opt.min_scene_s, scene.duration_s * opt.retime_factor) * fps) / fps
    if scene.duration_s - target < 1.0 / fps:
        return []
    return [
        _director(
            "retime",
            scene.index,
            {"duration_s": target},
            f"{lost} viewers left between {ta:.0%} and {tb:.0%} (drop >= {lo:.0%}, baseline "
            f"{opt.baseline_quartile_drop:.0%}), around {where:.1f}s in scene {scene.index}",
        )
    ]


def _interest(
    stats: FeedbackStats,
    plan: CreativePlan,
    profile: UserProfile | None,
    opt: FeedbackOptions,
) -> tuple[UserProfile | None, Directive | None]:
    """Clicks strengthen the interest the plan leaned on, skips weaken it."""
    label = plan.matching.interest
    if profile is None or plan.kind != "personalized" or label is None:
        return None, None
    index = next((i for i, it in enumerate(profile.interests) if it.label == label), None)
    n = stats.impressions
    if index is None or n < opt.min_user_impressions:
        return None, None
    engaged = stats.clicks + stats.conversions
    click_lo, _ = wilson(engaged, n, opt.confidence)
    skip_lo, _ = wilson(stats.skips, n, opt.confidence)
    if click_lo > opt.baseline_click_rate:
        delta, why = opt.weight_step, f"{engaged} clicks/conversions in {n} impressions"
    elif skip_lo > opt.baseline_skip_rate:
        delta, why = -opt.weight_step, f"{stats.skips} skips in {n} impressions"
    else:
        return None, None
    old = profile.interests[index]
    weight = round(min(1.0, max(0.0, old.weight + delta)), 3)
    if weight == old.weight:
        return None, None
    interests = list(profile.interests)
    interests[index] = Interest.model_validate(
        {**old.model_dump(), "weight": weight, "tier": tier_of(weight)}
    )
    interests.sort(key=lambda it: (-it.weight, it.label))
    updated = profile.model_copy(update={"interests": interests})
    verb = "strengthen" if delta > 0 else "weaken"
    directive = _director(
        "update_profile",
        None,
        {"interest": label, "weight_delta": delta, "weight": weight},
        f"{verb} {label!r} {old.weight:g} -> {weight:g}: {why}",
    )
    return updated, directive
