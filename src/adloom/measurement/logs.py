"""Logs the measurement code reads: experiment tables and bandit logs, validated up front.

Analysis runs on numpy columns, so the containers here are frozen dataclasses of arrays
checked once on construction: every later function can assume equal lengths, finite
values and propensities in (0, 1]. Problems become one-line :class:`InputError` naming
the file and column, never a NaN that surfaces later in a report.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from adloom.domain import Decision, Event, Model
from adloom.errors import InputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
StrArray = NDArray[np.str_]


# --------------------------------------------------------------------------- tables


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> dict[str, list[Any]]:
    """Columns of a CSV or Parquet file; a missing file or column names itself."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        table = _read_parquet(path)
    elif suffix in (".csv", ".txt", ".tsv"):
        table = _read_csv(path, delimiter="\t" if suffix == ".tsv" else ",")
    else:
        raise InputError(
            path, f"unsupported log format {suffix or '(none)'!r}: use .csv or .parquet"
        )
    if columns is not None:
        for name in columns:
            if name not in table:
                known = ", ".join(sorted(table)[:12])
                raise InputError(path, f"missing column {name!r} (columns: {known})")
        table = {name: table[name] for name in columns}
    return table


def _read_csv(path: Path, delimiter: str) -> dict[str, list[Any]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise InputError(path, "empty file (no header row)")
            cols: list[list[Any]] = [[] for _ in header]
            for lineno, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    raise InputError(
                        path, f"line {lineno}: {len(row)} fields where the header has {len(header)}"
                    )
                for col, value in zip(cols, row, strict=True):
                    col.append(value)
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None
    names = [h if h else f"column_{i}" for i, h in enumerate(header)]
    return dict(zip(names, cols, strict=True))


def _read_parquet(path: Path) -> dict[str, list[Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - the measure extra installs it
        raise InputError(
            path, "reading Parquet needs pyarrow: pip install 'adloom[measure]'"
        ) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise InputError(path, f"unreadable Parquet file: {type(exc).__name__}") from None
    return {name: table.column(name).to_pylist() for name in table.column_names}


def numeric(values: Sequence[Any], where: str | Path, column: str) -> FloatArray:
    """A float column; an empty, non-numeric or non-finite cell names its row."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None or v == "":
            raise InputError(where, f"column {column!r} row {i + 1}: missing value")
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise InputError(
                where, f"column {column!r} row {i + 1}: not a number ({v!r})"
            ) from None
        if not np.isfinite(out[i]):
            raise InputError(where, f"column {column!r} row {i + 1}: not finite ({v!r})")
    return out


def labels(values: Sequence[Any], where: str | Path, column: str) -> StrArray:
    """A categorical column as strings; missing labels are errors, not a silent group."""
    out: list[str] = []
    for i, v in enumerate(values):
        if v is None or v == "":
            raise InputError(where, f"column {column!r} row {i + 1}: missing value")
        out.append(str(v))
    return np.asarray(out, dtype=np.str_)


# --------------------------------------------------------------------------- experiments


@dataclass(frozen=True)
class ExperimentData:
    """One row per randomized unit (user): the arm it was assigned and what it did.

    Rows are analysed by *assigned* arm whether or not an ad was actually shown (intent to
    treat), which keeps the comparison randomized.
    """

    arm: StrArray
    outcomes: dict[str, FloatArray]
    covariates: dict[str, FloatArray] = field(default_factory=dict)
    segments: dict[str, StrArray] = field(default_factory=dict)
    features: FloatArray | None = None
    feature_names: tuple[str, ...] = ()
    source: str = "logs"

    def __post_init__(self) -> None:
        n = len(self.arm)
        if n == 0:
            raise InputError(self.source, "no rows")
        if not self.outcomes:
            raise InputError(self.source, "no outcome columns")
        named: dict[str, Any] = {
            **{f"outcome {k!r}": v for k, v in self.outcomes.items()},
            **{f"covariate {k!r}": v for k, v in self.covariates.items()},
            **{f"segment {k!r}": v for k, v in self.segments.items()},
        }
        if self.features is not None:
            named["features"] = self.features
            if self.features.ndim != 2 or self.features.shape[1] != len(self.feature_names):
                raise InputError(self.source, "features: one name per column expected")
        for name, values in named.items():
            if len(values) != n:
                raise InputError(self.source, f"{name}: {len(values)} rows where arm has {n}")
            if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
                row = int(np.flatnonzero(~np.isfinite(values).reshape(n, -1).all(axis=1))[0])
                raise InputError(self.source, f"{name} row {row + 1}: not finite")

    @property
    def arms(self) -> list[str]:
        return sorted(set(self.arm.tolist()))

    def require_arm(self, name: str, *, role: str = "arm") -> None:
        if not np.any(self.arm == name):
            present = ", ".join(self.arms)
            raise InputError(self.source, f"{role} {name!r} has no rows (arms present: {present})")

    def outcome(self, metric: str) -> FloatArray:
        if metric not in self.outcomes:
            raise InputError(
                self.source, f"unknown metric {metric!r} (have: {', '.join(self.outcomes)})"
            )
        return self.outcomes[metric]

    def covariate(self, name: str) -> FloatArray:
        if name not in self.covariates:
            have = ", ".join(self.covariates) or "none"
            raise InputError(self.source, f"unknown covariate {name!r} (have: {have})")
        return self.covariates[name]

    def segment(self, name: str) -> StrArray:
        if name not in self.segments:
            have = ", ".join(self.segments) or "none"
            raise InputError(self.source, f"unknown breakdown {name!r} (have: {have})")
        return self.segments[name]

    def subset(self, mask: NDArray[np.bool_]) -> ExperimentData:
        return ExperimentData(
            arm=self.arm[mask],
            outcomes={k: v[mask] for k, v in self.outcomes.items()},
            covariates={k: v[mask] for k, v in self.covariates.items()},
            segments={k: v[mask] for k, v in self.segments.items()},
            features=None if self.features is None else self.features[mask],
            feature_names=self.feature_names,
            source=self.source,
        )


class ExperimentColumns(Model):
    """Which columns of a log file hold what; defaults follow adloom's own exports."""

    arm: str = "arm"
    metrics: list[str] = Field(default_factory=lambda: ["click", "conversion", "revenue"])
    covariates: list[str] = Field(default_factory=list, description="Pre-period, for CUPED.")
    segments: list[str] = Field(
        default_factory=list, description="Breakdowns: cohort, creative, context."
    )
    features: list[str] = Field(
        default_factory=list, description="Numeric columns an uplift model may use."
    )


def load_experiment(path: str | Path, columns: ExperimentColumns | None = None) -> ExperimentData:
    """An experiment table from CSV or Parquet, one row per assigned user."""
    cols = columns or ExperimentColumns()
    wanted = list(
        dict.fromkeys([cols.arm, *cols.metrics, *cols.covariates, *cols.segments, *cols.features])
    )
    table = read_table(path, wanted)
    where = str(path)
    features = None
    if cols.features:
        features = np.column_stack([numeric(table[f], where, f) for f in cols.features])
    return ExperimentData(
        arm=labels(table[cols.arm], where, cols.arm),
        outcomes={m: numeric(table[m], where, m) for m in cols.metrics},
        covariates={c: numeric(table[c], where, c) for c in cols.covariates},
        segments={s: labels(table[s], where, s) for s in cols.segments},
        features=features,
        feature_names=tuple(cols.features),
        source=where,
    )


# --------------------------------------------------------------------------- bandit logs


@dataclass(frozen=True)
class BanditLog:
    """Logged rounds of a serving policy: action, slot, reward and the logging propensity.

    ``propensity[i]`` is the probability the logging policy gave ``action[i]`` in slot
    ``position[i]``; off-policy estimators divide by it, so it must lie in (0, 1].
    """

    action: IntArray
    reward: FloatArray
    propensity: FloatArray
    n_actions: int
    position: IntArray | None = None
    n_positions: int = 1
    context: FloatArray | None = None
    action_names: tuple[str, ...] = ()
    source: str = "logs"

    def __post_init__(self) -> None:
        n = len(self.action)
        where = self.source
        if n == 0:
            raise InputError(where, "no logged rounds")
        for name, arr in (("reward", self.reward), ("propensity", self.propensity)):
            if len(arr) != n:
                raise InputError(where, f"{name}: {len(arr)} rows where action has {n}")
            bad = np.flatnonzero(~np.isfinite(arr))
            if bad.size:
                raise InputError(where, f"{name} row {bad[0] + 1}: not finite")
        bad = np.flatnonzero((self.propensity <= 0.0) | (self.propensity > 1.0))
        if bad.size:
            raise InputError(
                where,
                f"propensity row {bad[0] + 1}: {float(self.propensity[bad[0]])} is outside (0, 1]",
            )
        if self.n_actions < 1:
            raise InputError(where, "n_actions must be at least 1")
        bad = np.flatnonzero((self.action < 0) | (self.action >= self.n_actions))
        if bad.size:
            raise InputError(
                where,
                f"action row {bad[0] + 1}: {self.action[bad[0]]} not in [0, {self.n_actions})",
            )
        if self.position is not None:
            if len(self.position) != n:
                raise InputError(where, f"position: {len(self.position)} rows where action has {n}")
            bad = np.flatnonzero((self.position < 0) | (self.position >= self.n_positions))
            if bad.size:
                raise InputError(
                    where,
                    f"position row {bad[0] + 1}: {self.position[bad[0]]} "
                    f"not in [0, {self.n_positions})",
                )
        if self.context is not None and (self.context.ndim != 2 or len(self.context) != n):
            raise InputError(where, "context: expected one row of features per round")
        if self.action_names and len(self.action_names) != self.n_actions:
            raise InputError(where, "action_names: one name per action expected")

    def __len__(self) -> int:
        return len(self.action)

    @property
    def slots(self) -> IntArray:
        return self.position if self.position is not None else np.zeros(len(self), np.int64)


class BanditColumns(Model):
    """Column names of a bandit log file (the Open Bandit Dataset's by default)."""

    action: str = "item_id"
    reward: str = "click"
    propensity: str = "propensity_score"
    position: str | None = "position"
    context: list[str] = Field(default_factory=list)
    position_base: int = Field(1, ge=0, description="Number of the first slot (OBD: 1).")


def load_bandit_log(
    path: str | Path, columns: BanditColumns | None = None, *, n_actions: int | None = None
) -> BanditLog:
    """A bandit log from CSV or Parquet; actions must be integer ids ``0..n_actions-1``."""
    cols = columns or BanditColumns()
    wanted = [cols.action, cols.reward, cols.propensity, *cols.context]
    if cols.position is not None:
        wanted.append(cols.position)
    table = read_table(path, list(dict.fromkeys(wanted)))
    where = str(path)
    action = _ints(table[cols.action], where, cols.action)
    position = None
    n_positions = 1
    if cols.position is not None:
        position = _ints(table[cols.position], where, cols.position) - cols.position_base
        n_positions = int(position.max()) + 1 if len(position) else 1
    context = None
    if cols.context:
        context = np.column_stack([numeric(table[c], where, c) for c in cols.context])
    return BanditLog(
        action=action,
        reward=numeric(table[cols.reward], where, cols.reward),
        propensity=numeric(table[cols.propensity], where, cols.propensity),
        n_actions=n_actions if n_actions is not None else int(action.max(initial=-1)) + 1,
        position=position,
        n_positions=n_positions,
        context=context,
        source=where,
    )


def _ints(values: Sequence[Any], where: str | Path, column: str) -> IntArray:
    floats = numeric(values, where, column)
    ints = floats.astype(np.int64)
    bad = np.flatnonzero(ints != floats)
    if bad.size:
        raise InputError(where, f"column {column!r} row {bad[0] + 1}: not an integer")
    return ints


# --------------------------------------------------------------------------- serving store


def bandit_log_from_history(
    decisions: Sequence[Decision],
    events: Sequence[Event],
    *,
    reward: str = "click",
    context_keys: Sequence[str] | None = None,
    source: str = "store",
) -> BanditLog:
    """The serving store's decisions as a bandit log: arm, its propensity, and whether the
    decision earned a ``reward`` event (click by default).

    Context values the policy saw (platform, device) become one-hot features, so a reward
    model can condition on them.
    """
    if not decisions:
        raise InputError(source, "no logged decisions")
    arms = sorted({d.arm for d in decisions} | {c for d in decisions for c in d.candidates})
    index = {a: i for i, a in enumerate(arms)}
    rewarded = {e.decision_id for e in events if e.type == reward and e.decision_id is not None}
    keys = (
        sorted({k for d in decisions for k in d.context})
        if context_keys is None
        else list(context_keys)
    )
    levels = [sorted({d.context.get(k, "") for d in decisions}) for k in keys]
    width = sum(len(lv) for lv in levels)
    context = np.zeros((len(decisions), width)) if width else None
    for i, d in enumerate(decisions):
        offset = 0
        for k, lv in zip(keys, levels, strict=True):
            if context is not None:
                context[i, offset + lv.index(d.context.get(k, ""))] = 1.0
            offset += len(lv)
    return BanditLog(
        action=np.asarray([index[d.arm] for d in decisions], dtype=np.int64),
        reward=np.asarray([d.decision_id in rewarded for d in decisions], dtype=np.float64),
        propensity=np.asarray([d.propensity for d in decisions], dtype=np.float64),
        n_actions=len(arms),
        context=context,
        action_names=tuple(arms),
        source=source,
    )


def user_outcomes(
    decisions: Sequence[Decision], events: Sequence[Event]
) -> dict[str, dict[str, float]]:
    """Per user: any click, any conversion, and conversion revenue.

    Events are tied to a user through their own ``user_id`` or their decision's, so a
    conversion of a held-out user (who never got a decision) still counts.
    """
    owner = {d.decision_id: d.user_id for d in decisions if d.user_id is not None}
    out: dict[str, dict[str, float]] = {}
    for e in events:
        user = e.user_id or (owner.get(e.decision_id) if e.decision_id else None)
        if user is None:
            continue
        row = out.setdefault(user, {"click": 0.0, "conversion": 0.0, "revenue": 0.0})
        if e.type == "click":
            row["click"] = 1.0
        elif e.type == "conversion":
            row["conversion"] = 1.0
            row["revenue"] += float(e.value or 0.0)
    return out
