"""Each directive applied to real plans from the bundled sample; grounding stays intact."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from reflector_sample import PRODUCT, Sample

from adloom.domain import Asset, Campaign, Context, CreativePlan, Directive, Disclosure
from adloom.errors import AdloomError
from adloom.grounding import grounding_problem
from adloom.reflector.revise import Revision, apply, next_plan_id
from adloom.verifier.checks import find_terms


def director(action: str, scene: int | None = None, **params: Any) -> Directive:
    return Directive.model_validate(
        {
            "target": "director",
            "action": action,
            "scene_index": scene,
            "params": params,
            "reason": "test",
            "check": "grounding",
        }
    )


def producer(scene: int | None = None, **params: Any) -> Directive:
    return Directive(
        target="producer", action="rerender", scene_index=scene, params=params, reason="test"
    )


def assert_sound(rev: Revision, sample: Sample, campaign: Campaign | None = None) -> None:
    """The revised plan validates, every string is grounded and none is prohibited."""
    campaign = campaign or sample.campaign
    assert rev.applied, rev.skipped
    plan = CreativePlan.model_validate(rev.plan.model_dump())
    product = campaign.product(plan.product_id)
    labels = [i.label for i in sample.profile.interests]
    for s, f, g in plan.texts():
        assert grounding_problem(g, product, labels) is None, (s, f, g.text)
        assert not find_terms(g.text, campaign.policy.prohibited_terms), g.text
    assert abs(sum(s.duration_s for s in plan.scenes) - plan.context.duration_s) < 1e-6


def with_hook(sample: Sample, seconds: float) -> CreativePlan:
    """The plan with its hook stretched, the other scenes sharing the rest evenly."""
    rest = (sample.plan.context.duration_s - seconds) / (len(sample.plan.scenes) - 1)
    scenes = [
        s.model_copy(
            update={
                "start_s": 0.0 if s.index == 0 else seconds + (s.index - 1) * rest,
                "duration_s": seconds if s.index == 0 else rest,
            }
        )
        for s in sample.plan.scenes
    ]
    return CreativePlan.model_validate({**sample.plan.model_dump(), "scenes": scenes})


# --------------------------------------------------------------------------- text


def test_recaption_picks_another_approved_line_of_the_same_role(sample: Sample) -> None:
    plan = sample.plan
    rev = apply(plan, [director("recaption", 1, fields=["on_screen_text"])], sample.campaign)
    assert_sound(rev, sample)
    old, new = plan.scenes[1], rev.plan.scenes[1]
    assert old.on_screen_text is not None
    assert new.on_screen_text is not None
    assert new.on_screen_text.text != old.on_screen_text.text
    product = sample.campaign.product(PRODUCT)
    assert new.on_screen_text.source_id in {c.id for c in product.copy_of("headline")}
    assert new.narration == old.narration  # only the field at fault changes
    assert rev.plan.plan_id == plan.plan_id + ".r1"
    assert plan.scenes[1].on_screen_text == old.on_screen_text  # the input is not edited
    assert (
        "round 1: recaption scene 1: on_screen_text 'Every trail. Every weather.'"
        in (rev.plan.notes[-1])
    )
    assert (rev.applied, rev.skipped, rev.fresh_scenes, rev.full_rerender) == (
        [director("recaption", 1, fields=["on_screen_text"])],
        [],
        [],
        False,
    )


def test_a_private_recaption_leaves_interest_templates_out(sample: Sample) -> None:
    d = director("recaption", 0, fields=["on_screen_text", "narration"], templates=False)
    rev = apply(sample.plan, [d], sample.campaign, sample.profile)
    assert_sound(rev, sample)
    hook = rev.plan.scenes[0]
    assert hook.on_screen_text is not None
    assert hook.narration is not None
    assert hook.on_screen_text.text == hook.narration.text == "Wet trail ahead?"
    assert hook.on_screen_text.slots == {}


def test_recaption_never_picks_a_prohibited_term(sample: Sample) -> None:
    campaign = sample.campaign.model_copy(deep=True).with_base_dir(sample.campaign.base_dir)
    campaign.policy.prohibited_terms = ["dry", "weather"]
    rev = apply(sample.plan, [director("recaption", 1, fields=["on_screen_text"])], campaign)
    assert_sound(rev, sample)
    # Not the slogan ("weather") nor the headline ("dry"): the body copy, though the
    # scene's voice-over says it too.
    assert rev.plan.scenes[1].on_screen_text is not None
    assert rev.plan.scenes[1].on_screen_text.text == "Built for long days on rough ground"


def test_drop_claim_moves_to_the_next_verified_claim(sample: Sample) -> None:
    d = director("drop_claim", 3, fields=["on_screen_text", "narration"], avoid=["tb-grip"])
    rev = apply(sample.plan, [d], sample.campaign)
    assert_sound(rev, sample)
    proof = rev.plan.scenes[3]
    assert proof.on_screen_text is not None
    assert proof.narration is not None
    # After tb-grip comes tb-weight, already shown in scene 2, then tb-warranty.
    assert proof.on_screen_text.source_id == proof.narration.source_id == "tb-warranty"


def test_a_shorter_caption_when_text_covers_too_much(sample: Sample) -> None:
    d = director("drop_claim", 3, fields=["on_screen_text"], shorter=True)
    rev = apply(sample.plan, [d], sample.campaign)
    assert_sound(rev, sample)
    new = rev.plan.scenes[3].on_screen_text
    assert new is not None
    assert new.source == "claim"
    assert len(new.text) < len("Vibram outsole for grip on wet rock")


def test_drop_claim_removes_the_text_when_no_claim_is_left(sample: Sample) -> None:
    claims = [c.id for c in sample.campaign.product(PRODUCT).verified_claims]
    rev = apply(sample.plan, [director("drop_claim", 2, avoid=claims)], sample.campaign)
    assert_sound(rev, sample)
    assert rev.plan.scenes[2].on_screen_text is None
    assert "removed (no other approved line fits)" in rev.plan.notes[-1]


def test_recaption_of_the_cta_carries_the_voice_over_along(sample: Sample) -> None:
    rev = apply(sample.plan, [director("recaption", None, fields=["cta"])], sample.campaign)
    assert_sound(rev, sample)
    new = rev.plan.cta.text
    assert new.text != "Find your pair"
    assert rev.plan.scenes[4].narration == new


def test_swap_hook_keeps_a_hook_and_never_removes_it(sample: Sample) -> None:
    rev = apply(sample.plan, [director("swap_hook", avoid=["tb-hook-1"])], sample.campaign)
    assert_sound(rev, sample)
    assert rev.plan.scenes[0].on_screen_text is not None
    assert rev.plan.scenes[0].on_screen_text.source_id == "tb-hook-2"
    everything = [c.id for c in sample.campaign.product(PRODUCT).approved_copy] + [
        c.id for c in sample.campaign.product(PRODUCT).verified_claims
    ]
    stuck = apply(sample.plan, [director("swap_hook", avoid=everything)], sample.campaign)
    assert stuck.plan is sample.plan
    assert stuck.skipped[0].reason == "no other approved line fits scene 0 on_screen_text"


def test_every_scene_of_every_sample_plan_recaptions_to_grounded_text(sample: Sample) -> None:
    """Broad sweep: all products, all personalizable users, every text field."""
    ctx = sample.campaign.contexts[0]
    for user in sample.users[:6]:
        profile = sample.planner.profile(user, sample.campaign)
        for product in sample.campaign.products:
            plan = sample.planner.plan(sample.campaign, product, ctx, user, profile)
            for scene in plan.scenes:
                for f in ("on_screen_text", "narration"):
                    if getattr(scene, f) is None:
                        continue
                    d = director("recaption", scene.index, fields=[f])
                    rev = apply(plan, [d], sample.campaign, profile)
                    labels = [i.label for i in profile.interests]
                    for _, _, g in rev.plan.texts():
                        assert grounding_problem(g, product, labels) is None, (plan.plan_id, g)


# --------------------------------------------------------------------------- timing


def test_retime_shortens_the_hook_and_spreads_the_time(sample: Sample) -> None:
    plan = with_hook(sample, 5.0)
    assert [s.duration_s for s in plan.scenes] == [5.0, 1.25, 1.25, 1.25, 1.25]
    rev = apply(plan, [director("retime", 0, duration_s=2.0)], sample.campaign)
    assert_sound(rev, sample)
    assert [s.duration_s for s in rev.plan.scenes] == [2.0, 2.0, 2.0, 2.0, 2.0]
    assert [s.start_s for s in rev.plan.scenes] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert "retime scene 0: 5s -> 2s" in rev.plan.notes[-1]


def test_retime_lands_on_whole_frames(sample: Sample) -> None:
    rev = apply(sample.plan, [director("retime", 1, duration_s=2.7)], sample.campaign)
    assert_sound(rev, sample)
    fps = sample.plan.context.fps
    for scene in rev.plan.scenes:
        assert abs(scene.start_s * fps - round(scene.start_s * fps)) < 1e-6
    assert abs(rev.plan.scenes[1].duration_s - 2.7) <= 1 / fps  # 2.7 s is 67.5 frames
    assert rev.plan.scenes[0] == sample.plan.scenes[0]


def test_restore_context_returns_to_the_campaign_context(sample: Sample) -> None:
    off = Context(platform="feed", aspect_ratio="9:16", duration_s=12.0, fps=30)
    scenes = [
        s.model_copy(update={"start_s": i * 2.4, "duration_s": 2.4})
        for i, s in enumerate(sample.plan.scenes)
    ]
    plan = sample.plan.model_copy(update={"context": off, "scenes": scenes})
    rev = apply(plan, [director("restore_context")], sample.campaign)
    assert_sound(rev, sample)
    assert rev.plan.context == sample.campaign.contexts[0]
    assert [s.duration_s for s in rev.plan.scenes] == [2.0] * 5
    assert rev.full_rerender


# --------------------------------------------------------------------------- visuals


def _campaign_with_images(sample: Sample, expired: bool, extra: bool) -> Campaign:
    campaign = sample.campaign.model_copy(deep=True).with_base_dir(sample.campaign.base_dir)
    product = campaign.product(PRODUCT)
    main = product.asset("tb-main")
    if expired:
        main.license.expires = date(2021, 1, 1)
    if extra:
        spare = Asset(id="tb-side", kind="product_image", path=main.path, license=main.license)
        spare.license = spare.license.model_copy(update={"expires": None})
        product.assets.append(spare)
    return campaign


def test_swap_asset_puts_in_a_licensed_product_image(sample: Sample) -> None:
    campaign = _campaign_with_images(sample, expired=True, extra=True)
    d = director("swap_asset", None, kind="product_image", avoid=["tb-main"])
    rev = apply(sample.plan, [d], campaign)
    assert_sound(rev, sample, campaign)
    assert {tuple(s.asset_ids) for s in rev.plan.scenes} == {("tb-side",)}
    assert rev.fresh_scenes == [0, 1, 2, 3, 4]


def test_swap_asset_without_an_alternative_drops_the_picture(sample: Sample) -> None:
    campaign = _campaign_with_images(sample, expired=True, extra=False)
    rev = apply(sample.plan, [director("swap_asset", 2, kind="product_image")], campaign)
    assert rev.plan.scenes[2].asset_ids == []
    assert rev.plan.scenes[3].asset_ids == ["tb-main"]
    assert rev.fresh_scenes == [2]


def test_swap_asset_of_the_right_file_draws_it_again(sample: Sample) -> None:
    rev = apply(sample.plan, [director("swap_asset", 2, kind="product_image")], sample.campaign)
    assert rev.plan.scenes[2].asset_ids == ["tb-main"]
    assert rev.fresh_scenes == [2]
    assert "['tb-main'] drawn again" in rev.plan.notes[-1]
    logo = apply(sample.plan, [director("swap_asset", kind="logo")], sample.campaign)
    assert logo.plan.logo_asset == "tb-logo"
    assert logo.full_rerender
    no_logo = director("swap_asset", kind="logo", avoid=["tb-logo"])
    gone = apply(sample.plan, [no_logo], sample.campaign)
    assert gone.plan.logo_asset is None


def test_swap_background_replaces_the_users_photo_with_the_palette(sample: Sample) -> None:
    assert sample.plan.scenes[1].background.kind == "image"
    rev = apply(sample.plan, [director("swap_background")], sample.campaign)
    bg = rev.plan.scenes[1].background
    assert (bg.kind, bg.image) == ("gradient", None)
    assert bg.colors == [sample.plan.palette[1], sample.plan.palette[2]]
    assert rev.fresh_scenes == [1]
    assert [s.background for s in rev.plan.scenes[2:]] == [
        s.background for s in sample.plan.scenes[2:]
    ]


def test_reposition_text_and_regenerate_scene(sample: Sample) -> None:
    rev = apply(
        sample.plan,
        [director("reposition_text", 2, position="center"), director("regenerate_scene", 4)],
        sample.campaign,
    )
    assert rev.plan.scenes[2].text_position == "center"
    assert (sample.plan.scenes[4].camera, rev.plan.scenes[4].camera) == ("static", "zoom_in")
    assert rev.fresh_scenes == [2, 4]
    again = apply(rev.plan, [director("reposition_text", 2, position="center")], sample.campaign)
    assert again.plan.scenes[2].text_position == "bottom"
    assert again.plan.plan_id.endswith(".r2")


# --------------------------------------------------------------------------- whole plan


def test_fallback_generic_relabels_the_generic_plan(sample: Sample) -> None:
    d = director("fallback_generic", reason="privacy: the hook names a health condition")
    rev = apply(sample.plan, [d, director("recaption", 1)], sample.campaign, generic=sample.generic)
    assert_sound(rev, sample)
    plan = rev.plan
    assert plan.plan_id == sample.plan.plan_id + ".r1"
    assert (plan.kind, plan.user_id, plan.matching.personalized) == ("generic", None, False)
    assert plan.scenes == sample.generic.scenes
    assert "health condition" in plan.matching.rationale
    assert any("the generic plan" in n for n in plan.notes)
    assert [s.reason for s in rev.skipped] == ["superseded by fallback_generic"]


def test_a_private_line_with_nothing_else_to_say_falls_back(sample: Sample) -> None:
    product = sample.campaign.product(PRODUCT)
    everything = [c.id for c in product.approved_copy] + [c.id for c in product.verified_claims]
    d = director("recaption", 0, templates=False, fallback="generic", avoid=everything)
    rev = apply(sample.plan, [d], sample.campaign, generic=sample.generic)
    assert rev.plan.kind == "generic"
    no_generic = apply(sample.plan, [d], sample.campaign)
    assert no_generic.plan.scenes[0].on_screen_text is None  # removed, never invented


def test_producer_directives_only_mark_scenes(sample: Sample) -> None:
    rev = apply(sample.plan, [producer(3), producer(1)], sample.campaign)
    assert (rev.fresh_scenes, rev.full_rerender) == ([1, 3], False)
    assert rev.plan.scenes == sample.plan.scenes
    full = apply(sample.plan, [producer()], sample.campaign)
    assert full.full_rerender


def test_rerender_restores_the_policy_disclosure(sample: Sample) -> None:
    plan = sample.plan.model_copy(
        update={"disclosure": Disclosure(text="Ad", position="top_left", in_metadata=False)}
    )
    rev = apply(plan, [producer(restore_disclosure=True)], sample.campaign)
    assert rev.plan.disclosure == Disclosure(
        text="AI-generated", position="top_left", in_metadata=True
    )


@pytest.mark.parametrize(
    ("directive", "reason"),
    [
        (director("recaption", 9), "the plan has no scene 9"),
        (director("retime", 0), "retime needs a positive params.duration_s"),
        (director("retime", 0, duration_s=2.0), "scene 0 cannot become 2s (no time to move)"),
        (director("retime", 0, duration_s=3.0, at_most=True), "scene 0 already lasts 2s"),
        (director("retime", 0, duration_s=1.5, at_least=True), "scene 0 already lasts 2s"),
        (director("swap_asset", 1, kind="audio"), "cannot swap assets of kind 'audio'"),
        (director("swap_background", 2), None),
        (director("fallback_generic"), "no generic plan was given to fall back to"),
        (
            director("update_profile", interest="camping", weight_delta=0.1),
            "a profile update, applied to the profile rather than the plan",
        ),
        (director("rerender", 1), "rerender is not a Director action"),
        (
            Directive(target="producer", action="retime", reason="x"),
            "retime is not a Producer action",
        ),
        (producer(7), "the plan has no scene 7"),
    ],
)
def test_directives_that_cannot_apply_are_skipped_with_a_reason(
    sample: Sample, directive: Directive, reason: str | None
) -> None:
    rev = apply(sample.plan, [directive], sample.campaign)
    if reason is None:
        assert rev.applied == [directive]
        return
    assert rev.applied == []
    assert [s.reason for s in rev.skipped] == [reason]
    assert rev.plan is sample.plan


def test_a_skipped_directive_is_noted_beside_the_applied_ones(sample: Sample) -> None:
    rev = apply(sample.plan, [director("recaption", 9), producer(2)], sample.campaign)
    assert rev.plan.notes[-2:] == [
        "round 1: rerender scene 2 (test)",
        "round 1: skipped recaption scene 9: the plan has no scene 9",
    ]


def test_fallback_to_another_products_plan_is_refused(sample: Sample) -> None:
    other = sample.planner.plan(
        sample.campaign, sample.campaign.products[1], sample.campaign.contexts[0]
    )
    rev = apply(sample.plan, [director("fallback_generic")], sample.campaign, generic=other)
    assert rev.skipped[0].reason.startswith("the generic plan is for spring-launch/aura-anc")


def test_a_plan_for_an_unknown_product_is_one_clear_error(sample: Sample) -> None:
    plan = sample.plan.model_copy(update={"product_id": "nope"})
    with pytest.raises(AdloomError, match=r"plan\.product_id: campaign 'spring-launch' has no"):
        apply(plan, [producer()], sample.campaign)


def test_round_suffixes() -> None:
    assert next_plan_id("a.b.s0") == ("a.b.s0.r1", 1)
    assert next_plan_id("a.b.s0.r1") == ("a.b.s0.r2", 2)
    assert next_plan_id("x.r9") == ("x.r10", 10)
