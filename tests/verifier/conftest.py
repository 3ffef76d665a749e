"""Fixtures for the verifier tests: per-session test videos, built on first use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from verifier_media import make_video, remux

from adloom.domain import Campaign, Creative
from adloom.verifier.basic import BasicVerifier
from adloom.verifier.video import VideoScan

#: Test videos by name: keyword arguments of ``make_video`` (5 s, 1280x720, 25 fps).
VARIANTS: dict[str, dict[str, Any]] = {
    "good": {},
    "small": {"size": (640, 360)},
    "frozen": {"freeze": (2.0, 4.0)},
    "blank": {"blank": (2.0, 3.0)},
    "no_label": {"label": None},
    "label_top_left": {"position": "top_left"},
}

_SCANS: dict[tuple[Any, ...], VideoScan] = {}


@pytest.fixture(scope="session")
def video(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``video(name)``: path of a cached test video (see ``VARIANTS``), plus special cases:
    ``no_metadata`` (the good video without container tags), ``truncated`` (its first
    half) and ``garbage`` (bytes that are no video at all).
    """
    folder = tmp_path_factory.mktemp("videos")
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            path = folder / f"{name}.mp4"
            if name == "no_metadata":
                remux(get("good"), path)
            elif name == "truncated":
                data = get("good").read_bytes()
                path.write_bytes(data[: len(data) // 2])
            elif name == "garbage":
                path.write_bytes(bytes(range(256)) * 64)
            else:
                make_video(path, **VARIANTS[name])
            cache[name] = path
        return cache[name]

    return get


@pytest.fixture(autouse=True)
def _reuse_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decode each (video, settings) pair once per session: most tests vary only text."""
    real = BasicVerifier.scan

    def scan(
        self: BasicVerifier,
        creative: Creative,
        campaign: Campaign,
        still_times: Sequence[float] = (),
    ) -> VideoScan:
        key = (
            tuple(still_times),
            self.config.model_dump_json(),
            creative.path,
            creative.height,
            creative.disclosure_box.model_dump_json(),
            campaign.policy.disclosure_text,
        )
        if key not in _SCANS:
            _SCANS[key] = real(self, creative, campaign, still_times)
        return _SCANS[key]

    monkeypatch.setattr(BasicVerifier, "scan", scan)
