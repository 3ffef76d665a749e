"""Lift estimators against seeded simulations with known effects."""

from __future__ import annotations

import numpy as np
import pytest
from tests.measurement.helpers import binomial_band, simulate_experiment

from adloom.errors import InputError
from adloom.measurement.lift import (
    adjust_pvalues,
    estimate_lift,
    lift_by,
    lift_table,
    mde,
    plan_test,
    power,
    sample_size,
)


def _bernoulli(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    return (rng.random(n) < p).astype(np.float64)


def test_analytic_intervals_cover_the_true_lift_at_nominal_rate() -> None:
    reps, p_c, p_t, n = 400, 0.10, 0.13, 1500
    true_abs, true_rel = p_t - p_c, p_t / p_c - 1
    rng = np.random.default_rng(1)
    hits_abs = hits_rel = 0
    for _ in range(reps):
        lift = estimate_lift(
            _bernoulli(rng, p_t, n), _bernoulli(rng, p_c, n), metric="m", arm="t", control="c"
        )
        hits_abs += lift.absolute_ci.contains(true_abs)
        assert lift.relative_ci is not None
        hits_rel += lift.relative_ci.contains(true_rel)
    low, high = binomial_band(0.95, reps)
    assert low <= hits_abs / reps <= high
    assert low <= hits_rel / reps <= high


def test_bootstrap_intervals_cover_continuous_and_binary_outcomes() -> None:
    reps, n = 150, 400
    rng = np.random.default_rng(2)
    hits_bin = hits_cont = 0
    for i in range(reps):
        lift = estimate_lift(
            _bernoulli(rng, 0.3, n),
            _bernoulli(rng, 0.25, n),
            metric="m",
            arm="t",
            control="c",
            bootstrap=400,
            seed=i,
        )
        assert lift.bootstrap_absolute_ci is not None
        hits_bin += lift.bootstrap_absolute_ci.contains(0.05)
        # Skewed revenue: exponential with means 12 and 10.
        lift = estimate_lift(
            rng.exponential(12.0, n),
            rng.exponential(10.0, n),
            metric="revenue",
            arm="t",
            control="c",
            bootstrap=400,
            seed=i,
        )
        assert lift.bootstrap_absolute_ci is not None
        assert lift.bootstrap_relative_ci is not None
        hits_cont += lift.bootstrap_absolute_ci.contains(2.0)
    low, high = binomial_band(0.95, reps)
    assert low <= hits_bin / reps <= high
    assert low <= hits_cont / reps <= high


def test_cuped_is_unbiased_and_narrows_the_interval() -> None:
    plain, adjusted, reductions = [], [], []
    for seed in range(120):
        data = simulate_experiment(seed, n=2000, base=0.4, effects={"treated": 0.04}, with_pre=True)
        (raw,) = lift_table(data, ["conversion"], control="control")
        (cup,) = lift_table(data, ["conversion"], control="control", covariate="pre")
        plain.append(raw.absolute)
        adjusted.append(cup.absolute)
        assert cup.cuped == "pre"
        assert cup.variance_reduction is not None
        reductions.append(cup.variance_reduction)
        assert cup.absolute_ci.width < raw.absolute_ci.width
    plain_a, adjusted_a = np.asarray(plain), np.asarray(adjusted)
    assert abs(adjusted_a.mean() - 0.04) < 3 * adjusted_a.std() / np.sqrt(len(adjusted_a))
    assert adjusted_a.std() < 0.95 * plain_a.std()
    assert np.mean(reductions) > 0.1


def test_power_and_mde_match_simulated_rejection_rates() -> None:
    p_c, n = 0.2, 2000
    sd = np.sqrt(p_c * (1 - p_c))
    effect = mde(sd, n, n, alpha=0.05, power=0.8)
    assert power(effect, sd, n, n) == pytest.approx(0.8, abs=1e-6)
    rng = np.random.default_rng(3)
    reps = 300
    rejected_null = rejected_mde = 0
    for _ in range(reps):
        y_c = _bernoulli(rng, p_c, n)
        rejected_null += (
            estimate_lift(_bernoulli(rng, p_c, n), y_c, metric="m", arm="t", control="c").p_value
            < 0.05
        )
        rejected_mde += (
            estimate_lift(
                _bernoulli(rng, p_c + effect, n), y_c, metric="m", arm="t", control="c"
            ).p_value
            < 0.05
        )
    low, high = binomial_band(0.05, reps)
    assert low <= rejected_null / reps <= high
    low, high = binomial_band(0.8, reps)
    assert low <= rejected_mde / reps <= high


def test_sample_size_inverts_the_mde() -> None:
    n_arm, n_control = sample_size(0.01, 0.3, alpha=0.05, power=0.9, ratio=2.0)
    assert n_control == pytest.approx(2 * n_arm, abs=1)
    assert mde(0.3, n_arm, n_control, alpha=0.05, power=0.9) <= 0.01
    assert mde(0.3, n_arm - 50, n_control - 100, alpha=0.05, power=0.9) > 0.01
    plan = plan_test("visit", 0.1, 20_000, 20_000)
    assert plan.sd == pytest.approx(0.3)
    assert plan.mde_relative == pytest.approx(plan.mde_absolute / 0.1)
    assert power(0.0, 0.0, 10, 10) == 0.05
    assert power(0.1, 0.0, 10, 10) == 1.0


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("bonferroni", [0.04, 0.08, 0.12, 1.0]),
        ("holm", [0.04, 0.06, 0.06, 0.5]),
        ("bh", [0.04, 0.04, 0.04, 0.5]),
        ("none", [0.01, 0.02, 0.03, 0.5]),
    ],
)
def test_pvalue_corrections_match_hand_computed_values(method: str, expected: list[float]) -> None:
    got = adjust_pvalues([0.03, 0.01, 0.5, 0.02], method)  # type: ignore[arg-type]
    order = [1, 3, 0, 2]
    assert [got[i] for i in order] == pytest.approx(expected)


def test_holm_keeps_the_familywise_error_rate_under_the_null() -> None:
    rng = np.random.default_rng(4)
    reps, m = 400, 10
    raw = adj = 0
    for _ in range(reps):
        p = rng.random(m)
        raw += bool(np.any(p < 0.05))
        adj += any(v < 0.05 for v in adjust_pvalues(p.tolist(), "holm"))
    assert raw / reps > 0.3  # uncorrected, ten null tests find "something" often
    assert adj / reps <= binomial_band(0.05, reps)[1]


def test_breakdown_corrects_over_the_family_and_suppresses_small_cells() -> None:
    data = simulate_experiment(5, n=6000, effects={"treated": 0.05, "generic": 0.0})
    rows = lift_by(data, "conversion", "cohort", control="control", correction="holm")
    assert {r.segment for r in rows} == {"cohort=a", "cohort=b", "cohort=c"}
    assert all(r.p_adjusted is not None and r.p_adjusted >= r.p_value for r in rows)
    treated = [r for r in rows if r.arm == "treated"]
    assert all(r.absolute_ci.contains(0.05) or r.significant for r in treated)
    big = lift_by(data, "conversion", "cohort", control="control", min_count=10_000)
    assert all(r.suppressed and r.n_arm == 0 and r.p_adjusted is None for r in big)


def test_relative_lift_is_explicitly_missing_when_control_never_converts() -> None:
    lift = estimate_lift(
        np.asarray([0.0, 1.0, 0.0, 1.0]), np.zeros(5), metric="m", arm="t", control="c"
    )
    assert lift.relative is None
    assert lift.relative_ci is None
    assert any("control mean is zero" in n for n in lift.notes)
    flat = estimate_lift(np.zeros(4), np.zeros(4), metric="m", arm="t", control="c", bootstrap=50)
    assert flat.p_value == 1.0
    assert flat.absolute_ci.width == 0.0
    # A treated arm that never converts still has a relative lift of -100 %.
    down = estimate_lift(
        np.zeros(50), np.r_[np.ones(5), np.zeros(45)], metric="m", arm="t", control="c"
    )
    assert down.relative == pytest.approx(-1.0)
    assert down.relative_ci is not None
    assert down.relative_ci.method == "delta"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_t": np.zeros(0)}, "arm 't' is empty"),
        ({"y_c": np.zeros(0)}, "control 'c' is empty"),
        ({"y_t": np.zeros(1)}, "fewer than 2 rows"),
        ({"level": 1.5}, r"confidence level 1.5 is outside \(0, 1\)"),
    ],
)
def test_invalid_lift_inputs_fail_with_one_clear_line(
    kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "y_t": np.ones(5),
        "y_c": np.zeros(5),
        "metric": "m",
        "arm": "t",
        "control": "c",
    }
    args.update(kwargs)
    with pytest.raises(InputError, match=message):
        estimate_lift(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: lift_table(d, ["conversion"], control="nobody"), "control 'nobody' has no rows"),
        (lambda d: lift_table(d, ["visits"], control="control"), "unknown metric 'visits'"),
        (
            lambda d: lift_table(d, ["conversion"], control="control", covariate="x"),
            "unknown covariate 'x'",
        ),
        (
            lambda d: lift_table(d, ["conversion"], control="control", arms=["ghost"]),
            "arm 'ghost' has no rows",
        ),
        (
            lambda d: lift_table(d, ["conversion"], control="control", arms=["control"]),
            "no treatment arm besides the control",
        ),
        (lambda d: lift_by(d, "conversion", "age", control="control"), "unknown breakdown 'age'"),
        (
            lambda d: lift_by(d, "conversion", "cohort", control="control", arms=["control"]),
            "no treatment arm",
        ),
        (lambda d: adjust_pvalues([0.2, 1.3]), r"each must lie in \[0, 1\]"),
        (lambda d: adjust_pvalues([0.2], "sidak"), "unknown method 'sidak'"),
        (lambda d: mde(0.3, 0, 10), "at least one user"),
        (lambda d: power(0.1, 0.3, 10, 0), "at least one user"),
        (lambda d: mde(0.3, 10, 10, alpha=0.0), r"alpha 0.0 is outside \(0, 1\)"),
        (lambda d: mde(0.3, 10, 10, power=1.0), r"power 1.0 is outside \(0, 1\)"),
        (lambda d: sample_size(0.0, 0.3), "an effect of zero"),
        (lambda d: sample_size(0.1, 0.3, ratio=0), "ratio 0 must be positive"),
        (lambda d: plan_test("revenue", 12.0, 10, 10), r"outside \[0, 1\]; give sd"),
    ],
)
def test_invalid_analysis_requests_fail_with_one_clear_line(call: object, message: str) -> None:
    data = simulate_experiment(0, n=300)
    with pytest.raises(InputError, match=message):
        call(data)  # type: ignore[operator]


def test_treatment_without_control_rows_is_an_error_not_a_nan() -> None:
    data = simulate_experiment(0, n=300)
    only_treated = data.subset(data.arm == "treated")
    with pytest.raises(InputError, match="control 'control' has no rows"):
        lift_table(only_treated, ["conversion"], control="control")
