"""Draw the bundled sample campaign's images (products, logos, user history photos).

Every image is drawn here from shapes, so adloom owns them outright (CC0-1.0, recorded in
campaign.json). Run from the repository root: ``python scripts/make_sample_assets.py``.
The output is deterministic and committed under ``src/adloom/sample/``.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parents[1] / "src" / "adloom" / "sample"
PRODUCTS = ROOT / "assets"
PHOTOS = ROOT / "history"

RGB = tuple[int, int, int]


def hexrgb(h: str) -> RGB:
    return (int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16))


def canvas(size: tuple[int, int] = (640, 640)) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    return img, ImageDraw.Draw(img)


def shadow(img: Image.Image) -> Image.Image:
    """Soft drop shadow so products sit on any background."""
    alpha = img.getchannel("A")
    sh = Image.new("RGBA", img.size, (0, 0, 0, 0))
    sh.putalpha(alpha.point(lambda a: int(a * 0.45)))
    sh = sh.filter(ImageFilter.GaussianBlur(12))
    out = Image.new("RGBA", img.size, (0, 0, 0, 0))
    out.alpha_composite(sh, (10, 16))
    out.alpha_composite(img)
    return out


def boots() -> Image.Image:
    img, d = canvas()
    leather, sole, lace = hexrgb("#8a5a2b"), hexrgb("#2b2b2b"), hexrgb("#e8c547")
    d.polygon(
        [(200, 120), (360, 120), (370, 380), (520, 420), (540, 500), (150, 500), (170, 300)],
        fill=leather,
    )
    d.rectangle((140, 500, 550, 545), fill=sole)
    for x in range(150, 550, 28):
        d.rectangle((x, 532, x + 14, 552), fill=sole)
    d.polygon([(205, 120), (355, 120), (350, 150), (210, 150)], fill=hexrgb("#5e3b1a"))
    for i, y in enumerate(range(170, 380, 38)):
        d.line((230, y, 340, y + 18), fill=lace, width=8)
        d.line((230, y + 18, 340, y), fill=lace, width=8)
        d.ellipse((222, y - 4, 238, y + 12), fill=hexrgb("#c0c0c0"))
        d.ellipse((332, y - 4, 348, y + 12), fill=hexrgb("#c0c0c0"))
        del i
    d.arc((360, 360, 560, 520), 200, 300, fill=hexrgb("#5e3b1a"), width=10)
    return shadow(img)


def headphones() -> Image.Image:
    img, d = canvas()
    body, pad, accent = hexrgb("#1f2430"), hexrgb("#3a4150"), hexrgb("#5ad1e6")
    d.arc((130, 90, 510, 470), 180, 360, fill=body, width=42)
    for x0 in (100, 420):
        d.rounded_rectangle((x0, 250, x0 + 120, 470), radius=50, fill=body)
        d.rounded_rectangle((x0 + 18, 270, x0 + 102, 450), radius=40, fill=pad)
        d.ellipse((x0 + 45, 340, x0 + 75, 370), fill=accent)
    d.rectangle((150, 180, 170, 260), fill=body)
    d.rectangle((470, 180, 490, 260), fill=body)
    return shadow(img)


def cold_brew() -> Image.Image:
    img, d = canvas()
    glass, coffee, label, cap = (
        hexrgb("#d9d2c5"),
        hexrgb("#3b2314"),
        hexrgb("#f4ead5"),
        hexrgb("#c8782a"),
    )
    d.rounded_rectangle((230, 60, 410, 110), radius=10, fill=cap)
    d.rectangle((255, 110, 385, 170), fill=glass)
    d.rounded_rectangle((190, 160, 450, 580), radius=50, fill=glass)
    d.rounded_rectangle((205, 230, 435, 565), radius=40, fill=coffee)
    d.rounded_rectangle((215, 300, 425, 450), radius=12, fill=label)
    d.ellipse((290, 325, 350, 385), outline=coffee, width=8)
    d.line((250, 410, 390, 410), fill=coffee, width=6)
    for i in range(6):
        x = 225 + i * 35
        d.ellipse((x, 490 + (i % 2) * 20, x + 14, 504 + (i % 2) * 20), fill=hexrgb("#5a3a22"))
    return shadow(img)


def serum() -> Image.Image:
    img, d = canvas()
    glass, liquid, bulb = hexrgb("#f6c9c0"), hexrgb("#f08a7a"), hexrgb("#3d3d4a")
    d.ellipse((270, 40, 370, 150), fill=bulb)
    d.rectangle((285, 110, 355, 200), fill=bulb)
    d.rounded_rectangle((250, 195, 390, 225), radius=8, fill=hexrgb("#c9a96e"))
    d.rounded_rectangle((210, 220, 430, 590), radius=40, fill=glass)
    d.rounded_rectangle((225, 330, 415, 575), radius=30, fill=liquid)
    d.rounded_rectangle((240, 380, 400, 480), radius=10, fill=(255, 255, 255))
    d.line((270, 415, 370, 415), fill=liquid, width=8)
    d.line((290, 445, 350, 445), fill=liquid, width=6)
    d.ellipse((245, 250, 275, 320), fill=(255, 255, 255, 150))
    return shadow(img)


def logo(text: str, bg: str, fg: str, mark: str) -> Image.Image:
    img = Image.new("RGBA", (480, 160), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, 479, 159), radius=36, fill=hexrgb(bg))
    d.ellipse((24, 30, 124, 130), fill=hexrgb(fg))
    font = ImageFont.load_default(size=64)
    d.text((74, 80), mark, font=font, fill=hexrgb(bg), anchor="mm")
    font = ImageFont.load_default(size=54 if len(text) < 10 else 44)
    d.text((150, 80), text, font=font, fill=hexrgb(fg), anchor="lm")
    return img


def gradient(size: tuple[int, int], top: RGB, bottom: RGB) -> Image.Image:
    w, h = size
    img = Image.new("RGB", size)
    d = ImageDraw.Draw(img)
    for y in range(h):
        t = y / (h - 1)
        d.line(
            [(0, y), (w, y)],
            fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    return img


def mountains(seed: int, sky: tuple[str, str], land: tuple[str, str]) -> Image.Image:
    rnd = random.Random(seed)
    img = gradient((480, 320), hexrgb(sky[0]), hexrgb(sky[1]))
    d = ImageDraw.Draw(img)
    for layer, color in enumerate(land):
        base = 170 + layer * 60
        pts = [(0, 320)]
        x = 0
        while x <= 480:
            pts.append((x, base - rnd.randint(20, 110 - layer * 40)))
            x += rnd.randint(50, 110)
        pts += [(480, 320)]
        d.polygon(pts, fill=hexrgb(color))
    d.ellipse((360, 40, 410, 90), fill=(255, 244, 214))
    return img


def neon(seed: int) -> Image.Image:
    rnd = random.Random(seed)
    img = gradient((480, 320), hexrgb("#0b0620"), hexrgb("#2a0b4a"))
    d = ImageDraw.Draw(img)
    for i in range(12):
        y = 200 + i * i * 1.2
        d.line((0, y, 480, y), fill=hexrgb("#ff2bd6"), width=2)
    for x in range(-400, 900, 60):
        d.line((240, 200, x, 320), fill=hexrgb("#19e6ff"), width=2)
    for _ in range(6):
        x, y = rnd.randint(20, 440), rnd.randint(20, 150)
        d.rectangle((x, y, x + 30, y + 18), outline=hexrgb("#7dff5a"), width=3)
    return img


def pastel(seed: int) -> Image.Image:
    rnd = random.Random(seed)
    img = gradient((480, 320), hexrgb("#fde2e4"), hexrgb("#e2ece9"))
    d = ImageDraw.Draw(img)
    for color in ("#f8c8dc", "#cddafd", "#fad2a0", "#bee1e6", "#ffd6e0"):
        x, y, r = rnd.randint(0, 440), rnd.randint(0, 280), rnd.randint(30, 90)
        d.ellipse((x - r, y - r, x + r, y + r), fill=hexrgb(color))
    return img.filter(ImageFilter.GaussianBlur(3))


def cafe(seed: int) -> Image.Image:
    rnd = random.Random(seed)
    img = gradient((480, 320), hexrgb("#f3e3c7"), hexrgb("#a9744f"))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 230, 480, 320), fill=hexrgb("#6b4226"))
    cx = 160 + rnd.randint(0, 160)
    d.ellipse((cx - 70, 200, cx + 70, 250), fill=hexrgb("#f7f1e8"))
    d.rounded_rectangle((cx - 50, 140, cx + 50, 230), radius=18, fill=hexrgb("#f7f1e8"))
    d.ellipse((cx - 42, 140, cx + 42, 160), fill=hexrgb("#4a2a16"))
    d.arc((cx + 35, 160, cx + 80, 205), 270, 90, fill=hexrgb("#f7f1e8"), width=10)
    return img


def track(seed: int) -> Image.Image:
    img = gradient((480, 320), hexrgb("#ffb347"), hexrgb("#ff6f3c"))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 200, 480, 320), fill=hexrgb("#b5432a"))
    for i in range(5):
        d.line((0, 215 + i * 22, 480, 215 + i * 22), fill=(255, 255, 255), width=3)
    d.ellipse((60 + seed % 3 * 40, 50, 130 + seed % 3 * 40, 120), fill=(255, 240, 200))
    return img


def studio(seed: int) -> Image.Image:
    rnd = random.Random(seed)
    img = gradient((480, 320), hexrgb("#101820"), hexrgb("#23395b"))
    d = ImageDraw.Draw(img)
    for x in range(20, 460, 24):
        h = rnd.randint(20, 160)
        d.rectangle((x, 260 - h, x + 14, 260), fill=hexrgb("#f2a541"))
    d.rectangle((0, 270, 480, 320), fill=hexrgb("#0a0f14"))
    return img


def street_food(seed: int) -> Image.Image:
    rnd = random.Random(seed)
    img = gradient((480, 320), hexrgb("#c0392b"), hexrgb("#f39c12"))
    d = ImageDraw.Draw(img)
    for _ in range(7):
        x = rnd.randint(20, 420)
        d.ellipse((x, 30, x + 50, 90), fill=hexrgb("#ffdd57"))
        d.line((x + 25, 0, x + 25, 30), fill=(60, 20, 10), width=2)
    d.ellipse((120, 190, 360, 300), fill=hexrgb("#fbeee0"))
    d.ellipse((150, 205, 330, 285), fill=hexrgb("#d35400"))
    return img


def garden(seed: int) -> Image.Image:
    rnd = random.Random(seed)
    img = gradient((480, 320), hexrgb("#dff3e4"), hexrgb("#7cb518"))
    d = ImageDraw.Draw(img)
    for _ in range(14):
        x, y = rnd.randint(10, 470), rnd.randint(150, 300)
        d.line((x, y, x, y - 50), fill=hexrgb("#386641"), width=4)
        r = rnd.randint(10, 18)
        color = rnd.choice(["#f28482", "#f6bd60", "#b5838d", "#ffffff"])
        for a in range(0, 360, 72):
            px = x + math.cos(math.radians(a)) * r
            py = y - 50 + math.sin(math.radians(a)) * r
            d.ellipse((px - 8, py - 8, px + 8, py + 8), fill=hexrgb(color))
    return img


def main() -> None:
    PRODUCTS.mkdir(parents=True, exist_ok=True)
    PHOTOS.mkdir(parents=True, exist_ok=True)
    for name, fn in [
        ("boots", boots),
        ("headphones", headphones),
        ("coldbrew", cold_brew),
        ("serum", serum),
    ]:
        fn().save(PRODUCTS / f"{name}.png", optimize=True)
    for name, args in {
        "northpeak-logo": ("Northpeak", "#1e4d3a", "#f2efe6", "N"),
        "sonique-logo": ("Sonique", "#14171f", "#5ad1e6", "S"),
        "kettlecrow-logo": ("Kettle&Crow", "#3b2314", "#f4ead5", "K"),
        "lumi-logo": ("Lumi Labs", "#f08a7a", "#ffffff", "L"),
    }.items():
        logo(*args).save(PRODUCTS / f"{name}.png", optimize=True)
    photos = {
        "alpine-ridge": mountains(1, ("#9ecbe8", "#e6f2f8"), ("#5b7d5a", "#2f4f3a")),
        "forest-lake": mountains(2, ("#c7e3d4", "#f1f7ee"), ("#3a6b4c", "#1f3d2b")),
        "neon-arcade": neon(3),
        "neon-setup": neon(4),
        "pastel-shelf": pastel(5),
        "pastel-morning": pastel(6),
        "latte-art": cafe(7),
        "roastery": cafe(8),
        "sunset-track": track(9),
        "studio-desk": studio(10),
        "night-market": street_food(11),
        "rose-garden": garden(12),
    }
    for name, img in photos.items():
        img.save(PHOTOS / f"{name}.png", optimize=True)


if __name__ == "__main__":
    main()
