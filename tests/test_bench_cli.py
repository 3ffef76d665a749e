"""``adloom bench pcg``: the report in text and JSON, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adloom.cli import app
from adloom.domain import Campaign, User

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path, campaign: Campaign, users: list[User]) -> tuple[Path, Path]:
    assets = campaign.base_dir
    data = campaign.model_dump(mode="json")
    for product in data["products"]:
        for asset in product["assets"]:
            asset["path"] = str(assets / asset["path"])
    campaign_file = tmp_path / "campaign.json"
    campaign_file.write_text(json.dumps(data))
    users_file = tmp_path / "users.json"
    users_file.write_text(json.dumps([u.model_dump(mode="json") for u in users]))
    return campaign_file, users_file


@pytest.fixture
def configs(tmp_path: Path) -> tuple[Path, Path]:
    planner = tmp_path / "planner.json"
    planner.write_text(json.dumps({"type": "template", "embedder": "hashing"}))
    judge = tmp_path / "judge.json"
    judge.write_text(json.dumps({"type": "embedded", "embedder": "hashing"}))
    return planner, judge


def test_pcg_table(files: tuple[Path, Path], configs: tuple[Path, Path]) -> None:
    campaign, users = files
    r = runner.invoke(
        app,
        [
            "bench", "pcg", "--campaign", str(campaign), "--users", str(users),
            "--planner", str(configs[0]), "--judge", str(configs[1]), "--duration", "6",
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "PCG: template Director, embedded judge (proxies" in r.output
    for dim in ("personalization_content *", "product_alignment *", "diversity *"):
        assert dim in r.output
    assert "3 users, 1 left out (no consent), 6 pairs" in r.output
    assert "per creative: plan" in r.output


def test_pcg_json_and_out_file(
    tmp_path: Path, files: tuple[Path, Path], configs: tuple[Path, Path]
) -> None:
    campaign, users = files
    dest = tmp_path / "report.json"
    r = runner.invoke(
        app,
        [
            "bench", "pcg", "-c", str(campaign), "-u", str(users), "--planner",
            str(configs[0]), "--judge", str(configs[1]), "--max-pairs", "2", "--json",
            "--details", "--out", str(dest),
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads(dest.read_text())
    assert report["pairs"] == 2
    assert len(report["creatives"]) == 4
    assert {d["dimension"] for d in report["dimensions"]} >= {"product_alignment"}
    assert '"planner": "template"' in r.output


C, U = ["-c", "{campaign}"], ["-u", "{users}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "{users}"], "--users: needs --campaign"),
        (["--campaign", "{campaign}"], "--users: required with --campaign"),
        ([*C, *U, "--planner", "gpt"], "unknown planner backend 'gpt'"),
        ([*C, *U, "--judge", "{bad}"], "expected a JSON object with a 'type'"),
        ([*C, *U, "--judge", "missing.json"], "missing.json: file not found"),
        ([*C, *U, "--planner", "{temp}"], "planner backend 'template': temperature"),
        ([*C, *U, "--duration", "2"], "--duration"),
        ([*C, "-u", "{private}"], "nobody consented"),
    ],
)  # fmt: skip
def test_pcg_bad_input(
    tmp_path: Path,
    files: tuple[Path, Path],
    users: list[User],
    args: list[str],
    message: str,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    temp = tmp_path / "temp.json"
    temp.write_text(json.dumps({"type": "template", "temperature": 0.2}))
    private = tmp_path / "private.json"
    private.write_text(json.dumps([u.model_dump(mode="json") for u in users if u.id == "private"]))
    names = {
        "campaign": files[0], "users": files[1], "bad": bad, "temp": temp, "private": private
    }  # fmt: skip
    argv = ["bench", "pcg", *(a.format(**{k: str(v) for k, v in names.items()}) for a in args)]
    r = runner.invoke(app, argv)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output
