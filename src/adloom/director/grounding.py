"""Asset grounding: bind storyboard scenes to eligible assets and colours.

Product imagery only ever comes from the product's own assets (so the Producer cannot
show a product that is not the advertiser's), the logo from its logo asset, and the
palette starts from the brand's colours. Personalization adds the user's preferred
colours to the palette and, for the context scene, one of the user's own history images
as the backdrop; generic plans carry no user data at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from adloom.domain import Background, Product, Scene, User, UserProfile

#: Used when a brand gives no colours: neutral and legible under white text.
NEUTRAL_PALETTE = ["#1f2933", "#52606d", "#f5f7fa"]
#: Colours closer than this (RGB distance) count as the same colour.
MIN_COLOUR_DISTANCE = 36.0


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _distance(a: str, b: str) -> float:
    return float(sum((x - y) ** 2 for x, y in zip(_rgb(a), _rgb(b), strict=True)) ** 0.5)


def blend_palette(brand: Sequence[str], user: Sequence[str], size: int = 5) -> list[str]:
    """Brand primary first, then user and brand colours alternately, near-duplicates dropped.

    The brand keeps its lead colour (identity); the user's colours fill the rest (taste).
    """
    brand = [c.lower() for c in brand] or list(NEUTRAL_PALETTE)
    user = [c.lower() for c in user]
    order = [brand[0]]
    rest_brand, rest_user = brand[1:], list(user)
    while rest_brand or rest_user:
        if rest_user:
            order.append(rest_user.pop(0))
        if rest_brand:
            order.append(rest_brand.pop(0))
    out: list[str] = []
    for c in order:
        if all(_distance(c, o) >= MIN_COLOUR_DISTANCE for o in out):
            out.append(c)
        if len(out) == size:
            break
    return out


def brand_palette(product: Product) -> list[str]:
    return [c.lower() for c in product.palette] or list(NEUTRAL_PALETTE)


def history_image(user: User | None, profile: UserProfile, interest: str | None) -> str | None:
    """A readable image from the user's history, preferring the matched interest's items."""
    if user is None or not profile.personalizable:
        return None
    preferred: set[str] = set()
    for it in profile.interests:
        if it.label == interest:
            preferred = set(it.item_ids)
    items = [(it.id or f"h{i}", it.image) for i, it in enumerate(user.history) if it.image]
    items.sort(key=lambda pair: pair[0] not in preferred)  # stable: history order otherwise
    for _, image in items:
        if image and Path(image).is_file():
            return image
    return None


@dataclass
class Grounding:
    scenes: list[Scene]
    palette: list[str]
    logo_asset: str | None
    notes: list[str]


def ground_assets(
    scenes: Sequence[Scene],
    product: Product,
    *,
    personalized: bool,
    profile: UserProfile | None = None,
    user: User | None = None,
    interest: str | None = None,
) -> Grounding:
    """Assets, palette and backgrounds for each scene."""
    notes: list[str] = []
    brand = brand_palette(product)
    if personalized and profile is not None and profile.visual.palette:
        palette = blend_palette(brand, profile.visual.palette)
        notes.append("palette: brand colours blended with the user's preferred colours")
    else:
        palette = brand[:5]
    images = [a.id for a in product.assets_of("product_image")]
    logo = product.logo.id if product.logo is not None else None
    backdrop = (
        history_image(user, profile, interest) if personalized and profile is not None else None
    )

    out: list[Scene] = []
    shot = 0
    for scene in scenes:
        i = scene.index
        asset_ids: list[str] = []
        if images:
            asset_ids = [images[shot % len(images)]]
            shot += 1
        if scene.role in ("hook", "cta"):
            colours = brand[:2] if len(brand) >= 2 else [brand[0], brand[0]]
        else:
            colours = [palette[i % len(palette)], palette[(i + 1) % len(palette)]]
        if colours[0] == colours[1]:
            background = Background(kind="solid", colors=colours[:1])
        else:
            background = Background(kind="gradient", colors=colours)
        if scene.role == "context" and backdrop is not None:
            background = Background(kind="image", image=backdrop, colors=colours)
            notes.append("context scene: the user's own history image as backdrop")
        out.append(scene.model_copy(update={"asset_ids": asset_ids, "background": background}))
    if not images:
        notes.append("product has no product_image asset: scenes rely on text and colour")
    return Grounding(scenes=out, palette=palette, logo_asset=logo, notes=notes)
