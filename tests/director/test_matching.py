from __future__ import annotations

import numpy as np
import pytest

from adloom.director.embeddings import HashingEmbedder, MiniLMEmbedder
from adloom.director.matching import Matcher, facets_of, interest_text, is_sensitive
from adloom.director.template import TemplatePlanner, TemplatePlannerConfig
from adloom.domain import Campaign, Interest, User, UserProfile


def by_id(users: list[User], uid: str) -> User:
    return next(u for u in users if u.id == uid)


def test_compatible_user_gets_a_personalized_match(
    planner: TemplatePlanner, campaign: Campaign, users: list[User]
) -> None:
    hiker = by_id(users, "hiker")
    profile = planner.profile(hiker, campaign)
    match = planner.matcher.match(profile, campaign.product("boots"), 0.3).decision
    assert match.personalized
    assert match.compatibility >= 0.3
    assert match.interest in {i.label for i in profile.interests}
    assert match.rationale.startswith("personalized:")
    assert [f.score for f in match.facets] == sorted((f.score for f in match.facets), reverse=True)
    assert match.facets[0].score == pytest.approx(match.compatibility, abs=1e-3)


@pytest.mark.parametrize(("threshold", "kind"), [(0.0, "personalized"), (0.99, "generic")])
def test_threshold_override_decides(
    minilm: MiniLMEmbedder,
    campaign: Campaign,
    users: list[User],
    threshold: float,
    kind: str,
) -> None:
    planner = TemplatePlanner(
        TemplatePlannerConfig(min_compatibility=threshold),
        embedder=minilm,
    )
    plan = planner.plan(
        campaign, campaign.product("boots"), campaign.contexts[0], by_id(users, "hiker")
    )
    assert plan.kind == kind
    assert plan.matching.threshold == threshold
    if kind == "generic":
        assert "< threshold 0.99" in plan.matching.rationale
        assert plan.matching.interest is None
        assert plan.notes[0] == plan.matching.rationale


def test_campaign_policy_threshold_is_the_default(
    planner: TemplatePlanner, campaign: Campaign, users: list[User]
) -> None:
    campaign.policy.min_compatibility = 0.99
    plan = planner.plan(
        campaign, campaign.product("boots"), campaign.contexts[0], by_id(users, "hiker")
    )
    assert plan.kind == "generic"
    assert plan.matching.threshold == 0.99


@pytest.mark.parametrize(
    ("uid", "reason"),
    [("private", "no personalization consent"), ("newbie", "no interaction history")],
)
def test_unpersonalizable_users_get_generic_with_reason(
    fast_planner: TemplatePlanner, campaign: Campaign, users: list[User], uid: str, reason: str
) -> None:
    plan = fast_planner.plan(
        campaign, campaign.product("boots"), campaign.contexts[0], by_id(users, uid)
    )
    assert plan.kind == "generic"
    assert plan.matching.rationale == f"generic: {reason}"
    assert f"generic: {reason}" in plan.notes
    assert plan.user_id is None


def test_compatibility_formula(hashing: HashingEmbedder, campaign: Campaign) -> None:
    product = campaign.product("boots")
    interests = [
        Interest(label="waterproof gear", weight=0.25, tier="medium"),
        Interest(label="opera", weight=0.75, tier="strong", keywords=["arias"]),
    ]
    profile = UserProfile(user_id="u", personalizable=True, reason="test", interests=interests)
    decision = Matcher(hashing).match(profile, product, 0.0).decision

    facets = facets_of(product)
    iv = hashing.embed([interest_text(i) for i in interests])
    fv = hashing.embed([f.text for f in facets])
    factor = np.array([0.5 + 0.5 * 0.25 / 0.75, 1.0])
    expected = float((hashing.to_score(iv @ fv.T) * factor[:, None]).max())
    assert decision.compatibility == pytest.approx(expected, abs=1e-4)
    assert decision.interest == "waterproof gear"  # a minor interest can win on fit


def test_facets_are_points_claims_and_category(campaign: Campaign) -> None:
    facets = facets_of(campaign.product("boots"))
    assert [f.kind for f in facets] == ["point"] * 3 + ["claim"] * 2 + ["category"]
    assert [f.claim_id for f in facets if f.kind == "claim"] == ["c-waterproof", "c-weight"]


def test_sensitive_interests_are_never_used(hashing: HashingEmbedder, campaign: Campaign) -> None:
    profile = UserProfile(
        user_id="u",
        personalizable=True,
        reason="test",
        interests=[Interest(label="diabetes", weight=1.0, tier="strong")],
    )
    decision = Matcher(hashing).match(profile, campaign.product("boots"), 0.0).decision
    assert not decision.personalized
    assert "sensitive" in decision.rationale


@pytest.mark.parametrize(
    ("label", "sensitive"),
    [("hiking", False), ("Diabetes care", True), ("LGBTQ travel", True), ("coffee", False)],
)
def test_is_sensitive(label: str, sensitive: bool) -> None:
    assert is_sensitive(label) is sensitive


def test_personalized_plan_puts_the_best_claim_first(
    planner: TemplatePlanner, campaign: Campaign, users: list[User]
) -> None:
    product = campaign.product("boots")
    hiker = by_id(users, "hiker")
    match = planner.matcher.match(planner.profile(hiker), product, 0.0)
    ranked = {f.facet: f.score for f in match.decision.facets}
    claims = {c.id: c.text for c in product.verified_claims}
    first, second = (claims[c] for c in match.claim_order)
    assert ranked.get(first, 0.0) >= ranked.get(second, 0.0)
