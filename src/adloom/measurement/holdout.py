"""Holdouts: randomized arms per campaign, assigned by a salted hash of the user id.

A user's arm is a pure function of (salt, campaign, user), so every server and every
request agrees on it without shared state, and a new salt re-randomizes a new test. The
arms are ``personalized`` (the personalized creative), ``generic`` (the generic one) and
``control`` (no ad): the first against the second prices personalization, either against
the third prices advertising at all.

Measurement is by intent to treat: an :class:`Exposure` is logged the first time a user
*could* have been served, whatever their arm and whether or not an ad was then shown, so
the arms stay comparable (a user who was never reached in the personalized arm has a
twin in the control arm who was never reached either).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from adloom.domain import Decision, Event, Model
from adloom.errors import InputError
from adloom.io import format_validation_error
from adloom.measurement.logs import ExperimentData, user_outcomes

DEFAULT_SHARES = {"personalized": 0.8, "generic": 0.1, "control": 0.1}


class HoldoutConfig(Model):
    """One campaign's split. Changing the salt or the shares re-randomizes everyone."""

    campaign_id: str = Field(min_length=1)
    salt: str = Field(min_length=1, description="Secret per test; a new salt is a new test.")
    shares: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SHARES))
    control: str = Field("control", description="The arm that sees no ad.")

    @field_validator("shares")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        if len(value) < 2:
            raise ValueError("a holdout needs at least two arms")
        for arm, share in value.items():
            if not arm:
                raise ValueError("arm names must not be empty")
            if not 0.0 < share < 1.0:
                raise ValueError(f"share of arm {arm!r} is {share}; each must lie in (0, 1)")
        total = sum(value.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"shares sum to {total:g}, not 1")
        return value

    @model_validator(mode="after")
    def _control_is_an_arm(self) -> HoldoutConfig:
        if self.control not in self.shares:
            raise ValueError(f"control arm {self.control!r} is not one of the shares")
        return self


class Holdout:
    """Assigns users of one campaign to arms; the same user always gets the same arm."""

    def __init__(self, config: HoldoutConfig) -> None:
        self.config = config
        # Sorted, so the assignment does not depend on the order a settings file lists arms.
        self._arms = sorted(config.shares)
        self._edges = np.cumsum([config.shares[a] for a in self._arms])

    @classmethod
    def from_dict(cls, data: object, where: str = "holdout") -> Holdout:
        try:
            return cls(HoldoutConfig.model_validate(data))
        except ValidationError as exc:
            raise format_validation_error(where, exc) from None

    @property
    def arms(self) -> list[str]:
        return list(self._arms)

    def bucket(self, user_id: str) -> float:
        """A uniform number in [0, 1) fixed by (salt, campaign, user)."""
        key = f"{self.config.salt}\x1f{self.config.campaign_id}\x1f{user_id}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2.0**64

    def assign(self, user_id: str) -> str:
        if not user_id:
            raise InputError("user_id", "an empty user id cannot be assigned to an arm")
        i = int(np.searchsorted(self._edges, self.bucket(user_id), side="right"))
        return self._arms[min(i, len(self._arms) - 1)]

    def serves_ad(self, user_id: str) -> bool:
        return self.assign(user_id) != self.config.control

    def exposure(
        self,
        user_id: str,
        *,
        served: bool,
        decision: Decision | None = None,
        cohort: str | None = None,
        context: dict[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> Exposure:
        """The record to log when ``user_id`` could have been served this campaign."""
        arm = self.assign(user_id)
        if served and arm == self.config.control:
            raise InputError(
                "exposure", f"user {user_id!r} is in the control arm but was served an ad"
            )
        return Exposure(
            campaign_id=self.config.campaign_id,
            user_id=user_id,
            arm=arm,
            served=served,
            decision_id=decision.decision_id if decision else None,
            creative_id=decision.creative_id if decision else None,
            cohort=cohort,
            context=dict(context or (decision.context if decision else {})),
            timestamp=timestamp or datetime.now(UTC),
        )


class Exposure(Model):
    """A user met the campaign: the unit of intent-to-treat analysis."""

    campaign_id: str
    user_id: str
    arm: str
    served: bool = Field(description="Whether an ad was actually shown this time.")
    decision_id: str | None = None
    creative_id: str | None = None
    cohort: str | None = None
    context: dict[str, str] = Field(default_factory=dict)
    timestamp: datetime


class ExposureLog:
    """Exposures appended as JSON lines; one ``write`` per record keeps lines whole."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, exposures: Iterable[Exposure]) -> int:
        lines = [e.model_dump_json() + "\n" for e in exposures]
        if not lines:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for line in lines:
                os.write(fd, line.encode())
        finally:
            os.close(fd)
        return len(lines)

    def read(self) -> list[Exposure]:
        if not self.path.is_file():
            raise InputError(self.path, "file not found")
        out = []
        with self.path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    out.append(Exposure.model_validate(json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise InputError(
                        self.path, f"line {lineno}: malformed JSON: {exc.msg}"
                    ) from None
                except ValidationError as exc:
                    raise format_validation_error(f"{self.path}: line {lineno}", exc) from None
        return out


Metric = Literal["click", "conversion", "revenue"]


def itt_table(
    exposures: Sequence[Exposure],
    decisions: Sequence[Decision] = (),
    events: Sequence[Event] = (),
    *,
    campaign_id: str | None = None,
    source: str = "exposures",
) -> ExperimentData:
    """One row per exposed user, in the arm of their *first* exposure, with their outcomes
    (any click, any conversion, revenue) and breakdowns (cohort, creative, context).

    A user seen in two arms means the assignment changed mid-test (new salt or shares);
    that is an error, because neither arm is then a fair comparison.
    """
    if campaign_id is not None:
        exposures = [e for e in exposures if e.campaign_id == campaign_id]
    if not exposures:
        raise InputError(
            source, "no exposures" + (f" for campaign {campaign_id!r}" if campaign_id else "")
        )
    first: dict[str, Exposure] = {}
    creative: dict[str, str] = {}
    for e in sorted(exposures, key=lambda e: e.timestamp):
        seen = first.setdefault(e.user_id, e)
        if seen.arm != e.arm:
            raise InputError(
                source,
                f"user {e.user_id!r} was exposed in arms {seen.arm!r} and {e.arm!r}: "
                "the assignment changed during the test",
            )
        if e.served and e.creative_id and e.user_id not in creative:
            creative[e.user_id] = e.creative_id
    outcomes = user_outcomes(decisions, events)
    users = sorted(first)
    zero = {"click": 0.0, "conversion": 0.0, "revenue": 0.0}
    rows = [outcomes.get(u, zero) for u in users]
    metrics: tuple[Metric, ...] = ("click", "conversion", "revenue")

    def _ctx(e: Exposure) -> str:
        return "/".join(f"{k}={v}" for k, v in sorted(e.context.items())) or "(none)"

    return ExperimentData(
        arm=np.asarray([first[u].arm for u in users], dtype=np.str_),
        outcomes={m: np.asarray([r[m] for r in rows], dtype=np.float64) for m in metrics},
        segments={
            "cohort": np.asarray([first[u].cohort or "(none)" for u in users], dtype=np.str_),
            "creative": np.asarray([creative.get(u, "(none)") for u in users], dtype=np.str_),
            "context": np.asarray([_ctx(first[u]) for u in users], dtype=np.str_),
        },
        source=source,
    )
