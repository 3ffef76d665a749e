"""Test videos and the plan/creative records that describe them.

Videos are drawn with numpy (a drifting gradient and a moving block, so nothing is frozen
unless asked), get the disclosure label composited exactly like the Producer does, and are
encoded with PyAV at the plan's real size. They are short, and cached per session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from adloom.domain import (
    Box,
    CallToAction,
    Campaign,
    Context,
    Creative,
    CreativePlan,
    Disclosure,
    GroundedText,
    Interest,
    MatchDecision,
    RenderedText,
    Scene,
    UserProfile,
)
from adloom.producer.label import disclosure_label, label_box

AI_METADATA = {"comment": "AI-generated", "description": "AI-generated"}
#: Share of the plan's duration per scene.
SCENE_SHARES = (0.3, 0.3, 0.2, 0.2)


def _yuv(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range Y, U, V (last axis) of RGB values, as swscale converts them."""
    m = np.array(
        [[0.2568, 0.5041, 0.0979], [-0.1482, -0.2910, 0.4392], [0.4392, -0.3678, -0.0714]],
        dtype=np.float32,
    )
    return rgb.astype(np.float32) @ m.T + np.array([16, 128, 128], dtype=np.float32)


def _halve(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    return np.asarray(a.reshape(h // 2, 2, w // 2, 2, *a.shape[2:]).mean(axis=(1, 3)))


class _Label:
    """The disclosure label, premultiplied in YUV so it can be blended onto I420 frames.

    Alpha blending commutes with the (affine) RGB to YUV conversion, so this gives the
    frame the Producer's RGB compositing would, up to rounding and chroma subsampling.
    """

    def __init__(self, text: str, size: tuple[int, int], position: str) -> None:
        box = label_box(text, size, position)
        rgba = np.asarray(disclosure_label(text, size[1]), dtype=np.float32)
        x0, y0 = box.x & ~1, box.y & ~1
        x1, y1 = (box.x + box.w + 1) & ~1, (box.y + box.h + 1) & ~1
        alpha = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
        yuv = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.float32)
        inner = (slice(box.y - y0, box.y - y0 + box.h), slice(box.x - x0, box.x - x0 + box.w))
        alpha[inner] = rgba[..., 3] / 255.0
        yuv[inner] = _yuv(rgba[..., :3])
        self.rows, self.cols = slice(y0, y1), slice(x0, x1)
        self.rows2, self.cols2 = slice(y0 // 2, y1 // 2), slice(x0 // 2, x1 // 2)
        self.alpha, self.luma = alpha, yuv[..., 0] * alpha
        self.alpha2 = _halve(alpha)
        self.chroma = _halve(yuv[..., 1:] * alpha[..., None])

    def draw(self, y: np.ndarray, uv: np.ndarray) -> None:
        region = y[self.rows, self.cols]
        y[self.rows, self.cols] = np.round(self.luma + region * (1 - self.alpha))
        region2 = uv[self.rows2, self.cols2]
        uv[self.rows2, self.cols2] = np.round(self.chroma + region2 * (1 - self.alpha2[..., None]))


def frames(
    size: tuple[int, int],
    fps: int,
    seconds: float,
    *,
    label: str | None = "AI-generated",
    position: str = "top_right",
    freeze: tuple[float, float] | None = None,
    blank: tuple[float, float] | None = None,
) -> Iterator[np.ndarray]:
    """I420 frames with moving content; ``freeze``/``blank`` are (start_s, end_s) stretches."""
    w, h = size
    n = round(seconds * fps)
    shift = 2 * max(1, w // 320)
    # One wide strip of scenery slid across the frame: cheap to draw, never still.
    xx = np.arange(w + n * shift, dtype=np.float32)[None, :]
    yy = np.arange(h, dtype=np.float32)[:, None]
    g = (xx % w) / w * 170 + yy / h * 60
    strip = _yuv(np.stack([g + 40, 220 - g, np.full_like(g, 90)], axis=-1))
    strip_y = np.round(strip[..., 0]).astype(np.uint8)
    strip_uv = np.round(_halve(strip[..., 1:])).astype(np.uint8)
    block = np.round(_yuv(np.array([240, 200, 40]))).astype(np.uint8)
    layer = _Label(label, size, position) if label else None
    bs = (h // 5) & ~1
    frozen: np.ndarray | None = None
    for i in range(n):
        t = i / fps
        if freeze and freeze[0] <= t < freeze[1] and frozen is not None:
            yield frozen
            continue
        if blank and blank[0] <= t < blank[1]:
            y = np.full((h, w), 16, dtype=np.uint8)
            uv = np.full((h // 2, w // 2, 2), 128, dtype=np.uint8)
        else:
            y = strip_y[:, i * shift : i * shift + w].copy()
            uv = strip_uv[:, i * shift // 2 : (i * shift + w) // 2].copy()
            bx = int((i * w / (fps * 2.5)) % (w - bs)) & ~1
            y[h // 2 : h // 2 + bs, bx : bx + bs] = block[0]
            uv[h // 4 : h // 4 + bs // 2, bx // 2 : (bx + bs) // 2] = block[1:]
        if layer is not None:
            layer.draw(y, uv)
        i420 = np.concatenate([y.ravel(), uv[..., 0].ravel(), uv[..., 1].ravel()])
        out = i420.reshape(h * 3 // 2, w)
        if freeze and freeze[0] <= t < freeze[1]:
            frozen = out
        yield out


def encode(
    path: Path,
    i420_frames: Iterator[np.ndarray],
    size: tuple[int, int],
    fps: int,
    metadata: dict[str, str] | None = None,
) -> Path:
    with av.open(str(path), "w") as out:
        for k, v in (metadata or {}).items():
            out.metadata[k] = v
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        # Keyframes every 2 s like the Producer, so still stretches span one.
        stream.options = {"preset": "ultrafast", "crf": "26", "g": str(2 * fps)}
        for i420 in i420_frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(i420, format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_video(
    path: Path,
    size: tuple[int, int] = (1280, 720),
    fps: int = 25,
    seconds: float = 5.0,
    metadata: dict[str, str] | None = AI_METADATA,
    **kwargs: object,
) -> Path:
    return encode(path, frames(size, fps, seconds, **kwargs), size, fps, metadata)  # type: ignore[arg-type]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- records


def profile(interest: str = "hiking") -> UserProfile:
    return UserProfile(
        user_id="hiker",
        personalizable=True,
        reason="the user consented to personalization",
        interests=[Interest(label=interest, weight=0.7, tier="strong")],
    )


def make_plan(
    campaign: Campaign,
    *,
    duration: float = 5.0,
    fps: int = 25,
    aspect: str = "16:9",
    interest: str = "hiking",
) -> CreativePlan:
    """A personalized four-scene plan for the campaign's boots, every string grounded."""
    texts = [
        GroundedText(
            text=f"Made for {interest}",
            source="copy",
            source_id="hook1",
            slots={"interest": interest},
        ),
        GroundedText(text="Waterproof membrane", source="claim", source_id="c-waterproof"),
        GroundedText(text="Only 480 g per boot", source="claim", source_id="c-weight"),
        GroundedText(text="Every trail, every weather", source="copy", source_id="s1"),
    ]
    roles = ("hook", "product", "proof", "cta")
    scenes = []
    start = 0.0
    for i, (role, share, text) in enumerate(zip(roles, SCENE_SHARES, texts, strict=True)):
        length = duration - start if i == len(roles) - 1 else round(duration * share, 3)
        narration = (
            GroundedText(text="Go further, stay dry", source="copy", source_id="h1")
            if role == "product"
            else None
        )
        scenes.append(
            Scene(
                index=i,
                role=role,
                start_s=start,
                duration_s=length,
                on_screen_text=text,
                narration=narration,
            )
        )
        start += length
    return CreativePlan(
        plan_id="plan-hiker-boots",
        campaign_id=campaign.id,
        product_id="boots",
        user_id="hiker",
        kind="personalized",
        matching=MatchDecision(
            compatibility=0.72,
            threshold=0.3,
            personalized=True,
            interest=interest,
            rationale="hiking matches waterproof",
        ),
        context=Context(aspect_ratio=aspect, duration_s=duration, fps=fps),
        scenes=scenes,
        cta=CallToAction(
            text=GroundedText(text="Shop now", source="copy", source_id="cta1"),
            url="https://example.com/boots",
        ),
        disclosure=Disclosure(text=campaign.policy.disclosure_text),
    )


def make_creative(plan: CreativePlan, path: Path, **overrides: object) -> Creative:
    """The record a renderer would return for ``plan`` drawn into ``path``."""
    w, h = plan.context.size
    rendered = [
        RenderedText(
            text=g.text,
            scene_index=s,
            field=f,
            start_s=plan.scenes[s].start_s,
            end_s=plan.scenes[s].end_s,
            box=Box(x=w // 10, y=int(h * 0.7), w=w * 8 // 10, h=h // 10),
        )
        for s, f, g in plan.texts()
        if s is not None and f == "on_screen_text"
    ]
    last = plan.scenes[-1]
    rendered.append(
        RenderedText(
            text=plan.cta.text.text,
            scene_index=None,
            field="cta",
            start_s=last.start_s,
            end_s=last.end_s,
            box=Box(x=w // 3, y=int(h * 0.85), w=w // 3, h=h // 12),
        )
    )
    fields: dict[str, object] = {
        "creative_id": "cr-1",
        "plan_id": plan.plan_id,
        "path": str(path),
        "width": w,
        "height": h,
        "fps": float(plan.context.fps),
        "duration_s": plan.context.duration_s,
        "frame_count": round(plan.context.duration_s * plan.context.fps),
        "sha256": sha256(path) if path.is_file() else "0" * 64,
        "seed": plan.seed,
        "renderer": "test",
        "disclosure_text": plan.disclosure.text,
        "disclosure_box": label_box(plan.disclosure.text, (w, h), plan.disclosure.position),
        "rendered_text": rendered,
        "metadata": {"ai_generated": "true", "disclosure": plan.disclosure.text},
    }
    fields.update(overrides)
    return Creative.model_validate(fields)


def remux(src: Path, dst: Path, metadata: dict[str, str] | None = None) -> Path:
    """Copy the packets of ``src`` into ``dst`` with other container metadata."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        for k, v in (metadata or {}).items():
            out.metadata[k] = v
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        for packet in inp.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            out.mux(packet)
    return dst
