"""Placement rules: does the creative fit the platform it will run on?

A creative can be flawless and still fail where it is served: a 16:9 video in a 9:16
stories slot is letterboxed, a caption under the stories reply bar is unreadable, an
in-stream ad that shows its brand only after the skip button appears is mostly paid-for
brand-less seconds. :data:`PLATFORMS` holds each placement's rules as data, and the
``platform`` check compares the plan's context and the creative's drawn text with them.

The figures are rounded from what the large platforms publish for advertisers; they are
stated as plain facts here and can be replaced per deployment through
:class:`PlatformOptions` (config section ``platform``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adloom.domain import Box, Context, RenderedText
from adloom.grounding import normalize
from adloom.verifier.checks import Check, CheckContext, Outcome, Problem, check, find_terms

#: The config section of :class:`PlatformOptions` in a verifier's config.
SECTION = "platform"

_RATIO = re.compile(r"^[1-9][0-9]*:[1-9][0-9]*$")


class SafeZone(BaseModel):
    """Share of the frame, per edge, that the platform's own interface may cover."""

    model_config = ConfigDict(extra="forbid")

    top: float = Field(0.0, ge=0.0, lt=0.5, description="Share of the height from the top.")
    bottom: float = Field(0.0, ge=0.0, lt=0.5, description="Share of the height from the bottom.")
    left: float = Field(0.0, ge=0.0, lt=0.5, description="Share of the width from the left.")
    right: float = Field(0.0, ge=0.0, lt=0.5, description="Share of the width from the right.")

    def bands(self, width: int, height: int) -> list[tuple[str, Box]]:
        """The covered strips of a ``width`` x ``height`` frame, each named by its edge."""
        out: list[tuple[str, Box]] = []
        if self.top:
            out.append(("top", Box(x=0, y=0, w=width, h=round(self.top * height))))
        if self.bottom:
            h = round(self.bottom * height)
            out.append(("bottom", Box(x=0, y=height - h, w=width, h=h)))
        if self.left:
            out.append(("left", Box(x=0, y=0, w=round(self.left * width), h=height)))
        if self.right:
            w = round(self.right * width)
            out.append(("right", Box(x=width - w, y=0, w=w, h=height)))
        return out

    def describe(self) -> str:
        parts = [
            f"{edge} {share:.0%}"
            for edge, share in (
                ("top", self.top),
                ("bottom", self.bottom),
                ("left", self.left),
                ("right", self.right),
            )
            if share
        ]
        return ", ".join(parts) or "none"


class PlatformSpec(BaseModel):
    """One placement's rules; every field is checked against the plan or the creative."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    aspect_ratios: list[str] = Field(
        min_length=1, description="Accepted aspect ratios, 'W:H', preferred first."
    )
    min_duration_s: float = Field(1.0, gt=0.0, description="Shortest accepted video.")
    max_duration_s: float = Field(60.0, gt=0.0, description="Longest accepted video.")
    safe_zone: SafeZone = Field(
        default_factory=SafeZone,
        description="Frame edges the platform's interface covers; text must stay clear.",
    )
    attention_s: float | None = Field(
        None,
        gt=0.0,
        description="The brand (logo or name) must be shown within this many seconds, "
        "e.g. before a skip button appears; None when the placement has no such window.",
    )
    max_text_share: float = Field(
        0.3,
        gt=0.0,
        le=1.0,
        description="Largest share of the frame that drawn text may cover at any moment.",
    )

    @field_validator("aspect_ratios")
    @classmethod
    def _ratios(cls, value: list[str]) -> list[str]:
        for ratio in value:
            if not _RATIO.match(ratio):
                raise ValueError(f"invalid aspect ratio {ratio!r}: expected 'W:H', e.g. '9:16'")
        return value

    @model_validator(mode="after")
    def _durations(self) -> PlatformSpec:
        if self.min_duration_s > self.max_duration_s:
            raise ValueError(
                f"min_duration_s {self.min_duration_s:g} exceeds "
                f"max_duration_s {self.max_duration_s:g}"
            )
        return self


#: Built-in placements. Vertical full-screen formats overlay profile and progress bars
#: at the top and captions, reply or action buttons at the bottom; in-stream players
#: put the progress bar and skip button at the bottom; TV keeps text inside the classic
#: title-safe area (the central 90% of the picture).
PLATFORMS: dict[str, PlatformSpec] = {
    # Social feeds: landscape, square and 4:5 play as-is; vertical video is cropped.
    # Feeds used to cap image text at about a fifth of the picture and still favour less.
    "feed": PlatformSpec(
        description="social feed, autoplay in the scroll",
        aspect_ratios=["16:9", "1:1", "4:5"],
        min_duration_s=1.0,
        max_duration_s=240.0,
        max_text_share=0.2,
    ),
    # Full-screen stories: keep about the top 14% and the bottom 20% free of text.
    "stories": PlatformSpec(
        description="full-screen vertical stories between friends' posts",
        aspect_ratios=["9:16"],
        min_duration_s=1.0,
        max_duration_s=60.0,
        safe_zone=SafeZone(top=0.14, bottom=0.20),
    ),
    # Short vertical video (reels): the caption and buttons take about the bottom 35%,
    # the action column a strip on the right.
    "reels": PlatformSpec(
        description="short vertical video between organic reels",
        aspect_ratios=["9:16"],
        min_duration_s=1.0,
        max_duration_s=90.0,
        safe_zone=SafeZone(top=0.14, bottom=0.35, left=0.06, right=0.06),
    ),
    # Vertical shorts: title and channel at the bottom, the action column on the right.
    "shorts": PlatformSpec(
        description="short vertical video in a shorts feed",
        aspect_ratios=["9:16"],
        min_duration_s=1.0,
        max_duration_s=180.0,
        safe_zone=SafeZone(top=0.14, bottom=0.20, right=0.10),
    ),
    # Skippable in-stream video: viewers may skip after 5 s, so the brand must come first.
    "instream": PlatformSpec(
        description="skippable pre-roll in a video player",
        aspect_ratios=["16:9"],
        min_duration_s=5.0,
        max_duration_s=180.0,
        safe_zone=SafeZone(bottom=0.15),
        attention_s=5.0,
    ),
    # Connected TV: standard 6, 15 and 30 s spots, text inside the title-safe area.
    "ctv": PlatformSpec(
        description="connected-TV ad break, full screen, usually not skippable",
        aspect_ratios=["16:9"],
        min_duration_s=6.0,
        max_duration_s=60.0,
        safe_zone=SafeZone(top=0.05, bottom=0.05, left=0.05, right=0.05),
    ),
}


class PlatformOptions(BaseModel):
    """Settings of the ``platform`` check (config section ``platform``)."""

    model_config = ConfigDict(extra="forbid")

    platforms: dict[str, PlatformSpec] = Field(
        default_factory=dict,
        description="Placements added to the built-in table, or replacing one of the same name.",
    )
    safe_zone_tolerance: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Share of a text box that may reach under the platform's interface "
        "(anti-aliased panel edges, rounding) before it counts as covered.",
    )
    duration_tolerance_s: float = Field(
        0.05, ge=0.0, description="Allowed difference from a campaign context's duration."
    )

    def table(self) -> dict[str, PlatformSpec]:
        """Every known placement: the built-ins overlaid with the configured ones."""
        return {**PLATFORMS, **self.platforms}


def _overlap(a: Box, b: Box) -> int:
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return max(0, w) * max(0, h)


def _clip(box: Box, width: int, height: int) -> Box:
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(width, box.x + box.w), min(height, box.y + box.h)
    return Box(x=x0, y=y0, w=max(0, x1 - x0), h=max(0, y1 - y0))


def covered_area(boxes: Sequence[Box]) -> int:
    """Pixels covered by the union of ``boxes`` (overlapping panels are counted once)."""
    boxes = [b for b in boxes if b.w > 0 and b.h > 0]
    xs = sorted({b.x for b in boxes} | {b.x + b.w for b in boxes})
    ys = sorted({b.y for b in boxes} | {b.y + b.h for b in boxes})
    area = 0
    for x0, x1 in pairwise(xs):
        for y0, y1 in pairwise(ys):
            if any(b.x <= x0 and x1 <= b.x + b.w and b.y <= y0 and y1 <= b.y + b.h for b in boxes):
                area += (x1 - x0) * (y1 - y0)
    return area


def _describe(ctx: Context) -> str:
    return f"{ctx.aspect_ratio} {ctx.duration_s:g}s on {ctx.platform}"


def _where(item: RenderedText) -> str:
    return f"scene {item.scene_index} {item.field}" if item.scene_index is not None else item.field


def _context_problems(
    ctx: CheckContext, spec: PlatformSpec | None, opts: PlatformOptions
) -> tuple[list[Problem], list[bool]]:
    """The plan's context against the placement's formats and the campaign's contexts."""
    plan_ctx = ctx.plan.context
    problems: list[Problem] = []
    oks: list[bool] = []
    if spec is not None:
        ok = plan_ctx.aspect_ratio in spec.aspect_ratios
        oks.append(ok)
        if not ok:
            problems.append(
                Problem(
                    "major",
                    f"aspect ratio {plan_ctx.aspect_ratio} is not accepted on "
                    f"{plan_ctx.platform} (accepted: {', '.join(spec.aspect_ratios)})",
                )
            )
        ok = spec.min_duration_s <= plan_ctx.duration_s <= spec.max_duration_s
        oks.append(ok)
        if not ok:
            problems.append(
                Problem(
                    "major",
                    f"{plan_ctx.duration_s:g}s is outside {plan_ctx.platform}'s "
                    f"{spec.min_duration_s:g}-{spec.max_duration_s:g}s",
                )
            )
    allowed = ctx.campaign.contexts
    ok = any(
        c.platform == plan_ctx.platform
        and c.aspect_ratio == plan_ctx.aspect_ratio
        and abs(c.duration_s - plan_ctx.duration_s) <= opts.duration_tolerance_s
        for c in allowed
    )
    oks.append(ok)
    if not ok:
        problems.append(
            Problem(
                "major",
                f"context {_describe(plan_ctx)} is none of the campaign's "
                f"({'; '.join(_describe(c) for c in allowed)})",
            )
        )
    return problems, oks


def _safe_zone_problems(
    ctx: CheckContext, spec: PlatformSpec, opts: PlatformOptions
) -> tuple[list[Problem], list[bool]]:
    """Drawn copy under the placement's interface; the label only as evidence."""
    w, h = ctx.creative.width, ctx.creative.height
    bands = spec.safe_zone.bands(w, h)
    name = ctx.plan.context.platform
    problems: list[Problem] = []
    oks: list[bool] = []
    for item in ctx.drawn_copy:
        box = _clip(item.box, w, h)
        area = box.w * box.h
        hit = [(edge, _overlap(box, band)) for edge, band in bands]
        covered = [edge for edge, px in hit if area and px / area > opts.safe_zone_tolerance]
        oks.append(not covered)
        if covered:
            problems.append(
                Problem(
                    "minor",
                    f"{_where(item)} {item.text!r} lies under the {name} interface "
                    f"({' and '.join(covered)} edge)",
                    ctx.scene_for(item.start_s, item.end_s)
                    if item.scene_index is None
                    else item.scene_index,
                    item.start_s,
                    item.end_s,
                    text=item.text,
                    frame=ctx.frame_at(item.start_s),
                    box=item.box,
                )
            )
    label = ctx.creative.disclosure_box
    under = [edge for edge, band in bands if _overlap(label, band)]
    if under:
        # The disclosure check owns the label; this records that viewers may not see it.
        problems.append(
            Problem(
                "info",
                f"the disclosure label lies under the {name} interface "
                f"({' and '.join(under)} edge)",
                text=ctx.creative.disclosure_text,
                frame=0,
                box=label,
            )
        )
    return problems, oks


def _text_share_problems(ctx: CheckContext, spec: PlatformSpec) -> tuple[list[Problem], bool]:
    """The largest share of the frame covered by drawn copy at any one moment."""
    w, h = ctx.creative.width, ctx.creative.height
    drawn = ctx.drawn_copy if w > 0 and h > 0 else []
    worst: tuple[float, float, float] | None = None
    for t in sorted({r.start_s for r in drawn}):
        shown = [r for r in drawn if r.start_s <= t < r.end_s]
        if not shown:
            continue
        share = covered_area([_clip(r.box, w, h) for r in shown]) / float(w * h)
        if worst is None or share > worst[0]:
            worst = (share, t, min(r.end_s for r in shown))
    if worst is None or worst[0] <= spec.max_text_share:
        return [], True
    share, a, b = worst
    problem = Problem(
        "minor",
        f"text covers {share:.0%} of the frame at {a:.2f}s "
        f"({ctx.plan.context.platform} allows {spec.max_text_share:.0%})",
        ctx.scene_for(a, b),
        a,
        b,
        frame=ctx.frame_at(a),
    )
    return [problem], False


def brand_seen_at(ctx: CheckContext) -> float | None:
    """When the brand is first shown: the logo overlay from the first frame, else drawn text.

    The Producer composites the plan's logo over every frame; a brand or product name in
    the copy counts from when it is drawn (or its scene starts, for a creative without a
    record of drawn text). Whether the logo is really in the pixels is ``logo_visible``'s.
    """
    product = ctx.product
    if product is None:
        return None
    if ctx.plan.logo_asset is not None and any(
        a.id == ctx.plan.logo_asset for a in product.assets_of("logo")
    ):
        return 0.0
    names = [n for n in (product.brand, product.name) if normalize(n)]
    if ctx.creative.rendered_text:
        times = [r.start_s for r in ctx.drawn_copy if find_terms(r.text, names)]
    else:
        times = [
            ctx.text_span(s, f)[0]
            for s, f, g in ctx.plan.texts()
            if f != "narration" and find_terms(g.text, names)
        ]
    return min(times) if times else None


@check("platform", "utility")
def platform(ctx: CheckContext) -> Outcome:
    """The plan's format is the placement's and the campaign's; text and brand fit its UI."""
    opts = ctx.options(SECTION, PlatformOptions)
    table = opts.table()
    name = ctx.plan.context.platform
    spec = table.get(name)
    problems: list[Problem] = []
    if spec is None:
        problems.append(
            Problem("minor", f"unknown platform {name!r} (known: {', '.join(sorted(table))})")
        )
    found, oks = _context_problems(ctx, spec, opts)
    problems += found
    scores = [float(ok) for ok in oks]
    if spec is not None:
        found, oks = _safe_zone_problems(ctx, spec, opts)
        problems += found
        if oks:
            scores.append(sum(oks) / len(oks))
        found, ok = _text_share_problems(ctx, spec)
        problems += found
        scores.append(float(ok))
        if spec.attention_s is not None:
            seen = brand_seen_at(ctx)
            ok = seen is not None and seen <= spec.attention_s
            scores.append(float(ok))
            if not ok:
                when = "at all" if seen is None else f"until {seen:.2f}s"
                problems.append(
                    Problem(
                        "major",
                        f"the brand is not shown {when}; {name} needs it within the first "
                        f"{spec.attention_s:g}s",
                        ctx.scene_for(0.0, spec.attention_s),
                        0.0,
                        spec.attention_s,
                        frame=0,
                    )
                )
    failing = [p for p in problems if p.severity != "info"]
    if failing:
        message = "; ".join(p.message for p in failing)
    else:
        ctx_text = _describe(ctx.plan.context)
        message = f"{ctx_text} fits the placement and the campaign"
        if spec is not None and spec.safe_zone.describe() != "none":
            message += f"; text clear of the interface ({spec.safe_zone.describe()})"
    score = sum(scores) / len(scores) if scores else 1.0
    if failing:
        score = min(score, 0.9)
    return Outcome(score, message, problems)


#: The checks of this module, in report order.
CHECKS: tuple[Check, ...] = (platform,)
