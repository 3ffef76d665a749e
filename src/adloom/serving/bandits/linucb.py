"""Disjoint LinUCB: a ridge regression of reward on context per arm, plus a confidence bonus.

Each arm keeps ``A = lambda I + sum x x^T`` and ``b = sum reward x``; it scores
``theta . x + alpha sqrt(x^T A^-1 x)`` with ``theta = A^-1 b``. ``A^-1`` is kept up to date
with the Sherman-Morrison identity on every impression, and ``theta`` is refreshed then
and on every click, so a request costs one batched matrix-vector product and never a
matrix inverse. All arms live in stacked arrays; row 0 is the untouched prior that unseen
arms share.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from adloom.errors import AdloomError
from adloom.registry import BackendConfig
from adloom.serving.bandits._mix import (
    MixedPolicy,
    StateError,
    best_share,
    require_keys,
    typed_config,
)
from adloom.serving.bandits.base import PolicyConfig


class LinUCBConfig(PolicyConfig):
    type: Literal["linucb"] = "linucb"
    alpha: float = Field(
        1.0, ge=0.0, description="Width of the confidence bonus (0: greedy on the estimate)."
    )
    lambda_: float = Field(
        1.0, gt=0.0, description="Ridge penalty: the prior precision of every arm's weights."
    )


class LinUCB(MixedPolicy):
    """Disjoint LinUCB with Sherman-Morrison updates of each arm's inverse design matrix."""

    name: ClassVar[str] = "linucb"
    Config: ClassVar[type[BackendConfig]] = LinUCBConfig

    def __init__(self, config: LinUCBConfig | None = None) -> None:
        super().__init__(config)
        self.cfg = typed_config(self.config, LinUCBConfig)
        self._dim: int | None = None
        self._index: dict[str, int] = {}
        self._ainv = np.empty((0, 0, 0))
        self._b = np.empty((0, 0))
        self._theta = np.empty((0, 0))
        self._pulls = np.empty(0)

    def _vector(self, x: np.ndarray) -> np.ndarray:
        """``x`` as a float vector of the policy's dimension, fixed by the first one seen."""
        v = np.asarray(x, dtype=np.float64)
        if v.ndim != 1:
            raise AdloomError(f"x: linucb needs a 1-D feature vector, got shape {v.shape}")
        if self._dim is None:
            self._setup(v.shape[0])
        elif v.shape[0] != self._dim:
            raise AdloomError(
                f"x: linucb feature vector has length {v.shape[0]}, expected {self._dim} "
                "(the length of the first one seen)"
            )
        return v

    def _setup(self, dim: int, capacity: int = 8) -> None:
        self._dim = dim
        self._ainv = np.tile(np.eye(dim) / self.cfg.lambda_, (capacity, 1, 1))
        self._b = np.zeros((capacity, dim))
        self._theta = np.zeros((capacity, dim))
        self._pulls = np.zeros(capacity)
        self._index = {}

    def _row(self, arm: str) -> int:
        """The arm's row, created from the prior on first sight."""
        row = self._index.get(arm)
        if row is None:
            row = len(self._index) + 1
            if row >= self._ainv.shape[0]:
                extra = self._ainv.shape[0]
                prior = np.tile(self._ainv[0], (extra, 1, 1))
                self._ainv = np.concatenate([self._ainv, prior])
                self._b = np.concatenate([self._b, np.zeros_like(self._b)])
                self._theta = np.concatenate([self._theta, np.zeros_like(self._theta)])
                self._pulls = np.concatenate([self._pulls, np.zeros_like(self._pulls)])
            self._index[arm] = row
        return row

    def scores(self, arms: list[str], x: np.ndarray) -> np.ndarray:
        """Upper confidence bound of each arm's expected reward in context ``x``."""
        v = self._vector(x)
        rows = np.array([self._index.get(a, 0) for a in arms], dtype=np.intp)
        quad = (self._ainv.take(rows, axis=0) @ v) @ v
        width: np.ndarray = np.sqrt(np.maximum(quad, 0.0), out=quad)
        width *= self.cfg.alpha
        width += self._theta.take(rows, axis=0) @ v
        return width

    def _rule(self, arms: list[str], x: np.ndarray) -> tuple[np.ndarray, list[bool]]:
        return best_share(self.scores(arms, x).tolist())

    def _observe(self, arm: str, x: np.ndarray) -> None:
        v = self._vector(x)
        row = self._row(arm)
        ainv = self._ainv[row]
        u = ainv @ v
        ainv -= np.outer(u, u) / (1.0 + u @ v)
        self._theta[row] = ainv @ self._b[row]
        self._pulls[row] += 1.0

    def _reward(self, arm: str, x: np.ndarray, value: float) -> None:
        v = self._vector(x)
        row = self._row(arm)
        self._b[row] += float(value) * v
        self._theta[row] = self._ainv[row] @ self._b[row]

    def _export(self) -> dict[str, Any]:
        arms = {
            a: {
                "a_inv": self._ainv[r].tolist(),
                "b": self._b[r].tolist(),
                "pulls": float(self._pulls[r]),
            }
            for a, r in self._index.items()
        }
        return {"dim": self._dim, "arms": arms}

    def _import(self, state: dict[str, Any]) -> None:
        data = require_keys(state, ("dim", "arms"), self.name)
        dim = data["dim"]
        try:
            parsed = {
                str(a): (
                    np.asarray(v["a_inv"], dtype=np.float64),
                    np.asarray(v["b"], dtype=np.float64),
                    float(v["pulls"]),
                )
                for a, v in data["arms"].items()
            }
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{self.name} state: {exc}") from None
        if dim is None:
            if parsed:
                raise StateError(f"{self.name} state: arms without a dim")
            self._dim = None
            self._index = {}
            return
        if not isinstance(dim, int) or dim < 1:
            raise StateError(f"{self.name} state: dim must be a positive integer, got {dim!r}")
        for a, (ainv, b, _) in parsed.items():
            if ainv.shape != (dim, dim) or b.shape != (dim,):
                raise StateError(f"{self.name} state: arm {a!r} does not have dimension {dim}")
        self._setup(dim, capacity=max(8, len(parsed) + 1))
        for a, (ainv, b, pulls) in parsed.items():
            row = self._row(a)
            self._ainv[row], self._b[row], self._pulls[row] = ainv, b, pulls
            self._theta[row] = ainv @ b
