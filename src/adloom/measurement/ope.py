"""Off-policy evaluation: what click rate would another serving policy have had?

The logs of the policy that served (with its propensities) are reweighted toward the
policy being evaluated. Four estimators trade bias for variance differently:

* ``ips``: inverse propensity scoring; unbiased when propensities are right, noisy when
  the two policies disagree.
* ``snips``: self-normalized IPS; a little biased, much steadier with heavy weights.
* ``dm``: the direct method; averages a reward model over the evaluated policy's choices.
  Steady, but only as right as the model.
* ``dr``: doubly robust; the direct method corrected by weighted model residuals, right
  when either the model or the propensities are.

A policy is given as its action distribution: shape ``(actions, slots)`` for a policy that
ignores context, ``(rounds, actions, slots)`` otherwise; each slot's column sums to one.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from adloom.domain import Model
from adloom.errors import InputError
from adloom.measurement.lift import Interval, z_quantile
from adloom.measurement.logs import BanditLog, FloatArray, IntArray
from adloom.registry import Backend, BackendConfig


class OPEEstimate(Model):
    """One estimator's value of one policy, with its interval and weight diagnostics."""

    estimator: str
    value: float
    interval: Interval
    bootstrap_interval: Interval | None = None
    n: int = Field(ge=1)
    effective_sample_size: float | None = Field(
        None, description="(sum w)^2 / sum w^2: how many logged rounds the weights are worth."
    )
    max_weight: float | None = None
    notes: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- policies


def check_distribution(log: BanditLog, dist: FloatArray, where: str = "policy") -> FloatArray:
    """The evaluated policy's action distribution as ``(rounds, actions, slots)`` or
    ``(1, actions, slots)``; shape, sign and normalization are checked."""
    arr = np.asarray(dist, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim == 2:
        arr = arr[None]
    if (
        arr.ndim != 3
        or arr.shape[1:] != (log.n_actions, log.n_positions)
        or arr.shape[0]
        not in (
            1,
            len(log),
        )
    ):
        raise InputError(
            where,
            f"action distribution of shape {np.shape(dist)} does not fit the log "
            f"({len(log)} rounds, {log.n_actions} actions, {log.n_positions} slots)",
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InputError(where, "action probabilities must be finite and non-negative")
    sums = arr.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > 1e-6):
        raise InputError(where, "action probabilities of each slot must sum to 1")
    return arr


def uniform_distribution(n_actions: int, n_positions: int = 1) -> FloatArray:
    return np.full((n_actions, n_positions), 1.0 / n_actions)


def empirical_distribution(log: BanditLog, prior: float = 0.0) -> FloatArray:
    """A context-free policy's action distribution, from how often it chose each action in
    each slot in its own logs (rewards are not used).

    For a policy that changes over time (a bandit learning as it serves) this is its
    time-averaged distribution, which is what its time-averaged click rate depends on.
    ``prior`` adds pseudo-counts so actions it never chose keep a little mass.
    """
    counts = np.full((log.n_actions, log.n_positions), float(prior))
    np.add.at(counts, (log.action, log.slots), 1.0)
    totals = counts.sum(axis=0, keepdims=True)
    if np.any(totals == 0):
        raise InputError(log.source, "a slot has no logged rounds: its distribution is unknown")
    return np.asarray(counts / totals, dtype=np.float64)


def thompson_distribution(
    log: BanditLog,
    *,
    draws: int = 20_000,
    prior: tuple[float, float] = (1.0, 1.0),
    seed: int = 0,
) -> FloatArray:
    """Bernoulli Thompson sampling's ranking distribution, by Monte Carlo.

    Each item's click rate gets a Beta(prior + clicks, prior + non-clicks) posterior from
    the log; each draw ranks the sampled rates and fills slots top down, so slot ``k``
    holds the ``k``-th best sample. Only as good as the click counts: a policy whose
    posterior came from far more traffic than the log holds is not recovered.
    """
    if log.n_positions > log.n_actions:
        raise InputError(log.source, "more slots than actions: a ranking cannot fill them")
    a0, b0 = prior
    if a0 <= 0 or b0 <= 0:
        raise InputError("prior", "Beta prior parameters must be positive")
    clicks = np.zeros(log.n_actions)
    shown = np.zeros(log.n_actions)
    np.add.at(clicks, log.action, log.reward)
    np.add.at(shown, log.action, 1.0)
    rng = np.random.default_rng(seed)
    out = np.zeros((log.n_actions, log.n_positions))
    chunk = 5_000
    for start in range(0, draws, chunk):
        m = min(chunk, draws - start)
        theta = rng.beta(a0 + clicks, b0 + np.maximum(shown - clicks, 0.0), size=(m, log.n_actions))
        top = np.argpartition(-theta, log.n_positions - 1, axis=1)[:, : log.n_positions]
        order = np.argsort(-np.take_along_axis(theta, top, axis=1), axis=1)
        ranked = np.take_along_axis(top, order, axis=1)
        for p in range(log.n_positions):
            out[:, p] += np.bincount(ranked[:, p], minlength=log.n_actions)
    return out / draws


# --------------------------------------------------------------------------- reward models


class RewardModel(ABC):
    """Predicts the expected reward of every action in every slot of each logged round."""

    @abstractmethod
    def fit_predict(self, log: BanditLog) -> FloatArray:
        """Shape ``(rounds, actions, slots)``; each round's prediction must not have been
        fitted on that round (cross-fitting), or DR loses its guarantee."""


class LogisticRewardModel(RewardModel):
    """Logistic regression on action, slot and context, cross-fitted over ``folds``.

    With ``interactions`` each action gets its own context weights (right for few actions
    and rich data); without, actions shift a shared context effect (steadier when clicks
    are rare).
    """

    def __init__(
        self, *, folds: int = 2, c: float = 1.0, interactions: bool = False, seed: int = 0
    ) -> None:
        if folds < 2:
            raise InputError("reward model", "cross-fitting needs at least 2 folds")
        self.folds, self.c, self.interactions, self.seed = folds, c, interactions, seed

    def _design(self, log: BanditLog, rows: IntArray) -> FloatArray:
        n = len(rows)
        a = np.zeros((n, log.n_actions))
        a[np.arange(n), log.action[rows]] = 1.0
        s = np.zeros((n, log.n_positions))
        s[np.arange(n), log.slots[rows]] = 1.0
        blocks = [a, s]
        if log.context is not None:
            x = log.context[rows]
            blocks.append(x)
            if self.interactions:
                blocks.append((a[:, :, None] * x[:, None, :]).reshape(n, -1))
        return np.hstack(blocks)

    def _grid(
        self, log: BanditLog, rows: IntArray, coef: FloatArray, intercept: float
    ) -> FloatArray:
        na, npos = log.n_actions, log.n_positions
        b_action, b_slot = coef[:na], coef[na : na + npos]
        eta = np.full((len(rows), na, npos), intercept)
        eta += b_action[None, :, None] + b_slot[None, None, :]
        if log.context is not None:
            x = log.context[rows]
            d = x.shape[1]
            eta += (x @ coef[na + npos : na + npos + d])[:, None, None]
            if self.interactions:
                w = coef[na + npos + d :].reshape(na, d)
                eta += (x @ w.T)[:, :, None]
        return np.asarray(1.0 / (1.0 + np.exp(-eta)), dtype=np.float64)

    def fit_predict(self, log: BanditLog) -> FloatArray:
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(self.seed)
        fold = rng.permutation(len(log)) % self.folds
        out = np.empty((len(log), log.n_actions, log.n_positions))
        for k in range(self.folds):
            train = np.flatnonzero(fold != k)
            test = np.flatnonzero(fold == k)
            y = log.reward[train]
            if np.all(y == y[0]) or not np.all((y == 0) | (y == 1)):
                # One class only (rare clicks) or a non-binary reward: the smoothed mean.
                out[test] = (y.sum() + 0.5) / (len(y) + 1.0)
                continue
            model = LogisticRegression(C=self.c, max_iter=2000)
            model.fit(self._design(log, train), y)
            out[test] = self._grid(log, test, model.coef_[0], float(model.intercept_[0]))
        return out


# --------------------------------------------------------------------------- estimators


@dataclass(frozen=True)
class _Rows:
    """Per-round quantities every estimator is a function of (so bootstrap can resample)."""

    w: FloatArray  # target / logging probability of the logged action in its slot
    r: FloatArray
    q_logged: FloatArray | None  # model's prediction for the logged action
    q_policy: FloatArray | None  # model's prediction averaged over the target's choices

    def take(self, idx: IntArray) -> _Rows:
        return _Rows(
            self.w[idx],
            self.r[idx],
            None if self.q_logged is None else self.q_logged[idx],
            None if self.q_policy is None else self.q_policy[idx],
        )


class EstimatorConfig(BackendConfig):
    type: str


class Estimator(Backend[EstimatorConfig], ABC):
    """One off-policy estimator; ``needs_model`` ones take a reward model's predictions."""

    name: ClassVar[str]
    needs_model: ClassVar[bool] = False
    Config: ClassVar[type[BackendConfig]] = EstimatorConfig

    def estimate(
        self,
        log: BanditLog,
        policy: FloatArray,
        *,
        predictions: FloatArray | None = None,
        level: float = 0.95,
        bootstrap: int = 0,
        seed: int = 0,
    ) -> OPEEstimate:
        """The policy's expected reward per logged round, with a normal interval from the
        estimator's influence function (and a percentile bootstrap if asked)."""
        rows = _prepare(log, policy, predictions if self.needs_model else None)
        if self.needs_model and rows.q_policy is None:
            raise InputError(self.name, "this estimator needs reward-model predictions")
        value, influence = self.compute(rows)
        n = len(log)
        se = float(np.std(influence, ddof=1)) / math.sqrt(n) if n > 1 else 0.0
        z = z_quantile(0.5 + level / 2)
        interval = Interval(low=value - z * se, high=value + z * se, level=level, method="normal")
        boot = None
        if bootstrap:
            rng = np.random.default_rng(seed)
            values = np.asarray(
                [self.compute(rows.take(rng.integers(0, n, n)))[0] for _ in range(bootstrap)]
            )
            tail = (1 - level) / 2 * 100
            lo, hi = np.percentile(values, [tail, 100 - tail])
            boot = Interval(low=float(lo), high=float(hi), level=level, method="bootstrap")
        w = rows.w
        notes = []
        ess = float(w.sum() ** 2 / np.sum(w**2)) if np.any(w > 0) else 0.0
        if ess < 0.05 * n:
            notes.append(
                f"effective sample size {ess:.0f} of {n}: the policies rarely agree, "
                "weighted estimates are unreliable"
            )
        if self.name == "dm":
            notes.append("the interval leaves out the reward model's own error")
        if log.reward.sum() < 30 and np.all((log.reward == 0) | (log.reward == 1)):
            notes.append(f"only {int(log.reward.sum())} rewards logged: intervals are wide")
        return OPEEstimate(
            estimator=self.name,
            value=value,
            interval=interval,
            bootstrap_interval=boot,
            n=n,
            effective_sample_size=ess,
            max_weight=float(w.max()),
            notes=notes,
        )

    @abstractmethod
    def compute(self, rows: _Rows) -> tuple[float, FloatArray]:
        """The estimate and its per-round influence values (their mean's sd is the se)."""


def _prepare(log: BanditLog, policy: FloatArray, predictions: FloatArray | None) -> _Rows:
    dist = check_distribution(log, policy)
    idx = np.arange(len(log))
    pick = 0 if dist.shape[0] == 1 else idx
    slots = log.slots
    target = dist[pick, log.action, slots]
    w = np.asarray(target / log.propensity, dtype=np.float64)
    q_logged = q_policy = None
    if predictions is not None:
        pred = np.asarray(predictions, dtype=np.float64)
        if pred.shape != (len(log), log.n_actions, log.n_positions):
            raise InputError(
                "predictions",
                f"shape {pred.shape} does not fit the log "
                f"({len(log)}, {log.n_actions}, {log.n_positions})",
            )
        if not np.all(np.isfinite(pred)):
            raise InputError("predictions", "reward predictions must be finite")
        q_logged = pred[idx, log.action, slots]
        full = np.broadcast_to(dist, pred.shape)
        q_policy = (full[idx, :, slots] * pred[idx, :, slots]).sum(axis=1)
    return _Rows(w, log.reward, q_logged, q_policy)


class IPS(Estimator):
    name = "ips"

    def compute(self, rows: _Rows) -> tuple[float, FloatArray]:
        values = rows.w * rows.r
        return float(values.mean()), values


class SNIPS(Estimator):
    name = "snips"

    def compute(self, rows: _Rows) -> tuple[float, FloatArray]:
        mean_w = float(rows.w.mean())
        if mean_w == 0.0:
            raise InputError(
                "snips", "every importance weight is zero: the policy never takes a logged action"
            )
        value = float((rows.w * rows.r).mean() / mean_w)
        return value, value + rows.w * (rows.r - value) / mean_w


class DirectMethod(Estimator):
    name = "dm"
    needs_model = True

    def compute(self, rows: _Rows) -> tuple[float, FloatArray]:
        assert rows.q_policy is not None
        return float(rows.q_policy.mean()), rows.q_policy


class DoublyRobust(Estimator):
    name = "dr"
    needs_model = True

    def compute(self, rows: _Rows) -> tuple[float, FloatArray]:
        assert rows.q_policy is not None
        assert rows.q_logged is not None
        values = rows.q_policy + rows.w * (rows.r - rows.q_logged)
        return float(values.mean()), values


ESTIMATORS: tuple[str, ...] = ("ips", "snips", "dm", "dr")


def evaluate(
    log: BanditLog,
    policy: FloatArray,
    *,
    estimators: tuple[str, ...] = ESTIMATORS,
    model: RewardModel | None = None,
    level: float = 0.95,
    bootstrap: int = 0,
    seed: int = 0,
) -> list[OPEEstimate]:
    """Every named estimator on one log; the reward model is fitted once, if any needs it."""
    from adloom import registry

    chosen: list[Estimator] = [registry.create("ope", name, name) for name in estimators]
    predictions = None
    if any(e.needs_model for e in chosen):
        predictions = (model or LogisticRewardModel(seed=seed)).fit_predict(log)
    return [
        e.estimate(
            log, policy, predictions=predictions, level=level, bootstrap=bootstrap, seed=seed
        )
        for e in chosen
    ]


class PolicyComparison(Model):
    """An off-policy estimate of a policy against the click rate it actually had."""

    target: str
    logs: str
    truth: float = Field(description="The target policy's observed mean reward on its own logs.")
    truth_interval: Interval
    estimate: OPEEstimate
    relative_error: float
    relative_error_interval: Interval = Field(
        description="The estimate's interval, relative to the truth."
    )
    conclusive: bool = Field(
        description="False when the estimate's interval also covers the logging policy's "
        "own rate: the sample cannot tell the evaluated policy from the one that logged."
    )
    verdict: Literal["consistent", "inconsistent"] = Field(
        description="Whether the estimate's interval covers the truth's interval at all."
    )


def compare_to_truth(
    estimate: OPEEstimate,
    *,
    target: str,
    logs: str,
    truth_rewards: FloatArray,
    logging_rewards: FloatArray,
) -> PolicyComparison:
    """Relative error of an estimate against the target policy's own observed mean."""
    truth = float(truth_rewards.mean())
    if truth == 0.0:
        raise InputError(
            target, "the target policy's observed reward is zero: relative error undefined"
        )
    level = estimate.interval.level
    low, high = wilson(int(truth_rewards.sum()), len(truth_rewards), level)
    behaviour = float(logging_rewards.mean())
    iv = estimate.bootstrap_interval or estimate.interval
    return PolicyComparison(
        target=target,
        logs=logs,
        truth=truth,
        truth_interval=Interval(low=low, high=high, level=level, method="wilson"),
        estimate=estimate,
        relative_error=estimate.value / truth - 1.0,
        relative_error_interval=Interval(
            low=iv.low / truth - 1.0, high=iv.high / truth - 1.0, level=level, method=iv.method
        ),
        conclusive=not iv.contains(behaviour),
        verdict="consistent" if iv.low <= high and low <= iv.high else "inconsistent",
    )


def wilson(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (sound at the few clicks bandit logs have)."""
    if n <= 0:
        raise InputError("wilson", "no trials")
    z = z_quantile(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
