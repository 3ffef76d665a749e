"""Management API, per advertiser: campaigns, creatives, consent and reports.

Every route is scoped to the advertiser whose API key signed the request; another
advertiser's campaign answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from adloom.domain import Campaign, Creative, CreativePlan, Model, Verdict
from adloom.errors import AdloomError
from adloom.serving.api.deps import CurrentAdvertiser, Server, require_admin
from adloom.serving.catalog import key_hash
from adloom.serving.importer import creative_record
from adloom.store import (
    Advertiser,
    CampaignRecord,
    ConsentRecord,
    CreativeRecord,
    CreativeTotals,
    FrequencyCap,
    Unavailable,
)

router = APIRouter(prefix="/v1", tags=["management"])
T = TypeVar("T")

Id = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class AdvertiserCreate(Model):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)


class AdvertiserKey(BaseModel):
    id: str
    name: str
    api_key: str = Field(description="Shown once; only its hash is stored.")


class CampaignCreate(Model):
    campaign: Campaign
    status: Literal["active", "paused"] = "active"
    bid_cpm: float = Field(5.0, gt=0.0, le=1000.0)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    frequency_cap: FrequencyCap = Field(default_factory=FrequencyCap)


class CampaignUpdate(Model):
    status: Literal["active", "paused"] | None = None
    bid_cpm: float | None = Field(None, gt=0.0, le=1000.0)
    frequency_cap: FrequencyCap | None = None


class CampaignPublic(BaseModel):
    campaign_id: str
    name: str
    objective: str
    status: str
    bid_cpm: float
    currency: str
    frequency_cap: FrequencyCap
    creatives: int = Field(description="Accepted creatives that can be served.")


class CreativeCreate(Model):
    plan: CreativePlan
    creative: Creative
    verdict: Verdict
    media_path: str = Field(min_length=1, description="The video's path on this server.")


class CreativePublic(BaseModel):
    creative_id: str
    campaign_id: str
    product_id: str
    kind: str
    user_id: str | None
    arm: str
    decision: str
    aspect_ratio: str
    duration_s: float


class ConsentUpdate(Model):
    personalization: bool
    analytics: bool = False


class ConsentPublic(BaseModel):
    user_id: str
    personalization: bool
    analytics: bool


class CreativeReport(CreativeTotals):
    ctr: float | None = Field(description="Clicks per impression.")
    completion_rate: float | None = Field(description="Completes per impression.")


class Report(BaseModel):
    campaign_id: str
    creatives: list[CreativeReport]
    impressions: int
    clicks: int
    conversions: int
    revenue: float


def _store_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except Unavailable:
        raise HTTPException(503, "store unavailable, try again shortly") from None


def _campaign(server: Server, adv: Advertiser, campaign_id: str) -> CampaignRecord:
    rec: CampaignRecord | None = _store_call(
        server.store.get, CampaignRecord, campaign_id, advertiser_id=adv.id
    )
    if rec is None:
        raise HTTPException(404, f"campaign {campaign_id!r} not found")
    return rec


def _public(server: Server, rec: CampaignRecord) -> CampaignPublic:
    key = (rec.advertiser_id, rec.campaign.id)
    return CampaignPublic(
        campaign_id=rec.campaign.id,
        name=rec.campaign.name,
        objective=rec.campaign.objective,
        status=rec.status,
        bid_cpm=rec.bid_cpm,
        currency=rec.currency,
        frequency_cap=rec.frequency_cap,
        creatives=len(server.catalog.snapshot.generic.get(key, ()))
        + sum(len(v) for k, v in server.catalog.snapshot.personalized.items() if k[:2] == key),
    )


@router.post(
    "/advertisers",
    status_code=201,
    response_model=AdvertiserKey,
    dependencies=[Depends(require_admin)],
)
def create_advertiser(body: AdvertiserCreate, server: Server) -> AdvertiserKey:
    """Create an advertiser and its first API key (admin key required)."""
    if _store_call(server.store.get, Advertiser, body.id) is not None:
        raise HTTPException(409, f"advertiser {body.id!r} exists")
    key = new_api_key()
    _store_call(
        server.store.put, Advertiser(id=body.id, name=body.name, key_hashes=[key_hash(key)])
    )
    server.catalog.refresh()
    return AdvertiserKey(id=body.id, name=body.name, api_key=key)


def new_api_key() -> str:
    return "adl_" + secrets.token_urlsafe(24)


@router.get("/campaigns", response_model=list[CampaignPublic])
def list_campaigns(server: Server, adv: CurrentAdvertiser) -> list[CampaignPublic]:
    recs: list[CampaignRecord] = _store_call(
        server.store.list, CampaignRecord, advertiser_id=adv.id
    )
    return [_public(server, r) for r in recs]


@router.post("/campaigns", status_code=201, response_model=CampaignPublic)
def create_campaign(body: CampaignCreate, server: Server, adv: CurrentAdvertiser) -> CampaignPublic:
    """Register a campaign; its creatives are added next, and only accepted ones serve."""
    if _store_call(server.store.get, CampaignRecord, body.campaign.id, advertiser_id=adv.id):
        raise HTTPException(409, f"campaign {body.campaign.id!r} exists; PATCH it instead")
    rec = CampaignRecord(
        advertiser_id=adv.id, **body.model_dump(exclude={"campaign"}), campaign=body.campaign
    )
    _store_call(server.store.put, rec)
    server.catalog.refresh()
    return _public(server, rec)


@router.get("/campaigns/{campaign_id}", response_model=CampaignPublic)
def get_campaign(campaign_id: Id, server: Server, adv: CurrentAdvertiser) -> CampaignPublic:
    return _public(server, _campaign(server, adv, campaign_id))


@router.patch("/campaigns/{campaign_id}", response_model=CampaignPublic)
def update_campaign(
    campaign_id: Id, body: CampaignUpdate, server: Server, adv: CurrentAdvertiser
) -> CampaignPublic:
    """Pause or resume a campaign, change its bid or frequency cap."""
    rec = _campaign(server, adv, campaign_id)
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    rec = rec.model_copy(update={k: v for k, v in changes.items() if v is not None})
    _store_call(server.store.put, rec)
    server.catalog.refresh()
    return _public(server, rec)


@router.get("/campaigns/{campaign_id}/creatives", response_model=list[CreativePublic])
def list_creatives(campaign_id: Id, server: Server, adv: CurrentAdvertiser) -> list[CreativePublic]:
    _campaign(server, adv, campaign_id)
    recs: list[CreativeRecord] = _store_call(
        server.store.list, CreativeRecord, advertiser_id=adv.id, campaign_id=campaign_id
    )
    return [_creative_public(r) for r in recs]


def _creative_public(r: CreativeRecord) -> CreativePublic:
    return CreativePublic(
        creative_id=r.creative_id,
        campaign_id=r.campaign_id,
        product_id=r.product_id,
        kind=r.kind,
        user_id=r.user_id,
        arm=r.arm,
        decision=r.decision,
        aspect_ratio=r.context.aspect_ratio,
        duration_s=r.creative.duration_s,
    )


@router.post("/campaigns/{campaign_id}/creatives", status_code=201, response_model=CreativePublic)
def add_creative(
    campaign_id: Id, body: CreativeCreate, server: Server, adv: CurrentAdvertiser
) -> CreativePublic:
    """Register a rendered, verified creative. Only a verdict of ``accept`` is ever served."""
    camp = _campaign(server, adv, campaign_id)
    if body.plan.campaign_id != campaign_id:
        raise HTTPException(422, "plan.campaign_id does not match the campaign in the URL")
    if body.plan.product_id not in {p.id for p in camp.campaign.products}:
        raise HTTPException(422, f"plan.product_id {body.plan.product_id!r} is not in the campaign")
    try:
        rec = creative_record(adv.id, body.plan, body.creative, body.verdict, Path(body.media_path))
    except AdloomError as exc:
        raise HTTPException(422, str(exc)) from None
    _store_call(server.store.put, rec)
    server.catalog.refresh()
    return _creative_public(rec)


@router.put("/consents/{user_id}", response_model=ConsentPublic)
def put_consent(
    user_id: Id, body: ConsentUpdate, server: Server, adv: CurrentAdvertiser
) -> ConsentPublic:
    """Record a user's consent; without it the user only ever gets generic creatives."""
    rec = ConsentRecord(advertiser_id=adv.id, user_id=user_id, **body.model_dump())
    _store_call(server.store.put, rec)
    server.catalog.refresh()
    return ConsentPublic(user_id=user_id, **body.model_dump())


@router.get("/campaigns/{campaign_id}/report", response_model=Report)
def report(campaign_id: Id, server: Server, adv: CurrentAdvertiser) -> Report:
    """Per-creative counts and rates, from the event log."""
    _campaign(server, adv, campaign_id)
    server.log.flush(2.0)
    totals: list[CreativeTotals] = _store_call(server.store.totals, adv.id, campaign_id)
    rows = [
        CreativeReport(
            **t.model_dump(),
            ctr=t.clicks / t.impressions if t.impressions else None,
            completion_rate=t.completes / t.impressions if t.impressions else None,
        )
        for t in totals
    ]
    return Report(
        campaign_id=campaign_id,
        creatives=rows,
        impressions=sum(t.impressions for t in totals),
        clicks=sum(t.clicks for t in totals),
        conversions=sum(t.conversions for t in totals),
        revenue=sum(t.revenue for t in totals),
    )
