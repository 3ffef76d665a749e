"""``POST /v1/decide``: first-party integrations ask which creative a user gets."""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from adloom.serving.api.body import documented, parse
from adloom.serving.catalog import PerCreative
from adloom.serving.engine import AdServer, DecideRequest, Outcome
from adloom.store import CreativeRecord


class ServedCreative(BaseModel):
    creative_id: str
    campaign_id: str
    product_id: str
    kind: Literal["personalized", "generic"]
    media_url: str
    mime_type: str
    width: int
    height: int
    duration_s: float
    disclosure: str
    click_url: str


class DecideResponse(BaseModel):
    decision_id: str | None
    reason: str
    detail: str
    propensity: float | None
    policy: str | None
    arm: str | None
    creative: ServedCreative | None
    tracking: dict[str, str]


router = APIRouter(tags=["serving"])


def json_response(body: object, status_code: int = 200) -> Response:
    """JSON serialized by orjson, bypassing response-model validation on the hot path."""
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def media_url(base_url: str, advertiser_id: str, creative_id: str) -> str:
    return f"{base_url.rstrip('/')}/media/{advertiser_id}/{creative_id}.mp4"


def decide_body(server: AdServer, outcome: Outcome) -> dict[str, object]:
    served = outcome.served
    if served is None:
        return {
            "decision_id": None,
            "reason": "policy",
            "detail": outcome.detail,
            "propensity": None,
            "policy": None,
            "arm": None,
            "creative": None,
            "tracking": {},
        }
    d, rec = served.decision, served.record
    urls = server.urls(d)
    return {
        "decision_id": d.decision_id,
        "reason": d.reason,
        "detail": outcome.detail,
        "propensity": d.propensity,
        "policy": d.policy,
        "arm": d.arm,
        "creative": {**_creative(server, rec), "click_url": urls.pop("clickthrough")},
        "tracking": urls,
    }


#: The per-creative part of a decide answer: the same for every request that gets it.
_CREATIVES: PerCreative[dict[str, object]] = PerCreative()


def _creative(server: AdServer, rec: CreativeRecord) -> dict[str, object]:
    base = server.settings.base_url

    def build() -> dict[str, object]:
        c = rec.creative
        return {
            "creative_id": rec.creative_id,
            "campaign_id": rec.campaign_id,
            "product_id": rec.product_id,
            "kind": rec.kind,
            "media_url": media_url(base, rec.advertiser_id, rec.creative_id),
            "mime_type": c.mime_type,
            "width": c.width,
            "height": c.height,
            "duration_s": c.duration_s,
            "disclosure": c.disclosure_text,
        }

    return _CREATIVES.get(rec, (rec, base), build)


#: Error answers of the endpoints that validate their own bodies.
BODY_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"description": "Malformed JSON."},
    422: {"description": "A field is missing, unknown or invalid (the field is named)."},
}


@router.post(
    "/v1/decide",
    response_model=DecideResponse,
    responses=BODY_ERRORS,
    openapi_extra=documented(DecideRequest),
)
async def decide(request: Request) -> Response:
    """Choose a verified creative for a user and context, with the reason and propensity.

    No consent on record (or ``consent: false``) means the generic creative; a frequency
    cap means no creative (``creative: null``); any failure means the generic creative
    with reason ``fallback``.
    """
    body = await parse(request, DecideRequest)
    server: AdServer = request.app.state.server
    return json_response(decide_body(server, server.decide(body)))
