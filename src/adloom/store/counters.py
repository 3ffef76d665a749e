"""Online counters (frequency caps, fatigue): in-process by default, Redis at scale."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence


class Counters(ABC):
    """Integer counters that expire, read and bumped on every served impression.

    Implementations raise :class:`adloom.store.Unavailable` when their service is down;
    the serving layer then falls back to the generic creative.
    """

    @abstractmethod
    def get(self, keys: Sequence[str]) -> list[int]:
        """Current values (0 for a missing or expired key), in the order of ``keys``."""

    @abstractmethod
    def incr(self, keys: Sequence[str], ttl_s: int) -> None:
        """Add one to each key; a key's expiry is set when it is created."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has none."""
