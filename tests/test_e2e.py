"""End to end: the demo loop on a small campaign, then every video decoded and checked."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from adloom.cli import app
from adloom.demo import run_campaign
from adloom.domain import Campaign, User
from adloom.grounding import is_approved_text
from adloom.pipeline import AdPipeline, PipelineSettings, RunResult

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline() -> AdPipeline:
    return AdPipeline.from_settings(PipelineSettings(workers=2))


@pytest.fixture
def run(pipeline: AdPipeline, campaign: Campaign, users: list[User], tmp_path: Path) -> RunResult:
    return run_campaign(campaign, users, tmp_path / "out", pipeline=pipeline).run


def decode(path: Path) -> tuple[int, tuple[int, int], list[np.ndarray]]:
    frames = []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        size = (stream.codec_context.width, stream.codec_context.height)
        for i, frame in enumerate(c.decode(stream)):
            if i % 10 == 0:
                frames.append(frame.to_ndarray(format="gray"))
        count = i + 1
    return count, size, frames


def test_demo_writes_every_pair(
    run: RunResult, campaign: Campaign, users: list[User], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert (out / "index.html").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["pairs"]) == len(users) * len(campaign.products)
    ctx = campaign.contexts[0]
    for pair in run.pairs:
        d = out / "users" / pair.user_id / pair.product_id
        for name in ("plan.json", "creative.mp4", "thumbnail.png", "verdict.json", "creative.json"):
            assert (d / name).is_file(), d / name
        assert (out / "users" / pair.user_id / "profile.json").is_file()
        count, size, frames = decode(d / "creative.mp4")
        assert size == ctx.size
        assert abs(count - ctx.duration_s * ctx.fps) <= 1
        assert all(f.std() > 5 for f in frames), "blank frame"


def test_fallbacks_say_why(run: RunResult) -> None:
    by_user = {p.user_id: p for p in run.pairs}
    assert by_user["private"].reused_generic
    assert "consent" in by_user["private"].plan.matching.rationale
    assert by_user["newbie"].reused_generic
    assert "history" in by_user["newbie"].plan.matching.rationale
    assert not run.pair("hiker", "boots").reused_generic
    assert run.pair("hiker", "boots").plan.kind == "personalized"


def test_personalized_differs_from_generic_and_is_verified(run: RunResult) -> None:
    pair = run.pair("hiker", "boots")
    generic = run.generic["boots"]
    assert pair.result.creative.sha256 != generic.creative.sha256
    assert pair.result.verdict.decision == "accept", pair.result.verdict.rationale
    assert generic.verdict.decision == "accept", generic.verdict.rationale


def test_no_rendered_text_outside_claims_and_copy(run: RunResult, campaign: Campaign) -> None:
    for pair in run.pairs:
        product = campaign.product(pair.product_id)
        interests = [i.label for i in run.profiles[pair.user_id].interests]
        drawn = pair.result.creative.rendered_text
        assert drawn, "the renderer must report what it drew"
        for item in drawn:
            assert is_approved_text(item.text, product, interests), item.text


def test_demo_cli_on_own_files(tmp_path: Path) -> None:
    """`adloom demo --campaign --users` on a copy of the sample restricted to two users."""
    from adloom.demo import sample_dir

    users = json.loads((sample_dir() / "users.json").read_text())["users"]
    keep = [u for u in users if u["id"] in {"maya", "private"}]
    for u in keep:
        for h in u["history"]:
            if h.get("image"):
                h["image"] = str(sample_dir() / h["image"])
    (tmp_path / "users.json").write_text(json.dumps({"users": keep}))
    campaign = json.loads((sample_dir() / "campaign.json").read_text())
    campaign["products"] = campaign["products"][:1]
    for a in campaign["products"][0]["assets"]:
        a["path"] = str(sample_dir() / a["path"])
    (tmp_path / "campaign.json").write_text(json.dumps(campaign))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--campaign",
            str(tmp_path / "campaign.json"),
            "--users",
            str(tmp_path / "users.json"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "users" / "maya" / "trailblaze-boots" / "creative.mp4").is_file()
    assert "private: generic creative" in result.output
    assert "PCI: personalized segment woven into a 16s sample host" in result.output
    assert (out / "pci" / "woven" / "woven.mp4").is_file()
    assert (out / "pci" / "woven" / "woven.vmap.xml").is_file()
    html = (out / "index.html").read_text()
    assert "maya" in html
    assert "Generic creative shown" in html


def test_pipeline_without_verifier_warns(
    caplog: pytest.LogCaptureFixture, pipeline: AdPipeline
) -> None:
    with caplog.at_level(logging.WARNING):
        AdPipeline(pipeline.planner, pipeline.renderer, None)
    assert "WITHOUT a verifier" in caplog.text
