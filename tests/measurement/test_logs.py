"""Loading logs and data sets: required columns, bad cells, the bundled real samples."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adloom.domain import Decision, Event
from adloom.errors import InputError
from adloom.measurement import datasets
from adloom.measurement.logs import (
    BanditColumns,
    BanditLog,
    ExperimentColumns,
    ExperimentData,
    bandit_log_from_history,
    load_bandit_log,
    load_experiment,
)

DATA = Path(__file__).parent / "data"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_experiment_loads_from_csv_and_parquet_alike(tmp_path: Path) -> None:
    csv = _write(
        tmp_path / "log.csv",
        "arm,click,conversion,revenue,pre,cohort\n"
        "control,0,0,0,1.5,a\ntreated,1,1,20.5,2.0,b\ntreated,1,0,0,0.5,a\n",
    )
    cols = ExperimentColumns(covariates=["pre"], segments=["cohort"], features=["pre"])
    a = load_experiment(csv, cols)
    table = pa.table(
        {
            "arm": ["control", "treated", "treated"],
            "click": [0, 1, 1],
            "conversion": [0, 1, 0],
            "revenue": [0.0, 20.5, 0.0],
            "pre": [1.5, 2.0, 0.5],
            "cohort": ["a", "b", "a"],
        }
    )
    pq.write_table(table, tmp_path / "log.parquet")
    b = load_experiment(tmp_path / "log.parquet", cols)
    assert a.arms == b.arms == ["control", "treated"]
    for m in ("click", "conversion", "revenue"):
        assert np.array_equal(a.outcomes[m], b.outcomes[m])
    assert a.features is not None
    assert a.features.shape == (3, 1)
    assert a.subset(a.arm == "treated").outcomes["revenue"].sum() == 20.5


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("log.csv", "arm,click,conversion\nc,0,0\n", "missing column 'revenue'"),
        ("log.csv", "arm,click,conversion,revenue\nc,0,,0\n", "'conversion' row 1: missing value"),
        ("log.csv", "arm,click,conversion,revenue\nc,0,yes,0\n", "row 1: not a number"),
        ("log.csv", "arm,click,conversion,revenue\nc,0,0,inf\n", "'revenue' row 1: not finite"),
        ("log.csv", "arm,click,conversion,revenue\n,0,0,0\n", "'arm' row 1: missing value"),
        ("log.csv", "arm,click,conversion,revenue\nc,0,0\n", "line 2: 3 fields"),
        ("log.csv", "arm,click,conversion,revenue\n", "no rows"),
        ("log.csv", "", "empty file"),
        ("log.json", "{}", "unsupported log format '.json'"),
        ("log.parquet", "not parquet", "unreadable Parquet file"),
    ],
)
def test_bad_experiment_files_fail_with_one_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        load_experiment(_write(tmp_path / name, text))


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_experiment(tmp_path / "none.csv")
    bad = tmp_path / "latin.csv"
    bad.write_bytes(b"arm,click\n\xe9,1\n")
    with pytest.raises(InputError, match="not UTF-8"):
        load_experiment(bad)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("0,1,0,0.5\n0,2,1,1.5\n", r"propensity row 2: 1.5 is outside \(0, 1\]"),
        ("0,1,0,0.5\n1,1,1,0\n", r"propensity row 2: 0.0 is outside \(0, 1\]"),
        ("0,1,0,0.5\n1,1,1,-0.1\n", r"outside \(0, 1\]"),
        ("0,1,0,0.5\n1.5,1,1,0.5\n", "'item_id' row 2: not an integer"),
        ("0,1,0,nan\n", "'propensity_score' row 1: not finite"),
        ("", "no logged rounds"),
    ],
)
def test_bad_bandit_logs_fail_with_one_line(tmp_path: Path, rows: str, message: str) -> None:
    path = _write(tmp_path / "b.csv", "item_id,position,click,propensity_score\n" + rows)
    with pytest.raises(InputError, match=message):
        load_bandit_log(path, n_actions=None if rows else 1)


def test_bandit_log_checks_its_arrays() -> None:
    ok = {
        "action": np.asarray([0, 1]),
        "reward": np.asarray([0.0, 1.0]),
        "propensity": np.asarray([0.5, 0.5]),
        "n_actions": 2,
    }
    log = BanditLog(**ok)  # type: ignore[arg-type]
    assert len(log) == 2
    assert np.array_equal(log.slots, [0, 0])
    cases = [
        ({"reward": np.asarray([0.0])}, "reward: 1 rows where action has 2"),
        ({"reward": np.asarray([0.0, np.nan])}, "reward row 2: not finite"),
        ({"action": np.asarray([0, 2])}, r"action row 2: 2 not in \[0, 2\)"),
        ({"n_actions": 0}, "n_actions must be at least 1"),
        ({"position": np.asarray([0])}, "position: 1 rows"),
        ({"position": np.asarray([0, 1])}, r"position row 2: 1 not in \[0, 1\)"),
        ({"context": np.zeros(2)}, "context: expected one row"),
        ({"action_names": ("a",)}, "one name per action"),
    ]
    for change, message in cases:
        with pytest.raises(InputError, match=message):
            BanditLog(**{**ok, **change})  # type: ignore[arg-type]


def test_experiment_data_checks_its_arrays() -> None:
    arm = np.asarray(["a", "b"])
    with pytest.raises(InputError, match="no outcome columns"):
        ExperimentData(arm=arm, outcomes={})
    with pytest.raises(InputError, match="outcome 'y': 1 rows where arm has 2"):
        ExperimentData(arm=arm, outcomes={"y": np.zeros(1)})
    with pytest.raises(InputError, match="covariate 'x' row 2: not finite"):
        ExperimentData(
            arm=arm, outcomes={"y": np.zeros(2)}, covariates={"x": np.asarray([0.0, np.inf])}
        )
    with pytest.raises(InputError, match="features: one name per column"):
        ExperimentData(arm=arm, outcomes={"y": np.zeros(2)}, features=np.zeros((2, 2)))


def test_bundled_hillstrom_sample_loads_with_its_arms_and_features() -> None:
    data = datasets.load_hillstrom(DATA / "hillstrom")
    assert len(data.arm) == 2000
    assert set(data.arms) == {"mens", "womens", "control"}
    assert set(data.outcomes) == {"visit", "conversion", "spend"}
    assert data.features is not None
    assert data.features.shape == (2000, len(data.feature_names))
    assert "channel=Web" in data.feature_names
    assert "history" in data.covariates


def test_hillstrom_rejects_an_unknown_arm(tmp_path: Path) -> None:
    lines = (DATA / "hillstrom" / "hillstrom.csv").read_text().splitlines()[:3]
    lines[2] = lines[2].replace("E-Mail", "Letter")
    path = _write(tmp_path / "hillstrom.csv", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match="unknown arm"):
        datasets.load_hillstrom(path)


def test_bundled_open_bandit_sample_loads_both_policies() -> None:
    for policy in ("random", "bts"):
        log, meta = datasets.load_open_bandit(DATA / "open_bandit", policy, "men")
        assert meta.rounds == len(log) == 1500
        assert meta.n_items == log.n_actions == 34
        assert meta.n_positions == 3
        assert log.context is not None
        assert log.context.shape[0] == 1500
    assert np.allclose(
        datasets.load_open_bandit(DATA / "open_bandit", "random", "men")[0].propensity, 1 / 34
    )
    with pytest.raises(InputError, match="unknown Open Bandit policy"):
        datasets.load_open_bandit(DATA / "open_bandit", "greedy")
    with pytest.raises(InputError, match="unknown Open Bandit campaign"):
        datasets.load_open_bandit(DATA / "open_bandit", "bts", "kids")
    with pytest.raises(InputError, match="file not found"):
        datasets.load_open_bandit(DATA / "open_bandit", "bts", "women")


def test_open_bandit_log_reads_through_the_generic_loader() -> None:
    path = DATA / "open_bandit" / "random" / "men" / "men.csv"
    log = load_bandit_log(path, BanditColumns(context=["user-item_affinity_0"]), n_actions=34)
    assert log.n_positions == 3
    assert log.context is not None
    assert log.context.shape == (1500, 1)


def test_data_dir_prefers_argument_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADLOOM_DATA", "/somewhere")
    assert datasets.data_dir("/given") == Path("/given")
    assert datasets.data_dir() == Path("/somewhere")
    monkeypatch.delenv("ADLOOM_DATA")
    assert datasets.data_dir().parts[-2:] == ("shared", "data")


def test_store_history_becomes_a_bandit_log() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    decisions = [
        Decision(
            decision_id=f"d{i}",
            timestamp=t,
            channel="decide",
            advertiser_id="adv",
            campaign_id="c",
            user_id=f"u{i}",
            creative_id="cr",
            arm=arm,
            kind="generic",
            reason="policy",
            policy="uniform",
            propensity=0.5,
            candidates=["a", "b"],
            context={"platform": platform},
        )
        for i, (arm, platform) in enumerate([("a", "feed"), ("b", "story"), ("b", "feed")])
    ]
    events = [
        Event(type="click", creative_id="cr", decision_id="d1", timestamp=t),
        Event(type="impression", creative_id="cr", decision_id="d0", timestamp=t),
    ]
    log = bandit_log_from_history(decisions, events)
    assert log.action_names == ("a", "b")
    assert log.action.tolist() == [0, 1, 1]
    assert log.reward.tolist() == [0.0, 1.0, 0.0]
    assert log.context is not None
    assert log.context.tolist() == [[1, 0], [0, 1], [1, 0]]
    assert bandit_log_from_history(decisions, events, context_keys=[]).context is None
    with pytest.raises(InputError, match="store: no logged decisions"):
        bandit_log_from_history([], events)
