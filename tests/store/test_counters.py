"""Online counters: one contract for every backend, then what only Redis can get wrong
(an outage must cost the request path nothing and heal on its own)."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from tests.faults import FaultProxy

from adloom import registry
from adloom.errors import AdloomError, MissingExtraError
from adloom.store import Counters, Unavailable
from adloom.store.memory import MemoryCounters, MemoryCountersConfig


class FakeClock:
    """A monotonic clock the test moves by hand, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    counters: Counters
    advance: Callable[[float], None]
    ops_per_thread: int


def _redis_counters(url: str, prefix: str, **config: object) -> Counters:
    from adloom.store.redis import RedisCounters, RedisCountersConfig

    return RedisCounters(
        RedisCountersConfig.model_validate({"url": url, "prefix": prefix, **config})
    )


def _delete_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def prefix() -> str:
    return f"adloom-test-{uuid.uuid4().hex}:"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def harness(request: pytest.FixtureRequest, prefix: str) -> Iterator[Harness]:
    if request.param == "memory":
        clock = FakeClock()
        yield Harness(MemoryCounters(clock=clock), clock.advance, 2_000)
        return
    url: str = request.getfixturevalue("redis_url")
    # A generous timeout: these tests are about semantics, not about a loaded machine.
    counters = _redis_counters(url, prefix, timeout_ms=2_000)
    try:
        yield Harness(counters, time.sleep, 150)
    finally:
        counters.close()
        _delete_prefix(url, prefix)


class TestCountersContract:
    def test_missing_keys_read_zero(self, harness: Harness) -> None:
        assert harness.counters.get(["nobody", "nothing"]) == [0, 0]
        assert harness.counters.get([]) == []

    def test_incr_adds_one_to_each_key(self, harness: Harness) -> None:
        c = harness.counters
        c.incr(["cap:u1:c1", "fat:u1:cr1"], ttl_s=60)
        assert c.get(["cap:u1:c1", "fat:u1:cr1", "cap:u2:c1"]) == [1, 1, 0]
        c.incr(["cap:u1:c1"], ttl_s=60)
        c.incr([], ttl_s=60)
        assert c.get(["cap:u1:c1", "fat:u1:cr1"]) == [2, 1]

    def test_a_key_twice_in_one_call_counts_twice(self, harness: Harness) -> None:
        harness.counters.incr(["k", "k"], ttl_s=60)
        assert harness.counters.get(["k"]) == [2]

    def test_results_follow_the_order_of_keys(self, harness: Harness) -> None:
        c = harness.counters
        for n, key in enumerate(["a", "b", "c"], start=1):
            for _ in range(n):
                c.incr([key], ttl_s=60)
        assert c.get(["c", "missing", "a", "b", "c"]) == [3, 0, 1, 2, 3]
        assert c.get(["b", "a"]) == [2, 1]

    def test_ttl_is_set_on_creation_and_not_extended(self, harness: Harness) -> None:
        c = harness.counters
        c.incr(["window"], ttl_s=1)
        harness.advance(0.5)
        c.incr(["window"], ttl_s=1)  # must not push the expiry back
        assert c.get(["window"]) == [2]
        harness.advance(0.7)  # 1.2 s after creation, 0.7 s after the last bump
        assert c.get(["window"]) == [0]
        c.incr(["window"], ttl_s=1)  # a new window starts from one
        assert c.get(["window"]) == [1]

    def test_non_positive_ttl_is_refused(self, harness: Harness) -> None:
        with pytest.raises(ValueError, match="ttl_s"):
            harness.counters.incr(["k"], ttl_s=0)
        assert harness.counters.get(["k"]) == [0]

    def test_concurrent_increments_are_exact(self, harness: Harness) -> None:
        c = harness.counters
        n_threads, ops = 8, harness.ops_per_thread
        errors: list[BaseException] = []
        start = threading.Barrier(n_threads)

        def work(i: int) -> None:
            try:
                start.wait()
                for _ in range(ops):
                    c.incr(["shared", f"own:{i}", "shared2"], ttl_s=300)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        keys = ["shared", "shared2", *(f"own:{i}" for i in range(n_threads))]
        assert c.get(keys) == [n_threads * ops] * 2 + [ops] * n_threads


# ---------------------------------------------------------------------- registry


def test_registry_builds_both_backends() -> None:
    memory = registry.create("counters", "memory", "memory")
    assert isinstance(memory, MemoryCounters)
    assert registry.create("counters", None, "memory").config.max_keys == 5_000_000
    redis_backend = registry.create(
        "counters", {"type": "redis", "url": "redis://127.0.0.1:1/0", "prefix": "p:"}, "memory"
    )
    assert type(redis_backend).__name__ == "RedisCounters"
    assert redis_backend.config.prefix == "p:"
    assert redis_backend.config.timeout_ms == 50
    redis_backend.close()


def test_registry_rejects_unknown_settings() -> None:
    with pytest.raises(AdloomError, match="counters backend 'memory': max_key"):
        registry.create("counters", {"type": "memory", "max_key": 3}, "memory")
    with pytest.raises(AdloomError, match="timeout_ms"):
        registry.create("counters", {"type": "redis", "timeout_ms": 0}, "memory")


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` fail
    monkeypatch.delitem(sys.modules, "adloom.store.redis", raising=False)
    with pytest.raises(MissingExtraError, match=r"adloom\[redis\]"):
        registry.resolve("counters", "redis")


# ---------------------------------------------------------------------- memory only


def test_memory_purges_expired_keys_as_it_goes() -> None:
    clock = FakeClock()
    c = MemoryCounters(clock=clock)
    c.incr([f"old:{i}" for i in range(100)], ttl_s=10)
    assert len(c) == 100
    clock.advance(11)
    assert c.get(["old:0", "old:99"]) == [0, 0]
    for i in range(30):  # each new key reclaims a few expired ones
        c.incr([f"new:{i}"], ttl_s=10)
    assert len(c) == 30
    assert c.get(["new:0", "new:29", "old:5"]) == [1, 1, 0]


def test_memory_recreated_key_survives_its_stale_expiry() -> None:
    clock = FakeClock()
    c = MemoryCounters(clock=clock)
    c.incr(["k"], ttl_s=1)
    clock.advance(2)
    c.incr(["k"], ttl_s=100)  # re-created: the old expiry entry must not delete it
    c.incr([f"other:{i}" for i in range(10)], ttl_s=100)
    assert c.get(["k"]) == [1]


def test_memory_bounds_its_keys_dropping_those_closest_to_expiry() -> None:
    clock = FakeClock()
    c = MemoryCounters(MemoryCountersConfig(max_keys=3), clock=clock)
    c.incr(["short"], ttl_s=5)
    c.incr(["long1", "long2"], ttl_s=500)
    c.incr(["long1"], ttl_s=500)
    c.incr(["long3"], ttl_s=500)
    assert len(c) == 3
    assert c.get(["short", "long1", "long2", "long3"]) == [0, 2, 1, 1]


# ---------------------------------------------------------------------- redis only


@pytest.mark.integration
def test_redis_keys_carry_the_prefix_and_ttl(redis_url: str, prefix: str) -> None:
    import redis

    c = _redis_counters(redis_url, prefix)
    raw = redis.Redis.from_url(redis_url)
    try:
        c.incr(["cap:u1"], ttl_s=100)
        c.incr(["cap:u1"], ttl_s=900)  # a later bump with another ttl changes nothing
        assert raw.get(f"{prefix}cap:u1") == b"2"
        assert 0 < raw.pttl(f"{prefix}cap:u1") <= 100_000
        assert raw.get("cap:u1") is None
    finally:
        c.close()
        raw.close()
        _delete_prefix(redis_url, prefix)


@pytest.mark.integration
def test_redis_unreachable_raises_unavailable_and_fails_fast() -> None:
    c = _redis_counters("redis://:secret@127.0.0.1:1/0", "p:", retry_after_s=60)
    try:
        with pytest.raises(Unavailable) as first:
            c.get(["k"])
        message = str(first.value)
        assert "\n" not in message
        assert "127.0.0.1:1" in message
        assert "secret" not in message
        with pytest.raises(Unavailable) as again:
            c.incr(["k"], ttl_s=5)
        assert str(again.value) == message
    finally:
        c.close()


@pytest.mark.integration
def test_redis_outage_fails_fast_then_recovers(redis_url: str, prefix: str) -> None:
    target = urlsplit(redis_url)
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}{target.path or '/0'}"
        # Long window: proves the fail-fast calls never reach the network.
        stuck = _redis_counters(url, prefix, retry_after_s=3600)
        # Short window: proves recovery happens on its own.
        healing = _redis_counters(url, prefix, retry_after_s=0.2)
        try:
            for c in (stuck, healing):
                c.incr(["seen"], ttl_s=60)
            assert healing.get(["seen"]) == [2]

            proxy.down()  # pooled connections are reset; new ones too
            for c in (stuck, healing):
                with pytest.raises(Unavailable):
                    c.get(["seen"])
            tried = proxy.accepted
            for _ in range(50):
                with pytest.raises(Unavailable):
                    stuck.get(["seen"])
                with pytest.raises(Unavailable):
                    stuck.incr(["seen"], ttl_s=60)
            assert proxy.accepted == tried  # failing fast: not one connection attempt

            proxy.up()
            with pytest.raises(Unavailable):  # still inside its window, even though Redis is back
                stuck.get(["seen"])
            assert proxy.accepted == tried
            deadline = time.monotonic() + 10
            while True:
                try:
                    values = healing.get(["seen"])
                    break
                except Unavailable:
                    assert time.monotonic() < deadline, "counters did not recover"
                    time.sleep(0.05)
            assert values == [2]
            healing.incr(["seen"], ttl_s=60)
            assert healing.get(["seen"]) == [3]
        finally:
            stuck.close()
            healing.close()
            _delete_prefix(redis_url, prefix)
