"""The Verifier's interface: a creative in, a Verdict with localized evidence out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from adloom.domain import (
    Campaign,
    Creative,
    CreativePlan,
    FairnessAudit,
    User,
    UserProfile,
    Verdict,
)


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

    def audit(
        self, plans: Sequence[CreativePlan], users: Sequence[User], campaign: Campaign
    ) -> FairnessAudit:
        """Audit a campaign's variants across demographic groups (stereotypes, exclusion).

        Fairness is a property of the set of creatives, not of one, so it has its own
        entry point; the default applies adloom's audit with its default thresholds.
        """
        from adloom.verifier.fairness import audit_fairness

        return audit_fairness(plans, users, campaign, None)
