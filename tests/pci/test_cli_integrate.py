"""``adloom integrate``: files written, one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.pci.helpers import odd_video, small_campaign
from typer.testing import CliRunner

from adloom.cli import app


def _campaign_file(folder: Path) -> Path:
    campaign = small_campaign(folder)
    data = json.loads(campaign.model_dump_json())
    for product in data["products"]:
        for asset in product["assets"]:
            asset["path"] = str(folder / "assets" / asset["path"])
    path = folder / "campaign.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.slow
def test_integrate_writes_the_woven_video(host_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        "integrate", "--host", str(host_video), "--campaign", str(_campaign_file(tmp_path)),
        "--out", str(out), "--segment-s", "5", "--verifier", "basic", "--embedder", "hashing",
        "--no-baseline", "--vast-url", "https://ads.example.com/pci/segment.vast.xml",
        "--at", "2.5",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "integration at" in result.output
    assert "verdict:" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["baseline"] is None
    assert report["decision"]["strategy"] == "manual"
    assert report["decision"]["point"]["frame"] == 62
    assert report["plan"]["kind"] == "generic"
    assert (out / "woven.mp4").stat().st_size > 0
    vmap = (out / "woven.vmap.xml").read_text()
    assert "<![CDATA[https://ads.example.com/pci/segment.vast.xml]]>" in vmap
    assert "VASTAdData" not in vmap


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--host", "missing.mp4"], "missing.mp4: file not found"),
        (["--user", "hiker"], "--users: required with --user"),
        (["--product", "nope"], "no product with id 'nope'"),
        (["--segment-s", "2"], "--segment-s: 2s is outside 5-60s"),
        (["--host", "mpeg4.mp4"], "mpeg4.mp4: video codec 'mpeg4': splicing copies H.264 only"),
    ],
)
def test_integrate_errors_are_one_line(
    extra: list[str], message: str, host_video: Path, tmp_path: Path
) -> None:
    host = tmp_path / "host.mp4"
    shutil.copy(host_video, host)
    odd_video(tmp_path / "mpeg4.mp4", width=160)
    args = ["integrate", "--host", str(host), "--campaign", str(_campaign_file(tmp_path))]
    args += ["--out", str(tmp_path / "out"), "--embedder", "hashing"]
    for i in range(0, len(extra), 2):
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = str(tmp_path / extra[i + 1])
        else:
            args += extra[i : i + 2]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert message in lines[0]
    assert not (tmp_path / "out").exists()
