"""Every string a plan emits is approved text; every asset is the product's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from adloom.director.grounding import NEUTRAL_PALETTE, blend_palette, ground_assets
from adloom.director.storyboard import build_storyboard
from adloom.director.template import TemplatePlanner
from adloom.domain import Campaign, Context, CreativePlan, Product, User
from adloom.grounding import grounding_problem
from adloom.io import load_campaign, load_users

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "adloom" / "sample"
CONTEXTS = [
    Context(duration_s=5),
    Context(duration_s=12, aspect_ratio="9:16"),
    Context(duration_s=30),
]


def assert_grounded(plan: CreativePlan, product: Product, labels: list[str]) -> None:
    texts = plan.texts()
    assert texts
    for scene, field, item in texts:
        problem = grounding_problem(item, product, labels)
        assert problem is None, f"scene {scene} {field}: {problem}"
    ids = {a.id for a in product.assets}
    for s in plan.scenes:
        assert set(s.asset_ids) <= ids
    assert plan.logo_asset is None or plan.logo_asset in ids


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda c: f"{c.duration_s:g}s-{c.aspect_ratio}")
def test_every_text_is_grounded_for_every_user(
    planner: TemplatePlanner, campaign: Campaign, users: list[User], context: Context
) -> None:
    for user in users:
        profile = planner.profile(user, campaign)
        labels = [i.label for i in profile.interests]
        for product in campaign.products:
            plan = planner.plan(campaign, product, context, user, profile)
            assert_grounded(plan, product, labels)


def test_sample_campaign_is_grounded_for_every_user(planner: TemplatePlanner) -> None:
    if not (SAMPLE / "campaign.json").is_file():
        pytest.skip("sample campaign not bundled")
    campaign = load_campaign(SAMPLE / "campaign.json")
    users = load_users(SAMPLE / "users.json")
    plans = planner.plan_batch(campaign, users)
    assert len(plans) == len(users) * len(campaign.products) * len(campaign.contexts)
    profiles = planner.profile_many(users)
    requests = [(u, p) for u in users for p in campaign.products for _ in campaign.contexts]
    for plan, (user, product) in zip(plans, requests, strict=True):
        assert plan.product_id == product.id
        assert_grounded(plan, product, [i.label for i in profiles[user.id].interests])
    assert {p.kind for p in plans} == {"personalized", "generic"}


def test_generic_plan_carries_no_user_data(
    planner: TemplatePlanner, campaign: Campaign, users: list[User]
) -> None:
    private = next(u for u in users if u.id == "private")
    product = campaign.product("boots")
    plan = planner.plan(campaign, product, Context(duration_s=12), private)
    assert plan.kind == "generic"
    assert plan.user_id is None
    assert plan.profile_summary == ""
    assert plan.palette == product.palette
    assert all(s.background.kind != "image" for s in plan.scenes)
    assert "Trail running" not in plan.model_dump_json()


def test_personalized_plan_uses_user_imagery_and_colours(
    planner: TemplatePlanner, campaign: Campaign, users: list[User]
) -> None:
    hiker = next(u for u in users if u.id == "hiker")
    product = campaign.product("boots")
    profile = planner.profile(hiker)
    plan = planner.plan(campaign, product, Context(duration_s=12), hiker, profile)
    assert plan.kind == "personalized"
    assert plan.palette[0] == product.palette[0]  # brand lead colour kept
    assert set(plan.palette) & set(profile.visual.palette)
    assert 3 <= len(plan.palette) <= 5
    context = next(s for s in plan.scenes if s.role == "context")
    assert context.background.kind == "image"
    assert context.background.image == hiker.history[0].image
    assert plan.logo_asset == "boots-logo"
    assert all(s.asset_ids == ["boots-main"] for s in plan.scenes)


def test_backgrounds_are_palette_gradients(planner: TemplatePlanner, campaign: Campaign) -> None:
    plan = planner.plan(campaign, campaign.product("mug"), Context(duration_s=15))
    for s in plan.scenes:
        assert s.background.kind in {"gradient", "solid"}
        assert set(s.background.colors) <= set(plan.palette)


@pytest.mark.parametrize(
    ("brand", "user", "expected"),
    [
        (["#112233"], ["#ddeeff", "#aa0000"], ["#112233", "#ddeeff", "#aa0000"]),
        (["#112233", "#f0f0f0"], ["#112234"], ["#112233", "#f0f0f0"]),  # near-duplicate
        ([], ["#aa0000"], [NEUTRAL_PALETTE[0], "#aa0000", *NEUTRAL_PALETTE[1:]]),
    ],
)
def test_blend_palette(brand: list[str], user: list[str], expected: list[str]) -> None:
    assert blend_palette(brand, user) == expected


def test_product_without_images_grounds_on_colour(campaign: Campaign) -> None:
    product = campaign.product("boots").model_copy(update={"assets": [], "palette": []})
    story = build_storyboard(product, Context(duration_s=6), claim_order=[], interest=None)
    g = ground_assets(story.scenes, product, personalized=False)
    assert g.logo_asset is None
    assert g.palette == NEUTRAL_PALETTE
    assert all(s.asset_ids == [] for s in g.scenes)
    assert any("no product_image" in n for n in g.notes)
