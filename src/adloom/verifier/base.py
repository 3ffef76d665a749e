"""The Verifier's interface: a creative in, a Verdict with localized evidence out."""

from __future__ import annotations

from abc import ABC, abstractmethod

from adloom.domain import Campaign, Creative, CreativePlan, UserProfile, Verdict


class Verifier(ABC):
    name: str = "verifier"

    @abstractmethod
    def verify(
        self,
        creative: Creative,
        plan: CreativePlan,
        campaign: Campaign,
        profile: UserProfile | None = None,
        *,
        reference: CreativePlan | None = None,
    ) -> Verdict:
        """Check ``creative`` against its plan and the campaign's products and policy.

        ``reference`` is the product's generic plan: personalization is judged against it.
        """
