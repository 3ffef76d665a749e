"""``POST /v1/decide``: first-party integrations ask which creative a user gets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from adloom.serving.api.body import documented, parse
from adloom.serving.catalog import PerCreative
from adloom.serving.engine import TRACKED_WITH_CONVERSION, AdServer, DecideRequest, Outcome
from adloom.serving.tracking import Signed, tag_span, url_prefix
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


def decide_answer(server: AdServer, outcome: Outcome) -> bytes:
    """The decide answer as JSON bytes (the shape of :class:`DecideResponse`)."""
    served = outcome.served
    if served is None:
        return orjson.dumps(
            {
                "decision_id": None,
                "reason": "policy",
                "detail": outcome.detail,
                "propensity": None,
                "policy": None,
                "arm": None,
                "creative": None,
                "tracking": {},
            }
        )
    d, rec = served.decision, served.record
    header = {
        "decision_id": d.decision_id,
        "reason": d.reason,
        "detail": outcome.detail,
        "propensity": d.propensity,
        "policy": d.policy,
        "arm": d.arm,
    }
    return _answer(server, rec).render(header, server.sign(d))


class Answer:
    """One creative's decide answer as JSON text with holes for the decision's values.

    Every answer serving a creative repeats its fields and the URL prefixes; only the
    decision's header (id, reason, propensity, ...) and its signatures differ. So the
    fixed text is serialized once per creative (escaped by orjson), and a request joins
    it with the header, serialized on its own, and the tokens, which are URL-safe text
    that JSON needs no escaping for.
    """

    __slots__ = ("_click", "_creative", "_events")

    def __init__(self, creative: dict[str, object], base_url: str, events: Sequence[str]) -> None:
        clickthrough = f"{base_url.rstrip('/')}/v1/click?t="
        # Cut after the click-through prefix: the request appends its token and the close.
        self._creative = orjson.dumps({**creative, "click_url": clickthrough}).decode()[:-2]
        self._click = tag_span("click")
        self._events = [
            (
                ("," if i else "") + orjson.dumps({e: url_prefix(base_url, e)}).decode()[1:-2],
                f"{e}.",
                *tag_span(e),
            )
            for i, e in enumerate(events)
        ]

    def render(self, header: dict[str, object], signed: Signed) -> bytes:
        head, tags = signed
        start, end = self._click
        out = [
            orjson.dumps(header).decode()[:-1],
            ',"creative":',
            self._creative,
            head,
            "click.",
            tags[start:end],
            '"},"tracking":{',
        ]
        for lead, event, start, end in self._events:
            out.append(f'{lead}{head}{event}{tags[start:end]}"')
        out.append("}}")
        return "".join(out).encode()


#: Each creative's answer template, rebuilt when the catalog replaces its records.
_ANSWERS: PerCreative[Answer] = PerCreative()


def _answer(server: AdServer, rec: CreativeRecord) -> Answer:
    base = server.settings.base_url

    def build() -> Answer:
        c = rec.creative
        creative = {
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
        return Answer(creative, base, TRACKED_WITH_CONVERSION)

    return _ANSWERS.get(rec, (rec, base), build)


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
    answer = decide_answer(server, server.decide(body))
    return Response(answer, media_type="application/json")
