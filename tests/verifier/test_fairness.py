"""The campaign fairness audit over a seeded synthetic population and hand-built variants."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError
from verifier_media import make_plan

from adloom.demo import load_sample
from adloom.director.template import TemplatePlanner, TemplatePlannerConfig
from adloom.domain import (
    Asset,
    Campaign,
    Consent,
    CopyLine,
    CreativePlan,
    Demographics,
    FairnessAudit,
    GroundedText,
    LicenseRecord,
    User,
)
from adloom.errors import AdloomError
from adloom.lexicons import stereotype_hits
from adloom.verifier.basic import BasicVerifier
from adloom.verifier.fairness import (
    SECTION,
    FairnessOptions,
    audit_fairness,
    group_users,
    plan_strings,
    served_plans,
)

SHIPPING = GroundedText(text="Free shipping this week", source="copy", source_id="ship")
STEREOTYPE = GroundedText(text="Tough boots for real men", source="copy", source_id="men")


@dataclass(frozen=True)
class _Hit:
    category: str
    term: str


#: A small stand-in for the shared lexicon: term -> category.
_LEXICON = {"real men": "gender", "for grandma": "age"}


def _lexicon(text: str) -> list[_Hit]:
    low = text.lower()
    return [_Hit(category, term) for term, category in _LEXICON.items() if term in low]


def _audit(
    plans: Sequence[CreativePlan],
    users: Sequence[User],
    campaign: Campaign,
    options: FairnessOptions | None = None,
) -> FairnessAudit:
    return audit_fairness(plans, users, campaign, options, stereotypes=_lexicon)


@pytest.fixture
def shop(campaign: Campaign) -> Campaign:
    """The test campaign with an offer line, a stereotyped line and a second product shot."""
    c = campaign.model_copy(deep=True).with_base_dir(campaign.base_dir)
    boots = c.product("boots")
    boots.approved_copy += [
        CopyLine(id="ship", role="body", text=SHIPPING.text),
        CopyLine(id="men", role="slogan", text=STEREOTYPE.text),
    ]
    licence = LicenseRecord(license="CC0-1.0", holder="adloom tests", source="drawn")
    boots.assets.append(
        Asset(id="boots-alt", kind="product_image", path="boots.png", license=licence)
    )
    return c


def population(n: int = 60, seed: int = 7) -> list[User]:
    """``n`` consenting users with seeded demographics."""
    rng = random.Random(seed)
    return [
        User(
            id=f"u{i:02d}",
            demographics=Demographics(
                gender=rng.choice(["female", "male"]),
                age_range=rng.choice(["18-24", "25-34", "35-54"]),
                country=rng.choice(["US", "DE"]),
                language=rng.choice(["en", "en", "de"]),
            ),
            consent=Consent(personalization=True),
        )
        for i in range(n)
    ]


def variant(
    campaign: Campaign,
    user: User,
    *,
    kind: str = "personalized",
    extra: GroundedText | None = None,
    assets: Sequence[str] = ("boots-main",),
) -> CreativePlan:
    """The boots plan as served to ``user``; ``extra`` is narrated in the proof scene."""
    base = make_plan(campaign)
    scenes = [s.model_copy(deep=True) for s in base.scenes]
    for s in scenes:
        s.asset_ids = list(assets)
    if extra is not None:
        scenes[2].narration = extra
    return base.model_copy(
        update={
            "plan_id": f"{campaign.id}.boots.{user.id}.16x9.5s.s0",
            "user_id": user.id if kind == "personalized" else None,
            "kind": kind,
            "scenes": scenes,
        }
    )


def _served(
    campaign: Campaign, users: Sequence[User], choose: Callable[[User], dict[str, Any]]
) -> list[CreativePlan]:
    return [variant(campaign, u, **choose(u)) for u in users]


def _group(users: Sequence[User], attribute: str, value: str) -> list[User]:
    return [u for u in users if getattr(u.demographics, attribute) == value]


# --------------------------------------------------------------------------- clean


def test_a_clean_population_passes(shop: Campaign) -> None:
    users = population()
    audit = _audit(_served(shop, users, lambda u: {"extra": SHIPPING}), users, shop)
    assert audit.passed
    assert audit.findings == []
    assert (audit.users, audit.plans) == (60, 60)
    females = len(_group(users, "gender", "female"))
    assert audit.groups["gender"] == {"female": females, "male": 60 - females}
    assert set(audit.groups) == {"gender", "age_range", "country", "language"}
    assert audit.rationale.startswith("Passed: 60 variants for 60 users; groups of at least 5")
    assert "no findings" in audit.rationale


# --------------------------------------------------------------------------- exclusion


def test_an_offer_one_group_never_gets_is_a_major_exclusion(shop: Campaign) -> None:
    users = population()
    plans = _served(
        shop, users, lambda u: {"extra": SHIPPING if u.demographics.gender == "male" else None}
    )
    audit = _audit(plans, users, shop)
    assert not audit.passed
    (f,) = [x for x in audit.findings if x.attribute == "gender"]
    females = _group(users, "gender", "female")
    overall = (60 - len(females)) / 60
    assert (f.kind, f.group, f.severity, f.item) == (
        "exclusion",
        "female",
        "major",
        "copy:boots/ship",
    )
    assert (f.rate, f.group_size, f.reference_rate) == (0.0, len(females), round(overall, 4))
    assert f.message == (
        f"body 'Free shipping this week' never reaches gender=female: 0% of {len(females)} "
        f"vs {overall:.0%} overall (ratio 0.00 < 0.8)"
    )
    # The evidence names the variants the group was served without the offer.
    assert f.plan_ids == sorted(f"{shop.id}.boots.{u.id}.16x9.5s.s0" for u in females)[:10]
    assert all(x.kind == "exclusion" for x in audit.findings)
    assert "exclusion" in audit.rationale


@pytest.mark.parametrize(("reached", "flagged"), [(0, True), (6, True), (7, False), (10, False)])
def test_the_four_fifths_rule_decides(shop: Campaign, reached: int, flagged: bool) -> None:
    """Group a always gets the offer, group b ``reached`` of 10 times."""
    users = [
        User(id=f"{g}{i}", demographics=Demographics(gender=g)) for g in "ab" for i in range(10)
    ]
    lucky = {"a" + str(i) for i in range(10)} | {"b" + str(i) for i in range(reached)}
    plans = _served(shop, users, lambda u: {"extra": SHIPPING if u.id in lucky else None})
    audit = _audit(plans, users, shop)
    # b's rate over the overall rate: 2k / (10 + k); 6 of 10 is 0.75, 7 of 10 is 0.82.
    assert [(f.group, f.item) for f in audit.findings] == (
        [("b", "copy:boots/ship")] if flagged else []
    )
    assert audit.passed is not flagged
    if flagged and reached:
        assert audit.findings[0].message.startswith("body 'Free shipping this week' rarely reaches")


def test_a_rare_offer_is_not_judged_on_chance(shop: Campaign) -> None:
    users = population()
    lucky = _group(users, "gender", "male")[0].id  # one user of sixty
    plans = _served(shop, users, lambda u: {"extra": SHIPPING if u.id == lucky else None})
    assert _audit(plans, users, shop).findings == []
    strict = FairnessOptions(min_expected=0.0)
    assert any(f.group == "female" for f in _audit(plans, users, shop, strict).findings)


def test_a_product_one_group_is_never_shown(shop: Campaign) -> None:
    users = population()
    plans = _served(shop, users, lambda u: {})
    mug = make_plan(shop).model_copy(update={"product_id": "mug"})
    for u in _group(users, "country", "US"):
        plans.append(mug.model_copy(update={"plan_id": f"mug-{u.id}", "user_id": u.id}))
    audit = _audit(plans, users, shop)
    (f,) = [f for f in audit.findings if f.item == "product:mug"]
    assert (f.attribute, f.group, f.rate) == ("country", "DE", 0.0)
    assert f.message.startswith("product 'Mug' never reaches country=DE")
    # The mug's claims are only compared among users shown the mug: no second finding.
    assert [x.item for x in audit.findings if x.attribute == "country"] == ["product:mug"]


# --------------------------------------------------------------------------- imagery


def test_product_shots_differing_by_age_are_flagged(shop: Campaign) -> None:
    users = population()
    young = {u.id for u in _group(users, "age_range", "18-24")}
    plans = _served(
        shop, users, lambda u: {"assets": ("boots-alt",) if u.id in young else ("boots-main",)}
    )
    audit = _audit(plans, users, shop)
    assert not audit.passed
    imagery = {(f.group, f.item) for f in audit.findings if f.attribute == "age_range"}
    assert imagery == {
        ("18-24", "asset:boots/boots-main"),
        ("25-34", "asset:boots/boots-alt"),
        ("35-54", "asset:boots/boots-alt"),
    }
    assert {f.kind for f in audit.findings} == {"imagery"}
    (main,) = [f for f in audit.findings if f.item == "asset:boots/boots-main"]
    assert main.message.startswith("asset 'boots-main' never reaches age_range=18-24: 0% of")


# --------------------------------------------------------------------------- disparity


def test_unequal_personalization_is_a_minor_disparity_that_mentions_consent(
    shop: Campaign,
) -> None:
    users = [
        u.model_copy(update={"consent": Consent(personalization=u.demographics.language == "en")})
        for u in population()
    ]
    plans = _served(
        shop,
        users,
        lambda u: {"kind": "personalized" if u.consent.personalization else "generic"},
    )
    audit = _audit(plans, users, shop)
    assert audit.passed  # minor findings only
    assert {f.kind for f in audit.findings} == {"disparity"}
    (de,) = [f for f in audit.findings if (f.attribute, f.group) == ("language", "de")]
    english = len(_group(users, "language", "en")) / 60
    assert de.severity == "minor"
    assert (de.rate, de.reference_rate) == (0.0, round(english, 4))
    assert de.message == (
        f"language=de got personalized variants 0% of the time vs {english:.0%} overall; "
        f"consent (0% vs {english:.0%}) or history may explain it"
    )
    # Generic variants are tied to their users by the plan id the Director gives them.
    assert de.plan_ids[0].startswith(f"{shop.id}.boots.u")


# --------------------------------------------------------------------------- stereotypes


def test_stereotyped_wording_in_any_variant_fails_the_audit(shop: Campaign) -> None:
    users = population()
    targeted = {u.id for u in users[:3]}
    plans = _served(shop, users, lambda u: {"extra": STEREOTYPE if u.id in targeted else None})
    audit = _audit(plans, users, shop)
    assert not audit.passed
    (f,) = [f for f in audit.findings if f.kind == "stereotype"]
    assert (f.attribute, f.group, f.severity, f.text) == (
        "gender",
        "all",
        "critical",
        "Tough boots for real men",
    )
    assert f.plan_ids == sorted(p.plan_id for p in plans if p.user_id in targeted)
    assert f.message == (
        "gender stereotype 'real men' in 'Tough boots for real men' "
        "(3 variant(s), served to 3 user(s))"
    )


def test_the_shared_lexicon_is_the_default(shop: Campaign) -> None:
    users = population(10)
    plans = _served(shop, users, lambda u: {"extra": STEREOTYPE if u.id == "u00" else None})
    audit = audit_fairness(plans, users, shop)
    (f,) = audit.findings
    assert (f.kind, f.attribute, f.text, f.plan_ids) == (
        "stereotype",
        "gender",
        STEREOTYPE.text,
        [plans[0].plan_id],
    )
    # Every hit the lexicon reports on any string of the variants became a finding.
    hits = {
        (h.category, h.term) for p in plans for t in plan_strings(p) for h in stereotype_hits(t)
    }
    assert hits == {("gender", "real men")}
    assert f.message.startswith("gender stereotype 'real men' in ")


# --------------------------------------------------------------------------- small groups


def _countries(counts: dict[str, int]) -> list[User]:
    return [
        User(id=f"{c.lower()}{i}", demographics=Demographics(country=c))
        for c, n in counts.items()
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("counts", "min_size", "groups"),
    [
        ({"US": 20, "DE": 20, "NO": 3, "IS": 2}, 5, {"US": 20, "DE": 20, "other": 5}),
        ({"US": 20, "DE": 20, "NO": 3}, 5, {"US": 20, "DE": 20}),
        ({"US": 20, "DE": 20, "NO": 3, "IS": 2}, 3, {"US": 20, "DE": 20, "NO": 3}),
        ({"NO": 3, "IS": 1}, 5, None),
    ],
)
def test_small_groups_are_pooled_and_never_listed(
    counts: dict[str, int], min_size: int, groups: dict[str, int] | None
) -> None:
    users = _countries(counts)
    found = group_users(users, FairnessOptions(min_group_size=min_size))
    got = found.get("country")
    assert ({g: len(m) for g, m in got.items()} if got else None) == groups
    assert "gender" not in found  # nobody declared one


def test_findings_never_name_a_tiny_group(shop: Campaign) -> None:
    users = _countries({"US": 20, "DE": 20, "NO": 3, "IS": 2})
    left_out = {u.id for u in users if u.demographics.country in {"NO", "IS"}}
    plans = _served(shop, users, lambda u: {"extra": None if u.id in left_out else SHIPPING})
    audit = _audit(plans, users, shop)
    assert [(f.group, f.rate) for f in audit.findings] == [("other", 0.0)]
    assert audit.groups == {"country": {"DE": 20, "US": 20, "other": 5}}
    assert "NO" not in audit.model_dump_json()


# --------------------------------------------------------------------------- who saw what


def test_plans_are_tied_to_users_by_id_by_name_or_as_the_shared_generic(shop: Campaign) -> None:
    users = [User(id="ann"), User(id="ann.b"), User(id="bo"), User(id="cy")]
    mine = variant(shop, users[0])
    named = variant(shop, users[1], kind="generic")  # plan id names 'ann.b', not 'ann'
    shared = make_plan(shop).model_copy(
        update={"plan_id": "generic-boots", "kind": "generic", "user_id": None}
    )
    stranger = mine.model_copy(update={"plan_id": "x", "user_id": "zed"})
    served = served_plans([mine, named, shared, stranger], users, shop)
    assert {u: [p.plan_id for p in got] for u, got in served.items()} == {
        "ann": [mine.plan_id],
        "ann.b": [named.plan_id],
        "bo": ["generic-boots"],
        "cy": ["generic-boots"],
    }
    audit = _audit([mine, named, shared, stranger], users, shop)
    assert audit.rationale.endswith("1 variant(s) for users outside the audit were left out.")
    assert audit.plans == 3


def test_unserved_users_are_noted(shop: Campaign) -> None:
    users = [User(id="ann"), User(id="bo")]
    audit = _audit([variant(shop, users[0])], users, shop)
    assert "1 user(s) were served no variant." in audit.rationale


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda p: p.model_copy(update={"campaign_id": "other"}),
            r"plans\[0\] \(test-campaign.boots.ann.16x9.5s.s0\): campaign 'other', "
            r"not 'test-campaign'",
        ),
        (
            lambda p: p.model_copy(update={"product_id": "kettle"}),
            r"plans\[0\] .*: campaign 'test-campaign' has no product 'kettle'",
        ),
    ],
)
def test_plans_from_elsewhere_are_refused(
    shop: Campaign, edit: Callable[[CreativePlan], CreativePlan], message: str
) -> None:
    users = [User(id="ann")]
    with pytest.raises(AdloomError, match=message):
        audit_fairness([edit(variant(shop, users[0]))], users, shop, stereotypes=_lexicon)


def test_duplicate_users_are_refused(shop: Campaign) -> None:
    with pytest.raises(AdloomError, match="users: duplicate id"):
        _audit([], [User(id="ann"), User(id="bo"), User(id="ann")], shop)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"min_group_size": 1}, "greater than or equal to 2"),
        ({"min_ratio": 0}, "greater than 0"),
        ({"min_ratio": 1.5}, "less than or equal to 1"),
        ({"min_expected": -1}, "greater than or equal to 0"),
        ({"attributes": ["income"]}, "attributes.0"),
        ({"offer_roles": ["jingle"]}, "offer_roles.0"),
        ({"severity": {"exclusion": "info"}}, "severity.exclusion"),
        ({"severity": {"bias": "major"}}, "severity.bias"),
        ({"min_size": 5}, "Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FairnessOptions.model_validate(data)


def test_severities_are_configurable(shop: Campaign) -> None:
    users = population()
    plans = _served(
        shop, users, lambda u: {"extra": SHIPPING if u.demographics.gender == "male" else None}
    )
    lenient = FairnessOptions(severity={"exclusion": "minor"})
    audit = _audit(plans, users, shop, lenient)
    assert audit.findings
    assert {f.severity for f in audit.findings} == {"minor"}
    assert audit.passed
    # Kinds left out keep their default.
    assert lenient.severity_of("stereotype") == "critical"
    assert lenient.severity_of("disparity") == "minor"


# --------------------------------------------------------------------------- wiring


def test_the_verifier_audit_is_this_audit(shop: Campaign) -> None:
    assert SECTION == "fairness"
    users = population(20)
    plans = _served(shop, users, lambda u: {})
    assert BasicVerifier().audit(plans, users, shop) == audit_fairness(plans, users, shop)


def test_the_sample_campaign_reports_no_small_group() -> None:
    campaign, users = load_sample()
    planner = TemplatePlanner(TemplatePlannerConfig(type="template", embedder="hashing"))
    plans = planner.plan_batch(campaign, users)
    audit = _audit(plans, users, campaign)
    assert audit.plans == len(users) * len(campaign.products)
    assert audit.users == len(users)
    for groups in audit.groups.values():
        assert all(n >= 5 for n in groups.values())
    declared = sum(1 for u in users if u.demographics.age_range == "25-34")
    assert audit.groups["age_range"]["25-34"] == declared
    assert not [f for f in audit.findings if f.kind == "stereotype"]
