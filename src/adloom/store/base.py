"""The store interfaces: a catalog of what may be served and an append-only event log."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from adloom.domain import Decision, Event
from adloom.store.records import (
    Advertiser,
    CampaignRecord,
    ConsentRecord,
    CreativeRecord,
    CreativeTotals,
    Record,
)

R = TypeVar("R", Advertiser, CampaignRecord, CreativeRecord, ConsentRecord)


class Unavailable(Exception):  # noqa: N818 - reads as "store.Unavailable"
    """The backing service (database, Redis) cannot be reached right now.

    Callers on the serving path catch it and degrade (cached catalog, buffered events,
    generic fallback) instead of failing the request.
    """


class Catalog(ABC):
    """Advertisers, campaigns, creatives and consent, each keyed within its advertiser."""

    @abstractmethod
    def put(self, record: Record) -> None:
        """Insert or replace ``record`` (keyed by id within its advertiser)."""

    @abstractmethod
    def get(self, kind: type[R], key: str, *, advertiser_id: str | None = None) -> R | None:
        """One record by key; ``advertiser_id`` is required for everything but advertisers."""

    @abstractmethod
    def list(
        self,
        kind: type[R],
        *,
        advertiser_id: str | None = None,
        campaign_id: str | None = None,
    ) -> list[R]:
        """Records of ``kind``, scoped to an advertiser (and campaign, for creatives)."""

    def revision(self) -> int | None:
        """A number that changes whenever a catalog record is written; None when the
        backend cannot tell, so readers must reload to be sure."""
        return None


class EventLog(ABC):
    """Decisions and events, append-only and idempotent."""

    @abstractmethod
    def append(self, decisions: Sequence[Decision] = (), events: Sequence[Event] = ()) -> int:
        """Write decisions (keyed by id) and events (keyed by decision id and type).

        Records already present are skipped, so retries after an outage never double
        count. Returns how many events were new.
        """

    @abstractmethod
    def totals(self, advertiser_id: str, campaign_id: str) -> list[CreativeTotals]:
        """Per-creative counts for one campaign of one advertiser."""

    @abstractmethod
    def history(
        self, advertiser_id: str, campaign_id: str, since: datetime | None = None
    ) -> tuple[list[Decision], list[Event]]:
        """The logged decisions and events of a campaign, oldest first (for measurement)."""


class Store(Catalog, EventLog):
    """A backend that is both; ``close`` releases connections."""

    def ping(self) -> bool:
        """Whether the backing service answers now."""
        return True

    def close(self) -> None:
        """Release connections; the default has none."""
