"""Meta-learners on simulated heterogeneous effects, Qini/AUUC and the targeting rule."""

from __future__ import annotations

import numpy as np
import pytest

from adloom import registry
from adloom.errors import InputError
from adloom.measurement.uplift import (
    TargetingRule,
    TLearner,
    XLearner,
    evaluate_targeting,
    evaluate_uplift,
    fit_and_evaluate,
    holdout_split,
)


def _heterogeneous(seed: int, n: int = 6000, share: float = 0.5):  # type: ignore[no-untyped-def]
    """Conversion with an effect only for users with x0 > 0 (+0.15), none for the rest."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    treated = rng.random(n) < share
    tau = np.where(x[:, 0] > 0, 0.15, 0.0)
    p = 0.1 + 0.05 * (x[:, 1] > 0) + treated * tau
    y = (rng.random(n) < p).astype(np.float64)
    return x, treated, y, tau


@pytest.mark.parametrize("learner", ["t", "x", "s"])
def test_learners_rank_responders_first_and_beat_random(learner: str) -> None:
    x, treated, y, _ = _heterogeneous(1, share=0.3 if learner == "x" else 0.5)
    # A linear S-learner cannot express an effect that varies by user; give it a forest.
    base = "forest" if learner == "s" else "linear"
    chosen = registry.create("uplift", {"type": learner, "model": base}, "x")
    model, ev = fit_and_evaluate(chosen, x, treated, y, metric="conversion", shuffles=100)
    assert model.name == learner
    assert ev.qini > ev.random_qini_high
    assert ev.beats_random >= 0.95
    assert ev.auuc > ev.auuc_random
    assert ev.curve.fraction[0] == 0.0
    assert ev.curve.fraction[-1] == 1.0
    assert ev.curve.qini[-1] == pytest.approx(ev.ate, rel=0.2)
    x_new = np.asarray([[2.0, 0.0, 0.0], [-2.0, 0.0, 0.0]])
    up = model.predict(x_new)
    assert up[0] > up[1]  # the S-learner shrinks the effect, but keeps the order


def test_x_learner_recovers_the_effect_with_a_small_control_arm() -> None:
    x, treated, y, tau = _heterogeneous(2, n=8000, share=0.85)
    model = XLearner(XLearner.Config(type="x", model="linear")).fit(x, treated, y)
    pred = model.predict(x)
    assert abs(pred.mean() - tau.mean()) < 0.03
    assert pred[x[:, 0] > 1].mean() > pred[x[:, 0] < -1].mean() + 0.05


def test_qini_of_random_scores_is_centred_on_zero() -> None:
    _x, treated, y, _ = _heterogeneous(3)
    rng = np.random.default_rng(0)
    ev = evaluate_uplift(rng.random(len(y)), treated, y, shuffles=200)
    assert abs(ev.qini - ev.random_qini_mean) < 3 * ev.random_qini_sd
    assert abs(ev.random_qini_mean) < 3 * ev.random_qini_sd / np.sqrt(200) + 1e-3
    assert ev.auuc_random == pytest.approx(ev.ate / 2, rel=1e-6)


def test_targeting_rule_spends_only_where_uplift_pays() -> None:
    x, treated, y, tau = _heterogeneous(4, n=20_000)
    rule = TargetingRule(value_per_outcome=10.0, cost_per_contact=0.5)
    # With the true effect as the score: reach x0 > 0 (worth 1.5 each), skip the rest.
    result = evaluate_targeting(rule, tau, treated, y)
    assert result.share_targeted == pytest.approx((x[:, 0] > 0).mean())
    assert result.gain_over_best_blanket > 0
    assert result.interval.contains(result.value)
    # Expected net value per user, from the simulation's parameters.
    expected = 10 * (0.125 + 0.5 * 0.15) - 0.5 * 0.5
    assert abs(result.value - expected) < 4 * (result.interval.width / 3.92)
    none = evaluate_targeting(TargetingRule(cost_per_contact=5.0), tau, treated, y)
    assert none.share_targeted == 0.0
    assert none.value == pytest.approx(none.treat_none, rel=0.1)


def test_uplift_learners_are_registered_backends() -> None:
    assert {"s", "t", "x"} <= set(registry.available("uplift"))
    t = registry.create("uplift", {"type": "t", "model": "forest"}, "x")
    assert isinstance(t, TLearner)
    assert t.config.model == "forest"
    x, treated, y, _ = _heterogeneous(5, n=600)
    assert t.fit(x, treated, y).predict(x[:3]).shape == (3,)
    # A revenue-like continuous outcome takes the regressor path.
    cont = registry.create("uplift", "x", "x").fit(x, treated, y * 20.0 + x[:, 2])
    assert np.all(np.isfinite(cont.predict(x[:5])))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x, t, y: TLearner().fit(x, np.ones(len(y), bool), y), "no control rows"),
        (lambda x, t, y: TLearner().fit(x, np.zeros(len(y), bool), y), "no treated rows"),
        (lambda x, t, y: TLearner().fit(x[:5], t, y), "one row per user"),
        (lambda x, t, y: TLearner().fit(x, t, y * np.nan), "must be finite"),
        (lambda x, t, y: TLearner().predict(x), "predict called before fit"),
        (lambda x, t, y: evaluate_uplift(y[:5], t, y), "one row per user"),
        (lambda x, t, y: evaluate_uplift(y, np.ones(len(y), bool), y), "both treated and control"),
        (lambda x, t, y: evaluate_uplift(np.full(len(y), np.inf), t, y), "must be finite"),
        (
            lambda x, t, y: evaluate_targeting(TargetingRule(), y, np.zeros(len(y), bool), y),
            "both treated and control",
        ),
        (lambda x, t, y: holdout_split(10, 1.5), r"outside \(0, 1\)"),
        (lambda x, t, y: holdout_split(1, 0.5), "too few to split"),
    ],
)
def test_invalid_uplift_inputs_fail_with_one_line(call: object, message: str) -> None:
    x, treated, y, _ = _heterogeneous(0, n=200)
    with pytest.raises(InputError, match=message):
        call(x, treated, y)  # type: ignore[operator]


def test_one_class_arm_falls_back_to_a_constant() -> None:
    x, treated, _, _ = _heterogeneous(6, n=500)
    y = np.where(treated, 1.0, 0.0)
    pred = TLearner(TLearner.Config(type="t", model="linear")).fit(x, treated, y).predict(x[:4])
    assert np.allclose(pred, 1.0)
