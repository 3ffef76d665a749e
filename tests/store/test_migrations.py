"""The Alembic revisions build exactly the schema in ``adloom.store.schema``.

The initial revision spells its operations out (a frozen migration); this is the check
that it and the ``Table`` definitions never drift apart, on both databases.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from adloom.errors import AdloomError
from adloom.store import Advertiser
from adloom.store.schema import VERSION_TABLE, metadata
from adloom.store.sql import (
    MIGRATIONS,
    PostgresConfig,
    PostgresStore,
    SqliteConfig,
    SqliteStore,
    SqlStore,
)

TABLES = {
    "advertisers",
    "campaigns",
    "creatives",
    "consents",
    "decisions",
    "events",
    "catalog_revision",
}


def _head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert len(heads) == 1, f"the revisions must form one line, got heads {heads}"
    return heads[0]


def _current(store: SqlStore) -> str | None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()


def _differences(store: SqlStore) -> list[object]:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        return list(compare_metadata(ctx, metadata))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def url_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], SqlStore]]:
    """Open a store on an empty database of each kind (a factory, to reopen it)."""
    if request.param == "sqlite":
        path = str(tmp_path / "migrate.db")

        def open_sqlite() -> SqlStore:
            return SqliteStore(SqliteConfig(path=path))

        yield open_sqlite
    else:
        url = request.getfixturevalue("pg_url")

        def open_pg() -> SqlStore:
            return PostgresStore(PostgresConfig(url=url))

        yield open_pg


def test_revisions_form_a_single_line() -> None:
    assert _head() == "0002"


def test_upgrade_creates_the_schema_and_reopening_is_a_no_op(
    url_store: Callable[[], SqlStore],
) -> None:
    store = url_store()
    try:
        names = set(inspect(store.engine).get_table_names())
        assert names == TABLES | {VERSION_TABLE}
        assert _current(store) == _head()
        assert _differences(store) == []
        store.put(Advertiser(id="acme", name="Acme"))
    finally:
        store.close()

    again = url_store()
    try:
        assert _current(again) == _head()
        assert set(inspect(again.engine).get_table_names()) == TABLES | {VERSION_TABLE}
        assert again.get(Advertiser, "acme") is not None  # nothing was recreated
        again.migrate()  # explicitly, too
        assert _differences(again) == []
    finally:
        again.close()


def test_indexes_serve_campaign_reads(url_store: Callable[[], SqlStore]) -> None:
    store = url_store()
    try:
        insp = inspect(store.engine)
        for table in ("creatives", "decisions", "events"):
            leading = [ix["column_names"][:2] for ix in insp.get_indexes(table)]
            assert ["advertiser_id", "campaign_id"] in leading, table
    finally:
        store.close()


REVISIONS = ("0001_initial", "0002_catalog_revision")


def test_revisions_downgrade_and_upgrade(url_store: Callable[[], SqlStore]) -> None:
    """The frozen revisions' own operations, run down and up again on a migrated database."""
    revisions = [
        importlib.import_module(f"adloom.store.migrations.versions.{name}") for name in REVISIONS
    ]
    store = url_store()
    try:
        for revision in reversed(revisions):
            with store.engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
                revision.downgrade()
        assert set(inspect(store.engine).get_table_names()) == {VERSION_TABLE}
        for revision in revisions:
            with store.engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
                revision.upgrade()
        assert _differences(store) == []
        assert store.revision() == 0  # the counter row comes with its table
        store.put(Advertiser(id="acme", name="Acme"))
        assert store.revision() == 1
    finally:
        store.close()


def test_migrations_need_the_store_connection() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with pytest.raises(AdloomError, match=r"need a connection"):
        command.upgrade(cfg, "head")
    with pytest.raises(AdloomError, match=r"online only"):
        command.upgrade(cfg, "head", sql=True)


def test_memory_database_is_migrated() -> None:
    store = SqliteStore(SqliteConfig(path=":memory:"))
    try:
        assert _current(store) == _head()
        assert _differences(store) == []
    finally:
        store.close()


_OPEN = """
import sys
from adloom.store.sql import PostgresConfig, PostgresStore
PostgresStore(PostgresConfig(url=sys.argv[1], pool_size=1)).close()
"""


@pytest.mark.integration
def test_workers_starting_together_migrate_once(pg_url: str) -> None:
    """Server processes opening one empty database at once take turns to migrate it."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outcomes = [(p.wait(), p.stderr.read().decode() if p.stderr else "") for p in procs]
    for p in procs:
        if p.stdout:
            p.stdout.close()
        if p.stderr:
            p.stderr.close()
    assert [rc for rc, _ in outcomes] == [0, 0, 0], outcomes
    store = PostgresStore(PostgresConfig(url=pg_url))
    try:
        assert _current(store) == _head()
        assert _differences(store) == []
    finally:
        store.close()


def test_threads_opening_stores_together(tmp_path: Path) -> None:
    """Alembic's context is process-global; stores opened from threads must not clash."""
    errors: list[BaseException] = []
    stores: list[SqlStore] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def start(n: int) -> None:
        try:
            barrier.wait()
            s = SqliteStore(SqliteConfig(path=str(tmp_path / f"t{n % 2}.db")))
            with lock:
                stores.append(s)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert len(stores) == 4
        for s in stores:
            assert _current(s) == _head()
    finally:
        for s in stores:
            s.close()
