"""Public data sets the measurement code is checked against.

* Kevin Hillstrom's MineThatData e-mail test (2008): 64,000 customers randomized to a
  men's e-mail, a women's e-mail or none; outcomes over two weeks.
* The Open Bandit Dataset (Saito et al., 2021): ZOZOTOWN recommendation logs of a uniform
  random and a Bernoulli Thompson sampling policy, with the logging propensities.

The data folder comes from an argument, then ``ADLOOM_DATA``, then ``../shared/data``
beside the repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from adloom.domain import Model
from adloom.errors import InputError
from adloom.measurement.logs import (
    BanditLog,
    ExperimentData,
    labels,
    numeric,
    read_table,
)

HILLSTROM_ARMS = {"Mens E-Mail": "mens", "Womens E-Mail": "womens", "No E-Mail": "control"}
#: Numeric pre-period columns of the Hillstrom file, usable as model features.
HILLSTROM_NUMERIC = ("recency", "history", "mens", "womens", "newbie")
HILLSTROM_CATEGORICAL = {
    "zip_code": ("Surburban", "Rural", "Urban"),
    "channel": ("Phone", "Web", "Multichannel"),
}

OBD_POLICIES = ("random", "bts")
OBD_CAMPAIGNS = ("all", "men", "women")


def data_dir(path: str | Path | None = None) -> Path:
    """Where the shared data lives: ``path``, else ``$ADLOOM_DATA``, else ``../shared/data``."""
    if path is not None:
        return Path(path)
    env = os.environ.get("ADLOOM_DATA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    return repo.parent / "shared" / "data"


def load_hillstrom(path: str | Path) -> ExperimentData:
    """The Hillstrom test as an experiment: arms ``mens``, ``womens`` and ``control``.

    Outcomes are visit, conversion and spend; the pre-period columns (recency, last
    year's spend ``history``, ..., one-hot for the categorical ones) are both CUPED
    covariates and uplift-model features; channel, zip code and history segment are
    breakdowns.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "hillstrom.csv"
    table = read_table(
        path,
        [
            "segment",
            "visit",
            "conversion",
            "spend",
            "history_segment",
            *HILLSTROM_NUMERIC,
            *HILLSTROM_CATEGORICAL,
        ],
    )
    where = str(path)
    raw = labels(table["segment"], where, "segment")
    unknown = sorted(set(raw.tolist()) - set(HILLSTROM_ARMS))
    if unknown:
        raise InputError(where, f"column 'segment': unknown arm {unknown[0]!r}")
    arm = np.asarray([HILLSTROM_ARMS[s] for s in raw.tolist()], dtype=np.str_)
    columns = [numeric(table[c], where, c) for c in HILLSTROM_NUMERIC]
    names = list(HILLSTROM_NUMERIC)
    for col, levels in HILLSTROM_CATEGORICAL.items():
        values = labels(table[col], where, col)
        for level in levels:
            columns.append((values == level).astype(np.float64))
            names.append(f"{col}={level}")
    return ExperimentData(
        arm=arm,
        outcomes={m: numeric(table[m], where, m) for m in ("visit", "conversion", "spend")},
        covariates=dict(zip(names, columns, strict=True)),
        segments={
            "channel": labels(table["channel"], where, "channel"),
            "zip_code": labels(table["zip_code"], where, "zip_code"),
            "history_segment": labels(table["history_segment"], where, "history_segment"),
        },
        features=np.column_stack(columns),
        feature_names=tuple(names),
        source=where,
    )


class OpenBanditMeta(Model):
    """What a loaded Open Bandit log is."""

    policy: Literal["random", "bts"]
    campaign: Literal["all", "men", "women"]
    path: str
    rounds: int = Field(ge=0)
    clicks: int = Field(ge=0)
    n_items: int = Field(ge=1)
    n_positions: int = Field(ge=1)


def load_open_bandit(
    root: str | Path, policy: str, campaign: str = "all"
) -> tuple[BanditLog, OpenBanditMeta]:
    """One behaviour policy's log from the small Open Bandit sample.

    The action is the item; the slot is its position (1-3 in the file, 0-2 here); the
    context is the one-hot user features plus the user-item affinities.
    """
    if policy not in OBD_POLICIES:
        raise InputError("policy", f"unknown Open Bandit policy {policy!r} (random, bts)")
    if campaign not in OBD_CAMPAIGNS:
        raise InputError("campaign", f"unknown Open Bandit campaign {campaign!r} (all, men, women)")
    folder = Path(root) / policy / campaign
    path = folder / f"{campaign}.csv"
    items_path = folder / "item_context.csv"
    n_items = len(read_table(items_path, ["item_id"])["item_id"])
    table = read_table(path)
    where = str(path)
    for col in ("item_id", "position", "click", "propensity_score"):
        if col not in table:
            raise InputError(where, f"missing column {col!r}")
    action = numeric(table["item_id"], where, "item_id").astype(np.int64)
    position = numeric(table["position"], where, "position").astype(np.int64) - 1
    blocks = []
    for j in range(4):
        col = f"user_feature_{j}"
        if col in table:
            values = labels(table[col], where, col)
            for level in sorted(set(values.tolist())):
                blocks.append((values == level).astype(np.float64)[:, None])
    affinity = [c for c in table if c.startswith("user-item_affinity_")]
    if affinity:
        blocks.append(np.column_stack([numeric(table[c], where, c) for c in affinity]))
    log = BanditLog(
        action=action,
        reward=numeric(table["click"], where, "click"),
        propensity=numeric(table["propensity_score"], where, "propensity_score"),
        n_actions=n_items,
        position=position,
        n_positions=int(position.max()) + 1,
        context=np.hstack(blocks) if blocks else None,
        source=where,
    )
    meta = OpenBanditMeta(
        policy=policy,
        campaign=campaign,
        path=where,
        rounds=len(log),
        clicks=int(log.reward.sum()),
        n_items=n_items,
        n_positions=log.n_positions,
    )
    return log, meta
