"""Text layout with the font Pillow embeds, so rendering never depends on system fonts.

Copy comes from advertisers and users in any language; glyphs the embedded font lacks
are drawn as placeholder boxes rather than failing the render.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

RGBA = tuple[int, int, int, int]


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The embedded font at ``size`` px; cached because layers reuse a handful of sizes."""
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=4096)
def text_width(text: str, size: int) -> int:
    left, _, right, _ = font(size).getbbox(text)
    return int(right - left)


def line_height(size: int) -> int:
    """Spacing between baselines, from the font's metrics rather than the text's ink."""
    f = font(size)
    if isinstance(f, ImageFont.FreeTypeFont):
        ascent, descent = f.getmetrics()
        return round((ascent + descent) * 1.12)
    return round(size * 1.2)


def wrap(text: str, size: int, max_width: int) -> list[str]:
    """Greedy word wrap; words wider than a line (or unspaced scripts) break by character."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        if text_width(word, size) <= max_width:
            current = word
            continue
        for ch in word:
            if current and text_width(current + ch, size) > max_width:
                lines.append(current)
                current = ""
            current += ch
    if current:
        lines.append(current)
    return lines or [""]


@dataclass(frozen=True)
class TextBlock:
    """Wrapped lines at the size that fits, with their measured extent."""

    lines: tuple[str, ...]
    size: int
    width: int
    height: int


def fit(
    text: str, max_width: int, max_height: int, max_size: int, min_size: int, max_lines: int
) -> TextBlock:
    """Largest size at which ``text`` wraps into the box (a binary search over sizes).

    Text is never shrunk below ``min_size``: very long copy may then overflow
    ``max_lines`` but stays legible.
    """

    def layout(size: int) -> TextBlock:
        lines = wrap(text, size, max_width)
        width = max(text_width(line, size) for line in lines)
        return TextBlock(tuple(lines), size, width, line_height(size) * len(lines))

    def fits(b: TextBlock) -> bool:
        return len(b.lines) <= max_lines and b.height <= max_height and b.width <= max_width

    largest = layout(max_size)
    if fits(largest):  # short copy, the usual case
        return largest
    best = layout(min_size)
    if not fits(best):
        return best
    lo, hi = min_size + 1, max_size - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = layout(mid)
        if fits(candidate):
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best


def draw_block(
    draw: ImageDraw.ImageDraw,
    block: TextBlock,
    origin: tuple[int, int],
    fill: RGBA,
    *,
    align: str = "left",
    stroke: int = 0,
) -> None:
    """Draw ``block`` with its top-left at ``origin``; ``stroke`` in the fill colour thickens
    the single embedded weight into a headline weight."""
    f = font(block.size)
    lh = line_height(block.size)
    x0, y0 = origin
    for i, line in enumerate(block.lines):
        left, _, right, _ = f.getbbox(line)
        indent = (block.width - (right - left)) / 2 if align == "center" else 0
        x = x0 + indent - left
        draw.text((x, y0 + i * lh), line, font=f, fill=fill, stroke_width=stroke, stroke_fill=fill)


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance, for choosing readable text over a colour."""

    def chan(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else float(((v + 0.055) / 1.055) ** 2.4)

    r, g, b = rgb
    return 0.2126 * chan(r) + 0.7152 * chan(g) + 0.0722 * chan(b)


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_on(background: tuple[int, int, int], *candidates: tuple[int, int, int]) -> RGBA:
    """The candidate with the best contrast on ``background``, white and near-black last."""
    options = [*candidates, (255, 255, 255), (20, 20, 24)]
    best = options[0]
    for c in options:
        if contrast(c, background) >= 4.5:
            best = c
            break
        if contrast(c, background) > contrast(best, background):
            best = c
    return (*best, 255)


def blank(size: tuple[int, int]) -> Image.Image:
    return Image.new("RGBA", size, (0, 0, 0, 0))
