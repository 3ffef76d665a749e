"""Reference policies the contextual ones are measured against.

``epsilon`` ignores the context: it plays the arm with the best click rate so far, except
for the ``exploration`` share drawn uniformly; an arm never shown is tried first, since
nothing says it is worse. ``uniform`` plays every eligible arm equally often, the
logging policy that makes off-policy estimates simplest and the floor any learner must
beat.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np

from adloom.registry import BackendConfig
from adloom.serving.bandits._mix import (
    MixedPolicy,
    StateError,
    best_share,
    require_keys,
)
from adloom.serving.bandits.base import PolicyConfig


class EpsilonConfig(PolicyConfig):
    type: Literal["epsilon"] = "epsilon"


class UniformConfig(PolicyConfig):
    type: Literal["uniform"] = "uniform"


class EpsilonGreedy(MixedPolicy):
    """Greedy on each arm's empirical click rate, with a uniform share ``exploration``."""

    name: ClassVar[str] = "epsilon"
    Config: ClassVar[type[BackendConfig]] = EpsilonConfig

    def __init__(self, config: EpsilonConfig | None = None) -> None:
        super().__init__(config)
        self._arms: dict[str, list[float]] = {}  # arm -> [impressions, clicks]

    def means(self, arms: list[str]) -> list[float]:
        """Empirical click rate per arm; ``inf`` for an arm never shown (tried first)."""
        means = []
        for arm in arms:
            counts = self._arms.get(arm)
            means.append(counts[1] / counts[0] if counts and counts[0] > 0.0 else math.inf)
        return means

    def _rule(self, arms: list[str], x: np.ndarray) -> tuple[np.ndarray, list[bool]]:
        return best_share(self.means(arms))

    def _observe(self, arm: str, x: np.ndarray) -> None:
        self._arms.setdefault(arm, [0.0, 0.0])[0] += 1.0

    def _reward(self, arm: str, x: np.ndarray, value: float) -> None:
        counts = self._arms.get(arm)
        if counts is not None:
            counts[1] = min(counts[1] + max(float(value), 0.0), counts[0])

    def _export(self) -> dict[str, Any]:
        return {"arms": {a: list(v) for a, v in self._arms.items()}}

    def _import(self, state: dict[str, Any]) -> None:
        data = require_keys(state, ("arms",), self.name)
        try:
            arms = {str(a): [float(n), float(s)] for a, (n, s) in data["arms"].items()}
        except (AttributeError, TypeError, ValueError) as exc:
            raise StateError(f"{self.name} state: {exc}") from None
        self._arms = arms


class UniformRandom(MixedPolicy):
    """Every eligible arm with the same probability; learns nothing."""

    name: ClassVar[str] = "uniform"
    Config: ClassVar[type[BackendConfig]] = UniformConfig

    def _rule(self, arms: list[str], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(arms)
        return np.full(k, 1.0 / k), np.zeros(k, dtype=bool)

    def _observe(self, arm: str, x: np.ndarray) -> None:
        return None

    def _reward(self, arm: str, x: np.ndarray, value: float) -> None:
        return None

    def _export(self) -> dict[str, Any]:
        return {}

    def _import(self, state: dict[str, Any]) -> None:
        return None
