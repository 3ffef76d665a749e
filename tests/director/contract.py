"""The Director contract: what every planner backend guarantees, whatever plans it.

A test class runs it against a backend by mixing in :class:`PlannerContract` and
providing a ``contract_planner`` fixture; the campaign and users come from the shared
fixtures. Taste is not part of the contract (a tiny model plans poorly); types, grounding,
consent, the generic fallback and the plan's framing are.
"""

from __future__ import annotations

import pytest

from adloom.director import Planner
from adloom.domain import Campaign, Context, CreativePlan, User
from adloom.errors import AdloomError
from adloom.grounding import grounding_problem


def by_id(users: list[User], uid: str) -> User:
    return next(u for u in users if u.id == uid)


def assert_grounded(plan: CreativePlan, campaign: Campaign) -> None:
    product = campaign.product(plan.product_id)
    values = [plan.matching.interest] if plan.matching.interest else []
    for scene, where, item in plan.texts():
        assert grounding_problem(item, product, values) is None, (scene, where, item)


def assert_framed(plan: CreativePlan, campaign: Campaign, context: Context, user: User) -> None:
    """What any plan for ``user`` must be, however it was made (used on single real-
    server plans, where running the whole contract would be too slow)."""
    product = campaign.product(plan.product_id)
    assert CreativePlan.model_validate_json(plan.model_dump_json()) == plan
    assert_grounded(plan, campaign)
    assert plan.context == context
    assert plan.matching.personalized == (plan.kind == "personalized")
    assert plan.user_id == (user.id if plan.kind == "personalized" else None)
    assert plan.cta.url == product.landing_url
    assert plan.disclosure.text == campaign.policy.disclosure_text
    assert abs(plan.scenes[-1].end_s - context.duration_s) < 0.05
    own = {a.id for a in product.assets}
    assert all(set(s.asset_ids) <= own for s in plan.scenes)
    assert plan.palette[0] == product.palette[0]


class PlannerContract:
    """Mix into a test class that provides a ``contract_planner`` fixture."""

    def test_is_a_planner(self, contract_planner: Planner) -> None:
        assert isinstance(contract_planner, Planner)

    def test_personalized_plan_is_valid_and_grounded(
        self, contract_planner: Planner, campaign: Campaign, users: list[User]
    ) -> None:
        hiker = by_id(users, "hiker")
        context = Context(duration_s=6.0)
        plan = contract_planner.plan(campaign, campaign.product("boots"), context, hiker, seed=2)
        assert CreativePlan.model_validate_json(plan.model_dump_json()) == plan
        assert_grounded(plan, campaign)
        assert plan.context == context
        assert plan.seed == 2
        assert plan.plan_id == "test-campaign.boots.hiker.16x9.6s.s2"
        assert plan.cta.url == campaign.product("boots").landing_url
        assert plan.disclosure.text == campaign.policy.disclosure_text
        assert plan.kind in ("personalized", "generic")
        assert plan.matching.personalized == (plan.kind == "personalized")
        assert plan.user_id == ("hiker" if plan.kind == "personalized" else None)
        assert plan.notes, "a plan explains its decisions"

    def test_no_user_gives_the_generic_plan(
        self, contract_planner: Planner, campaign: Campaign
    ) -> None:
        plan = contract_planner.plan(campaign, campaign.product("mug"), campaign.contexts[0])
        assert plan.kind == "generic"
        assert plan.user_id is None
        assert plan.profile_summary == ""
        assert plan.matching.rationale == "generic: no user given"
        assert_grounded(plan, campaign)

    def test_no_consent_means_generic_and_no_profile(
        self, contract_planner: Planner, campaign: Campaign, users: list[User]
    ) -> None:
        private = by_id(users, "private")
        profile = contract_planner.profile(private, campaign)
        assert not profile.personalizable
        assert profile.interests == []
        plan = contract_planner.plan(campaign, campaign.product("boots"), Context(), private)
        assert plan.kind == "generic"
        assert plan.user_id is None
        assert plan.profile_summary == ""
        assert "consent" in plan.matching.rationale

    def test_user_without_history_gets_the_generic_plan(
        self, contract_planner: Planner, campaign: Campaign, users: list[User]
    ) -> None:
        plan = contract_planner.plan(
            campaign, campaign.product("boots"), Context(duration_s=5), by_id(users, "newbie")
        )
        assert plan.kind == "generic"
        assert_grounded(plan, campaign)

    def test_scenes_tile_the_duration_and_use_only_product_assets(
        self, contract_planner: Planner, campaign: Campaign, users: list[User]
    ) -> None:
        product = campaign.product("boots")
        context = Context(duration_s=10.0, aspect_ratio="9:16")
        plan = contract_planner.plan(campaign, product, context, by_id(users, "hiker"))
        assert plan.scenes[0].start_s == 0.0
        assert abs(plan.scenes[-1].end_s - 10.0) < 0.05
        assert all(2.0 - 1e-6 <= s.duration_s <= 3.0 + 1e-6 for s in plan.scenes)
        own = {a.id for a in product.assets}
        assert all(set(s.asset_ids) <= own for s in plan.scenes)
        assert plan.logo_asset in own
        assert plan.palette[0] == product.palette[0]
        for scene in plan.scenes:
            assert scene.background.image is None or plan.kind == "personalized"

    def test_profile_of_another_user_is_refused(
        self, contract_planner: Planner, campaign: Campaign, users: list[User]
    ) -> None:
        profile = contract_planner.profile(by_id(users, "private"), campaign)
        with pytest.raises(AdloomError, match="not 'hiker'"):
            contract_planner.plan(
                campaign, campaign.products[0], campaign.contexts[0], by_id(users, "hiker"), profile
            )
