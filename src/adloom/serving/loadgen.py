"""An HTTP/1.1 load generator for serving benchmarks, with no dependency beyond the stdlib.

The ad server's target is a tail latency (p99 within a few milliseconds at a fixed request
rate), so the generator has to measure the way users experience it:

* **Open loop** (:func:`open_loop`) sends on a fixed schedule, evenly spaced, whatever the
  server does. Each request's latency runs from its *scheduled* send time to the end of its
  response, so time spent waiting for a free keep-alive connection, or because the
  generator itself fell behind, counts against the server instead of silently thinning the
  load (no coordinated omission). ``dispatch_lag_*`` in the :class:`Result` says how late
  the generator was on its own schedule, so a run it could not keep up with is visible.
* **Closed loop** (:func:`closed_loop`) keeps a fixed number of requests in flight and
  reports the throughput that achieves: the ceiling, not a latency target.

Responses are parsed incrementally (status line, headers, ``Content-Length``, chunked or
read-until-close bodies, interim ``1xx``) in one :class:`asyncio.Protocol` per connection,
driven by callbacks rather than a task per request, so one core sends well over the rates
being measured. :func:`run_in_process` runs either loop in a child process, so a server in
the caller's process does not share its interpreter lock with the generator. uvloop is
used when it is importable.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import math
import multiprocessing
import socket
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from time import perf_counter
from typing import Any, Literal, TypeVar, cast

from adloom.errors import AdloomError

__all__ = [
    "LoadgenError",
    "Request",
    "Result",
    "aclosed_loop",
    "aclosed_rounds",
    "aopen_loop",
    "closed_loop",
    "closed_rounds",
    "open_loop",
    "run_in_process",
]

_MAX_HEAD = 64 * 1024
_SWEEP_S = 0.05
_CONNECT_BACKOFF_S = 0.01
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


class LoadgenError(AdloomError):
    """A load test that cannot run as asked: a bad argument, or no server to connect to."""


@dataclass(frozen=True, slots=True)
class Request:
    """One request of a target's round-robin list, encoded once before the run."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.method or not set(self.method) <= _TOKEN:
            raise LoadgenError(f"Request.method: {self.method!r} is not an HTTP method")
        if not self.path.startswith("/") or any(c.isspace() for c in self.path):
            raise LoadgenError(f"Request.path: {self.path!r} must start with / and hold no space")
        for name, value in self.headers.items():
            if not name or not set(name) <= _TOKEN:
                raise LoadgenError(f"Request.headers: {name!r} is not a header name")
            if "\r" in value or "\n" in value:
                raise LoadgenError(f"Request.headers[{name!r}]: value holds a line break")

    def encode(self, host: str, port: int) -> bytes:
        """The request's bytes on the wire; Host and Content-Length are added when absent."""
        names = {name.lower() for name in self.headers}
        lines = [f"{self.method} {self.path} HTTP/1.1"]
        if "host" not in names:
            lines.append(f"Host: {host}:{port}")
        lines.extend(f"{name}: {value}" for name, value in self.headers.items())
        framed = "content-length" in names or "transfer-encoding" in names
        if not framed and (self.body or self.method in ("POST", "PUT", "PATCH")):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass(frozen=True, slots=True)
class Result:
    """What a run measured over its measurement window (the warm-up is left out).

    ``sent`` counts requests scheduled (open loop) or started (closed loop) in the window;
    each ends as exactly one of ``completed`` (a response, whatever its status) or
    ``errors`` (no response: ``error_kinds`` says connect, closed, timeout or protocol).
    Latencies are over completed requests; they are ``nan`` when none completed.
    """

    mode: Literal["open", "closed"]
    sent: int
    completed: int
    errors: int
    error_kinds: dict[str, int]
    status: dict[int, int]
    rate: float
    offered_rate: float | None
    connections: int
    duration_s: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    dispatch_lag_p99_ms: float
    dispatch_lag_max_ms: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy: status codes as string keys, ``nan`` as ``None``."""
        out = asdict(self)
        out["status"] = {str(code): n for code, n in sorted(self.status.items())}
        for key, value in out.items():
            if isinstance(value, float) and math.isnan(value):
                out[key] = None
        return out


class _ProtocolError(Exception):
    """The server's bytes are not a valid HTTP/1.x response."""


# Parser states of a connection with a request in flight.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_EOF, _DONE = range(8)


class _Conn(asyncio.Protocol):
    """One keep-alive connection that carries one request at a time for its slot."""

    def __init__(self, slot: _Slot) -> None:
        self.slot = slot
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.busy = False
        self.head_only = False
        self.buf = bytearray()
        self.state = _HEAD
        self.remaining = 0
        self.status = 0
        self.keep = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.open = True
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes, head_only: bool) -> None:
        assert self.transport is not None
        self.busy = True
        self.head_only = head_only
        self.state = _HEAD
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            # Bytes nobody asked for: whatever follows on this connection can't be trusted.
            self._close()
            return
        self.buf += data
        try:
            self._parse()
        except (_ProtocolError, ValueError):
            self.fail("protocol")

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.busy:
            if self.state == _UNTIL_EOF:
                self._complete()
            else:
                self.fail("closed")

    def fail(self, kind: str) -> None:
        """Give up on the request in flight; the connection is not reused."""
        if not self.busy:
            return
        self.busy = False
        self.open = False
        if self.transport is not None:
            self.transport.abort()
        self.slot.failed(kind)

    def _close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()

    def _complete(self) -> None:
        self.busy = False
        if not self.keep or self.buf:
            self._close()
        self.slot.responded(self.status)

    def _parse(self) -> None:
        buf = self.buf
        while True:
            state = self.state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > _MAX_HEAD:
                        raise _ProtocolError
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                self._head(head)
            elif state in (_LENGTH, _CHUNK_DATA):
                if len(buf) < self.remaining:
                    self.remaining -= len(buf)
                    buf.clear()
                    return
                del buf[: self.remaining]
                self.state = _DONE if state == _LENGTH else _CHUNK_END
            elif state == _CHUNK_END:
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise _ProtocolError
                del buf[:2]
                self.state = _CHUNK_SIZE
            elif state in (_CHUNK_SIZE, _TRAILER):
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > _MAX_HEAD:
                        raise _ProtocolError
                    return
                line = bytes(buf[:end])
                del buf[: end + 2]
                if state == _TRAILER:
                    if not line:
                        self.state = _DONE
                    continue
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size < 0:
                    raise _ProtocolError
                self.remaining = size
                self.state = _CHUNK_DATA if size else _TRAILER
            elif state == _UNTIL_EOF:
                buf.clear()
                return
            if self.state == _DONE:
                self._complete()
                return

    def _head(self, head: bytes) -> None:
        line, _, rest = head.partition(b"\r\n")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise _ProtocolError
        status = int(parts[1])
        if not 100 <= status <= 999 or status == 101:
            raise _ProtocolError
        if status < 200:
            return  # an interim response: the final one follows
        keep = parts[0] != b"HTTP/1.0"
        length: int | None = None
        chunked = False
        for header in rest.split(b"\r\n") if rest else ():
            name, sep, value = header.partition(b":")
            if not sep:
                raise _ProtocolError
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
                if length < 0:
                    raise _ProtocolError
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                tokens = value.lower()
                if b"close" in tokens:
                    keep = False
                elif b"keep-alive" in tokens:
                    keep = True
        self.status = status
        self.keep = keep
        if self.head_only or status in (204, 304):
            self.state = _DONE
        elif chunked:
            self.state = _CHUNK_SIZE
        elif length is not None:
            self.remaining = length
            self.state = _LENGTH if length else _DONE
        else:
            self.keep = False
            self.state = _UNTIL_EOF


class _Slot:
    """A place for one request in flight: its connection, reopened on demand."""

    def __init__(self, driver: _Driver) -> None:
        self.driver = driver
        self.conn: _Conn | None = None
        self.busy = False
        self.index = 0
        self.sched = 0.0
        self.sent = math.inf
        self.measured = False

    async def connect(self) -> None:
        drv = self.driver
        self.conn = None
        _, conn = await asyncio.wait_for(
            drv.loop.create_connection(lambda: _Conn(self), drv.host, drv.port), drv.timeout_s
        )
        self.conn = conn

    def send(self, index: int, sched: float, measured: bool) -> None:
        self.index = index
        self.sched = sched
        self.measured = measured
        self.busy = True
        self.sent = math.inf
        conn = self.conn
        if conn is not None and conn.open and not conn.busy:
            self._write(conn)
        else:
            self.driver.spawn(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await self.connect()
        except (OSError, TimeoutError):
            self.failed("connect")
            return
        assert self.conn is not None
        self._write(self.conn)

    def _write(self, conn: _Conn) -> None:
        drv = self.driver
        i = self.index % len(drv.payloads)
        self.sent = perf_counter()
        conn.send(drv.payloads[i], drv.head_only[i])

    def responded(self, status: int) -> None:
        self.busy = False
        self.driver.responded(self, status)

    def failed(self, kind: str) -> None:
        self.busy = False
        self.driver.errored(self, kind)

    def expire(self, now: float) -> None:
        conn = self.conn
        if self.busy and conn is not None and now - self.sent > self.driver.timeout_s:
            conn.fail("timeout")

    def close(self) -> None:
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.close()


class _Driver:
    """What open and closed loops share: slots, payloads, recording and the end of a run."""

    mode: Literal["open", "closed"]

    def __init__(
        self, host: str, port: int, requests: Sequence[Request], connections: int, timeout_s: float
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.payloads = [r.encode(host, port) for r in requests]
        self.head_only = [r.method == "HEAD" for r in requests]
        self.slots = [_Slot(self) for _ in range(connections)]
        self.tasks: set[asyncio.Task[None]] = set()
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.over = False
        self.sweeper: asyncio.TimerHandle | None = None
        self.t_measure = 0.0
        self.sent = 0
        self.latencies: list[float] = []
        self.lags: list[float] = []
        self.status: Counter[int] = Counter()
        self.error_kinds: Counter[str] = Counter()
        self.last_done = 0.0

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def open(self) -> None:
        """Open every connection before the clock starts; none at all means no server."""
        outcomes = await asyncio.gather(
            *(slot.connect() for slot in self.slots), return_exceptions=True
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if len(failures) == len(self.slots):
            reason = str(failures[0]) or type(failures[0]).__name__
            raise LoadgenError(f"cannot connect to {self.host}:{self.port}: {reason}")

    def sweep(self) -> None:
        now = perf_counter()
        for slot in self.slots:
            slot.expire(now)
        self.sweeper = self.loop.call_later(_SWEEP_S, self.sweep)

    def record(self, slot: _Slot, status: int | None, kind: str = "") -> None:
        if self.over or not slot.measured:
            return
        now = perf_counter()
        if status is None:
            self.error_kinds[kind] += 1
        else:
            self.latencies.append(now - slot.sched)
            self.status[status] += 1
        self.last_done = now

    def responded(self, slot: _Slot, status: int) -> None:
        raise NotImplementedError

    def errored(self, slot: _Slot, kind: str) -> None:
        raise NotImplementedError

    def finish_if_done(self) -> None:
        raise NotImplementedError

    async def wait(self, limit_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.done), limit_s)
        self.over = True
        if self.sweeper is not None:
            self.sweeper.cancel()
        for slot in self.slots:
            slot.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.sleep(0)

    def result(self, duration_s: float, offered_rate: float | None) -> Result:
        kinds = Counter(self.error_kinds)
        lost = self.sent - len(self.latencies) - sum(kinds.values())
        if lost > 0:
            kinds["timeout"] += lost  # still unanswered when the run had to end
        completed = len(self.latencies)
        elapsed = max(duration_s, self.last_done - self.t_measure)
        ms = sorted(x * 1e3 for x in self.latencies)
        lags = sorted(x * 1e3 for x in self.lags)
        return Result(
            mode=self.mode,
            sent=self.sent,
            completed=completed,
            errors=sum(kinds.values()),
            error_kinds=dict(sorted(kinds.items())),
            status=dict(sorted(self.status.items())),
            rate=completed / elapsed,
            offered_rate=offered_rate,
            connections=len(self.slots),
            duration_s=elapsed,
            mean_ms=sum(ms) / completed if completed else math.nan,
            p50_ms=_rank(ms, 0.50),
            p90_ms=_rank(ms, 0.90),
            p99_ms=_rank(ms, 0.99),
            p999_ms=_rank(ms, 0.999),
            max_ms=ms[-1] if ms else math.nan,
            dispatch_lag_p99_ms=_rank(lags, 0.99) if lags else 0.0,
            dispatch_lag_max_ms=lags[-1] if lags else 0.0,
        )


class _OpenLoop(_Driver):
    """Requests on a fixed schedule; one that finds no free connection queues for one."""

    mode = "open"

    def __init__(
        self,
        host: str,
        port: int,
        requests: Sequence[Request],
        connections: int,
        timeout_s: float,
        rate: float,
        n_warm: int,
        n_measure: int,
    ) -> None:
        super().__init__(host, port, requests, connections, timeout_s)
        self.interval = 1.0 / rate
        self.n_warm = n_warm
        self.total = n_warm + n_measure
        self.next_i = 0
        self.pending = 0
        self.t0 = 0.0
        self.idle: deque[_Slot] = deque(self.slots)
        self.queue: deque[tuple[float, int, bool]] = deque()
        self.timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.t0 = perf_counter()
        self.t_measure = self.t0 + self.n_warm * self.interval
        self.sweep()
        self.pump()

    def tick(self) -> None:
        self.timer = None
        self.pump()

    def pump(self) -> None:
        """Dispatch every request that is due; called by the timer and on each response."""
        if self.over:
            return
        now = perf_counter()
        while self.next_i < self.total:
            sched = self.t0 + self.next_i * self.interval
            if sched > now:
                if self.timer is None:
                    self.timer = self.loop.call_later(sched - now, self.tick)
                return
            measured = self.next_i >= self.n_warm
            if measured:
                self.sent += 1
                self.lags.append(now - sched)
            self.pending += 1
            if self.idle:
                self.idle.popleft().send(self.next_i, sched, measured)
            else:
                self.queue.append((sched, self.next_i, measured))
            self.next_i += 1
        self.finish_if_done()

    def release(self, slot: _Slot) -> None:
        now = perf_counter()
        while self.queue:
            sched, index, measured = self.queue.popleft()
            if now - sched > self.timeout_s:
                # Waited past the timeout for a connection: sending it now would only
                # add load for an answer already counted as too late.
                self.pending -= 1
                if measured and not self.over:
                    self.error_kinds["timeout"] += 1
                    self.last_done = now
                continue
            slot.send(index, sched, measured)
            return
        self.idle.append(slot)
        self.finish_if_done()

    def responded(self, slot: _Slot, status: int) -> None:
        self.record(slot, status)
        self.pending -= 1
        if not self.over:
            self.pump()
            self.release(slot)

    def errored(self, slot: _Slot, kind: str) -> None:
        self.record(slot, None, kind)
        self.pending -= 1
        if not self.over:
            self.pump()
            self.release(slot)

    def finish_if_done(self) -> None:
        if self.next_i >= self.total and self.pending == 0 and not self.done.done():
            self.done.set_result(None)


class _ClosedLoop(_Driver):
    """Each connection sends its next request as soon as the previous one is answered."""

    mode = "closed"

    def __init__(
        self,
        host: str,
        port: int,
        requests: Sequence[Request],
        connections: int,
        timeout_s: float,
        warmup_s: float,
        duration_s: float,
    ) -> None:
        super().__init__(host, port, requests, connections, timeout_s)
        self.warmup_s = warmup_s
        self.duration_s = duration_s
        self.t_end = 0.0
        self.next_i = 0
        self.active = 0

    def start(self) -> None:
        now = perf_counter()
        self.t_measure = now + self.warmup_s
        self.t_end = self.t_measure + self.duration_s
        self.active = len(self.slots)
        self.sweep()
        for slot in self.slots:
            self.next(slot)

    def next(self, slot: _Slot) -> None:
        if self.over:
            return
        now = perf_counter()
        if now >= self.t_end:
            self.active -= 1
            self.finish_if_done()
            return
        measured = now >= self.t_measure
        if measured:
            self.sent += 1
        slot.send(self.next_i, now, measured)
        self.next_i += 1

    def responded(self, slot: _Slot, status: int) -> None:
        self.record(slot, status)
        self.next(slot)

    def errored(self, slot: _Slot, kind: str) -> None:
        self.record(slot, None, kind)
        if kind == "connect":
            # Refused connections fail at once; without a pause this slot would spin.
            self.loop.call_later(_CONNECT_BACKOFF_S, self.next, slot)
        else:
            self.next(slot)

    def finish_if_done(self) -> None:
        if self.active == 0 and not self.done.done():
            self.done.set_result(None)


def _rank(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile: a latency some request really had, never an interpolation."""
    if not sorted_ms:
        return math.nan
    return sorted_ms[max(0, math.ceil(q * len(sorted_ms)) - 1)]


def _check_target(host: str, port: int, requests: Sequence[Request]) -> None:
    if not host:
        raise LoadgenError("host: empty")
    if not 0 < port < 65536:
        raise LoadgenError(f"port: {port} is not a TCP port")
    if not requests:
        raise LoadgenError("requests: at least one Request is needed")
    for r in requests:
        if not isinstance(r, Request):
            raise LoadgenError(f"requests: {r!r} is not a Request")


def _positive(name: str, value: float, *, zero: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise LoadgenError(f"{name}: {value} must be a finite number {bound}")


def _check_open(
    host: str,
    port: int,
    requests: Sequence[Request],
    rate: float,
    duration_s: float,
    connections: int,
    warmup_s: float,
    timeout_s: float,
) -> tuple[int, int]:
    """Reject bad arguments before a loop starts; the warm-up and measured request counts."""
    _check_target(host, port, requests)
    _positive("rate", rate)
    _positive("duration_s", duration_s)
    _positive("warmup_s", warmup_s, zero=True)
    _positive("timeout_s", timeout_s)
    if connections < 1:
        raise LoadgenError(f"connections: {connections} must be at least 1")
    n_measure = round(rate * duration_s)
    if n_measure < 1:
        raise LoadgenError(f"duration_s: {duration_s} s at rate {rate}/s schedules no request")
    return round(rate * warmup_s), n_measure


def _check_closed(
    host: str,
    port: int,
    requests: Sequence[Request],
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    timeout_s: float,
) -> None:
    _check_target(host, port, requests)
    _positive("duration_s", duration_s)
    _positive("warmup_s", warmup_s, zero=True)
    _positive("timeout_s", timeout_s)
    if concurrency < 1:
        raise LoadgenError(f"concurrency: {concurrency} must be at least 1")


async def aopen_loop(
    host: str,
    port: int,
    requests: Sequence[Request],
    rate: float,
    duration_s: float,
    connections: int = 32,
    warmup_s: float = 1.0,
    timeout_s: float = 5.0,
) -> Result:
    """:func:`open_loop` on the running event loop."""
    n_warm, n_measure = _check_open(
        host, port, requests, rate, duration_s, connections, warmup_s, timeout_s
    )
    drv = _OpenLoop(host, port, requests, connections, timeout_s, rate, n_warm, n_measure)
    await drv.open()
    drv.start()
    # Every request ends within two timeouts of its schedule (queued, then in flight).
    await drv.wait(warmup_s + duration_s + 2 * timeout_s + 1.0)
    return drv.result(n_measure / rate, rate)


async def aclosed_loop(
    host: str,
    port: int,
    requests: Sequence[Request],
    concurrency: int,
    duration_s: float,
    warmup_s: float = 1.0,
    timeout_s: float = 5.0,
) -> Result:
    """:func:`closed_loop` on the running event loop."""
    _check_closed(host, port, requests, concurrency, duration_s, warmup_s, timeout_s)
    drv = _ClosedLoop(host, port, requests, concurrency, timeout_s, warmup_s, duration_s)
    await drv.open()
    drv.start()
    await drv.wait(warmup_s + duration_s + timeout_s + 1.0)
    return drv.result(duration_s, None)


async def aclosed_rounds(
    host: str,
    port: int,
    targets: Mapping[str, Sequence[Request]],
    concurrency: int,
    duration_s: float,
    rounds: int,
    warmup_s: float = 0.25,
    timeout_s: float = 5.0,
) -> dict[str, list[Result]]:
    """:func:`closed_rounds` on the running event loop."""
    if not targets:
        raise LoadgenError("targets: at least one is needed")
    if rounds < 1:
        raise LoadgenError(f"rounds: {rounds} must be at least 1")
    for name, requests in targets.items():
        try:
            _check_closed(host, port, requests, concurrency, duration_s, warmup_s, timeout_s)
        except LoadgenError as exc:
            raise LoadgenError(f"targets[{name!r}]: {exc}") from None
    names = list(targets)
    out: dict[str, list[Result]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            result = await aclosed_loop(
                host, port, targets[name], concurrency, duration_s, warmup_s, timeout_s
            )
            out[name].append(result)
    return out


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on a fresh loop (uvloop when available) with the cyclic collector held off,
    so a collection pause in the generator is not reported as server latency."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(coro)
    finally:
        if was_enabled:
            gc.enable()


def open_loop(
    host: str,
    port: int,
    requests: Sequence[Request],
    rate: float,
    duration_s: float,
    connections: int = 32,
    warmup_s: float = 1.0,
    timeout_s: float = 5.0,
) -> Result:
    """Send ``rate`` requests per second, evenly spaced, for ``warmup_s + duration_s``.

    ``requests`` are used round-robin over a pool of ``connections`` keep-alive
    connections; only requests scheduled after the warm-up are measured. A request with no
    response ``timeout_s`` after it was sent (or still waiting for a connection that long
    after its schedule) is an error.
    """
    _check_open(host, port, requests, rate, duration_s, connections, warmup_s, timeout_s)
    return _run(
        aopen_loop(host, port, requests, rate, duration_s, connections, warmup_s, timeout_s)
    )


def closed_loop(
    host: str,
    port: int,
    requests: Sequence[Request],
    concurrency: int,
    duration_s: float,
    warmup_s: float = 1.0,
    timeout_s: float = 5.0,
) -> Result:
    """Keep ``concurrency`` requests in flight for ``warmup_s + duration_s``; ``rate`` in
    the result is the throughput the server sustained."""
    return _run(aclosed_loop(host, port, requests, concurrency, duration_s, warmup_s, timeout_s))


def closed_rounds(
    host: str,
    port: int,
    targets: Mapping[str, Sequence[Request]],
    concurrency: int,
    duration_s: float,
    rounds: int,
    warmup_s: float = 0.25,
    timeout_s: float = 5.0,
) -> dict[str, list[Result]]:
    """Closed loops over several targets, interleaved: one result per target and round.

    Comparing two endpoints' throughput on a shared machine is only fair when both see
    the same noise. Every round runs each target once for ``duration_s`` and the order
    reverses every other round (A B C, C B A, ...), so short rounds many times over
    spread a neighbour's burst, or a drift in the machine's speed, over all targets;
    ratios taken per round then cancel most of it.
    """
    return _run(
        aclosed_rounds(host, port, targets, concurrency, duration_s, rounds, warmup_s, timeout_s)
    )


_ENTRY: dict[str, Callable[..., Any]] = {
    "open_loop": open_loop,
    "closed_loop": closed_loop,
    "closed_rounds": closed_rounds,
}


def run_in_process(fn_name: str, /, **kwargs: Any) -> Any:
    """Run :func:`open_loop`, :func:`closed_loop` or :func:`closed_rounds` in a child
    process and return its result.

    The child is spawned rather than forked, since the caller may be running a server in
    threads; a script calling this must therefore guard its entry point with
    ``if __name__ == "__main__":``.
    """
    entry = _ENTRY.get(fn_name)
    if entry is None:
        raise LoadgenError(f"fn_name: {fn_name!r} is not one of {sorted(_ENTRY)}")
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(entry, **kwargs).result()
