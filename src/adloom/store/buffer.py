"""The serving path's writer: decisions and events leave the request at memory speed.

A request only appends to an in-memory queue; one background thread writes the queue to
the store in batches. When the store is down the queue waits and the thread retries with
a capped backoff, so an outage costs latency on nothing and loses nothing. Past
``max_buffered`` records the oldest go to JSONL spool files (each written to a temporary
name and renamed, so a crash never leaves half a file), which are replayed before anything
newer, also by the next process that starts on the same spool directory. The store's
append is idempotent, so a retry or a replay that overlaps what was already written never
counts twice.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from adloom.domain import Decision, Event
from adloom.errors import AdloomError
from adloom.store.base import EventLog, Unavailable

log = logging.getLogger(__name__)

Item = Decision | Event

_SPOOL_GLOB = "spool-*.jsonl"
_LINES_PER_WRITE = 10_000


def _line(item: Item) -> str:
    tag = "decision" if isinstance(item, Decision) else "event"
    return f'{{"{tag}":{item.model_dump_json()}}}\n'


def _parse(line: str) -> Item:
    obj = json.loads(line)
    if "decision" in obj:
        return Decision.model_validate(obj["decision"])
    return Event.model_validate(obj["event"])


class _Seen:
    """Recently seen keys in two generations: a bounded, O(1) approximation of an LRU.

    When the young generation fills up it becomes the old one and the previous old one is
    forgotten; a hit in the old generation is promoted. So at least ``size // 2`` of the
    most recent keys are always remembered, never more than ``size``.
    """

    def __init__(self, size: int) -> None:
        self._half = max(1, size // 2)
        self._young: set[int] = set()
        self._old: set[int] = set()
        self._lock = threading.Lock()

    def check_and_add(self, key: int) -> bool:
        with self._lock:
            if key in self._young:
                return True
            hit = key in self._old
            if len(self._young) >= self._half:
                self._old, self._young = self._young, set()
            self._young.add(key)
            return hit


class BufferedLog:
    """Queue decisions and events in memory; a background thread writes them in batches."""

    def __init__(
        self,
        store: EventLog,
        *,
        interval_s: float = 0.2,
        batch: int = 500,
        max_buffered: int = 1_000_000,
        spool_dir: str | Path | None = None,
        max_backoff_s: float = 2.0,
        seen_size: int = 1_000_000,
    ) -> None:
        if interval_s <= 0 or batch < 1 or max_buffered < 1 or max_backoff_s <= 0:
            raise AdloomError(
                "buffer: interval_s and max_backoff_s must be > 0, batch and max_buffered >= 1"
            )
        self.store = store
        self.interval_s = interval_s
        self.batch = batch
        self.max_buffered = max_buffered
        self.max_backoff_s = max_backoff_s
        self.spool_dir = Path(spool_dir) if spool_dir is not None else None
        self._queue: deque[Item] = deque()
        self._lock = threading.Lock()
        self._written = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flush_now = False
        self._healthy = True
        self._closed = False
        self._warned_full = False
        self._seen = _Seen(seen_size)
        self._spool: deque[tuple[Path, int]] = deque()
        self._spool_done = 0  # lines of the first spool file already written
        self._spooled = 0
        self._seq = itertools.count()
        if self.spool_dir is not None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            for path in sorted(self.spool_dir.glob(_SPOOL_GLOB)):
                with path.open("rb") as fh:
                    lines = sum(1 for _ in fh)
                self._spool.append((path, lines))
                self._spooled += lines
            if self._spooled:
                log.info("replaying %d spooled records from %s", self._spooled, self.spool_dir)
        self._thread = threading.Thread(target=self._run, name="adloom-event-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ request path

    def add(self, decisions: Sequence[Decision] = (), events: Sequence[Event] = ()) -> None:
        """Queue records for writing; returns at once and never touches the database."""
        if self._closed:
            raise AdloomError("event log is closed: records can no longer be added")
        for ev in events:
            if not ev.decision_id:
                raise AdloomError(
                    f"{ev.type} event of creative {ev.creative_id!r} has no decision_id: "
                    "events are only counted once per (decision_id, type)"
                )
        with self._lock:
            self._queue.extend(decisions)
            self._queue.extend(events)
            size = len(self._queue)
        if size >= self.batch and not self._wake.is_set():  # set() takes a lock: once will do
            self._wake.set()

    def seen(self, decision_id: str, type: str) -> bool:
        """Whether this (decision_id, type) came recently; marks it seen either way.

        Lets the HTTP layer answer a retried tracking call without queueing it; the
        store stays the authority, so a pair forgotten here is still counted once.
        """
        return self._seen.check_and_add(hash((decision_id, type)))

    def pending(self) -> int:
        """Records not yet in the store, in memory and in the spool."""
        with self._lock:
            return len(self._queue) + self._spooled - self._spool_done

    @property
    def healthy(self) -> bool:
        """Whether the last write to the store succeeded."""
        return self._healthy

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Write now and wait up to ``timeout_s``; True when nothing is left to write."""
        deadline = time.monotonic() + timeout_s
        with self._written:
            while not self._done():
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    break
                # Again each time: a pass writes what was queued when it began.
                self._flush_now = True
                self._wake.set()
                self._written.wait(min(left, 0.05))
        return self._done()

    def _done(self) -> bool:
        """Nothing queued and no spool file left (its last records may be in, the file not)."""
        with self._lock:
            return not self._queue and not self._spool

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what can be written, then spool the rest so the next start replays it."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        with self._lock:
            left = list(self._queue)
        if not left:
            return
        if self.spool_dir is not None and self._spill(left):
            log.warning("event store unavailable at shutdown: %d records spooled", len(left))
        else:
            log.error("event store unavailable at shutdown: %d records lost", len(left))

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        backoff = 0.0
        next_try = 0.0
        while not self._stop.is_set():
            wait = self.interval_s if self._healthy else max(0.0, next_try - time.monotonic())
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                break
            if not self._healthy and time.monotonic() < next_try and not self._flush_now:
                self._spill_excess()  # woken by a filling queue while the store is down
                continue
            self._flush_now = False
            if self._drain_safely():
                backoff = 0.0
            else:
                backoff = min(self.max_backoff_s, max(self.interval_s, backoff * 2))
                next_try = time.monotonic() + backoff
                self._spill_excess()
        self._drain_safely()  # the last chance before close() spools the rest

    def _drain_safely(self) -> bool:
        """:meth:`_drain`, but an unexpected error is logged and retried, never fatal."""
        try:
            return self._drain()
        except Exception:
            log.exception("event writer failed; retrying")
            self._healthy = False
            return False

    def _drain(self) -> bool:
        """Write the spool, then the queue, in batches; False when the store is down."""
        try:
            self._replay_spool()
            # Only what is queued now: records arriving meanwhile wait for the next pass (a
            # full batch or the next tick). Chasing them would write ever smaller batches,
            # each paying a transaction, while traffic flows.
            with self._lock:
                left = len(self._queue)
            while left > 0:
                with self._lock:
                    items = list(itertools.islice(self._queue, 0, min(self.batch, left)))
                if not items:
                    break
                left -= len(items)
                self._write(items)
                with self._lock:
                    for item in items:  # close() may have taken them meanwhile
                        if not self._queue or self._queue[0] is not item:
                            break
                        self._queue.popleft()
                self._notify()
        except Unavailable as exc:
            if self._healthy:
                log.warning("event store unavailable, buffering: %s", exc)
            self._healthy = False
            self._notify()
            return False
        if not self._healthy:
            log.info("event store back; buffer written")
        self._healthy = True
        self._warned_full = False
        return True

    def _notify(self) -> None:
        with self._written:
            self._written.notify_all()

    def _write(self, items: Sequence[Item]) -> None:
        """Append one batch; a record the store refuses is set aside, not retried forever."""
        decisions = [i for i in items if isinstance(i, Decision)]
        events = [i for i in items if isinstance(i, Event)]
        try:
            self.store.append(decisions, events)
            self._healthy = True
            return
        except Unavailable:
            raise
        except Exception:
            if len(items) == 1:
                log.exception("event store refused a record; setting it aside")
                self._reject(items)
                return
            log.exception("event store refused a batch; writing it one record at a time")
        for item in items:
            self._write([item])

    def _reject(self, items: Sequence[Item]) -> None:
        if self.spool_dir is None:
            return
        path = self.spool_dir / f"rejected-{os.getpid()}.jsonl"
        try:
            with path.open("a", encoding="utf-8") as fh:
                fh.writelines(_line(i) for i in items)
        except OSError:
            log.exception("cannot set aside refused records in %s", path)

    # ------------------------------------------------------------------ spool

    def _spill_excess(self) -> None:
        """Move the whole queue to a spool file once it holds more than ``max_buffered``."""
        with self._lock:
            size = len(self._queue)
            items = list(self._queue) if size > self.max_buffered else []
        if not items:
            return
        if self.spool_dir is None:
            if not self._warned_full:
                log.warning(
                    "%d records buffered (max_buffered %d) and no spool_dir: holding them in "
                    "memory",
                    size,
                    self.max_buffered,
                )
                self._warned_full = True
            return
        self._spill(items)

    def _spill(self, items: Sequence[Item]) -> bool:
        """Write ``items`` (the head of the queue) to a new spool file, then drop them."""
        assert self.spool_dir is not None
        name = f"spool-{time.time_ns():020d}-{os.getpid()}-{next(self._seq):06d}.jsonl"
        path = self.spool_dir / name
        tmp = self.spool_dir / f".{name}.tmp"
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                for chunk in _chunks(items, _LINES_PER_WRITE):
                    fh.write("".join(_line(i) for i in chunk))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError:
            log.exception("cannot spool %d records to %s; keeping them in memory", len(items), path)
            tmp.unlink(missing_ok=True)
            return False
        with self._lock:
            self._spool.append((path, len(items)))
            self._spooled += len(items)
            for item in items:
                if not self._queue or self._queue[0] is not item:
                    break
                self._queue.popleft()
        log.warning("event store unavailable: spooled %d records to %s", len(items), path)
        return True

    def _replay_spool(self) -> None:
        """Write spool files oldest first, deleting each once it is all in the store."""
        while self._spool:
            path, lines = self._spool[0]
            keep = False
            try:
                with path.open("r", encoding="utf-8") as fh:
                    todo = itertools.islice(_records(fh, path), self._spool_done, None)
                    for chunk in _chunks(todo, self.batch):
                        self._write(chunk)
                        with self._lock:
                            self._spool_done += len(chunk)
                        self._notify()
            except FileNotFoundError:
                pass  # another process on this spool directory replayed it first
            except (OSError, UnicodeDecodeError):
                log.exception("cannot replay spool file %s; leaving it in place", path)
                keep = True
            if not keep:
                path.unlink(missing_ok=True)
            with self._lock:
                self._spool.popleft()
                self._spooled -= lines
                self._spool_done = 0
            self._notify()


def _records(lines: Iterable[str], path: Path) -> Iterator[Item]:
    for n, line in enumerate(lines, 1):
        try:
            yield _parse(line)
        except (ValueError, KeyError, ValidationError) as exc:
            log.error("%s:%d: unreadable spooled record skipped: %s", path, n, exc)


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk
