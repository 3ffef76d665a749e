"""Where adloom keeps what it serves and what happened: catalog, decision and event logs.

SQLite by default, PostgreSQL at scale (both through SQLAlchemy with Alembic migrations);
fast online counters in-process by default, Redis at scale.
"""

from adloom.store.base import Catalog, EventLog, Store, Unavailable
from adloom.store.counters import Counters
from adloom.store.records import (
    Advertiser,
    CampaignRecord,
    ConsentRecord,
    CreativeRecord,
    CreativeTotals,
    FrequencyCap,
)

__all__ = [
    "Advertiser",
    "CampaignRecord",
    "Catalog",
    "ConsentRecord",
    "Counters",
    "CreativeRecord",
    "CreativeTotals",
    "EventLog",
    "FrequencyCap",
    "Store",
    "Unavailable",
]
