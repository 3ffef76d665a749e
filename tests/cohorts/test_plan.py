"""One plan per (product, group) through the Director: grounded in verified claims and
approved copy, shaped by what the group prefers, generic for small groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adloom import registry
from adloom.cohorts.fit import FitResult
from adloom.cohorts.plan import group_user, plan_groups, write_cohort_plans
from adloom.cohorts.report import CohortPlans, CohortReport
from adloom.demo import load_sample
from adloom.domain import Campaign, CreativePlan
from adloom.errors import InputError


@pytest.fixture(scope="module")
def sample() -> Campaign:
    return load_sample()[0]


def relabelled(report: CohortReport, campaign: Campaign) -> CohortReport:
    """The fitted report as if its two products were the sample campaign's first two."""
    data = json.loads(report.model_dump_json())
    for product, target in zip(data["products"], campaign.products, strict=False):
        product["product_id"] = target.id
        for g in product["groups"]:
            g["product_id"] = target.id
            g["group_id"] = f"{target.id}.g{g['index']}"
    return CohortReport.model_validate(data)


@pytest.fixture(scope="module")
def planner():  # type: ignore[no-untyped-def]
    return registry.create("planner", {"type": "template", "embedder": "minilm"}, "template")


def grounded(plan: CreativePlan, campaign: Campaign) -> bool:
    product = campaign.product(plan.product_id)
    allowed = {c.id for c in product.verified_claims} | {c.id for c in product.approved_copy}
    texts = [t for s in plan.scenes for t in (s.on_screen_text, s.narration) if t is not None]
    return all(t.source_id in allowed for t in [*texts, plan.cta.text])


def test_group_user_carries_preferences_not_people(fitted: FitResult) -> None:
    grp = fitted.report.products[0].groups[0]
    user = group_user(grp)
    assert user.id == grp.group_id
    assert user.consent.personalization
    best = grp.profile.creatives[0]
    assert [h.id for h in user.history][:2] == [f"{best.item_id}.0", f"{best.item_id}.1"]
    assert all(h.image is not None for h in user.history)
    assert user.demographics.model_dump() == {k: None for k in user.demographics.model_dump()}
    empty = grp.model_copy(update={"profile": grp.profile.model_copy(update={"creatives": []})})
    with pytest.raises(InputError, match="lists no creatives"):
        group_user(empty)


def test_one_grounded_plan_per_group(fitted: FitResult, sample: Campaign, planner) -> None:  # type: ignore[no-untyped-def]
    report = relabelled(fitted.report, sample)
    ctx = sample.contexts[0]
    generic, planned, notes = plan_groups(report, sample, planner, ctx)
    assert set(generic) == {sample.products[0].id, sample.products[1].id}
    assert all(p.kind == "generic" and p.user_id is None for p in generic.values())
    assert len(planned) == sum(len(p.groups) for p in report.products)
    assert notes == []
    for item in planned:
        assert item.plan.product_id == item.group.product_id
        assert grounded(item.plan, sample)
        assert f"cohort {item.group.group_id}: {item.group.size} users" in item.plan.notes
    personal = [p.plan for p in planned if p.plan.kind == "personalized"]
    assert personal
    assert all(p.user_id is not None and p.user_id.startswith(p.product_id) for p in personal)
    # Groups that prefer differently styled creatives get different tones or palettes.
    looks = {(p.tone, tuple(p.palette)) for p in personal if p.product_id == sample.products[0].id}
    assert len(looks) >= 2


def test_write_cohort_plans_with_small_groups_and_render(
    fitted: FitResult,
    sample: Campaign,
    planner,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    report = relabelled(fitted.report, sample)
    data = json.loads(report.model_dump_json())
    data["products"][0]["groups"][-1]["status"] = "generic"  # as if below the minimum
    report = CohortReport.model_validate(data)
    rendered: list[Path] = []

    def fake_render(plan: CreativePlan, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(plan.plan_id, encoding="utf-8")
        rendered.append(dest)
        return dest

    result = write_cohort_plans(
        report,
        sample,
        planner,
        sample.contexts[0],
        tmp_path,
        products=[sample.products[0].id],
        render=fake_render,
    )
    assert CohortPlans.model_validate_json((tmp_path / "cohort-plans.json").read_text()) == result
    groups = report.products[0].groups
    assert [c.group_id for c in result.creatives] == [g.group_id for g in groups]
    small = result.creatives[-1]
    assert small.kind == "generic"
    assert "minimum group size" in small.rationale
    assert small.plan_path == result.generic[sample.products[0].id]
    for c in result.creatives:
        assert Path(c.plan_path).is_file()
        assert c.creative_path is not None
        assert Path(c.creative_path).is_file()
    assert len(rendered) == 1 + sum(c.kind == "personalized" for c in result.creatives)


def test_products_must_meet_the_campaign(fitted: FitResult, sample: Campaign, planner) -> None:  # type: ignore[no-untyped-def]
    ctx = sample.contexts[0]
    with pytest.raises(InputError, match="none of the cohorts' products"):
        plan_groups(fitted.report, sample, planner, ctx)
    with pytest.raises(InputError, match="no cohorts for product 'nope'"):
        plan_groups(fitted.report, sample, planner, ctx, products=["nope"])
    partial = relabelled(fitted.report, sample)
    data = json.loads(partial.model_dump_json())
    data["products"][1]["product_id"] = "elsewhere"
    partial = CohortReport.model_validate(data)
    generic, _, notes = plan_groups(partial, sample, planner, ctx)
    assert list(generic) == [sample.products[0].id]
    assert notes == ["product 'elsewhere' is not in the campaign: skipped"]


def test_assign_groups_matches_the_fit(fitted: FitResult, sim) -> None:  # type: ignore[no-untyped-def]
    from adloom.cohorts.plan import assign_groups

    labels = assign_groups(fitted.report, fitted.model, sim.users)
    for pid, original in fitted.assignments.items():
        same = sum(a == b for a, b in zip(labels[pid], original, strict=True))
        assert same / len(original) > 0.99
    data = json.loads(fitted.report.model_dump_json())
    for g in data["products"][0]["groups"]:
        g["status"] = "generic"
    all_generic = assign_groups(CohortReport.model_validate(data), fitted.model, sim.users)
    assert set(all_generic["product-0"]) == {"generic"}
