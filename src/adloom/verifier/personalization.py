"""Personalization: is the creative closer to its user than the generic one would be?

Personalization costs a render per user and spends the user's data; it is only worth it
when the result speaks to the user more than the product's generic creative does. The
``personalization`` check measures that on two cues, each for the plan and for the
generic reference plan (``CheckContext.reference``), against the user's profile:

* text: sentence-embedding similarity between everything the plan says or describes
  (copy, claims, slot fills, scene descriptions) and the profile's interests and summary;
* visual: CIELAB colour distance between the user's preferred colours and the plan's
  palette (and, when the video was decoded, the colours actually seen in its stills).

A personalized plan whose text is no closer than the reference's is a minor problem: the
Reflector may fall back to the generic creative. A generic plan, or a creative with no
profile to compare with, has nothing to personalize; the check passes with score 1.0 so
that the utility track is not penalised for a decision (no consent, low fit) that was
right. Settings live in config section ``personalization`` (:class:`PersonalizationOptions`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from adloom import registry
from adloom.director.embeddings import Embedder
from adloom.domain import CreativePlan, UserProfile
from adloom.verifier.checks import Check, CheckContext, Outcome, Problem, Severity, check

#: The config section of :class:`PersonalizationOptions` in a verifier's config.
SECTION = "personalization"

#: Weight of the profile summary next to the interests (whose weights add up to 1).
SUMMARY_WEIGHT = 0.5
#: CIELAB distance at which two colour sets count as unrelated (visual closeness 0).
UNRELATED_DELTA_E = 50.0


class PersonalizationOptions(BaseModel):
    """Settings of the ``personalization`` check (config section ``personalization``)."""

    model_config = ConfigDict(extra="forbid")

    embedder: str | dict[str, Any] = Field(
        "minilm",
        description="Embedder backend: a short name ('minilm', 'hashing') or a config with "
        "'type'. One instance per spec is kept per process.",
    )
    min_lift: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="How much closer, on the embedder's calibrated 0..1 scale, a "
        "personalized plan's text must be to its user than the generic reference's; at "
        "or below it personalization adds nothing.",
    )
    visual_weight: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Share of the score given to colour closeness when the profile has "
        "preferred colours; the rest is text similarity.",
    )
    still_colors: int = Field(
        6, ge=1, le=16, description="Dominant colours measured in the stills."
    )


@lru_cache(maxsize=8)
def _embedder(key: str) -> Embedder:
    spec: str | dict[str, Any] = json.loads(key)
    embedder: Embedder = registry.create("embedder", spec, "minilm")
    return embedder


def embedder_for(spec: str | dict[str, Any]) -> Embedder:
    """The process-wide embedder for ``spec``: a campaign verifies many creatives."""
    return _embedder(json.dumps(spec, sort_keys=True))


# --------------------------------------------------------------------------- text


@dataclass(frozen=True)
class Line:
    """A string of a plan, with where it is (scene None: the CTA)."""

    scene_index: int | None
    field: str
    text: str


@dataclass(frozen=True)
class TextAffinity:
    """How close a plan's strings are to a profile.

    ``raw`` is the interest-weighted mean, over the profile's interests and summary, of
    each one's best cosine with any plan string: a plan scores by how much of what the
    user cares about it speaks to. ``score`` is ``raw`` on the embedder's calibrated
    0..1 scale (unclipped, so lifts stay comparable), ``best`` the closest pair.
    """

    raw: float
    score: float
    best: Line
    best_interest: str
    best_cosine: float


def plan_lines(plan: CreativePlan) -> list[Line]:
    """Every string the plan shows, says or describes, once, with slot fills on their own."""
    out: dict[str, Line] = {}
    for s, f, g in plan.texts():
        out.setdefault(g.text, Line(s, f, g.text))
        for value in g.slots.values():
            out.setdefault(value, Line(s, f"{f} slot", value))
    for scene in plan.scenes:
        if scene.visual_description.strip():
            text = scene.visual_description
            out.setdefault(text, Line(scene.index, "visual_description", text))
    return list(out.values())


def profile_items(profile: UserProfile) -> list[tuple[str, str, float]]:
    """(name, text to embed, weight) for each interest and the summary."""
    items = [
        (i.label, " ".join([i.label, *i.keywords]), max(i.weight, 1e-3)) for i in profile.interests
    ]
    if profile.summary.strip():
        items.append(("summary", profile.summary, SUMMARY_WEIGHT))
    return items


def text_affinity(
    plans: Sequence[CreativePlan], profile: UserProfile, embedder: Embedder
) -> list[TextAffinity]:
    """Affinity of each plan with ``profile``, all strings embedded in one batch."""
    items = profile_items(profile)
    if not items:
        raise ValueError(f"profile {profile.user_id!r} has no interests or summary")
    lines = [plan_lines(p) for p in plans]
    texts = [t for _, t, _ in items] + [ln.text for group in lines for ln in group]
    vecs = embedder.embed(texts)
    targets = vecs[: len(items)]
    weights = np.array([w for _, _, w in items], dtype=np.float64)
    span = embedder.related - embedder.unrelated
    out: list[TextAffinity] = []
    start = len(items)
    for group in lines:
        cos = vecs[start : start + len(group)].astype(np.float64) @ targets.T.astype(np.float64)
        start += len(group)
        raw = float((cos.max(axis=0) * weights).sum() / weights.sum())
        s, i = np.unravel_index(int(np.argmax(cos)), cos.shape)
        out.append(
            TextAffinity(
                raw=raw,
                score=(raw - embedder.unrelated) / span,
                best=group[int(s)],
                best_interest=items[int(i)][0],
                best_cosine=float(cos[s, i]),
            )
        )
    return out


# --------------------------------------------------------------------------- colour


def to_lab(rgb: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """CIELAB (D65) of sRGB colours given as 0-255 rows, so distances follow perception."""
    c = np.asarray(rgb, dtype=np.float64).reshape(-1, 3) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
        dtype=np.float64,
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack(
        [116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1
    )


def hex_rgb(colours: Sequence[str]) -> npt.NDArray[np.float64]:
    return np.array(
        [[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours], dtype=np.float64
    ).reshape(-1, 3)


def palette_distance(target: Sequence[str], colours: Sequence[str]) -> float | None:
    """Mean CIE76 ΔE from each ``target`` colour to its nearest in ``colours``.

    Matched this way, a creative is close to a user when every colour the user likes
    appears in it, whatever else it also shows (the brand keeps its own colours).
    """
    if not target or not colours:
        return None
    a, b = to_lab(hex_rgb(target)), to_lab(hex_rgb(colours))
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    return float(d.min(axis=1).mean())


def dominant_colours(
    frames: Sequence[npt.NDArray[np.uint8]], n: int = 6, min_share: float = 0.02
) -> list[str]:
    """The ``n`` most common colours of ``frames``, from a coarse 8x8x8 RGB histogram.

    Each bin reports the mean of its pixels, so a flat brand colour comes back exactly;
    bins under ``min_share`` of the pixels (anti-aliasing, noise) are ignored.
    """
    samples = []
    for frame in frames:
        step = max(1, max(frame.shape[:2]) // 96)
        samples.append(frame[::step, ::step, :3].reshape(-1, 3))
    if not samples:
        return []
    px = np.concatenate(samples).astype(np.int64)
    bins = (px[:, 0] // 32) * 64 + (px[:, 1] // 32) * 8 + px[:, 2] // 32
    counts = np.bincount(bins, minlength=512)
    out = []
    for b in np.argsort(-counts, kind="stable")[:n]:
        if counts[b] < min_share * len(px):
            break
        r, g, bl = (round(float(v)) for v in px[bins == b].mean(axis=0))
        out.append(f"#{r:02x}{g:02x}{bl:02x}")
    return out


def closeness(delta_e: float) -> float:
    return max(0.0, 1.0 - delta_e / UNRELATED_DELTA_E)


# --------------------------------------------------------------------------- check


def _where(line: Line) -> str:
    return f"scene {line.scene_index} {line.field}" if line.scene_index is not None else line.field


def _problem_at(ctx: CheckContext, line: Line, severity: Severity, message: str) -> Problem:
    if line.scene_index is not None or line.field == "cta":
        a, b = ctx.text_span(line.scene_index, line.field.removesuffix(" slot"))
        return Problem(
            severity,
            message,
            line.scene_index,
            a,
            b,
            text=line.text,
            frame=ctx.frame_at((a + b) / 2),
        )
    return Problem(severity, message, text=line.text)


def _personal_line(plan: CreativePlan, reference: CreativePlan | None) -> Line | None:
    """The plan's own contribution: a slot fill, else the first string the reference lacks."""
    lines = plan_lines(plan)
    ref = {ln.text for ln in plan_lines(reference)} if reference is not None else set()
    for ln in lines:
        if ln.field.endswith(" slot"):
            return ln
    return next((ln for ln in lines if ln.text not in ref), None)


def _visual(
    ctx: CheckContext,
    profile: UserProfile,
    ref: CreativePlan | None,
    opts: PersonalizationOptions,
) -> tuple[float | None, str, list[Problem]]:
    """Closeness (0..1) of what the creative shows to the user's colours, and evidence."""
    wanted = profile.visual.palette
    if not wanted:
        return None, "the profile has no preferred colours", []
    plan_d = palette_distance(wanted, ctx.plan.palette)
    ref_d = palette_distance(wanted, ref.palette) if ref is not None else None
    stills = ctx.stills()
    seen = dominant_colours([f for _, _, f in stills], opts.still_colors)
    seen_d = palette_distance(wanted, seen)
    parts = []
    if plan_d is not None:
        parts.append(f"palette ΔE {plan_d:.1f}")
    if ref_d is not None:
        parts.append(f"generic palette ΔE {ref_d:.1f}")
    if seen_d is not None:
        parts.append(f"stills ΔE {seen_d:.1f} ({', '.join(seen)})")
    summary = "colours: " + (", ".join(parts) or "none to compare")
    problems = []
    if seen_d is not None:
        first, t, _ = stills[0]
        problems.append(Problem("info", summary, first, t, t, frame=ctx.frame_at(t)))
    elif parts:
        problems.append(Problem("info", summary))
    measured = seen_d if seen_d is not None else plan_d
    return (None if measured is None else closeness(measured)), summary, problems


@check("personalization", "utility")
def personalization(ctx: CheckContext) -> Outcome:
    """Closer to the user than the generic creative on text, and on colour as evidence."""
    plan, profile, ref = ctx.plan, ctx.profile, ctx.reference
    if plan.kind != "personalized":
        return Outcome(1.0, "generic creative: nothing to personalize")
    if profile is None:
        return Outcome(1.0, "no user profile given: personalization not judged")
    if not profile.personalizable:
        # Serving a personalized creative without consent is the privacy check's finding.
        return Outcome(
            1.0,
            f"the profile does not allow personalization ({profile.reason}); not judged here",
            [
                Problem(
                    "info", f"personalized plan for a non-personalizable profile: {profile.reason}"
                )
            ],
        )
    if not profile_items(profile):
        return Outcome(1.0, "the profile has no interests or summary to compare with")
    opts = ctx.options(SECTION, PersonalizationOptions)
    embedder = embedder_for(opts.embedder)
    usable_ref = ref if ref is not None and ref.product_id == plan.product_id else None
    scores = text_affinity([plan] if usable_ref is None else [plan, usable_ref], profile, embedder)
    mine = scores[0]
    text = min(1.0, max(0.0, mine.score))
    problems = [
        _problem_at(
            ctx,
            mine.best,
            "info",
            f"{_where(mine.best)} {mine.best.text!r} is closest to the user's "
            f"{mine.best_interest!r} (cosine {mine.best_cosine:.2f})",
        )
    ]
    visual, visual_msg, visual_problems = _visual(ctx, profile, usable_ref, opts)
    problems += visual_problems
    score = (
        text if visual is None else (1 - opts.visual_weight) * text + opts.visual_weight * visual
    )
    if usable_ref is None:
        why = (
            "no generic reference given"
            if ref is None
            else f"the reference is for product {ref.product_id!r}, not {plan.product_id!r}"
        )
        problems.append(Problem("info", f"{why}: lift not measured"))
        return Outcome(score, f"text {text:.2f} for the user ({why}); {visual_msg}", problems)
    lift = mine.score - scores[1].score
    summary = (
        f"text {text:.2f} for the user vs {min(1.0, max(0.0, scores[1].score)):.2f} "
        f"for the generic creative (lift {lift:+.2f})"
    )
    if lift <= opts.min_lift:
        line = _personal_line(plan, usable_ref) or mine.best
        problems.append(
            _problem_at(
                ctx,
                line,
                "minor",
                f"personalization adds nothing over the generic creative: {summary}, "
                f"needs more than {opts.min_lift:+.2f}",
            )
        )
        return Outcome(min(score, 0.5), problems[-1].message + f"; {visual_msg}", problems)
    return Outcome(score, f"{summary}; {visual_msg}", problems)


#: The checks of this module, in report order.
CHECKS: tuple[Check, ...] = (personalization,)
