"""Alembic revisions of the store schema, run to head whenever a store is opened.

The environment logic lives here rather than in ``env.py`` (which Alembic loads by file
path) so it is an ordinary module of the package: importable, typed and measured.
"""

from __future__ import annotations


def run_environment() -> None:
    """Migrate the connection the store hands over in ``config.attributes["connection"]``.

    The store opens its engine and takes its own lock, so no ``alembic.ini`` or database
    URL is involved, and offline (SQL script) mode is not offered.
    """
    from alembic import context
    from sqlalchemy.engine import Connection

    from adloom.errors import AdloomError
    from adloom.store.schema import VERSION_TABLE, metadata

    if context.is_offline_mode():
        raise AdloomError("store migrations run online only: open the store to migrate it")
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise AdloomError("store migrations need a connection in config.attributes['connection']")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
