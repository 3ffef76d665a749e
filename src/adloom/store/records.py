"""Records the serving catalog keeps, each owned by one advertiser.

Every record but :class:`Advertiser` carries ``advertiser_id``; every read is scoped by it,
which is what keeps one advertiser from ever seeing another's campaigns or numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field

from adloom.domain import Campaign, Context, Creative, Model


def utcnow() -> datetime:
    return datetime.now(UTC)


class Advertiser(Model):
    id: str
    name: str
    key_hashes: list[str] = Field(
        default_factory=list,
        description="SHA-256 of each API key; the keys themselves are never stored.",
    )
    created: datetime = Field(default_factory=utcnow)


class FrequencyCap(Model):
    """How often one user may see a campaign, and when a creative has worn out for them."""

    impressions_per_window: int = Field(10, ge=1, description="Per user, per campaign.")
    window_s: int = Field(86_400, ge=60)
    fatigue_after: int = Field(
        4, ge=1, description="Impressions of one creative to one user before it rests."
    )


class CampaignRecord(Model):
    advertiser_id: str
    campaign: Campaign
    status: Literal["active", "paused"] = "active"
    bid_cpm: float = Field(5.0, gt=0.0, description="Bid per thousand impressions.")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    frequency_cap: FrequencyCap = Field(default_factory=FrequencyCap)
    created: datetime = Field(default_factory=utcnow)

    @property
    def id(self) -> str:
        return self.campaign.id


class CreativeRecord(Model):
    """A rendered creative the server may hand out, with the verdict that allows it."""

    advertiser_id: str
    campaign_id: str
    product_id: str
    creative_id: str
    user_id: str | None = Field(None, description="Owner of a personalized creative.")
    kind: Literal["personalized", "generic"]
    arm: str = Field(description="The bandit arm this creative is served under.")
    context: Context
    creative: Creative
    decision: Literal["accept", "revise", "reject"] = Field(
        description="The verifier's verdict; only accepted creatives are served."
    )
    media_path: str = Field(description="Absolute path of the video file on this server.")
    created: datetime = Field(default_factory=utcnow)


class ConsentRecord(Model):
    advertiser_id: str
    user_id: str
    personalization: bool = False
    analytics: bool = False
    updated: datetime = Field(default_factory=utcnow)


class CreativeTotals(Model):
    """Event counts of one creative in one campaign, as reports show them."""

    creative_id: str
    decisions: int = 0
    impressions: int = 0
    starts: int = 0
    first_quartiles: int = 0
    midpoints: int = 0
    third_quartiles: int = 0
    completes: int = 0
    skips: int = 0
    clicks: int = 0
    conversions: int = 0
    revenue: float = 0.0


Record = Advertiser | CampaignRecord | CreativeRecord | ConsentRecord
