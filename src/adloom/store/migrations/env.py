"""Alembic's entry point; see :func:`adloom.store.migrations.run_environment`."""

from adloom.store.migrations import run_environment

run_environment()
