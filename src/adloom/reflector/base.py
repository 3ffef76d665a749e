"""The Reflector's interface: read why a creative failed and say what to change.

The Verifier only judges; the Reflector explains. It attributes each failure either to
the plan (what the Director decided) or to the execution (how the Producer made it) and
answers with minimal, typed directives, so a revision touches the one scene or string at
fault instead of planning the whole creative again. After serving, it reads viewer
feedback the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from adloom.domain import Campaign, CreativePlan, Event, Reflection, UserProfile, Verdict
from adloom.reflector.feedback import FeedbackResult


class Reflector(ABC):
    name: str = "reflector"

    @abstractmethod
    def reflect(
        self,
        verdict: Verdict,
        plan: CreativePlan,
        campaign: Campaign,
        profile: UserProfile | None = None,
    ) -> Reflection:
        """Attribute every failed check of ``verdict`` and propose directives that fix it.

        No directive means nothing can repair the creative (it stays rejected or revised).
        """

    @abstractmethod
    def feedback(
        self,
        events: Sequence[Event],
        plan: CreativePlan,
        profile: UserProfile | None = None,
    ) -> FeedbackResult:
        """Directives and profile updates that one served creative's events justify."""
