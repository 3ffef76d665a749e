"""The embedded Director: embeddings, rules and approved copy; no language model.

``TemplatePlanner`` runs the four Director steps in order: user modeling
(:mod:`.profile`), user-product matching (:mod:`.matching`), storyboard
(:mod:`.storyboard`) and asset grounding (:mod:`.grounding`). It can only say what the
advertiser approved, so its plans are grounded by construction, and it is deterministic:
the same inputs and seed give the same plan. It runs offline on a CPU; for many users
and products use :meth:`TemplatePlanner.plan_batch`, which profiles each user once and
embeds all texts in a few large batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from adloom import registry
from adloom.director.base import Planner, compatibility_threshold
from adloom.director.embeddings import Embedder
from adloom.director.grounding import ground_assets
from adloom.director.matching import Match, Matcher, facets_of
from adloom.director.profile import Profiler
from adloom.director.storyboard import MAX_ON_SCREEN_CHARS, build_storyboard
from adloom.domain import (
    CallToAction,
    Campaign,
    Context,
    CreativePlan,
    Disclosure,
    MatchDecision,
    Product,
    User,
    UserProfile,
)
from adloom.errors import AdloomError
from adloom.registry import Backend, BackendConfig


class TemplatePlannerConfig(BackendConfig):
    type: Literal["template"] = "template"
    embedder: str | dict[str, Any] = Field(
        "minilm", description="Embedder backend: a short name or a config with 'type'."
    )
    min_compatibility: float | None = Field(
        None, ge=0.0, le=1.0, description="Overrides campaign.policy.min_compatibility."
    )
    max_interests: int = Field(5, ge=1, le=10)
    max_history: int = Field(200, ge=1, description="Most recent history items read.")
    max_on_screen_chars: int = Field(MAX_ON_SCREEN_CHARS, ge=12, le=120)
    facet_cache: int = Field(1024, ge=0, description="Products whose facet vectors are kept.")


class TemplatePlanner(Planner, Backend[TemplatePlannerConfig]):
    """Grounded, deterministic planning from embeddings and approved copy."""

    name = "template"  # type: ignore[misc]  # Planner declares it per instance, Backend per class
    Config: ClassVar[type[BackendConfig]] = TemplatePlannerConfig

    def __init__(
        self, config: TemplatePlannerConfig | None = None, *, embedder: Embedder | None = None
    ) -> None:
        Backend.__init__(self, config)
        self._embedder = embedder
        self._profiler: Profiler | None = None
        self._matcher: Matcher | None = None

    # ------------------------------------------------------------------ components

    @property
    def embedder(self) -> Embedder:
        """Created on first use, so building a planner never loads a model."""
        if self._embedder is None:
            embedder: Embedder = registry.create("embedder", self.config.embedder, "minilm")
            self._embedder = embedder
        return self._embedder

    @property
    def profiler(self) -> Profiler:
        if self._profiler is None:
            self._profiler = Profiler(
                self.embedder,
                max_interests=self.config.max_interests,
                max_history=self.config.max_history,
            )
        return self._profiler

    @property
    def matcher(self) -> Matcher:
        if self._matcher is None:
            self._matcher = Matcher(self.embedder, cache_products=self.config.facet_cache)
        return self._matcher

    def warm_up(self, products: Iterable[Product] = ()) -> None:
        """Load the model and embed prototypes (and product facets) ahead of traffic."""
        self.profiler.warm_up()
        for product in products:
            self.matcher.product_facets(product)

    # ------------------------------------------------------------------ Planner

    def profile(self, user: User, campaign: Campaign | None = None) -> UserProfile:
        return self.profiler.profile(user)

    def threshold(self, campaign: Campaign) -> float:
        return compatibility_threshold(self.config.min_compatibility, campaign)

    def plan(
        self,
        campaign: Campaign,
        product: Product,
        context: Context,
        user: User | None = None,
        profile: UserProfile | None = None,
        *,
        seed: int = 0,
    ) -> CreativePlan:
        if user is not None and profile is not None and profile.user_id != user.id:
            raise AdloomError(f"profile is for user {profile.user_id!r}, not {user.id!r}")
        if user is not None and profile is None:
            profile = self.profile(user, campaign)
        threshold = self.threshold(campaign)
        if profile is None:
            match = Match(
                MatchDecision(
                    compatibility=0.0,
                    threshold=threshold,
                    personalized=False,
                    rationale="generic: no user given",
                ),
                [c.id for c in product.verified_claims],
            )
        else:
            match = self.matcher.match(profile, product, threshold)
        decision = match.decision
        personalized = decision.personalized and profile is not None

        story = build_storyboard(
            product,
            context,
            claim_order=match.claim_order,
            interest=decision.interest if personalized else None,
            style=profile.style[0].label if personalized and profile and profile.style else None,
            seed=seed,
            max_on_screen_chars=self.config.max_on_screen_chars,
        )
        grounded = ground_assets(
            story.scenes,
            product,
            personalized=personalized,
            profile=profile,
            user=user,
            interest=decision.interest,
        )
        notes = [decision.rationale, *story.notes, *grounded.notes]
        who = user.id if user is not None else (profile.user_id if profile else "generic")
        aspect = context.aspect_ratio.replace(":", "x")
        return CreativePlan(
            plan_id=f"{campaign.id}.{product.id}.{who}.{aspect}.{context.duration_s:g}s.s{seed}",
            campaign_id=campaign.id,
            product_id=product.id,
            user_id=who if personalized else None,
            kind="personalized" if personalized else "generic",
            profile_summary=profile.summary if personalized and profile else "",
            matching=decision,
            context=context,
            tone=profile.tone if personalized and profile else "neutral",
            palette=grounded.palette,
            logo_asset=grounded.logo_asset,
            scenes=grounded.scenes,
            cta=CallToAction(text=story.cta, url=product.landing_url),
            disclosure=Disclosure(text=campaign.policy.disclosure_text),
            seed=seed,
            planner=self.name,
            notes=notes,
        )

    # ------------------------------------------------------------------ batches

    def profile_many(self, users: Sequence[User]) -> dict[str, UserProfile]:
        """Profiles for many users; all history texts are embedded in one batched pass."""
        texts = [
            t for u in users if u.consent.personalization for t in self.profiler.history_texts(u)
        ]
        if texts:
            self.embedder.embed(texts)  # fills the cache the per-user profiling reads
        return {u.id: self.profiler.profile(u) for u in users}

    def plan_batch(
        self,
        campaign: Campaign,
        users: Sequence[User],
        products: Sequence[Product] | None = None,
        contexts: Sequence[Context] | None = None,
        *,
        seed: int = 0,
    ) -> list[CreativePlan]:
        """Plans for every (user, product, context): each user profiled once, each
        product's facets embedded once."""
        products = list(products if products is not None else campaign.products)
        contexts = list(contexts if contexts is not None else campaign.contexts)
        all_facets = [f.text for p in products for f in facets_of(p)]
        if all_facets:
            self.embedder.embed(all_facets)
        profiles = self.profile_many(users)
        return [
            self.plan(campaign, product, context, user, profiles[user.id], seed=seed)
            for user in users
            for product in products
            for context in contexts
        ]
