"""User-product matching: which interest to lean on and which product facets to stress.

Facets are what the product can truthfully be about: its selling points, its verified
claims and its category. Each (interest, facet) pair is scored

    score(i, f)    = to_score(cos(v_i, v_f))                     in 0..1
    weighted(i, f) = score(i, f) * (0.5 + 0.5 * w_i / w_max)
    compatibility  = max over (i, f) of weighted(i, f)

where ``v_i`` embeds the interest label with its keywords, ``v_f`` the facet text,
``to_score`` is the embedder's calibration (0 at the cosine of unrelated texts, 1 at
that of clearly related ones) and ``w_i`` the interest's share of the history. The
weight factor runs from 0.5 to 1, so the user's main interest is preferred but a minor
interest that fits the product clearly can still win: compatibility over naive top-
interest matching. Below the threshold the generic creative is used rather than a
forced match.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from adloom.director.embeddings import Embedder, Vectors
from adloom.domain import FacetScore, Interest, MatchDecision, Product, UserProfile
from adloom.lexicons import is_clean_label


def is_sensitive(label: str) -> bool:
    """Whether leaning on ``label`` in an ad could reveal a trait or carry an instruction.

    The lexicons are shared with the Verifier's privacy check, so the Director never
    picks an interest the gatekeeper would reject.
    """
    return not is_clean_label(label)


@dataclass(frozen=True)
class Facet:
    text: str
    kind: str  # "point", "claim" or "category"
    claim_id: str | None = None


def facets_of(product: Product) -> list[Facet]:
    """The product's facets in its own order, duplicates (case-insensitive) dropped."""
    out: list[Facet] = []
    seen: set[str] = set()
    candidates = [Facet(p, "point") for p in product.selling_points]
    candidates += [Facet(c.text, "claim", c.id) for c in product.verified_claims]
    candidates.append(Facet(product.category, "category"))
    for f in candidates:
        key = " ".join(f.text.split()).casefold()
        if key and (key not in seen or f.claim_id is not None):
            seen.add(key)
            out.append(f)
    return out


def interest_text(interest: Interest) -> str:
    """What represents an interest: its label and keywords (derivable from the profile)."""
    if not interest.keywords:
        return interest.label
    return f"{interest.label}: {', '.join(interest.keywords)}"


@dataclass
class Match:
    """The decision plus what the storyboard needs: claims in order of relevance."""

    decision: MatchDecision
    claim_order: list[str] = field(default_factory=list)


class Matcher:
    """Scores profiles against products; facet vectors are cached per product."""

    def __init__(self, embedder: Embedder, *, top_k: int = 5, cache_products: int = 1024) -> None:
        self.embedder = embedder
        self.top_k = top_k
        self._cache_size = cache_products
        self._facets: OrderedDict[tuple[object, ...], tuple[list[Facet], Vectors]] = OrderedDict()
        self._lock = threading.Lock()

    def product_facets(self, product: Product) -> tuple[list[Facet], Vectors]:
        key = (
            product.id,
            product.category,
            tuple(product.selling_points),
            tuple((c.id, c.text) for c in product.verified_claims),
        )
        with self._lock:
            hit = self._facets.get(key)
            if hit is not None:
                self._facets.move_to_end(key)
                return hit
        facets = facets_of(product)
        entry = (facets, self.embedder.embed([f.text for f in facets]))
        if self._cache_size > 0:
            with self._lock:
                self._facets[key] = entry
                while len(self._facets) > self._cache_size:
                    self._facets.popitem(last=False)
        return entry

    def match(self, profile: UserProfile, product: Product, threshold: float) -> Match:
        generic_order = [c.id for c in product.verified_claims]
        if not profile.personalizable:
            return Match(
                MatchDecision(
                    compatibility=0.0,
                    threshold=threshold,
                    personalized=False,
                    rationale=f"generic: {profile.reason}",
                ),
                generic_order,
            )
        interests = [i for i in profile.interests if not is_sensitive(i.label)]
        if not interests:
            why = "sensitive interests only" if profile.interests else "no topical interest found"
            return Match(
                MatchDecision(
                    compatibility=0.0,
                    threshold=threshold,
                    personalized=False,
                    rationale=f"generic: {why}",
                ),
                generic_order,
            )
        facets, fvecs = self.product_facets(product)
        ivecs = self.embedder.embed([interest_text(i) for i in interests])
        weights = np.array([i.weight for i in interests], dtype=np.float64)
        factor = 0.5 + 0.5 * weights / max(float(weights.max()), 1e-9)
        scores = self.embedder.to_score(ivecs @ fvecs.T) * factor[:, None]  # (interests, facets)

        # Best pairs, best first; ties resolve by interest then facet order (deterministic).
        flat = sorted(
            (
                (float(scores[i, j]), i, j)
                for i in range(scores.shape[0])
                for j in range(len(facets))
            ),
            key=lambda t: (-round(t[0], 9), t[1], t[2]),
        )
        best, bi, bj = flat[0]
        compatibility = round(min(1.0, max(0.0, best)), 4)
        interest = interests[bi].label
        top = [
            FacetScore(
                facet=facets[j].text,
                interest=interests[i].label,
                score=round(s, 4),
            )
            for s, i, j in flat[: self.top_k]
        ]
        pair = f"{interest!r} x {facets[bj].text!r} scores {compatibility:.2f}"
        personalized = compatibility >= threshold
        rationale = (
            f"personalized: {pair} >= threshold {threshold:.2f}"
            if personalized
            else f"generic: best pair {pair} < threshold {threshold:.2f}"
        )
        # Claims ranked by their score against the interest the creative leans on.
        claim_rank = {
            f.claim_id: float(scores[bi, j]) for j, f in enumerate(facets) if f.claim_id is not None
        }
        claim_order = generic_order
        if personalized:
            claim_order = sorted(
                generic_order,
                key=lambda cid: (-round(claim_rank.get(cid, 0.0), 9), generic_order.index(cid)),
            )
        decision = MatchDecision(
            compatibility=compatibility,
            threshold=threshold,
            personalized=personalized,
            interest=interest if personalized else None,
            facets=top,
            rationale=rationale,
        )
        return Match(decision, claim_order)
