"""Tiny host videos and a small campaign for the PCI tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from tests.conftest import make_product

from adloom.domain import Budget, Campaign, Context, Policy
from adloom.producer.hostgen import ShotSpec, make_host_video

#: 12 s, four shots: a titled calm pan, action with a voice, a calm still, a talking scene.
SHOTS = (
    ShotSpec(3.0, (90, 150, 220), (200, 225, 240), 8.0, 1, 10.0, "Trail run"),
    ShotSpec(3.0, (30, 90, 40), (110, 160, 70), 80.0, 4, 140.0, speech=True),
    ShotSpec(3.0, (200, 120, 60), (240, 200, 150), 1.0, 1, 2.0),
    ShotSpec(3.0, (50, 40, 80), (120, 110, 140), 20.0, 3, 50.0, speech=True),
)
SIZE = (256, 144)
FPS = 25


def tiny_host(path: Path, *, audio: bool = True, shots: tuple[ShotSpec, ...] = SHOTS) -> Path:
    return make_host_video(path, shots=shots, size=SIZE, fps=FPS, audio=audio, keyframe_s=1.0)


def small_campaign(folder: Path) -> Campaign:
    assets = folder / "assets"
    c = Campaign(
        id="pci-test",
        name="PCI test",
        advertiser="Northpeak",
        objective="awareness",
        budget=Budget(amount=100),
        products=[make_product(assets, "boots")],
        policy=Policy(min_compatibility=0.3),
        contexts=[Context(aspect_ratio="16:9", duration_s=6.0)],
    )
    return c.with_base_dir(assets)


def vfr_video(path: Path) -> Path:
    """Frames 40 ms apart, then 80 ms apart: a variable frame rate."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        t = 0
        for i in range(150):
            img = np.full((64, 64, 3), (i * 3) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            t += 40 if i < 75 else 80
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def odd_video(path: Path, width: int = 161) -> Path:
    """An MPEG-4 Part 2 file, by default with an odd width (x264 would refuse to make one)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = width, 90, "yuv420p"
        for i in range(150):
            img = np.full((90, width, 3), (i * 3) % 255, dtype=np.uint8)
            for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=48000)
        for i in range(20):
            samples = np.zeros((1, 1024), dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, i * 1024
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path
