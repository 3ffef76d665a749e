"""Outages under traffic: PostgreSQL or Redis disappears and comes back.

The server runs on the real PostgreSQL and Redis, each behind a fault-injecting TCP proxy
that drops every connection and refuses new ones, which is what the server sees when the
service stops (the machine's own services stay up for the other tests). Throughout: no
5xx, every decision still gets a creative (the generic fallback while Redis is gone), and
every impression sent is in the database exactly once after recovery, even though each
was sent twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.faults import FaultProxy
from tests.serving.helpers import Catalog, seed_store, settings

from adloom.serving.app import create_app
from adloom.serving.engine import AdServer

pytestmark = pytest.mark.integration


@pytest.fixture
def proxied(pg_url: str, redis_url: str) -> Iterator[tuple[FaultProxy, FaultProxy, str, str]]:
    pg = urlsplit(pg_url)
    rd = urlsplit(redis_url)
    with (
        FaultProxy(pg.hostname or "127.0.0.1", pg.port or 5432) as pg_proxy,
        FaultProxy(rd.hostname or "127.0.0.1", rd.port or 6379) as redis_proxy,
    ):
        db_url = pg_url.replace(f"{pg.hostname}:{pg.port}", f"127.0.0.1:{pg_proxy.port}")
        r_url = f"redis://127.0.0.1:{redis_proxy.port}{rd.path or '/0'}"
        yield pg_proxy, redis_proxy, db_url, r_url


def _server(catalog: Catalog, db_url: str, redis_url: str, prefix: str) -> AdServer:
    srv = AdServer.from_settings(
        settings(
            store={"type": "postgresql", "url": db_url, "connect_timeout_s": 1.0},
            counters={"type": "redis", "url": redis_url, "prefix": prefix, "retry_after_s": 0.2},
            buffer={"interval_s": 0.05},
        )
    )
    seed_store(srv.store, catalog)
    return srv


def _traffic(client: Any, rounds: int, sent: set[str], outcome: dict[str, int]) -> None:
    """Decide and report an impression (twice) per round, recording what happened."""
    for i in range(rounds):
        r = client.post("/v1/decide", json={"user_id": f"user{i % 7}"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["creative"] is not None, body
        outcome[body["reason"]] = outcome.get(body["reason"], 0) + 1
        parts = urlsplit(body["tracking"]["impression"])
        for _ in range(2):
            e = client.get(f"{parts.path}?{parts.query}")
            assert e.status_code == 204, e.text
        sent.add(body["decision_id"])


def test_outages_lose_nothing_and_count_nothing_twice(
    catalog: Catalog, proxied: tuple[FaultProxy, FaultProxy, str, str]
) -> None:
    from fastapi.testclient import TestClient

    pg_proxy, redis_proxy, db_url, r_url = proxied
    srv = _server(catalog, db_url, r_url, prefix=f"adloom-test-{time.time_ns()}:")
    sent: set[str] = set()
    outcome: dict[str, int] = {}
    with TestClient(create_app(server=srv)) as client:
        _traffic(client, 20, sent, outcome)
        pg_proxy.down()  # PostgreSQL gone: decisions from the cached catalog, events buffered
        _traffic(client, 30, sent, outcome)
        assert srv.log.pending() > 0
        assert client.get("/healthz").json()["store"] is False
        pg_proxy.up()
        redis_proxy.down()  # Redis gone: frequency caps unknown, generic fallback
        before = outcome.get("fallback", 0)
        _traffic(client, 20, sent, outcome)
        assert outcome.get("fallback", 0) - before == 20
        redis_proxy.up()
        time.sleep(0.3)  # past the counters' fail-fast window
        _traffic(client, 10, sent, outcome)
        assert srv.log.flush(15.0)
        report = client.get(
            "/v1/campaigns/test-campaign/report",
            headers={"Authorization": "Bearer adl_test_key_one"},
        ).json()
    assert report["impressions"] == len(sent) == 80
    decisions, events = srv.store.history("acme", "test-campaign")
    assert {d.decision_id for d in decisions} == sent
    assert len(events) == len(sent)
