"""The same template drawn frame by frame with Pillow and piped to ffmpeg as raw RGB.

This is the plain way to render the template: easy to follow and to debug, and the
reference the filter-graph renderer is benchmarked against. Every frame is composed in
Python, so it is a few times slower than :class:`~adloom.producer.template.TemplateRenderer`
(``bench/render.py`` measures by how much).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path
from typing import ClassVar, Literal

from PIL import Image, ImageFilter

from adloom.domain import Campaign, Creative, CreativePlan
from adloom.producer import ffmpeg
from adloom.producer.base import Renderer
from adloom.producer.layers import Layer, SceneLayers, Template, build, slide_progress, slide_x
from adloom.registry import Backend, BackendConfig

_TO_YUV = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"


def draw_layer(canvas: Image.Image, layer: Layer, t: float) -> None:
    """Composite ``layer`` as it is at scene time ``t`` onto an RGB canvas."""
    img = layer.image
    if layer.scale is not None:
        img = img.resize(layer.scaled_size(t), Image.Resampling.BILINEAR)
    k = layer.fade.at(t) if layer.fade is not None else 1.0
    if k <= 0.0:
        return
    mask = img.getchannel("A")
    if k < 1.0:
        mask = mask.point(lambda a: round(a * k))
    canvas.paste(img, layer.top_left(t), mask)


class Composer:
    """Draws any frame of a template; backgrounds are upscaled once per scene."""

    def __init__(self, tpl: Template) -> None:
        self.tpl = tpl
        self.backgrounds = [
            sc.background.filter(ImageFilter.BoxBlur(sc.background_blur)).resize(
                sc.background_size, Image.Resampling.BICUBIC
            )
            for sc in tpl.scenes
        ]

    def scene_frame(self, i: int, k: int) -> Image.Image:
        """Frame ``k`` of scene ``i`` (``k`` may run into the scene's tail)."""
        sc = self.tpl.scenes[i]
        t = k / self.tpl.fps
        x, y = int(max(0.0, sc.bg_x.at(t))), int(max(0.0, sc.bg_y.at(t)))
        canvas = self.backgrounds[i].crop((x, y, x + self.tpl.width, y + self.tpl.height))
        for layer in sc.layers:
            draw_layer(canvas, layer, t)
        return canvas

    def frame(self, n: int) -> Image.Image:
        """Output frame ``n``: the scene showing then, mid-transition if need be."""
        scenes = self.tpl.scenes
        i = max(j for j, sc in enumerate(scenes) if sc.start_frame <= n)
        sc: SceneLayers = scenes[i]
        k = n - sc.start_frame
        img = self.scene_frame(i, k)
        if k < sc.transition_frames:
            prev = self.scene_frame(i - 1, scenes[i - 1].frames + k)
            h = sc.transition_frames
            if sc.transition == "fade":
                img = Image.blend(prev, img, k / h)
            else:
                x = int(slide_x(slide_progress(k, h), self.tpl.width)) & ~1
                img.paste(prev, (x, 0))
        for layer in self.tpl.overlays:
            draw_layer(img, layer, n / self.tpl.fps)
        return img


class FrameByFrameRendererConfig(ffmpeg.EncodeConfig):
    type: Literal["frames"] = "frames"


class FrameByFrameRenderer(Renderer, Backend[FrameByFrameRendererConfig]):
    """Baseline renderer: Pillow composes every frame, ffmpeg only encodes."""

    name = "frames"  # type: ignore[misc]  # Renderer declares it per instance, Backend per class
    Config: ClassVar[type[BackendConfig]] = FrameByFrameRendererConfig

    def render(
        self,
        plan: CreativePlan,
        campaign: Campaign,
        out_path: Path,
        *,
        thumbnail_path: Path | None = None,
        fresh_scenes: Collection[int] = (),
    ) -> Creative:
        # Nothing is reused between renders: every scene is always made fresh.
        started = time.perf_counter()
        tpl = build(plan, campaign)
        composer = Composer(tpl)
        raw = [
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", f"{tpl.width}x{tpl.height}",
            "-framerate", str(tpl.fps), "-i", "pipe:0",
        ]  # fmt: skip

        def encode(tmp: Path, tags: dict[str, str]) -> None:
            cmd = ffmpeg.command(self.config, tpl, tags, raw, f"[0:v]{_TO_YUV}[vout]", tmp)
            with ffmpeg.streaming(cmd) as pipe:
                for n in range(tpl.frame_count):
                    pipe.write(composer.frame(n).tobytes())

        return ffmpeg.publish(
            plan, campaign, tpl, self.name, self.config, out_path, thumbnail_path, encode,
            started=started, encoded=[sc.index for sc in tpl.scenes if sc.frames > 0],
        )  # fmt: skip
