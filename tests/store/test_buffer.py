"""BufferedLog: nothing lost and nothing counted twice while the store comes and goes."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adloom.domain import Decision, Event
from adloom.errors import AdloomError
from adloom.store import CreativeTotals, EventLog, Unavailable
from adloom.store.buffer import BufferedLog
from adloom.store.sql import SqliteConfig, SqliteStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class SwitchableLog(EventLog):
    """An idempotent in-memory event log whose availability a test switches."""

    def __init__(self) -> None:
        self.up = True
        self.refuse: set[str] = set()  # decision ids whose records are malformed for it
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.decisions: dict[str, Decision] = {}
        self.events: dict[tuple[str, str], Event] = {}
        self.delivered: list[str] = []  # keys of every record handed over while up
        self.attempts = 0
        self._lock = threading.Lock()

    def append(self, decisions: Sequence[Decision] = (), events: Sequence[Event] = ()) -> int:
        self.entered.set()
        self.gate.wait()
        with self._lock:
            self.attempts += 1
            if not self.up:
                raise Unavailable("switched off")
            ids = [d.decision_id for d in decisions] + [e.decision_id for e in events]
            bad = [i for i in ids if i in self.refuse]
            if bad:
                raise AdloomError(f"refused {bad[0]}")
            new = 0
            for d in decisions:
                self.delivered.append(d.decision_id)
                self.decisions.setdefault(d.decision_id, d)
            for e in events:
                assert e.decision_id is not None
                self.delivered.append(f"{e.decision_id}/{e.type}")
                if (e.decision_id, e.type) not in self.events:
                    self.events[(e.decision_id, e.type)] = e
                    new += 1
            return new

    def totals(self, advertiser_id: str, campaign_id: str) -> list[CreativeTotals]:
        raise NotImplementedError

    def history(
        self, advertiser_id: str, campaign_id: str, since: datetime | None = None
    ) -> tuple[list[Decision], list[Event]]:
        raise NotImplementedError


def decision(i: int) -> Decision:
    return Decision(
        decision_id=f"d-{i:05d}",
        timestamp=T0 + timedelta(seconds=i),
        channel="decide",
        advertiser_id="acme",
        campaign_id="test-campaign",
        creative_id=f"cr-{i % 3}",
        arm=f"arm-{i % 3}",
        kind="generic",
        reason="policy",
        policy="thompson",
        propensity=0.5,
    )


def impression(i: int) -> Event:
    return Event(
        type="impression",
        creative_id=f"cr-{i % 3}",
        decision_id=f"d-{i:05d}",
        advertiser_id="acme",
        campaign_id="test-campaign",
        timestamp=T0 + timedelta(seconds=i, milliseconds=500),
    )


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def store() -> SwitchableLog:
    return SwitchableLog()


@pytest.fixture
def make_log(store: SwitchableLog) -> Iterator[Callable[..., BufferedLog]]:
    logs: list[BufferedLog] = []

    def make(**kwargs: object) -> BufferedLog:
        kwargs.setdefault("interval_s", 0.01)
        kwargs.setdefault("max_backoff_s", 0.05)
        log = BufferedLog(kwargs.pop("store", store), **kwargs)  # type: ignore[arg-type]
        logs.append(log)
        return log

    yield make
    for log in logs:
        log.close(timeout_s=2.0)


def spool_files(spool: Path) -> list[Path]:
    return sorted(spool.glob("spool-*.jsonl"))


def test_writes_in_batches_and_in_order(
    store: SwitchableLog, make_log: Callable[..., BufferedLog]
) -> None:
    log = make_log(batch=25)
    for i in range(100):
        log.add(decisions=[decision(i)])
    assert log.flush(10.0)
    assert log.pending() == 0
    assert log.healthy
    assert store.delivered == [f"d-{i:05d}" for i in range(100)]


def test_a_pass_writes_what_was_queued_when_it_began(
    store: SwitchableLog, make_log: Callable[..., BufferedLog]
) -> None:
    """Records arriving during a write wait for the next pass (a full batch, the next tick
    or a flush) instead of going out at once in a batch of their own."""
    log = make_log(interval_s=30.0, batch=100)
    store.gate.clear()
    for i in range(10):
        log.add(decisions=[decision(i)])
    assert not log.flush(0.001)  # wakes the writer, which blocks inside the store
    assert store.entered.wait(5.0)
    for i in range(10, 15):
        log.add(decisions=[decision(i)])
    store.gate.set()
    assert wait_for(lambda: len(store.delivered) >= 10)
    time.sleep(0.2)
    assert store.delivered == [f"d-{i:05d}" for i in range(10)]
    assert log.pending() == 5
    assert log.flush(5.0)
    assert store.delivered == [f"d-{i:05d}" for i in range(15)]


def test_records_added_while_down_are_written_once_after_recovery(
    store: SwitchableLog, make_log: Callable[..., BufferedLog]
) -> None:
    log = make_log(batch=16)
    store.up = False
    for i in range(60):
        log.add(decisions=[decision(i)], events=[impression(i)])
    assert not log.flush(0.2)
    assert wait_for(lambda: not log.healthy)
    assert log.pending() == 120
    assert store.delivered == []
    assert store.attempts >= 1

    store.up = True
    assert log.flush(10.0)
    assert log.healthy
    assert log.pending() == 0
    counts = Counter(store.delivered)
    assert set(counts.values()) == {1}
    assert len(counts) == 120
    decided = [k for k in store.delivered if "/" not in k]
    assert decided == [f"d-{i:05d}" for i in range(60)]
    impressions = [k.split("/")[0] for k in store.delivered if "/" in k]
    assert impressions == [f"d-{i:05d}" for i in range(60)]


def test_add_never_waits_for_the_store(
    store: SwitchableLog, make_log: Callable[..., BufferedLog]
) -> None:
    log = make_log(batch=1)
    store.gate.clear()  # the store hangs inside append
    log.add(decisions=[decision(0)])
    assert store.entered.wait(5.0)

    done = threading.Event()

    def request() -> None:
        for i in range(1, 200):
            log.add(decisions=[decision(i)])
        done.set()

    t = threading.Thread(target=request)
    t.start()
    finished = done.wait(5.0)
    store.gate.set()
    t.join()
    assert finished, "add() blocked while the store was busy"
    assert log.flush(10.0)
    assert len(set(store.delivered)) == 200


def test_spills_past_max_buffered_and_replays_first(
    store: SwitchableLog, make_log: Callable[..., BufferedLog], tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    log = make_log(batch=10, max_buffered=30, spool_dir=spool)
    store.up = False
    for i in range(45):
        log.add(decisions=[decision(i)])
    assert wait_for(lambda: len(spool_files(spool)) >= 1)
    assert log.pending() == 45
    for i in range(45, 50):  # newer records stay in memory, behind the spool
        log.add(decisions=[decision(i)])
    assert log.pending() == 50
    lines = [json.loads(x) for f in spool_files(spool) for x in f.read_text().splitlines()]
    assert [x["decision"]["decision_id"] for x in lines] == [
        f"d-{i:05d}" for i in range(len(lines))
    ]
    assert not list(spool.glob(".*.tmp"))

    store.up = True
    assert log.flush(10.0)
    assert store.delivered == [f"d-{i:05d}" for i in range(50)]
    assert spool_files(spool) == []


def test_close_while_down_spools_and_a_new_log_replays(
    store: SwitchableLog, make_log: Callable[..., BufferedLog], tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    first = make_log(spool_dir=spool)
    store.up = False
    for i in range(20):
        first.add(decisions=[decision(i)], events=[impression(i)])
    first.close(timeout_s=2.0)
    assert len(spool_files(spool)) == 1
    with pytest.raises(AdloomError, match=r"closed"):
        first.add(decisions=[decision(99)])

    restarted = make_log(spool_dir=spool)
    assert restarted.pending() == 40  # found on disk before anything is written
    store.up = True
    assert restarted.flush(10.0)
    assert Counter(store.delivered) == Counter(
        [f"d-{i:05d}" for i in range(20)] + [f"d-{i:05d}/impression" for i in range(20)]
    )
    assert spool_files(spool) == []


def test_a_replay_after_a_partial_write_counts_once(tmp_path: Path) -> None:
    """The real store makes spool replays idempotent even when some records made it."""
    spool = tmp_path / "spool"
    sql = SqliteStore(SqliteConfig(path=str(tmp_path / "events.db")))
    try:
        sql.append([decision(i) for i in range(5)], [impression(i) for i in range(5)])
        spool.mkdir()
        lines = [json.dumps({"decision": decision(i).model_dump(mode="json")}) for i in range(10)]
        lines += [json.dumps({"event": impression(i).model_dump(mode="json")}) for i in range(10)]
        (spool / "spool-00000000000000000001-1-000000.jsonl").write_text("\n".join(lines) + "\n")
        log = BufferedLog(sql, interval_s=0.01, spool_dir=spool)
        try:
            assert log.flush(10.0)
        finally:
            log.close()
        (totals,) = [t for t in sql.totals("acme", "test-campaign") if t.creative_id == "cr-0"]
        assert (totals.decisions, totals.impressions) == (4, 4)  # ids 0, 3, 6, 9
        decisions, events = sql.history("acme", "test-campaign")
        assert (len(decisions), len(events)) == (10, 10)
    finally:
        sql.close()


def test_a_refused_record_is_set_aside_and_the_rest_written(
    store: SwitchableLog, make_log: Callable[..., BufferedLog], tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    store.refuse.add("d-00003")
    log = make_log(batch=10, spool_dir=spool)
    for i in range(8):
        log.add(decisions=[decision(i)])
    assert log.flush(10.0)
    assert store.delivered == [f"d-{i:05d}" for i in range(8) if i != 3]
    (rejected,) = spool.glob("rejected-*.jsonl")
    assert json.loads(rejected.read_text())["decision"]["decision_id"] == "d-00003"


def test_event_without_decision_id_is_refused_at_once(
    make_log: Callable[..., BufferedLog],
) -> None:
    log = make_log()
    orphan = Event(type="click", creative_id="cr-1", timestamp=T0)
    with pytest.raises(AdloomError, match=r"no decision_id"):
        log.add(events=[orphan])
    assert log.pending() == 0


def test_seen_remembers_recent_pairs(make_log: Callable[..., BufferedLog]) -> None:
    log = make_log(seen_size=100)
    assert log.seen("d-1", "impression") is False
    assert log.seen("d-1", "impression") is True
    assert log.seen("d-1", "click") is False
    assert log.seen("d-2", "impression") is False
    for i in range(40):  # fewer than half the size: everything is still remembered
        log.seen(f"x-{i}", "impression")
    assert log.seen("d-1", "impression") is True
    for i in range(300):  # far more than the size: old pairs are forgotten
        log.seen(f"y-{i}", "impression")
    assert log.seen("d-2", "impression") is False
    assert log.seen("y-299", "impression") is True


def test_concurrent_adds_are_all_written_once(
    store: SwitchableLog, make_log: Callable[..., BufferedLog]
) -> None:
    log = make_log(batch=50)

    def worker(n: int) -> None:
        for i in range(n * 250, (n + 1) * 250):
            log.add(decisions=[decision(i)], events=[impression(i)])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.flush(10.0)
    counts = Counter(store.delivered)
    assert len(counts) == 2000
    assert set(counts.values()) == {1}


def test_end_to_end_with_the_sqlite_store(tmp_path: Path) -> None:
    sql = SqliteStore(SqliteConfig(path=":memory:"))
    log = BufferedLog(sql, interval_s=0.01, spool_dir=tmp_path / "spool")
    try:
        for i in range(30):
            log.add(decisions=[decision(i)])
            if not log.seen(f"d-{i:05d}", "impression"):
                log.add(events=[impression(i)])
            if not log.seen(f"d-{i:05d}", "impression"):  # a retried tracking call
                log.add(events=[impression(i)])
        assert log.flush(10.0)
        totals = sql.totals("acme", "test-campaign")
        assert [(t.creative_id, t.decisions, t.impressions) for t in totals] == [
            ("cr-0", 10, 10),
            ("cr-1", 10, 10),
            ("cr-2", 10, 10),
        ]
    finally:
        log.close()
        sql.close()


def test_invalid_settings_are_refused(store: SwitchableLog) -> None:
    with pytest.raises(AdloomError, match=r"batch"):
        BufferedLog(store, batch=0)
