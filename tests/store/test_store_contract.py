"""The store contract, run against SQLite (memory and file) and the real PostgreSQL.

Every backend must keep advertisers apart, count each (decision, event type) once however
often it is appended, and aggregate totals that match a count made by hand.
"""

from __future__ import annotations

import importlib.util
import random
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import DateTime, text
from sqlalchemy.dialects import sqlite

from adloom import registry
from adloom.domain import EVENT_TYPES, Box, Campaign, Context, Creative, Decision, Event
from adloom.errors import AdloomError, MissingExtraError
from adloom.store import (
    Advertiser,
    CampaignRecord,
    ConsentRecord,
    CreativeRecord,
    FrequencyCap,
    Store,
    Unavailable,
    schema,
)
from adloom.store.sql import (
    PostgresConfig,
    PostgresStore,
    SqliteConfig,
    SqliteStore,
    SqlStore,
    _sqlite_timestamp,
    _utc,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/x"


BACKENDS = [
    "sqlite-memory",
    "sqlite-file",
    pytest.param("postgresql", marks=pytest.mark.integration),
]


@pytest.fixture(scope="module")
def shared_pg(pg_admin: str) -> Iterator[str]:
    """One database for the whole contract class, emptied before each test.

    Creating a database takes about a second, so the class shares one instead of a fresh
    ``pg_url`` per test; the standalone PostgreSQL tests below still get their own.
    """
    import uuid

    import psycopg

    name = f"adloom_test_contract_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite-memory":
        s: SqlStore = SqliteStore(SqliteConfig(path=":memory:"))
    elif request.param == "sqlite-file":
        s = SqliteStore(SqliteConfig(path=str(tmp_path / "db" / "adloom.db")))
    else:
        s = PostgresStore(PostgresConfig(url=request.getfixturevalue("shared_pg")))
        with s.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(schema.metadata.tables)}"))
            conn.execute(schema.catalog_revision.insert().values(id=1, value=0))
    try:
        yield s
    finally:
        s.close()


def creative(
    campaign_id: str,
    creative_id: str,
    *,
    advertiser_id: str = "acme",
    user_id: str | None = None,
    decision: str = "accept",
) -> CreativeRecord:
    return CreativeRecord(
        advertiser_id=advertiser_id,
        campaign_id=campaign_id,
        product_id="boots",
        creative_id=creative_id,
        user_id=user_id,
        kind="personalized" if user_id else "generic",
        arm=f"arm-{creative_id}",
        context=Context(),
        creative=Creative(
            creative_id=creative_id,
            plan_id=f"plan-{creative_id}",
            path=f"/srv/media/{creative_id}.mp4",
            width=1280,
            height=720,
            fps=25.0,
            duration_s=12.0,
            frame_count=300,
            sha256="0" * 64,
            seed=7,
            renderer="template",
            disclosure_text="AI-generated",
            disclosure_box=Box(x=10, y=10, w=120, h=30),
        ),
        decision=decision,
        media_path=f"/srv/media/{creative_id}.mp4",
    )


def decision(
    decision_id: str,
    creative_id: str,
    at: datetime,
    *,
    advertiser_id: str = "acme",
    campaign_id: str = "test-campaign",
) -> Decision:
    return Decision(
        decision_id=decision_id,
        timestamp=at,
        channel="decide",
        advertiser_id=advertiser_id,
        campaign_id=campaign_id,
        creative_id=creative_id,
        arm=f"arm-{creative_id}",
        kind="generic",
        reason="policy",
        policy="thompson",
        propensity=0.5,
        candidates=["arm-a", "arm-b"],
    )


def event(d: Decision, type_: str, after_s: float = 1.0, value: float | None = None) -> Event:
    return Event(
        type=type_,
        creative_id=d.creative_id,
        decision_id=d.decision_id,
        advertiser_id=d.advertiser_id,
        campaign_id=d.campaign_id,
        timestamp=d.timestamp + timedelta(seconds=after_s),
        value=value,
    )


def seed_catalog(store: Store, campaign: Campaign) -> None:
    store.put(Advertiser(id="acme", name="Acme", key_hashes=["a" * 64]))
    store.put(Advertiser(id="globex", name="Globex"))
    store.put(CampaignRecord(advertiser_id="acme", campaign=campaign))
    other = campaign.model_copy(update={"id": "spring-sale"})
    store.put(CampaignRecord(advertiser_id="acme", campaign=other, status="paused"))
    store.put(creative("test-campaign", "cr-1"))
    store.put(creative("test-campaign", "cr-2", user_id="hiker"))
    store.put(creative("spring-sale", "cr-3", decision="reject"))
    store.put(ConsentRecord(advertiser_id="acme", user_id="hiker", personalization=True))


class TestStoreContract:
    def test_put_get_list_every_kind(self, store: Store, campaign: Campaign) -> None:
        seed_catalog(store, campaign)
        acme = store.get(Advertiser, "acme")
        assert acme is not None
        assert acme.name == "Acme"
        assert acme.key_hashes == ["a" * 64]
        assert [a.id for a in store.list(Advertiser)] == ["acme", "globex"]
        assert store.get(Advertiser, "nobody") is None

        camp = store.get(CampaignRecord, "test-campaign", advertiser_id="acme")
        assert camp is not None
        want = CampaignRecord(advertiser_id="acme", campaign=campaign, created=camp.created)
        assert camp.model_dump() == want.model_dump()
        assert camp.frequency_cap == FrequencyCap()
        assert [c.id for c in store.list(CampaignRecord, advertiser_id="acme")] == [
            "spring-sale",
            "test-campaign",
        ]
        paused = store.list(CampaignRecord, advertiser_id="acme", campaign_id="spring-sale")
        assert [c.status for c in paused] == ["paused"]

        cr2 = store.get(CreativeRecord, "cr-2", advertiser_id="acme")
        assert cr2 is not None
        want_cr = creative("test-campaign", "cr-2", user_id="hiker")
        assert cr2.model_dump(exclude={"created"}) == want_cr.model_dump(exclude={"created"})
        all_creatives = store.list(CreativeRecord, advertiser_id="acme")
        assert [c.creative_id for c in all_creatives] == ["cr-3", "cr-1", "cr-2"]
        in_campaign = store.list(CreativeRecord, advertiser_id="acme", campaign_id="test-campaign")
        assert [c.creative_id for c in in_campaign] == ["cr-1", "cr-2"]

        consent = store.get(ConsentRecord, "hiker", advertiser_id="acme")
        assert consent is not None
        assert consent.personalization is True
        assert consent.analytics is False
        assert [c.user_id for c in store.list(ConsentRecord, advertiser_id="acme")] == ["hiker"]

    def test_timestamps_round_trip_as_utc(self, store: Store, campaign: Campaign) -> None:
        seed_catalog(store, campaign)
        camp = store.get(CampaignRecord, "test-campaign", advertiser_id="acme")
        assert camp is not None
        assert camp.created.utcoffset() == timedelta(0)

    def test_put_replaces(self, store: Store, campaign: Campaign) -> None:
        seed_catalog(store, campaign)
        store.put(Advertiser(id="acme", name="Acme Corp"))
        store.put(CampaignRecord(advertiser_id="acme", campaign=campaign, status="paused"))
        store.put(creative("spring-sale", "cr-1", decision="revise"))
        store.put(ConsentRecord(advertiser_id="acme", user_id="hiker", personalization=False))

        acme = store.get(Advertiser, "acme")
        assert acme is not None
        assert (acme.name, acme.key_hashes) == ("Acme Corp", [])
        camp = store.get(CampaignRecord, "test-campaign", advertiser_id="acme")
        assert camp is not None
        assert camp.status == "paused"
        moved = store.get(CreativeRecord, "cr-1", advertiser_id="acme")
        assert moved is not None
        assert (moved.campaign_id, moved.decision) == ("spring-sale", "revise")
        assert [
            c.creative_id
            for c in store.list(CreativeRecord, advertiser_id="acme", campaign_id="spring-sale")
        ] == ["cr-1", "cr-3"]
        consent = store.get(ConsentRecord, "hiker", advertiser_id="acme")
        assert consent is not None
        assert consent.personalization is False
        assert len(store.list(ConsentRecord, advertiser_id="acme")) == 1
        assert len(store.list(Advertiser)) == 2

    def test_every_catalog_write_moves_the_revision(self, store: Store, campaign: Campaign) -> None:
        seen = [store.revision()]
        assert seen[0] is not None
        for record in (
            Advertiser(id="acme", name="Acme"),
            CampaignRecord(advertiser_id="acme", campaign=campaign),
            creative("spring-sale", "cr-1"),
            ConsentRecord(advertiser_id="acme", user_id="hiker", personalization=True),
            Advertiser(id="acme", name="Acme Corp"),  # a replacement counts too
        ):
            store.put(record)
            seen.append(store.revision())
        assert len(set(seen)) == len(seen), seen
        d = decision("d-rev", "cr-1", T0)
        store.append([d], [event(d, "impression")])
        assert store.revision() == seen[-1]  # the event log is not the catalog

    def test_advertisers_are_isolated(self, store: Store, campaign: Campaign) -> None:
        seed_catalog(store, campaign)
        d = decision("d-1", "cr-1", T0)
        store.append([d], [event(d, "impression")])

        assert store.get(CampaignRecord, "test-campaign", advertiser_id="globex") is None
        assert store.get(CreativeRecord, "cr-1", advertiser_id="globex") is None
        assert store.get(ConsentRecord, "hiker", advertiser_id="globex") is None
        assert store.list(CampaignRecord, advertiser_id="globex") == []
        assert store.list(CreativeRecord, advertiser_id="globex") == []
        assert store.list(CreativeRecord, advertiser_id="globex", campaign_id="test-campaign") == []
        assert store.list(ConsentRecord, advertiser_id="globex") == []
        assert store.totals("globex", "test-campaign") == []
        assert store.history("globex", "test-campaign") == ([], [])
        # an advertiser reads itself only, even through the advertiser table
        assert store.get(Advertiser, "acme", advertiser_id="globex") is None
        assert [a.id for a in store.list(Advertiser, advertiser_id="globex")] == ["globex"]
        # globex may use the same ids without touching acme's records
        store.put(ConsentRecord(advertiser_id="globex", user_id="hiker", analytics=True))
        mine = store.get(ConsentRecord, "hiker", advertiser_id="acme")
        assert mine is not None
        assert (mine.personalization, mine.analytics) == (True, False)

    def test_missing_advertiser_id_is_an_error(self, store: Store) -> None:
        for kind in (CampaignRecord, CreativeRecord, ConsentRecord):
            with pytest.raises(AdloomError, match=r"advertiser_id is required") as info:
                store.get(kind, "x")  # type: ignore[type-var]
            assert "\n" not in str(info.value)
            with pytest.raises(AdloomError, match=r"advertiser_id is required"):
                store.list(kind)  # type: ignore[type-var]
        with pytest.raises(AdloomError, match=r"campaign_id does not apply"):
            store.list(ConsentRecord, advertiser_id="acme", campaign_id="c")

    def test_event_without_decision_id_is_rejected(self, store: Store) -> None:
        orphan = Event(type="click", creative_id="cr-1", timestamp=T0)
        with pytest.raises(AdloomError, match=r"no decision_id") as info:
            store.append(events=[orphan])
        assert not isinstance(info.value, ValueError)
        assert "\n" not in str(info.value)

    def test_append_is_idempotent(self, store: Store) -> None:
        ds = [decision(f"d-{i}", f"cr-{i % 2}", T0 + timedelta(seconds=i)) for i in range(6)]
        evs = [event(d, "impression") for d in ds] + [event(ds[0], "conversion", 5, 12.5)]
        assert store.append(ds, evs) == 7
        before = store.totals("acme", "test-campaign")
        assert store.append(ds, evs) == 0
        assert store.append(events=evs[:3]) == 0
        assert store.totals("acme", "test-campaign") == before
        # a batch that repeats a key, and one that mixes new and old events
        extra = event(ds[1], "click")
        assert store.append(events=[extra, extra, evs[0]]) == 1
        decisions, events = store.history("acme", "test-campaign")
        assert len(decisions) == 6
        assert len(events) == 8

    def test_decisions_round_trip_exactly(self, store: Store) -> None:
        """Whatever path a backend writes batches by, it keeps every field and character."""
        odd = decision('d-"quoted" \\ ü 😀', "cr-'1'", T0 + timedelta(microseconds=5))
        odd = odd.model_copy(update={"user_id": 'user "x"\n', "context": {"k": "v\u2028"}})
        plain = decision("d-plain", "cr-2", T0.astimezone(timezone(timedelta(hours=-5))))
        later = decision("d-later", "cr-2", T0 + timedelta(seconds=1))
        store.append([odd, plain, odd, later])  # a batch that repeats an id
        decisions, _ = store.history("acme", "test-campaign")
        assert decisions == [plain, odd, later]
        since, _ = store.history("acme", "test-campaign", since=T0 + timedelta(microseconds=1))
        assert [d.decision_id for d in since] == [odd.decision_id, later.decision_id]

    def test_event_takes_scope_from_its_decision(self, store: Store) -> None:
        d = decision("d-scoped", "cr-1", T0)
        bare = Event(type="impression", creative_id="cr-1", decision_id="d-scoped", timestamp=T0)
        later = bare.model_copy(update={"type": "click", "timestamp": T0 + timedelta(seconds=1)})
        assert store.append([d], [bare]) == 1
        assert store.append(events=[later]) == 1  # its decision was logged earlier
        _, events = store.history("acme", "test-campaign")
        assert [(e.type, e.advertiser_id, e.campaign_id) for e in events] == [
            ("impression", "acme", "test-campaign"),
            ("click", "acme", "test-campaign"),
        ]

    def test_totals_match_a_hand_count(self, store: Store) -> None:
        rng = random.Random(20250301)
        ds = [
            decision(f"d-{i:03d}", rng.choice(["cr-a", "cr-b", "cr-c"]), T0 + timedelta(seconds=i))
            for i in range(120)
        ]
        other = decision("d-other", "cr-a", T0, campaign_id="spring-sale")
        evs: list[Event] = []
        for d in ds:
            for type_ in EVENT_TYPES:
                if rng.random() < 0.4:
                    value = round(rng.uniform(1, 50), 2) if type_ == "conversion" else None
                    evs.append(event(d, type_, value=value))
        rng.shuffle(evs)
        evs.append(event(other, "conversion", value=1000.0))  # another campaign
        # write in several batches, with some repeats
        for start in range(0, len(evs), 37):
            store.append(ds[start // 3 : start // 3 + 40], evs[start : start + 50])
        store.append(ds, evs)
        store.append([other])

        field = {
            "impression": "impressions",
            "start": "starts",
            "firstQuartile": "first_quartiles",
            "midpoint": "midpoints",
            "thirdQuartile": "third_quartiles",
            "complete": "completes",
            "skip": "skips",
            "click": "clicks",
            "conversion": "conversions",
        }
        expected: dict[str, Counter[str]] = {}
        revenue: dict[str, float] = {}
        for d in ds:
            expected.setdefault(d.creative_id, Counter())["decisions"] += 1
        for e in evs:
            if e.campaign_id != "test-campaign":
                continue
            expected[e.creative_id][field[e.type]] += 1
            if e.type == "conversion":
                revenue[e.creative_id] = revenue.get(e.creative_id, 0.0) + (e.value or 0.0)

        totals = store.totals("acme", "test-campaign")
        assert [t.creative_id for t in totals] == sorted(expected)
        for t in totals:
            counts = t.model_dump(exclude={"creative_id", "revenue"})
            assert counts == {k: expected[t.creative_id][k] for k in counts}
            assert t.revenue == pytest.approx(revenue.get(t.creative_id, 0.0))
        other_totals = store.totals("acme", "spring-sale")
        assert len(other_totals) == 1
        assert (other_totals[0].decisions, other_totals[0].revenue) == (1, 1000.0)

    def test_totals_small_case(self, store: Store) -> None:
        a, b = decision("d-a", "cr-a", T0), decision("d-b", "cr-b", T0)
        c = decision("d-c", "cr-a", T0)
        store.append(
            [a, b, c],
            [
                event(a, "impression"),
                event(c, "impression"),
                event(b, "impression"),
                event(a, "click"),
                event(a, "conversion", value=20.0),
                event(c, "conversion", value=5.5),
                event(b, "skip", value=3.0),  # a skip's value is not revenue
            ],
        )
        ta, tb = store.totals("acme", "test-campaign")
        assert (ta.creative_id, ta.decisions, ta.impressions, ta.clicks) == ("cr-a", 2, 2, 1)
        assert (ta.conversions, ta.revenue) == (2, 25.5)
        assert (tb.creative_id, tb.decisions, tb.impressions, tb.skips) == ("cr-b", 1, 1, 1)
        assert (tb.conversions, tb.revenue) == (0, 0.0)

    def test_history_is_ordered_by_time(self, store: Store) -> None:
        ds = [decision(f"d-{i}", "cr-1", T0 + timedelta(minutes=i)) for i in range(5)]
        shuffled = ds[:]
        random.Random(3).shuffle(shuffled)
        evs = [event(d, "impression", after_s=30) for d in shuffled]
        evs.append(event(ds[0], "conversion", after_s=600, value=9.0))
        # a decision written with an offset timezone sorts by its UTC instant
        plus_two = timezone(timedelta(hours=2))
        early = decision("d-early", "cr-1", (T0 - timedelta(minutes=1)).astimezone(plus_two))
        store.append([*shuffled, early], evs)

        decisions, events = store.history("acme", "test-campaign")
        assert [d.decision_id for d in decisions] == ["d-early", *[d.decision_id for d in ds]]
        stamps = [e.timestamp for e in events]
        assert stamps == sorted(stamps)
        assert events[-1].type == "conversion"
        assert decisions[0].timestamp == early.timestamp

        since = T0 + timedelta(minutes=3)
        recent, recent_events = store.history("acme", "test-campaign", since=since)
        assert [d.decision_id for d in recent] == ["d-3", "d-4"]
        assert [(e.decision_id, e.type) for e in recent_events] == [
            ("d-3", "impression"),
            ("d-4", "impression"),
            ("d-0", "conversion"),
        ]

    def test_concurrent_writers(self, store: Store) -> None:
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(10):
                    d = decision(f"d-{n}-{i}", "cr-1", T0 + timedelta(seconds=i))
                    store.append([d], [event(d, "impression")])
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        (total,) = store.totals("acme", "test-campaign")
        assert (total.decisions, total.impressions) == (40, 40)

    def test_ping(self, store: Store) -> None:
        assert store.ping() is True


# ---------------------------------------------------------------------- SQLite specifics


def test_registry_creates_the_sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "reg.db"
    store = registry.create("store", {"type": "sqlite", "path": str(path)}, "sqlite")
    try:
        assert isinstance(store, SqliteStore)
        store.put(Advertiser(id="acme", name="Acme"))
    finally:
        store.close()
    default = registry.create("store", None, "sqlite")
    default.close()
    assert (tmp_path / "adloom.db").is_file()  # the default path, in the working directory
    with pytest.raises(AdloomError, match=r"pathh"):
        registry.create("store", {"type": "sqlite", "pathh": "x"}, "sqlite")


def test_sqlite_file_persists_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "persist.db"
    first = SqliteStore(SqliteConfig(path=str(path)))
    first.put(Advertiser(id="acme", name="Acme"))
    d = decision("d-1", "cr-1", T0)
    assert first.append([d], [event(d, "impression")]) == 1
    with first.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    first.close()
    second = SqliteStore(SqliteConfig(path=str(path)))
    try:
        assert second.get(Advertiser, "acme") is not None
        assert second.append([d], [event(d, "impression")]) == 0
    finally:
        second.close()


@pytest.mark.parametrize("where", ["memory", "file"])
def test_a_closed_store_still_reads(where: str, tmp_path: Path) -> None:
    """Closing releases connections; a later read (a final report) opens new ones."""
    path = ":memory:" if where == "memory" else str(tmp_path / "closed.db")
    store = SqliteStore(SqliteConfig(path=path))
    d = decision("d-1", "cr-1", T0)
    store.append([d], [event(d, "impression")])
    store.close()
    try:
        (total,) = store.totals("acme", "test-campaign")
        assert (total.decisions, total.impressions) == (1, 1)
    finally:
        store.close()


def test_memory_stores_are_separate() -> None:
    a = SqliteStore(SqliteConfig(path=":memory:"))
    b = SqliteStore(SqliteConfig(path=":memory:"))
    try:
        a.put(Advertiser(id="acme", name="Acme"))
        assert b.get(Advertiser, "acme") is None
    finally:
        a.close()
        b.close()


def test_sqlite_path_under_a_file_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(AdloomError, match=r"store path: cannot create .*file") as info:
        SqliteStore(SqliteConfig(path=str(blocker / "adloom.db")))
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------- PostgreSQL specifics


def test_postgres_url_scheme_is_checked() -> None:
    with pytest.raises(AdloomError, match=r"url: .*postgresql\+psycopg://") as info:
        registry.create("store", {"type": "postgresql", "url": "mysql://root@db/x"}, "sqlite")
    assert "\n" not in str(info.value)
    assert "root" not in str(info.value)
    plain = PostgresConfig(url="postgresql://postgres@127.0.0.1:1/x")
    assert plain.url == UNREACHABLE


def test_postgres_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "psycopg" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingExtraError, match=r"adloom\[postgresql\]"):
        PostgresStore(PostgresConfig(url=UNREACHABLE))


def test_unreachable_postgres_is_unavailable() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(Unavailable, match=r"postgresql store unavailable") as info:
        PostgresStore(PostgresConfig(url=UNREACHABLE, connect_timeout_s=1.0))
    assert "\n" not in str(info.value)
    assert "127.0.0.1" in str(info.value)  # says which server did not answer


@pytest.mark.integration
def test_postgres_recovers_after_its_connections_are_killed(pg_url: str, pg_admin: str) -> None:
    import psycopg

    store = registry.create("store", {"type": "postgresql", "url": pg_url, "pool_size": 2}, "x")
    assert isinstance(store, PostgresStore)
    try:
        assert store.ping() is True
        store.put(Advertiser(id="acme", name="Acme"))
        d = decision("d-1", "cr-1", T0)
        assert store.append([d], [event(d, "impression")]) == 1
        dbname = pg_url.rsplit("/", 1)[1]
        with psycopg.connect(pg_admin, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()) t",
                (dbname,),
            ).fetchone()
        assert killed is not None
        assert killed[0] >= 1
        # the pooled connections are dead; pre-ping replaces them on the next call
        acme = store.get(Advertiser, "acme")
        assert acme is not None
        assert acme.name == "Acme"
        assert store.append([d], [event(d, "impression"), event(d, "click")]) == 1
        assert store.ping() is True
    finally:
        store.close()


@pytest.mark.integration
def test_postgres_dropped_database_is_unavailable(pg_admin: str) -> None:
    import uuid

    import psycopg

    name = f"adloom_test_drop_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    store = PostgresStore(PostgresConfig(url=f"{base}/{name}", connect_timeout_s=1.0))
    try:
        store.put(Advertiser(id="acme", name="Acme"))
        with psycopg.connect(pg_admin, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        assert store.ping() is False
        with pytest.raises(Unavailable):
            store.get(Advertiser, "acme")
        with pytest.raises(Unavailable):
            store.append([decision("d-1", "cr-1", T0)])
    finally:
        store.close()
        with psycopg.connect(pg_admin, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # whole second: microseconds still written
        datetime(2026, 1, 2, 3, 4, 5, 7),  # naive: taken as UTC
        datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=5))),
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_raw_sqlite_timestamps_are_what_sqlalchemy_writes(value: datetime) -> None:
    dialect = sqlite.dialect()
    bind = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert bind is not None
    assert _sqlite_timestamp(value) == bind(_utc(value).replace(tzinfo=None))
