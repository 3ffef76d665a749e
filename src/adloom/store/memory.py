"""In-process counters: the default for one server process, no service to run.

Every key holds ``[count, expires_at]`` in one dict, so a read or a bump is a dict lookup
under one lock. Expired keys read as 0 at once; their memory is reclaimed a few at a time
by the calls that create keys (a heap ordered by expiry says which to drop), so there is
no background thread and no call ever pays for a full sweep.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Sequence
from typing import ClassVar, Literal

from pydantic import Field

from adloom.registry import Backend, BackendConfig
from adloom.store.counters import Counters

#: Expired keys reclaimed per key created: more than one, so the backlog always shrinks.
_PURGE_PER_CREATE = 4


class MemoryCountersConfig(BackendConfig):
    type: Literal["memory"] = "memory"
    max_keys: int = Field(
        5_000_000,
        ge=1,
        description="Live keys kept at most; past it the keys closest to expiry are dropped.",
    )


class MemoryCounters(Counters, Backend[MemoryCountersConfig]):
    """Thread-safe expiring counters in a dict, shared by every request of one process.

    ``clock`` (seconds, monotonic) is injectable so expiry can be tested without sleeping.
    """

    name: ClassVar[str] = "memory"
    Config: ClassVar[type[BackendConfig]] = MemoryCountersConfig

    def __init__(
        self,
        config: MemoryCountersConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        Backend.__init__(self, config)
        self._clock = clock
        self._max_keys = self.config.max_keys
        self._lock = threading.Lock()
        self._values: dict[str, list[float]] = {}
        # (expires_at, key) per creation; an entry whose key was since re-created is stale
        # and skipped when popped.
        self._expiry: list[tuple[float, str]] = []

    def get(self, keys: Sequence[str]) -> list[int]:
        now = self._clock()
        out: list[int] = []
        with self._lock:
            values = self._values
            for key in keys:
                entry = values.get(key)
                out.append(0 if entry is None or entry[1] <= now else int(entry[0]))
        return out

    def incr(self, keys: Sequence[str], ttl_s: int) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        now = self._clock()
        expires = now + ttl_s
        with self._lock:
            values = self._values
            created = 0
            for key in keys:
                entry = values.get(key)
                if entry is None or entry[1] <= now:
                    values[key] = [1, expires]
                    heapq.heappush(self._expiry, (expires, key))
                    created += 1
                else:
                    entry[0] += 1
            if created:
                self._purge(now, created * _PURGE_PER_CREATE)
                if len(values) > self._max_keys:
                    self._evict(len(values) - self._max_keys)

    def __len__(self) -> int:
        """Keys held, expired ones not yet reclaimed included (for tests and metrics)."""
        with self._lock:
            return len(self._values)

    def _purge(self, now: float, budget: int) -> None:
        """Drop up to ``budget`` expired heap entries (caller holds the lock)."""
        heap, values = self._expiry, self._values
        while budget and heap and heap[0][0] <= now:
            expires, key = heapq.heappop(heap)
            entry = values.get(key)
            if entry is not None and entry[1] == expires:
                del values[key]
            budget -= 1

    def _evict(self, count: int) -> None:
        """Drop the ``count`` live keys closest to expiry: they matter least (lock held)."""
        heap, values = self._expiry, self._values
        while count and heap:
            expires, key = heapq.heappop(heap)
            entry = values.get(key)
            if entry is not None and entry[1] == expires:
                del values[key]
                count -= 1
