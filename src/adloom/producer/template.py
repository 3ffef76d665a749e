"""The Producer's embedded default: the template animated by one ffmpeg filter graph.

Python paints each still layer once (:mod:`adloom.producer.layers`); the per-frame work
is ffmpeg's, in C. All stills travel as one raw RGBA atlas on stdin (no temporary image
files, no PNG round trip); the graph cuts each still out and converts it to YUV once,
then animates it with time expressions: ``crop`` pans backgrounds, ``scale`` zooms
product shots, ``fade`` and ``overlay`` bring text in, overlays blend transitions and
``concat`` joins the scenes. libx264 encodes the result in the same process.

The output is cut into runs of scenes, each composited by its own graph and encoded to
its own elementary stream, all side by side in one ffmpeg process; the streams are then
joined and muxed. With a scene cache (:mod:`adloom.producer.cache`) every scene is a
run of its own and is encoded only if no earlier render made the same frames: a
Reflector's revision of one scene re-encodes that scene (and the next, when the next
fades or slides out of it).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from PIL import Image
from pydantic import Field

from adloom.domain import Campaign, Creative, CreativePlan
from adloom.errors import InputError
from adloom.producer import ffmpeg
from adloom.producer.base import Renderer
from adloom.producer.cache import SceneCache, image_digest, scene_key
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


def layout(images: list[Image.Image]) -> tuple[tuple[int, int], list[Slot]]:
    """Shelf-pack ``images`` into one atlas: tallest first, left to right."""
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
    return (width, y + shelf), [slots[i] for i in range(len(images))]


def paint(images: list[Image.Image], size: tuple[int, int], slots: list[Slot]) -> np.ndarray:
    """The atlas as raw RGBA pixels, ready for ffmpeg's stdin."""
    atlas = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    for img, s in zip(images, slots, strict=True):
        atlas[s.y : s.y + s.h, s.x : s.x + s.w] = np.asarray(
            img if img.mode == "RGBA" else img.convert("RGBA")
        )
    return atlas


def pack(images: list[Image.Image]) -> tuple[Image.Image, list[Slot]]:
    """The atlas as an image (for inspection), with where each image went."""
    size, slots = layout(images)
    return Image.fromarray(paint(images, size, slots), "RGBA"), slots


def _quote(expr: str) -> str:
    return f"'{expr}'"


def stills(tpl: Template, run: Iterable[Part] | None = None) -> list[Image.Image]:
    """Every distinct image the graph for ``run`` (all parts by default) uses, once, in
    order of first use (scenes often share a product shot)."""
    if run is None:
        scenes = list(tpl.scenes)
    else:
        used = {i for p in run for i in ((p.scene - 1, p.scene) if p.transition else (p.scene,))}
        scenes = [tpl.scenes[i] for i in sorted(used)]
    seen: dict[int, Image.Image] = {}
    for sc in scenes:
        seen.setdefault(id(sc.background), sc.background)
        for layer in sc.layers:
            seen.setdefault(id(layer.image), layer.image)
    for layer in tpl.overlays:
        seen.setdefault(id(layer.image), layer.image)
    return list(seen.values())


@dataclass(frozen=True)
class Part:
    """A run of output frames composited by one chain: a scene body or a transition."""

    start: int
    frames: int
    scene: int
    transition: bool


def parts(tpl: Template) -> list[Part]:
    """The output in order: each transition, then the rest of its scene."""
    out: list[Part] = []
    for i, sc in enumerate(tpl.scenes):
        h = sc.transition_frames
        if h and i > 0:
            out.append(Part(sc.start_frame, h, i, True))
        out.append(Part(sc.start_frame + h, sc.frames - h, i, False))
    return [p for p in out if p.frames > 0]


def scene_runs(all_parts: list[Part]) -> list[list[Part]]:
    """One run per scene, its incoming transition first: the unit the scene cache keeps.

    A transition's frames open its scene, so they are encoded (and cached) with it.
    """
    runs: dict[int, list[Part]] = {}
    for p in all_parts:
        runs.setdefault(p.scene, []).append(p)
    return list(runs.values())


def origin(tpl: Template, run: list[Part]) -> int:
    """The output frame a run's graph counts time from: where the earliest scene it
    draws starts (the previous scene, when the run opens with a transition)."""
    first = run[0]
    return tpl.scenes[first.scene - 1 if first.transition else first.scene].start_frame


def split_parts(all_parts: list[Part], n: int) -> list[list[Part]]:
    """``n`` contiguous runs of parts with about the same number of frames each."""
    total = sum(p.frames for p in all_parts)
    groups: list[list[Part]] = [[]]
    done = 0
    for p in all_parts:
        if groups[-1] and len(groups) < n and done + p.frames / 2 > total * len(groups) / n:
            groups.append([])
        groups[-1].append(p)
        done += p.frames
    return groups


class _Graph:
    """Builds the filter graph as chains of named pads.

    The output is cut into parts: each scene's body, and each transition (the end of
    one scene blended with the start of the next). Every part is composited by its own
    chain, a panning background with that scene's layers overlaid, and ``concat`` joins
    the parts in order. Per-part chains keep each overlay busy only while its scene is
    on screen: an overlay on a stream spanning the whole video costs a frame copy per
    frame even while it has nothing to draw. Timestamps are frame numbers counted from
    output frame ``base``, so every motion expression reads the scene time as ``t``
    minus the scene's start from there: a scene's graph is the same wherever the scene
    sits in the video, which lets the scene cache keep it across retimed plans.
    """

    def __init__(
        self, tpl: Template, images: list[Image.Image], slots: list[Slot], base: int = 0
    ) -> None:
        self.tpl = tpl
        self.base = base
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
        start = sc.start_frame - self.base
        t = f"(t-{self.seconds(start)})"
        out = self.pad("bg")
        at = start + f0
        self.chains.append(
            self.hold(bg, f1 - f0, at)
            + f",crop={self.tpl.width}:{self.tpl.height}"
            + f":x={_quote(_clip(sc.bg_x, t))}:y={_quote(_clip(sc.bg_y, t))}[{out}]"
        )
        for layer in sc.layers:
            out = self.overlay(out, layer, start, (at, start + f1))
        return out

    def transition(self, prev: SceneLayers, sc: SceneLayers) -> str:
        """The incoming scene's first frames with the outgoing one fading or sliding off."""
        h, at = sc.transition_frames, sc.start_frame - self.base
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

    def timeline(self, run: list[Part]) -> str:
        """The parts of ``run`` composited and joined in order."""
        pads = []
        for part in run:
            sc = self.tpl.scenes[part.scene]
            if part.transition:
                pads.append(self.transition(self.tpl.scenes[part.scene - 1], sc))
            else:
                first = part.start - sc.start_frame
                pads.append(self.piece(sc, first, first + part.frames))
        out = self.pad("main")
        joined = "".join(f"[{p}]" for p in pads)
        if len(pads) > 1:
            joined += f"concat=n={len(pads)},"
        # Parts carry output frame times; an encoded run must start at zero (or ffmpeg
        # pads the gap by repeating its first frame) and with exact frame times.
        self.chains.append(f"{joined}settb=1/{self.tpl.fps},setpts=N[{out}]")
        return out

    def sources(self) -> list[str]:
        """Chains cutting each used still out of the atlas: converted once, then split."""
        used = [i for i, names in self.uses.items() if names]
        out = ["[0:v]split=" + str(len(used)) + "".join(f"[a{i}]" for i in used)]
        for i in used:
            s = self.slots[i]
            size = self.sizes.get(i)
            chain = f"[a{i}]crop={s.w}:{s.h}:{s.x}:{s.y},"
            if size:  # a background: softened, upscaled, opaque
                r = SceneLayers.background_blur
                chain += f"boxblur={r}:1,scale=w={size[0]}:h={size[1]}:flags=bicubic:"
                chain += f"{_TO_YUV},format=yuv420p"
            else:
                chain += f"scale={_TO_YUV},format=yuva420p"
            names = self.uses[i]
            if len(names) > 1:
                chain += f",split={len(names)}"
            out.append(chain + "".join(f"[{n}]" for n in names))
        return out


def _clip(a: Anim, t: str) -> str:
    return f"max(0,{a.expr(t)})"


def filter_graph(
    tpl: Template,
    images: list[Image.Image],
    slots: list[Slot],
    run: list[Part] | None = None,
    out: str = "vout",
) -> str:
    """One ``-filter_complex`` rendering the parts of ``run`` (all by default) to ``[out]``."""
    run = parts(tpl) if run is None else run
    g = _Graph(tpl, images, slots, origin(tpl, run))
    pad = g.timeline(run)
    for layer in tpl.overlays:
        pad = g.overlay(pad, layer, 0, None)
    g.chains.append(f"[{pad}]null[{out}]")
    return ";".join(g.sources() + g.chains)


#: How the atlas reaches ffmpeg (its size follows): part of every scene's cache key.
_ATLAS = ["-f", "rawvideo", "-pix_fmt", "rgba"]


def atlas_input(tpl: Template, size: tuple[int, int]) -> list[str]:
    """Input 0: the atlas as one raw RGBA frame on stdin."""
    video_size = f"{size[0]}x{size[1]}"
    return [*_ATLAS, "-video_size", video_size, "-framerate", str(tpl.fps), "-i", "pipe:0"]


def run_args(
    tpl: Template, config: ffmpeg.EncodeConfig, run: list[Part], threads: int
) -> list[str]:
    """Encoder arguments of one run's stream; the thumbnail frame, if inside, is an IDR."""
    first, frames = run[0].start, sum(p.frames for p in run)
    key = tpl.thumbnail_frame - first
    return ffmpeg.video_args(config, tpl, frames, key if 0 <= key < frames else None, threads)


def run_key(tpl: Template, run: list[Part], args: list[str], digests: dict[int, bytes]) -> str:
    """The scene cache key of ``run``: its graph with every still at the atlas origin, so
    the key holds however the other scenes' stills are packed; ``digests`` by image id."""
    images = stills(tpl, run)
    graph = filter_graph(tpl, images, [Slot(0, 0, *img.size) for img in images], run)
    return scene_key(graph, [digests[id(img)] for img in images], [*_ATLAS, *args])


def encode_runs(tpl: Template, runs: list[list[Part]], args: list[list[str]]) -> list[bytes]:
    """Composite and encode ``runs`` side by side in one ffmpeg process (ffmpeg gives each
    graph and each encoder a thread); their H.264 elementary streams, in order.

    The atlas holds only the stills these runs use: scenes taken from the cache cost
    neither painting nor piping.
    """
    images = stills(tpl, [p for run in runs for p in run])
    size, slots = layout(images)
    with tempfile.TemporaryDirectory(prefix="adloom-") as folder:
        cmd, files = [*ffmpeg.head(), *atlas_input(tpl, size)], []
        for k, run in enumerate(runs):
            cmd += ["-filter_complex", filter_graph(tpl, images, slots, run, f"vout{k}")]
        for k, out_args in enumerate(args):
            files.append(Path(folder) / f"run{k}.h264")
            cmd += ["-map", f"[vout{k}]", *out_args, "-f", "h264", str(files[-1])]
        # ffmpeg starts up while the atlas is painted.
        ffmpeg.run(cmd, stdin=lambda: paint(images, size, slots).tobytes())
        return [f.read_bytes() for f in files]


def run_streams(
    tpl: Template,
    runs: list[list[Part]],
    args: list[list[str]],
    cache: SceneCache | None,
    fresh: Collection[int] = (),
) -> tuple[list[bytes], list[int]]:
    """Every run's stream, taken from ``cache`` where it has one (unless its scene is in
    ``fresh``) and otherwise encoded, all missing runs in one ffmpeg process; with the
    indices of the runs encoded."""
    streams: list[bytes | None] = [None] * len(runs)
    keys: list[str] = []
    if cache is not None:
        digests = {id(img): image_digest(img) for img in stills(tpl)}
        keys = [run_key(tpl, run, a, digests) for run, a in zip(runs, args, strict=True)]
        for k, run in enumerate(runs):
            if run[0].scene not in fresh:
                streams[k] = cache.get(keys[k])
    todo = [k for k, stream in enumerate(streams) if stream is None]
    if todo:
        made = encode_runs(tpl, [runs[k] for k in todo], [args[k] for k in todo])
        for k, stream in zip(todo, made, strict=True):
            streams[k] = stream
            if cache is not None:
                cache.put(keys[k], stream)
    return [s for s in streams if s is not None], todo


def fresh_set(scenes: Collection[int], count: int) -> frozenset[int]:
    """``fresh_scenes`` checked against the plan's scene indices."""
    for i in scenes:
        if not 0 <= i < count:
            raise InputError("fresh_scenes", f"no scene {i}: the plan has scenes 0-{count - 1}")
    return frozenset(scenes)


class TemplateRendererConfig(ffmpeg.EncodeConfig):
    type: Literal["template"] = "template"
    segments: int = Field(
        2,
        ge=1,
        le=16,
        description="Runs of scenes composited and encoded side by side, each by its own "
        "filter graph and encoder (ffmpeg gives each graph a thread); match the cores. "
        "The encoder threads are shared out among them. With a scene cache every scene "
        "is a run and each encoder gets threads/segments threads, however many scenes a "
        "render encodes, so a scene encodes to the same bytes in any render.",
    )
    scene_cache: Path | None = Field(
        None,
        description="Folder keeping each scene's encoded stream, shared by renders and "
        "workers: a scene whose frames an earlier render made is not encoded again. "
        "None: no cache.",
    )


class TemplateRenderer(Renderer, Backend[TemplateRendererConfig]):
    """Layered template compositor: Pillow paints, ffmpeg filter graphs animate."""

    name = "template"  # type: ignore[misc]  # Renderer declares it per instance, Backend per class
    Config: ClassVar[type[BackendConfig]] = TemplateRendererConfig

    def render(
        self,
        plan: CreativePlan,
        campaign: Campaign,
        out_path: Path,
        *,
        thumbnail_path: Path | None = None,
        fresh_scenes: Collection[int] = (),
    ) -> Creative:
        started = time.perf_counter()
        cfg = self.config
        tpl = build(plan, campaign)
        fresh = fresh_set(fresh_scenes, len(tpl.scenes))
        cache = None if cfg.scene_cache is None else SceneCache(cfg.scene_cache)
        all_parts = parts(tpl)
        runs = scene_runs(all_parts) if cache else split_parts(all_parts, cfg.segments)
        threads = max(1, cfg.threads // (cfg.segments if cache else len(runs)))
        encoded: list[int] = []
        cached: list[int] = []

        def encode(tmp: Path, tags: dict[str, str]) -> None:
            if cache is None and len(runs) == 1:
                encoded.extend(sorted({p.scene for p in all_parts}))
                size, slots = layout(images := stills(tpl))
                graph = filter_graph(tpl, images, slots)
                ffmpeg.run(
                    ffmpeg.command(cfg, tpl, tags, atlas_input(tpl, size), graph, tmp),
                    stdin=lambda: paint(images, size, slots).tobytes(),
                )
                return
            args = [run_args(tpl, cfg, run, threads) for run in runs]
            streams, todo = run_streams(tpl, runs, args, cache, fresh)
            done = {p.scene for k in todo for p in runs[k]}
            encoded.extend(sorted(done))
            cached.extend(sorted({p.scene for p in all_parts} - done))
            # Each run starts with a keyframe and has the same parameters, so the
            # elementary streams simply follow each other.
            joined = b"".join(streams)
            ffmpeg.run(ffmpeg.mux_command(cfg, tpl, tags, tmp), stdin=lambda: joined)

        return ffmpeg.publish(
            plan, campaign, tpl, self.name, cfg, out_path, thumbnail_path, encode,
            started=started, encoded=encoded, cached=cached,
        )  # fmt: skip
