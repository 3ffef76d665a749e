"""Online feedback on seeded, simulated viewers: act on clear signals, never on noise."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from reflector_sample import Sample

from adloom.domain import CreativePlan, Event
from adloom.errors import InputError
from adloom.reflector.feedback import MILESTONES, FeedbackOptions, analyze, tier_of, wilson
from adloom.reflector.revise import apply
from adloom.reflector.rules import RuleReflector, RuleReflectorConfig

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def simulate(
    plan: CreativePlan,
    n: int,
    *,
    seed: int,
    skip: float = 0.0,
    skip_between: tuple[float, float] = (0.0, 10.0),
    click: float = 0.0,
    convert: float = 0.0,
    creative_id: str = "cr-1",
) -> list[Event]:
    """``n`` impressions: each viewer skips with probability ``skip`` at a uniform time in
    ``skip_between``, else watches to the end and clicks with probability ``click``."""
    rng = random.Random(seed)
    d = plan.context.duration_s
    out: list[Event] = []
    for i in range(n):
        t = T0 + timedelta(seconds=i)

        def emit(kind: str, value: float | None = None, t: datetime = t) -> None:
            out.append(
                Event.model_validate(
                    {"type": kind, "creative_id": creative_id, "timestamp": t, "value": value}
                )
            )

        emit("impression")
        stop = rng.uniform(*skip_between) if rng.random() < skip else None
        for name, share in MILESTONES:
            if stop is None or share * d <= stop:
                emit(name)
        if stop is not None:
            emit("skip", round(stop, 2))
        elif rng.random() < click:
            emit("click")
            if rng.random() < convert:
                emit("conversion")
    return out


def test_wilson_interval() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(1 - hi)
    assert (round(lo, 3), round(hi, 3)) == (0.404, 0.596)
    assert wilson(0, 188)[1] == pytest.approx(0.02, abs=1e-3)
    assert wilson(10, 10)[1] == 1.0


def test_early_skips_swap_the_hook(sample: Sample) -> None:
    plan = sample.plan
    events = simulate(plan, 400, seed=1, skip=0.5, skip_between=(0.2, 1.8), click=0.05)
    result = RuleReflector().feedback(events, plan)
    assert result.stats.impressions == 400
    assert result.stats.skips == result.stats.early_skips
    [d] = result.directives
    assert (d.target, d.action, d.scene_index, d.params) == (
        "director",
        "swap_hook",
        0,
        {"avoid": ["tb-hook-1"]},
    )
    assert "skipped before the hook ended at 2s" in d.reason
    assert result.profile is None  # no profile given: nothing to update
    rev = apply(plan, result.directives, sample.campaign)
    assert rev.plan.scenes[0].on_screen_text is not None
    assert rev.plan.scenes[0].on_screen_text.text == "Wet trail ahead?"


@pytest.mark.parametrize(
    ("n", "skip", "why"),
    [
        (60, 0.5, "60 impressions, fewer than 100: the plan is kept"),
        (400, 0.22, "no rate is significantly worse than its baseline"),
    ],
)
def test_thin_or_noisy_evidence_changes_nothing(
    sample: Sample, n: int, skip: float, why: str
) -> None:
    events = simulate(sample.plan, n, seed=2, skip=skip, skip_between=(0.2, 1.8), click=0.05)
    result = RuleReflector().feedback(events, sample.plan)
    assert result.directives == []
    assert why in result.rationale


def test_completion_without_clicks_recaptions_the_cta(sample: Sample) -> None:
    silent = simulate(sample.plan, 300, seed=3, click=0.0)
    [d] = RuleReflector().feedback(silent, sample.plan).directives
    assert (d.action, d.scene_index, d.params) == (
        "recaption",
        None,
        {"fields": ["cta"], "avoid": ["tb-cta"]},
    )
    rev = apply(sample.plan, [d], sample.campaign)
    assert rev.plan.cta.text.text != "Find your pair"
    clicking = simulate(sample.plan, 300, seed=3, click=0.06)
    assert RuleReflector().feedback(clicking, sample.plan).directives == []


def test_a_drop_inside_a_scene_retimes_it(sample: Sample) -> None:
    events = simulate(sample.plan, 400, seed=4, skip=0.4, skip_between=(4.3, 5.9), click=0.1)
    result = RuleReflector().feedback(events, sample.plan)
    [d] = result.directives
    # 75% of 2 s on whole frames (1.5 s is 37.5 frames at 25 fps).
    assert (d.action, d.scene_index, d.params) == ("retime", 2, {"duration_s": 1.48})
    assert "in scene 2" in d.reason
    rev = apply(sample.plan, [d], sample.campaign)
    assert rev.plan.scenes[2].duration_s == 1.48
    # The same viewers spread evenly over the creative show no drop worth acting on.
    even = simulate(sample.plan, 400, seed=4, skip=0.15, click=0.1)
    assert RuleReflector().feedback(even, sample.plan).directives == []


@pytest.mark.parametrize(
    ("click", "skip", "weight", "tier"),
    [(0.3, 0.0, 0.5, "strong"), (0.0, 0.8, 0.3, "medium")],
)
def test_engagement_moves_the_leaned_on_interest(
    sample: Sample, click: float, skip: float, weight: float, tier: str
) -> None:
    options = FeedbackOptions(min_impressions=1000)  # profile rules only
    events = simulate(sample.plan, 40, seed=5, skip=skip, skip_between=(3.0, 9.0), click=click)
    result = analyze(events, sample.plan, sample.profile, options)
    [d] = result.directives
    assert d.action == "update_profile"
    assert d.params["interest"] == "camping"
    assert d.params["weight"] == weight
    assert result.profile is not None
    camping = next(i for i in result.profile.interests if i.label == "camping")
    assert (camping.weight, camping.tier) == (weight, tier)
    assert sample.profile.interests[0].weight == 0.4  # the input profile is not edited
    assert [i.weight for i in result.profile.interests] == sorted(
        (i.weight for i in result.profile.interests), reverse=True
    )


def test_a_few_clicks_from_one_user_move_nothing(sample: Sample) -> None:
    events = simulate(sample.plan, 12, seed=6, click=0.5)
    result = analyze(events, sample.plan, sample.profile)
    assert (result.directives, result.profile) == ([], None)
    generic = analyze(simulate(sample.generic, 40, seed=6, click=0.5), sample.generic, None)
    assert generic.profile is None


def test_feedback_options_come_from_the_reflector_config(sample: Sample) -> None:
    events = simulate(sample.plan, 60, seed=1, skip=0.5, skip_between=(0.2, 1.8))
    eager = RuleReflector(RuleReflectorConfig(feedback=FeedbackOptions(min_impressions=50)))
    assert [d.action for d in eager.feedback(events, sample.plan).directives] == ["swap_hook"]


def test_no_events_no_change(sample: Sample) -> None:
    result = analyze([], sample.plan)
    assert (result.stats.impressions, result.directives, result.creative_id) == (0, [], None)


def _event(kind: str, creative: str = "cr-1", value: float | None = None) -> Event:
    return Event.model_validate(
        {"type": kind, "creative_id": creative, "timestamp": T0, "value": value}
    )


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (
            [_event("impression"), _event("impression", "cr-2")],
            "events: 2 creatives (cr-1, cr-2); pass one creative's events",
        ),
        (
            [_event("impression"), _event("start"), _event("skip", value=-1.0)],
            "events.2.value: skip at -1s lies outside the 10s creative",
        ),
        (
            [_event("impression"), _event("skip", value=42.0)],
            "events.1.value: skip at 42s lies outside the 10s creative",
        ),
    ],
)
def test_bad_events_are_one_clear_line(sample: Sample, events: list[Event], message: str) -> None:
    with pytest.raises(InputError) as info:
        analyze(events, sample.plan)
    assert str(info.value) == message


def test_tiers_match_the_profiler() -> None:
    assert [tier_of(w) for w in (0.0, 0.19, 0.2, 0.39, 0.4, 1.0)] == [
        "weak", "weak", "medium", "medium", "strong", "strong",
    ]  # fmt: skip
