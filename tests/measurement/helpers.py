"""Seeded simulators with known ground truth for the measurement tests."""

from __future__ import annotations

import math

import numpy as np

from adloom.measurement.logs import BanditLog, ExperimentData


def binomial_band(p: float, reps: int, sigmas: float = 3.5) -> tuple[float, float]:
    """Where an empirical rate of ``reps`` Bernoulli(p) trials lands almost surely."""
    half = sigmas * math.sqrt(p * (1 - p) / reps)
    return p - half, p + half


def simulate_experiment(
    seed: int,
    *,
    n: int = 3000,
    base: float = 0.10,
    effects: dict[str, float] | None = None,
    control: str = "control",
    with_pre: bool = False,
) -> ExperimentData:
    """Binary outcome per user; each arm adds a known absolute effect over ``control``.

    With ``with_pre`` the outcome probability also rises with a pre-period covariate, so
    CUPED has something to remove.
    """
    rng = np.random.default_rng(seed)
    effects = effects if effects is not None else {"treated": 0.03}
    names = [control, *effects]
    arm = rng.choice(np.asarray(names, dtype=np.str_), size=n)
    pre = rng.normal(0.0, 1.0, size=n)
    p = np.full(n, base)
    if with_pre:
        p = np.clip(base + 0.2 * pre, 0.0, 1.0)
    for a, eff in effects.items():
        p = np.where(arm == a, np.clip(p + eff, 0, 1), p)
    y = (rng.random(n) < p).astype(np.float64)
    revenue = y * rng.gamma(2.0, 20.0, size=n)
    cohort = rng.choice(np.asarray(["a", "b", "c"], dtype=np.str_), size=n)
    return ExperimentData(
        arm=arm,
        outcomes={"conversion": y, "revenue": revenue},
        covariates={"pre": pre},
        segments={"cohort": cohort},
        features=pre[:, None],
        feature_names=("pre",),
        source="simulation",
    )


def simulate_bandit(
    seed: int,
    *,
    n: int = 4000,
    n_actions: int = 5,
    n_positions: int = 2,
    d: int = 3,
) -> tuple[BanditLog, np.ndarray, np.ndarray]:
    """A logistic click model, a softmax logging policy and a different target policy.

    Returns the log, the target policy's action distribution (n, actions, positions) and
    the true expected reward per round and slot under it (for the ground truth).
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w = np.linspace(-1.0, 1.0, n_actions * d).reshape(n_actions, d)
    slot = np.asarray([0.0, -0.5, -0.9][:n_positions])
    logits = -1.5 + x @ w.T  # (n, A)
    q = 1 / (1 + np.exp(-(logits[:, :, None] + slot[None, None, :])))  # (n, A, P)
    behave = np.exp(0.5 * (x @ w.T))
    behave /= behave.sum(axis=1, keepdims=True)
    target = np.exp(-0.8 * (x @ w.T) + 0.3)
    target /= target.sum(axis=1, keepdims=True)
    position = rng.integers(0, n_positions, size=n)
    cum = behave.cumsum(axis=1)
    action = (rng.random((n, 1)) > cum).sum(axis=1)
    action = np.minimum(action, n_actions - 1)
    reward = (rng.random(n) < q[np.arange(n), action, position]).astype(np.float64)
    log = BanditLog(
        action=action.astype(np.int64),
        reward=reward,
        propensity=behave[np.arange(n), action],
        n_actions=n_actions,
        position=position.astype(np.int64),
        n_positions=n_positions,
        context=x,
        source="simulation",
    )
    target_dist = np.repeat(target[:, :, None], n_positions, axis=2)
    return log, target_dist, q


def true_policy_value(target_dist: np.ndarray, q: np.ndarray, position: np.ndarray) -> float:
    """Expected reward of the target policy in the logged rounds' slots."""
    idx = np.arange(len(position))
    return float((target_dist[idx, :, position] * q[idx, :, position]).sum(axis=1).mean())
