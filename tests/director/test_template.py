from __future__ import annotations

import pytest

from adloom import registry
from adloom.director import Planner
from adloom.director.embeddings import HashingEmbedder, MiniLMEmbedder
from adloom.director.template import TemplatePlanner, TemplatePlannerConfig
from adloom.domain import Campaign, Context, CreativePlan, User
from adloom.errors import AdloomError


def by_id(users: list[User], uid: str) -> User:
    return next(u for u in users if u.id == uid)


@pytest.mark.parametrize("uid", ["hiker", "newbie", "private", "polyglot", None])
def test_plan_json_round_trip(
    planner: TemplatePlanner, campaign: Campaign, users: list[User], uid: str | None
) -> None:
    user = by_id(users, uid) if uid else None
    plan = planner.plan(campaign, campaign.product("boots"), campaign.contexts[0], user)
    assert CreativePlan.model_validate_json(plan.model_dump_json()) == plan


def test_same_inputs_same_plan(
    minilm: MiniLMEmbedder, campaign: Campaign, users: list[User]
) -> None:
    hiker = by_id(users, "hiker")
    context = Context(duration_s=15, aspect_ratio="9:16")
    a = TemplatePlanner(embedder=minilm).plan(campaign, campaign.products[0], context, hiker)
    b = TemplatePlanner(embedder=MiniLMEmbedder()).plan(
        campaign, campaign.products[0], context, hiker
    )
    assert a == b
    assert a.model_dump_json() == b.model_dump_json()


def test_plan_fields(planner: TemplatePlanner, campaign: Campaign, users: list[User]) -> None:
    product = campaign.product("boots")
    context = Context(duration_s=10, aspect_ratio="9:16")
    plan = planner.plan(campaign, product, context, by_id(users, "hiker"), seed=3)
    assert plan.plan_id == "test-campaign.boots.hiker.9x16.10s.s3"
    assert plan.kind == "personalized"
    assert plan.user_id == "hiker"
    assert plan.planner == "template"
    assert plan.seed == 3
    assert plan.context == context
    assert plan.cta.url == product.landing_url
    assert plan.disclosure.text == campaign.policy.disclosure_text
    assert plan.profile_summary
    assert plan.tone != ""
    assert plan.notes[0] == plan.matching.rationale


def test_no_user_gives_the_generic_plan(planner: TemplatePlanner, campaign: Campaign) -> None:
    plan = planner.plan(campaign, campaign.product("mug"), campaign.contexts[0])
    assert plan.kind == "generic"
    assert plan.user_id is None
    assert plan.plan_id.startswith("test-campaign.mug.generic.")
    assert plan.matching.rationale == "generic: no user given"
    assert plan.tone == "neutral"


def test_profile_of_another_user_is_refused(
    fast_planner: TemplatePlanner, campaign: Campaign, users: list[User]
) -> None:
    profile = fast_planner.profile(by_id(users, "hiker"), campaign)
    with pytest.raises(AdloomError, match="not 'polyglot'"):
        fast_planner.plan(
            campaign, campaign.products[0], campaign.contexts[0], by_id(users, "polyglot"), profile
        )


def test_batch_equals_one_by_one(
    hashing: HashingEmbedder, campaign: Campaign, users: list[User]
) -> None:
    contexts = [Context(duration_s=6), Context(duration_s=12, aspect_ratio="9:16")]
    batch = TemplatePlanner(embedder=hashing).plan_batch(campaign, users, contexts=contexts)
    single = TemplatePlanner(embedder=HashingEmbedder())
    expected = [
        single.plan(campaign, p, c, u, seed=0)
        for u in users
        for p in campaign.products
        for c in contexts
    ]
    assert batch == expected


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_seed_is_recorded_and_plans_stay_valid(
    fast_planner: TemplatePlanner, campaign: Campaign, users: list[User], seed: int
) -> None:
    plan = fast_planner.plan(
        campaign, campaign.products[0], Context(duration_s=30), by_id(users, "hiker"), seed=seed
    )
    assert plan.seed == seed
    assert plan.plan_id.endswith(f".s{seed}")


def test_registry_builds_the_planner_lazily(campaign: Campaign, users: list[User]) -> None:
    planner = registry.create("planner", {"type": "template", "embedder": "hashing"}, "template")
    assert isinstance(planner, TemplatePlanner)
    assert isinstance(planner, Planner)
    assert planner._embedder is None  # nothing loaded until the first plan
    plan = planner.plan(campaign, campaign.products[0], campaign.contexts[0], by_id(users, "hiker"))
    assert isinstance(planner.embedder, HashingEmbedder)
    assert plan.planner == "template"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "template", "min_compatibility": 1.5}, "min_compatibility"),
        ({"type": "template", "temperature": 0.3}, "temperature"),
        ({"type": "template", "max_on_screen_chars": 3}, "max_on_screen_chars"),
    ],
)
def test_bad_planner_config(spec: dict[str, object], message: str) -> None:
    with pytest.raises(AdloomError, match=message):
        registry.create("planner", spec, "template")


def test_config_embedder_accepts_a_full_spec() -> None:
    cfg = TemplatePlannerConfig(embedder={"type": "hashing", "dim": 64})
    planner = TemplatePlanner(cfg)
    assert planner.embedder.dim == 64
