"""The Director's interface: turn a user, a product and a context into a CreativePlan."""

from __future__ import annotations

from abc import ABC, abstractmethod

from adloom.domain import Campaign, Context, CreativePlan, Product, User, UserProfile


class Planner(ABC):
    """Plans one creative. ``user=None`` asks for the generic (no user data) creative."""

    name: str = "planner"

    @abstractmethod
    def profile(self, user: User, campaign: Campaign) -> UserProfile:
        """Model the user from their history; never personalizes without consent."""

    @abstractmethod
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
        """A plan for ``product`` in ``context``: personalized for ``user`` when allowed
        and compatible enough, otherwise generic, with the reason in ``plan.matching``."""


def compatibility_threshold(override: float | None, campaign: Campaign) -> float:
    """The user-product compatibility below which a plan is generic: a planner's own
    ``min_compatibility`` when it sets one, else the campaign's policy."""
    return campaign.policy.min_compatibility if override is None else override
