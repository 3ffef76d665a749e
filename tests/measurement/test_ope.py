"""Off-policy estimators against a seeded simulator with a known policy value."""

from __future__ import annotations

import numpy as np
import pytest
from tests.measurement.helpers import binomial_band, simulate_bandit, true_policy_value

from adloom import registry
from adloom.errors import InputError
from adloom.measurement.logs import BanditLog
from adloom.measurement.ope import (
    IPS,
    SNIPS,
    DoublyRobust,
    LogisticRewardModel,
    compare_to_truth,
    empirical_distribution,
    evaluate,
    thompson_distribution,
    uniform_distribution,
    wilson,
)


def _check(errors: list[float], hits: int, reps: int, name: str) -> None:
    err = np.asarray(errors)
    # Unbiased within simulation error, intervals near nominal.
    assert abs(err.mean()) < 3 * err.std() / np.sqrt(reps), name
    low, high = binomial_band(0.95, reps, sigmas=3.0)
    assert low <= hits / reps <= high, (name, hits)


def test_weighting_estimators_are_unbiased_with_nominal_coverage() -> None:
    reps = 300
    hits = {"ips": 0, "snips": 0}
    errors: dict[str, list[float]] = {name: [] for name in hits}
    for seed in range(reps):
        log, target, q = simulate_bandit(seed, n=1500)
        truth = true_policy_value(target, q, log.slots)
        for est in evaluate(log, target, estimators=("ips", "snips")):
            hits[est.estimator] += est.interval.contains(truth)
            errors[est.estimator].append(est.value - truth)
    for name in hits:
        _check(errors[name], hits[name], reps, name)


def test_model_based_estimators_recover_the_true_value() -> None:
    reps = 50
    hits = {name: 0 for name in ("ips", "dm", "dr")}
    errors: dict[str, list[float]] = {name: [] for name in hits}
    for seed in range(reps):
        log, target, q = simulate_bandit(1000 + seed, n=2000)
        truth = true_policy_value(target, q, log.slots)
        model = LogisticRewardModel(interactions=True, seed=seed)
        for est in evaluate(log, target, estimators=("ips", "dm", "dr"), model=model):
            hits[est.estimator] += est.interval.contains(truth)
            errors[est.estimator].append(est.value - truth)
    _check(errors["dr"], hits["dr"], reps, "dr")
    # DR is steadier than IPS when the model is right; DM is close but leans on the model.
    assert np.std(errors["dr"]) < np.std(errors["ips"])
    assert abs(np.mean(errors["dm"])) < 0.01


def test_bootstrap_interval_and_weight_diagnostics() -> None:
    log, target, q = simulate_bandit(7, n=2000)
    truth = true_policy_value(target, q, log.slots)
    est = IPS().estimate(log, target, bootstrap=200, seed=1)
    assert est.bootstrap_interval is not None
    assert est.bootstrap_interval.contains(truth)
    assert est.effective_sample_size is not None
    assert 0 < est.effective_sample_size < len(log)
    assert est.max_weight is not None
    assert est.max_weight > 1


def test_evaluating_the_logging_policy_gives_its_own_mean() -> None:
    rng = np.random.default_rng(0)
    n, a = 5000, 4
    log = BanditLog(
        action=rng.integers(0, a, n),
        reward=(rng.random(n) < 0.2).astype(np.float64),
        propensity=np.full(n, 1 / a),
        n_actions=a,
    )
    for est in evaluate(log, uniform_distribution(a), estimators=("ips", "snips")):
        assert est.value == pytest.approx(log.reward.mean())
    assert empirical_distribution(log).sum(axis=0) == pytest.approx([1.0])


def test_thompson_distribution_ranks_the_best_items_first() -> None:
    rng = np.random.default_rng(1)
    n, a = 20_000, 6
    action = rng.integers(0, a, n)
    rates = np.asarray([0.01, 0.02, 0.05, 0.1, 0.2, 0.3])
    log = BanditLog(
        action=action,
        reward=(rng.random(n) < rates[action]).astype(np.float64),
        propensity=np.full(n, 1 / a),
        n_actions=a,
        position=rng.integers(0, 2, n),
        n_positions=2,
    )
    dist = thompson_distribution(log, draws=4000)
    assert dist.sum(axis=0) == pytest.approx([1.0, 1.0])
    assert dist[5, 0] > 0.95
    assert dist[4, 1] > 0.95


def test_compare_to_truth_reports_relative_error_and_conclusiveness() -> None:
    log, target, _q = simulate_bandit(9, n=4000)
    est = SNIPS().estimate(log, target)
    truth = np.zeros(1000)
    truth[: round(est.value * 1000)] = 1.0
    cmp = compare_to_truth(
        est, target="t", logs="b", truth_rewards=truth, logging_rewards=log.reward
    )
    assert abs(cmp.relative_error) < 0.1
    assert cmp.verdict == "consistent"
    assert cmp.truth_interval.contains(cmp.truth)
    low, high = wilson(0, 50)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert 0 < high < 0.1
    with pytest.raises(InputError, match="observed reward is zero"):
        compare_to_truth(
            est, target="t", logs="b", truth_rewards=np.zeros(5), logging_rewards=log.reward
        )
    with pytest.raises(InputError, match="no trials"):
        wilson(0, 0)


def test_ope_estimators_are_registered_backends() -> None:
    assert {"ips", "snips", "dm", "dr"} <= set(registry.available("ope"))
    assert isinstance(registry.create("ope", "dr", "dr"), DoublyRobust)


def _log(n: int = 10) -> BanditLog:
    return BanditLog(
        action=np.arange(n) % 2,
        reward=np.ones(n),
        propensity=np.full(n, 0.5),
        n_actions=2,
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: IPS().estimate(_log(), np.full((3, 1), 1 / 3)), "does not fit the log"),
        (lambda: IPS().estimate(_log(), np.asarray([0.7, 0.7])), "must sum to 1"),
        (lambda: IPS().estimate(_log(), np.asarray([1.5, -0.5])), "non-negative"),
        (lambda: DoublyRobust().estimate(_log(), np.asarray([0.5, 0.5])), "needs reward-model"),
        (
            lambda: DoublyRobust().estimate(
                _log(), np.asarray([0.5, 0.5]), predictions=np.zeros((10, 3, 1))
            ),
            "shape",
        ),
        (
            lambda: DoublyRobust().estimate(
                _log(), np.asarray([0.5, 0.5]), predictions=np.full((10, 2, 1), np.nan)
            ),
            "must be finite",
        ),
        (
            lambda: SNIPS().estimate(
                BanditLog(
                    action=np.zeros(4, np.int64),
                    reward=np.ones(4),
                    propensity=np.ones(4),
                    n_actions=2,
                ),
                np.asarray([0.0, 1.0]),
            ),
            "every importance weight is zero",
        ),
        (lambda: LogisticRewardModel(folds=1), "at least 2 folds"),
        (lambda: evaluate(_log(), np.asarray([0.5, 0.5]), estimators=("magic",)), "unknown ope"),
        (
            lambda: thompson_distribution(
                BanditLog(
                    action=np.zeros(3, np.int64),
                    reward=np.ones(3),
                    propensity=np.ones(3),
                    n_actions=1,
                    position=np.asarray([0, 1, 1]),
                    n_positions=2,
                )
            ),
            "more slots than actions",
        ),
        (lambda: thompson_distribution(_log(), prior=(0.0, 1.0)), "must be positive"),
    ],
)
def test_invalid_ope_inputs_fail_with_one_line(call: object, message: str) -> None:
    with pytest.raises((InputError, Exception), match=message):
        call()  # type: ignore[operator]


def test_rare_rewards_and_disagreeing_policies_are_flagged() -> None:
    rng = np.random.default_rng(2)
    n = 2000
    log = BanditLog(
        action=rng.integers(0, 50, n),
        reward=(rng.random(n) < 0.005).astype(np.float64),
        propensity=np.full(n, 1 / 50),
        n_actions=50,
    )
    point = np.zeros(50)
    point[0] = 1.0
    est = IPS().estimate(log, point)
    assert any("rewards logged" in note for note in est.notes)
    assert any("effective sample size" in note for note in est.notes)
    # A reward model with one class in a fold falls back to a constant, not a NaN.
    preds = LogisticRewardModel().fit_predict(log)
    assert np.all(np.isfinite(preds))
