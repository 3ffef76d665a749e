"""A seeded contextual ad auction in miniature, to measure a policy's regret before it serves.

Requests come from a few discrete contexts (platform x device, one-hot encoded behind a
constant 1.0, like the server's own features), in seeded proportions. Each arm's true
click probability is a logistic function of arm, platform and device effects, scaled into
a realistic CTR band (1-8 % by default), and the environment is drawn so that the best
arm differs between contexts: a policy that ignores the context cannot reach the oracle.

Regret is expected regret (the gap in true click probability, not in sampled clicks), so
curves are smooth and comparable. It is reported against the best *fixed* arm (one arm
for every request, the usual bandit yardstick) and against the per-context oracle; a
contextual policy can end up with negative regret against the former. Every policy in
one comparison sees the same requests and the same click draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from adloom import registry
from adloom.errors import AdloomError
from adloom.serving.bandits.base import Policy

Baseline = Literal["fixed", "oracle"]
_ENVIRONMENT, _REQUESTS = 101, 102
_ATTEMPTS = 1000


def _stream(seed: int, purpose: int) -> np.random.Generator:
    """A random stream of its own for ``purpose``.

    Policies are usually seeded with the same number as the run; were the requests drawn
    from ``default_rng(seed)`` too, the policy's uniform draws would replay the very
    numbers that picked the context, and a choice would depend on the context it serves.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(purpose,)))


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


class Environment:
    """K arms, ``platforms x devices`` contexts and their true click probabilities."""

    def __init__(
        self,
        arms: int = 6,
        platforms: int = 3,
        devices: int = 2,
        seed: int = 0,
        ctr_range: tuple[float, float] = (0.01, 0.08),
        contextual_gain: float = 0.15,
    ) -> None:
        low, high = ctr_range
        if not 0.0 < low < high < 1.0:
            raise AdloomError(f"ctr_range: need 0 < low < high < 1, got {ctr_range}")
        if arms < 2 or platforms < 1 or devices < 1 or platforms * devices < 2:
            raise AdloomError("Environment: need at least 2 arms and 2 contexts")
        if not 0.0 <= contextual_gain <= 0.5:
            raise AdloomError(f"contextual_gain: need 0..0.5, got {contextual_gain}")
        rng = _stream(seed, _ENVIRONMENT)
        self.arms = tuple(f"arm-{k}" for k in range(arms))
        pairs = [(p, d) for p in range(platforms) for d in range(devices)]
        self.labels = tuple(f"platform-{p}/device-{d}" for p, d in pairs)
        features = np.zeros((len(pairs), 1 + platforms + devices))
        features[:, 0] = 1.0
        for c, (p, d) in enumerate(pairs):
            features[c, 1 + p] = 1.0
            features[c, 1 + platforms + d] = 1.0
        features.setflags(write=False)
        self.features = features
        self.weights = rng.dirichlet(np.full(len(pairs), 4.0))
        for _ in range(_ATTEMPTS):
            # Context effects larger than the arm effect, so the ranking of arms changes
            # from context to context; redrawn until knowing the context is worth at
            # least ``contextual_gain`` more clicks than the best single arm.
            logit = (
                rng.normal(0.0, 0.5, (arms, 1))
                + rng.normal(0.0, 1.0, (arms, platforms))[:, [p for p, _ in pairs]]
                + rng.normal(0.0, 0.7, (arms, devices))[:, [d for _, d in pairs]]
            )
            span = (logit - logit.min()) / (logit.max() - logit.min())
            ctr = 1.0 / (1.0 + np.exp(-(_logit(low) + span * (_logit(high) - _logit(low)))))
            fixed = float((ctr @ self.weights).max())
            if float(ctr.max(axis=0) @ self.weights) >= (1.0 + contextual_gain) * fixed:
                break
        else:
            raise AdloomError(
                f"contextual_gain: {contextual_gain} not reached with {arms} arms and "
                f"{len(pairs)} contexts; lower it or add contexts"
            )
        #: True click probability per (arm, context).
        self.ctr: np.ndarray = ctr
        #: The arm with the best click rate over the context mix.
        self.best_fixed = int((self.ctr @ self.weights).argmax())

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def gaps(self, against: Baseline) -> np.ndarray:
        """Expected regret of playing each arm in each context, shape (arms, contexts)."""
        best = self.ctr[self.best_fixed] if against == "fixed" else self.ctr.max(axis=0)
        gap: np.ndarray = best[None, :] - self.ctr
        return gap


@dataclass(frozen=True)
class RegretCurve:
    """Cumulative expected regret after each round, against both yardsticks."""

    name: str
    fixed: np.ndarray
    oracle: np.ndarray
    clicks: int

    @property
    def rounds(self) -> int:
        return int(self.fixed.shape[0])

    def _curve(self, against: Baseline) -> np.ndarray:
        return self.fixed if against == "fixed" else self.oracle

    def at(self, rounds: int, against: Baseline = "fixed") -> float:
        """Cumulative regret after the first ``rounds`` rounds."""
        if not 0 <= rounds <= self.rounds:
            raise AdloomError(f"rounds: {rounds} is outside 0..{self.rounds}")
        return float(self._curve(against)[rounds - 1]) if rounds else 0.0

    def between(self, start: int, stop: int, against: Baseline = "fixed") -> float:
        """Regret accumulated over rounds ``start`` (inclusive) to ``stop`` (exclusive)."""
        return self.at(stop, against) - self.at(start, against)

    def per_round(self, start: int, stop: int, against: Baseline = "fixed") -> float:
        return self.between(start, stop, against) / max(stop - start, 1)


def run(policy: Policy, env: Environment, rounds: int, seed: int = 0) -> RegretCurve:
    """Serve ``rounds`` requests with ``policy``, feeding back impressions and clicks."""
    if rounds < 1:
        raise AdloomError(f"rounds: need at least 1, got {rounds}")
    rng = _stream(seed, _REQUESTS)
    contexts = rng.choice(len(env.weights), size=rounds, p=env.weights)
    coins = rng.random(rounds).tolist()
    index = {arm: k for k, arm in enumerate(env.arms)}
    arms = list(env.arms)
    rows = list(env.features)  # read-only views, shared like the server's cached vectors
    ctr = env.ctr.T.tolist()
    chosen = np.empty(rounds, dtype=np.intp)
    clicks = 0
    for t, c in enumerate(contexts.tolist()):
        x = rows[c]
        arm = policy.choose(arms, x).arm
        k = index[arm]
        chosen[t] = k
        policy.observe(arm, x)
        if coins[t] < ctr[c][k]:
            policy.reward(arm, x, 1.0)
            clicks += 1
    return RegretCurve(
        name=policy.name,
        fixed=np.cumsum(env.gaps("fixed")[chosen, contexts]),
        oracle=np.cumsum(env.gaps("oracle")[chosen, contexts]),
        clicks=clicks,
    )


def _label(spec: str | dict[str, Any]) -> str:
    if isinstance(spec, str):
        return spec
    extra = ", ".join(f"{k}={v}" for k, v in spec.items() if k not in ("type", "seed"))
    name = str(spec.get("type", "thompson"))
    return f"{name}({extra})" if extra else name


def compare(
    names: Sequence[str | dict[str, Any]],
    rounds: int,
    seed: int = 0,
    env: Environment | None = None,
) -> dict[str, RegretCurve]:
    """Regret curves of several policies (short names or config dicts) on one environment.

    Every policy is built through the registry with the same seed and sees the same
    requests and click draws, so differences come from the policies alone.
    """
    env = env if env is not None else Environment(seed=seed)
    curves: dict[str, RegretCurve] = {}
    for spec in names:
        config: dict[str, Any] = {"type": spec} if isinstance(spec, str) else dict(spec)
        config.setdefault("seed", seed)
        policy = registry.create("policy", config, "thompson")
        label = _label(spec)
        curve = run(policy, env, rounds, seed)
        curves[label] = RegretCurve(label, curve.fixed, curve.oracle, curve.clicks)
    return curves
