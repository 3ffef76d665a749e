"""The serving policy interface: choose an arm for a context, learn from what followed.

Feedback is delayed: an impression is observed when it is served (``observe``) and a click
or conversion arrives later (``reward``), so policies keep pulls and rewards apart.
Every choice carries its propensity, the probability this policy gave the chosen arm, so
logged decisions can be evaluated off-line with IPS or doubly robust estimators.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
from pydantic import Field

from adloom.registry import Backend, BackendConfig


class PolicyConfig(BackendConfig):
    exploration: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Share of decisions drawn uniformly at random among eligible arms.",
    )
    seed: int | None = Field(None, description="Seed of the policy's random draws.")


class Choice(NamedTuple):
    """One pick (a named tuple: made on every request, so it costs what a tuple costs)."""

    arm: str
    propensity: float
    reason: Literal["exploration", "exploitation"]


class Policy(Backend[PolicyConfig], ABC):
    """A contextual bandit over the eligible arms of one request.

    ``x`` is the request's feature vector (1-D, first element the constant 1.0, same length
    on every call). Arms appear over time; an unseen arm starts from the prior.
    """

    name: ClassVar[str]
    Config: ClassVar[type[BackendConfig]] = PolicyConfig

    @abstractmethod
    def choose(self, arms: Sequence[str], x: np.ndarray) -> Choice:
        """Pick one of ``arms`` (non-empty, distinct) for context ``x``."""

    @abstractmethod
    def observe(self, arm: str, x: np.ndarray) -> None:
        """``arm`` was shown in context ``x`` (a pull with no reward yet)."""

    @abstractmethod
    def reward(self, arm: str, x: np.ndarray, value: float = 1.0) -> None:
        """A later outcome (click) of an observed pull of ``arm`` in context ``x``."""

    def state(self) -> dict[str, Any]:
        """JSON-serializable learned state, to persist across restarts."""
        raise NotImplementedError(f"{type(self).__name__} does not export its state")

    def load_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not import state")
