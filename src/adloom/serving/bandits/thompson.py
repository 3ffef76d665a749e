"""Contextual Thompson sampling for rare binary rewards over discrete request contexts.

Clicks are rare (CTR of 0.5-5 %), so a Beta-Bernoulli posterior is kept per (arm, context
bucket), the bucket being the rounded feature vector. A context sees few pulls per arm,
so its posterior is shrunk toward what the arm does in the other contexts: that record is
the bucket's prior, worth at most ``prior_strength`` pseudo-observations (and never more
than it has seen), which lets a new context start from the arm's track record.

Sampling a Beta per arm and draw with numpy's rejection samplers costs hundreds of
microseconds, too slow for the request path. A Beta(a, b) variate is G1 / (G1 + G2) with
independent gammas of shapes a and b, and the largest Beta draw is the largest G1 / G2, so
each gamma is drawn through the Wilson-Hilferty approximation (the cube root of a gamma is
close to normal, with the right skew kept even at a handful of clicks) from a slice of
pre-drawn normals: ``draws`` posterior draws for every arm at once in a few fused array
operations. The share of draws each arm wins is the rule's probability; the arm is then
drawn from that vector, so the logged propensity is exact for the rule applied. The slice
is picked by the state's version, so the estimate is a fixed function of the learned state
and ``probabilities`` returns what ``choose`` used.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from adloom.registry import BackendConfig
from adloom.serving.bandits._mix import MixedPolicy, StateError, require_keys, typed_config
from adloom.serving.bandits.base import PolicyConfig

_POOL = 1 << 16
_TINY = 1e-12
_KEY_CACHE = 4096
_ZERO = (0.0, 0.0)
_EMPTY: dict[str, list[float]] = {}
_MASK64 = (1 << 64) - 1


class ThompsonConfig(PolicyConfig):
    type: Literal["thompson"] = "thompson"
    prior_alpha: float = Field(
        1.0, gt=0.0, description="Pseudo-clicks of the base prior every arm starts from."
    )
    prior_beta: float = Field(
        1.0, gt=0.0, description="Pseudo-impressions without a click of the base prior."
    )
    prior_strength: float = Field(
        100.0,
        gt=0.0,
        description="Pseudo-observations the arm's record in other contexts is worth as "
        "the prior of a context bucket.",
    )
    draws: int = Field(
        256, ge=16, le=8192, description="Posterior draws that estimate the propensity."
    )
    decimals: int = Field(
        3, ge=0, le=12, description="Decimals features are rounded to when bucketing."
    )


def _mix64(value: int) -> int:
    """SplitMix64 finalizer: spreads consecutive versions over the whole draw pool."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class ThompsonSampling(MixedPolicy):
    """Beta-Bernoulli Thompson sampling per context bucket, shrunk toward the arm's record."""

    name: ClassVar[str] = "thompson"
    Config: ClassVar[type[BackendConfig]] = ThompsonConfig

    def __init__(self, config: ThompsonConfig | None = None) -> None:
        super().__init__(config)
        self.cfg = typed_config(self.config, ThompsonConfig)
        # Per arm, then per (bucket, arm): [impressions, clicks].
        self._arms: dict[str, list[float]] = {}
        self._cells: dict[bytes, dict[str, list[float]]] = {}
        self._version = 0
        child = np.random.SeedSequence(self.cfg.seed).spawn(1)[0]
        self._salt = int(child.generate_state(1, np.uint64)[0])
        self._pools: dict[int, np.ndarray] = {}
        self._keys: dict[int, tuple[np.ndarray, bytes]] = {}

    def _bucket(self, x: np.ndarray) -> bytes:
        # Request vectors are usually shared read-only arrays (one per context), so their
        # key is cached by identity; the cache holds the array, so the id is not reused.
        shared = isinstance(x, np.ndarray) and not x.flags.writeable
        if shared:
            hit = self._keys.get(id(x))
            if hit is not None and hit[0] is x:
                return hit[1]
        # ``+ 0.0`` folds -0.0 into 0.0 so both land in one bucket.
        key = (np.round(np.asarray(x, dtype=np.float64), self.cfg.decimals) + 0.0).tobytes()
        if shared:
            if len(self._keys) >= _KEY_CACHE:
                self._keys.clear()
            self._keys[id(x)] = (x, key)
        return key

    def _normals(self, count: int) -> np.ndarray:
        """``count`` standard normals from the salted pool, at an offset set by the version."""
        size = max(_POOL, 1 << (2 * count - 1).bit_length())
        pool = self._pools.get(size)
        if pool is None:
            pool = np.random.default_rng(self._salt).standard_normal(size)
            self._pools[size] = pool
        start = _mix64(self._salt ^ self._version) % (size - count + 1)
        return pool[start : start + count]

    def posterior(self, arms: list[str], x: np.ndarray) -> tuple[list[float], list[float]]:
        """Beta parameters (alphas, betas) of each arm's click rate in the bucket of ``x``."""
        cell = self._cells.get(self._bucket(x), _EMPTY)
        a0, b0, strength = self.cfg.prior_alpha, self.cfg.prior_beta, self.cfg.prior_strength
        alphas: list[float] = []
        betas: list[float] = []
        # Plain floats: for a handful of arms this beats a dozen tiny array operations.
        for arm in arms:
            total_n, total_s = self._arms.get(arm, _ZERO)
            n, s = cell.get(arm, _ZERO)
            seen = a0 + b0 + total_n - n  # the arm's record elsewhere, base prior included
            weight = strength if strength < seen else seen
            prior = weight * (a0 + total_s - s) / seen
            alphas.append(prior + s)
            betas.append(weight - prior + n - s)
        return alphas, betas

    def _rule(self, arms: list[str], x: np.ndarray) -> tuple[np.ndarray, list[bool]]:
        alphas, betas = self.posterior(arms, x)
        means = [a / (a + b) for a, b in zip(alphas, betas, strict=True)]
        best = max(means)
        greedy = [m >= best for m in means]
        k, draws = len(arms), self.cfg.draws
        if k == 1:
            return np.ones(1), greedy
        # Row 0: the click gamma, scaled by cbrt(alpha / beta) so that the ratio of the rows
        # is cbrt(G1 / G2); row 1: the no-click gamma. Both in Wilson-Hilferty form
        # cbrt(G / shape) ~ N(1 - 1/(9 shape), 1/(9 shape)).
        shape = np.array((alphas, betas))
        loc = 1.0 - 1.0 / (9.0 * shape)
        scale = 1.0 / (3.0 * np.sqrt(shape))
        ratio = np.cbrt(shape[0] / shape[1])
        loc[0] *= ratio
        scale[0] *= ratio
        # Draws along the last axis: each arm's constants broadcast over a contiguous run.
        roots = self._normals(2 * draws * k).reshape(2, k, draws) * scale[:, :, None]
        roots += loc[:, :, None]
        np.maximum(roots, _TINY, out=roots)  # the approximation's rare negative roots: ~0
        wins = np.bincount((roots[0] / roots[1]).argmax(axis=0), minlength=k)
        return wins / draws, greedy

    def _observe(self, arm: str, x: np.ndarray) -> None:
        key = self._bucket(x)
        self._arms.setdefault(arm, [0.0, 0.0])[0] += 1.0
        self._cells.setdefault(key, {}).setdefault(arm, [0.0, 0.0])[0] += 1.0
        self._version += 1

    def _reward(self, arm: str, x: np.ndarray, value: float) -> None:
        value = min(max(float(value), 0.0), 1.0)
        cell = self._cells.get(self._bucket(x), _EMPTY).get(arm)
        if cell is None or value == 0.0:
            return  # a click without an impression cannot be counted
        # Clamped in the cell, the same amount added to the arm: clicks never exceed
        # impressions anywhere, and the arm's record stays the sum of its cells.
        add = min(value, cell[0] - cell[1])
        cell[1] += add
        self._arms[arm][1] += add
        self._version += 1

    def _export(self) -> dict[str, Any]:
        return {
            "version": self._version,
            "salt": format(self._salt, "x"),
            "arms": {a: list(v) for a, v in self._arms.items()},
            "contexts": [
                {
                    "x": np.frombuffer(key, dtype=np.float64).tolist(),
                    "arms": {a: list(v) for a, v in cell.items()},
                }
                for key, cell in self._cells.items()
            ],
        }

    def _import(self, state: dict[str, Any]) -> None:
        data = require_keys(state, ("version", "salt", "arms", "contexts"), self.name)
        try:
            arms = {str(a): _counts(v) for a, v in data["arms"].items()}
            cells = {
                np.asarray(c["x"], dtype=np.float64).tobytes(): {
                    str(a): _counts(v) for a, v in c["arms"].items()
                }
                for c in data["contexts"]
            }
            version, salt = int(data["version"]), int(data["salt"], 16)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{self.name} state: {exc}") from None
        self._arms, self._cells, self._version = arms, cells, version
        if salt != self._salt:
            self._salt, self._pools = salt, {}


def _counts(value: Any) -> list[float]:
    n, s = (float(v) for v in value)
    if not 0.0 <= s <= n:
        raise ValueError(f"counts {value!r}: need 0 <= clicks <= impressions")
    return [n, s]
