"""The CLI's plan -> render -> verify path on the bundled sample files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from adloom.cli import app
from adloom.demo import sample_dir

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_plan_render_verify(tmp_path: Path) -> None:
    campaign = str(sample_dir() / "campaign.json")
    users = str(sample_dir() / "users.json")
    plan = tmp_path / "plan.json"
    r = runner.invoke(
        app,
        [
            "plan",
            "--campaign",
            campaign,
            "--users",
            users,
            "--user",
            "leo",
            "--product",
            "aura-anc",
            "--aspect-ratio",
            "9:16",
            "--duration",
            "6",
            "--out",
            str(plan),
        ],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(plan.read_text())
    assert data["user_id"] == "leo"
    assert data["context"]["aspect_ratio"] == "9:16"

    video = tmp_path / "ad.mp4"
    r = runner.invoke(app, ["render", str(plan), "--campaign", campaign, "--out", str(video)])
    assert r.exit_code == 0, r.output
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (1080, 1920)
    assert (tmp_path / "ad.png").is_file()
    assert (tmp_path / "ad.json").is_file()

    verdict = tmp_path / "verdict.json"
    r = runner.invoke(
        app,
        [
            "verify",
            str(video),
            "--plan",
            str(plan),
            "--campaign",
            campaign,
            "--creative",
            str(tmp_path / "ad.json"),
            "--users",
            users,
            "--verifier",
            "basic",
            "--out",
            str(verdict),
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(verdict.read_text())["decision"] == "accept"

    # Without the creative record the label position is taken from the plan.
    basic = ["--verifier", "basic"]
    r = runner.invoke(
        app, ["verify", str(video), "--plan", str(plan), "--campaign", campaign, *basic]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["decision"] == "accept"

    # The full verifier knows the campaign only runs 16:9 10 s: a revision is needed...
    r = runner.invoke(
        app,
        ["verify", str(video), "--plan", str(plan), "--campaign", campaign,
         "--creative", str(tmp_path / "ad.json"), "--users", users],
    )  # fmt: skip
    assert r.exit_code == 1, r.output
    found = json.loads(r.stdout)
    assert found["decision"] == "revise"
    assert "platform" in {c["name"] for c in found["checks"] if not c["passed"]}

    # ...and refine makes it: the campaign's context is restored and the ad re-rendered.
    fixed = tmp_path / "fixed"
    r = runner.invoke(
        app,
        ["refine", str(plan), "--campaign", campaign, "--users", users,
         "--video", str(video), "--creative", str(tmp_path / "ad.json"), "--out", str(fixed)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rounds = json.loads((fixed / "refine.json").read_text())
    assert rounds["final_decision"] == "accept"
    actions = {d["action"] for rd in rounds["rounds"] for d in rd["directives"]}
    assert "restore_context" in actions
    final = json.loads((fixed / "plan.json").read_text())
    assert final["context"]["aspect_ratio"] == "16:9"
    assert json.loads((fixed / "verdict.json").read_text())["decision"] == "accept"
    with av.open(str(fixed / "creative.mp4")) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (1280, 720)


def test_generic_plan_without_user(tmp_path: Path) -> None:
    r = runner.invoke(app, ["plan", "--campaign", str(sample_dir() / "campaign.json")])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["kind"] == "generic"
    assert data["user_id"] is None


def test_verify_garbage_file(tmp_path: Path) -> None:
    campaign = str(sample_dir() / "campaign.json")
    plan = tmp_path / "plan.json"
    assert runner.invoke(app, ["plan", "--campaign", campaign, "--out", str(plan)]).exit_code == 0
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 100)
    r = runner.invoke(app, ["verify", str(bad), "--plan", str(plan), "--campaign", campaign])
    assert r.exit_code == 2
    assert "bad.mp4: unreadable video" in r.output


def test_render_refuses_ungrounded_plan(tmp_path: Path) -> None:
    campaign = str(sample_dir() / "campaign.json")
    plan = tmp_path / "plan.json"
    r = runner.invoke(
        app, ["plan", "--campaign", campaign, "--product", "lumi-serum", "-o", str(plan)]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(plan.read_text())
    data["scenes"][0]["on_screen_text"]["text"] = "Cures acne overnight"
    plan.write_text(json.dumps(data))
    video = tmp_path / "ad.mp4"
    r = runner.invoke(app, ["render", str(plan), "--campaign", campaign, "--out", str(video)])
    assert r.exit_code == 2
    assert "plan.json: scenes.0.on_screen_text: text 'Cures acne overnight' differs" in r.output
    assert not video.exists()


def test_errors_keep_their_brackets(tmp_path: Path) -> None:
    """Error text is printed as text: an install hint like adloom[serve] stays whole."""
    bad = tmp_path / "[draft] campaign.json"
    bad.write_text("{not json")
    r = runner.invoke(app, ["plan", "--campaign", str(bad)])
    assert r.exit_code == 2
    assert "[draft] campaign.json" in r.output


def test_runs_as_a_module() -> None:
    """``python -m adloom.cli`` loads its sub-commands (they import helpers from it)."""
    r = subprocess.run(
        [sys.executable, "-m", "adloom.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    for command in ("serve", "report", "bench", "cohorts", "integrate"):
        assert command in r.stdout


def test_plan_with_another_director(tmp_path: Path) -> None:
    """--planner plugs in any registered Director, here the LLM one on its scripted endpoint."""
    config = tmp_path / "director.json"
    config.write_text(json.dumps({"type": "fake-llm", "model": "scripted"}))
    campaign = str(sample_dir() / "campaign.json")
    users = str(sample_dir() / "users.json")
    args = ["plan", "--campaign", campaign, "--users", users, "--user", "leo"]
    r = runner.invoke(app, [*args, "--planner", str(config)])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert (data["planner"], data["user_id"]) == ("fake-llm", "leo")
    assert any(n.startswith("planned by a language model") for n in data["notes"])
    # A model that only answers in prose: the embedded Director's plan, and why.
    config.write_text(json.dumps({"type": "fake-llm", "script": ["prose"], "max_repairs": 0}))
    r = runner.invoke(app, [*args, "--planner", str(config)])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["planner"] == "template"
    assert any(n.startswith("fallback: planned by the embedded Director") for n in data["notes"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"model": "x"}', "expected a JSON object with a 'type'"),
        ('{"type": "fake-llm", "colour": 1}', "colour"),
        ("{not json", "director.json"),
    ],
)
def test_plan_refuses_a_bad_director_config(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "director.json"
    config.write_text(content)
    campaign = str(sample_dir() / "campaign.json")
    r = runner.invoke(app, ["plan", "--campaign", campaign, "--planner", str(config)])
    assert r.exit_code == 2
    assert message in r.output
    assert len(r.output.strip().splitlines()) == 1
