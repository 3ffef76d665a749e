"""Privacy ledger and mechanisms, the report builder and ``adloom report``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from tests.measurement.helpers import binomial_band, simulate_experiment
from typer.testing import CliRunner

from adloom.cli import app
from adloom.domain import Decision, Event
from adloom.errors import InputError
from adloom.measurement.holdout import ExposureLog, Holdout, HoldoutConfig
from adloom.measurement.privacy import (
    BudgetExceeded,
    PrivacyLedger,
    opendp_laplace,
    private_lift,
    release,
)
from adloom.measurement.report import (
    MeasurementReport,
    ReportSettings,
    build_report,
    demo_data,
    load_source,
    write_report,
)

runner = CliRunner()


def test_ledger_refuses_releases_beyond_the_campaign_budget(tmp_path: Path) -> None:
    ledger = PrivacyLedger(tmp_path / "ledger.json")
    assert ledger.status("c1") is None
    ledger.spend("c1", 0.4, "week 1", budget=1.0)
    ledger.spend("c1", 0.5, "week 2", budget=1.0)
    with pytest.raises(BudgetExceeded, match=r"needs epsilon 0.2 but only 0.1 of 1 is left"):
        ledger.spend("c1", 0.2, "week 3", budget=1.0)
    # Persisted: a new ledger object on the same file sees the spend; campaigns are separate.
    again = PrivacyLedger(tmp_path / "ledger.json")
    status = again.status("c1")
    assert status is not None
    assert status.remaining == pytest.approx(0.1)
    assert [s.label for s in status.spent] == ["week 1", "week 2"]
    again.spend("c2", 1.0, "all", budget=1.0)
    with pytest.raises(InputError, match="has a budget of 1, not 5"):
        again.spend("c1", 0.05, "x", budget=5.0)
    with pytest.raises(InputError, match="must be a positive number"):
        again.spend("c1", 0.0, "x", budget=1.0)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="malformed privacy ledger"):
        PrivacyLedger(tmp_path / "bad.json").status("c1")
    (tmp_path / "bad.json").write_text('{"campaigns": {"c": {"budget": -1}}}')
    with pytest.raises(InputError, match="budget"):
        PrivacyLedger(tmp_path / "bad.json").status("c")


def test_opendp_noise_has_the_laplace_variance() -> None:
    draws = np.asarray([opendp_laplace(10.0, 2.0) for _ in range(1500)])
    assert abs(draws.mean() - 10.0) < 4 * np.sqrt(8.0 / 1500)
    assert 8.0 * 0.8 < draws.var() < 8.0 * 1.25  # 2 * scale^2


def test_suppression_is_on_by_default_and_dp_charges_the_ledger(tmp_path: Path) -> None:
    data = simulate_experiment(0, n=600, effects={"treated": 0.05, "tiny": 0.0})
    small = data.subset((data.arm != "tiny") | (np.arange(600) < 100))
    exact = release(small, ["conversion"], campaign_id="c")
    cells = {a.arm: a for a in exact.arms}
    assert cells["tiny"].suppressed
    assert cells["tiny"].n is None
    assert not cells["tiny"].sums
    assert cells["control"].n == float(np.sum(small.arm == "control"))
    ledger = PrivacyLedger(tmp_path / "l.json")
    with pytest.raises(InputError, match="needs a ledger and a campaign budget"):
        release(small, ["conversion"], campaign_id="c", epsilon=1.0)
    with pytest.raises(InputError, match="'revenue' needs a clipping bound"):
        release(small, ["revenue"], campaign_id="c", epsilon=1.0, ledger=ledger, budget=2.0)
    noisy = release(
        small,
        ["conversion", "revenue"],
        campaign_id="c",
        epsilon=1.5,
        ledger=ledger,
        budget=2.0,
        bounds={"revenue": 100.0},
    )
    assert noisy.count_scale == pytest.approx(2.0)  # epsilon split over 3 queries
    assert noisy.sum_scales["revenue"] == pytest.approx(200.0)
    assert noisy.remaining_budget == pytest.approx(0.5)
    with pytest.raises(BudgetExceeded):
        release(small, ["conversion"], campaign_id="c", epsilon=1.0, ledger=ledger, budget=2.0)
    with pytest.raises(InputError, match="must be at least 1"):
        release(small, ["conversion"], campaign_id="c", min_count=0)


def test_private_lift_intervals_cover_the_true_effect(tmp_path: Path) -> None:
    reps, hits = 150, 0
    ledger = PrivacyLedger(tmp_path / "l.json")
    rng = np.random.default_rng(0)

    def noise(value: float, scale: float) -> float:  # seeded Laplace, same law as OpenDP's
        return value + float(rng.laplace(0.0, scale))

    for seed in range(reps):
        data = simulate_experiment(seed, n=4000, effects={"treated": 0.04})
        rel = release(
            data,
            ["conversion"],
            campaign_id=f"c{seed}",
            epsilon=1.0,
            ledger=ledger,
            budget=1.0,
            noise=noise,
        )
        lift = private_lift(rel, "conversion", "treated", "control")
        assert lift.absolute_ci.method == "dp-normal"
        hits += lift.absolute_ci.contains(0.04)
    # The sampling variance is bounded from above, so coverage is at least nominal.
    assert hits / reps >= binomial_band(0.95, reps)[0]


def test_private_lift_rejects_missing_or_suppressed_cells() -> None:
    data = simulate_experiment(1, n=400)
    exact = release(data, ["conversion"], campaign_id="c", min_count=10)
    with pytest.raises(InputError, match="needs a differentially private release"):
        private_lift(exact, "conversion", "treated", "control")
    with pytest.raises(InputError, match="arm 'ghost' is not in the release"):
        private_lift(exact, "conversion", "ghost", "control")
    with pytest.raises(InputError, match="metric 'revenue' is not in the release"):
        private_lift(exact, "revenue", "treated", "control")
    tiny = release(data, ["conversion"], campaign_id="c", min_count=1000)
    with pytest.raises(InputError, match="suppressed"):
        private_lift(tiny, "conversion", "treated", "control")


def test_report_has_every_section_and_round_trips_through_json(tmp_path: Path) -> None:
    data = demo_data(seed=1, users=12_000)
    settings = ReportSettings(
        campaign_id="demo",
        covariates=["engaged"],
        uplift_arm="personalized",
        uplift_metric="conversion",
        uplift_learner="t",
        bootstrap=200,
        epsilon=1.0,
        budget=3.0,
        ledger=str(tmp_path / "ledger.json"),
        bounds={"revenue": 500.0},
    )
    report = build_report(data, settings)
    assert {(lift.metric, lift.arm) for lift in report.lifts} >= {("conversion", "personalized")}
    assert all(lift.cuped == "engaged" for lift in report.lifts)
    assert report.breakdowns
    assert report.power
    assert report.private_lifts
    assert report.uplift is not None
    assert report.uplift.targeting is not None
    html, js = write_report(report, tmp_path / "out")
    text = html.read_text()
    assert text.count("<svg") >= 3
    assert "Qini curve" in text
    assert "Private release" in text
    back = MeasurementReport.model_validate_json(js.read_text())
    assert back.lifts == report.lifts
    assert "NaN" not in js.read_text()
    assert "properties" in MeasurementReport.model_json_schema()


def test_report_refuses_what_it_cannot_measure(tmp_path: Path) -> None:
    data = simulate_experiment(2, n=400)
    with pytest.raises(InputError, match="control 'control' has fewer than 500 users"):
        build_report(data, ReportSettings(min_count=500))
    no_control = data.subset(data.arm != "control")
    with pytest.raises(InputError, match="control 'control' has no rows"):
        build_report(no_control, ReportSettings())
    with pytest.raises(InputError, match="no treatment arm with at least 150 users"):
        build_report(data.subset(data.arm == "control"), ReportSettings(min_count=150))
    with pytest.raises(InputError, match="needs a privacy ledger"):
        build_report(data, ReportSettings(min_count=10, epsilon=1.0))
    plain = data.subset(np.ones(len(data.arm), bool))
    object.__setattr__(plain, "features", None)
    with pytest.raises(InputError, match="needs feature columns"):
        build_report(plain, ReportSettings(min_count=10, uplift_arm="treated"))
    with pytest.raises(InputError, match="exactly one of --logs, --store or --demo"):
        load_source()
    with pytest.raises(InputError, match="required with --store"):
        load_source(store=str(tmp_path / "s.db"))
    with pytest.raises(InputError, match="needs --advertiser and --campaign"):
        load_source(store=str(tmp_path / "s.db"), exposures=tmp_path / "e.jsonl")


def test_cli_report_demo_writes_html_and_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--demo", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "personalized" in result.output
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert data["campaign_id"] == "demo"
    assert data["uplift"]["learner"] == "x"
    assert (tmp_path / "r" / "report.html").is_file()


def test_cli_report_from_a_log_file_and_its_errors(tmp_path: Path) -> None:
    rows = ["arm,conversion,pre,cohort"]
    rng = np.random.default_rng(0)
    for i in range(400):
        arm = "control" if i % 2 else "treated"
        conv = int(rng.random() < (0.3 if arm == "treated" else 0.2))
        rows.append(f"{arm},{conv},{rng.random():.3f},{'ab'[i % 3 == 0]}")
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    args = [
        "report",
        "--logs",
        str(tmp_path / "log.csv"),
        "-m",
        "conversion",
        "--covariate",
        "pre",
        "--by",
        "cohort",
        "--min-count",
        "20",
        "--out",
        str(tmp_path / "r"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "conversion" in result.output
    bad = runner.invoke(app, ["report", "--logs", str(tmp_path / "log.csv"), "-m", "visit"])
    assert bad.exit_code == 2
    assert "missing column 'visit'" in bad.output


def test_cli_report_from_the_serving_store(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    from adloom import registry

    db = tmp_path / "serve.db"
    store = registry.create("store", {"type": "sqlite", "path": str(db)}, "sqlite")
    holdout = Holdout(HoldoutConfig(campaign_id="c1", salt="s"))
    t = datetime(2026, 1, 1, tzinfo=UTC)
    decisions, events, exposures = [], [], []
    for i in range(300):
        user = f"u{i}"
        arm = holdout.assign(user)
        d = None
        if arm != "control":
            d = Decision(
                decision_id=f"d{i}",
                timestamp=t,
                channel="decide",
                advertiser_id="a",
                campaign_id="c1",
                user_id=user,
                creative_id="cr",
                arm=f"c1/p/{arm}",
                kind=arm,
                reason="policy",
                policy="uniform",
                propensity=0.5,
            )
            decisions.append(d)
            if i % 4 == 0:
                events.append(
                    Event(
                        type="click",
                        creative_id="cr",
                        decision_id=d.decision_id,
                        advertiser_id="a",
                        campaign_id="c1",
                        timestamp=t,
                    )
                )
        exposures.append(holdout.exposure(user, served=d is not None, decision=d, timestamp=t))
    store.append(decisions, events)
    store.close()
    ExposureLog(tmp_path / "exp.jsonl").append(exposures)
    result = runner.invoke(
        app,
        [
            "report",
            "--store",
            str(db),
            "--advertiser",
            "a",
            "--campaign",
            "c1",
            "--exposures",
            str(tmp_path / "exp.jsonl"),
            "--min-count",
            "10",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert {a["arm"] for a in data["arms"]} == {"personalized", "generic", "control"}
