"""PCI in the Producer: match a rendered segment to its host and splice it in.

**Matching.** The template renderer makes the segment at its own size and rate; matching
re-encodes it once to the host's frame size (letterboxed if the aspect differs), frame
rate, pixel format and H.264 profile, nudges its brightness and saturation towards the
host's picture at the cut, and blends in and out of the host's own frames: it opens on
the last host frame the viewer saw and ends on the first one they will see after it, so
both cuts join identical pictures. The AI-generated label is drawn on top of every
frame (the blends included) and the file carries the same tags and C2PA manifest as
any other creative. Its sound is a soft bed at the host's loudness around the cut,
at the host's sample rate and channel count; a host without audio gets a silent track
in the segment file and no audio in the woven file.

**Splicing.** Only what has to be is encoded. The host's video is cut into packet-copied
pieces at keyframes; if the integration frame is itself a keyframe nothing of the host
is re-encoded, otherwise only the group of pictures containing it is (two short pieces,
either side of the cut). The pieces and the segment are joined by ffmpeg's concat
demuxer, packets copied. The audio is the one thing encoded whole, once: AAC frames do
not line up with video frames, so copying them would leave a gap or a click at each cut,
and encoding a few minutes of audio costs a fraction of a second.

The host file is only ever read; every output is written aside and renamed into place.
"""

from __future__ import annotations

import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from adloom.domain import (
    Box,
    Creative,
    CreativePlan,
    HostAnalysis,
    IntegrationDecision,
    RenderedText,
    SpliceStats,
)
from adloom.errors import InputError, RenderError
from adloom.io import atomic_path, sha256_file
from adloom.producer import ffmpeg
from adloom.producer.label import disclosure_label, label_box
from adloom.producer.provenance import ProvenanceConfig, manifest_for, sign_mp4

RENDERER = "template+pci"


class SpliceSettings(BaseModel):
    """How the segment is matched to the host and encoded."""

    model_config = ConfigDict(extra="forbid")

    match: bool = Field(
        True, description="Blend from/to the host frames and match colour and loudness."
    )
    transition_s: float = Field(0.5, ge=0.0, le=2.0, description="Blend length at each end.")
    colour_strength: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of the brightness gap to the host closed."
    )
    preset: ffmpeg.Preset = "veryfast"
    crf: int = Field(20, ge=0, le=51, description="x264 CRF of re-encoded pictures.")
    threads: int = Field(2, ge=1, le=64)
    provenance: ProvenanceConfig = Field(default_factory=ProvenanceConfig)


def frame_image(host: HostAnalysis, frame: int) -> Image.Image:
    """The host's frame number ``frame`` at full size."""
    from adloom.director.host import read_keyframe

    rgb = read_keyframe(Path(host.path), frame / host.fps, max(host.width, host.height))
    if rgb is None:
        raise InputError(host.path, f"cannot decode frame {frame}")
    return Image.fromarray(rgb)


def _stats(rgb: npt.NDArray[np.uint8]) -> tuple[float, float]:
    """Mean luma (0..1) and a simple colourfulness (mean channel spread, 0..1)."""
    f = rgb.astype(np.float32) / 255.0
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    return float(y.mean()), float((f.max(axis=-1) - f.min(axis=-1)).mean())


def _master_stats(path: Path) -> tuple[float, float]:
    import av

    values = []
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        vs.codec_context.skip_frame = "NONKEY"
        for frame in c.decode(vs):
            small = frame.reformat(width=160, height=90, format="rgb24").to_ndarray()
            values.append(_stats(np.asarray(small, dtype=np.uint8)))
    if not values:
        raise RenderError(f"cannot read back {path.name}")
    return float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values]))


def _host_level_db(host: HostAnalysis, t: float) -> float:
    """The host's level just before and after ``t`` (mean power, dBFS)."""
    tl = host.timeline
    a, b = max(0, int((t - 1.0) / tl.step_s)), int((t + 1.0) / tl.step_s)
    levels = np.asarray(tl.loudness_db[a:b], dtype=np.float64)
    levels = levels[levels > -100]
    if levels.size == 0:
        return -120.0
    return float(10 * np.log10(np.mean(10 ** (levels / 10))))


def audio_bed(path: Path, duration_s: float, rate: int, channels: int, level_db: float) -> Path:
    """A soft, steady bed (filtered noise and a low chord) at ``level_db`` dBFS RMS."""
    n = round(duration_s * rate)
    if level_db <= -100:
        pcm = np.zeros((n, channels), dtype=np.int16)
    else:
        rng = np.random.default_rng(7)
        t = np.arange(n) / rate
        noise = np.convolve(rng.normal(0, 1, n), np.ones(32) / 32, mode="same")
        chord = sum(np.sin(2 * np.pi * f * t) for f in (110.0, 138.6, 164.8))
        x = noise / (np.std(noise) + 1e-9) + 0.5 * chord / 3
        x *= 10 ** (level_db / 20) / (np.sqrt(np.mean(x**2)) + 1e-12)
        pcm = (np.clip(np.repeat(x[:, None], channels, axis=1), -1, 1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())
    return path


def _x264(host: HostAnalysis, settings: SpliceSettings, frames: int) -> list[str]:
    """Encoder arguments matching the host's stream closely enough to be joined to it."""
    args = [
        "-frames:v", str(frames), "-r", f"{host.fps:g}",
        "-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf),
        "-pix_fmt", "yuv420p", "-threads", str(settings.threads), "-flags:v", "+bitexact",
    ]  # fmt: skip
    profile = (host.profile or "").lower()
    for name in ("baseline", "main", "high"):
        if profile.startswith(name) or profile == f"constrained {name}":
            args += ["-profile:v", name]
            break
    return args


def host_colour(path: Path) -> str:
    """A ``setparams`` filter giving re-encoded pictures the host's colour description, so
    a player does not switch colour conversion at the cuts."""
    import av

    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        props = {
            "colorspace": int(cc.colorspace or 2),
            "color_primaries": int(cc.color_primaries or 2),
            "color_trc": int(cc.color_trc or 2),
            "range": int(cc.color_range or 0),
        }
    names = {
        "colorspace": {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc"},
        "color_primaries": {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020"},
        "color_trc": {1: "bt709", 6: "smpte170m", 13: "iec61966-2-1", 16: "smpte2084"},
        "range": {1: "tv", 2: "pc"},
    }
    parts = [f"{k}={names[k].get(v, 'unknown')}" for k, v in props.items()]
    return "setparams=" + ":".join(parts)


def _scaled(box: Box, sx: float, sy: float, dx: int, dy: int) -> Box:
    return Box(
        x=round(box.x * sx) + dx, y=round(box.y * sy) + dy, w=round(box.w * sx), h=round(box.h * sy)
    )


def match_segment(
    master: Creative,
    plan: CreativePlan,
    host: HostAnalysis,
    decision: IntegrationDecision,
    out_path: Path,
    settings: SpliceSettings | None = None,
) -> tuple[Creative, Path, Path]:
    """Re-encode the rendered ``master`` to fit the host; returns the segment's Creative,
    its video as an MPEG-TS piece for :func:`splice` and its audio (WAV) for the mix.

    The piece and the audio land in a temporary folder beside ``out_path``; the caller
    removes them (``splice`` does not need them afterwards).
    """
    settings = settings or SpliceSettings()
    out_path = Path(out_path)
    w, h, fps = host.width, host.height, host.fps
    frames = round(master.duration_s * fps)
    duration = frames / fps
    work = Path(tempfile.mkdtemp(prefix=".pci-", dir=out_path.parent))
    text = plan.disclosure.text
    label = disclosure_label(text, h)
    box = label_box(text, (w, h), plan.disclosure.position)
    label.save(work / "label.png")
    inputs = ["-i", master.path]
    graph = []
    scale = min(w / master.width, h / master.height)
    sw, sh = (
        max(2, round(master.width * scale / 2) * 2),
        max(2, round(master.height * scale / 2) * 2),
    )
    dx, dy = (w - sw) // 2, (h - sh) // 2
    chain = f"[0:v]fps={fps:g},scale={sw}:{sh}:flags=bicubic,pad={w}:{h}:{dx}:{dy},setsar=1"
    if settings.match:
        before, after = (
            frame_image(host, decision.start_frame),
            frame_image(host, decision.point.frame),
        )
        before.save(work / "before.png")
        after.save(work / "after.png")
        host_y, host_c = np.mean(
            [_stats(np.asarray(before.convert("RGB"))), _stats(np.asarray(after.convert("RGB")))],
            axis=0,
        )
        seg_y, seg_c = _master_stats(Path(master.path))
        gain = settings.colour_strength
        brightness = float(np.clip(gain * (host_y - seg_y), -0.2, 0.2))
        saturation = float(np.clip(1 + gain * (host_c / max(seg_c, 1e-3) - 1), 0.6, 1.4))
        chain += f",eq=brightness={brightness:.4f}:saturation={saturation:.4f}"
        # Blends counted in frames, on timestamps rebased to frame numbers: the first frame
        # is the host's last one fully, the last frame the host's next one fully.
        k = max(1, min(round(settings.transition_s * fps), frames // 3))
        looped = ["-loop", "1", "-framerate", f"{fps:g}", "-i"]
        inputs += [*looped, str(work / "before.png"), *looped, str(work / "after.png")]
        graph += [
            chain + ",setpts=N/FRAME_RATE/TB[seg]",
            f"[1:v]scale={w}:{h},format=yuva420p,trim=end_frame={frames},"
            f"fade=t=out:start_frame=0:nb_frames={k}:alpha=1,setpts=N/FRAME_RATE/TB[hin]",
            f"[2:v]scale={w}:{h},format=yuva420p,trim=end_frame={frames},"
            f"fade=t=in:start_frame={max(0, frames - k - 1)}:nb_frames={k}:alpha=1,"
            "setpts=N/FRAME_RATE/TB[hout]",
            "[seg][hin]overlay=eof_action=pass[s1]",
            "[s1][hout]overlay=eof_action=pass[s2]",
        ]
        label_input, base = 3, "s2"
        level = _host_level_db(host, decision.point.time_s)
    else:
        graph.append(chain + "[s2]")
        label_input, base = 1, "s2"
        level = -120.0
    inputs += ["-i", str(work / "label.png")]
    graph.append(
        f"[{base}][{label_input}:v]overlay={box.x}:{box.y},format=yuv420p,"
        f"{host_colour(Path(host.path))}[v]"
    )
    rate, channels = host.sample_rate or 48000, host.channels or 2
    wav = audio_bed(
        work / "audio.wav", duration, rate, channels, level if host.has_audio else -120.0
    )
    inputs += ["-i", str(wav)]
    audio_input = label_input + 1
    tags = ffmpeg.metadata(plan, RENDERER, master.metadata.get("credits", ""))
    sign = settings.provenance
    with atomic_path(out_path) as tmp:
        raw = tmp.with_suffix(".unsigned.mp4") if sign.enabled else tmp
        cmd = [
            ffmpeg.ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            *inputs, "-filter_complex", ";".join(graph), "-map", "[v]",
            *_x264(host, settings, frames), "-g", str(frames),
            "-map", f"{audio_input}:a", "-c:a", "aac", "-b:a", "128k",
            "-ar", str(rate), "-ac", str(channels), "-t", f"{duration:.6f}",
            "-map_metadata", "-1",
            *[a for k, v in tags.items() for a in ("-metadata", f"{k}={v}")],
            "-movflags", "+faststart+use_metadata_tags", "-f", "mp4", str(raw),
        ]  # fmt: skip
        ffmpeg.run(cmd)
        piece = work / "segment.ts"
        ffmpeg.run([
            ffmpeg.ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-i", str(raw), "-map", "0:v", "-c", "copy", "-bsf:v", "h264_mp4toannexb",
            "-f", "mpegts", str(piece),
        ])  # fmt: skip
        essence = sha256_file(raw)
        if sign.enabled:
            sign_mp4(raw, tmp, manifest_for(plan, RENDERER), sign)
            raw.unlink(missing_ok=True)
        digest = sha256_file(tmp)
    sx, sy = sw / master.width, sh / master.height
    rendered = [
        RenderedText(
            text=r.text,
            scene_index=r.scene_index,
            field=r.field,
            start_s=r.start_s,
            end_s=r.end_s,
            box=box if r.text == text else _scaled(r.box, sx, sy, dx, dy),
        )
        for r in master.rendered_text
    ]
    creative = master.model_copy(
        update={
            "creative_id": f"{plan.plan_id}-pci-{essence[:12]}",
            "path": str(out_path),
            "thumbnail": None,
            "width": w,
            "height": h,
            "fps": fps,
            "duration_s": round(duration, 6),
            "frame_count": frames,
            "sha256": digest,
            "renderer": RENDERER,
            "disclosure_box": box,
            "rendered_text": rendered,
            "metadata": tags,
            "provenance": "c2pa" if sign.enabled else None,
            "render_stats": None,
        }
    )
    return creative, piece, wav


def _ffmpeg(args: list[str]) -> None:
    ffmpeg.run([ffmpeg.ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args])


def _reencode(host: HostAnalysis, a: int, b: int, dest: Path, settings: SpliceSettings) -> None:
    """Host frames ``a`` (a keyframe) to ``b`` (exclusive), re-encoded as an MPEG-TS piece."""
    _ffmpeg([
        "-ss", f"{a / host.fps:.6f}", "-i", host.path, "-map", "0:v:0",
        *_x264(host, settings, b - a), "-f", "mpegts", str(dest),
    ])  # fmt: skip


def splice(
    host: HostAnalysis,
    decision: IntegrationDecision,
    piece: Path,
    audio: Path,
    segment_frames: int,
    out_path: Path,
    settings: SpliceSettings | None = None,
) -> SpliceStats:
    """Write the host with the segment inserted before frame ``decision.point.frame``."""
    settings = settings or SpliceSettings()
    started = time.perf_counter()
    if host.video_codec != "h264":
        raise InputError(host.path, f"video codec {host.video_codec!r}: splicing copies H.264 only")
    t = decision.point.frame
    n = host.frame_count
    if not 0 < t < n:
        raise InputError("integration point", f"frame {t} is outside the host (1-{n - 1})")
    keys = sorted(k for k in host.keyframes if 0 <= k < n) or [0]
    k0 = max(k for k in keys if k <= t)
    later = [k for k in keys if k > t]
    k1 = later[0] if later else n
    aligned = k0 == t
    cuts = [t] if aligned else [k for k in (k0, k1) if 0 < k < n]
    with tempfile.TemporaryDirectory(prefix=".pci-", dir=Path(out_path).parent) as tmp_dir:
        tmp = Path(tmp_dir)
        _ffmpeg([
            "-i", host.path, "-map", "0:v:0", "-c", "copy", "-f", "segment",
            "-segment_times", ",".join(f"{(c - 0.5) / host.fps:.6f}" for c in cuts),
            "-segment_format", "mpegts", "-reset_timestamps", "1", str(tmp / "part%03d.ts"),
        ])  # fmt: skip
        parts = sorted(tmp.glob("part*.ts"))
        bounds = [0, *cuts, n]
        if len(parts) != len(bounds) - 1:
            raise RenderError(
                f"cutting the host at keyframes gave {len(parts)} pieces, "
                f"expected {len(bounds) - 1}"
            )
        pieces: list[tuple[Path, int]] = []
        reencoded = 0
        for part, a, b in zip(parts, bounds[:-1], bounds[1:], strict=True):
            if aligned and a == t:
                pieces.append((piece, segment_frames))
            if not aligned and a == k0:
                if t > k0:
                    _reencode(host, k0, t, tmp / "gop_a.ts", settings)
                    pieces.append((tmp / "gop_a.ts", t - k0))
                pieces.append((piece, segment_frames))
                _reencode(host, t, b, tmp / "gop_b.ts", settings)
                pieces.append((tmp / "gop_b.ts", b - t))
                reencoded += b - a
                continue
            pieces.append((part, b - a))
        listing = tmp / "list.txt"
        listing.write_text(
            "ffconcat version 1.0\n"
            + "".join(
                f"file '{p.resolve()}'\nduration {frames / host.fps:.6f}\n" for p, frames in pieces
            )
        )
        at = t / host.fps
        args = ["-f", "concat", "-safe", "0", "-i", str(listing)]
        if host.has_audio:
            args += ["-i", host.path, "-i", str(audio)]
            args += [
                "-filter_complex",
                f"[1:a:0]asplit[h0][h1];[h0]atrim=end={at:.6f},asetpts=PTS-STARTPTS[a0];"
                f"[h1]atrim=start={at:.6f},asetpts=PTS-STARTPTS[a1];"
                "[a0][2:a][a1]concat=n=3:v=0:a=1[a]",
                "-map", "0:v", "-map", "[a]", "-c:a", "aac", "-b:a", "128k",
                "-ar", str(host.sample_rate), "-ac", str(host.channels),
            ]  # fmt: skip
        else:
            args += ["-map", "0:v"]
        with atomic_path(out_path) as out:
            _ffmpeg([*args, "-c:v", "copy", "-movflags", "+faststart", "-f", "mp4", str(out)])
    return SpliceStats(
        copied_frames=n - reencoded,
        reencoded_host_frames=reencoded,
        segment_frames=segment_frames,
        keyframe_aligned=aligned,
        splice_s=round(time.perf_counter() - started, 3),
    )


def probe_frames(path: Path) -> int:
    """Frames in a file's first video stream, counted by decoding (for checks and tests)."""
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(c.streams.video[0]))
