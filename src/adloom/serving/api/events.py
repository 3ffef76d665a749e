"""Tracking: signed event URLs, counted once each, and the click redirect."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import RedirectResponse

from adloom.domain import EventType
from adloom.serving.api.deps import Server
from adloom.serving.tracking import Expired, TrackingError

router = APIRouter(tags=["tracking"])

Token = Annotated[str, Query(min_length=1, max_length=512, description="Signed token.")]
Value = Annotated[
    float | None,
    Query(ge=0.0, le=1e9, description="Conversion revenue or skip second.", allow_inf_nan=False),
]


def _count(server: Server, event: str, token: str, value: float | None) -> bool:
    try:
        return server.record_event(event, token, value)
    except Expired:
        raise HTTPException(403, "tracking URL expired (replayed?)") from None
    except TrackingError:
        raise HTTPException(403, "tracking URL signature is not valid") from None


@router.get("/v1/events/{event}", status_code=204, response_class=Response)
async def track(event: EventType, t: Token, server: Server, value: Value = None) -> Response:
    """Count an event; a duplicate is accepted and not counted again."""
    new = _count(server, event, t, value)
    return Response(status_code=204, headers={"X-Adloom-Counted": "1" if new else "0"})


@router.post("/v1/events/{event}", status_code=204, response_class=Response)
async def track_post(event: EventType, t: Token, server: Server, value: Value = None) -> Response:
    """The same as GET, for servers posting conversions."""
    new = _count(server, event, t, value)
    return Response(status_code=204, headers={"X-Adloom-Counted": "1" if new else "0"})


@router.get("/v1/click", status_code=302, response_class=RedirectResponse)
async def click(t: Token, server: Server) -> RedirectResponse:
    """Count the click, then send the user to the product page.

    The landing URL gets an ``adloom_conv`` parameter: the signed conversion token the
    advertiser's site posts back to ``/v1/events/conversion`` when the user converts.
    """
    _count(server, "click", t, None)
    claims = server.signer.verify(t, "click")
    snap = server.catalog.snapshot
    rec = snap.creatives.get((claims.advertiser_id, claims.creative_id))
    camp = snap.campaigns.get((claims.advertiser_id, claims.campaign_id))
    if rec is None or camp is None:
        raise HTTPException(404, "creative no longer served")
    landing = next(
        (p.landing_url for p in camp.campaign.products if p.id == rec.product_id),
        camp.campaign.products[0].landing_url,
    )
    conv = server.signer.token(
        claims.decision_id,
        claims.advertiser_id,
        claims.campaign_id,
        claims.creative_id,
        "conversion",
        ttl_s=server.settings.conversion_ttl_s,
    )
    parts = urlsplit(landing)
    query = f"{parts.query}&" if parts.query else ""
    query += urlencode({"adloom_conv": conv})
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302)
