"""What every serving policy shares: the uniform exploration share, exact propensities,
seeded draws, a lock, and persistence of the random stream.

A policy only states its own rule as a probability vector over the eligible arms; the
mixin mixes in the uniform share and draws the arm *from that very vector*, so the logged
propensity is the exact probability of the choice that was made, which is what inverse
propensity and doubly robust estimators need. Drawing from the vector also makes ties in
a deterministic rule uniform without any special case.

The vector is a function of the learned state, the eligible arms and the context only, so
it is cached per (arms, context) until the next update: a server that folds feedback in
batches computes each context's vector once per batch instead of once per request.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from adloom.errors import AdloomError
from adloom.registry import BackendConfig
from adloom.serving.bandits.base import Choice, Policy, PolicyConfig

C = TypeVar("C", bound=BackendConfig)
#: Which arms are the rule's greedy pick (a mask, as a list or a boolean array).
Greedy = list[bool] | np.ndarray

#: Scores this close to the best count as tied, so float noise does not hide a tie.
TIE_TOLERANCE = 1e-12
#: Cached (arms, context) rule vectors kept between updates before the cache starts over.
RULE_CACHE = 4096


class StateError(AdloomError):
    """A saved policy state that does not fit the policy loading it."""


def typed_config(config: BackendConfig, cls: type[C]) -> C:
    """The backend's config as its concrete class (``Backend`` only knows the base)."""
    if not isinstance(config, cls):
        raise AdloomError(f"config: expected {cls.__name__}, got {type(config).__name__}")
    return config


def check_arms(arms: Sequence[str]) -> list[str]:
    names = list(arms)
    if not names:
        raise AdloomError("arms: at least one eligible arm is needed")
    if len(set(names)) != len(names):
        raise AdloomError("arms: arm names must be distinct")
    return names


def best_share(values: list[float]) -> tuple[np.ndarray, list[bool]]:
    """A deterministic rule as probabilities, with its greedy mask: the best value wins,
    values tied with it (up to float noise) share equally, ``inf`` allowed."""
    best = max(values)
    if math.isfinite(best):
        best -= TIE_TOLERANCE * max(1.0, abs(best))
    greedy = [v >= best for v in values]
    share = 1.0 / sum(greedy)
    return np.array([share if g else 0.0 for g in greedy]), greedy


def _draw(values: list[float], u: float) -> int:
    """The index whose cumulative probability first exceeds ``u`` (a uniform in [0, 1)).

    Never lands on a zero-probability arm; a plain loop beats cumsum and searchsorted for
    the few arms of a request.
    """
    last = len(values) - 1
    if last >= 64:
        cum = np.cumsum(values)
        return min(int(np.searchsorted(cum, u * cum[-1], side="right")), last)
    target = u * sum(values)
    acc = 0.0
    for i, p in enumerate(values):
        acc += p
        if acc > target:
            return i
    return max(i for i, p in enumerate(values) if p > 0.0)


def require_keys(state: Any, keys: Sequence[str], policy: str) -> dict[str, Any]:
    if not isinstance(state, dict):
        raise StateError(f"{policy} state: expected an object, got {type(state).__name__}")
    missing = [k for k in keys if k not in state]
    if missing:
        raise StateError(f"{policy} state: missing {', '.join(missing)}")
    return state


#: A cached mixed rule: the probabilities (a list, for drawing) and the greedy mask.
_Rule = tuple[list[float], Greedy]


class MixedPolicy(Policy, ABC):
    """A policy whose own rule is mixed with a uniform share ``config.exploration``."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        super().__init__(config)
        # Feedback arrives from another thread than choices; an uncontended lock costs
        # well under a microsecond.
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(self.config.seed)
        self._rules: dict[tuple[tuple[str, ...], bytes], _Rule] = {}

    @abstractmethod
    def _rule(self, arms: list[str], x: np.ndarray) -> tuple[np.ndarray, Greedy]:
        """The rule's probability per arm and a mask of its greedy picks (lock held).

        Must not consume ``self._rng``: probabilities are a function of the learned state,
        so ``probabilities`` and the propensity of ``choose`` agree.
        """

    @abstractmethod
    def _observe(self, arm: str, x: np.ndarray) -> None:
        """Learn that ``arm`` was shown in context ``x`` (lock held)."""

    @abstractmethod
    def _reward(self, arm: str, x: np.ndarray, value: float) -> None:
        """Learn a later outcome of a pull of ``arm`` in context ``x`` (lock held)."""

    @abstractmethod
    def _export(self) -> dict[str, Any]:
        """Learned state as JSON data (lock held)."""

    @abstractmethod
    def _import(self, state: dict[str, Any]) -> None:
        """Replace learned state from ``_export`` data (lock held); validate first."""

    def _mixed(self, arms: tuple[str, ...], x: np.ndarray) -> _Rule:
        """The mixed probabilities and greedy mask, from the cache while the state is
        unchanged. Arms are checked on a miss only: a hit's arms were checked when cached."""
        key = (arms, np.asarray(x).tobytes())
        hit = self._rules.get(key)
        if hit is not None:
            return hit
        rule, greedy = self._rule(check_arms(arms), x)
        eps = self.config.exploration
        probs = rule * (1.0 - eps) + eps / len(arms) if eps > 0.0 else rule
        if len(self._rules) >= RULE_CACHE:
            self._rules.clear()
        entry = (probs.tolist(), greedy)
        self._rules[key] = entry
        return entry

    def observe(self, arm: str, x: np.ndarray) -> None:
        with self._lock:
            self._observe(arm, x)
            self._rules.clear()

    def reward(self, arm: str, x: np.ndarray, value: float = 1.0) -> None:
        with self._lock:
            self._reward(arm, x, value)
            self._rules.clear()

    def choose(self, arms: Sequence[str], x: np.ndarray) -> Choice:
        names = tuple(arms)
        with self._lock:
            values, greedy = self._mixed(names, x)
            u = self._rng.random()
        i = _draw(values, u)
        return Choice(names[i], values[i], "exploitation" if greedy[i] else "exploration")

    def probabilities(self, arms: Sequence[str], x: np.ndarray) -> np.ndarray:
        """Each arm's probability of being chosen now under the mixed rule (sums to 1)."""
        names = tuple(arms)
        with self._lock:
            values, _ = self._mixed(names, x)
        return np.array(values)

    def state(self) -> dict[str, Any]:
        with self._lock:
            data = self._export()
            bits = self._rng.bit_generator.state
        data["policy"] = self.name
        data["rng"] = {
            "bit_generator": bits["bit_generator"],
            "state": format(bits["state"]["state"], "x"),
            "inc": format(bits["state"]["inc"], "x"),
            "has_uint32": bits["has_uint32"],
            "uinteger": bits["uinteger"],
        }
        return data

    def load_state(self, state: dict[str, Any]) -> None:
        data = require_keys(state, ("policy", "rng"), self.name)
        if data["policy"] != self.name:
            raise StateError(f"{self.name} state: saved by policy {data['policy']!r}")
        rng = data["rng"]
        try:
            bits = {
                "bit_generator": str(rng["bit_generator"]),
                "state": {"state": int(rng["state"], 16), "inc": int(rng["inc"], 16)},
                "has_uint32": int(rng["has_uint32"]),
                "uinteger": int(rng["uinteger"]),
            }
            fresh = np.random.default_rng()
            fresh.bit_generator.state = bits
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{self.name} state: rng: {exc}") from None
        with self._lock:
            self._import(data)
            self._rng = fresh
            self._rules.clear()
