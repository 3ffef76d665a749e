"""Incrementality: how much each arm adds over the control arm, with honest uncertainty.

Lifts are differences of means between randomized arms (intent to treat). Intervals come
two ways: analytic (Welch for the difference, the delta method on the log ratio for the
relative lift) and percentile bootstrap, so a skewed metric such as revenue can be read
both ways. CUPED removes the part of the outcome a pre-period covariate already explains,
which narrows intervals without moving the estimate. Breakdowns by cohort, creative or
context test many hypotheses at once, so their p-values are corrected (Holm or
Benjamini-Hochberg).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from adloom.domain import Model
from adloom.errors import InputError
from adloom.measurement.logs import ExperimentData, FloatArray

Correction = Literal["holm", "bh", "bonferroni", "none"]


def _scipy_stats() -> Any:
    try:
        from scipy import stats
    except ImportError:  # pragma: no cover - the measure extra installs it
        raise InputError(
            "scipy", "measurement needs scipy: pip install 'adloom[measure]'"
        ) from None
    return stats


def z_quantile(p: float) -> float:
    return float(_scipy_stats().norm.ppf(p))


def normal_sf(z: float) -> float:
    return float(_scipy_stats().norm.sf(z))


class Interval(Model):
    low: float
    high: float
    level: float = Field(gt=0.0, lt=1.0)
    method: Literal["welch", "normal", "delta-log", "delta", "bootstrap", "wilson", "dp-normal"]

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def width(self) -> float:
        return self.high - self.low


class Lift(Model):
    """One arm against the control on one metric, optionally within one segment."""

    metric: str
    arm: str
    control: str
    segment: str | None = Field(None, description="'dimension=value' for a breakdown row.")
    n_arm: int = Field(ge=0)
    n_control: int = Field(ge=0)
    mean_arm: float
    mean_control: float
    absolute: float = Field(description="mean(arm) - mean(control), CUPED-adjusted if cuped.")
    absolute_ci: Interval
    relative: float | None = Field(
        None, description="absolute / mean(control); None when the control mean is zero."
    )
    relative_ci: Interval | None = None
    bootstrap_absolute_ci: Interval | None = None
    bootstrap_relative_ci: Interval | None = None
    p_value: float = Field(ge=0.0, le=1.0)
    p_adjusted: float | None = Field(None, ge=0.0, le=1.0)
    correction: Correction | None = None
    cuped: str | None = Field(None, description="Pre-period covariates used, if any.")
    variance_reduction: float | None = Field(
        None, description="Share of the outcome variance CUPED removed."
    )
    suppressed: bool = Field(False, description="An arm is below the minimum cell count.")
    notes: list[str] = Field(default_factory=list)

    @property
    def significant(self) -> bool:
        p = self.p_adjusted if self.p_adjusted is not None else self.p_value
        return p < 1.0 - self.absolute_ci.level


# --------------------------------------------------------------------------- core


def cuped_theta(y: FloatArray, x: FloatArray) -> FloatArray:
    """Regression slopes of the outcome on the pre-period covariates, pooled over arms.

    Pooling keeps the adjustment independent of assignment, so the adjusted difference
    stays unbiased; constant covariates get a slope of zero.
    """
    x2 = x.reshape(len(x), -1)
    xc = x2 - x2.mean(axis=0)
    cov = xc.T @ xc / len(x2)
    rhs = xc.T @ (y - y.mean()) / len(x2)
    theta, *_ = np.linalg.lstsq(cov, rhs, rcond=None)
    return np.asarray(theta, dtype=np.float64)


def _mean_var(y: FloatArray) -> tuple[float, float]:
    return float(y.mean()), float(y.var(ddof=1))


def welch(y_t: FloatArray, y_c: FloatArray, level: float) -> tuple[float, Interval, float, float]:
    """Difference of means, its Welch interval, two-sided p-value and standard error."""
    m_t, v_t = _mean_var(y_t)
    m_c, v_c = _mean_var(y_c)
    n_t, n_c = len(y_t), len(y_c)
    diff = m_t - m_c
    se2 = v_t / n_t + v_c / n_c
    se = math.sqrt(se2)
    if se == 0.0:
        return (
            diff,
            Interval(low=diff, high=diff, level=level, method="welch"),
            (1.0 if diff == 0.0 else 0.0),
            0.0,
        )
    df = se2**2 / ((v_t / n_t) ** 2 / (n_t - 1) + (v_c / n_c) ** 2 / (n_c - 1))
    stats = _scipy_stats()
    q = float(stats.t.ppf(0.5 + level / 2, df))
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return (
        diff,
        Interval(low=diff - q * se, high=diff + q * se, level=level, method="welch"),
        min(1.0, p),
        se,
    )


def relative_interval(
    m_t: float, v_t: float, n_t: int, m_c: float, v_c: float, n_c: int, level: float
) -> tuple[float | None, Interval | None, str | None]:
    """Relative lift ``m_t / m_c - 1``: delta method on the log ratio when both means are
    positive (better coverage for skewed rates), on the plain ratio otherwise."""
    if m_c == 0.0:
        return None, None, "control mean is zero: relative lift undefined"
    ratio = m_t / m_c
    z = z_quantile(0.5 + level / 2)
    if m_t > 0.0 and m_c > 0.0:
        se = math.sqrt(v_t / (n_t * m_t**2) + v_c / (n_c * m_c**2))
        low, high = math.exp(math.log(ratio) - z * se) - 1, math.exp(math.log(ratio) + z * se) - 1
        return ratio - 1, Interval(low=low, high=high, level=level, method="delta-log"), None
    se = math.sqrt(v_t / n_t / m_c**2 + m_t**2 * v_c / n_c / m_c**4)
    interval = Interval(
        low=ratio - 1 - z * se, high=ratio - 1 + z * se, level=level, method="delta"
    )
    return ratio - 1, interval, None


def _is_binary(y: FloatArray) -> bool:
    return bool(np.all((y == 0.0) | (y == 1.0)))


def _boot_means(y: FloatArray, reps: int, rng: np.random.Generator) -> FloatArray:
    """Bootstrap distribution of a mean; binary outcomes resample exactly as a binomial."""
    n = len(y)
    if _is_binary(y):
        return rng.binomial(n, float(y.mean()), size=reps) / n
    out = np.empty(reps)
    chunk = max(1, 4_000_000 // max(n, 1))
    for start in range(0, reps, chunk):
        stop = min(reps, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = y[idx].mean(axis=1)
    return out


def bootstrap_intervals(
    y_t: FloatArray, y_c: FloatArray, *, reps: int, level: float, rng: np.random.Generator
) -> tuple[Interval, Interval | None]:
    """Percentile intervals of the absolute and relative lift, arms resampled separately."""
    b_t = _boot_means(y_t, reps, rng)
    b_c = _boot_means(y_c, reps, rng)
    tail = (1 - level) / 2 * 100
    diff = b_t - b_c
    lo, hi = np.percentile(diff, [tail, 100 - tail])
    absolute = Interval(low=float(lo), high=float(hi), level=level, method="bootstrap")
    if np.any(b_c == 0.0):
        return absolute, None
    rel = b_t / b_c - 1
    lo, hi = np.percentile(rel, [tail, 100 - tail])
    return absolute, Interval(low=float(lo), high=float(hi), level=level, method="bootstrap")


def estimate_lift(
    y_t: FloatArray,
    y_c: FloatArray,
    *,
    metric: str,
    arm: str,
    control: str,
    level: float = 0.95,
    x_t: FloatArray | None = None,
    x_c: FloatArray | None = None,
    covariate: str | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    segment: str | None = None,
    where: str = "logs",
) -> Lift:
    """Lift of one arm over control; ``x_t``/``x_c`` (pre-period values) turn on CUPED."""
    label = f"{metric}{f' [{segment}]' if segment else ''}"
    if len(y_t) == 0:
        raise InputError(where, f"{label}: arm {arm!r} is empty")
    if len(y_c) == 0:
        raise InputError(where, f"{label}: control {control!r} is empty (a lift needs a control)")
    if len(y_t) < 2 or len(y_c) < 2:
        raise InputError(
            where, f"{label}: arm {arm!r} or control {control!r} has fewer than 2 rows"
        )
    if not (0.0 < level < 1.0):
        raise InputError(where, f"confidence level {level} is outside (0, 1)")
    raw_mt, raw_mc = float(y_t.mean()), float(y_c.mean())
    notes: list[str] = []
    reduction = None
    if x_t is not None and x_c is not None:
        x = np.concatenate([x_t, x_c])
        y = np.concatenate([y_t, y_c])
        theta = cuped_theta(y, x)
        mx = x.reshape(len(x), -1).mean(axis=0)
        y_t = y_t - (x_t.reshape(len(x_t), -1) - mx) @ theta
        y_c = y_c - (x_c.reshape(len(x_c), -1) - mx) @ theta
        before = float(np.var(y))
        reduction = 1.0 - float(np.var(np.concatenate([y_t, y_c]))) / before if before else 0.0
    diff, ci, p, _ = welch(y_t, y_c, level)
    m_t, v_t = _mean_var(y_t)
    m_c, v_c = _mean_var(y_c)
    rel, rel_ci, why = relative_interval(m_t, v_t, len(y_t), m_c, v_c, len(y_c), level)
    if why:
        notes.append(why)
    if v_t == 0.0 and v_c == 0.0:
        notes.append("no variation in either arm: the interval is a point")
    boot_abs = boot_rel = None
    if bootstrap:
        rng = np.random.default_rng(seed)
        boot_abs, boot_rel = bootstrap_intervals(y_t, y_c, reps=bootstrap, level=level, rng=rng)
    return Lift(
        metric=metric,
        arm=arm,
        control=control,
        segment=segment,
        n_arm=len(y_t),
        n_control=len(y_c),
        mean_arm=raw_mt,
        mean_control=raw_mc,
        absolute=diff,
        absolute_ci=ci,
        relative=rel,
        relative_ci=rel_ci,
        bootstrap_absolute_ci=boot_abs,
        bootstrap_relative_ci=boot_rel,
        p_value=p,
        cuped=covariate if reduction is not None else None,
        variance_reduction=reduction,
        notes=notes,
    )


# --------------------------------------------------------------------------- tables


def lift_table(
    data: ExperimentData,
    metrics: Sequence[str],
    *,
    control: str,
    arms: Sequence[str] | None = None,
    level: float = 0.95,
    covariate: str | Sequence[str] | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> list[Lift]:
    """Every treatment arm against ``control`` on every metric; ``covariate`` (one name or
    several) turns on CUPED."""
    data.require_arm(control, role="control")
    treated = [a for a in (arms if arms is not None else data.arms) if a != control]
    if not treated:
        raise InputError(data.source, f"no treatment arm besides the control {control!r}")
    for a in treated:
        data.require_arm(a)
    names = [covariate] if isinstance(covariate, str) else list(covariate or [])
    x = np.column_stack([data.covariate(c) for c in names]) if names else None
    label = ",".join(names) or None
    c_mask = data.arm == control
    out = []
    for metric in metrics:
        y = data.outcome(metric)
        for i, a in enumerate(treated):
            t_mask = data.arm == a
            out.append(
                estimate_lift(
                    y[t_mask],
                    y[c_mask],
                    metric=metric,
                    arm=a,
                    control=control,
                    level=level,
                    x_t=None if x is None else x[t_mask],
                    x_c=None if x is None else x[c_mask],
                    covariate=label,
                    bootstrap=bootstrap,
                    seed=seed + i,
                    where=data.source,
                )
            )
    return out


def lift_by(
    data: ExperimentData,
    metric: str,
    by: str,
    *,
    control: str,
    arms: Sequence[str] | None = None,
    level: float = 0.95,
    correction: Correction = "holm",
    min_count: int = 0,
) -> list[Lift]:
    """The lift of each arm within each level of segment ``by``, p-values corrected over
    the whole family (every arm x level).

    Cells where an arm has fewer than ``min_count`` rows (or fewer than 2) are reported as
    suppressed with no numbers that could single anyone out, and are left out of the
    correction.
    """
    data.require_arm(control, role="control")
    seg = data.segment(by)
    y = data.outcome(metric)
    treated = [a for a in (arms if arms is not None else data.arms) if a != control]
    if not treated:
        raise InputError(data.source, f"no treatment arm besides the control {control!r}")
    rows: list[Lift] = []
    for value in sorted(set(seg.tolist())):
        in_seg = seg == value
        c_mask = in_seg & (data.arm == control)
        for a in treated:
            t_mask = in_seg & (data.arm == a)
            n_t, n_c = int(t_mask.sum()), int(c_mask.sum())
            label = f"{by}={value}"
            if min(n_t, n_c) < max(min_count, 2):
                rows.append(_suppressed(metric, a, control, label, n_t, n_c, level, min_count))
                continue
            rows.append(
                estimate_lift(
                    y[t_mask],
                    y[c_mask],
                    metric=metric,
                    arm=a,
                    control=control,
                    level=level,
                    segment=label,
                    where=data.source,
                )
            )
    live = [r for r in rows if not r.suppressed]
    adjusted = adjust_pvalues([r.p_value for r in live], correction)
    for r, p in zip(live, adjusted, strict=True):
        r.p_adjusted = p
        r.correction = correction
    return rows


def _suppressed(
    metric: str, arm: str, control: str, segment: str, n_t: int, n_c: int, level: float, k: int
) -> Lift:
    zero = Interval(low=0.0, high=0.0, level=level, method="welch")
    return Lift(
        metric=metric,
        arm=arm,
        control=control,
        segment=segment,
        n_arm=0,
        n_control=0,
        mean_arm=0.0,
        mean_control=0.0,
        absolute=0.0,
        absolute_ci=zero,
        p_value=1.0,
        suppressed=True,
        notes=[f"suppressed: fewer than {max(k, 2)} users in an arm of this cell"],
    )


# --------------------------------------------------------------------------- multiple testing


def adjust_pvalues(p_values: Sequence[float], method: Correction = "holm") -> list[float]:
    """Family-wise (Holm, Bonferroni) or false-discovery-rate (Benjamini-Hochberg) adjusted
    p-values, in the input order."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0 or method == "none":
        return [float(v) for v in p]
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise InputError("p-values", "each must lie in [0, 1]")
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "bonferroni":
        adj = np.minimum(1.0, ranked * m)
    elif method == "holm":
        adj = np.maximum.accumulate(ranked * (m - np.arange(m)))
    elif method == "bh":
        adj = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    else:
        raise InputError("correction", f"unknown method {method!r} (holm, bh, bonferroni, none)")
    out = np.empty(m)
    out[order] = np.minimum(1.0, adj)
    return [float(v) for v in out]


# --------------------------------------------------------------------------- planning


class PowerPlan(Model):
    """What a planned test can detect: the minimum detectable effect at the given power."""

    metric: str
    baseline: float = Field(description="Control mean the plan assumes.")
    sd: float = Field(ge=0.0, description="Outcome standard deviation the plan assumes.")
    n_arm: int = Field(ge=1)
    n_control: int = Field(ge=1)
    alpha: float = Field(gt=0.0, lt=1.0)
    power: float = Field(gt=0.0, lt=1.0)
    mde_absolute: float
    mde_relative: float | None


def _check_plan(alpha: float, power: float | None = None) -> None:
    if not 0.0 < alpha < 1.0:
        raise InputError("power plan", f"alpha {alpha} is outside (0, 1)")
    if power is not None and not 0.0 < power < 1.0:
        raise InputError("power plan", f"power {power} is outside (0, 1)")


def mde(sd: float, n_arm: int, n_control: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest absolute effect a two-sided test at ``alpha`` detects with ``power``."""
    _check_plan(alpha, power)
    if n_arm < 1 or n_control < 1:
        raise InputError("power plan", "each arm needs at least one user")
    se = sd * math.sqrt(1 / n_arm + 1 / n_control)
    return (z_quantile(1 - alpha / 2) + z_quantile(power)) * se


def power(effect: float, sd: float, n_arm: int, n_control: int, *, alpha: float = 0.05) -> float:
    """Probability a two-sided test at ``alpha`` rejects when the true effect is ``effect``."""
    _check_plan(alpha)
    if n_arm < 1 or n_control < 1:
        raise InputError("power plan", "each arm needs at least one user")
    se = sd * math.sqrt(1 / n_arm + 1 / n_control)
    if se == 0.0:
        return 1.0 if effect else alpha
    z = z_quantile(1 - alpha / 2)
    shift = abs(effect) / se
    return normal_sf(z - shift) + normal_sf(z + shift)


def sample_size(
    effect: float, sd: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> tuple[int, int]:
    """Users needed in (arm, control) to detect ``effect``; ``ratio`` = control / arm."""
    _check_plan(alpha, power)
    if effect == 0.0:
        raise InputError("power plan", "an effect of zero cannot be detected")
    if ratio <= 0.0:
        raise InputError("power plan", f"ratio {ratio} must be positive")
    z = z_quantile(1 - alpha / 2) + z_quantile(power)
    n_arm = math.ceil((z * sd / effect) ** 2 * (1 + 1 / ratio))
    return n_arm, math.ceil(n_arm * ratio)


def plan_test(
    metric: str,
    baseline: float,
    n_arm: int,
    n_control: int,
    *,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> PowerPlan:
    """A power plan; for a rate metric (no ``sd``) the Bernoulli sd of the baseline is used."""
    if sd is None:
        if not 0.0 <= baseline <= 1.0:
            raise InputError("power plan", f"baseline rate {baseline} is outside [0, 1]; give sd")
        sd = math.sqrt(baseline * (1 - baseline))
    effect = mde(sd, n_arm, n_control, alpha=alpha, power=power)
    return PowerPlan(
        metric=metric,
        baseline=baseline,
        sd=sd,
        n_arm=n_arm,
        n_control=n_control,
        alpha=alpha,
        power=power,
        mde_absolute=effect,
        mde_relative=effect / baseline if baseline else None,
    )
