"""The initial store schema: catalog tables, the decision log and the event log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "advertisers",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_advertisers"),
    )
    op.create_table(
        "campaigns",
        sa.Column("advertiser_id", sa.String(), nullable=False),
        sa.Column("campaign_id", sa.String(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("advertiser_id", "campaign_id", name="pk_campaigns"),
    )
    op.create_table(
        "creatives",
        sa.Column("advertiser_id", sa.String(), nullable=False),
        sa.Column("creative_id", sa.String(), nullable=False),
        sa.Column("campaign_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("advertiser_id", "creative_id", name="pk_creatives"),
    )
    op.create_index("ix_creatives_campaign", "creatives", ["advertiser_id", "campaign_id"])
    op.create_table(
        "consents",
        sa.Column("advertiser_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("advertiser_id", "user_id", name="pk_consents"),
    )
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(), nullable=False),
        sa.Column("advertiser_id", sa.String(), nullable=False),
        sa.Column("campaign_id", sa.String(), nullable=False),
        sa.Column("creative_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name="pk_decisions"),
    )
    op.create_index(
        "ix_decisions_campaign", "decisions", ["advertiser_id", "campaign_id", "timestamp"]
    )
    op.create_table(
        "events",
        sa.Column("decision_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("advertiser_id", sa.String(), nullable=True),
        sa.Column("campaign_id", sa.String(), nullable=True),
        sa.Column("creative_id", sa.String(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", "type", name="pk_events"),
    )
    op.create_index("ix_events_campaign", "events", ["advertiser_id", "campaign_id", "timestamp"])


def downgrade() -> None:
    op.drop_index("ix_events_campaign", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_decisions_campaign", table_name="decisions")
    op.drop_table("decisions")
    op.drop_table("consents")
    op.drop_index("ix_creatives_campaign", table_name="creatives")
    op.drop_table("creatives")
    op.drop_table("campaigns")
    op.drop_table("advertisers")
