"""The fault-injecting proxy the reliability tests stand on: it must forward faithfully
and break connections exactly when told to."""

from __future__ import annotations

import random
import socket
import socketserver
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from tests.faults import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)
        # The client half-closed: answer with our own FIN after the last byte.
        self.request.shutdown(socket.SHUT_WR)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = _Server(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(echo: tuple[str, int]) -> Iterator[FaultProxy]:
    with FaultProxy(*echo) as p:
        yield p


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = bytearray()
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return bytes(got)


def _is_broken(sock: socket.socket) -> bool:
    """Whether the connection fails on use (reset or closed) instead of echoing."""
    try:
        sock.sendall(b"ping")
        return sock.recv(16) == b""
    except OSError:
        return True


def _new_connection_fails(port: int) -> bool:
    """Whether a new connection is reset, during the handshake or on first use."""
    try:
        sock = _connect(port)
    except ConnectionError:
        return True
    with sock:
        return _is_broken(sock)


def test_forwards_both_ways_byte_for_byte(proxy: FaultProxy) -> None:
    payload = random.Random(7).randbytes(3_000_000)
    with _connect(proxy.port) as s:
        assert _roundtrip(s, b"hello") == b"hello"
        assert _roundtrip(s, payload) == payload
    assert proxy.accepted == 1


def test_half_close_is_passed_on(proxy: FaultProxy) -> None:
    with _connect(proxy.port) as s:
        s.sendall(b"last words")
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while chunk := s.recv(1024):
            got += chunk
    assert bytes(got) == b"last words"


def test_many_concurrent_connections(proxy: FaultProxy) -> None:
    rng = random.Random(11)
    payloads = [rng.randbytes(rng.randint(1, 200_000)) for _ in range(64)]
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            with _connect(proxy.port) as s:
                results[i] = _roundtrip(s, payloads[i])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert [results[i] for i in range(len(payloads))] == payloads
    assert proxy.accepted == len(payloads)


def test_down_breaks_open_and_new_connections_and_up_restores(proxy: FaultProxy) -> None:
    open_conns = [_connect(proxy.port) for _ in range(5)]
    try:
        for s in open_conns:
            assert _roundtrip(s, b"before") == b"before"
        assert proxy.active == 5

        proxy.down()
        assert proxy.is_down
        assert proxy.active == 0
        assert all(_is_broken(s) for s in open_conns)
        assert _new_connection_fails(proxy.port)

        proxy.up()
        assert not proxy.is_down
        with _connect(proxy.port) as again:
            assert _roundtrip(again, b"after") == b"after"
        # connections cut by down() stay cut
        assert all(_is_broken(s) for s in open_conns)
    finally:
        for s in open_conns:
            s.close()


def test_unreachable_target_resets_the_client() -> None:
    with socket.socket() as probe:  # a port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    with FaultProxy("127.0.0.1", dead_port) as p:
        assert _new_connection_fails(p.port)
        assert p.accepted == 1


def test_close_stops_listening(echo: tuple[str, int]) -> None:
    p = FaultProxy(*echo)
    with _connect(p.port) as s:
        assert _roundtrip(s, b"x") == b"x"
        p.close()
        assert _is_broken(s)
    with pytest.raises(ConnectionRefusedError):
        _connect(p.port).close()
    p.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        p.down()


@pytest.mark.integration
def test_redis_through_the_proxy(redis_url: str) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    target = urlsplit(redis_url)
    key = f"adloom-test-faults-{uuid.uuid4().hex}"
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 6379) as p:
        client = redis.Redis(port=p.port, socket_timeout=2, retry=Retry(NoBackoff(), 0))
        try:
            assert client.set(key, "1", ex=30)
            assert client.get(key) == b"1"
            p.down()
            with pytest.raises(redis.ConnectionError):
                client.get(key)
            p.up()
            assert client.incr(key) == 2
        finally:
            client.close()
            redis.Redis.from_url(redis_url).delete(key)
