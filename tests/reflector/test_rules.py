"""The attribution table: failed check + evidence -> plan or execution, and the directive."""

from __future__ import annotations

from typing import Any

import pytest
from reflector_sample import Sample

from adloom import registry
from adloom.domain import Box, CheckResult, Evidence, Verdict
from adloom.errors import AdloomError
from adloom.reflector.revise import retimed
from adloom.reflector.rules import CHECK_NAMES, RuleReflector, RuleReflectorConfig

COMPLIANCE = {
    "identity", "grounding", "rendered_text", "prohibited_terms", "disclosure",
    "disclosure_label", "deceptive_claims", "privacy", "injection", "nsfw", "faces",
    "licensing", "provenance", "personalization", "brand_spelling", "ocr_text",
}  # fmt: skip
CRITICAL = COMPLIANCE - {"personalization", "ocr_text"}


def verdict(*evidence: Evidence, plan_id: str = "p") -> Verdict:
    """A verdict failing the checks the evidence names, with the usual severities."""
    names = list(dict.fromkeys(e.check for e in evidence))
    checks = [
        CheckResult(
            name=n,
            track="compliance" if n in COMPLIANCE else "utility",
            passed=False,
            score=0.0,
            severity="critical" if n in CRITICAL else "major",
            message="; ".join(e.message for e in evidence if e.check == n),
        )
        for n in names
    ]
    decision = "reject" if any(c.severity == "critical" for c in checks) else "revise"
    return Verdict(
        creative_id="c",
        plan_id=plan_id,
        decision=decision,
        checks=checks,
        evidence=list(evidence),
        rationale="test",
    )


def ev(check: str, message: str, scene: int | None = None, **kw: Any) -> Evidence:
    return Evidence(check=check, message=message, scene_index=scene, **kw)


GRIP = "Vibram outsole for grip on wet rock"
SLOGAN = "Every trail. Every weather."

# (evidence, [(level, aspect, scene)], [(target, action, scene, params subset)])
TABLE: list[tuple[Evidence, list[tuple[str, str, int | None]], list[tuple[Any, ...]]]] = [
    (
        ev("grounding", "scene 3 on_screen_text: text differs from its source", 3, text=GRIP),
        [("plan", "copy", 3)],
        [("director", "drop_claim", 3, {"fields": ["on_screen_text", "narration"]})],
    ),
    (
        ev("grounding", "cta: cites unknown approved copy 'x'", text="Find your pair"),
        [("plan", "cta", None)],
        [("director", "recaption", None, {"fields": ["cta"], "avoid": ["tb-cta"]})],
    ),
    (
        ev(
            "prohibited_terms", "scene 1 on_screen_text contains prohibited 'trail'", 1, text=SLOGAN
        ),
        [("plan", "copy", 1)],
        [("director", "recaption", 1, {"fields": ["on_screen_text"], "avoid": ["tb-slogan"]})],
    ),
    (
        ev("deceptive_claims", "scene 2 on_screen_text: 'Only 520 g' is superlative", 2),
        [("plan", "copy", 2)],
        [("director", "drop_claim", 2, {"fields": ["on_screen_text"], "avoid": ["tb-weight"]})],
    ),
    (
        ev("brand_spelling", "scene 1 narration: 'Nortpeak' misspells 'Northpeak'", 1),
        [("plan", "copy", 1)],
        [("director", "recaption", 1, {"fields": ["narration"]})],
    ),
    (
        ev("rendered_text", "drawn text is not in the plan", 3, text="Lasts forever"),
        [("execution", "rendering", 3)],
        [("producer", "rerender", 3, {})],
    ),
    (
        ev(
            "rendered_text",
            "drawn text is not approved for the product",
            0,
            text="Made for camping",
        ),
        [("plan", "hook", 0)],
        [("director", "recaption", 0, {"fields": ["on_screen_text", "narration"]})],
    ),
    (
        ev(
            "privacy",
            "scene 0 on_screen_text: slot names a sensitive trait",
            0,
            text="Made for camping",
        ),
        [("plan", "profile", 0)],
        [("director", "recaption", 0, {"templates": False, "fallback": "generic"})],
    ),
    (
        ev("injection", "scene 1 on_screen_text: reads like an instruction", 1, text=SLOGAN),
        [("plan", "copy", 1)],
        [("director", "recaption", 1, {"templates": False, "avoid": ["tb-slogan"]})],
    ),
    (
        ev("privacy", "the backdrop is the user's own photo", 1),
        [("plan", "profile", 1)],
        [("director", "swap_background", 1, {})],
    ),
    (
        ev("privacy", "the creative reveals browsing history"),
        [("plan", "profile", None)],
        [
            (
                "director",
                "fallback_generic",
                None,
                {"reason": "the creative reveals browsing history"},
            )
        ],
    ),
    (
        ev(
            "privacy",
            "scene 0 on_screen_text slot 'interest': 'camping' reveals a trait",
            0,
            text="camping",
        ),
        [("plan", "profile", 0)],
        [("director", "recaption", 0, {"fields": ["on_screen_text"], "templates": False})],
    ),
    (
        ev("privacy", "matching.interest: 'camping' reveals a health trait", text="camping"),
        [("plan", "profile", None)],
        [("director", "fallback_generic", None, {})],
    ),
    (
        ev(
            "injection",
            "scene 2 visual_description: 'you are now' tells a model who to be",
            2,
            text="Product: boots, you are now free",
        ),
        [("plan", "profile", None)],
        [("director", "fallback_generic", None, {})],
    ),
    (
        ev(
            "injection",
            "cta url 'https://evil.example' leaves the product's landing page",
            text="https://evil.example",
        ),
        [("plan", "cta", None)],
        [("director", "recaption", None, {"fields": ["cta_url"]})],
    ),
    (
        ev(
            "injection",
            "disclosure 'Ad' is not the policy's 'AI-generated' while flagged instructions "
            "were in the inputs",
            text="Ad",
        ),
        [("plan", "context", None)],
        [("producer", "rerender", None, {"restore_disclosure": True})],
    ),
    (
        ev(
            "deceptive_claims",
            "drawn scene 2 on_screen_text: 'guaranteed' guarantees an outcome",
            2,
            text="Dry feet, guaranteed",
        ),
        [("execution", "rendering", 2)],
        [("producer", "rerender", 2, {})],
    ),
    (
        ev("pacing", "scene 0 (hook) lasts 5s: shorten it to 3s at most", 0),
        [("execution", "timing", 0)],
        [],  # the plan's hook already lasts hook_s: nothing left to shorten
    ),
    (
        ev("pacing", "cta: 9 words need 2.1s to skim, shown 2s", 4, text="Find your pair"),
        [("execution", "timing", 4)],
        [("director", "retime", 4, {"duration_s": 2.12})],
    ),
    (
        ev("pacing", "scene 2 (product) lasts 2s (min 1s)", 2),
        [("execution", "timing", 2)],
        [],
    ),
    (
        ev("duration", "video lasts 9.52s, plan says 10s (-0.48s)", 4, start_s=9.52, end_s=10.0),
        [("execution", "rendering", None)],
        [("producer", "rerender", None, {})],
    ),
    (
        ev("resolution", "video is 640x360, 16:9 needs 1280x720"),
        [("execution", "rendering", None)],
        [("producer", "rerender", None, {})],
    ),
    (
        ev("frame_rate", "video runs at 24 fps, plan says 25"),
        [("execution", "rendering", None)],
        [("producer", "rerender", None, {})],
    ),
    (
        ev("blank", "blank from 4.20s to 5.40s (1.20s)", 2, start_s=4.2, end_s=5.4),
        [("execution", "rendering", 2)],
        [("producer", "rerender", 2, {})],
    ),
    (
        ev("frozen", "frozen from 3.00s to 5.50s (2.50s, max 1s)", start_s=3.0, end_s=5.5),
        [("execution", "rendering", 1), ("execution", "rendering", 2)],
        [("producer", "rerender", 1, {}), ("producer", "rerender", 2, {})],
    ),
    (
        ev(
            "text_layout",
            "text box extends outside the frame",
            2,
            box=Box(x=900, y=300, w=600, h=80),
        ),
        [("execution", "text_placement", 2)],
        [("director", "reposition_text", 2, {"position": "bottom"})],
    ),
    (
        ev(
            "text_layout",
            "text box overlaps the AI-generated label",
            4,
            box=Box(x=1000, y=20, w=200, h=40),
        ),
        [("execution", "text_placement", 4)],
        [("director", "reposition_text", 4, {"position": "center"})],
    ),
    (
        ev("text_layout", "planned on_screen_text was not drawn", 3, text=GRIP),
        [("execution", "rendering", 3)],
        [("producer", "rerender", 3, {})],
    ),
    (
        ev(
            "platform",
            "text box leaves the reels safe zone",
            1,
            box=Box(x=40, y=1700, w=900, h=120),
        ),
        [("execution", "text_placement", 1)],
        [("director", "reposition_text", 1, {"position": "center"})],
    ),
    (
        ev("platform", "the brand is not shown at all; reels needs it within the first 2s", 0),
        [("execution", "asset_mismatch", None)],
        [("director", "swap_asset", None, {"kind": "logo"})],
    ),
    (
        ev("platform", "text covers 45% of the frame at 2.00s (feed allows 30%)", 3),
        [("execution", "text_placement", 3)],
        [("director", "drop_claim", 3, {"fields": ["on_screen_text"], "shorter": True})],
    ),
    (
        ev("platform", "feed takes 16:9 at most 60s"),
        [("execution", "rendering", None)],
        [("producer", "rerender", None, {})],
    ),
    (
        ev("ocr_text", "planned text unreadable: read 'Onl 52 g'", 2, text="Only 520 g per boot"),
        [("execution", "rendering", 2)],
        [("producer", "rerender", 2, {})],
    ),
    (
        ev("ocr_text", "text read in the frame is not approved copy", 1, text=SLOGAN),
        [("plan", "copy", 1)],
        [("director", "recaption", 1, {"fields": ["on_screen_text"]})],
    ),
    (
        ev("product_visible", "product image not found in the still", 2),
        [("execution", "asset_mismatch", 2)],
        [("director", "swap_asset", 2, {"kind": "product_image"})],
    ),
    (
        ev("logo_visible", "the Northpeak logo does not match the frame", 4),
        [("execution", "asset_mismatch", None)],
        [("director", "swap_asset", None, {"kind": "logo"})],
    ),
    (
        ev("licensing", "asset tb-main: licence expired on 2021-01-01"),
        [("plan", "asset", None)],
        [("director", "swap_asset", None, {"kind": "product_image", "avoid": ["tb-main"]})],
    ),
    (
        ev("licensing", "asset tb-logo: licence expired on 2021-01-01"),
        [("plan", "asset", None)],
        [("director", "swap_asset", None, {"kind": "logo", "avoid": ["tb-logo"]})],
    ),
    (
        ev("faces", "a face without a model release", 1, box=Box(x=10, y=10, w=80, h=80)),
        [("plan", "asset", 1)],
        [("director", "swap_background", 1, {})],
    ),
    (
        ev("nsfw", "exposed skin detected", 3),
        [("plan", "asset", 3)],
        [("director", "swap_asset", 3, {"kind": "product_image", "avoid": ["tb-main"]})],
    ),
    (
        ev("personalization", "the personalized plan says nothing the generic one does not"),
        [("plan", "matching", None)],
        [("director", "fallback_generic", None, {})],
    ),
    (
        ev("identity", "creative is for plan 'x', not 'y'"),
        [("execution", "metadata", None)],
        [],
    ),
    (
        ev("disclosure", "plan discloses 'Ad', policy requires 'AI-generated'", text="Ad"),
        [("plan", "context", None)],
        [("producer", "rerender", None, {"restore_disclosure": True})],
    ),
    (
        ev("disclosure", "creative metadata does not say AI-generated"),
        [("execution", "metadata", None)],
        [("producer", "rerender", None, {})],
    ),
    (
        ev("disclosure_label", "label missing from 0.00s to 10.00s", start_s=0.0, end_s=10.0),
        [("execution", "rendering", None)],
        [("producer", "rerender", None, {})],
    ),
    (
        ev("provenance", "no C2PA manifest in the file"),
        [("execution", "metadata", None)],
        [("producer", "rerender", None, {})],
    ),
    (
        ev("container", "file sha256 1234… differs from the creative's record"),
        [("execution", "rendering", None)],
        [("producer", "rerender", None, {})],
    ),
    (
        ev("dynamic_degree", "scene 4 barely moves (flow 0.1 px)", 4),
        [("execution", "rendering", 4)],
        [("director", "regenerate_scene", 4, {"camera": "zoom_in"})],
    ),
    (
        ev("motion_smoothness", "judder in scene 2", 2),
        [("execution", "rendering", 2)],
        [("producer", "rerender", 2, {})],
    ),
    (
        ev("imaging_quality", "scene 3 is blurry (sharpness 0.1)", 3),
        [("execution", "rendering", 3)],
        [("producer", "rerender", 3, {})],
    ),
    (
        ev("aesthetics", "scene 0 aesthetic score 0.31", 0),
        [("execution", "rendering", 0)],
        [("producer", "rerender", 0, {})],
    ),
]


def test_the_table_covers_every_check() -> None:
    assert {e.check for e, _, _ in TABLE} == set(CHECK_NAMES)


@pytest.mark.parametrize(
    ("evidence", "attributions", "directives"),
    TABLE,
    ids=[f"{e.check}-{i}" for i, (e, _, _) in enumerate(TABLE)],
)
def test_attribution_table(
    sample: Sample,
    evidence: Evidence,
    attributions: list[tuple[str, str, int | None]],
    directives: list[tuple[Any, ...]],
) -> None:
    v = verdict(evidence, plan_id=sample.plan.plan_id)
    r = RuleReflector().reflect(v, sample.plan, sample.campaign, sample.profile)
    assert r.decision == v.decision
    assert [(a.level, a.aspect, a.scene_index) for a in r.attributions] == attributions
    assert all(a.check == evidence.check and evidence.message in a.message for a in r.attributions)
    assert len(r.directives) == len(directives)
    for d, (target, action, scene, params) in zip(r.directives, directives, strict=True):
        assert (d.target, d.action, d.scene_index) == (target, action, scene)
        assert d.check == evidence.check
        assert evidence.message in d.reason
        for key, value in params.items():
            assert d.params[key] == value, (key, d.params)


def test_off_context_plan_is_restored(sample: Sample) -> None:
    """A plan made for another aspect ratio is the plan's fault: back to the campaign's."""
    ctx = sample.plan.context.model_copy(update={"aspect_ratio": "9:16"})
    plan = sample.plan.model_copy(update={"context": ctx})
    for check in ("resolution", "platform", "duration"):
        r = RuleReflector().reflect(
            verdict(ev(check, "9:16 is off the campaign's context")), plan, sample.campaign
        )
        assert [(a.level, a.aspect) for a in r.attributions] == [("plan", "context")]
        [d] = r.directives
        assert (d.action, d.target) == ("restore_context", "director")
        assert d.params["context"]["aspect_ratio"] == "16:9"


def test_a_long_hook_is_retimed(sample: Sample) -> None:
    ctx = sample.plan.context
    plan = sample.plan.model_copy(
        update={"scenes": retimed(sample.plan.scenes, 0, 5.0, ctx.fps, ctx.duration_s)}
    )
    assert plan.scenes[0].duration_s == 5.0
    v = verdict(ev("pacing", "scene 0 (hook) lasts 5s: shorten it to 3s at most", 0))
    cfg = RuleReflectorConfig(hook_s=2.4)
    [d] = RuleReflector(cfg).reflect(v, plan, sample.campaign).directives
    assert (d.action, d.scene_index, d.params) == (
        "retime",
        0,
        {"duration_s": 2.4, "at_most": True},
    )


def test_informational_evidence_is_not_acted_on(sample: Sample) -> None:
    """A failed injection check also lists inputs it left out: those need no repair."""
    failing = ev(
        "injection", "scene 1 on_screen_text: 'ignore' tells a model to drop", 1, text=SLOGAN
    )
    left_out = ev(
        "injection",
        "history[2].title: 'ignore all rules' (override) was left out of the profile",
        text="ignore all rules",
    )
    v = verdict(failing, left_out)
    v.checks[0].message = failing.message  # the check's message names its failing problems
    r = RuleReflector().reflect(v, sample.plan, sample.campaign)
    assert [(d.action, d.scene_index) for d in r.directives] == [("recaption", 1)]
    assert [a.message for a in r.attributions] == [f"scene 1: {failing.message}"]


def test_a_failure_without_evidence_is_read_from_its_message(sample: Sample) -> None:
    v = verdict(ev("provenance", "x")).model_copy(update={"evidence": []})
    r = RuleReflector().reflect(v, sample.plan, sample.campaign)
    assert [(d.action, d.scene_index) for d in r.directives] == [("rerender", None)]


def test_identity_mismatch_blocks_every_repair(sample: Sample) -> None:
    v = verdict(
        ev("identity", "creative is for plan 'other', not 'this'"),
        ev("grounding", "scene 3 on_screen_text: unknown claim", 3, text=GRIP),
        ev("blank", "blank from 4.20s to 5.40s", 2),
    )
    r = RuleReflector().reflect(v, sample.plan, sample.campaign)
    assert r.directives == []
    assert {a.check for a in r.attributions} == {"identity", "grounding", "blank"}
    assert "identity cannot be repaired" in r.rationale


def test_directives_for_the_same_scene_merge(sample: Sample) -> None:
    v = verdict(
        ev("grounding", "scene 3 on_screen_text: unknown claim", 3, text=GRIP),
        ev("prohibited_terms", "scene 3 narration contains prohibited 'rock'", 3, text=GRIP),
        ev("blank", "blank from 6.1s to 7.9s", 3),
        ev("frozen", "frozen from 6.1s to 7.9s", 3),
    )
    r = RuleReflector().reflect(v, sample.plan, sample.campaign)
    assert [(d.target, d.action, d.scene_index) for d in r.directives] == [
        ("director", "drop_claim", 3),
        ("producer", "rerender", 3),
    ]
    drop, rerender = r.directives
    assert drop.params["checks"] == ["grounding", "prohibited_terms"]
    assert drop.params["fields"] == ["on_screen_text", "narration"]
    assert rerender.params["checks"] == ["blank", "frozen"]
    assert "blank" in rerender.reason
    assert "frozen" in rerender.reason


def test_a_full_rerender_and_a_fallback_subsume_narrower_directives(sample: Sample) -> None:
    v = verdict(
        ev("personalization", "adds nothing over the generic plan"),
        ev("grounding", "scene 3 on_screen_text: unknown claim", 3, text=GRIP),
        ev("blank", "blank from 4.2s to 5.4s", 2),
        ev("disclosure_label", "label missing from 0.00s to 10.00s"),
    )
    r = RuleReflector().reflect(v, sample.plan, sample.campaign)
    assert {(d.action, d.scene_index) for d in r.directives} == {
        ("fallback_generic", None),
        ("rerender", None),
    }


def test_directives_are_deduplicated_and_capped(sample: Sample) -> None:
    blanks = [ev("blank", f"blank in scene {i}", i) for i in range(5)]
    twice = RuleReflector().reflect(verdict(*blanks, *blanks), sample.plan, sample.campaign)
    assert [d.scene_index for d in twice.directives] == [0, 1, 2, 3, 4]
    capped = RuleReflector(RuleReflectorConfig(max_directives_per_round=2))
    r = capped.reflect(verdict(*blanks), sample.plan, sample.campaign)
    assert [d.scene_index for d in r.directives] == [0, 1]
    assert "3 more held for a later round" in r.rationale


def test_overrides_replace_the_table(sample: Sample) -> None:
    cfg = RuleReflectorConfig(overrides={"frozen": "none", "aesthetics": "swap_background"})
    r = RuleReflector(cfg).reflect(
        verdict(ev("frozen", "frozen in scene 2", 2), ev("aesthetics", "dull scene 2", 2)),
        sample.plan,
        sample.campaign,
    )
    assert [(d.action, d.scene_index) for d in r.directives] == [("swap_background", 2)]
    assert "left alone by configuration" in r.attributions[0].message


def test_an_accepted_verdict_needs_nothing(sample: Sample) -> None:
    v = Verdict(creative_id="c", plan_id="p", decision="accept", checks=[], rationale="ok")
    r = RuleReflector().reflect(v, sample.plan, sample.campaign)
    assert (r.directives, r.attributions) == ([], [])
    assert "nothing to revise" in r.rationale


def test_the_package_exports_lazily() -> None:
    import adloom.reflector as pkg

    assert pkg.RuleReflector is RuleReflector
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = pkg.Nope


def test_the_registry_builds_the_rule_reflector() -> None:
    reflector = registry.create("reflector", {"type": "rules", "hook_s": 1.5}, "rules")
    assert isinstance(reflector, RuleReflector)
    assert reflector.config.hook_s == 1.5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"max_directives_per_round": 0}, "max_directives_per_round: Input should be greater"),
        ({"overrides": {"frozn": "none"}}, "unknown check(s) frozn"),
        ({"overrides": {"frozen": "recaption"}}, "overrides.frozen: Input should be"),
        ({"hook_s": -1}, "hook_s: Input should be greater than 0"),
        ({"feedback": {"min_impressions": 0}}, "feedback.min_impressions: Input should be"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_config_is_one_clear_line(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(AdloomError) as info:
        registry.create("reflector", {"type": "rules", **spec}, "rules")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
