"""Shared fixtures: a small campaign built on the fly (images drawn into tmp_path)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from adloom.domain import (
    Asset,
    Budget,
    Campaign,
    Claim,
    Consent,
    Context,
    CopyLine,
    HistoryItem,
    LicenseRecord,
    Policy,
    Product,
    User,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LICENSE = LicenseRecord(license="CC0-1.0", holder="adloom tests", source="drawn by the test")


def draw_product(
    path: Path, color: tuple[int, int, int], size: tuple[int, int] = (400, 400)
) -> Path:
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    w, h = size
    d.rounded_rectangle((w * 0.2, h * 0.15, w * 0.8, h * 0.9), radius=30, fill=(*color, 255))
    d.ellipse((w * 0.35, h * 0.3, w * 0.65, h * 0.6), fill=(255, 255, 255, 230))
    img.save(path)
    return path


def draw_logo(path: Path, text: str, color: tuple[int, int, int]) -> Path:
    img = Image.new("RGBA", (240, 80), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, 239, 79), radius=16, fill=(*color, 255))
    d.text((20, 25), text, fill=(255, 255, 255, 255))
    img.save(path)
    return path


def draw_photo(path: Path, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Path:
    img = Image.new("RGB", (160, 120))
    d = ImageDraw.Draw(img)
    for y in range(120):
        t = y / 119
        d.line(
            [(0, y), (159, y)],
            fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    img.save(path)
    return path


def make_product(
    tmp: Path, pid: str = "boots", color: tuple[int, int, int] = (30, 90, 60)
) -> Product:
    tmp.mkdir(parents=True, exist_ok=True)
    draw_product(tmp / f"{pid}.png", color)
    draw_logo(tmp / f"{pid}-logo.png", pid.upper(), color)
    return Product(
        id=pid,
        name="Trail Boot" if pid == "boots" else pid.title(),
        brand="Northpeak" if pid == "boots" else pid.title() + " Co",
        category="outdoor footwear" if pid == "boots" else "general",
        description="Waterproof hiking boots for long trails.",
        selling_points=["waterproof", "lightweight", "grippy outsole"],
        verified_claims=[
            Claim(id="c-waterproof", text="Waterproof membrane", evidence="lab test 2024"),
            Claim(id="c-weight", text="Only 480 g per boot", evidence="spec sheet"),
        ],
        approved_copy=[
            CopyLine(id="h1", role="headline", text="Go further, stay dry"),
            CopyLine(id="hook1", role="hook", text="Made for {interest}"),
            CopyLine(id="cta1", role="cta", text="Shop now"),
            CopyLine(id="s1", role="slogan", text="Every trail, every weather"),
        ],
        assets=[
            Asset(id=f"{pid}-main", kind="product_image", path=f"{pid}.png", license=LICENSE),
            Asset(id=f"{pid}-logo", kind="logo", path=f"{pid}-logo.png", license=LICENSE),
        ],
        palette=["#1e5a3c", "#f2efe6"],
    )


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    assets = tmp_path / "assets"
    c = Campaign(
        id="test-campaign",
        name="Test",
        advertiser="Northpeak",
        objective="consideration",
        budget=Budget(amount=1000),
        products=[make_product(assets, "boots"), make_product(assets, "mug", (150, 60, 30))],
        policy=Policy(min_compatibility=0.3),
        contexts=[Context(aspect_ratio="16:9", duration_s=6.0)],
    )
    return c.with_base_dir(assets)


@pytest.fixture
def users(tmp_path: Path) -> list[User]:
    photos = tmp_path / "photos"
    photos.mkdir()
    hiker_img = draw_photo(photos / "forest.png", (40, 110, 60), (200, 220, 190))
    return [
        User(
            id="hiker",
            consent=Consent(personalization=True),
            history=[
                HistoryItem(
                    title="Three days on the Highland trail",
                    tags=["hiking", "trail"],
                    text="Muddy boots and wild camping",
                    image=str(hiker_img),
                ),
                HistoryItem(title="Best budget tents of the year", tags=["camping", "deals"]),
                HistoryItem(title="Summit sunrise hike", tags=["hiking"], text="Up at 4am"),
                HistoryItem(title="How to waterproof your gear", tags=["gear", "how-to"]),
            ],
        ),
        User(id="newbie", consent=Consent(personalization=True), history=[]),
        User(
            id="private",
            consent=Consent(personalization=False),
            history=[HistoryItem(title="Trail running in the Alps", tags=["running"])],
        ),
        User(
            id="polyglot",
            consent=Consent(personalization=True),
            history=[
                HistoryItem(title="冬季登山装备推荐", tags=["登山", "装备"]),
                HistoryItem(title="Лучшие тропы Кавказа", tags=["походы"]),
                HistoryItem(title="رحلة إلى الجبال", text="مغامرة رائعة"),
            ],
        ),
    ]


# --------------------------------------------------------------------------- services
#
# The integration tier talks to the real PostgreSQL and Redis on 127.0.0.1. Locally a
# missing service skips those tests with the reason; under CI (CI set) it fails them,
# so the tier can never be skipped there without anyone noticing.

PG_ADMIN_URL = os.environ.get("ADLOOM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("ADLOOM_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _service_missing(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; the integration tier must run under CI")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_admin() -> str:
    """URL of the real PostgreSQL server's ``test`` database (psycopg style)."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        _service_missing("PostgreSQL", exc)
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_admin: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (SQLAlchemy URL), dropped after."""
    import uuid

    import psycopg

    name = f"adloom_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    """URL of the real Redis server; tests keep to their own key prefix."""
    try:
        import redis

        redis.Redis.from_url(REDIS_TEST_URL, socket_timeout=3).ping()
    except Exception as exc:
        _service_missing("Redis", exc)
    return REDIS_TEST_URL
