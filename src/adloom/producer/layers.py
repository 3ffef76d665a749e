"""The template: a CreativePlan laid out as still layers plus how each one moves.

Everything the two renderers draw is decided here, once per creative: Pillow paints each
layer a single time and motion is described by small closed-form curves (:class:`Anim`)
that can be both evaluated in Python (frame-by-frame renderer) and written as an ffmpeg
expression (filter-graph renderer), so both renderers show the same creative.

Times inside a scene are scene-local seconds; positions are the centre of a layer in
frame pixels, so scaling a layer keeps it in place.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError

from adloom.domain import Box, Campaign, CreativePlan, Product, RenderedText, Scene
from adloom.errors import InputError
from adloom.grounding import normalize
from adloom.producer import text as tx
from adloom.producer.label import disclosure_label, label_box

RGB = tuple[int, int, int]
TextPosition = Literal["auto", "top", "center", "bottom"]

#: Colours used when neither the plan nor the product brings a palette.
DEFAULT_PALETTE = ("#1f2a44", "#f4f1ea", "#e85d3f")
#: Longest transition between scenes; short scenes get proportionally shorter ones.
TRANSITION_S = 0.3
#: Background drift speed as a share of the frame width per second: enough for the
#: Verifier's frozen-frame check to see motion in scenes with nothing else moving.
PAN_SPEED = 0.06
#: How far zoom cameras scale the product image over a scene.
ZOOM = 1.15
#: Backgrounds are painted at 1/BG_SCALE size and upscaled by the renderer: they are
#: smooth by design, and painting, packing and piping a quarter of the pixels is faster.
BG_SCALE = 2


# --------------------------------------------------------------------------- motion


def num(value: float) -> str:
    """A float as an ffmpeg expression literal (fixed point, negatives parenthesized)."""
    s = f"{value:.4f}".rstrip("0").rstrip(".")
    if s in ("", "-0"):
        s = "0"
    return f"({s})" if s.startswith("-") else s


@dataclass(frozen=True)
class Ramp:
    """Moves by ``delta`` between ``t0`` and ``t0 + dur``, eased out unless ``linear``."""

    delta: float
    t0: float
    dur: float
    linear: bool = False

    def at(self, t: float) -> float:
        p = min(1.0, max(0.0, (t - self.t0) / self.dur))
        return self.delta * (p if self.linear else 1.0 - (1.0 - p) ** 3)

    def expr(self, t: str = "t") -> str:
        p = f"clip(({t}-{num(self.t0)})/{num(self.dur)},0,1)"
        shaped = p if self.linear else f"(1-pow(1-{p},3))"
        return f"{num(self.delta)}*{shaped}"


@dataclass(frozen=True)
class Wave:
    """A gentle periodic sway, so nothing on screen is ever perfectly still."""

    amp: float
    period: float
    phase: float = 0.0

    def at(self, t: float) -> float:
        return self.amp * math.sin(2 * math.pi * t / self.period + self.phase)

    def expr(self, t: str = "t") -> str:
        return f"{num(self.amp)}*sin({num(2 * math.pi / self.period)}*{t}+{num(self.phase)})"


@dataclass(frozen=True)
class Anim:
    """``base`` plus a sum of ramps and waves: a value as a function of scene time."""

    base: float
    terms: tuple[Ramp | Wave, ...] = ()

    def at(self, t: float) -> float:
        return self.base + sum(term.at(t) for term in self.terms)

    def expr(self, t: str = "t") -> str:
        """The value as an ffmpeg expression of ``t``, the scene time (an expression too)."""
        return "+".join([num(self.base), *(f"({term.expr(t)})" for term in self.terms)])

    @property
    def static(self) -> bool:
        return not self.terms


def slide_progress(k: int, frames: int) -> float:
    """How far frame ``k`` of a ``frames``-long slide transition is: never 0 nor 1."""
    return (k + 1) / (frames + 1)


def slide_x(p: float, width: int) -> float:
    """Left edge of the outgoing scene as it slides away, smoothstepped."""
    return -width * p * p * (3 - 2 * p)


@dataclass(frozen=True)
class Fade:
    """Alpha fade-in from transparent over ``[start, start + dur]`` (scene time)."""

    start: float
    dur: float

    def at(self, t: float) -> float:
        return min(1.0, max(0.0, (t - self.start) / self.dur))


@dataclass(frozen=True)
class Layer:
    """One still RGBA image placed by its centre; ``scale`` multiplies its size per frame."""

    name: str
    image: Image.Image
    cx: Anim
    cy: Anim
    scale: Anim | None = None
    fade: Fade | None = None

    def scaled_size(self, t: float) -> tuple[int, int]:
        """Even dimensions, as the ffmpeg scale expression computes them."""
        if self.scale is None:
            return self.image.size
        s = self.scale.at(t)
        w, h = self.image.size
        return max(2, 2 * int(w * s / 2)), max(2, 2 * int(h * s / 2))

    def top_left(self, t: float) -> tuple[int, int]:
        w, h = self.scaled_size(t)
        return int(self.cx.at(t) - w / 2), int(self.cy.at(t) - h / 2)


@dataclass(frozen=True)
class SceneLayers:
    """A scene's frames: a panning background with layers on top.

    ``frames`` are the scene's own frames; ``tail`` more are rendered after them so the
    next scene can cross into this one during its transition.
    """

    index: int
    role: str
    start_frame: int
    frames: int
    tail: int
    transition: str
    transition_frames: int
    background: Image.Image
    bg_x: Anim
    bg_y: Anim
    layers: tuple[Layer, ...]

    @property
    def length(self) -> int:
        return self.frames + self.tail

    #: Box blur radius (px of ``background``) renderers apply before upscaling: it softens
    #: the decorations' aliased edges, and costs far less in ffmpeg than in Pillow.
    background_blur = 1

    @property
    def background_size(self) -> tuple[int, int]:
        """Size of the background once upscaled; ``bg_x``/``bg_y`` pan within it."""
        return self.background.width * BG_SCALE, self.background.height * BG_SCALE


@dataclass(frozen=True)
class Template:
    """A whole creative: scenes in order, then overlays shown on every frame."""

    width: int
    height: int
    fps: int
    frame_count: int
    scenes: tuple[SceneLayers, ...]
    overlays: tuple[Layer, ...]
    disclosure_box: Box
    rendered_text: tuple[RenderedText, ...]
    thumbnail_frame: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps


# --------------------------------------------------------------------------- colours


def hex_rgb(value: str) -> RGB:
    v = value.lstrip("#")
    return int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16)


def mix(a: RGB, b: RGB, k: float) -> RGB:
    r, g, bl = (round(x + (y - x) * k) for x, y in zip(a, b, strict=True))
    return r, g, bl


BLACK: RGB = (0, 0, 0)
WHITE: RGB = (255, 255, 255)


@dataclass(frozen=True)
class Palette:
    """Brand colours given roles: panels, their text, the CTA button and its text."""

    colors: tuple[RGB, ...]

    @classmethod
    def of(cls, plan: CreativePlan, product: Product) -> Palette:
        hexes = plan.palette or product.palette or list(DEFAULT_PALETTE)
        return cls(tuple(hex_rgb(h) for h in hexes))

    @property
    def primary(self) -> RGB:
        return self.colors[0]

    @property
    def panel(self) -> RGB:
        """Darkened primary: dark enough for light text on any background."""
        return mix(self.primary, BLACK, 0.35)

    @property
    def panel_text(self) -> tx.RGBA:
        return tx.readable_on(self.panel, *self.colors[1:])

    @property
    def button(self) -> RGB:
        """The CTA must pop: a third brand colour, else the one furthest from the primary."""
        if len(self.colors) > 2:
            return self.colors[2]
        others = self.colors[1:] or (mix(self.primary, WHITE, 0.85),)
        return max(others, key=lambda c: tx.contrast(c, self.primary))

    @property
    def button_text(self) -> tx.RGBA:
        return tx.readable_on(self.button, *self.colors[1:], self.primary)


# --------------------------------------------------------------------------- images


@lru_cache(maxsize=32)
def _open_rgba(path: str, mtime_ns: int) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im.convert("RGBA")


def load_image(path: Path, what: str) -> Image.Image:
    """An input image as RGBA; missing or unreadable files are the caller's input errors."""
    if not path.is_file():
        raise InputError(path, f"missing {what} file")
    try:
        return _open_rgba(str(path), path.stat().st_mtime_ns)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(path, f"unreadable {what}: {type(exc).__name__}") from None


def trim(img: Image.Image) -> Image.Image:
    """Crop transparent margins so layout works with the visible object."""
    bbox = img.getchannel("A").getbbox()
    return img.crop(bbox) if bbox else img


def contain(img: Image.Image, max_w: int, max_h: int) -> Image.Image:
    k = min(max_w / img.width, max_h / img.height)
    size = (max(2, round(img.width * k)), max(2, round(img.height * k)))
    return img.resize(size, Image.Resampling.LANCZOS)


def cover(img: Image.Image, w: int, h: int) -> Image.Image:
    k = max(w / img.width, h / img.height)
    rw, rh = max(w, math.ceil(img.width * k)), max(h, math.ceil(img.height * k))
    big = img.resize((rw, rh), Image.Resampling.BICUBIC)
    left, top = (rw - w) // 2, (rh - h) // 2
    return big.crop((left, top, left + w, top + h))


def with_shadow(img: Image.Image, radius: int) -> Image.Image:
    """A soft drop shadow lifts cut-out product shots off busy backgrounds.

    The blur runs at quarter size: a shadow has no detail worth a full-size blur.
    """
    pad = radius * 2
    size = (img.width + 2 * pad, img.height + 2 * pad)
    q = 4
    small = Image.new("L", (size[0] // q + 1, size[1] // q + 1), 0)
    alpha = img.getchannel("A").point(lambda a: a * 90 // 255)
    alpha = alpha.resize((max(1, img.width // q), max(1, img.height // q)), Image.Resampling.BOX)
    small.paste(alpha, ((pad + radius // 2) // q, (pad + radius) // q))
    small = small.filter(ImageFilter.GaussianBlur(max(1, radius / q)))
    shadow = Image.new("RGBA", size, (0, 0, 0, 255))
    shadow.putalpha(small.resize((small.width * q, small.height * q)).crop((0, 0, *size)))
    shadow.alpha_composite(img, (pad, pad))
    return shadow


@lru_cache(maxsize=32)
def product_shot(path: str, mtime_ns: int, max_w: int, max_h: int, shadow: int) -> Image.Image:
    """Trimmed, fitted and shadowed once per size: scenes often reuse the same shot."""
    img = contain(trim(_open_rgba(path, mtime_ns)), max_w - 4 * shadow, max_h - 4 * shadow)
    return with_shadow(img, shadow)


def gradient(colors: list[RGB], size: tuple[int, int], angle: float) -> Image.Image:
    """A smooth multi-stop gradient along ``angle``: one 8-bit ramp mapped through a LUT."""
    w, h = size
    ux = np.linspace(0.0, math.cos(angle), w, dtype=np.float32)
    uy = np.linspace(0.0, math.sin(angle) * h / w, h, dtype=np.float32)
    u = uy[:, None] + ux[None, :]
    u -= u.min()
    u *= 255.0 / max(1e-6, float(u.max()))
    ramp = Image.fromarray(u.astype(np.uint8), "L")
    stops = np.linspace(0.0, 255.0, len(colors))
    levels = np.arange(256)
    bands = [
        ramp.point(np.interp(levels, stops, [c[i] for c in colors]).round().astype(int).tolist())
        for i in range(3)
    ]
    return Image.merge("RGB", bands)


def decorate(img: Image.Image, rng: random.Random, base: RGB) -> None:
    """Soft translucent discs: texture that makes the background's drift visible."""
    draw = ImageDraw.Draw(img, "RGBA")
    w, h = img.size
    m = min(w, h)
    light = tx.luminance(base) < 0.45
    for _ in range(9):
        r = rng.uniform(0.04, 0.22) * m
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        tone = WHITE if light else BLACK
        alpha = rng.randint(22, 48)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(*tone, alpha))
    for _ in range(14):
        r = rng.uniform(0.004, 0.012) * m
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, rng.randint(60, 140)))


# --------------------------------------------------------------------------- layout


def _even(v: float) -> int:
    """Static positions snap to even pixels: 4:2:0 overlays cannot start on odd ones."""
    return 2 * round(v / 2)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


def _panel(
    block: tx.TextBlock,
    pad: tuple[int, int],
    fill: tuple[int, int, int, int],
    color: tx.RGBA,
    *,
    align: str,
    stroke: int,
    radius: int,
) -> Image.Image:
    px, py = pad
    img = tx.blank((block.width + 2 * px, block.height + 2 * py))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, img.width - 1, img.height - 1), radius=radius, fill=fill)
    tx.draw_block(draw, block, (px, py), color, align=align, stroke=stroke)
    return img


class _Builder:
    """Lays out one plan; holds the frame geometry and the plan's seed."""

    def __init__(self, plan: CreativePlan, campaign: Campaign) -> None:
        self.plan = plan
        self.campaign = campaign
        try:
            self.product = campaign.product(plan.product_id)
        except KeyError:
            raise InputError("plan.product_id", f"unknown product {plan.product_id!r}") from None
        self.w, self.h = plan.context.size
        self.fps = plan.context.fps
        self.m = min(self.w, self.h)
        self.portrait = self.h > self.w
        self.pad = _even(0.05 * self.m)
        self.palette = Palette.of(plan, self.product)
        self.label = disclosure_label(plan.disclosure.text, self.h)
        self.label_box = label_box(plan.disclosure.text, (self.w, self.h), plan.disclosure.position)
        self.texts: list[RenderedText] = []

    def rng(self, scene: Scene) -> random.Random:
        """A random source per scene, so revising one scene (another background kind,
        one more picture) leaves every other scene's frames, and their cached encodes,
        as they were."""
        return random.Random(f"{self.plan.seed}/scene/{scene.index}")

    # ---- assets

    def asset_file(self, asset_id: str, where: str) -> Path | None:
        """The asset's image file, checked readable; None for assets that are not pictures."""
        try:
            asset = self.product.asset(asset_id)
        except KeyError:
            raise InputError(where, f"unknown asset {asset_id!r}") from None
        if asset.kind == "audio":
            return None
        path = self.campaign.asset_path(asset)
        load_image(path, f"asset {asset_id!r}")
        return path

    # ---- global overlays

    def logo(self) -> Layer | None:
        if self.plan.logo_asset is None:
            return None
        path = self.asset_file(self.plan.logo_asset, "plan.logo_asset")
        if path is None:
            return None
        img = contain(trim(load_image(path, "logo")), round(0.2 * self.w), round(0.075 * self.m))
        left = not self.plan.disclosure.position.endswith("left")
        if self.plan.disclosure.position.startswith("bottom"):
            left = True
        x = self.pad if left else self.w - self.pad - img.width
        y = self.pad
        return Layer("logo", img, Anim(_even(x) + img.width / 2), Anim(_even(y) + img.height / 2))

    def label_layer(self) -> Layer:
        """The label padded so it lands on its exact (possibly odd) box from an even origin."""
        b = self.label_box
        ox, oy = b.x % 2, b.y % 2
        img = tx.blank((b.w + ox + (b.w + ox) % 2, b.h + oy + (b.h + oy) % 2))
        img.paste(self.label, (ox, oy))
        return Layer("label", img, Anim(b.x - ox + img.width / 2), Anim(b.y - oy + img.height / 2))

    def top_reserved(self, logo: Layer | None) -> float:
        bottom = float(self.pad)
        if logo is not None:
            bottom = max(bottom, logo.cy.base + logo.image.height / 2)
        if self.plan.disclosure.position.startswith("top"):
            bottom = max(bottom, self.label_box.y + self.label_box.h)
        return bottom + 0.025 * self.m

    def caption_floor(self) -> float:
        """Lowest y a caption may reach: above the label when it sits at the bottom."""
        floor = self.h - self.pad * 0.8
        if self.plan.disclosure.position.startswith("bottom"):
            floor = min(floor, self.label_box.y - 0.015 * self.m)
        return floor

    # ---- scenes

    def timing(self) -> list[tuple[int, int, int]]:
        """(start frame, frames, transition frames in) per scene, tiling the frame count."""
        total = round(self.plan.context.duration_s * self.fps)
        bounds = [round(s.start_s * self.fps) for s in self.plan.scenes] + [total]
        frames = [bounds[i + 1] - bounds[i] for i in range(len(self.plan.scenes))]
        out: list[tuple[int, int, int]] = []
        for i, scene in enumerate(self.plan.scenes):
            trans = 0
            if i > 0 and scene.transition_in != "cut":
                trans = min(round(TRANSITION_S * self.fps), frames[i - 1] // 3, frames[i] // 3)
                trans = trans if trans >= 2 else 0
            out.append((bounds[i], frames[i], trans))
        return out

    def background(
        self, scene: Scene, seconds: float, rng: random.Random
    ) -> tuple[Image.Image, Anim, Anim]:
        bg = scene.background
        mx = math.ceil(PAN_SPEED * self.w * seconds) + 2
        my = math.ceil(0.3 * PAN_SPEED * self.h * seconds) + 2
        size = (math.ceil((self.w + mx) / BG_SCALE), math.ceil((self.h + my) / BG_SCALE))
        colors = [hex_rgb(c) for c in bg.colors] or [
            self.palette.primary,
            mix(self.palette.primary, BLACK, 0.55),
        ]
        base = colors[0]
        if bg.kind == "image" and bg.image:
            path = Path(bg.image)
            if not path.is_absolute():
                path = self.campaign.base_dir / path
            photo = load_image(path, f"scene {scene.index} background image")
            img = cover(photo.convert("RGB"), *size)
            img = Image.blend(img, Image.new("RGB", size, BLACK), 0.42)
            base = BLACK
        elif bg.kind == "solid" or len(colors) == 1:
            other = mix(colors[0], BLACK if tx.luminance(colors[0]) > 0.2 else WHITE, 0.18)
            img = gradient([colors[0], other], size, rng.uniform(0, math.pi))
        else:
            img = gradient(colors[:3], size, rng.uniform(0, math.pi))
        decorate(img, rng, base)
        forward = rng.random() < 0.5
        bx = Anim(0.0 if forward else mx, (Ramp(mx if forward else -mx, 0.0, seconds, True),))
        by = Anim(0.0, (Ramp(my, 0.0, seconds, True),))
        return img, bx, by

    def regions(
        self, content: Rect, has_visual: bool, cta: bool, position: TextPosition = "auto"
    ) -> tuple[Rect, Rect]:
        """(visual region, text region) inside the content area for a scene's role.

        Portrait frames stack a text band under the visuals; ``position`` "top" puts it
        above them and "center" on the frame's middle, the visuals keeping the space
        above. Landscape text columns already span the content's height, so there
        ``position`` only aligns the text inside its column (:meth:`text_top`).
        """
        c = content
        if not has_visual:
            inset = 0.08 * self.w
            return Rect(c.x, c.y, 0, 0), Rect(c.x + inset, c.y, c.w - 2 * inset, c.h)
        if self.portrait:
            split = 0.48 if cta else 0.55
            band = c.h * (1 - split)
            if position == "top":
                return Rect(c.x, c.y + band, c.w, c.h - band), Rect(c.x, c.y, c.w, band)
            top = c.y + c.h * split
            if position == "center":
                top = max(c.y, min(self.h / 2 - band / 2, top))
            return Rect(c.x, c.y, c.w, top - c.y), Rect(c.x, top, c.w, band)
        split = 0.42 if cta else 0.5
        text_first = not cta
        left = Rect(c.x, c.y, c.w * split, c.h)
        right = Rect(c.x + c.w * split, c.y, c.w * (1 - split), c.h)
        return (right, left) if text_first else (left, right)

    def scene_images(self, scene: Scene) -> list[Path]:
        """The scene's pictures (at most three fit side by side); audio assets are not drawn."""
        files = [
            path
            for i, aid in enumerate(scene.asset_ids)
            if (path := self.asset_file(aid, f"scenes.{scene.index}.asset_ids.{i}")) is not None
        ]
        return files[:3]

    def visuals(
        self, scene: Scene, images: list[Path], region: Rect, seconds: float, rng: random.Random
    ) -> list[Layer]:
        layers: list[Layer] = []
        n = len(images)
        if not n:
            return []
        slot_w = region.w / n
        zoom = scene.camera in ("zoom_in", "zoom_out")
        fit = 1.0 if zoom else 0.88
        shadow = max(4, round(0.012 * self.m))
        drift = 0.05 * self.w
        for k, path in enumerate(images):
            mtime = path.stat().st_mtime_ns
            img = product_shot(str(path), mtime, round(slot_w * fit), round(region.h * fit), shadow)
            cx, cy = region.x + slot_w * (k + 0.5), region.cy
            phase = rng.uniform(0, 2 * math.pi)
            bob = Wave(0.012 * self.h, 2.6 + 0.4 * k, phase)
            scale: Anim | None = None
            if scene.camera == "pan_left":
                x = Anim(cx + drift, (Ramp(-2 * drift, 0.0, seconds, True),))
                y = Anim(cy, (bob,))
            elif scene.camera == "pan_right":
                x = Anim(cx - drift, (Ramp(2 * drift, 0.0, seconds, True),))
                y = Anim(cy, (bob,))
            else:
                x = Anim(cx, (Wave(0.008 * self.w, 3.7, phase),))
                y = Anim(cy, (bob,))
                if zoom:
                    lo = 1.0 / ZOOM
                    up = scene.camera == "zoom_in"
                    scale = Anim(
                        lo if up else 1.0, (Ramp((1 - lo) * (1 if up else -1), 0.0, seconds, True),)
                    )
            layers.append(
                Layer(
                    f"s{scene.index}-visual{k}",
                    img,
                    x,
                    y,
                    scale,
                    Fade(0.04, min(0.35, seconds / 4)),
                )
            )
        return layers

    def text_top(self, region: Rect, height: float, position: TextPosition) -> float:
        """Top of a text group ``height`` tall in ``region``: centred unless the scene asks
        for the top, the bottom or the frame's middle (as far as the region allows)."""
        if position == "top":
            return region.y
        if position == "bottom":
            return region.y + region.h - height
        if position == "center":
            return max(region.y, min(self.h / 2 - height / 2, region.y + region.h - height))
        return region.cy - height / 2

    def headline(self, text: str, region: Rect, max_h: float) -> tuple[Image.Image, float]:
        """The headline panel fitted to ``region``, and its left edge there."""
        inner = (_even(0.03 * self.m), _even(0.02 * self.m))
        block = tx.fit(
            text,
            max_width=round(region.w) - 2 * inner[0],
            max_height=round(max_h) - 2 * inner[1],
            max_size=round(0.085 * self.m),
            min_size=round(0.036 * self.m),
            max_lines=4 if self.portrait else 3,
        )
        centered = region.w > 0.7 * self.w
        img = _panel(
            block,
            inner,
            (*self.palette.panel, 225),
            self.palette.panel_text,
            align="center" if centered or self.portrait else "left",
            stroke=max(1, block.size // 28),
            radius=round(0.018 * self.m),
        )
        left = region.cx - img.width / 2 if centered or self.portrait else region.x
        return img, left

    def _entering(
        self,
        name: str,
        img: Image.Image,
        left: float,
        region: Rect,
        t0: float,
        dur: float,
        top: float | None = None,
    ) -> tuple[Layer, Rect]:
        """A layer that slides and fades into its resting place, then stays put."""
        x, y = _even(left), _even(region.cy - img.height / 2 if top is None else top)
        cx, cy = x + img.width / 2, y + img.height / 2
        if self.portrait:
            shift = 0.03 * self.h
            xa, ya = Anim(cx), Anim(cy + shift, (Ramp(-shift, t0, dur),))
        else:
            shift = 0.04 * self.w
            xa, ya = Anim(cx - shift, (Ramp(shift, t0, dur),)), Anim(cy)
        layer = Layer(name, img, xa, ya, None, Fade(t0, dur))
        return layer, Rect(x, y, img.width, img.height)

    def caption(
        self, scene: Scene, text: str, t0: float, dur: float, top: float | None = None
    ) -> tuple[Layer, Rect]:
        """Narration as a subtitle: at ``top`` if given, else on the bottom edge."""
        inner = (_even(0.022 * self.m), _even(0.012 * self.m))
        max_w = self.w - 2 * self.pad - 2 * inner[0]
        if not self.portrait:
            max_w = min(max_w, round(0.8 * self.w))
        block = tx.fit(
            text, max_w, round(0.14 * self.m), round(0.036 * self.m), round(0.026 * self.m), 2
        )
        img = _panel(
            block,
            inner,
            (0, 0, 0, 170),
            (255, 255, 255, 255),
            align="center",
            stroke=0,
            radius=round(0.012 * self.m),
        )
        x = _even((self.w - img.width) / 2)
        y = _even(self.caption_floor() - img.height - 1 if top is None else top)
        layer = Layer(
            f"s{scene.index}-caption",
            img,
            Anim(x + img.width / 2),
            Anim(y + img.height / 2),
            None,
            Fade(t0, dur),
        )
        return layer, Rect(x, y, img.width, img.height)

    def button(self, text: str) -> Image.Image:
        block = tx.fit(
            text,
            round(0.6 * self.w),
            round(0.2 * self.m),
            round(0.062 * self.m),
            round(0.034 * self.m),
            2,
        )
        px, py = _even(0.05 * self.m), _even(0.022 * self.m)
        return _panel(
            block,
            (px, py),
            (*self.palette.button, 255),
            self.palette.button_text,
            align="center",
            stroke=max(1, block.size // 30),
            radius=(block.height + 2 * py) // 2,
        )

    def record(
        self, text: str, scene: Scene | None, fld: str, box: Rect, start_f: float, end_f: float
    ) -> None:
        x0, y0 = max(0, int(box.x)), max(0, int(box.y))
        x1 = min(self.w, int(box.x + box.w))
        y1 = min(self.h, int(box.y + box.h))
        self.texts.append(
            RenderedText(
                text=text,
                scene_index=None if scene is None else scene.index,
                field=fld,
                start_s=round(start_f / self.fps, 3),
                end_s=round(end_f / self.fps, 3),
                box=Box(x=x0, y=y0, w=max(0, x1 - x0), h=max(0, y1 - y0)),
            )
        )

    def scene(
        self,
        scene: Scene,
        timing: tuple[int, int, int],
        tail: int,
        logo: Layer | None,
        cta_here: bool,
    ) -> SceneLayers:
        start, frames, trans = timing
        own_s = frames / self.fps
        seconds = (frames + tail) / self.fps
        rng = self.rng(scene)
        bg, bx, by = self.background(scene, seconds, rng)
        # Text placed "top" takes the top of the frame, caption included: the Reflector
        # moves text there when the bottom is taken (a label, a cropped line).
        at_top = scene.text_position == "top"
        top, floor = self.top_reserved(logo), self.caption_floor()
        layers: list[Layer] = []
        caption: Layer | None = None
        shown = {normalize(t.text) for t in (scene.on_screen_text,) if t is not None}
        if cta_here:
            shown.add(normalize(self.plan.cta.text.text))
        # Narration is captioned for muted autoplay, unless the frame already shows it.
        if scene.narration is not None and normalize(scene.narration.text) not in shown:
            t0, dur = min(0.1, own_s * 0.1), min(0.3, own_s * 0.25)
            caption, cap_box = self.caption(
                scene, scene.narration.text, t0, dur, top if at_top else None
            )
            if at_top:
                top = cap_box.y + cap_box.h + 0.02 * self.m
            else:
                floor = cap_box.y
            self.record(
                scene.narration.text,
                scene,
                "narration",
                cap_box,
                start + (t0 + dur) * self.fps,
                start + frames,
            )
        content = Rect(self.pad, top, self.w - 2 * self.pad, floor - 0.02 * self.m - top)
        images = self.scene_images(scene)
        vis_region, text_region = self.regions(content, bool(images), cta_here, scene.text_position)
        t0, dur = min(0.12, own_s * 0.1), min(0.45, own_s * 0.3)
        button = self.button(self.plan.cta.text.text) if cta_here else None
        gap = 0.04 * self.m
        reserve = (button.height + gap) if button is not None else 0.0
        panel: tuple[Image.Image, float] | None = None
        if scene.on_screen_text is not None:
            head_max = (text_region.h - reserve) * (0.95 if button is not None else 0.8)
            panel = self.headline(scene.on_screen_text.text, text_region, head_max)
        # Headline and button are placed as one group.
        group = (panel[0].height + reserve) if panel else (button.height if button else 0.0)
        group_top = self.text_top(text_region, group, scene.text_position)
        if self.portrait and images and scene.text_position == "center":
            # The centred group is shorter than its band: the visuals grow down to it.
            v = vis_region
            vis_region = Rect(v.x, v.y, v.w, max(v.h, group_top - gap - v.y))
        layers.extend(self.visuals(scene, images, vis_region, seconds, rng))
        head_box: Rect | None = None
        if scene.on_screen_text is not None and panel is not None:
            head, head_box = self._entering(
                f"s{scene.index}-text", panel[0], panel[1], text_region, t0, dur, group_top
            )
            layers.append(head)
            self.record(
                scene.on_screen_text.text,
                scene,
                "on_screen_text",
                head_box,
                start + (t0 + dur) * self.fps,
                start + frames,
            )
        if button is not None:
            bt0, bdur = min(0.35, own_s * 0.2), min(0.45, own_s * 0.3)
            top = (head_box.y + head_box.h + gap) if head_box else group_top
            left = text_region.cx - button.width / 2
            btn, btn_box = self._entering(
                f"s{scene.index}-cta", button, left, text_region, bt0, bdur, top
            )
            layers.append(btn)
            self.record(
                self.plan.cta.text.text,
                None,
                "cta",
                btn_box,
                start + (bt0 + bdur) * self.fps,
                start + frames,
            )
        if caption is not None:
            layers.append(caption)
        return SceneLayers(
            index=scene.index,
            role=scene.role,
            start_frame=start,
            frames=frames,
            tail=tail,
            transition=scene.transition_in if trans else "cut",
            transition_frames=trans,
            background=bg,
            bg_x=bx,
            bg_y=by,
            layers=tuple(layers),
        )


def build(plan: CreativePlan, campaign: Campaign) -> Template:
    """Lay out ``plan``: every layer painted once, every movement decided, seeded."""
    b = _Builder(plan, campaign)
    logo = b.logo()
    timing = b.timing()
    roles = [s.role for s in plan.scenes]
    cta_scenes = {i for i, r in enumerate(roles) if r == "cta"} or {len(roles) - 1}
    scenes = []
    for i, scene in enumerate(plan.scenes):
        tail = timing[i + 1][2] if i + 1 < len(timing) else 0
        scenes.append(b.scene(scene, timing[i], tail, logo, i in cta_scenes))
    overlays = ([logo] if logo is not None else []) + [b.label_layer()]
    pick = next(
        (s for s in scenes if s.role == "product"),
        next(
            (s for s in scenes if any(ly.name.startswith(f"s{s.index}-visual") for ly in s.layers)),
            None,
        ),
    )
    total = round(plan.context.duration_s * b.fps)
    thumb = pick.start_frame + pick.frames * 2 // 3 if pick is not None else total // 2
    return Template(
        width=b.w,
        height=b.h,
        fps=b.fps,
        frame_count=total,
        scenes=tuple(scenes),
        overlays=tuple(overlays),
        disclosure_box=b.label_box,
        rendered_text=tuple(b.texts),
        thumbnail_frame=min(thumb, total - 1),
    )
