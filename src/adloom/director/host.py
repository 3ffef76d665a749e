"""Host video understanding for PCI: shots, motion, colour, loudness, text and a summary.

The paper has a VLM summarize the host; the embedded analyzer gets the same four aspects
(topic, content, visual presentation, audio) from signals cheap enough to run many times
faster than real time on a laptop: ffmpeg decodes every frame once at a thumbnail size
(96 px wide, where cuts, motion and colour are still plain to see) and the audio once as
16 kHz mono PCM, both in one process; numpy does the rest. Cuts are jumps in the colour
histogram between consecutive frames; motion is the mean absolute luma change; dominant
colours come from a coarse colour histogram; loudness is RMS per window in dBFS.

Speech detection is a heuristic, not a model: a window counts as speech-like when it is
well above the noise floor, its zero-crossing rate is in the voiced range and its level
swings at syllable rate (speech is bursty, music and ambience are steady). OCR reads one
keyframe per shot (the longest shots first, a few at most) at a modest size.

Hosts the splice cannot take without re-encoding them whole are refused with one line
naming the file: unreadable files, no video, too short, variable frame rate, odd frame
sizes. A host without audio is analyzed (its loudness reads as silence) and gets a woven
video without audio.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from adloom.domain import HostAnalysis, HostShot, HostSummary, HostTimeline
from adloom.errors import InputError
from adloom.io import sha256_file
from adloom.registry import Backend, BackendConfig

F32 = npt.NDArray[np.float32]
SILENCE_DB = -120.0


class HostAnalyzer(ABC):
    """Understands a host video well enough to choose where a segment goes."""

    name: str = "host-analyzer"

    @abstractmethod
    def analyze(self, path: Path) -> HostAnalysis:
        """Analyze ``path`` (never modified); one-line :class:`InputError` if unusable."""


class EmbeddedHostAnalyzerConfig(BackendConfig):
    type: Literal["embedded"] = "embedded"
    analysis_width: int = Field(96, ge=32, le=640, description="Width frames are reduced to.")
    step_s: float = Field(0.2, gt=0.0, le=2.0, description="Timeline window length.")
    cut_threshold: float = Field(
        0.35, gt=0.0, le=1.0, description="Colour-histogram jump (half L1) that is a cut."
    )
    min_shot_s: float = Field(0.5, ge=0.0, description="Cuts closer than this are merged.")
    min_duration_s: float = Field(
        4.0, gt=0.0, description="Shorter hosts are refused: no room for a natural moment."
    )
    ocr: bool = Field(True, description="Read on-screen text from keyframes.")
    ocr_max_frames: int = Field(6, ge=0, le=64, description="Keyframes read, longest shots first.")
    ocr_max_side: int = Field(480, ge=64, description="Longer side keyframes are read at.")
    speech_floor_db: float = Field(
        12.0, ge=0.0, description="Speech must be this far above the noise floor (dB)."
    )
    threads: int = Field(2, ge=1, le=64, description="ffmpeg decoding threads.")


class Probe:
    """Container facts and keyframes, from one pass over packets (nothing decoded)."""

    def __init__(self, path: Path, min_duration_s: float) -> None:
        import av

        if not path.is_file():
            raise InputError(path, "file not found")
        try:
            container = av.open(str(path))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise InputError(path, f"unreadable video: {_first_line(exc)}") from None
        with container:
            if not container.streams.video:
                raise InputError(path, "no video stream")
            vs = container.streams.video[0]
            cc = vs.codec_context
            self.width, self.height = int(cc.width), int(cc.height)
            self.codec = str(cc.name)
            self.pix_fmt = str(cc.pix_fmt or "")
            self.profile: str | None = cc.profile if isinstance(cc.profile, str) else None
            audio = container.streams.audio[0] if container.streams.audio else None
            self.sample_rate = int(audio.rate) if audio is not None and audio.rate else None
            self.channels = int(audio.channels) if audio is not None else None
            tb = float(vs.time_base or 0)
            pts: list[int] = []
            keys: list[int] = []
            try:
                for packet in container.demux(vs):
                    if packet.pts is None or packet.size == 0:
                        continue
                    pts.append(int(packet.pts))
                    if packet.is_keyframe:
                        keys.append(int(packet.pts))
            except av.error.FFmpegError as exc:
                raise InputError(path, f"unreadable video: {_first_line(exc)}") from None
        if not pts or tb <= 0:
            raise InputError(path, "no video frames")
        if self.width % 2 or self.height % 2:
            raise InputError(
                path,
                f"odd frame size {self.width}x{self.height}: splicing needs even width and "
                "height (pad or scale the host first)",
            )
        order = np.sort(np.asarray(pts, dtype=np.int64))
        deltas = np.diff(order) * tb
        if deltas.size == 0:
            raise InputError(path, "a single frame is not a video")
        step = float(np.median(deltas))
        if step <= 0 or float(deltas.max() - deltas.min()) > max(0.002, 0.1 * step):
            raise InputError(
                path,
                f"variable frame rate (frame intervals {deltas.min() * 1000:.1f} to "
                f"{deltas.max() * 1000:.1f} ms): re-encode at a constant rate first",
            )
        self.fps = round(1.0 / step, 3)
        self.frame_count = int(order.size)
        self.duration_s = self.frame_count / self.fps
        origin = int(order[0])
        self.keyframes = sorted({round((k - origin) * tb * self.fps) for k in keys})
        if self.duration_s < min_duration_s:
            raise InputError(
                path,
                f"host video lasts {self.duration_s:.1f}s; integration needs at least "
                f"{min_duration_s:g}s",
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _decode(
    path: Path, probe: Probe, width: int, threads: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int16] | None]:
    """Every frame at ``width`` px as RGB, and the audio as 16 kHz mono PCM, in one ffmpeg."""
    from adloom.producer.ffmpeg import ffmpeg_exe

    height = max(2, round(width * probe.height / probe.width / 2) * 2)
    with tempfile.TemporaryDirectory(prefix="adloom-host-") as tmp:
        pcm_path = Path(tmp) / "audio.s16"
        cmd = [
            ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
            "-threads", str(threads), "-i", str(path),
            "-map", "0:v:0", "-vf", f"scale={width}:{height}:flags=area,format=rgb24",
            "-f", "rawvideo", "pipe:1",
        ]  # fmt: skip
        if probe.sample_rate is not None:
            cmd += ["-map", "0:a:0", "-ac", "1", "-ar", "16000", "-f", "s16le", str(pcm_path)]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip().splitlines()
            raise InputError(path, f"cannot decode: {message[-1] if message else 'ffmpeg failed'}")
        frame_bytes = width * height * 3
        n = len(proc.stdout) // frame_bytes
        if n < 2:
            raise InputError(path, "no decodable video frames")
        frames = np.frombuffer(proc.stdout, np.uint8, n * frame_bytes).reshape(n, height, width, 3)
        pcm = None
        if pcm_path.is_file():
            pcm = np.fromfile(pcm_path, dtype=np.int16)
    return frames, pcm


def colour_histograms(frames: npt.NDArray[np.uint8]) -> F32:
    """A 64-bin colour histogram per frame (4 levels per channel), normalized to 1."""
    q = (frames >> 6).astype(np.int32)
    codes = (q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).reshape(frames.shape[0], -1)
    n = codes.shape[1]
    offsets = (np.arange(frames.shape[0], dtype=np.int32) * 64)[:, None]
    counts = np.bincount((codes + offsets).ravel(), minlength=64 * frames.shape[0])
    return (counts.reshape(-1, 64) / n).astype(np.float32)


def luma(frames: npt.NDArray[np.uint8]) -> F32:
    f = frames.astype(np.float32)
    out: F32 = (0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]).astype(np.float32)
    return out


def detect_cuts(hist: F32, fps: float, threshold: float, min_shot_s: float) -> list[int]:
    """Frame numbers where a new shot starts: a colour-histogram jump well above its
    neighbours' (so a fast pan does not read as a string of cuts)."""
    if hist.shape[0] < 2:
        return []
    jump = 0.5 * np.abs(np.diff(hist, axis=0)).sum(axis=1)
    cuts: list[int] = []
    gap = max(1, round(min_shot_s * fps))
    for i in np.argsort(-jump):
        if jump[i] < threshold:
            break
        lo, hi = max(0, i - 3), min(jump.size, i + 4)
        around = np.delete(jump[lo:hi], i - lo)
        if around.size and jump[i] < 2.5 * float(np.median(around)):
            continue
        frame = int(i) + 1
        if all(abs(frame - c) >= gap for c in cuts):
            cuts.append(frame)
    return sorted(cuts)


def dominant_colours(hist: F32, frames: npt.NDArray[np.uint8], k: int = 3) -> list[str]:
    """The ``k`` most common coarse colours, each as the mean RGB of its pixels."""
    total = hist.sum(axis=0)
    top = [int(b) for b in np.argsort(-total)[:k] if total[b] > 0]
    q = (frames >> 6).astype(np.int32)
    codes = (q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).ravel()
    flat = frames.reshape(-1, 3).astype(np.float64)
    out = []
    for b in top:
        mask = codes == b
        rgb = flat[mask].mean(axis=0) if mask.any() else np.zeros(3)
        out.append("#{:02x}{:02x}{:02x}".format(*(round(float(c)) for c in rgb)))
    return out


def loudness(pcm: npt.NDArray[np.int16] | None, rate: int, step_s: float, n: int) -> F32:
    """RMS level in dBFS per window (``SILENCE_DB`` where there is no sound)."""
    out = np.full(n, SILENCE_DB, dtype=np.float32)
    if pcm is None or pcm.size == 0:
        return out
    win = max(1, round(rate * step_s))
    x = pcm.astype(np.float32) / 32768.0
    m = min(n, x.size // win)
    if m:
        power = (x[: m * win].reshape(m, win) ** 2).mean(axis=1)
        out[:m] = np.maximum(SILENCE_DB, 10 * np.log10(power + 1e-12))
    return out


def speech_like(
    pcm: npt.NDArray[np.int16] | None, rate: int, step_s: float, n: int, floor_db: float
) -> npt.NDArray[np.bool_]:
    """A heuristic: loud enough, voiced zero-crossing rate, level swinging at syllable rate."""
    flags = np.zeros(n, dtype=bool)
    if pcm is None or pcm.size < rate // 2:
        return flags
    x = pcm.astype(np.float32) / 32768.0
    sub = max(1, round(rate * 0.05))  # 50 ms frames for the modulation
    m = x.size // sub
    frames = x[: m * sub].reshape(m, sub)
    level = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    zcr = (np.abs(np.diff(np.signbit(frames), axis=1)).sum(axis=1) / sub).astype(np.float32)
    noise = float(np.percentile(level, 10))
    per = max(1, round(step_s / 0.05))
    span = max(per, round(0.6 / 0.05))  # modulation is judged over ~0.6 s
    for i in range(n):
        a, b = i * per, (i + 1) * per
        if a >= m:
            break
        lo, hi = max(0, (a + b) // 2 - span // 2), min(m, (a + b) // 2 + span // 2 + 1)
        window = level[lo:hi]
        active = float(level[a:b].max()) > max(noise + floor_db, -50.0)
        voiced = 0.01 <= float(np.median(zcr[a:b])) <= 0.3
        bursty = float(window.max() - np.percentile(window, 20)) > 10.0
        flags[i] = active and voiced and bursty
    return flags


def _colour_name(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    hi, lo = max(r, g, b), min(r, g, b)
    if hi < 50:
        return "black"
    if hi - lo < 30:
        return "white" if hi > 200 else "grey"
    if r >= g and r >= b:
        return "orange" if g > 0.55 * r else "red"
    if g >= r and g >= b:
        return "green"
    return "purple" if r > 0.6 * b else "blue"


def _level(value: float, cuts: tuple[float, float], words: tuple[str, str, str]) -> str:
    return words[0] if value < cuts[0] else words[2] if value >= cuts[1] else words[1]


def describe_shot(shot: HostShot) -> str:
    names = list(dict.fromkeys(_colour_name(c) for c in shot.colors))
    text = f"{_level(shot.brightness, (0.3, 0.65), ('dark', 'mid-lit', 'bright'))} shot, "
    text += f"{_level(shot.motion, (0.01, 0.04), ('calm', 'moving', 'fast-moving'))}, "
    text += f"{' and '.join(names) or 'neutral'} tones"
    return text + (f', with the text "{shot.text}"' if shot.text else "")


def summarize(
    shots: list[HostShot], timeline: HostTimeline, duration_s: float, has_audio: bool
) -> HostSummary:
    """The four aspects the paper's storyboard is written against, from measured signals."""
    texts = [s.text for s in shots if s.text]
    topic = "; ".join(texts) if texts else "unknown (no on-screen text)"
    mean_len = duration_s / len(shots)
    pace = _level(1.0 / mean_len, (1 / 6, 1 / 2.5), ("slow", "moderate", "fast"))
    motion = float(np.mean(timeline.motion)) if timeline.motion else 0.0
    content = (
        f"{len(shots)} shots over {duration_s:.1f}s (mean {mean_len:.1f}s, {pace} cutting); "
        f"{_level(motion, (0.01, 0.04), ('little', 'moderate', 'strong'))} motion"
    )
    colours = [c for s in shots for c in s.colors[:1]]
    names = list(dict.fromkeys(_colour_name(c) for c in colours))
    bright = float(np.mean(timeline.brightness)) if timeline.brightness else 0.0
    visual = (
        f"{_level(bright, (0.3, 0.65), ('dark', 'balanced', 'bright'))} picture; "
        f"shot palettes {', '.join(names)}"
    )
    if not has_audio:
        audio = "no audio track"
    else:
        levels = [v for v in timeline.loudness_db if v > SILENCE_DB]
        speech = float(np.mean(timeline.speech)) if timeline.speech else 0.0
        mean_db = float(np.mean(levels)) if levels else SILENCE_DB
        audio = f"mean level {mean_db:.0f} dBFS; speech-like in {speech:.0%} of the time"
    return HostSummary(topic=topic, content=content, visual=visual, audio=audio)


def read_keyframe(path: Path, time_s: float, max_side: int) -> npt.NDArray[np.uint8] | None:
    """The frame shown at ``time_s`` as RGB, at most ``max_side`` px on its longer side."""
    import av

    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        tb = float(vs.time_base or 0)
        if tb <= 0:
            return None
        start = float(vs.start_time or 0) * tb
        container.seek(int((start + time_s) / tb), stream=vs, backward=True)
        for frame in container.decode(vs):
            if frame.pts is None or frame.pts * tb >= start + time_s - 1e-3:
                scale = min(1.0, max_side / max(frame.width, frame.height))
                w = max(2, round(frame.width * scale / 2) * 2)
                h = max(2, round(frame.height * scale / 2) * 2)
                rgb = np.asarray(frame.reformat(w, h, format="rgb24").to_ndarray(), np.uint8)
                return rgb
    return None


class EmbeddedHostAnalyzer(HostAnalyzer, Backend[EmbeddedHostAnalyzerConfig]):
    """ffmpeg decoding at thumbnail size, numpy statistics, rapidocr on a few keyframes."""

    name: ClassVar[str] = "embedded"  # type: ignore[misc]
    Config: ClassVar[type[BackendConfig]] = EmbeddedHostAnalyzerConfig

    def analyze(self, path: Path) -> HostAnalysis:
        started = time.perf_counter()
        cfg = self.config
        path = Path(path)
        probe = Probe(path, cfg.min_duration_s)
        frames, pcm = _decode(path, probe, cfg.analysis_width, cfg.threads)
        fps = probe.fps
        n = frames.shape[0]
        hist = colour_histograms(frames)
        y = luma(frames)
        brightness = y.mean(axis=(1, 2)) / 255.0
        motion = np.zeros(n, dtype=np.float32)
        motion[1:] = np.abs(np.diff(y, axis=0)).mean(axis=(1, 2)) / 255.0
        cuts = detect_cuts(hist, fps, cfg.cut_threshold, cfg.min_shot_s)
        motion_no_cuts = motion.copy()
        motion_no_cuts[cuts] = motion[[max(0, c - 1) for c in cuts]] if cuts else 0.0
        timeline = self._timeline(brightness, motion_no_cuts, pcm, fps, n)
        bounds = [0, *cuts, n]
        shots = []
        for i, (a, b) in enumerate(pairwise(bounds)):
            pick = slice(a, b, max(1, (b - a) // 12))
            shot = HostShot(
                index=i,
                start_s=round(a / fps, 3),
                end_s=round(b / fps, 3),
                start_frame=a,
                end_frame=b,
                keyframe_s=round((a + b) / 2 / fps, 3),
                brightness=float(np.clip(brightness[a:b].mean(), 0, 1)),
                motion=float(np.clip(motion_no_cuts[a + 1 : b].mean() if b - a > 1 else 0, 0, 1)),
                colors=dominant_colours(hist[a:b], frames[pick]),
            )
            shots.append(shot)
        shots = self._read_text(path, shots)
        shots = [s.model_copy(update={"description": describe_shot(s)}) for s in shots]
        return HostAnalysis(
            path=str(path),
            sha256=sha256_file(path),
            width=probe.width,
            height=probe.height,
            fps=fps,
            frame_count=probe.frame_count,
            duration_s=round(probe.duration_s, 3),
            video_codec=probe.codec,
            pix_fmt=probe.pix_fmt,
            profile=probe.profile,
            has_audio=probe.sample_rate is not None,
            sample_rate=probe.sample_rate,
            channels=probe.channels,
            keyframes=probe.keyframes,
            shots=shots,
            timeline=timeline,
            summary=summarize(shots, timeline, probe.duration_s, probe.sample_rate is not None),
            analyzer=self.name,
            analysis_s=round(time.perf_counter() - started, 3),
        )

    def _timeline(
        self,
        brightness: F32,
        motion: F32,
        pcm: npt.NDArray[np.int16] | None,
        fps: float,
        n: int,
    ) -> HostTimeline:
        step = self.config.step_s
        windows = max(1, int(np.ceil(n / fps / step)))
        edges = np.minimum(n, np.round(np.arange(windows + 1) * step * fps).astype(int))

        def per_window(v: F32) -> list[float]:
            return [
                round(float(v[a:b].mean()) if b > a else float(v[min(a, n - 1)]), 4)
                for a, b in pairwise(edges)
            ]

        loud = loudness(pcm, 16000, step, windows)
        speech = speech_like(pcm, 16000, step, windows, self.config.speech_floor_db)
        return HostTimeline(
            step_s=step,
            brightness=per_window(brightness),
            motion=per_window(motion),
            loudness_db=[round(float(v), 2) for v in loud],
            speech=[bool(v) for v in speech],
        )

    def _read_text(self, path: Path, shots: list[HostShot]) -> list[HostShot]:
        cfg = self.config
        if not cfg.ocr or cfg.ocr_max_frames == 0:
            return shots
        from adloom.verifier.ocr import read_text

        chosen = sorted(shots, key=lambda s: s.start_s - s.end_s)[: cfg.ocr_max_frames]
        texts: dict[int, str] = {}
        for shot in chosen:
            rgb = read_keyframe(path, shot.keyframe_s, cfg.ocr_max_side)
            if rgb is None:
                continue
            lines = read_text(rgb, max_side=cfg.ocr_max_side, threads=cfg.threads)
            texts[shot.index] = " ".join(line.text for line in lines)[:200]
        return [s.model_copy(update={"text": texts.get(s.index, "")}) for s in shots]


def analyze_host(path: Path, analyzer: str | dict[str, Any] | None = None) -> HostAnalysis:
    """Analyze ``path`` with the named analyzer backend (default: the embedded one)."""
    from adloom import registry

    backend: HostAnalyzer = registry.create("host", analyzer, "embedded")
    return backend.analyze(Path(path))
