"""Host understanding: shots, motion, colour, loudness, speech, text, summary, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.pci.helpers import FPS, SHOTS, audio_only, odd_video, tiny_host, vfr_video

from adloom import registry
from adloom.director.host import (
    EmbeddedHostAnalyzer,
    EmbeddedHostAnalyzerConfig,
    analyze_host,
    colour_histograms,
    detect_cuts,
)
from adloom.domain import HostAnalysis
from adloom.errors import AdloomError, InputError


def test_shots_found_at_the_cuts(host: HostAnalysis) -> None:
    starts = [s.start_frame for s in host.shots]
    expected = [round(sum(s.duration_s for s in SHOTS[:i]) * FPS) for i in range(len(SHOTS))]
    assert starts == expected
    assert host.frame_count == 12 * FPS
    assert host.fps == FPS
    assert host.shots[-1].end_frame == host.frame_count
    assert 0 in host.keyframes
    assert all(0 <= k < host.frame_count for k in host.keyframes)


def test_motion_colour_and_brightness_per_shot(host: HostAnalysis) -> None:
    calm, action = host.shots[2], host.shots[1]
    assert action.motion > 5 * calm.motion
    assert len({s.colors[0] for s in host.shots}) == len(host.shots)
    # The warm still is brighter than the dusky city.
    assert host.shots[2].brightness > host.shots[3].brightness
    assert all(len(s.colors) == 3 and s.colors[0].startswith("#") for s in host.shots)


def test_speech_flagged_only_in_speech_shots(host: HostAnalysis) -> None:
    tl = host.timeline
    step = tl.step_s
    inside, outside = [], []
    for i, flag in enumerate(tl.speech):
        t = (i + 0.5) * step
        shot = next(s for s in host.shots if s.start_s <= t < s.end_s + 1e-9)
        (inside if SHOTS[shot.index].speech else outside).append(flag)
    assert np.mean(inside) > 0.8
    assert np.mean(outside) < 0.1
    loud = np.mean([v for v, f in zip(tl.loudness_db, tl.speech, strict=True) if f])
    quiet = np.mean([v for v, f in zip(tl.loudness_db, tl.speech, strict=True) if not f])
    assert loud > quiet + 6


def test_on_screen_text_and_summary(host: HostAnalysis) -> None:
    assert "trail" in host.shots[0].text.lower()
    assert "Trail" in host.shots[0].description or "trail" in host.shots[0].description
    s = host.summary
    assert "trail" in s.topic.lower()
    assert "4 shots" in s.content
    assert "speech-like" in s.audio
    assert s.visual


def test_analysis_is_registered_and_deterministic(host_video: Path, host: HostAnalysis) -> None:
    assert "embedded" in registry.available("host")
    again = analyze_host(host_video, {"type": "embedded", "ocr": False})
    assert [s.start_frame for s in again.shots] == [s.start_frame for s in host.shots]
    assert again.timeline.speech == host.timeline.speech
    assert again.shots[0].text == ""


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(AdloomError, match="cut_treshold"):
        registry.create("host", {"type": "embedded", "cut_treshold": 0.2}, "embedded")


def test_no_audio_is_analyzed_as_silent(tmp_path: Path) -> None:
    path = tiny_host(tmp_path / "silent.mp4", audio=False)
    a = EmbeddedHostAnalyzer(EmbeddedHostAnalyzerConfig(ocr=False)).analyze(path)
    assert not a.has_audio
    assert a.sample_rate is None
    assert not any(a.timeline.speech)
    assert set(a.timeline.loudness_db) == {-120.0}
    assert a.summary.audio == "no audio track"


def test_cut_detection_ignores_a_pan() -> None:
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (20, 400, 3), dtype=np.uint8)
    pan = np.stack([texture[:, i : i + 40] for i in range(0, 60, 2)])
    hist = colour_histograms(pan)
    assert detect_cuts(hist, 25.0, 0.35, 0.5) == []
    cut = np.concatenate([pan, np.full_like(pan, 200)])
    assert detect_cuts(colour_histograms(cut), 25.0, 0.35, 0.5) == [len(pan)]


def _too_short(tmp: Path) -> Path:
    return tiny_host(tmp / "short.mp4", shots=(SHOTS[0].__class__(2.0, (0, 0, 0), (9, 9, 9)),))


def _text_file(tmp: Path) -> Path:
    path = tmp / "notes.mp4"
    path.write_text("not a video")
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.mp4", "missing.mp4: file not found"),
        (_text_file, "notes.mp4: unreadable video"),
        (lambda tmp: audio_only(tmp / "a.mp4"), "a.mp4: no video stream"),
        (_too_short, "short.mp4: host video lasts 2.0s; integration needs at least 4s"),
        (lambda tmp: vfr_video(tmp / "vfr.mp4"), "vfr.mp4: variable frame rate"),
        (lambda tmp: odd_video(tmp / "odd.mp4"), "odd.mp4: odd frame size 161x90"),
    ],
)
def test_bad_hosts_fail_with_one_line(make: object, message: str, tmp_path: Path) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(InputError) as info:
        analyze_host(path)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
