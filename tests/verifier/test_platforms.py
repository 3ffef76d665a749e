"""The platform check: placement formats, the campaign's contexts, UI safe zones, brand timing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from verifier_media import make_creative, make_plan

from adloom.demo import load_sample
from adloom.director.template import TemplatePlanner, TemplatePlannerConfig
from adloom.domain import Box, Campaign, Context, Creative, CreativePlan, RenderedText, Verdict
from adloom.producer.template import TemplateRenderer
from adloom.verifier.basic import BasicVerifier, BasicVerifierConfig
from adloom.verifier.checks import DEFAULT_CHECKS, CheckContext, Finding, Thresholds
from adloom.verifier.platforms import (
    CHECKS,
    PLATFORMS,
    SECTION,
    PlatformOptions,
    PlatformSpec,
    SafeZone,
    brand_seen_at,
    covered_area,
    platform,
)


class _Config(BaseModel):
    """Stands in for a verifier config that nests the platform section."""

    model_config = ConfigDict(extra="forbid")
    platform: PlatformOptions = Field(default_factory=PlatformOptions)


class _VerifierConfig(BasicVerifierConfig):
    """A basic verifier's config with the platform section, as the full verifier nests it."""

    platform: PlatformOptions = Field(default_factory=PlatformOptions)


def _campaign(campaign: Campaign, *contexts: Context) -> Campaign:
    return campaign.model_copy(update={"contexts": list(contexts)}).with_base_dir(campaign.base_dir)


def _plan(campaign: Campaign, platform_name: str, aspect: str, duration: float) -> CreativePlan:
    plan = make_plan(campaign, duration=duration, aspect=aspect)
    ctx = plan.context.model_copy(update={"platform": platform_name})
    return plan.model_copy(update={"context": ctx})


def _run(
    campaign: Campaign,
    plan: CreativePlan,
    creative: Creative | None = None,
    options: PlatformOptions | None = None,
) -> Finding:
    ctx = CheckContext(
        creative=creative or make_creative(plan, Path("none.mp4")),
        plan=plan,
        campaign=campaign,
        profile=None,
        limits=Thresholds(),
        config=_Config(platform=options or PlatformOptions()),
    )
    return platform(ctx)


# --------------------------------------------------------------------------- the table


def test_the_table_covers_the_team_placements_and_the_default_context() -> None:
    assert {"feed", "stories", "reels", "shorts", "instream", "ctv"} <= set(PLATFORMS)
    assert Context().platform in PLATFORMS
    assert SECTION == "platform"
    assert (platform,) == CHECKS
    # Vertical full-screen formats reserve the top and bottom of the frame.
    for name in ("stories", "reels", "shorts"):
        spec = PLATFORMS[name]
        assert spec.aspect_ratios == ["9:16"]
        assert spec.safe_zone.top >= 0.14
        assert spec.safe_zone.bottom >= 0.20
    assert PLATFORMS["instream"].attention_s == 5.0
    assert "9:16" not in PLATFORMS["feed"].aspect_ratios


def test_safe_zone_bands_are_the_covered_edges() -> None:
    bands = dict(SafeZone(top=0.1, bottom=0.2, right=0.05).bands(1000, 2000))
    assert bands == {
        "top": Box(x=0, y=0, w=1000, h=200),
        "bottom": Box(x=0, y=1600, w=1000, h=400),
        "right": Box(x=950, y=0, w=50, h=2000),
    }
    assert SafeZone().bands(1280, 720) == []
    assert SafeZone().describe() == "none"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"aspect_ratios": ["16x9"]}, "invalid aspect ratio '16x9'"),
        ({"aspect_ratios": []}, "at least 1 item"),
        (
            {"aspect_ratios": ["9:16"], "min_duration_s": 30, "max_duration_s": 10},
            "min_duration_s 30 exceeds max_duration_s 10",
        ),
        ({"aspect_ratios": ["9:16"], "max_text_share": 0}, "greater than 0"),
        ({"aspect_ratios": ["9:16"], "safe_zone": {"top": 0.6}}, "less than 0.5"),
        ({"aspect_ratios": ["9:16"], "attention_s": -1}, "greater than 0"),
        ({"aspect_ratios": ["9:16"], "skippable": True}, "Extra inputs are not permitted"),
    ],
)
def test_bad_platform_specs_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PlatformSpec.model_validate(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"safe_zone_tolerance": 1.5}, "less than or equal to 1"),
        ({"duration_tolerance_s": -0.1}, "greater than or equal to 0"),
        ({"platforms": {"x": {"aspect_ratios": ["4x5"]}}}, r"platforms\.x\.aspect_ratios"),
        ({"known": ["feed"]}, "Extra inputs are not permitted"),
    ],
)
def test_bad_platform_options_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PlatformOptions.model_validate(data)


def test_configured_platforms_add_to_and_override_the_table() -> None:
    custom = PlatformSpec(aspect_ratios=["1:1"], max_text_share=0.5)
    table = PlatformOptions(platforms={"square": custom, "feed": custom}).table()
    assert table["square"] is custom
    assert table["feed"] is custom
    assert table["stories"] == PLATFORMS["stories"]
    assert PLATFORMS["feed"].max_text_share == 0.2  # the built-in table is left alone


@pytest.mark.parametrize(
    ("boxes", "area"),
    [
        ([], 0),
        ([Box(x=0, y=0, w=10, h=10)], 100),
        ([Box(x=0, y=0, w=10, h=10), Box(x=20, y=0, w=5, h=4)], 120),
        ([Box(x=0, y=0, w=10, h=10), Box(x=5, y=5, w=10, h=10)], 175),
        ([Box(x=0, y=0, w=10, h=10), Box(x=2, y=2, w=3, h=3)], 100),
        ([Box(x=0, y=0, w=0, h=10)], 0),
    ],
)
def test_covered_area_counts_overlaps_once(boxes: list[Box], area: int) -> None:
    assert covered_area(boxes) == area


# --------------------------------------------------------------------------- the context


def test_a_plan_in_the_campaign_context_passes(campaign: Campaign) -> None:
    plan = _plan(campaign, "feed", "16:9", 6.0)  # the fixture's context: feed, 16:9, 6 s
    found = _run(campaign, plan)
    assert found.result.passed, found.result.message
    assert found.result.score == 1.0
    assert found.result.message == "16:9 6s on feed fits the placement and the campaign"
    assert found.evidence == []


@pytest.mark.parametrize(
    ("contexts", "plan_args", "messages"),
    [
        (
            [Context(aspect_ratio="16:9", duration_s=6.0)],
            ("feed", "9:16", 6.0),
            [
                "aspect ratio 9:16 is not accepted on feed (accepted: 16:9, 1:1, 4:5)",
                "context 9:16 6s on feed is none of the campaign's (16:9 6s on feed)",
            ],
        ),
        (
            [Context(aspect_ratio="16:9", duration_s=6.0)],
            ("feed", "16:9", 8.0),
            ["context 16:9 8s on feed is none of the campaign's (16:9 6s on feed)"],
        ),
        (
            [Context(platform="ctv", aspect_ratio="16:9", duration_s=5.0)],
            ("ctv", "16:9", 5.0),
            ["5s is outside ctv's 6-60s"],
        ),
        (
            [
                Context(aspect_ratio="16:9", duration_s=6.0),
                Context(platform="stories", aspect_ratio="9:16", duration_s=6.0),
            ],
            ("stories", "16:9", 6.0),
            [
                "aspect ratio 16:9 is not accepted on stories (accepted: 9:16)",
                "context 16:9 6s on stories is none of the campaign's "
                "(16:9 6s on feed; 9:16 6s on stories)",
            ],
        ),
    ],
)
def test_an_off_policy_context_is_a_major_problem(
    campaign: Campaign,
    contexts: list[Context],
    plan_args: tuple[str, str, float],
    messages: list[str],
) -> None:
    camp = _campaign(campaign, *contexts)
    found = _run(camp, _plan(camp, *plan_args))
    assert not found.result.passed
    assert found.result.severity == "major"
    assert [e.message for e in found.evidence if e.message in messages] == messages
    assert found.result.score < 1.0


def test_an_unknown_platform_is_minor_and_lists_the_known_ones(campaign: Campaign) -> None:
    camp = _campaign(campaign, Context(platform="billboard", aspect_ratio="16:9", duration_s=6.0))
    found = _run(camp, _plan(camp, "billboard", "16:9", 6.0))
    assert not found.result.passed
    assert found.result.severity == "minor"
    assert found.result.message == (
        "unknown platform 'billboard' (known: ctv, feed, instream, reels, shorts, stories)"
    )
    # A configured placement makes it known.
    options = PlatformOptions(platforms={"billboard": PlatformSpec(aspect_ratios=["16:9"])})
    assert _run(camp, _plan(camp, "billboard", "16:9", 6.0), options=options).result.passed


# --------------------------------------------------------------------------- safe zones


def test_text_under_the_stories_interface_is_localized(campaign: Campaign) -> None:
    camp = _campaign(campaign, Context(platform="stories", aspect_ratio="9:16", duration_s=6.0))
    plan = _plan(camp, "stories", "9:16", 6.0)
    creative = make_creative(plan, Path("none.mp4"))  # captions at 70-80%, CTA at 85%
    found = _run(camp, plan, creative)
    assert not found.result.passed
    assert found.result.severity == "minor"
    minor = [e for e in found.evidence if e.message.endswith("(bottom edge)")]
    assert [e.text for e in minor] == ["Shop now"]
    cta = next(r for r in creative.rendered_text if r.field == "cta")
    (e,) = minor
    assert e.message == "cta 'Shop now' lies under the stories interface (bottom edge)"
    assert (e.box, e.start_s, e.end_s) == (cta.box, cta.start_s, cta.end_s)
    assert e.scene_index == plan.scenes[-1].index
    assert e.frame == round(cta.start_s * plan.context.fps)
    # The label is recorded as evidence (viewers may not see it), but does not fail.
    (label,) = [e for e in found.evidence if "disclosure label" in e.message]
    assert label.message.endswith("(top edge)")
    assert label.box == creative.disclosure_box
    # Format, duration, campaign and text share fine, four of five strings clear: 0.96,
    # capped below a clean pass.
    assert found.result.score == pytest.approx(0.9)


@pytest.mark.parametrize(("overlap", "passed"), [(0.0, True), (0.04, True), (0.1, False)])
def test_the_safe_zone_tolerates_a_sliver(campaign: Campaign, overlap: float, passed: bool) -> None:
    camp = _campaign(campaign, Context(platform="stories", aspect_ratio="9:16", duration_s=6.0))
    plan = _plan(camp, "stories", "9:16", 6.0)
    h = 200
    y = round(1920 * 0.8 - h * (1 - overlap))  # the box's lower `overlap` is under the bar
    drawn = RenderedText(
        text="Waterproof membrane",
        scene_index=1,
        field="on_screen_text",
        start_s=1.5,
        end_s=3.0,
        box=Box(x=100, y=y, w=800, h=h),
    )
    creative = make_creative(plan, Path("none.mp4"), rendered_text=[drawn])
    assert _run(camp, plan, creative).result.passed is passed


def test_too_much_text_at_once_is_minor(campaign: Campaign) -> None:
    plan = _plan(campaign, "feed", "16:9", 6.0)
    creative = make_creative(plan, Path("none.mp4"))
    # In the last scene the caption (1024x72) and the CTA (426x60) share the frame: 10.8%.
    tight = PlatformSpec(aspect_ratios=["16:9"], max_text_share=0.1)
    found = _run(campaign, plan, creative, PlatformOptions(platforms={"feed": tight}))
    assert not found.result.passed
    (e,) = found.evidence
    last = plan.scenes[-1]
    assert e.message == "text covers 11% of the frame at 4.80s (feed allows 10%)"
    assert (e.scene_index, e.start_s, e.end_s) == (last.index, last.start_s, last.end_s)
    assert e.frame == round(last.start_s * 25)
    loose = tight.model_copy(update={"max_text_share": 0.11})
    assert _run(campaign, plan, creative, PlatformOptions(platforms={"feed": loose})).result.passed


# --------------------------------------------------------------------------- brand timing


def _instream(campaign: Campaign) -> tuple[Campaign, CreativePlan]:
    camp = _campaign(campaign, Context(platform="instream", aspect_ratio="16:9", duration_s=8.0))
    return camp, _plan(camp, "instream", "16:9", 8.0)


def _clear_of_the_player(plan: CreativePlan) -> Creative:
    """The test creative with its CTA lifted above the player's bottom bar (15%)."""
    creative = make_creative(plan, Path("none.mp4"))
    for r in creative.rendered_text:
        if r.field == "cta":
            r.box = r.box.model_copy(update={"y": 450})
    return creative


def _brand_line(start_s: float) -> RenderedText:
    return RenderedText(
        text="Northpeak",
        scene_index=None,
        field="brand",
        start_s=start_s,
        end_s=8.0,
        box=Box(x=500, y=300, w=200, h=60),
    )


def test_instream_needs_the_brand_before_the_skip_button(campaign: Campaign) -> None:
    camp, plan = _instream(campaign)  # the test plan has no logo and never names the brand
    found = _run(camp, plan, _clear_of_the_player(plan))
    assert not found.result.passed
    assert found.result.severity == "major"
    (e,) = found.evidence
    assert e.message == "the brand is not shown at all; instream needs it within the first 5s"
    assert (e.start_s, e.end_s, e.frame) == (0.0, 5.0, 0)

    late = _clear_of_the_player(plan)
    late.rendered_text.append(_brand_line(6.5))
    found = _run(camp, plan, late)
    assert found.evidence[0].message.startswith("the brand is not shown until 6.50s")


@pytest.mark.parametrize(
    ("logo", "brand_at", "seen"),
    [
        ("boots-logo", None, 0.0),  # the logo overlay is on every frame
        (None, 1.25, 1.25),
        ("mug-logo", 1.25, 1.25),  # another product's logo is not this brand
        (None, None, None),
    ],
)
def test_brand_seen_at(
    campaign: Campaign, logo: str | None, brand_at: float | None, seen: float | None
) -> None:
    camp, plan = _instream(campaign)
    plan = plan.model_copy(update={"logo_asset": logo})
    creative = _clear_of_the_player(plan)
    if brand_at is not None:
        creative.rendered_text.append(_brand_line(brand_at))
    ctx = CheckContext(
        creative=creative, plan=plan, campaign=camp, profile=None, limits=Thresholds()
    )
    assert brand_seen_at(ctx) == seen
    assert platform(ctx).result.passed is (seen is not None)


def test_without_a_drawn_text_record_the_plan_says_when_the_brand_shows(
    campaign: Campaign,
) -> None:
    camp, plan = _instream(campaign)
    scenes = [s.model_copy(deep=True) for s in plan.scenes]
    text = scenes[1].on_screen_text
    assert text is not None
    scenes[1].on_screen_text = text.model_copy(update={"text": "Northpeak: waterproof membrane"})
    plan = plan.model_copy(update={"scenes": scenes})
    ctx = CheckContext(
        creative=make_creative(plan, Path("none.mp4"), rendered_text=[]),
        plan=plan,
        campaign=camp,
        profile=None,
        limits=Thresholds(),
    )
    assert brand_seen_at(ctx) == plan.scenes[1].start_s
    assert platform(ctx).result.passed


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def stories(tmp_path_factory: pytest.TempPathFactory) -> tuple[Campaign, CreativePlan, Creative]:
    """A real render of the sample's headphones in a 5 s stories slot."""
    sample, _ = load_sample()
    ctx = Context(platform="stories", aspect_ratio="9:16", duration_s=5.0)
    camp = _campaign(sample, ctx)
    planner = TemplatePlanner(TemplatePlannerConfig(type="template", embedder="hashing"))
    plan = planner.plan(camp, camp.product("aura-anc"), ctx)
    out = tmp_path_factory.mktemp("stories") / "ad.mp4"
    return camp, plan, TemplateRenderer().render(plan, camp, out)


def _verify(camp: Campaign, plan: CreativePlan, creative: Creative) -> Verdict:
    return BasicVerifier(checks=DEFAULT_CHECKS + CHECKS).verify(creative, plan, camp)


def test_a_real_stories_render_is_sent_back_for_its_bottom_captions(
    stories: tuple[Campaign, CreativePlan, Creative],
) -> None:
    camp, plan, creative = stories
    verdict = _verify(camp, plan, creative)
    assert verdict.decision == "revise"
    assert [c.name for c in verdict.failed] == ["platform"]
    found = [e for e in verdict.evidence if e.check == "platform" and "edge)" in e.message]
    bottom = round(0.8 * creative.height)
    flagged = [e for e in found if e.message.endswith("(bottom edge)")]
    assert flagged
    for e in flagged:
        assert e.box is not None
        assert e.box.y + e.box.h > bottom
        assert e.text in {r.text for r in creative.rendered_text}
        assert e.scene_index is not None
        assert e.frame is not None
    # Every drawn string clear of the bar was left alone.
    for r in creative.rendered_text:
        if r.box.y + r.box.h <= bottom and r.box.y >= round(0.14 * creative.height):
            assert r.text not in {e.text for e in flagged}


def test_the_same_render_passes_where_the_interface_leaves_the_frame_free(
    stories: tuple[Campaign, CreativePlan, Creative],
) -> None:
    camp, plan, creative = stories
    free = PlatformSpec(aspect_ratios=["9:16"], max_text_share=0.5)
    cfg = _VerifierConfig(type="basic", platform=PlatformOptions(platforms={"stories": free}))
    verdict = BasicVerifier(cfg, checks=DEFAULT_CHECKS + CHECKS).verify(creative, plan, camp)
    assert verdict.decision == "accept", verdict.rationale
    assert verdict.check("platform").message.startswith("9:16 5s on stories fits")
