"""``adloom cohorts``: simulate -> fit -> plan through the command line, the Open Bandit
sample, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adloom.cli import app
from adloom.cohorts.model import PreferenceModel
from adloom.cohorts.report import CohortPlans, CohortReport

from .test_data import OBD

runner = CliRunner()
FAST = ["--text-encoder", "hashing", "--image-encoder", "pixels"]


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["cohorts", *map(str, args)])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("logs")
    code, output = run("simulate", "--out", folder, "--users", 700, "--groups", 3, "--seed", 2)
    assert code == 0, output
    assert "3 planted groups" in output
    return folder


@pytest.fixture(scope="module")
def fitted_dir(logs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fit")
    code, output = run(
        "fit",
        "--clicks", logs / "clicks.csv",
        "--users", logs / "users.csv",
        "--items", logs / "items.csv",
        "--out", out,
        "--product", "trailblaze-boots",
        "--min-group-size", 40,
        *FAST,
    )  # fmt: skip
    assert code == 0, output
    assert "trailblaze-boots: k=3" in output
    assert "NDCG@5" in output
    return out


def test_fit_writes_report_model_and_assignments(fitted_dir: Path, logs: Path) -> None:
    report = CohortReport.model_validate_json((fitted_dir / "cohorts.json").read_text())
    assert [p.product_id for p in report.products] == ["trailblaze-boots"]
    assert report.products[0].k == 3
    assert report.auroc is not None
    assert report.auroc.cohorts > 0.65
    model = PreferenceModel.load(fitted_dir / "model")
    assert len(model.item_ids) == 16
    with (fitted_dir / "assignments.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    with (logs / "users.csv").open() as fh:
        consent = {r["user_id"]: r["consent"] == "1" for r in csv.DictReader(fh)}
    assert len(rows) == len(consent)
    for r in rows:
        assert (r["group_id"] == "generic") == (not consent[r["user_id"]])
    settings = json.loads((fitted_dir / "settings.json").read_text())
    assert settings["min_group_size"] == 40
    assert settings["text_encoder"] == "hashing"


def test_plan_one_creative_per_group(fitted_dir: Path, tmp_path: Path) -> None:
    code, output = run("plan", "--cohorts", fitted_dir / "cohorts.json", "--out", tmp_path)
    assert code == 0, output
    result = CohortPlans.model_validate_json((tmp_path / "cohort-plans.json").read_text())
    assert len(result.creatives) == 3
    assert set(result.generic) == {"trailblaze-boots"}
    assert "3 group plans and 1 generic plans" in output or "group plans" in output
    for c in result.creatives:
        assert Path(c.plan_path).is_file()


@pytest.mark.slow
def test_plan_and_render(fitted_dir: Path, tmp_path: Path) -> None:
    code, output = run(
        "plan", "--cohorts", fitted_dir / "cohorts.json", "--out", tmp_path, "--render",
        "--duration", 6,
    )  # fmt: skip
    assert code == 0, output
    result = CohortPlans.model_validate_json((tmp_path / "cohort-plans.json").read_text())
    for c in result.creatives:
        assert c.creative_path is not None
        assert Path(c.creative_path).stat().st_size > 1000


def test_assign_reproduces_the_fit_and_takes_new_users(
    fitted_dir: Path, logs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "assigned.csv"
    code, output = run(
        "assign", "--users", logs / "users.csv", "--fitted", fitted_dir, "--out", out
    )
    assert code == 0, output
    assert "trailblaze-boots: " in output
    with out.open() as fh:
        again = [(r["user_id"], r["group_id"]) for r in csv.DictReader(fh)]
    with (fitted_dir / "assignments.csv").open() as fh:
        original = [(r["user_id"], r["group_id"]) for r in csv.DictReader(fh)]
    same = sum(a == b for a, b in zip(again, original, strict=True))
    assert same / len(original) > 0.99  # centres are stored rounded; ties may flip
    new = tmp_path / "new.csv"
    new.write_text(
        "user_id,consent,age_band,region,device,spend_level,promo_sensitivity\n"
        "n1,1,35-49,rural,tablet,0.2,1.1\nn2,0,18-24,urban,mobile,-1.0,0.3\n",
        encoding="utf-8",
    )
    code, output = run("assign", "--users", new, "--fitted", fitted_dir, "--out", out)
    assert code == 0, output
    with out.open() as fh:
        rows = {r["user_id"]: r["group_id"] for r in csv.DictReader(fh)}
    assert rows["n1"].startswith("trailblaze-boots.g")
    assert rows["n2"] == "generic"  # no consent
    code, output = run("assign", "--users", new, "--fitted", tmp_path, "--out", out)
    assert code == 2
    assert "cohorts.json: file not found" in output


def test_fit_open_bandit_sample(tmp_path: Path) -> None:
    code, output = run(
        "fit", "--open-bandit", OBD, "--policy", "random", "--bandit-campaign", "men",
        "--out", tmp_path, "--product", "0", "--product", "1", "--epochs", 3,
        "--min-group-size", 20, *FAST,
    )  # fmt: skip
    assert code == 0, output
    report = CohortReport.model_validate_json((tmp_path / "cohorts.json").read_text())
    assert [p.product_id for p in report.products] == ["0", "1"]
    assert report.impressions == 1500
    for p in report.products:
        assert p.ndcg_items == 20  # one creative per item: ranked over the busiest items
        assert sum(g.size for g in p.groups) == report.consenting_users


def test_schema() -> None:
    code, output = run("schema", "cohorts")
    assert code == 0
    assert json.loads(output)["title"] == "CohortReport"
    code, output = run("schema", "plans")
    assert code == 2
    assert "unknown schema 'plans'" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "--clicks", "c.csv", "--items", "i.csv"], "i.csv: file not found"),
        (["fit", "--clicks", "c.csv"], "c.csv: file not found"),
        (["fit", "--open-bandit", "x", "--clicks", "c.csv"], "use either --open-bandit"),
        (["fit", "--users", "u.csv", "--items", "i.csv"], "--clicks: required"),
        (["fit", "--open-bandit", "nowhere"], "file not found"),
        (["fit", "--open-bandit", OBD, "--policy", "greedy"], "unknown Open Bandit policy"),
        (["fit", "--open-bandit", OBD, "--small-groups", "drop"], "small_groups"),
        (["fit", "--open-bandit", OBD, "--k-max", "1"], "grouping.k_max"),
        (["plan", "--cohorts", "missing.json"], "missing.json: file not found"),
    ],
)
def test_errors_are_one_line(args: list[str | Path], message: str) -> None:
    code, output = run(*args)
    assert code == 2
    assert message in output
    assert output.count("error:") == 1


def test_config_file_is_validated(tmp_path: Path, logs: Path) -> None:
    bad = tmp_path / "settings.json"
    bad.write_text('{"min_group_size": 5, "colour": "red"}', encoding="utf-8")
    files = ["--clicks", logs / "clicks.csv", "--users", logs / "users.csv"]
    code, output = run("fit", *files, "--items", logs / "items.csv", "--config", bad)
    assert code == 2
    assert "colour: unknown field" in output
    bad.write_text("[1, 2]", encoding="utf-8")
    code, output = run("fit", *files, "--items", logs / "items.csv", "--config", bad)
    assert code == 2
    assert "expected a JSON object" in output


def test_fit_a_single_file_log(tmp_path: Path, logs: Path) -> None:
    users = {r["user_id"]: r for r in csv.DictReader((logs / "users.csv").open())}
    single = tmp_path / "log.csv"
    with (logs / "clicks.csv").open() as src, single.open("w", newline="") as dst:
        rows = csv.DictReader(src)
        attrs = ["consent", "region", "device", "spend_level"]
        w = csv.writer(dst)
        w.writerow(["user_id", "item_id", "click", *attrs])
        for r in rows:
            w.writerow(
                [r["user_id"], r["item_id"], r["click"], *(users[r["user_id"]][a] for a in attrs)]
            )
    code, output = run(
        "fit", "--clicks", single, "--out", tmp_path / "o", "--epochs", 2,
        "--product", "aura-anc.calm", "--k-max", 3, *FAST,
    )  # fmt: skip
    assert code == 0, output
    report = CohortReport.model_validate_json((tmp_path / "o" / "cohorts.json").read_text())
    assert report.products[0].product_id == "aura-anc.calm"  # items known by id
    assert report.consenting_users == sum(u["consent"] == "1" for u in users.values())


def test_users_without_consent_column_need_the_flag(tmp_path: Path, logs: Path) -> None:
    rows = (logs / "users.csv").read_text().splitlines()
    header = rows[0].split(",")
    drop = header.index("consent")
    stripped = [",".join(c for i, c in enumerate(r.split(",")) if i != drop) for r in rows]
    users = tmp_path / "users.csv"
    users.write_text("\n".join(stripped) + "\n", encoding="utf-8")
    files = ["--clicks", logs / "clicks.csv", "--users", users, "--items", logs / "items.csv"]
    code, output = run("fit", *files, "--out", tmp_path / "o", *FAST)
    assert code == 2
    assert "missing column 'consent'" in output
    code, output = run(
        "fit", *files, "--out", tmp_path / "o", "--assume-consent", "--epochs", 2,
        "--product", "aura-anc", "--k-max", 3, *FAST,
    )  # fmt: skip
    assert code == 0, output
    report = CohortReport.model_validate_json((tmp_path / "o" / "cohorts.json").read_text())
    assert report.consenting_users == report.users


def test_missing_torch_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from typer.testing import CliRunner\n"
        "from adloom.cli import app\n"
        "r = CliRunner().invoke(app, ['cohorts', 'fit', '--open-bandit', sys.argv[1]])\n"
        "print(r.output); sys.exit(r.exit_code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(OBD)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    # (The shared error printer reads "[cohorts]" as console markup and drops it.)
    assert "needs the 'torch' package: pip install 'adloom" in done.stdout
    assert done.stdout.count("error:") == 1
