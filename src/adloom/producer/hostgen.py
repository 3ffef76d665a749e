"""Sample host videos adloom makes itself, for the PCI demo, tests and benchmark.

Integration needs footage-like input: several shots with their own palettes, camera pans
and moving objects, hard cuts, a calm stretch, on-screen text and an audio track with a
speech-like burst. Shipping real footage would bloat the package and raise licensing
questions, so the frames are drawn with numpy (a textured backdrop panned by a virtual
camera, soft shapes moving across it) and the sound is synthesized: low ambience under
every shot, and in ``speech`` shots a voiced, syllable-rate modulated buzz that the host
analyzer's speech heuristic should flag. Everything is seeded, so the same call makes the
same file.
"""

from __future__ import annotations

import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from adloom.errors import InputError
from adloom.io import atomic_path
from adloom.producer import ffmpeg
from adloom.producer.text import font

U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ShotSpec:
    """One shot: its length, backdrop colours, camera speed, objects, text and sound."""

    duration_s: float
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    pan_px_s: float = 12.0
    objects: int = 2
    object_speed: float = 40.0
    text: str = ""
    speech: bool = False


#: A 24 s host: an establishing pan with a title, fast action with a voice over it, a
#: calm still-life, and a talking city scene.
DEFAULT_SHOTS: tuple[ShotSpec, ...] = (
    ShotSpec(6.0, (90, 150, 220), (200, 225, 240), 18.0, 1, 30.0, "Morning trail run"),
    ShotSpec(6.0, (30, 90, 40), (110, 160, 70), 90.0, 4, 160.0, speech=True),
    ShotSpec(6.0, (200, 120, 60), (240, 200, 150), 2.0, 1, 4.0),
    ShotSpec(6.0, (50, 40, 80), (120, 110, 140), 25.0, 3, 60.0, "City coffee break", True),
)


#: The demo's host: the same four looks, four seconds each (a quick 16 s video).
DEMO_SHOTS: tuple[ShotSpec, ...] = tuple(replace(s, duration_s=4.0) for s in DEFAULT_SHOTS)


def _backdrop(spec: ShotSpec, size: tuple[int, int], rng: np.random.Generator) -> U8:
    """A textured gradient wider than the frame, so the camera has something to pan over."""
    w, h = size
    width = w + int(abs(spec.pan_px_s) * spec.duration_s) + 8
    rows = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    top, bottom = np.array(spec.top, np.float32), np.array(spec.bottom, np.float32)
    base = np.broadcast_to(top * (1 - rows) + bottom * rows, (h, width, 3)).copy()
    # Soft texture: coarse noise upsampled, so panning shows structure moving.
    coarse = rng.normal(0.0, 18.0, (h // 8 + 2, width // 8 + 2, 1)).astype(np.float32)
    texture = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:h, :width]
    return np.clip(base + texture, 0, 255).astype(np.uint8)


def _text_layer(
    text: str, size: tuple[int, int]
) -> tuple[U8, npt.NDArray[np.float32], tuple[int, int]] | None:
    """The title as RGB and alpha, drawn once per shot with the embedded font."""
    if not text:
        return None
    w, h = size
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    f = font(max(12, h // 9))
    box = draw.textbbox((0, 0), text, font=f)
    x, y = (w - (box[2] - box[0])) // 2, int(h * 0.72)
    pad = max(3, h // 60)
    draw.rectangle((x - pad, y - pad, x + box[2] + pad, y + box[3] + pad), fill=(0, 0, 0, 150))
    draw.text((x, y), text, font=f, fill=(255, 255, 255, 255))
    arr = np.asarray(img)
    rows = np.flatnonzero(arr[..., 3].any(axis=1))
    return arr[..., :3].copy(), arr[..., 3:4].astype(np.float32) / 255.0, (rows[0], rows[-1] + 1)


def _frames(shots: Sequence[ShotSpec], size: tuple[int, int], fps: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = bytearray()
    for spec in shots:
        bg = _backdrop(spec, size, rng)
        layer = _text_layer(spec.text, size)
        n = round(spec.duration_s * fps)
        starts = rng.uniform([0, 0], [w, h], (spec.objects, 2))
        angles = rng.uniform(0, 2 * np.pi, spec.objects)
        colours = rng.integers(20, 235, (spec.objects, 3)).astype(np.float32)
        radius = max(4.0, h / 9)
        for i in range(n):
            t = i / fps
            x0 = int(abs(spec.pan_px_s) * t)
            frame = bg[:, x0 : x0 + w].astype(np.float32)
            for k in range(spec.objects):
                cx = (starts[k, 0] + np.cos(angles[k]) * spec.object_speed * t) % (w + 40) - 20
                cy = (starts[k, 1] + np.sin(angles[k]) * spec.object_speed * t) % (h + 40) - 20
                # Only the object's own square is touched: drawing is the generator's cost.
                x0, x1 = max(0, int(cx - 1.5 * radius)), min(w, int(cx + 1.5 * radius) + 1)
                y0, y1 = max(0, int(cy - 1.5 * radius)), min(h, int(cy + 1.5 * radius) + 1)
                if x1 <= x0 or y1 <= y0:
                    continue
                d2 = (xx[y0:y1, x0:x1] - cx) ** 2 + (yy[y0:y1, x0:x1] - cy) ** 2
                a = np.clip(1.5 - np.sqrt(d2) / radius, 0.0, 1.0)[..., None]
                box = frame[y0:y1, x0:x1]
                frame[y0:y1, x0:x1] = box * (1 - a) + colours[k] * a
            if layer is not None:
                rgb, alpha, (ty0, ty1) = layer
                band = frame[ty0:ty1]
                frame[ty0:ty1] = band * (1 - alpha[ty0:ty1]) + rgb[ty0:ty1] * alpha[ty0:ty1]
            out += np.clip(frame, 0, 255).astype(np.uint8).tobytes()
    return bytes(out)


def _audio(shots: Sequence[ShotSpec], rate: int, seed: int) -> npt.NDArray[np.int16]:
    """Ambience under everything; a voiced, syllable-modulated buzz in speech shots."""
    rng = np.random.default_rng(seed + 1)
    parts = []
    for spec in shots:
        n = round(spec.duration_s * rate)
        t = np.arange(n, dtype=np.float64) / rate
        noise = rng.normal(0.0, 1.0, n)
        # A moving average: a rumble rather than hiss.
        ambience = np.convolve(noise, np.ones(24) / 24, mode="same")
        ambience *= 0.02 / max(1e-9, float(np.sqrt(np.mean(ambience**2))))
        signal = ambience + 0.01 * np.sin(2 * np.pi * 110.0 * t)
        if spec.speech:
            pitch = 140.0 + 25.0 * np.sin(2 * np.pi * 0.7 * t)
            phase = 2 * np.pi * np.cumsum(pitch) / rate
            voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
            syllables = np.clip(np.sin(2 * np.pi * 4.0 * t), 0.0, 1.0) ** 2
            hiss = rng.normal(0.0, 0.3, n) * (np.sin(2 * np.pi * 4.0 * t + 1.0) > 0.8)
            signal = signal + 0.25 * syllables * voiced + 0.05 * hiss
        parts.append(signal)
    pcm = np.clip(np.concatenate(parts), -1.0, 1.0)
    return (pcm * 32767).astype(np.int16)


def make_host_video(
    path: str | Path,
    *,
    shots: Sequence[ShotSpec] = DEFAULT_SHOTS,
    size: tuple[int, int] = (320, 180),
    fps: int = 25,
    seed: int = 0,
    audio: bool = True,
    keyframe_s: float = 2.0,
    bframes: int = 2,
) -> Path:
    """Write a deterministic H.264/AAC MP4 host video to ``path`` (atomically)."""
    if not shots:
        raise InputError("shots", "a host video needs at least one shot")
    w, h = size
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise InputError("size", f"{w}x{h}: width and height must be even and at least 16 px")
    path = Path(path)
    frames = _frames(shots, size, fps, seed)
    exe = ffmpeg.ffmpeg_exe()
    with tempfile.TemporaryDirectory(prefix="adloom-host-") as tmp:
        cmd = [
            exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps),
            "-i", "pipe:0",
        ]  # fmt: skip
        if audio:
            wav = Path(tmp) / "audio.wav"
            pcm = _audio(shots, 48000, seed)
            with wave.open(str(wav), "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(48000)
                f.writeframes(pcm.tobytes())
            cmd += ["-i", str(wav)]
        cmd += [
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-g", str(max(1, round(keyframe_s * fps))), "-bf", str(bframes), "-threads", "2",
            "-flags", "+bitexact", "-fflags", "+bitexact", "-map_metadata", "-1",
        ]  # fmt: skip
        if audio:
            cmd += ["-c:a", "aac", "-b:a", "96k", "-ac", "2", "-ar", "48000"]
        with atomic_path(path) as out:
            ffmpeg.run(
                [*cmd, "-f", "mp4", "-movflags", "+faststart", str(out)], stdin=lambda: frames
            )
    return path
