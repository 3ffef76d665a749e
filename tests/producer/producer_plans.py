"""Plans for Producer tests, built directly (no Director) from the conftest campaign."""

from __future__ import annotations

from typing import Any

from adloom.domain import (
    Background,
    CallToAction,
    Campaign,
    Context,
    CreativePlan,
    Disclosure,
    GroundedText,
    MatchDecision,
    Scene,
)

#: (role, camera, transition_in, background kind) per scene.
DEFAULT_SCENES: list[tuple[str, str, str, str]] = [
    ("hook", "static", "cut", "gradient"),
    ("context", "pan_right", "fade", "solid"),
    ("product", "zoom_in", "slide", "gradient"),
    ("proof", "pan_left", "fade", "gradient"),
    ("cta", "zoom_out", "fade", "gradient"),
]


def copy(text: str, source_id: str) -> GroundedText:
    return GroundedText(text=text, source="copy", source_id=source_id)


def claim(text: str, source_id: str) -> GroundedText:
    return GroundedText(text=text, source="claim", source_id=source_id)


def make_plan(
    campaign: Campaign,
    *,
    product_id: str = "boots",
    aspect_ratio: str = "16:9",
    duration_s: float = 5.0,
    fps: int = 25,
    seed: int = 7,
    scenes: list[tuple[str, str, str, str]] | None = None,
    position: str = "top_right",
    background_image: str | None = None,
    **overrides: Any,
) -> CreativePlan:
    """A plan whose scenes tile ``duration_s`` evenly, with text from the product's copy."""
    product = campaign.product(product_id)
    spec = scenes or DEFAULT_SCENES
    main = product.assets_of("product_image")[0].id
    logo = product.logo.id if product.logo else None
    texts = [
        (copy("Go further, stay dry", "h1"), copy("Every trail, every weather", "s1")),
        (claim(product.verified_claims[0].text, product.verified_claims[0].id), None),
        (copy("Go further, stay dry", "h1"), claim("Only 480 g per boot", "c-weight")),
        (claim(product.verified_claims[-1].text, product.verified_claims[-1].id), None),
        (copy("Every trail, every weather", "s1"), copy("Every trail, every weather", "s1")),
    ]
    n = len(spec)
    step = round(duration_s / n, 3)
    built: list[Scene] = []
    for i, (role, camera, transition, kind) in enumerate(spec):
        start = round(i * step, 3)
        dur = round(duration_s - start, 3) if i == n - 1 else step
        on_screen, narration = texts[i % len(texts)]
        bg = Background(kind=kind, colors=["#1e5a3c", "#0d2a1c"] if kind == "gradient" else [])
        if kind == "image":
            bg = Background(kind="image", image=background_image)
        built.append(
            Scene(
                index=i,
                role=role,
                start_s=start,
                duration_s=dur,
                on_screen_text=on_screen,
                narration=narration,
                camera=camera,
                asset_ids=[] if role == "hook" else [main],
                background=bg,
                transition_in=transition,
            )
        )
    fields: dict[str, Any] = {
        "plan_id": f"plan-{product_id}-{seed}",
        "campaign_id": campaign.id,
        "product_id": product_id,
        "kind": "generic",
        "matching": MatchDecision(
            compatibility=0.5, threshold=0.3, personalized=False, rationale="test"
        ),
        "context": Context(aspect_ratio=aspect_ratio, duration_s=duration_s, fps=fps),
        "palette": product.palette,
        "logo_asset": logo,
        "scenes": built,
        "cta": CallToAction(text=copy("Shop now", "cta1"), url="https://example.com"),
        "disclosure": Disclosure(position=position),
        "seed": seed,
    }
    fields.update(overrides)
    return CreativePlan(**fields)
