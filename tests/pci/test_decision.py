"""The integration decision, its baselines and the storyboard from the integration frame."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.pci.helpers import SHOTS, small_campaign

from adloom import registry
from adloom.director.integration import (
    IntegrationSettings,
    baseline,
    candidate_points,
    decide,
    integration_plan,
    manual,
    segment_context,
)
from adloom.domain import Consent, Context, HistoryItem, HostAnalysis, User
from adloom.errors import InputError

SETTINGS = IntegrationSettings(embedder="hashing")


def _speech_at(host: HostAnalysis, t: float) -> bool:
    shot = next(s for s in host.shots if s.start_s <= t < s.end_s)
    return SHOTS[shot.index].speech


def test_candidates_are_boundaries_and_calm_moments(host: HostAnalysis) -> None:
    points = candidate_points(host, SETTINGS)
    kinds = {k for _, k in points}
    assert kinds == {"shot_boundary", "calm"}
    assert all(SETTINGS.margin_s <= t <= host.duration_s - SETTINGS.margin_s for t, _ in points)
    boundaries = sorted(t for t, k in points if k == "shot_boundary")
    assert boundaries == [3.0, 6.0, 9.0]


def test_decision_never_interrupts_speech_or_action(host: HostAnalysis, tmp_path: Path) -> None:
    product = small_campaign(tmp_path).products[0]
    d = decide(host, product, SETTINGS)
    assert d.strategy == "ranked"
    assert d.point.allowed
    assert not _speech_at(host, d.point.time_s - 0.1)
    assert not _speech_at(host, d.point.time_s)
    assert d.start_frame == d.point.frame - 1
    assert d.point.intrusiveness < 0.5
    assert d.rationale.startswith(d.point.kind.replace("_", " "))
    ranked = [c for c in d.candidates if c.allowed]
    assert d.point.score == max(c.score for c in ranked)
    # Points inside speech are listed, scored and refused, with the reason.
    refused = [c for c in d.candidates if not c.allowed]
    assert refused
    assert all("speech-like audio around the point" in c.reasons for c in refused)


def test_chosen_point_beats_the_baselines(host: HostAnalysis, tmp_path: Path) -> None:
    product = small_campaign(tmp_path).products[0]
    chosen = decide(host, product, SETTINGS).point
    middle = baseline(host, "midpoint", product=product, settings=SETTINGS).point
    assert middle.kind == "midpoint"
    assert middle.time_s == pytest.approx(6.0, abs=0.05)
    randoms = [baseline(host, "random", seed=s, settings=SETTINGS).point for s in range(20)]
    assert len({r.time_s for r in randoms}) > 10
    assert chosen.score >= middle.score
    assert chosen.score > sum(r.score for r in randoms) / len(randoms)
    assert chosen.continuity >= sum(r.continuity for r in randoms) / len(randoms)


def test_manual_point_is_scored_and_explained(host: HostAnalysis, tmp_path: Path) -> None:
    product = small_campaign(tmp_path).products[0]
    d = manual(host, 4.5, product, SETTINGS)
    assert d.strategy == "manual"
    assert d.point.kind == "manual"
    assert (d.point.frame, d.start_frame) == (112, 111)
    assert d.rationale.startswith("chosen by hand at 4.48s")
    assert not d.point.allowed  # inside the voiced shot: reported, not silently accepted
    assert "speech-like audio around the point" in d.rationale
    with pytest.raises(InputError, match="integration point: 30s is outside the host"):
        manual(host, 30.0, product, SETTINGS)


def test_segment_context_follows_the_host(host: HostAnalysis) -> None:
    ctx = segment_context(Context(fps=30), host, 5.0)
    assert (ctx.aspect_ratio, ctx.fps, ctx.duration_s) == ("16:9", 25, 5.0)
    portrait = host.model_copy(update={"width": 144, "height": 256, "fps": 29.97})
    ctx = segment_context(Context(), portrait, 7.0)
    assert (ctx.aspect_ratio, ctx.fps) == ("9:16", 30)
    with pytest.raises(InputError, match="segment duration: 2s is outside 5-60s"):
        segment_context(Context(), host, 2.0)


def test_storyboard_starts_and_ends_on_the_host_frame(host: HostAnalysis, tmp_path: Path) -> None:
    campaign = small_campaign(tmp_path)
    product = campaign.products[0]
    d = decide(host, product, SETTINGS)
    frame = tmp_path / "frame.png"
    frame.write_bytes(b"")
    planner = registry.create("planner", {"type": "template", "embedder": "hashing"}, "template")
    hiker = User(
        id="hiker",
        consent=Consent(personalization=True),
        history=[HistoryItem(title="Trail running in the hills", tags=["trail", "running"])],
    )
    plan = integration_plan(planner, campaign, product, host, d, frame, user=hiker, duration_s=6)
    assert plan.context.duration_s == 6
    assert plan.context.fps == 25
    assert plan.scenes[0].background.image == str(frame.resolve())
    assert plan.scenes[-1].background.image == str(frame.resolve())
    assert plan.scenes[0].visual_description.startswith("opens on the host's frame")
    assert any(n.startswith("integration: ranked point") for n in plan.notes)
    # Without consent the same call gives the generic segment.
    private = hiker.model_copy(update={"consent": Consent(personalization=False)})
    generic = integration_plan(planner, campaign, product, host, d, None, user=private)
    assert generic.kind == "generic"
    assert generic.user_id is None
    assert generic.scenes[0].background.image is None
