"""Private aggregate reports: small cells suppressed, differential privacy on request.

Suppression is always on: a cell (an arm, or an arm within a segment) with fewer than
``min_count`` users is reported without numbers. Differential privacy is optional: each
arm's count and clipped outcome sums are released with Laplace noise (OpenDP), and every
release spends from the campaign's budget in a ledger file; a release that would overspend
is refused before any noise is drawn. Arms are disjoint sets of users, so one release over
all arms costs its epsilon once (parallel composition); its queries (count and one sum per
metric) split it (sequential composition).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import Field, ValidationError

from adloom.domain import Model
from adloom.errors import AdloomError, InputError
from adloom.io import format_validation_error, write_text
from adloom.measurement.lift import Interval, Lift, z_quantile
from adloom.measurement.logs import ExperimentData

#: Fewest users a reported cell may hold.
DEFAULT_MIN_COUNT = 50


class BudgetExceeded(AdloomError):  # noqa: N818 - reads as "privacy.BudgetExceeded"
    """A release would spend more privacy budget than the campaign has left."""


class Spend(Model):
    label: str
    epsilon: float = Field(gt=0.0)
    at: datetime


class CampaignBudget(Model):
    budget: float = Field(gt=0.0, description="Total epsilon the campaign may ever spend.")
    spent: list[Spend] = Field(default_factory=list)

    @property
    def used(self) -> float:
        return math.fsum(s.epsilon for s in self.spent)

    @property
    def remaining(self) -> float:
        return max(0.0, self.budget - self.used)


class Ledger(Model):
    campaigns: dict[str, CampaignBudget] = Field(default_factory=dict)


class PrivacyLedger:
    """Per-campaign epsilon accounting, persisted as JSON (locked, written atomically)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Ledger]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(f".{self.path.name}.lock")
        with lock.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield self._read()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read(self) -> Ledger:
        if not self.path.exists():
            return Ledger()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(self.path, f"malformed privacy ledger: {exc.msg}") from None
        try:
            return Ledger.model_validate(data)
        except ValidationError as exc:
            raise format_validation_error(self.path, exc) from None

    def status(self, campaign_id: str) -> CampaignBudget | None:
        return self._read().campaigns.get(campaign_id)

    def spend(
        self, campaign_id: str, epsilon: float, label: str, *, budget: float
    ) -> CampaignBudget:
        """Record a release; ``budget`` sets the campaign's total on its first release and
        must not change afterwards."""
        if not epsilon > 0.0 or not math.isfinite(epsilon):
            raise InputError("epsilon", f"{epsilon} must be a positive number")
        with self._locked() as ledger:
            entry = ledger.campaigns.get(campaign_id) or CampaignBudget(budget=budget)
            if not math.isclose(entry.budget, budget):
                raise InputError(
                    self.path,
                    f"campaign {campaign_id!r} has a budget of {entry.budget:g}, not {budget:g}",
                )
            if entry.used + epsilon > entry.budget + 1e-12:
                raise BudgetExceeded(
                    f"campaign {campaign_id!r}: releasing {label!r} needs epsilon {epsilon:g} "
                    f"but only {entry.remaining:g} of {entry.budget:g} is left"
                )
            entry.spent.append(Spend(label=label, epsilon=epsilon, at=datetime.now(UTC)))
            ledger.campaigns[campaign_id] = entry
            write_text(self.path, ledger.model_dump_json(indent=2) + "\n")
            return entry


# --------------------------------------------------------------------------- mechanisms

Noise = Callable[[float, float], float]
"""``noise(value, scale)``: ``value`` plus Laplace noise of that scale."""


def opendp_laplace(value: float, scale: float) -> float:
    """Laplace noise from OpenDP (a cryptographically seeded sampler, not numpy's)."""
    try:
        import opendp.prelude as dp
    except ImportError:  # pragma: no cover - the measure extra installs it
        raise InputError(
            "privacy", "differential privacy needs opendp: pip install 'adloom[measure]'"
        ) from None
    dp.enable_features("contrib")
    mech = dp.m.make_laplace(
        dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float), scale=scale
    )
    return float(mech(float(value)))


class ArmAggregate(Model):
    """One arm's released numbers; ``suppressed`` cells carry none."""

    arm: str
    n: float | None = Field(None, description="User count (noisy under DP).")
    sums: dict[str, float] = Field(
        default_factory=dict, description="Outcome sums (noisy under DP)."
    )
    means: dict[str, float] = Field(default_factory=dict)
    suppressed: bool = False


class PrivateRelease(Model):
    """Per-arm aggregates and how they were protected."""

    campaign_id: str
    label: str
    min_count: int
    epsilon: float | None = Field(None, description="None: exact aggregates, suppression only.")
    bounds: dict[str, float] = Field(
        default_factory=dict, description="Outcomes were clipped to [0, bound] before summing."
    )
    count_scale: float | None = None
    sum_scales: dict[str, float] = Field(default_factory=dict)
    arms: list[ArmAggregate]
    remaining_budget: float | None = None


def release(
    data: ExperimentData,
    metrics: Sequence[str],
    *,
    campaign_id: str,
    min_count: int = DEFAULT_MIN_COUNT,
    epsilon: float | None = None,
    bounds: dict[str, float] | None = None,
    ledger: PrivacyLedger | None = None,
    budget: float | None = None,
    label: str = "arm aggregates",
    noise: Noise = opendp_laplace,
) -> PrivateRelease:
    """Counts, sums and means per arm, suppressed below ``min_count``; with ``epsilon``,
    made epsilon-differentially private and charged to ``ledger``."""
    if min_count < 1:
        raise InputError("min_count", f"{min_count} must be at least 1")
    bounds = dict(bounds or {})
    count_scale = None
    sum_scales: dict[str, float] = {}
    remaining = None
    if epsilon is not None:
        if ledger is None or budget is None:
            raise InputError("privacy", "a private release needs a ledger and a campaign budget")
        for m in metrics:
            if m not in bounds:
                y = data.outcome(m)
                if np.all((y == 0) | (y == 1)):
                    bounds[m] = 1.0
                else:
                    raise InputError("privacy", f"metric {m!r} needs a clipping bound for DP")
            if not bounds[m] > 0:
                raise InputError("privacy", f"bound of {m!r} must be positive")
        share = epsilon / (1 + len(metrics))
        count_scale = 1.0 / share
        sum_scales = {m: bounds[m] / share for m in metrics}
        remaining = ledger.spend(campaign_id, epsilon, label, budget=budget).remaining
    arms = []
    for arm in data.arms:
        mask = data.arm == arm
        n = float(mask.sum())
        sums = {}
        for m in metrics:
            y = data.outcome(m)[mask]
            if epsilon is not None:
                y = np.clip(y, 0.0, bounds[m])
            sums[m] = float(y.sum())
        if epsilon is not None:
            assert count_scale is not None
            n = noise(n, count_scale)
            sums = {m: noise(s, sum_scales[m]) for m, s in sums.items()}
        if n < min_count:
            arms.append(ArmAggregate(arm=arm, suppressed=True))
            continue
        arms.append(
            ArmAggregate(arm=arm, n=n, sums=sums, means={m: s / n for m, s in sums.items()})
        )
    return PrivateRelease(
        campaign_id=campaign_id,
        label=label,
        min_count=min_count,
        epsilon=epsilon,
        bounds=bounds if epsilon is not None else {},
        count_scale=count_scale,
        sum_scales=sum_scales,
        arms=arms,
        remaining_budget=remaining,
    )


def private_lift(
    rel: PrivateRelease, metric: str, arm: str, control: str, *, level: float = 0.95
) -> Lift:
    """Absolute lift from released aggregates of a bounded metric; the interval adds the
    Laplace noise variance to a conservative sampling variance (bound^2 / 4 per user)."""
    cells = {a.arm: a for a in rel.arms}
    for name, role in ((arm, "arm"), (control, "control")):
        cell = cells.get(name)
        if cell is None:
            raise InputError(rel.label, f"{role} {name!r} is not in the release")
        if cell.suppressed or cell.n is None:
            raise InputError(
                rel.label, f"{role} {name!r} is suppressed (below {rel.min_count} users)"
            )
    t, c = cells[arm], cells[control]
    assert t.n is not None
    assert c.n is not None
    if metric not in t.means:
        raise InputError(rel.label, f"metric {metric!r} is not in the release")
    bound = rel.bounds.get(metric)
    if bound is None:
        raise InputError(rel.label, "private_lift needs a differentially private release")
    diff = t.means[metric] - c.means[metric]
    s2 = rel.sum_scales[metric]

    def var(cell: ArmAggregate) -> float:
        assert cell.n is not None
        m = min(max(cell.means[metric], 0.0), bound)
        sampling = m * (bound - m) / cell.n  # the largest variance a [0, bound] mean can have
        return sampling + 2 * s2**2 / cell.n**2

    se = math.sqrt(var(t) + var(c))
    z = z_quantile(0.5 + level / 2)
    from adloom.measurement.lift import normal_sf

    return Lift(
        metric=metric,
        arm=arm,
        control=control,
        n_arm=round(t.n),
        n_control=round(c.n),
        mean_arm=t.means[metric],
        mean_control=c.means[metric],
        absolute=diff,
        absolute_ci=Interval(
            low=diff - z * se, high=diff + z * se, level=level, method="dp-normal"
        ),
        relative=diff / c.means[metric] if c.means[metric] > 0 else None,
        p_value=min(1.0, 2 * normal_sf(abs(diff) / se)) if se > 0 else 1.0,
        notes=[f"differentially private (epsilon {rel.epsilon:g}); counts are noisy"],
    )
