"""An in-memory snapshot of what may be served, so no request waits on the database.

The snapshot is rebuilt from the store on every management write and every few seconds;
if the store is down, the last good snapshot keeps serving.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import is_
from typing import Generic, TypeVar

from adloom.domain import RESOLUTIONS
from adloom.store import (
    Advertiser,
    CampaignRecord,
    ConsentRecord,
    CreativeRecord,
    Store,
    Unavailable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    advertisers: dict[str, Advertiser] = field(default_factory=dict)
    by_key: dict[str, Advertiser] = field(default_factory=dict)
    campaigns: dict[tuple[str, str], CampaignRecord] = field(default_factory=dict)
    active: tuple[CampaignRecord, ...] = ()
    generic: dict[tuple[str, str], tuple[CreativeRecord, ...]] = field(default_factory=dict)
    personalized: dict[tuple[str, str, str], tuple[CreativeRecord, ...]] = field(
        default_factory=dict
    )
    consent: dict[tuple[str, str], ConsentRecord] = field(default_factory=dict)
    creatives: dict[tuple[str, str], CreativeRecord] = field(default_factory=dict)
    #: (advertiser, campaign, aspect ratio) -> the campaign's generic candidates for it,
    #: sifted on first use: most requests get exactly these, so none repeats the sifting.
    _generic_for: dict[tuple[str, str, str], tuple[tuple[CampaignRecord, CreativeRecord], ...]] = (
        field(default_factory=dict, compare=False, repr=False)
    )

    def generic_candidates(
        self, camp: CampaignRecord, aspect: str
    ) -> tuple[tuple[CampaignRecord, CreativeRecord], ...]:
        """``(campaign, creative)`` for the campaign's generic creatives of ``aspect``."""
        key = (camp.advertiser_id, camp.campaign.id, aspect)
        hit = self._generic_for.get(key)
        if hit is None:
            recs = of_aspect(self.generic.get((camp.advertiser_id, camp.campaign.id), ()), aspect)
            hit = self._generic_for[key] = tuple((camp, r) for r in recs)
        return hit

    @classmethod
    def load(cls, store: Store) -> Snapshot:
        advertisers = {a.id: a for a in store.list(Advertiser)}
        by_key = {h: a for a in advertisers.values() for h in a.key_hashes}
        campaigns: dict[tuple[str, str], CampaignRecord] = {}
        generic: dict[tuple[str, str], list[CreativeRecord]] = defaultdict(list)
        personal: dict[tuple[str, str, str], list[CreativeRecord]] = defaultdict(list)
        consent: dict[tuple[str, str], ConsentRecord] = {}
        creatives: dict[tuple[str, str], CreativeRecord] = {}
        for adv in advertisers:
            for camp in store.list(CampaignRecord, advertiser_id=adv):
                campaigns[(adv, camp.id)] = camp
            for rec in store.list(CreativeRecord, advertiser_id=adv):
                creatives[(adv, rec.creative_id)] = rec
                if rec.decision != "accept":
                    continue
                if rec.kind == "generic":
                    generic[(adv, rec.campaign_id)].append(rec)
                elif rec.user_id is not None:
                    personal[(adv, rec.campaign_id, rec.user_id)].append(rec)
            for c in store.list(ConsentRecord, advertiser_id=adv):
                consent[(adv, c.user_id)] = c
        active = tuple(
            c for key, c in sorted(campaigns.items()) if c.status == "active" and generic.get(key)
        )
        return cls(
            advertisers=advertisers,
            by_key=by_key,
            campaigns=campaigns,
            active=active,
            generic={k: tuple(v) for k, v in generic.items()},
            personalized={k: tuple(v) for k, v in personal.items()},
            consent=consent,
            creatives=creatives,
        )


def of_aspect(recs: Sequence[CreativeRecord], aspect: str) -> Sequence[CreativeRecord]:
    """Creatives of the requested aspect ratio; any, if none has it (for a known ratio)."""
    same = [r for r in recs if r.context.aspect_ratio == aspect]
    return same or (recs if aspect in RESOLUTIONS else [])


class Catalog:
    """Holds the current snapshot; ``refresh`` swaps in a new one atomically."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.snapshot = Snapshot()
        self.stale = True
        self.loaded_at = 0.0
        self.revision: int | None = None
        self._lock = threading.Lock()

    def refresh(self, *, if_changed: bool = False) -> bool:
        """Reload from the store; on failure keep serving the last snapshot.

        With ``if_changed`` the store's catalog revision is read first and nothing is
        reloaded when it has not moved: the periodic refresh then costs one small read,
        and no new snapshot (thousands of objects for the collector) every few seconds.
        Returns whether a new snapshot was loaded.
        """
        with self._lock:
            try:
                # Read before loading: a write landing meanwhile moves the revision past
                # this one, so the next refresh picks it up.
                revision = self.store.revision()
                unchanged = revision is not None and revision == self.revision
                if if_changed and unchanged and not self.stale:
                    self.loaded_at = time.monotonic()
                    return False
                self.snapshot = Snapshot.load(self.store)
            except Unavailable as exc:
                if not self.stale:
                    log.warning("catalog refresh failed, serving the last snapshot: %s", exc)
                self.stale = True
                return False
            self.revision = revision
            self.stale = False
            self.loaded_at = time.monotonic()
            return True

    def refresh_if_older(self, seconds: float) -> bool:
        """Reload unless the snapshot is younger than ``seconds``; bounds how often a
        stream of unknown API keys can make the server re-read the store."""
        if time.monotonic() - self.loaded_at < seconds:
            return False
        return self.refresh(if_changed=True)


class PerCreative(Generic[T]):
    """Values built from a creative's catalog records (its VAST, its part of an answer),
    kept by (advertiser, creative) while the snapshot keeps serving those same records.

    A refresh replaces the records, so a value built from replaced ones is rebuilt on its
    next use; ``sources`` are compared by identity, which costs nothing per request.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._values: dict[tuple[str, str], tuple[tuple[object, ...], T]] = {}
        self._limit = limit

    def get(self, rec: CreativeRecord, sources: tuple[object, ...], build: Callable[[], T]) -> T:
        key = (rec.advertiser_id, rec.creative_id)
        hit = self._values.get(key)
        if hit is not None and len(hit[0]) == len(sources) and all(map(is_, hit[0], sources)):
            return hit[1]
        value = build()
        if len(self._values) >= self._limit:
            self._values.clear()
        self._values[key] = (sources, value)
        return value
