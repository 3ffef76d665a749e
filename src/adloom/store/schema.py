"""The SQL schema of the store, in one place.

Key columns exist only for lookups and aggregation; each row also keeps its full pydantic
record as JSON text in ``data``, so reading a record never depends on the column layout
and a new record field needs no migration. The revisions under
:mod:`adloom.store.migrations` must produce exactly these tables (a test compares them).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

#: Alembic's bookkeeping table; its own name so adloom can share a database with others.
VERSION_TABLE = "adloom_schema_version"

metadata = MetaData()

advertisers = Table(
    "advertisers",
    metadata,
    Column("id", String, nullable=False),
    Column("data", Text, nullable=False),
    PrimaryKeyConstraint("id", name="pk_advertisers"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("advertiser_id", String, nullable=False),
    Column("campaign_id", String, nullable=False),
    Column("data", Text, nullable=False),
    PrimaryKeyConstraint("advertiser_id", "campaign_id", name="pk_campaigns"),
)

creatives = Table(
    "creatives",
    metadata,
    Column("advertiser_id", String, nullable=False),
    Column("creative_id", String, nullable=False),
    Column("campaign_id", String, nullable=False),
    Column("user_id", String, nullable=True),
    Column("kind", String, nullable=False),
    Column("decision", String, nullable=False),
    Column("data", Text, nullable=False),
    PrimaryKeyConstraint("advertiser_id", "creative_id", name="pk_creatives"),
    Index("ix_creatives_campaign", "advertiser_id", "campaign_id"),
)

consents = Table(
    "consents",
    metadata,
    Column("advertiser_id", String, nullable=False),
    Column("user_id", String, nullable=False),
    Column("data", Text, nullable=False),
    PrimaryKeyConstraint("advertiser_id", "user_id", name="pk_consents"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String, nullable=False),
    Column("advertiser_id", String, nullable=False),
    Column("campaign_id", String, nullable=False),
    Column("creative_id", String, nullable=False),
    Column("user_id", String, nullable=True),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("data", Text, nullable=False),
    PrimaryKeyConstraint("decision_id", name="pk_decisions"),
    Index("ix_decisions_campaign", "advertiser_id", "campaign_id", "timestamp"),
)

events = Table(
    "events",
    metadata,
    Column("decision_id", String, nullable=False),
    Column("type", String, nullable=False),
    Column("advertiser_id", String, nullable=True),
    Column("campaign_id", String, nullable=True),
    Column("creative_id", String, nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("value", Float, nullable=True),
    Column("data", Text, nullable=False),
    PrimaryKeyConstraint("decision_id", "type", name="pk_events"),
    Index("ix_events_campaign", "advertiser_id", "campaign_id", "timestamp"),
)

#: One row (id 1) whose value every catalog write bumps in its own transaction.
catalog_revision = Table(
    "catalog_revision",
    metadata,
    Column("id", Integer, nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("id", name="pk_catalog_revision"),
)
