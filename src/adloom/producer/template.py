"""The Producer's embedded default: the template animated by one ffmpeg filter graph.

Python paints each still layer once (:mod:`adloom.producer.layers`); per-frame work is
left to ffmpeg's C filters. All layers travel to ffmpeg as a single raw RGBA atlas on
stdin (no temporary image files, no PNG encoding), the graph crops each layer out,
converts it to YUV once, and animates it with time expressions: ``crop`` pans the
backgrounds, ``scale`` zooms product shots, ``fade`` and ``overlay`` bring text in, and
``xfade``/``concat`` join the scenes. One libx264 pass encodes the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from PIL import Image

from adloom.domain import Campaign, Creative, CreativePlan
from adloom.producer import ffmpeg
from adloom.producer.base import Renderer
from adloom.producer.layers import Anim, Layer, SceneLayers, Template, build, num
from adloom.registry import Backend, BackendConfig

_TO_YUV = "out_color_matrix=bt709:out_range=tv"


@dataclass(frozen=True)
class Slot:
    """Where one layer image sits in the atlas."""

    x: int
    y: int
    w: int
    h: int


def pack(images: list[Image.Image]) -> tuple[Image.Image, list[Slot]]:
    """Shelf-pack ``images`` into one RGBA atlas: tallest first, left to right."""
    width = max(img.width for img in images)
    order = sorted(range(len(images)), key=lambda i: (-images[i].height, i))
    slots: dict[int, Slot] = {}
    x = y = shelf = 0
    for i in order:
        img = images[i]
        if x + img.width > width:
            x, y, shelf = 0, y + shelf, 0
        slots[i] = Slot(x, y, img.width, img.height)
        x += img.width
        shelf = max(shelf, img.height)
    atlas = Image.new("RGBA", (width, y + shelf), (0, 0, 0, 0))
    for i, img in enumerate(images):
        atlas.paste(img.convert("RGBA") if img.mode != "RGBA" else img, (slots[i].x, slots[i].y))
    return atlas, [slots[i] for i in range(len(images))]


def _quote(expr: str) -> str:
    return f"'{expr}'"


def stills(tpl: Template) -> list[Image.Image]:
    """Every distinct image the graph uses, once (scenes often share a product shot)."""
    seen: dict[int, Image.Image] = {}
    for sc in tpl.scenes:
        seen.setdefault(id(sc.background), sc.background)
        for layer in sc.layers:
            seen.setdefault(id(layer.image), layer.image)
    for layer in tpl.overlays:
        seen.setdefault(id(layer.image), layer.image)
    return list(seen.values())


class _Graph:
    """Builds the filter graph as chains of named pads.

    The output is cut into parts: each scene's body, and each transition (the end of
    one scene blended with the start of the next). Every part is composited by its own
    chain, a panning background with that scene's layers overlaid, and ``concat`` joins
    the parts in order. Per-part chains keep each overlay busy only while its scene is
    on screen: an overlay on a stream spanning the whole video costs a frame copy per
    frame even while it has nothing to draw. Timestamps are output frame numbers, so
    every motion expression reads the scene time as ``t`` minus the scene's start.
    """

    def __init__(self, tpl: Template, images: list[Image.Image], slots: list[Slot]) -> None:
        self.tpl = tpl
        self.index = {id(img): i for i, img in enumerate(images)}
        self.slots = slots
        self.uses: dict[int, list[str]] = {i: [] for i in range(len(images))}
        self.sizes: dict[int, tuple[int, int]] = {}
        self.chains: list[str] = []
        self.count = 0

    def pad(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def still(self, img: Image.Image, size: tuple[int, int] | None = None) -> str:
        """A pad carrying ``img`` as one YUV frame (converted once, shared by all uses)."""
        i = self.index[id(img)]
        if size is not None:
            self.sizes[i] = size
        name = f"u{i}_{len(self.uses[i])}"
        self.uses[i].append(name)
        return name

    def seconds(self, frame: int) -> str:
        return num(frame / self.tpl.fps)

    def hold(self, pad: str, frames: int, at: int) -> str:
        """Repeat a still ``frames`` times, timed as output frames ``at``, ``at + 1``..."""
        fps = self.tpl.fps
        return f"[{pad}]loop=loop={frames - 1}:size=1:start=0,setpts=(N+{at})/({fps}*TB)"

    def overlay(self, base: str, layer: Layer, origin: int, span: tuple[int, int] | None) -> str:
        """Overlay ``layer`` on ``base`` for output frames ``span`` (None: a still, always).

        ``origin`` is the output frame where the layer's scene starts. Only frames that
        differ are produced: a fade is held just until it completes and ``overlay``
        repeats the last frame after that.
        """
        src = self.still(layer.image)
        w, h = layer.image.size
        fps = self.tpl.fps
        t = f"(t-{self.seconds(origin)})" if origin else "t"
        chain = ""
        if span is not None:
            g0, g1 = span
            last = g1
            if layer.scale is None:
                last = g0
                if layer.fade is not None:
                    done = origin + math.ceil((layer.fade.start + layer.fade.dur) * fps) + 1
                    last = min(g1, done)
            if last > g0:
                chain = self.hold(src, last - g0, g0)
        if chain and layer.scale is not None:
            s = layer.scale.expr(t)
            chain += (
                f",scale=w={_quote(f'max(2,2*trunc({w}*({s})/2))')}"
                f":h={_quote(f'max(2,2*trunc({h}*({s})/2))')}:eval=frame"
            )
        if chain and layer.fade is not None:
            st = num(origin / fps + layer.fade.start)
            chain += f",fade=t=in:st={st}:d={num(layer.fade.dur)}:alpha=1"
        if chain:
            src_out = self.pad("l")
            self.chains.append(f"{chain}[{src_out}]")
            src = src_out
        if layer.scale is not None:
            s = layer.scale.expr(t)
            x = f"{layer.cx.expr(t)}-trunc({w}*({s})/2)"
            y = f"{layer.cy.expr(t)}-trunc({h}*({s})/2)"
        else:
            x = f"{layer.cx.expr(t)}-{num(w / 2)}"
            y = f"{layer.cy.expr(t)}-{num(h / 2)}"
        moving = not (layer.cx.static and layer.cy.static and layer.scale is None)
        opts = f"x={_quote(x)}:y={_quote(y)}:eval={'frame' if moving else 'init'}"
        out = self.pad("v")
        self.chains.append(f"[{base}][{src}]overlay={opts}[{out}]")
        return out

    def piece(self, sc: SceneLayers, f0: int, f1: int) -> str:
        """Scene frames ``[f0, f1)``: the background panned, every layer on top."""
        bg = self.still(sc.background, sc.background_size)
        t = f"(t-{self.seconds(sc.start_frame)})"
        out = self.pad("bg")
        at = sc.start_frame + f0
        self.chains.append(
            self.hold(bg, f1 - f0, at)
            + f",crop={self.tpl.width}:{self.tpl.height}"
            + f":x={_quote(_clip(sc.bg_x, t))}:y={_quote(_clip(sc.bg_y, t))}[{out}]"
        )
        for layer in sc.layers:
            out = self.overlay(out, layer, sc.start_frame, (at, sc.start_frame + f1))
        return out

    def transition(self, prev: SceneLayers, sc: SceneLayers) -> str:
        """The incoming scene's first frames with the outgoing one fading or sliding off."""
        h, at = sc.transition_frames, sc.start_frame
        tail = self.piece(prev, prev.frames, prev.frames + h)
        head = self.piece(sc, 0, h)
        out = self.pad("x")
        if sc.transition == "fade":
            faded = self.pad("h")
            self.chains.append(
                f"[{tail}]format=yuva420p,"
                f"fade=t=out:st={self.seconds(at)}:d={self.seconds(h)}:alpha=1[{faded}]"
            )
            self.chains.append(f"[{head}][{faded}]overlay=0:0:eval=init[{out}]")
        else:
            p = f"(t*{self.tpl.fps}-{at}+1)/{h + 1}"
            x = f"-W*{p}*{p}*(3-2*{p})"
            self.chains.append(f"[{head}][{tail}]overlay=x={_quote(x)}:y=0:eval=frame[{out}]")
        return out

    def timeline(self) -> str:
        """Every part in order: each transition, then the rest of its scene."""
        parts: list[str] = []
        prev: SceneLayers | None = None
        for sc in self.tpl.scenes:
            h = sc.transition_frames
            if h and prev is not None:
                parts.append(self.transition(prev, sc))
            parts.append(self.piece(sc, h, sc.frames))
            prev = sc
        if len(parts) == 1:
            return parts[0]
        out = self.pad("main")
        # concat restamps its parts; renumbering keeps t on exact output frame times.
        self.chains.append(
            "".join(f"[{p}]" for p in parts)
            + f"concat=n={len(parts)},settb=1/{self.tpl.fps},setpts=N[{out}]"
        )
        return out

    def sources(self) -> list[str]:
        """Chains cutting each used still out of the atlas: converted once, then split."""
        used = [i for i, names in self.uses.items() if names]
        out = ["[0:v]split=" + str(len(used)) + "".join(f"[a{i}]" for i in used)]
        for i in used:
            s = self.slots[i]
            size = self.sizes.get(i)
            resize = f"w={size[0]}:h={size[1]}:flags=bicubic:" if size else ""
            fmt = "yuv420p" if size else "yuva420p"
            chain = f"[a{i}]crop={s.w}:{s.h}:{s.x}:{s.y},scale={resize}{_TO_YUV},format={fmt}"
            names = self.uses[i]
            if len(names) > 1:
                chain += f",split={len(names)}"
            out.append(chain + "".join(f"[{n}]" for n in names))
        return out


def _clip(a: Anim, t: str) -> str:
    return f"max(0,{a.expr(t)})"


def filter_graph(
    tpl: Template, images: list[Image.Image], slots: list[Slot], thumbnail: str | None
) -> str:
    """The whole creative as one ``-filter_complex``; outputs ``[vout]`` (and ``[vthumb]``)."""
    g = _Graph(tpl, images, slots)
    out = g.timeline()
    for layer in tpl.overlays:
        out = g.overlay(out, layer, 0, None)
    if thumbnail is None:
        g.chains.append(f"[{out}]null[vout]")
    else:
        g.chains.append(f"[{out}]split=2[vout][t0]")
        g.chains.append(f"[t0]select='eq(n,{tpl.thumbnail_frame})',{thumbnail}[vthumb]")
    return ";".join(g.sources() + g.chains)


class TemplateRendererConfig(ffmpeg.EncodeConfig):
    type: Literal["template"] = "template"


class TemplateRenderer(Renderer, Backend[TemplateRendererConfig]):
    """Layered template compositor: Pillow paints, one ffmpeg filter graph animates."""

    name = "template"  # type: ignore[misc]  # Renderer declares it per instance, Backend per class
    Config: ClassVar[type[BackendConfig]] = TemplateRendererConfig

    def render(
        self,
        plan: CreativePlan,
        campaign: Campaign,
        out_path: Path,
        *,
        thumbnail_path: Path | None = None,
    ) -> Creative:
        tpl = build(plan, campaign)
        images = stills(tpl)
        atlas, slots = pack(images)
        tags = ffmpeg.metadata(plan, self.name)
        cfg = self.config
        out_path, thumbnail_path = Path(out_path), thumbnail_path and Path(thumbnail_path)
        with ffmpeg.outputs(out_path, thumbnail_path) as (tmp_video, tmp_thumb):
            conv, thumb_out = ffmpeg.thumbnail_args(tmp_thumb) if tmp_thumb else (None, [])
            cmd = [
                ffmpeg.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
                "-filter_complex_threads", "1",
                "-f", "rawvideo", "-pix_fmt", "rgba",
                "-video_size", f"{atlas.width}x{atlas.height}",
                "-framerate", str(tpl.fps), "-i", "pipe:0",
                *ffmpeg.input_args(cfg, tpl),
                "-filter_complex", filter_graph(tpl, images, slots, conv),
                "-map", "[vout]",
                *ffmpeg.output_args(cfg, tpl, tags, 1, tmp_video),
            ]  # fmt: skip
            if thumb_out:
                cmd += ["-map", "[vthumb]", "-frames:v", "1", *thumb_out]
            ffmpeg.run(cmd, stdin=atlas.tobytes())
            sha = ffmpeg.sha256(tmp_video)
        return ffmpeg.creative(plan, tpl, self.name, out_path, sha, thumbnail_path, tags)
