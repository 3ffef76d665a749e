"""One plan (and creative) per (product, group), made by the existing Director.

A group is handed to the Director the way a user is: as a consenting pseudo-user whose
"history" is what the group responds to best, the text and images of the product's
creatives it prefers (at least two, weighted by preference). The Director then profiles
it (interests, style, tone, palette from those images), checks it against the product
(below the campaign's compatibility threshold the plan stays generic) and writes a
storyboard from verified claims and approved copy only. So a group plan is exactly as
grounded as any other plan, and no attribute of the group's members reaches the Director.

Groups under the minimum size, and users without consent, get the product's generic plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from adloom.cohorts.data import Users
from adloom.cohorts.grouping import assign
from adloom.cohorts.report import CohortPlans, CohortReport, Group, GroupCreative
from adloom.director.base import Planner
from adloom.domain import Campaign, Consent, Context, CreativePlan, HistoryItem, User
from adloom.errors import InputError
from adloom.io import write_model

if TYPE_CHECKING:  # the model needs torch; planning from a report does not
    from adloom.cohorts.model import PreferenceModel

#: How many of the group's best creatives describe it to the Director.
TOP_CREATIVES = 2


def group_user(group: Group) -> User:
    """The group as the Director's input: preferred creatives as its history.

    The best creative appears twice so it outweighs the runner-up; attributes of the
    members are deliberately absent.
    """
    best = group.profile.creatives[:TOP_CREATIVES]
    if not best:
        raise InputError(group.group_id, "group profile lists no creatives")
    history: list[HistoryItem] = []
    for rank, creative in enumerate(best):
        copies = 2 if rank == 0 else 1
        for c in range(copies):
            history.append(
                HistoryItem(
                    id=f"{creative.item_id}.{c}",
                    kind="page",
                    title=" | ".join(creative.text)[:200] or creative.item_id,
                    text="",
                    image=creative.image,
                )
            )
    return User(id=group.group_id, consent=Consent(personalization=True), history=history)


@dataclass(frozen=True)
class PlannedGroup:
    group: Group
    plan: CreativePlan


def plan_groups(
    report: CohortReport,
    campaign: Campaign,
    planner: Planner,
    context: Context,
    *,
    seed: int = 0,
    products: list[str] | None = None,
) -> tuple[dict[str, CreativePlan], list[PlannedGroup], list[str]]:
    """Generic plan per product, one plan per personalized group, and notes."""
    known = {p.id for p in campaign.products}
    wanted = [p.product_id for p in report.products] if products is None else products
    missing = [p for p in wanted if p not in {q.product_id for q in report.products}]
    if missing:
        raise InputError("--product", f"no cohorts for product {missing[0]!r}")
    usable = [p for p in wanted if p in known]
    if not usable:
        raise InputError(
            "campaign",
            f"none of the cohorts' products ({', '.join(wanted[:5])}) is in campaign "
            f"{campaign.id!r} (products: {', '.join(sorted(known))})",
        )
    notes = [f"product {p!r} is not in the campaign: skipped" for p in wanted if p not in known]
    generic: dict[str, CreativePlan] = {}
    planned: list[PlannedGroup] = []
    for pid in usable:
        product = campaign.product(pid)
        generic[pid] = planner.plan(campaign, product, context, None, seed=seed)
        for grp in report.product(pid).groups:
            if grp.status != "personalized":
                continue
            plan = planner.plan(campaign, product, context, group_user(grp), seed=seed)
            plan.notes.append(f"cohort {grp.group_id}: {grp.size} users")
            planned.append(PlannedGroup(grp, plan))
    return generic, planned, notes


def write_cohort_plans(
    report: CohortReport,
    campaign: Campaign,
    planner: Planner,
    context: Context,
    out_dir: str | Path,
    *,
    seed: int = 0,
    products: list[str] | None = None,
    render: Callable[[CreativePlan, Path], Path] | None = None,
) -> CohortPlans:
    """Plans under ``out_dir/plans/<product>/``; with ``render``, creatives under
    ``out_dir/creatives/<product>/``; the index as ``out_dir/cohort-plans.json``."""
    out = Path(out_dir)
    generic, planned, notes = plan_groups(
        report, campaign, planner, context, seed=seed, products=products
    )
    generic_paths: dict[str, str] = {}
    generic_creatives: dict[str, str | None] = {}
    for pid, plan in generic.items():
        path = write_model(out / "plans" / pid / "generic.json", plan)
        generic_paths[pid] = str(path)
        generic_creatives[pid] = (
            str(render(plan, out / "creatives" / pid / "generic.mp4")) if render else None
        )
    creatives: list[GroupCreative] = []
    by_group = {p.group.group_id: p for p in planned}
    for pid in generic:
        for grp in report.product(pid).groups:
            done = by_group.get(grp.group_id)
            if done is None or done.plan.kind == "generic":
                why = (
                    f"below the minimum group size ({report.min_group_size})"
                    if done is None
                    else done.plan.matching.rationale
                )
                creatives.append(
                    GroupCreative(
                        product_id=pid,
                        group_id=grp.group_id,
                        users=grp.size,
                        kind="generic",
                        plan_id=generic[pid].plan_id,
                        plan_path=generic_paths[pid],
                        creative_path=generic_creatives[pid],
                        rationale=why,
                    )
                )
                continue
            path = write_model(out / "plans" / pid / f"{grp.group_id}.json", done.plan)
            creative = (
                str(render(done.plan, out / "creatives" / pid / f"{grp.group_id}.mp4"))
                if render
                else None
            )
            creatives.append(
                GroupCreative(
                    product_id=pid,
                    group_id=grp.group_id,
                    users=grp.size,
                    kind="personalized",
                    plan_id=done.plan.plan_id,
                    plan_path=str(path),
                    creative_path=creative,
                    rationale=done.plan.matching.rationale,
                )
            )
    result = CohortPlans(
        campaign_id=campaign.id, creatives=creatives, generic=generic_paths, notes=notes
    )
    write_model(out / "cohort-plans.json", result)
    return result


def assign_groups(
    report: CohortReport, model: PreferenceModel, users: Users
) -> dict[str, list[str]]:
    """Each user's group per product: the nearest personalized group's centre in the
    product's preference space, or ``generic`` without consent or for a product whose
    groups are all served the generic creative. New users need no refit."""
    from adloom.cohorts.fit import GENERIC

    ux = model.user_features(users)
    consented = users.consented
    out: dict[str, list[str]] = {}
    for product in report.products:
        groups = [g for g in product.groups if g.status == "personalized"]
        labels = np.full(len(users), GENERIC, dtype=object)
        if groups and consented.any():
            creatives = [c.item_id for c in groups[0].profile.creatives]
            emb = model.embed(ux[consented], creatives)
            centres = np.asarray([g.centre for g in groups], dtype=np.float32)
            nearest, _ = assign(emb, centres)
            labels[np.flatnonzero(consented)] = [groups[i].group_id for i in nearest]
        out[product.product_id] = [str(v) for v in labels]
    return out
