"""The "AI-generated" disclosure label, drawn the same way by the Producer and looked for
by the Verifier, so the pixel check compares against exactly what should be there."""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from adloom.domain import Box

LABEL_FG = (255, 255, 255, 255)
LABEL_BG = (0, 0, 0, 190)


def label_height(frame_height: int) -> int:
    """Label height scales with the frame so it stays legible on 9:16 and 16:9 alike."""
    return max(18, round(frame_height * 0.04))


@lru_cache(maxsize=32)
def disclosure_label(text: str, frame_height: int) -> Image.Image:
    """RGBA image of the label: light text on a dark translucent rounded box."""
    h = label_height(frame_height)
    font = ImageFont.load_default(size=max(10, round(h * 0.62)))
    left, top, right, bottom = font.getbbox(text)
    pad = round(h * 0.35)
    w = int(right - left) + 2 * pad
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=h // 4, fill=LABEL_BG)
    draw.text((pad - left, (h - (bottom - top)) // 2 - top), text, font=font, fill=LABEL_FG)
    return img


def label_box(text: str, frame_size: tuple[int, int], position: str) -> Box:
    """Where the label goes for a disclosure position, with a margin from the edges."""
    fw, fh = frame_size
    img = disclosure_label(text, fh)
    margin = round(min(fw, fh) * 0.025)
    x = margin if position.endswith("left") else fw - img.width - margin
    y = margin if position.startswith("top") else fh - img.height - margin
    return Box(x=x, y=y, w=img.width, h=img.height)
