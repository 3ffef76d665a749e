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


def _label_layer(text: str, size: tuple[int, int], position: str) -> tuple[Box, np.ndarray]:
    box = label_box(text, size, position)
    return box, np.asarray(disclosure_label(text, size[1]), dtype=np.float32) / 255.0


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
    """RGB frames with moving content; ``freeze``/``blank`` are (start_s, end_s) stretches."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = (xx / w * 170 + yy / h * 60).astype(np.float32)
    layer = _label_layer(label, size, position) if label else None
    n = round(seconds * fps)
    frozen: np.ndarray | None = None
    for i in range(n):
        t = i / fps
        if freeze and freeze[0] <= t < freeze[1] and frozen is not None:
            yield frozen
            continue
        if blank and blank[0] <= t < blank[1]:
            rgb = np.zeros((h, w, 3), dtype=np.uint8)
        else:
            g = np.roll(base, i * max(1, w // 160), axis=1)
            rgb = np.stack([g + 40, 220 - g, np.full_like(g, 90)], axis=-1).astype(np.uint8)
            bs = h // 5
            bx = int((i * w / (fps * 2.5)) % (w - bs))
            rgb[h // 2 : h // 2 + bs, bx : bx + bs] = (240, 200, 40)
        if layer is not None:
            box, rgba = layer
            region = rgb[box.y : box.y + box.h, box.x : box.x + box.w].astype(np.float32)
            a = rgba[..., 3:4]
            blended = rgba[..., :3] * 255.0 * a + region * (1.0 - a)
            rgb[box.y : box.y + box.h, box.x : box.x + box.w] = np.round(blended).astype(np.uint8)
        if freeze and freeze[0] <= t < freeze[1]:
            frozen = rgb
        yield rgb


def encode(
    path: Path,
    rgb_frames: Iterator[np.ndarray],
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
        stream.options = {"preset": "ultrafast", "crf": "26"}
        for rgb in rgb_frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
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
            text=f"Made for {interest}", source="copy", source_id="hook1", slots={"interest": interest}
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
