"""Matching, splicing, delivery and verification of a woven host video, end to end."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import numpy as np
import pytest
from tests.pci.helpers import small_campaign, tiny_host

from adloom.director.host import analyze_host
from adloom.director.integration import IntegrationSettings, baseline, decide
from adloom.domain import Consent, HistoryItem, HostAnalysis, IntegrationReport, User
from adloom.errors import InputError
from adloom.integrate import FILES, IntegrateSettings, integrate
from adloom.io import read_json, sha256_file
from adloom.producer.ffmpeg import ffmpeg_exe
from adloom.producer.splice import probe_frames, splice
from adloom.serving.vmap import NAMESPACE
from adloom.verifier.integration import measure

pytestmark = pytest.mark.slow

HIKER = User(
    id="hiker",
    consent=Consent(personalization=True),
    history=[HistoryItem(title="Trail running in the hills", tags=["trail", "running"])],
)
SETTINGS = IntegrateSettings(
    verifier="basic", segment_s=5.0, decision=IntegrationSettings(embedder="hashing")
)


@pytest.fixture(scope="module")
def woven(
    host_video: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[IntegrationReport, Path, str]:
    folder = tmp_path_factory.mktemp("weave")
    campaign = small_campaign(folder)
    before = sha256_file(host_video)
    report = integrate(
        host_video, campaign, campaign.products[0], folder / "out", user=HIKER, settings=SETTINGS
    )
    return report, folder / "out", before


def _frames(path: Path | str) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(c.streams.video[0])]


def test_outputs_written_and_host_untouched(
    woven: tuple[IntegrationReport, Path, str], host_video: Path
) -> None:
    report, out, before = woven
    assert sha256_file(host_video) == before
    for name in ("woven", "segment", "master", "frame", "backdrop", "vast", "vmap", "report"):
        assert (out / FILES[name]).is_file(), name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    saved = IntegrationReport.model_validate(read_json(out / FILES["report"]))
    assert saved.decision == report.decision
    assert report.plan.kind == "personalized"
    assert report.plan.scenes[0].background.image == str(out / FILES["backdrop"])


def test_woven_video_is_host_plus_segment(
    woven: tuple[IntegrationReport, Path, str], host_video: Path
) -> None:
    report, out, _ = woven
    host, seg = report.host, report.segment
    t = report.decision.point.frame
    assert (seg.width, seg.height, seg.fps) == (host.width, host.height, host.fps)
    assert seg.frame_count == 5 * 25
    h, w = _frames(host_video), _frames(out / FILES["woven"])
    assert len(w) == len(h) + seg.frame_count
    # Copied or re-encoded, the host's pictures are the host's on both sides of the segment.
    for i in (0, t // 2, t - 1):
        assert np.abs(w[i].astype(int) - h[i]).mean() < 2.0
    for i in (t, t + 1, len(h) - 1):
        assert np.abs(w[i + seg.frame_count].astype(int) - h[i]).mean() < 2.0
    stats = report.splice
    assert stats.copied_frames + stats.reencoded_host_frames == host.frame_count
    assert stats.reencoded_host_frames < 2 * 25  # one GOP at most (keyframes every 1 s)
    with av.open(str(out / FILES["woven"])) as c:
        durations = [float(s.duration * s.time_base) for s in c.streams if s.duration]
        assert [s.type for s in c.streams] == ["video", "audio"]
    assert max(durations) - min(durations) < 0.1
    assert max(durations) == pytest.approx(host.duration_s + 5.0, abs=0.1)


def test_segment_carries_label_and_tags(woven: tuple[IntegrationReport, Path, str]) -> None:
    report, out, _ = woven
    seg = report.segment
    with av.open(str(out / FILES["segment"])) as c:
        tags = dict(c.metadata)
        a = c.streams.audio[0]
        assert (a.rate, a.channels) == (report.host.sample_rate, report.host.channels)
    assert tags.get("ai_generated") == "true"
    assert seg.provenance == "c2pa"
    box = seg.disclosure_box
    frames = _frames(out / FILES["segment"])
    # The label's dark box is drawn on the first, middle and last frames alike.
    for f in (frames[0], frames[len(frames) // 2], frames[-1]):
        luma = f[: report.host.height][box.y : box.y + box.h, box.x : box.x + box.w]
        assert luma.mean() < 110


def test_cuts_are_continuous_and_beat_the_generic_baseline(
    woven: tuple[IntegrationReport, Path, str],
) -> None:
    report, _, _ = woven
    q, b = report.quality, report.baseline
    assert b is not None
    assert q.cut_in.continuity > 0.85
    assert q.cut_out.continuity > 0.85
    assert min(q.cut_in.continuity, q.cut_out.continuity) > max(
        b.cut_in.continuity, b.cut_out.continuity
    )
    assert q.cut_in.loudness_jump_db < b.cut_in.loudness_jump_db
    assert q.share == pytest.approx(5.0 / (report.host.duration_s + 5.0), abs=0.01)


def test_verdict_includes_integration_checks(woven: tuple[IntegrationReport, Path, str]) -> None:
    report, _, _ = woven
    names = {c.name: c for c in report.verdict.checks}
    for name in ("integration_continuity", "integration_loudness", "integration_share"):
        assert names[name].passed, names[name].message
    assert "platform" not in names
    assert report.verdict.verifier == "basic+integration"
    assert report.verdict.decision in ("accept", "revise")


def test_vast_and_vmap_point_at_the_segment(woven: tuple[IntegrationReport, Path, str]) -> None:
    report, out, _ = woven
    root = ET.fromstring((out / FILES["vmap"]).read_text())
    brk = root.find(f"{{{NAMESPACE}}}AdBreak")
    assert brk is not None
    ms = round(report.decision.point.time_s * 1000)
    assert brk.get("timeOffset") == f"00:00:{ms // 1000:02d}.{ms % 1000:03d}"
    vast_doc = ET.fromstring((out / FILES["vast"]).read_text())
    media = vast_doc.find(".//{*}MediaFile")
    assert media is not None
    assert media.text is not None
    assert media.text.strip().endswith(FILES["segment"])
    assert media.get("width") == str(report.host.width)


def test_keyframe_aligned_point_copies_the_whole_host(
    woven: tuple[IntegrationReport, Path, str], host: HostAnalysis, tmp_path: Path
) -> None:
    report, out, _ = woven
    key = next(k for k in host.keyframes if 50 < k < host.frame_count - 50)
    decision = baseline(host, "midpoint", settings=SETTINGS.decision)
    point = decision.point.model_copy(update={"frame": key, "time_s": key / host.fps})
    decision = decision.model_copy(update={"point": point, "start_frame": key - 1})
    piece = tmp_path / "segment.ts"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(out / FILES["segment"]), "-map", "0:v",
         "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "mpegts", str(piece)],
        check=True,
    )  # fmt: skip
    wav = tmp_path / "a.wav"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
         "-t", "5", str(wav)],
        check=True,
    )  # fmt: skip
    stats = splice(host, decision, piece, wav, report.segment.frame_count, tmp_path / "w.mp4")
    assert stats.keyframe_aligned
    assert stats.reencoded_host_frames == 0
    assert probe_frames(tmp_path / "w.mp4") == host.frame_count + report.segment.frame_count


def test_host_without_audio_gives_a_silent_woven_video(
    woven: tuple[IntegrationReport, Path, str], tmp_path: Path
) -> None:
    report, out, _ = woven
    silent = tiny_host(tmp_path / "silent.mp4", audio=False)
    host = analyze_host(silent, {"type": "embedded", "ocr": False})
    decision = decide(host, small_campaign(tmp_path).products[0], SETTINGS.decision)
    piece = tmp_path / "segment.ts"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(out / FILES["segment"]), "-map", "0:v",
         "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "mpegts", str(piece)],
        check=True,
    )  # fmt: skip
    frames = report.segment.frame_count
    splice(host, decision, piece, tmp_path / "unused.wav", frames, tmp_path / "w.mp4")
    with av.open(str(tmp_path / "w.mp4")) as c:
        assert [s.type for s in c.streams] == ["video"]
    q = measure(tmp_path / "w.mp4", decision.point.frame, frames, host.fps)
    assert q.cut_in.loudness_jump_db == 0.0
    assert q.cut_in.continuity < 1.0  # an unmatched segment (it was matched to another host)


def test_out_folder_holding_the_host_is_refused(host_video: Path, tmp_path: Path) -> None:
    campaign = small_campaign(tmp_path)
    with pytest.raises(InputError, match="holds the host video"):
        integrate(host_video, campaign, campaign.products[0], host_video.parent)
