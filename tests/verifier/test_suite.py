"""The labelled flaw suite: the full verifier's recall and false rejects, the Reflector's repairs.

The suite is built here from clean creatives of the bundled sample campaign (real
Director, real Producer): 4 flawed copies of each of the 15 flaw types (60 in all) and 14
clean creatives, every one rendered and verified with the full verifier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adloom import registry
from adloom.demo import load_sample
from adloom.verifier.suite import FLAWS, Builder, Case, SuiteReport, evaluate, repair

pytestmark = pytest.mark.slow

PER_FLAW = 4
CLEAN = 14  # every personalized pair of the sample campaign plus the 4 generic creatives


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("suite")


@pytest.fixture(scope="module")
def components(work: Path) -> dict[str, object]:
    return {
        "planner": registry.create("planner", "template", "template"),
        "renderer": registry.create(
            "renderer", {"type": "template", "scene_cache": str(work / "cache")}, "template"
        ),
        "verifier": registry.create("verifier", "full", "full"),
        "reflector": registry.create("reflector", "rules", "rules"),
    }


@pytest.fixture(scope="module")
def cases(work: Path, components: dict[str, object]) -> list[Case]:
    campaign, users = load_sample()
    builder = Builder(
        work,
        components["planner"],  # type: ignore[arg-type]
        components["renderer"],  # type: ignore[arg-type]
        campaign,
        users,
    )
    return builder.build(per_flaw=PER_FLAW, clean=CLEAN)


@pytest.fixture(scope="module")
def report(cases: list[Case], components: dict[str, object]) -> SuiteReport:
    return evaluate(components["verifier"], cases)  # type: ignore[arg-type]


def test_suite_is_labelled_and_large_enough(cases: list[Case]) -> None:
    flawed = [c for c in cases if c.flaw is not None]
    assert len(flawed) >= 60
    assert {c.flaw for c in flawed} == set(FLAWS)
    assert sum(c.flaw is None for c in cases) == CLEAN
    assert all(c.expected for c in flawed)
    assert len({c.case_id for c in cases}) == len(cases)
    # Flawed copies come from several users and every product, not one lucky base.
    assert len({c.base for c in flawed}) >= 4
    assert len({c.plan.product_id for c in flawed}) == 4


@pytest.mark.parametrize("flaw", sorted(FLAWS))
def test_recall_per_flaw_type(report: SuiteReport, flaw: str) -> None:
    outcomes = report.by_flaw()[flaw]
    missed = [
        (o.case.case_id, o.verdict.decision, sorted(o.failed)) for o in outcomes if not o.detected
    ]
    assert sum(o.detected for o in outcomes) / len(outcomes) >= 0.95, missed


def test_detections_are_localized(report: SuiteReport) -> None:
    """Flags come with evidence that names the check, and plan flaws name their scene."""
    for o in report.outcomes:
        if o.case.flaw is None:
            continue
        hits = [e for e in o.verdict.evidence if e.check in o.case.expected]
        assert hits, o.case.case_id
        if o.case.flaw in {"unverified_claim", "deceptive_claim", "surveillance", "long_hook"}:
            assert any(e.scene_index is not None for e in hits), (o.case.case_id, hits)


def test_clean_creatives_are_accepted(report: SuiteReport) -> None:
    rejected = [
        (o.case.case_id, o.verdict.decision, o.verdict.rationale)
        for o in report.clean
        if o.verdict.decision != "accept"
    ]
    assert report.false_reject_rate <= 0.05, rejected


def test_reflector_repairs_one_of_each_flaw(
    cases: list[Case], components: dict[str, object]
) -> None:
    one_each: dict[str, Case] = {}
    for c in cases:
        if c.flaw is not None:
            one_each.setdefault(c.flaw, c)
    fixed = repair(
        list(one_each.values()),
        renderer=components["renderer"],  # type: ignore[arg-type]
        verifier=components["verifier"],  # type: ignore[arg-type]
        reflector=components["reflector"],
        max_rounds=3,
    )
    failures = [f for f, ok in fixed.repaired.items() if not all(ok)]
    assert fixed.share >= 0.9, failures
    assert max(fixed.rounds) <= 4  # round 0 plus at most 3 revisions
    # Plan flaws re-render only the scenes they touch (timings are the bench's business).
    assert fixed.scene_render_s, "no scene-level re-render happened"
