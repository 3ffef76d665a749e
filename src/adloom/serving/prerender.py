"""The predictive cache: render what requests are about to need, never in the request path.

A request for a consenting user who has no personalized creative yet gets the generic one
at once and leaves a job here. Jobs are served most-demanded first (a user who keeps
coming back is worth rendering before one seen once), in a background thread, and each
finished creative enters the catalog only if the verifier accepted it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adloom.store import CreativeRecord, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class Job:
    advertiser_id: str
    campaign_id: str
    user_id: str
    aspect_ratio: str


RenderFn = Callable[[Job], Sequence[CreativeRecord]]


class Prerenderer:
    """A demand-ranked queue of render jobs and one worker thread that drains it."""

    def __init__(
        self,
        render: RenderFn,
        store: Store,
        on_done: Callable[[], object] | None = None,
        *,
        max_jobs: int = 100_000,
        retry_after_s: float = 300.0,
    ) -> None:
        self.render = render
        self.store = store
        self.on_done = on_done
        self.max_jobs = max_jobs
        self.retry_after_s = retry_after_s
        self.demand: dict[Job, int] = {}
        self.done: set[Job] = set()
        self.failed: dict[Job, float] = {}
        self.rendered = 0
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = False
        self._busy = False

    def request(self, job: Job) -> None:
        """Note demand for ``job``; cheap enough for the request path."""
        if job in self.done:
            return
        with self._cv:
            if job in self.demand:
                self.demand[job] += 1
                return
            failed_at = self.failed.get(job)
            if failed_at is not None and time.monotonic() - failed_at < self.retry_after_s:
                return
            if len(self.demand) >= self.max_jobs:
                return
            self.demand[job] = 1
            self._cv.notify()

    def pending(self) -> int:
        with self._cv:
            return len(self.demand) + int(self._busy)

    def start(self) -> None:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="adloom-prerender", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no job is queued or running (for tests and the demo)."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while self.demand or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.1))
        return True

    def _next(self) -> Job | None:
        with self._cv:
            while not self._stop and not self.demand:
                self._cv.wait(1.0)
            if self._stop:
                return None
            job = max(self.demand, key=lambda j: (self.demand[j], j))
            del self.demand[job]
            self._busy = True
            return job

    def _run(self) -> None:
        while (job := self._next()) is not None:
            try:
                records = self.render(job)
                for rec in records:
                    self.store.put(rec)
                self.done.add(job)
                self.rendered += sum(1 for r in records if r.decision == "accept")
                if self.on_done is not None:
                    self.on_done()
            except Exception:
                log.exception("pre-rendering %s failed", job)
                with self._cv:
                    self.failed[job] = time.monotonic()
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()
