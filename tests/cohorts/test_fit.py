"""Fitting end to end on the planted log: groups recover the planted segments (ARI), k
is the planted k, groups are more distinct than demographic or random ones (NDCG@5),
and privacy holds (consent, minimum group size, nothing sensitive in a profile)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adloom.cohorts.data import ClickData
from adloom.cohorts.encoders import ItemFeatures
from adloom.cohorts.fit import GENERIC, FitResult, fit_cohorts
from adloom.cohorts.model import PreferenceConfig
from adloom.cohorts.report import CohortReport
from adloom.errors import InputError
from adloom.lexicons import sensitive_hits

from .conftest import PLANTED, fast_settings


def test_recovers_planted_groups(fitted: FitResult) -> None:
    for p in fitted.report.products:
        assert p.k == PLANTED
        assert p.adjusted_rand is not None
        assert p.adjusted_rand >= 0.8
        assert len(p.groups) == PLANTED
        assert sum(g.size for g in p.groups) == fitted.report.consenting_users
        assert set(p.scores) == {"2", "3", "4", "5"}


def test_groups_are_more_distinct_than_demographic_or_random(fitted: FitResult) -> None:
    for p in fitted.report.products:
        ndcg = p.ndcg_at_5
        assert ndcg is not None
        assert ndcg.better == "lower"
        demographic = ndcg.baselines["demographic:age_band"]
        random = ndcg.baselines["random"]
        assert demographic is not None
        assert random is not None
        assert ndcg.cohorts < demographic < random
        assert random > 0.95  # random groups all want the same creatives
        assert p.ndcg_items == 4


def test_profiles_sample_percentiles_and_withhold_protected(fitted: FitResult) -> None:
    for p in fitted.report.products:
        for g in p.groups:
            prof = g.profile
            assert [r.percentile for r in prof.representatives] == [15] * 3 + [55] * 3 + [95] * 3
            dists = [r.distance for r in prof.representatives]
            assert dists[0] <= dists[3] <= dists[6]
            assert prof.withheld == ["age_band"]
            for r in prof.representatives:
                assert "age_band" not in r.attributes
                assert set(r.attributes) == {"region", "device", "spend_level", "promo_sensitivity"}
            assert all(a.attribute != "age_band" for a in prof.distinctive)
            assert "age" not in prof.summary.lower()
            assert not sensitive_hits(prof.summary)
            assert prof.creatives[0].lift >= prof.creatives[-1].lift
            assert prof.interests  # themes of the preferred creatives
            assert f"Group {g.index + 1} of {len(p.groups)}" in prof.summary


def test_group_profiles_differ_in_preferred_creative(fitted: FitResult) -> None:
    p = fitted.report.products[0]
    best = {g.profile.creatives[0].item_id for g in p.groups}
    assert len(best) == PLANTED


def test_observed_rates_follow_predicted(fitted: FitResult) -> None:
    p = fitted.report.products[0]
    observed = [g.profile.observed_rate for g in p.groups]
    predicted = [g.profile.predicted_rate for g in p.groups]
    assert all(o is not None for o in observed)
    assert np.corrcoef(np.asarray(observed, dtype=float), predicted)[0, 1] > 0.8


def test_users_without_consent_get_the_generic_creative(fitted: FitResult, sim: ClickData) -> None:
    for labels in fitted.assignments.values():
        got = np.asarray(labels)
        assert (got[~sim.users.consented] == GENERIC).all()
        assert (got[sim.users.consented] != GENERIC).all()
    assert any("without personalization consent" in n for n in fitted.report.notes)


def test_report_is_json_round_trippable(fitted: FitResult) -> None:
    text = fitted.report.model_dump_json()
    again = CohortReport.model_validate(json.loads(text))
    assert again == fitted.report
    with pytest.raises(KeyError):
        again.product("nope")


@pytest.mark.parametrize("policy", ["merge", "generic"])
def test_minimum_group_size(sim: ClickData, sim_features: ItemFeatures, policy: str) -> None:
    # About 360 users per planted group: a minimum of 400 leaves them all too small.
    settings = fast_settings(
        min_group_size=400,
        small_groups=policy,
        products=["product-0"],
        baselines=False,
        preference=PreferenceConfig(epochs=8),
    )
    result = fit_cohorts(sim, settings, items=sim_features)
    groups = result.report.products[0].groups
    found = result.report.products[0].k
    sizes = np.bincount(sim.truth["product-0"][sim.users.consented])
    small = int((sizes < 400).sum())
    assert small >= 1
    labels = np.asarray(result.assignments["product-0"])
    for g in groups:
        if g.status == "personalized":
            assert g.size >= 400
            assert (labels == g.group_id).sum() == g.size
        else:
            assert (labels == g.group_id).sum() == 0  # served the generic creative
    if policy == "merge":
        assert 1 < len(groups) < found
        assert all(g.status == "personalized" for g in groups)
        assert sum(len(g.merged_from) for g in groups) == found - len(groups)
        assert (labels != GENERIC).sum() == sizes.sum()
    else:
        assert len(groups) == found
        assert sum(g.status == "generic" for g in groups) == sum(g.size < 400 for g in groups)
        assert sum(g.status == "generic" for g in groups) >= 1


def test_settings_and_inputs_are_checked(sim: ClickData, sim_features: ItemFeatures) -> None:
    with pytest.raises(InputError, match="no items for product 'nope'"):
        fit_cohorts(sim, fast_settings(products=["nope"]), items=sim_features)
    with pytest.raises(InputError, match="no categorical attribute 'income'"):
        fit_cohorts(sim, fast_settings(segment_by="income"), items=sim_features)
    with pytest.raises(ValueError, match="Extra inputs"):
        fast_settings(colour="red")
    nobody = sim.users.__class__(
        ids=sim.users.ids,
        categorical=sim.users.categorical,
        numeric=sim.users.numeric,
        consent=np.zeros(len(sim.users), dtype=bool),
    )
    silent = ClickData(nobody, sim.items, sim.user, sim.item, sim.click)
    with pytest.raises(InputError, match="no user consented"):
        fit_cohorts(silent, fast_settings(), items=sim_features)
