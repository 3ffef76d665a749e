"""The SQL store: SQLite by default, PostgreSQL at scale, one code path on SQLAlchemy Core.

Core rather than the ORM because the event log is written in batches of hundreds and
read in aggregate; each row keeps its pydantic record as JSON so reads are a single
``model_validate_json``. Opening a store migrates it to the newest schema (under an
advisory lock on PostgreSQL, so several server workers may start at once), and every
connection failure surfaces as :class:`~adloom.store.Unavailable` so the serving path
can degrade instead of failing.
"""

from __future__ import annotations

import builtins
import importlib.util
import math
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson
from alembic import command
from alembic.config import Config as AlembicConfig
from pydantic import Field, field_validator
from sqlalchemy import Engine, Table, and_, create_engine, event, func, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.pool import StaticPool

from adloom.domain import Decision, Event
from adloom.errors import AdloomError, MissingExtraError
from adloom.registry import Backend, BackendConfig
from adloom.store import schema
from adloom.store.base import R, Store, Unavailable
from adloom.store.records import (
    Advertiser,
    CampaignRecord,
    ConsentRecord,
    CreativeRecord,
    CreativeTotals,
    Record,
)

MIGRATIONS = Path(__file__).parent / "migrations"
#: pg_advisory_xact_lock key serializing migrations across processes ("adloom" in ASCII).
_MIGRATION_LOCK = 0x61646C6F6F6D
#: Alembic's ``context`` is process-global, so stores opened from several threads at once
#: must migrate one after another even where the database has no lock of its own.
_MIGRATING = threading.Lock()

#: CreativeTotals field counting each event type.
_TOTAL_FIELDS: dict[str, str] = {
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


def _utc(value: datetime) -> datetime:
    """Timestamps are stored in UTC; a naive one is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    psycopg = sys.modules.get("psycopg")  # a raw psycopg error implies it is imported
    return psycopg is not None and isinstance(exc, psycopg.OperationalError)


class SqlStore(Store):
    """Catalog and event log on one SQLAlchemy engine; subclasses build the engine."""

    name: ClassVar[str]
    #: SQLite serializes writers itself, but an in-memory database shares one connection
    #: between threads, so every use goes through this lock (a no-op elsewhere).
    _lock: AbstractContextManager[Any]

    #: An in-memory SQLite database lives exactly as long as its one connection, so closing
    #: keeps it: records stay readable until the store object itself is dropped.
    _keep_connection = False

    def _open(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        if self._dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self._insert: Any = pg_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self._insert = sqlite_insert
        try:
            self.migrate()
        except BaseException:
            engine.dispose()
            raise

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn connection-level failures into :class:`Unavailable` with a one-line reason."""
        try:
            with self._lock:
                yield
        except Exception as exc:
            if _is_connection_error(exc):
                raise Unavailable(f"{self.name} store unavailable: {_first_line(exc)}") from exc
            raise

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op when it is already there."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with _MIGRATING, self._guard(), self.engine.begin() as conn:
            if self._dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def ping(self) -> bool:
        try:
            with self._guard(), self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def close(self) -> None:
        """Release pooled connections; a later call simply opens new ones."""
        if not self._keep_connection:
            self.engine.dispose()

    # ------------------------------------------------------------------ catalog

    def _upsert(self, conn: Connection, table: Table, row: dict[str, Any]) -> None:
        keys = [c.name for c in table.primary_key.columns]
        stmt = self._insert(table).values(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={k: stmt.excluded[k] for k in row if k not in keys},
        )
        conn.execute(stmt)

    def put(self, record: Record) -> None:
        data = record.model_dump_json()
        table: Table
        row: dict[str, Any]
        if isinstance(record, Advertiser):
            table, row = schema.advertisers, {"id": record.id}
        elif isinstance(record, CampaignRecord):
            table = schema.campaigns
            row = {"advertiser_id": record.advertiser_id, "campaign_id": record.campaign.id}
        elif isinstance(record, CreativeRecord):
            table = schema.creatives
            row = {
                "advertiser_id": record.advertiser_id,
                "creative_id": record.creative_id,
                "campaign_id": record.campaign_id,
                "user_id": record.user_id,
                "kind": record.kind,
                "decision": record.decision,
            }
        elif isinstance(record, ConsentRecord):
            table = schema.consents
            row = {"advertiser_id": record.advertiser_id, "user_id": record.user_id}
        else:
            raise AdloomError(f"cannot store a {type(record).__name__}: not a catalog record")
        row["data"] = data
        rev = schema.catalog_revision
        with self._guard(), self.engine.begin() as conn:
            self._upsert(conn, table, row)
            conn.execute(update(rev).where(rev.c.id == 1).values(value=rev.c.value + 1))

    def revision(self) -> int | None:
        rev = schema.catalog_revision
        with self._guard(), self.engine.connect() as conn:
            value = conn.execute(select(rev.c.value).where(rev.c.id == 1)).scalar_one_or_none()
        return None if value is None else int(value)

    @staticmethod
    def _table(kind: type[Record]) -> tuple[Table, str]:
        """The table of a record kind and the column its key is matched against."""
        if kind is Advertiser:
            return schema.advertisers, "id"
        if kind is CampaignRecord:
            return schema.campaigns, "campaign_id"
        if kind is CreativeRecord:
            return schema.creatives, "creative_id"
        if kind is ConsentRecord:
            return schema.consents, "user_id"
        raise AdloomError(f"unknown record kind {getattr(kind, '__name__', kind)!r}")

    @staticmethod
    def _require_advertiser(kind: type[Record], advertiser_id: str | None) -> None:
        if kind is not Advertiser and not advertiser_id:
            raise AdloomError(f"advertiser_id is required to read {kind.__name__} records")

    def get(self, kind: type[R], key: str, *, advertiser_id: str | None = None) -> R | None:
        table, key_col = self._table(kind)
        self._require_advertiser(kind, advertiser_id)
        if kind is Advertiser:
            if advertiser_id is not None and advertiser_id != key:
                return None
            where = table.c.id == key
        else:
            where = and_(table.c.advertiser_id == advertiser_id, table.c[key_col] == key)
        with self._guard(), self.engine.connect() as conn:
            data = conn.execute(select(table.c.data).where(where)).scalar_one_or_none()
        return None if data is None else kind.model_validate_json(data)

    def list(
        self,
        kind: type[R],
        *,
        advertiser_id: str | None = None,
        campaign_id: str | None = None,
    ) -> builtins.list[R]:
        table, key_col = self._table(kind)
        self._require_advertiser(kind, advertiser_id)
        query = select(table.c.data)
        if kind is Advertiser:
            if advertiser_id is not None:
                query = query.where(table.c.id == advertiser_id)
        else:
            query = query.where(table.c.advertiser_id == advertiser_id)
        if campaign_id is not None:
            if "campaign_id" not in table.c:
                raise AdloomError(f"campaign_id does not apply to {kind.__name__} records")
            query = query.where(table.c.campaign_id == campaign_id)
        order = [table.c.campaign_id] if kind is CreativeRecord else []
        query = query.order_by(*order, table.c[key_col])
        with self._guard(), self.engine.connect() as conn:
            rows = conn.execute(query).scalars().all()
        return [kind.model_validate_json(data) for data in rows]

    # ------------------------------------------------------------------ event log

    def append(self, decisions: Sequence[Decision] = (), events: Sequence[Event] = ()) -> int:
        for ev in events:
            if not ev.decision_id:
                raise AdloomError(
                    f"{ev.type} event of creative {ev.creative_id!r} has no decision_id: "
                    "events are only counted once per (decision_id, type)"
                )
        if not decisions and not events:
            return 0
        with self._guard(), self.engine.begin() as conn:
            if decisions:
                self._append_decisions(conn, decisions)
            if not events:
                return 0
            event_rows = self._event_rows(conn, decisions, events)
            stmt = (
                self._insert(schema.events)
                .on_conflict_do_nothing()
                .returning(schema.events.c.decision_id)
            )
            return len(conn.execute(stmt, event_rows).all())

    def _append_decisions(self, conn: Connection, decisions: Sequence[Decision]) -> None:
        """Insert decisions, skipping ids already logged."""
        rows = {
            d.decision_id: {
                "decision_id": d.decision_id,
                "advertiser_id": d.advertiser_id,
                "campaign_id": d.campaign_id,
                "creative_id": d.creative_id,
                "user_id": d.user_id,
                "timestamp": _utc(d.timestamp),
                "data": d.model_dump_json(),
            }
            for d in decisions
        }
        stmt = self._insert(schema.decisions).on_conflict_do_nothing()
        conn.execute(stmt, builtins.list(rows.values()))

    def _event_rows(
        self, conn: Connection, decisions: Sequence[Decision], events: Sequence[Event]
    ) -> builtins.list[dict[str, Any]]:
        """Rows for ``events``, one per (decision_id, type), scoped like their decision.

        An event that does not name its advertiser or campaign takes them from its
        decision (in this batch or already logged) so it is counted in the right place.
        """
        scope = {d.decision_id: (d.advertiser_id, d.campaign_id) for d in decisions}
        missing = {
            e.decision_id
            for e in events
            if (e.advertiser_id is None or e.campaign_id is None) and e.decision_id not in scope
        }
        if missing:
            t = schema.decisions
            found = conn.execute(
                select(t.c.decision_id, t.c.advertiser_id, t.c.campaign_id).where(
                    t.c.decision_id.in_(missing)
                )
            )
            scope.update({row.decision_id: (row.advertiser_id, row.campaign_id) for row in found})
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for ev in events:
            assert ev.decision_id is not None  # checked by append
            key = (ev.decision_id, ev.type)
            if key in rows:
                continue
            if (ev.advertiser_id is None or ev.campaign_id is None) and ev.decision_id in scope:
                adv, camp = scope[ev.decision_id]
                ev = ev.model_copy(
                    update={
                        "advertiser_id": ev.advertiser_id or adv,
                        "campaign_id": ev.campaign_id or camp,
                    }
                )
            rows[key] = {
                "decision_id": ev.decision_id,
                "type": ev.type,
                "advertiser_id": ev.advertiser_id,
                "campaign_id": ev.campaign_id,
                "creative_id": ev.creative_id,
                "timestamp": _utc(ev.timestamp),
                "value": ev.value,
                "data": ev.model_dump_json(),
            }
        return builtins.list(rows.values())

    def totals(self, advertiser_id: str, campaign_id: str) -> builtins.list[CreativeTotals]:
        d, e = schema.decisions, schema.events
        per_decision = (
            select(d.c.creative_id, func.count())
            .where(d.c.advertiser_id == advertiser_id, d.c.campaign_id == campaign_id)
            .group_by(d.c.creative_id)
        )
        per_event = (
            select(e.c.creative_id, e.c.type, func.count(), func.sum(e.c.value))
            .where(e.c.advertiser_id == advertiser_id, e.c.campaign_id == campaign_id)
            .group_by(e.c.creative_id, e.c.type)
        )
        with self._guard(), self.engine.connect() as conn:
            decided = conn.execute(per_decision).all()
            happened = conn.execute(per_event).all()
        counts: dict[str, dict[str, Any]] = {}
        for creative_id, n in decided:
            counts.setdefault(creative_id, {})["decisions"] = int(n)
        for creative_id, kind, n, value in happened:
            row = counts.setdefault(creative_id, {})
            field = _TOTAL_FIELDS.get(kind)
            if field is not None:
                row[field] = int(n)
            if kind == "conversion":
                row["revenue"] = float(value or 0.0)
        return [CreativeTotals(creative_id=c, **counts[c]) for c in sorted(counts)]

    def history(
        self, advertiser_id: str, campaign_id: str, since: datetime | None = None
    ) -> tuple[builtins.list[Decision], builtins.list[Event]]:
        d, e = schema.decisions, schema.events
        dq = select(d.c.data).where(
            d.c.advertiser_id == advertiser_id, d.c.campaign_id == campaign_id
        )
        eq = select(e.c.data).where(
            e.c.advertiser_id == advertiser_id, e.c.campaign_id == campaign_id
        )
        if since is not None:
            dq = dq.where(d.c.timestamp >= _utc(since))
            eq = eq.where(e.c.timestamp >= _utc(since))
        dq = dq.order_by(d.c.timestamp, d.c.decision_id)
        eq = eq.order_by(e.c.timestamp, e.c.decision_id, e.c.type)
        with self._guard(), self.engine.connect() as conn:
            drows = conn.execute(dq).scalars().all()
            erows = conn.execute(eq).scalars().all()
        return (
            [Decision.model_validate_json(x) for x in drows],
            [Event.model_validate_json(x) for x in erows],
        )


# ---------------------------------------------------------------------- SQLite


#: A batch of decisions in one statement: SQLite reads the rows from one JSON array
#: parameter. ``executemany`` steps the database once per row, releasing and retaking the
#: interpreter lock each time, and every retake waits for the request thread's switch
#: interval: under load a batch crawled along while costing the requests context switches.
#: Rows per multi-row INSERT, largest first: a batch is cut into a few statements of these
#: sizes, so the driver caches a handful of texts and each statement releases the
#: interpreter lock once (a row at a time would hand it back and forth per row).
#: 128 rows of 7 values stay under SQLite's oldest limit of 999 parameters.
_DECISION_CHUNKS = (128, 16, 1)
_DECISION_SQL = {
    n: "INSERT INTO decisions (decision_id, advertiser_id, campaign_id, creative_id, user_id, "
    "timestamp, data) VALUES " + ",".join(["(?,?,?,?,?,?,?)"] * n) + " ON CONFLICT DO NOTHING"
    for n in _DECISION_CHUNKS
}


def _sqlite_timestamp(value: datetime) -> str:
    """A timestamp as SQLAlchemy stores it in SQLite (UTC, microseconds, no offset).

    The event writer formats one per decision while holding the interpreter lock, so a
    UTC value (every decision's) is cut from its ISO text rather than copied naive first.
    """
    if value.tzinfo is not UTC:
        value = _utc(value)
    return value.isoformat(" ", "microseconds")[:26]


class SqliteConfig(BackendConfig):
    type: Literal["sqlite"] = "sqlite"
    path: str = Field(
        "adloom.db", description="Database file, created if missing; ':memory:' for tests."
    )


class SqliteStore(SqlStore, Backend[SqliteConfig]):
    """A single file (or memory) database: no server to run, right for one machine."""

    name = "sqlite"
    Config: ClassVar[type[BackendConfig]] = SqliteConfig

    def __init__(self, config: SqliteConfig | None = None) -> None:
        Backend.__init__(self, config)
        memory = self.config.path == ":memory:"
        if memory:
            engine = create_engine(
                "sqlite://",
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
            )
            self._lock = threading.RLock()
            self._keep_connection = True
        else:
            path = Path(self.config.path).expanduser()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise AdloomError(
                    f"store path: cannot create {path.parent}: {exc.strerror or exc}"
                ) from exc
            engine = create_engine(
                f"sqlite:///{path}",
                pool_pre_ping=True,
                connect_args={"check_same_thread": False, "timeout": 30.0},
            )
            self._lock = nullcontext()

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        self._open(engine)

    def _append_decisions(self, conn: Connection, decisions: Sequence[Decision]) -> None:
        """A few multi-row statements per batch (see ``_DECISION_CHUNKS``)."""
        dumps, utc_z = orjson.dumps, orjson.OPT_UTC_Z
        values: builtins.list[Any] = []
        for d in decisions:
            values += (
                d.decision_id,
                d.advertiser_id,
                d.campaign_id,
                d.creative_id,
                d.user_id,
                _sqlite_timestamp(d.timestamp),
                dumps(d.__dict__, option=utc_z).decode(),
            )
        done, total = 0, len(decisions)
        for size in _DECISION_CHUNKS:
            while total - done >= size:
                chunk = tuple(values[7 * done : 7 * (done + size)])
                conn.exec_driver_sql(_DECISION_SQL[size], chunk)
                done += size


# ---------------------------------------------------------------------- PostgreSQL


class PostgresConfig(BackendConfig):
    type: Literal["postgresql"] = "postgresql"
    url: str = Field(description="SQLAlchemy URL, postgresql+psycopg://user@host:5432/db.")
    pool_size: int = Field(5, ge=1, description="Connections kept open per process.")
    connect_timeout_s: float = Field(
        2.0, gt=0.0, description="Give up on an unreachable server after this long."
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme == "postgresql":
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        if scheme != "postgresql+psycopg":
            raise ValueError(
                f"expected a postgresql+psycopg:// URL, got scheme {scheme or value[:20]!r}"
            )
        return value


class PostgresStore(SqlStore, Backend[PostgresConfig]):
    """PostgreSQL through psycopg 3: shared by every server worker and machine."""

    name = "postgresql"
    Config: ClassVar[type[BackendConfig]] = PostgresConfig

    def __init__(self, config: PostgresConfig) -> None:
        if importlib.util.find_spec("psycopg") is None:
            raise MissingExtraError("postgresql", "postgresql", "psycopg")
        Backend.__init__(self, config)
        timeout = max(1, math.ceil(self.config.connect_timeout_s))
        engine = create_engine(
            self.config.url,
            pool_size=self.config.pool_size,
            max_overflow=self.config.pool_size,
            pool_timeout=max(5.0, self.config.connect_timeout_s),
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": timeout,
                "application_name": "adloom",
                # Notice a server that vanished without closing the socket.
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 2,
                "keepalives_count": 3,
            },
        )
        self._lock = nullcontext()
        self._open(engine)
