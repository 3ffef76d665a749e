"""The campaign fairness audit: the variants one campaign served, compared across groups.

Each creative can pass every check and the campaign still be unfair: a discount line
that only ever reaches one age band, product shots that differ by gender, one country
almost never personalized. That is a property of the set of variants, so it is audited
once per campaign (:func:`audit_fairness`, the Verifier's ``audit``), never per creative.

Users are grouped by each demographic attribute they declare. Groups smaller than
``min_group_size`` are never reported on their own (a finding about three people
identifies them); they are pooled as ``other``. Reach is compared with the four-fifths
rule used in adverse-impact analysis: a group reached at under ``min_ratio`` of the
overall rate is flagged, provided the overall rate predicts at least ``min_expected``
members of the group reached (fewer is chance, not a pattern). Findings:

* ``stereotype``: wording tied to a demographic group in any variant (the shared lexicon
  in :mod:`adloom.lexicons`);
* ``exclusion``: a product, claim or approved copy line one group rarely or never gets;
* ``imagery``: assets (product shots, logos, background images) that differ by group;
* ``disparity``: the share of personalized variants differing by group; minor, because
  consent and history legitimately differ, and the finding says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from adloom.domain import AuditFinding, Campaign, CreativePlan, FairnessAudit, User
from adloom.errors import AdloomError
from adloom.lexicons import stereotype_hits

#: The config section of :class:`FairnessOptions` in a verifier's config.
SECTION = "fairness"

Attribute = Literal["gender", "age_range", "country", "language"]
FindingKind = Literal["stereotype", "exclusion", "imagery", "disparity"]
FindingSeverity = Literal["minor", "major", "critical"]
OfferRole = Literal["headline", "hook", "body", "slogan", "cta"]

#: Name of the pooled group of users whose own group is too small to report.
OTHER = "other"
#: Group named by a stereotype finding: the wording is wrong whoever sees it.
EVERYONE = "all"
_RANK = {"minor": 1, "major": 2, "critical": 3}


def _all_attributes() -> list[Attribute]:
    return ["gender", "age_range", "country", "language"]


def _offer_roles() -> list[OfferRole]:
    return ["headline", "body", "slogan", "cta"]


def _severities() -> dict[FindingKind, FindingSeverity]:
    return {
        "stereotype": "critical",
        "exclusion": "major",
        "imagery": "major",
        "disparity": "minor",
    }


class FairnessOptions(BaseModel):
    """Settings of the fairness audit (config section ``fairness``)."""

    model_config = ConfigDict(extra="forbid")

    attributes: list[Attribute] = Field(
        default_factory=_all_attributes,
        description="Demographic attributes users are grouped by.",
    )
    min_group_size: int = Field(
        5,
        ge=2,
        description="Smallest group reported on its own; smaller ones are pooled as 'other' "
        "(and dropped if the pool is still smaller), so no finding points at a few people.",
    )
    min_ratio: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="A group reached at less than this share of the overall rate is flagged "
        "(the four-fifths rule).",
    )
    min_expected: float = Field(
        2.0,
        ge=0.0,
        description="Only judge a group on something the overall rate says it should get at "
        "least this many times; below that a gap is chance.",
    )
    offer_roles: list[OfferRole] = Field(
        default_factory=_offer_roles,
        description="Roles of approved copy treated as offers. Hooks are left out by "
        "default: personalization swaps them, and 'disparity' covers that.",
    )
    severity: dict[FindingKind, FindingSeverity] = Field(
        default_factory=_severities,
        description="Severity per finding kind (kinds left out keep their default); a "
        "major or critical finding fails the audit.",
    )

    def severity_of(self, kind: FindingKind) -> FindingSeverity:
        return self.severity.get(kind, _severities()[kind])


class Hit(Protocol):
    """A lexicon match: the category of wording found and the term that matched."""

    @property
    def category(self) -> str: ...

    @property
    def term(self) -> str: ...


StereotypeMatcher = Callable[[str], Sequence[Hit]]


# --------------------------------------------------------------------------- who saw what


def _named_user(plan: CreativePlan, campaign_id: str, user_ids: set[str]) -> str | None:
    """The user a generic plan was made for, from the Director's id convention.

    Plans are named ``<campaign>.<product>.<user>.<aspect>.<duration>.<seed>``; a user
    who fell back to the generic creative gets a plan with ``user_id`` None but their id
    in its name. The longest matching id wins, as ids may contain dots.
    """
    prefix = f"{campaign_id}.{plan.product_id}."
    if not plan.plan_id.startswith(prefix):
        return None
    rest = plan.plan_id[len(prefix) :]
    found = [u for u in user_ids if rest.startswith(u + ".")]
    return max(found, key=len) if found else None


def served_plans(
    plans: Sequence[CreativePlan], users: Sequence[User], campaign: Campaign
) -> dict[str, list[CreativePlan]]:
    """User id -> the variants that user was served.

    A plan belongs to its ``user_id``, or to the user its id names. A generic plan that
    names nobody is the product's shared generic creative: every user who got no other
    variant of that product was served it.
    """
    seen: Counter[str] = Counter(u.id for u in users)
    dupes = sorted(u for u, n in seen.items() if n > 1)
    if dupes:
        raise AdloomError(f"users: duplicate id(s) {', '.join(dupes)}")
    products = {p.id for p in campaign.products}
    ids = set(seen)
    out: dict[str, list[CreativePlan]] = {u.id: [] for u in users}
    shared: dict[str, list[CreativePlan]] = {}
    for i, plan in enumerate(plans):
        if plan.campaign_id != campaign.id:
            raise AdloomError(
                f"plans[{i}] ({plan.plan_id}): campaign {plan.campaign_id!r}, not {campaign.id!r}"
            )
        if plan.product_id not in products:
            raise AdloomError(
                f"plans[{i}] ({plan.plan_id}): campaign {campaign.id!r} has no product "
                f"{plan.product_id!r}"
            )
        owner = plan.user_id if plan.user_id in ids else None
        if owner is None and plan.user_id is None:
            owner = _named_user(plan, campaign.id, ids)
            if owner is None:
                shared.setdefault(plan.product_id, []).append(plan)
                continue
        if owner is not None:
            out[owner].append(plan)
    for got in out.values():
        have = {p.product_id for p in got}
        for pid, generic in shared.items():
            if pid not in have:
                got.extend(generic)
    return out


def _value(user: User, attribute: str) -> str | None:
    raw = getattr(user.demographics, attribute)
    value = raw.strip() if isinstance(raw, str) else None
    return value or None


def group_users(users: Sequence[User], options: FairnessOptions) -> dict[str, dict[str, list[str]]]:
    """attribute -> group -> user ids, small groups pooled as ``other`` (or dropped)."""
    out: dict[str, dict[str, list[str]]] = {}
    for attribute in options.attributes:
        raw: dict[str, list[str]] = {}
        for user in users:
            value = _value(user, attribute)
            if value is not None:
                raw.setdefault(value, []).append(user.id)
        groups: dict[str, list[str]] = {}
        pooled: list[str] = []
        for value, members in sorted(raw.items()):
            if len(members) >= options.min_group_size:
                groups.setdefault(value, []).extend(members)
            else:
                pooled.extend(members)
        if len(pooled) >= options.min_group_size:
            groups.setdefault(OTHER, []).extend(pooled)
        if groups:
            out[attribute] = groups
    return out


# --------------------------------------------------------------------------- reach


@dataclass(frozen=True)
class Item:
    """Something a user may be served: a product, an offer or an image."""

    key: str
    label: str
    #: The product a user must have been served to be eligible (None: everyone).
    product_id: str | None


def offers_of(plan: CreativePlan, campaign: Campaign, options: FairnessOptions) -> list[Item]:
    """The product, its claims and its offer copy lines a plan shows or says."""
    product = campaign.product(plan.product_id)
    pid = product.id
    roles = {c.id: c for c in product.approved_copy}
    out = [Item(f"product:{pid}", f"product {product.name!r}", None)]
    for _, _, g in plan.texts():
        if g.source == "claim":
            out.append(Item(f"claim:{pid}/{g.source_id}", f"claim {g.text!r}", pid))
            continue
        line = roles.get(g.source_id)
        if line is not None and line.role in options.offer_roles and not line.is_template:
            out.append(Item(f"copy:{pid}/{g.source_id}", f"{line.role} {line.text!r}", pid))
    return out


def images_of(plan: CreativePlan, campaign: Campaign) -> list[Item]:
    """The campaign assets a plan puts on screen (user photos are personal, not compared)."""
    product = campaign.product(plan.product_id)
    pid = product.id
    by_path = {a.path: a for a in product.assets}
    by_path.update({str(campaign.asset_path(a)): a for a in product.assets})
    ids = [aid for s in plan.scenes for aid in s.asset_ids]
    if plan.logo_asset is not None:
        ids.append(plan.logo_asset)
    for scene in plan.scenes:
        asset = by_path.get(scene.background.image or "")
        if scene.background.kind == "image" and asset is not None:
            ids.append(asset.id)
    return [Item(f"asset:{pid}/{aid}", f"asset {aid!r}", pid) for aid in dict.fromkeys(ids)]


def _reach(
    kind: FindingKind,
    received: Mapping[str, list[Item]],
    served: Mapping[str, list[CreativePlan]],
    groups: Mapping[str, Mapping[str, list[str]]],
    options: FairnessOptions,
) -> list[AuditFinding]:
    """Four-fifths comparison of each item's reach in each group with its overall reach."""
    items: dict[str, Item] = {}
    holders: dict[str, set[str]] = {}
    for uid, got in received.items():
        for item in got:
            items.setdefault(item.key, item)
            holders.setdefault(item.key, set()).add(uid)
    products = {uid: {p.product_id for p in plans} for uid, plans in served.items()}
    findings: list[AuditFinding] = []
    for key in sorted(items):
        item = items[key]
        eligible = {
            uid for uid in served if item.product_id is None or item.product_id in products[uid]
        }
        if not eligible:
            continue
        overall = len(holders[key] & eligible) / len(eligible)
        for attribute, by_group in groups.items():
            for group, members in by_group.items():
                pool = eligible.intersection(members)
                if not pool or overall * len(pool) < options.min_expected:
                    continue
                rate = len(holders[key] & pool) / len(pool)
                if rate >= options.min_ratio * overall:
                    continue
                how = "never reaches" if rate == 0 else "rarely reaches"
                missing = sorted(
                    {
                        p.plan_id
                        for uid in pool - holders[key]
                        for p in served[uid]
                        if item.product_id is None or p.product_id == item.product_id
                    }
                )
                findings.append(
                    AuditFinding(
                        kind=kind,
                        attribute=attribute,
                        group=group,
                        message=f"{item.label} {how} {attribute}={group}: {rate:.0%} of "
                        f"{len(pool)} vs {overall:.0%} overall "
                        f"(ratio {rate / overall:.2f} < {options.min_ratio:g})",
                        plan_ids=missing[:10],
                        severity=options.severity_of(kind),
                        item=key,
                        group_size=len(pool),
                        rate=round(rate, 4),
                        reference_rate=round(overall, 4),
                    )
                )
    return findings


def _disparity(
    served: Mapping[str, list[CreativePlan]],
    users: Mapping[str, User],
    groups: Mapping[str, Mapping[str, list[str]]],
    options: FairnessOptions,
) -> list[AuditFinding]:
    """Share of personalized variants per group against the share overall."""

    def share(uids: set[str]) -> tuple[float, int]:
        plans = [p for uid in uids for p in served[uid]]
        if not plans:
            return 0.0, 0
        return sum(p.kind == "personalized" for p in plans) / len(plans), len(plans)

    def consent(uids: set[str]) -> float:
        return sum(users[u].consent.personalization for u in uids) / max(1, len(uids))

    everyone = set(served)
    overall, _ = share(everyone)
    findings: list[AuditFinding] = []
    for attribute, by_group in groups.items():
        for group, members in by_group.items():
            pool = set(members)
            rate, n_plans = share(pool)
            if not n_plans or overall * n_plans < options.min_expected:
                continue
            if rate >= options.min_ratio * overall:
                continue
            findings.append(
                AuditFinding(
                    kind="disparity",
                    attribute=attribute,
                    group=group,
                    message=f"{attribute}={group} got personalized variants {rate:.0%} of the "
                    f"time vs {overall:.0%} overall; consent ({consent(pool):.0%} vs "
                    f"{consent(everyone):.0%}) or history may explain it",
                    plan_ids=sorted(
                        {p.plan_id for u in pool for p in served[u] if p.kind == "generic"}
                    )[:10],
                    severity=options.severity_of("disparity"),
                    item="personalized",
                    group_size=len(pool),
                    rate=round(rate, 4),
                    reference_rate=round(overall, 4),
                )
            )
    return findings


def plan_strings(plan: CreativePlan) -> list[str]:
    """What a variant shows, says or asks the imagery to depict."""
    texts = [g.text for _, _, g in plan.texts()]
    texts += [s.visual_description for s in plan.scenes if s.visual_description.strip()]
    return list(dict.fromkeys(texts))


def _stereotypes(
    plans: Sequence[CreativePlan],
    served: Mapping[str, list[CreativePlan]],
    matcher: StereotypeMatcher,
    options: FairnessOptions,
) -> list[AuditFinding]:
    """Stereotype wording in any variant, one finding per (category, term, string)."""
    audience: Counter[str] = Counter(p.plan_id for got in served.values() for p in got)
    found: dict[tuple[str, str, str], set[str]] = {}
    for plan in plans:
        for text in plan_strings(plan):
            for hit in matcher(text):
                found.setdefault((hit.category, hit.term, text), set()).add(plan.plan_id)
    findings = []
    for (category, term, text), plan_ids in sorted(found.items()):
        reached = sum(audience[p] for p in plan_ids)
        findings.append(
            AuditFinding(
                kind="stereotype",
                attribute=category,
                group=EVERYONE,
                message=f"{category} stereotype {term!r} in {text!r} "
                f"({len(plan_ids)} variant(s), served to {reached} user(s))",
                plan_ids=sorted(plan_ids),
                text=text,
                severity=options.severity_of("stereotype"),
            )
        )
    return findings


def audit_fairness(
    plans: Sequence[CreativePlan],
    users: Sequence[User],
    campaign: Campaign,
    options: FairnessOptions | None = None,
    *,
    stereotypes: StereotypeMatcher | None = None,
) -> FairnessAudit:
    """Audit the variants a campaign served to ``users`` across demographic groups.

    ``stereotypes`` replaces the shared lexicon (for a deployment's own word list).
    """
    opts = options or FairnessOptions()
    matcher: StereotypeMatcher = stereotypes or stereotype_hits
    served = served_plans(plans, users, campaign)
    groups = group_users(users, opts)
    by_id = {u.id: u for u in users}
    offers = {
        uid: [o for p in got for o in offers_of(p, campaign, opts)] for uid, got in served.items()
    }
    images = {uid: [i for p in got for i in images_of(p, campaign)] for uid, got in served.items()}
    findings = [
        *_stereotypes(plans, served, matcher, opts),
        *_reach("exclusion", offers, served, groups, opts),
        *_reach("imagery", images, served, groups, opts),
        *_disparity(served, by_id, groups, opts),
    ]
    worst = max((_RANK[f.severity] for f in findings), default=0)
    passed = worst < _RANK["major"]
    n_plans = len({p.plan_id for got in served.values() for p in got})
    compared = (
        ", ".join(f"{a} ({len(g)} group{'' if len(g) == 1 else 's'})" for a, g in groups.items())
        or "none"
    )
    lead = "Passed" if passed else "Failed"
    kinds = Counter(f.kind for f in findings)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no findings"
    rationale = (
        f"{lead}: {n_plans} variants for {len(users)} users; groups of at least "
        f"{opts.min_group_size} compared by {compared}; {summary}."
    )
    unserved = sum(1 for got in served.values() if not got)
    if unserved:
        rationale += f" {unserved} user(s) were served no variant."
    outside = sum(1 for p in plans if p.user_id is not None and p.user_id not in by_id)
    if outside:
        rationale += f" {outside} variant(s) for users outside the audit were left out."
    return FairnessAudit(
        campaign_id=campaign.id,
        passed=passed,
        users=len(users),
        plans=n_plans,
        groups={a: {g: len(m) for g, m in by.items()} for a, by in groups.items()},
        findings=findings,
        rationale=rationale,
    )
