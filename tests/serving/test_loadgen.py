"""The load generator against small local servers whose misbehaviour is chosen per path.

Counts are checked exactly where the schedule fixes them (an open loop sends
``rate × duration`` measured requests, and each ends as a response or an error), and the
server's own tally confirms keep-alive reuse, round-robin and the warm-up. Latencies are
only checked for order, never for value.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adloom.serving.loadgen import (
    LoadgenError,
    Request,
    Result,
    aclosed_loop,
    aopen_loop,
    closed_loop,
    closed_rounds,
    open_loop,
    run_in_process,
)

HOST = "127.0.0.1"


def _response(status: int, body: bytes, extra: str = "") -> bytes:
    reason = {200: "OK", 204: "No Content", 500: "Internal Server Error"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


class TinyServer:
    """An HTTP/1.1 server on its own event loop in a thread; the path picks the behaviour.

    ``/ok`` answers 200 with a length; ``/fail`` 500; ``/chunked`` a chunked body with an
    extension and a trailer; ``/trickle`` a chunked body written a byte at a time;
    ``/continue`` an interim 100 before the answer; ``/empty`` 204; ``/eof`` a body ended
    by closing; ``/close`` a 200 with ``Connection: close``; ``/drop`` closes without a
    word; ``/pace`` answers after 0.05 s and ``/slow`` after 0.5 s; ``/echo`` answers
    with the request body. HEAD is answered with a length but no body, whatever the path.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.paths: Counter[str] = Counter()
        self.sequence: list[str] = []  # every request's path, in the order they came
        self.methods: Counter[str] = Counter()
        self.connections = 0
        self.bodies: list[bytes] = []
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TinyServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, HOST, 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        server.close()
        handlers = asyncio.all_tasks(self.loop)
        for task in handlers:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*handlers, return_exceptions=True))
        self.loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ")
                headers = dict(line.split(": ", 1) for line in lines[1:] if line)
                body = await reader.readexactly(int(headers.get("Content-Length", "0")))
                path = target.split("?")[0]
                self.paths[target] += 1
                self.sequence.append(target)
                self.methods[method] += 1
                if method == "HEAD":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
                elif not await self._answer(path, body, writer):
                    return
        finally:
            writer.close()

    async def _answer(self, path: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        """Write the answer; False when the connection must end."""
        if path == "/ok":
            writer.write(_response(200, b"ok"))
        elif path == "/fail":
            writer.write(_response(500, b"broken"))
        elif path == "/chunked":
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
            )
        elif path == "/trickle":
            wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            for i in range(len(wire)):
                writer.write(wire[i : i + 1])
                await writer.drain()
                await asyncio.sleep(0)
        elif path == "/continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + _response(200, b"ok"))
        elif path == "/empty":
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        elif path == "/eof":
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
            await writer.drain()
            return False
        elif path == "/close":
            writer.write(_response(200, b"bye", "Connection: close\r\n"))
            await writer.drain()
            return False
        elif path == "/drop":
            return False
        elif path == "/pace":
            await asyncio.sleep(0.05)
            writer.write(_response(200, b"paced"))
        elif path == "/slow":
            await asyncio.sleep(0.5)
            writer.write(_response(200, b"late"))
        elif path == "/echo":
            self.bodies.append(body)
            writer.write(_response(200, body))
        else:
            writer.write(_response(500, b"unknown path"))
        await writer.drain()
        return True


@pytest.fixture
def tiny() -> Iterator[TinyServer]:
    with TinyServer() as server:
        yield server


def _ordered(result: Result) -> None:
    assert 0 <= result.p50_ms <= result.p90_ms <= result.p99_ms
    assert result.p99_ms <= result.p999_ms <= result.max_ms
    assert result.mean_ms <= result.max_ms


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def test_open_loop_counts_every_scheduled_request(tiny: TinyServer) -> None:
    requests = [Request("GET", f"/ok?u={u}") for u in range(4)]
    result = open_loop(
        HOST, tiny.port, requests, rate=200, duration_s=1.5, connections=8, warmup_s=0.25
    )

    assert result.mode == "open"
    assert result.sent == 300
    assert result.completed == 300
    assert result.errors == 0
    assert result.error_kinds == {}
    assert result.status == {200: 300}
    assert result.offered_rate == 200
    assert result.duration_s >= 1.5
    assert result.rate == pytest.approx(200, rel=0.25)
    assert 0 <= result.dispatch_lag_p99_ms <= result.dispatch_lag_max_ms
    _ordered(result)
    # Warm-up requests were sent but not measured; the users were taken in turn.
    assert sum(tiny.paths.values()) == 350
    assert sorted(tiny.paths.values()) == [87, 87, 88, 88]
    # The pool was opened once and kept alive.
    assert tiny.connections == 8


def test_waiting_for_a_connection_counts_in_latency(tiny: TinyServer) -> None:
    # One connection to a server that needs 50 ms a request, offered one every 25 ms: the
    # k-th request cannot end before (k + 1) × 50 ms, so it is at least 50 + 25k ms late on
    # its schedule. Timing from the actual send would report about 50 ms for every one.
    result = open_loop(
        HOST,
        tiny.port,
        [Request("GET", "/pace")],
        rate=40,
        duration_s=0.5,
        connections=1,
        warmup_s=0,
    )

    assert result.status == {200: 20}
    assert result.p50_ms >= 50 + 25 * 9
    assert result.max_ms >= 50 + 25 * 19
    assert result.duration_s >= 1.0  # the last answer came well after the schedule ended
    assert result.rate == pytest.approx(result.completed / result.duration_s)


def test_open_loop_status_counts_follow_round_robin(tiny: TinyServer) -> None:
    requests = [Request("GET", "/ok"), Request("GET", "/fail"), Request("GET", "/ok")]
    result = open_loop(
        HOST, tiny.port, requests, rate=150, duration_s=0.6, connections=4, warmup_s=0
    )

    assert result.sent == 90
    assert result.errors == 0
    assert result.status == {200: 60, 500: 30}
    assert result.completed == 90


@pytest.mark.parametrize("path", ["/chunked", "/trickle", "/continue", "/empty", "/echo"])
def test_responses_are_framed_over_one_kept_alive_connection(tiny: TinyServer, path: str) -> None:
    requests = [Request("POST", path, body=b"payload-" + bytes([65 + i])) for i in range(3)]
    result = open_loop(
        HOST, tiny.port, requests, rate=100, duration_s=0.3, connections=1, warmup_s=0
    )

    assert result.errors == 0, result.error_kinds
    assert result.completed == result.sent == 30
    assert set(result.status) == {204 if path == "/empty" else 200}
    # A misread body would have desynchronised or dropped the single connection.
    assert tiny.connections == 1
    if path == "/echo":
        assert tiny.bodies[:3] == [b"payload-A", b"payload-B", b"payload-C"]


def test_head_responses_carry_no_body(tiny: TinyServer) -> None:
    result = open_loop(
        HOST,
        tiny.port,
        [Request("HEAD", "/ok")],
        rate=100,
        duration_s=0.2,
        connections=1,
        warmup_s=0,
    )

    assert result.status == {200: 20}
    assert tiny.methods == {"HEAD": 20}
    assert tiny.connections == 1


@pytest.mark.parametrize("path", ["/eof", "/close"])
def test_responses_that_close_the_connection_complete_and_reconnect(
    tiny: TinyServer, path: str
) -> None:
    result = open_loop(
        HOST, tiny.port, [Request("GET", path)], rate=100, duration_s=0.3, connections=2, warmup_s=0
    )

    assert result.errors == 0, result.error_kinds
    assert result.status == {200: 30}
    assert tiny.connections >= 30


def test_a_server_that_hangs_up_is_counted_as_errors(tiny: TinyServer) -> None:
    requests = [Request("GET", "/drop"), Request("GET", "/ok")]
    result = open_loop(
        HOST, tiny.port, requests, rate=100, duration_s=0.4, connections=2, warmup_s=0
    )

    assert result.sent == 40
    assert result.errors == 20
    assert result.error_kinds == {"closed": 20}
    assert result.status == {200: 20}
    assert result.completed + result.errors == result.sent


def test_a_server_too_slow_for_the_timeout_is_counted_as_timeouts(tiny: TinyServer) -> None:
    result = open_loop(
        HOST,
        tiny.port,
        [Request("GET", "/slow")],
        rate=20,
        duration_s=0.25,
        connections=2,
        warmup_s=0,
        timeout_s=0.15,
    )

    assert result.sent == 5
    assert result.completed == 0
    assert result.error_kinds == {"timeout": 5}
    assert math.isnan(result.p99_ms)
    assert result.as_dict()["p99_ms"] is None


def test_a_missing_server_is_reported_in_one_line() -> None:
    port = _free_port()
    with pytest.raises(LoadgenError, match=f"cannot connect to {HOST}:{port}") as err:
        open_loop(HOST, port, [Request("GET", "/")], rate=10, duration_s=0.1, warmup_s=0)
    assert "\n" not in str(err.value)


def test_closed_loop_keeps_every_connection_busy(tiny: TinyServer) -> None:
    requests = [Request("GET", "/ok"), Request("GET", "/fail")]
    result = closed_loop(HOST, tiny.port, requests, concurrency=4, duration_s=0.5, warmup_s=0.1)

    assert result.mode == "closed"
    assert result.offered_rate is None
    assert result.connections == 4
    assert result.completed > 20
    assert result.errors == 0
    assert result.completed == result.sent
    assert sum(result.status.values()) == result.completed
    assert set(result.status) == {200, 500}
    assert abs(result.status[200] - result.status[500]) <= 4
    assert result.rate == pytest.approx(result.completed / result.duration_s)
    assert sum(tiny.paths.values()) > result.completed  # the warm-up went unmeasured
    assert tiny.connections == 4
    _ordered(result)


def test_closed_rounds_interleave_targets_in_alternating_order(tiny: TinyServer) -> None:
    targets = {
        "ok": [Request("GET", "/ok")],
        "fail": [Request("GET", "/fail")],
        "empty": [Request("GET", "/empty")],
    }
    results = closed_rounds(
        HOST, tiny.port, targets, concurrency=2, duration_s=0.1, rounds=3, warmup_s=0
    )

    assert list(results) == ["ok", "fail", "empty"]
    for name, code in [("ok", 200), ("fail", 500), ("empty", 204)]:
        assert len(results[name]) == 3
        assert all(r.mode == "closed" and r.completed > 0 for r in results[name])
        assert all(set(r.status) == {code} and r.errors == 0 for r in results[name])
    runs = [path for i, path in enumerate(tiny.sequence) if i == 0 or tiny.sequence[i - 1] != path]
    assert runs == ["/ok", "/fail", "/empty", "/fail", "/ok", "/fail", "/empty"]


@pytest.mark.parametrize(
    ("targets", "rounds", "message"),
    [
        ({}, 1, "targets: at least one is needed"),
        ({"a": [Request("GET", "/ok")]}, 0, "rounds: 0 must be at least 1"),
        ({"a": []}, 1, "targets['a']: requests: at least one Request is needed"),
    ],
)
def test_closed_rounds_reject_bad_arguments(
    tiny: TinyServer, targets: dict[str, list[Request]], rounds: int, message: str
) -> None:
    with pytest.raises(LoadgenError, match=re.escape(message)):
        closed_rounds(HOST, tiny.port, targets, 1, 0.1, rounds, warmup_s=0)


def test_closed_loop_counts_hangups(tiny: TinyServer) -> None:
    result = closed_loop(
        HOST, tiny.port, [Request("GET", "/drop")], concurrency=2, duration_s=0.2, warmup_s=0
    )

    assert result.completed == 0
    assert result.errors == result.sent > 0
    assert set(result.error_kinds) <= {"closed", "connect"}


def test_async_variants_run_on_the_stdlib_loop(tiny: TinyServer) -> None:
    request = [Request("GET", "/chunked")]
    opened = asyncio.run(aopen_loop(HOST, tiny.port, request, 100, 0.3, 2, 0))
    closed = asyncio.run(aclosed_loop(HOST, tiny.port, request, 2, 0.2, 0))

    assert opened.status == {200: 30}
    assert closed.completed > 0
    assert closed.errors == 0


def test_result_as_dict_is_json_ready(tiny: TinyServer) -> None:
    result = open_loop(
        HOST, tiny.port, [Request("GET", "/fail")], rate=50, duration_s=0.2, warmup_s=0
    )
    data: dict[str, Any] = json.loads(json.dumps(result.as_dict(), allow_nan=False))

    assert data["status"] == {"500": 10}
    assert data["sent"] == 10
    assert data["mode"] == "open"
    assert data["p50_ms"] <= data["max_ms"]


def test_run_in_process_returns_the_childs_result(tiny: TinyServer) -> None:
    result = run_in_process(
        "open_loop",
        host=HOST,
        port=tiny.port,
        requests=[Request("GET", "/ok")],
        rate=100,
        duration_s=0.5,
        connections=4,
        warmup_s=0.1,
    )

    assert isinstance(result, Result)
    assert result.sent == 50
    assert result.status == {200: 50}
    assert sum(tiny.paths.values()) == 60


def test_run_in_process_passes_errors_back() -> None:
    with pytest.raises(LoadgenError, match="fn_name"):
        run_in_process("soak", host=HOST, port=80)
    with pytest.raises(LoadgenError, match="cannot connect"):
        run_in_process(
            "closed_loop",
            host=HOST,
            port=_free_port(),
            requests=[Request("GET", "/")],
            concurrency=1,
            duration_s=0.1,
        )


def test_request_encoding_adds_host_and_length() -> None:
    wire = Request("POST", "/v1/decide?u=3", b'{"a":1}', {"X-Key": "k"}).encode("h", 81)
    assert wire == (
        b"POST /v1/decide?u=3 HTTP/1.1\r\nHost: h:81\r\nX-Key: k\r\n"
        b'Content-Length: 7\r\n\r\n{"a":1}'
    )
    own = Request("GET", "/", headers={"host": "ads", "Connection": "close"}).encode("h", 81)
    assert own == b"GET / HTTP/1.1\r\nhost: ads\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Request("GE T", "/"), "Request.method"),
        (lambda: Request("GET", "relative"), "Request.path"),
        (lambda: Request("GET", "/a b"), "Request.path"),
        (lambda: Request("GET", "/", headers={"X": "a\r\nb"}), "Request.headers"),
        (lambda: open_loop(HOST, 80, [], 10, 1), "requests"),
        (lambda: open_loop(HOST, 80, [Request("GET", "/")], 0, 1), "rate"),
        (lambda: open_loop(HOST, 80, [Request("GET", "/")], 10, math.inf), "duration_s"),
        (lambda: open_loop(HOST, 80, [Request("GET", "/")], 10, 0.01), "duration_s"),
        (lambda: open_loop(HOST, 80, [Request("GET", "/")], 10, 1, 0), "connections"),
        (lambda: open_loop(HOST, 0, [Request("GET", "/")], 10, 1), "port"),
        (lambda: closed_loop(HOST, 80, [Request("GET", "/")], 0, 1), "concurrency"),
        (lambda: closed_loop(HOST, 80, [Request("GET", "/")], 1, 1, -1), "warmup_s"),
    ],
)
def test_bad_arguments_name_their_field(make: Callable[[], object], field: str) -> None:
    with pytest.raises(LoadgenError, match=f"^{field}"):
        make()


def test_keeps_alive_with_uvicorn() -> None:
    uvicorn = pytest.importorskip("uvicorn")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/stream":  # no length: uvicorn frames it chunked
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for part in (b"one", b"two", b""):
                await send({"type": "http.response.body", "body": part, "more_body": bool(part)})
            return
        status = 404 if scope["path"] == "/missing" else 200
        body = b"{}"
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    port = _free_port()
    config = uvicorn.Config(app, host=HOST, port=port, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.05)
        assert server.started
        requests = [Request("GET", "/"), Request("GET", "/stream"), Request("GET", "/missing")]
        result = open_loop(
            HOST, port, requests, rate=150, duration_s=0.6, connections=4, warmup_s=0.1
        )
    finally:
        server.should_exit = True
        thread.join(10)

    assert result.errors == 0, result.error_kinds
    assert result.status == {200: 60, 404: 30}
    _ordered(result)
