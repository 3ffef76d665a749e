"""Decoding: what a scan reports, and how broken files are turned into clear messages."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from verifier_media import make_creative, make_plan, profile

from adloom.domain import Campaign
from adloom.producer.label import label_box
from adloom.verifier.basic import BasicVerifier
from adloom.verifier.video import VideoError, scan_video

VideoFactory = Callable[[str], Path]


def test_scan_reports_stream_facts_and_samples(video: VideoFactory) -> None:
    box = label_box("AI-generated", (1280, 720), "top_right")
    scan = scan_video(video("good"), sample_fps=10, region=box, region_margin=2)
    assert (scan.width, scan.height, scan.fps) == (1280, 720, 25.0)
    assert (scan.codec, scan.pix_fmt) == ("h264", "yuv420p")
    assert "mp4" in scan.format_name
    assert scan.frame_count == 125
    assert scan.duration_s == pytest.approx(5.0)
    assert scan.metadata["comment"] == "AI-generated"
    # Every second frame at 25 fps: 63 samples, 0.08 s apart.
    assert scan.sample_interval_s == pytest.approx(0.08)
    assert len(scan.times) == len(scan.std) == len(scan.diff) == len(scan.crops) == 63
    assert np.isnan(scan.diff[0])
    assert scan.crops[0].shape == (box.h + 4, box.w + 4)
    assert scan.crop_origin == (box.x - 2, box.y - 2)
    assert scan.std.min() > 3.0
    assert np.nanmin(scan.diff) > 0.25


def test_scan_without_region_skips_crops(video: VideoFactory) -> None:
    scan = scan_video(video("good"), sample_fps=100)
    assert len(scan.times) == 125
    assert scan.crops == []


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        stream.layout = "mono"
        samples = np.zeros((1, 1024), dtype=np.float32)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 44100
            frame.pts = i * 1024
            frame.time_base = Fraction(1, 44100)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("garbage", "cannot open garbage.mp4"),
        ("truncated", "cannot open truncated.mp4"),
        ("missing", "cannot open missing.mp4"),
        ("audio_only", "audio_only.mp4 has no video stream"),
    ],
)
def test_broken_files_raise_one_clear_error(
    video: VideoFactory, tmp_path: Path, name: str, message: str
) -> None:
    if name == "missing":
        path = tmp_path / "missing.mp4"
    elif name == "audio_only":
        path = _audio_only(tmp_path / "audio_only.mp4")
    else:
        path = video(name)
    with pytest.raises(VideoError, match=message):
        scan_video(path)


def test_image_posing_as_video_is_rejected(campaign: Campaign, tmp_path: Path) -> None:
    path = tmp_path / "still.mp4"
    Image.new("RGB", (1280, 720), (30, 90, 60)).save(path, format="PNG")
    plan = make_plan(campaign)
    verdict = BasicVerifier().verify(make_creative(plan, path), plan, campaign, profile())
    assert verdict.decision == "reject"
    message = verdict.check("container").message
    assert "not MP4" in message
    assert "not H.264" in message
