"""Group profiles: who is in a group and what they respond to, without exposing anyone.

A group is summarized the way the paper does, by several members sampled at the 15th,
55th and 95th percentiles of distance to the group's centre, so the profile covers the
core and the edge of the group rather than one average point; and by what sets it apart
from the product's whole audience: over-represented attribute levels, shifted numeric
attributes, and which of the product's creatives it prefers.

Privacy rules: representatives are anonymous (attributes only, numbers rounded);
special-category attributes never reach a profile, nor do protected ones such as age or
gender (configurable), nor any level whose wording the sensitive-trait lexicon flags.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from adloom.cohorts.data import Users
from adloom.cohorts.report import (
    AttributeShare,
    CreativeAffinity,
    GroupProfile,
    NumericShift,
    Representative,
)
from adloom.lexicons import sensitive_hits

PERCENTILES = (15, 55, 95)
#: Attribute-name words whose values a profile never states, even when the model uses them.
PROTECTED = ("age", "gender", "sex", "birth", "race", "nationality", "marital", "pregnancy")

#: How much more common (in share points) a level must be in the group to be named.
MIN_SHARE_GAIN = 0.05

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


def is_withheld(attribute: str, protected: Sequence[str] = PROTECTED) -> bool:
    """True for attributes a profile must not describe."""
    words = re.split(r"[^a-z0-9]+", attribute.lower())
    if any(w in protected for w in words):
        return True
    return bool(sensitive_hits(" ".join(words)))


def representatives(
    distance: F64,
    percentiles: Sequence[int] = PERCENTILES,
    per_percentile: int = 3,
) -> list[tuple[int, int]]:
    """(percentile, member index) pairs: the members whose distance to the centre is
    nearest each percentile of the group's distances; no member is taken twice."""
    taken: set[int] = set()
    out: list[tuple[int, int]] = []
    if len(distance) == 0:
        return out
    for p in percentiles:
        target = float(np.percentile(distance, p))
        for i in np.argsort(np.abs(distance - target), kind="stable"):
            if len(out) and sum(1 for q, _ in out if q == p) >= per_percentile:
                break
            if int(i) not in taken:
                taken.add(int(i))
                out.append((p, int(i)))
    return out


@dataclass(frozen=True)
class Audience:
    """The product's consenting users, the baseline a group is compared with."""

    users: Users
    rates: F32  # (users, creatives) predicted click probabilities
    creative_ids: list[str]
    creative_texts: list[tuple[str, ...]]
    creative_images: list[str | None]
    clicks: F64  # per user: clicks on the product's creatives in the log
    impressions: F64  # per user: impressions of them


def _distinct_fields(texts: list[tuple[str, ...]], index: int) -> list[str]:
    """Text fields of one creative that not every creative of the product shares."""
    if len(texts) < 2:
        return list(texts[index])
    common = set(texts[0]).intersection(*map(set, texts[1:]))
    return [f for f in texts[index] if f not in common]


def describe(
    audience: Audience,
    members: I64,
    distance: F64,
    *,
    index: int,
    k: int,
    product_name: str,
    protected: Sequence[str] = PROTECTED,
    percentiles: Sequence[int] = PERCENTILES,
    per_percentile: int = 3,
    top_levels: int = 3,
) -> GroupProfile:
    """The structured and written profile of one group of the audience."""
    users = audience.users
    n_all = len(users)
    n = len(members)
    withheld = sorted(a for a in users.attributes if is_withheld(a, protected))

    distinctive: list[AttributeShare] = []
    for name, col in users.categorical.items():
        if name in withheld:
            continue
        levels, pop_counts = np.unique(col, return_counts=True)
        grp = col[members]
        for level, pc in zip(levels.tolist(), pop_counts.tolist(), strict=True):
            if sensitive_hits(str(level)):
                continue
            share = float(np.mean(grp == level)) if n else 0.0
            pop = pc / n_all
            if share - pop >= MIN_SHARE_GAIN:
                distinctive.append(
                    AttributeShare(
                        attribute=name,
                        level=str(level),
                        share=round(share, 4),
                        population_share=round(pop, 4),
                        lift=round(share / pop, 3),
                    )
                )
    distinctive.sort(key=lambda a: a.share - a.population_share, reverse=True)
    distinctive = distinctive[:top_levels]

    numeric: list[NumericShift] = []
    for name, values in users.numeric.items():
        if name in withheld:
            continue
        sd = float(values.std()) or 1.0
        mean = float(values[members].mean()) if n else 0.0
        numeric.append(
            NumericShift(
                attribute=name,
                mean=round(mean, 4),
                population_mean=round(float(values.mean()), 4),
                shift=round((mean - float(values.mean())) / sd, 3),
            )
        )
    numeric.sort(key=lambda s: abs(s.shift), reverse=True)

    pop_rates = audience.rates.mean(axis=0)
    grp_rates = audience.rates[members].mean(axis=0) if n else pop_rates
    creatives = [
        CreativeAffinity(
            item_id=audience.creative_ids[j],
            text=list(audience.creative_texts[j]),
            image=audience.creative_images[j],
            rate=round(float(grp_rates[j]), 5),
            lift=round(float(grp_rates[j] / max(pop_rates[j], 1e-9)), 3),
        )
        for j in range(len(audience.creative_ids))
    ]
    creatives.sort(key=lambda c: c.lift, reverse=True)
    order = [audience.creative_ids.index(c.item_id) for c in creatives]
    interests: list[str] = []
    for j in order[:2]:
        for f in _distinct_fields(audience.creative_texts, j):
            if f not in interests and not sensitive_hits(f):
                interests.append(f)

    reps = []
    for pct, i in representatives(distance, percentiles, per_percentile):
        u = int(members[i])
        attrs: dict[str, str | float] = {}
        for name, col in users.categorical.items():
            if name not in withheld and not sensitive_hits(str(col[u])):
                attrs[name] = str(col[u])
        for name, vals in users.numeric.items():
            if name not in withheld:
                attrs[name] = round(float(vals[u]), 1)
        reps.append(
            Representative(percentile=pct, distance=round(float(distance[i]), 4), attributes=attrs)
        )

    shown = float(audience.impressions[members].sum()) if n else 0.0
    clicked = float(audience.clicks[members].sum()) if n else 0.0
    predicted = float(grp_rates.mean())
    profile = GroupProfile(
        summary="",
        size=n,
        share=round(n / n_all, 4) if n_all else 0.0,
        predicted_rate=round(predicted, 5),
        observed_rate=round(clicked / shown, 5) if shown else None,
        impressions=int(shown),
        distinctive=distinctive,
        numeric=numeric[:top_levels],
        creatives=creatives,
        interests=interests,
        representatives=reps,
        withheld=withheld,
    )
    profile.summary = summarize(
        profile,
        index=index,
        k=k,
        product_name=product_name,
        population_rate=float(pop_rates.mean()),
    )
    return profile


def summarize(
    profile: GroupProfile, *, index: int, k: int, product_name: str, population_rate: float
) -> str:
    """One paragraph a planner (or a person) can read; states only what the profile holds."""
    parts = [
        f"Group {index + 1} of {k} for {product_name}: {profile.size} users "
        f"({profile.share:.0%} of the audience), expected click rate "
        f"{profile.predicted_rate:.1%} against {population_rate:.1%} overall."
    ]
    if profile.creatives:
        best = profile.creatives[0]
        theme = f" ({profile.interests[0]})" if profile.interests else ""
        parts.append(
            f"Of the product's creatives it favours {best.item_id}{theme} most against the "
            f"audience, at {best.lift:.2f}x the audience's rate."
        )
    if profile.distinctive:
        levels = ", ".join(
            f"{a.attribute.replace('_', ' ')} {a.level} ({a.share:.0%} vs {a.population_share:.0%})"
            for a in profile.distinctive
        )
        parts.append(f"More often: {levels}.")
    shifts = [s for s in profile.numeric if abs(s.shift) >= 0.25]
    if shifts:
        words = ", ".join(
            f"{'higher' if s.shift > 0 else 'lower'} {s.attribute.replace('_', ' ')} "
            f"({s.shift:+.1f} sd)"
            for s in shifts
        )
        parts.append(f"Compared with the audience: {words}.")
    return " ".join(parts)
