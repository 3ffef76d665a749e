"""BasicVerifier end to end: real MP4s in, decisions with localized evidence out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from verifier_media import make_creative, make_plan, profile

from adloom.domain import Box, Campaign, GroundedText, RenderedText, Verdict
from adloom.errors import AdloomError
from adloom.producer.label import label_box
from adloom.registry import create
from adloom.verifier.basic import BasicVerifier, BasicVerifierConfig

VideoFactory = Callable[[str], Path]


def verify(campaign: Campaign, path: Path) -> Verdict:
    plan = make_plan(campaign)
    return BasicVerifier().verify(make_creative(plan, path), plan, campaign, profile())


def failed(verdict: Verdict) -> set[str]:
    return {c.name for c in verdict.checks if not c.passed}


def test_good_video_is_accepted(campaign: Campaign, video: VideoFactory) -> None:
    verdict = verify(campaign, video("good"))
    assert verdict.decision == "accept", verdict.rationale
    assert failed(verdict) == set()
    assert verdict.evidence == []
    assert verdict.check("disclosure_label").score == 1.0
    assert "found in 100%" in verdict.check("disclosure_label").message
    assert verdict.rationale.startswith("Accepted")
    assert verdict.verifier == "basic"


@pytest.mark.parametrize(
    ("variant", "decision", "check", "span", "scene"),
    [
        # Scenes: 0-1.5, 1.5-3.0, 3.0-4.0, 4.0-5.0 s; evidence names the most-overlapped
        # scene, or none when the problem covers several whole scenes.
        ("frozen", "revise", "frozen", (2.0, 4.0), 1),
        ("blank", "revise", "blank", (2.0, 3.0), 1),
        ("no_label", "reject", "disclosure_label", (0.0, 5.0), None),
        ("label_top_left", "reject", "disclosure_label", (0.0, 5.0), None),
    ],
)
def test_pixel_problems_are_localized(
    campaign: Campaign,
    video: VideoFactory,
    variant: str,
    decision: str,
    check: str,
    span: tuple[float, float],
    scene: int | None,
) -> None:
    verdict = verify(campaign, video(variant))
    assert verdict.decision == decision, verdict.rationale
    assert failed(verdict) == {check}
    [ev] = [e for e in verdict.evidence if e.check == check]
    assert ev.start_s == pytest.approx(span[0], abs=0.15)
    assert ev.end_s == pytest.approx(span[1], abs=0.15)
    assert ev.scene_index == scene
    assert check in verdict.rationale


def test_frozen_stretch_is_reported_in_full(campaign: Campaign, video: VideoFactory) -> None:
    verdict = verify(campaign, video("frozen"))
    [ev] = verdict.evidence
    assert "frozen from 2.00s" in ev.message
    assert verdict.check("frozen").score == pytest.approx(1 - 2.0 / 5.0, abs=0.03)


def test_label_drawn_elsewhere_but_recorded_is_only_a_revision(
    campaign: Campaign, video: VideoFactory
) -> None:
    """Disclosed in pixels and records, just not in the corner the plan asked for."""
    plan = make_plan(campaign)
    box = label_box(plan.disclosure.text, (1280, 720), "top_left")
    creative = make_creative(plan, video("label_top_left"), disclosure_box=box)
    verdict = BasicVerifier().verify(creative, plan, campaign, profile())
    assert verdict.decision == "revise"
    label = verdict.check("disclosure_label")
    assert label.severity == "minor"
    assert label.score == 1.0


def test_wrong_resolution_is_rejected(campaign: Campaign, video: VideoFactory) -> None:
    verdict = verify(campaign, video("small"))
    assert verdict.decision == "reject"
    res = verdict.check("resolution")
    assert not res.passed
    assert res.severity == "critical"
    assert "640x360" in res.message
    assert any(e.check == "resolution" and "1280x720" in e.message for e in verdict.evidence)


@pytest.mark.parametrize("name", ["garbage", "missing"])
def test_unreadable_file_is_rejected_without_crashing(
    campaign: Campaign, video: VideoFactory, tmp_path: Path, name: str
) -> None:
    path = video("garbage") if name == "garbage" else tmp_path / "missing.mp4"
    verdict = verify(campaign, path)
    assert verdict.decision == "reject"
    container = verdict.check("container")
    assert not container.passed
    assert "cannot open" in container.message
    assert "could not be decoded" in verdict.rationale
    # Text checks still run and still pass; pixel checks are not reported.
    assert verdict.check("grounding").passed
    with pytest.raises(KeyError):
        verdict.check("disclosure_label")


def test_modified_file_is_rejected(campaign: Campaign, video: VideoFactory) -> None:
    plan = make_plan(campaign)
    creative = make_creative(plan, video("good"), sha256="ab" * 32)
    verdict = BasicVerifier().verify(creative, plan, campaign, profile())
    assert verdict.decision == "reject"
    assert "sha256" in verdict.check("container").message


@pytest.mark.parametrize(
    ("video_name", "creative_metadata", "message"),
    [
        ("no_metadata", None, "MP4 metadata does not say AI-generated"),
        ("good", {}, "creative metadata does not say AI-generated"),
        ("good", {"comment": "summer campaign"}, "creative metadata does not say AI-generated"),
    ],
)
def test_missing_metadata_disclosure_is_rejected(
    campaign: Campaign,
    video: VideoFactory,
    video_name: str,
    creative_metadata: dict[str, str] | None,
    message: str,
) -> None:
    plan = make_plan(campaign)
    overrides = {} if creative_metadata is None else {"metadata": creative_metadata}
    creative = make_creative(plan, video(video_name), **overrides)
    verdict = BasicVerifier().verify(creative, plan, campaign, profile())
    assert verdict.decision == "reject"
    assert failed(verdict) == {"disclosure"}
    assert any(message in e.message for e in verdict.evidence)


def test_disclosure_text_must_be_the_policys(campaign: Campaign, video: VideoFactory) -> None:
    plan = make_plan(campaign)
    plan.disclosure.text = "Made with AI"
    verdict = BasicVerifier().verify(make_creative(plan, video("good")), plan, campaign, profile())
    assert verdict.decision == "reject"
    assert any(e.text == "Made with AI" for e in verdict.evidence if e.check == "disclosure")


@pytest.mark.parametrize(
    ("scene", "item", "interests", "reason"),
    [
        (
            1,
            GroundedText(text="Waterproof for life", source="claim", source_id="c-waterproof"),
            ["hiking"],
            "differs from its source",
        ),
        (
            2,
            GroundedText(text="Lightest boot ever", source="claim", source_id="c-lightest"),
            ["hiking"],
            "unknown claim",
        ),
        (
            0,
            GroundedText(
                text="Made for hiking",
                source="copy",
                source_id="hook1",
                slots={"interest": "hiking"},
            ),
            ["cooking"],
            "not an allowed value",
        ),
    ],
)
def test_ungrounded_text_is_rejected_with_scene_and_text(
    campaign: Campaign,
    video: VideoFactory,
    scene: int,
    item: GroundedText,
    interests: list[str],
    reason: str,
) -> None:
    plan = make_plan(campaign)
    plan.scenes[scene].on_screen_text = item
    creative = make_creative(plan, video("good"))
    user = profile(interests[0])
    verdict = BasicVerifier().verify(creative, plan, campaign, user)
    assert verdict.decision == "reject"
    [ev] = [e for e in verdict.evidence if e.check == "grounding"]
    assert ev.scene_index == scene
    assert ev.text == item.text
    assert reason in ev.message
    assert (ev.start_s, ev.end_s) == (plan.scenes[scene].start_s, plan.scenes[scene].end_s)


def test_interest_slot_without_profile_uses_the_plans_match(
    campaign: Campaign, video: VideoFactory
) -> None:
    plan = make_plan(campaign)
    creative = make_creative(plan, video("good"))
    assert BasicVerifier().verify(creative, plan, campaign).decision == "accept"
    plan.kind = "generic"
    verdict = BasicVerifier().verify(creative, plan, campaign)
    assert verdict.decision == "reject"
    assert [e.scene_index for e in verdict.evidence if e.check == "grounding"] == [0]


@pytest.mark.parametrize(
    ("terms", "scene", "text"),
    [
        (["dry"], 1, "Go further, stay dry"),
        (["WEATHER"], 3, "Every trail, every weather"),
        (["480 g"], 2, "Only 480 g per boot"),
    ],
)
def test_prohibited_term_is_rejected(
    campaign: Campaign, video: VideoFactory, terms: list[str], scene: int, text: str
) -> None:
    campaign.policy.prohibited_terms = terms
    verdict = verify(campaign, video("good"))
    assert verdict.decision == "reject"
    assert failed(verdict) == {"prohibited_terms"}
    [ev] = verdict.evidence
    assert (ev.scene_index, ev.text) == (scene, text)


def test_prohibited_terms_match_whole_words_only(campaign: Campaign, video: VideoFactory) -> None:
    campaign.policy.prohibited_terms = ["dr", "weath", "boots"]
    assert verify(campaign, video("good")).decision == "accept"


def test_text_drawn_outside_the_plan_is_rejected(campaign: Campaign, video: VideoFactory) -> None:
    plan = make_plan(campaign)
    creative = make_creative(plan, video("good"))
    creative.rendered_text.append(
        RenderedText(
            text="50% off today",
            scene_index=2,
            field="on_screen_text",
            start_s=3.0,
            end_s=4.0,
            box=Box(x=100, y=100, w=300, h=60),
        )
    )
    verdict = BasicVerifier().verify(creative, plan, campaign, profile())
    assert verdict.decision == "reject"
    [ev] = [e for e in verdict.evidence if e.check == "rendered_text"]
    assert (ev.scene_index, ev.text, ev.start_s, ev.end_s) == (2, "50% off today", 3.0, 4.0)


@pytest.mark.parametrize(
    ("plan_kwargs", "check"),
    [({"duration": 5.5}, "duration"), ({"fps": 30}, "frame_rate")],
)
def test_timing_mismatch_asks_for_revision(
    campaign: Campaign, video: VideoFactory, plan_kwargs: dict[str, float], check: str
) -> None:
    plan = make_plan(campaign, **plan_kwargs)  # type: ignore[arg-type]
    verdict = BasicVerifier().verify(make_creative(plan, video("good")), plan, campaign, profile())
    assert verdict.decision == "revise", verdict.rationale
    assert check in failed(verdict)
    assert all(c.severity in ("minor", "major") for c in verdict.checks if not c.passed)


def test_duration_evidence_points_at_the_missing_tail(
    campaign: Campaign, video: VideoFactory
) -> None:
    plan = make_plan(campaign, duration=5.5)
    verdict = BasicVerifier().verify(make_creative(plan, video("good")), plan, campaign, profile())
    ev = next(e for e in verdict.evidence if e.check == "duration")
    assert (ev.start_s, ev.end_s, ev.scene_index) == (5.0, 5.5, 3)
    assert "-0.50s" in ev.message


def test_missing_drawn_text_is_minor(campaign: Campaign, video: VideoFactory) -> None:
    plan = make_plan(campaign)
    creative = make_creative(plan, video("good"))
    creative.rendered_text = [r for r in creative.rendered_text if r.field != "cta"]
    verdict = BasicVerifier().verify(creative, plan, campaign, profile())
    assert verdict.decision == "revise"
    [ev] = verdict.evidence
    assert (ev.check, ev.text, ev.scene_index) == ("text_layout", "Shop now", None)


@pytest.mark.parametrize(
    ("box", "message"),
    [
        (Box(x=1200, y=600, w=200, h=60), "outside the frame"),
        (Box(x=1100, y=10, w=100, h=40), "overlaps the AI-generated label"),
    ],
)
def test_badly_placed_text_asks_for_revision(
    campaign: Campaign, video: VideoFactory, box: Box, message: str
) -> None:
    plan = make_plan(campaign)
    creative = make_creative(plan, video("good"))
    creative.rendered_text[0].box = box
    verdict = BasicVerifier().verify(creative, plan, campaign, profile())
    assert verdict.decision == "revise"
    [ev] = verdict.evidence
    assert message in ev.message
    assert (ev.scene_index, ev.text) == (0, "Made for hiking")


def test_creative_without_drawn_text_record_is_judged_on_the_rest(
    campaign: Campaign, video: VideoFactory
) -> None:
    """A creative described from a bare file has no record of drawn text."""
    plan = make_plan(campaign)
    creative = make_creative(plan, video("good"), rendered_text=[])
    verdict = BasicVerifier().verify(creative, plan, campaign, profile())
    assert verdict.decision == "accept"
    assert "not checked" in verdict.check("text_layout").message


def test_mismatched_plan_is_rejected(campaign: Campaign, video: VideoFactory) -> None:
    plan = make_plan(campaign)
    creative = make_creative(plan, video("good"), plan_id="another-plan")
    verdict = BasicVerifier().verify(creative, plan, campaign, profile())
    assert verdict.decision == "reject"
    assert failed(verdict) == {"identity"}


def test_config_is_honoured_and_strict(campaign: Campaign, video: VideoFactory) -> None:
    lenient = create("verifier", {"type": "basic", "frozen_max_s": 2.5}, "basic")
    assert isinstance(lenient, BasicVerifier)
    plan = make_plan(campaign)
    creative = make_creative(plan, video("frozen"))
    assert lenient.verify(creative, plan, campaign, profile()).decision == "accept"
    assert BasicVerifier().verify(creative, plan, campaign, profile()).decision == "revise"
    with pytest.raises(AdloomError, match="frozen_max"):
        create("verifier", {"type": "basic", "frozen_max": 2.5}, "basic")
    assert BasicVerifierConfig().type == "basic"
