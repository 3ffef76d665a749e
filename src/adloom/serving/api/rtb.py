"""``POST /openrtb/2.6/bid``: exchanges send a bid request, adloom bids with VAST in ``adm``."""

from __future__ import annotations

import functools
import time
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response

from adloom.serving import openrtb
from adloom.serving.api.body import documented, parse
from adloom.serving.api.decide import BODY_ERRORS, json_response
from adloom.serving.api.vast import vast_document
from adloom.serving.engine import AdServer, DecideRequest, RequestContext
from adloom.store import CampaignRecord, CreativeRecord

router = APIRouter(tags=["openrtb"])

#: OpenRTB device types (AdCOM) as adloom's coarse device feature.
DEVICE_TYPES = {1: "mobile", 4: "mobile", 2: "desktop", 5: "tablet", 3: "ctv", 7: "ctv"}


def _context(req: openrtb.BidRequest, video: openrtb.Video) -> RequestContext:
    portrait = bool(video.w and video.h and video.h > video.w)
    device = "unknown"
    if req.device is not None and req.device.devicetype is not None:
        device = DEVICE_TYPES.get(req.device.devicetype, "unknown")
    platform = "ctv" if device == "ctv" else ("instream" if video.plcmt in (None, 1) else "feed")
    return _request_context(platform, "9:16" if portrait else "16:9", device)


@functools.lru_cache(maxsize=64)
def _request_context(platform: str, aspect_ratio: str, device: str) -> RequestContext:
    """One shared context per combination (a handful): nothing changes a context."""
    return RequestContext.model_validate(
        {"platform": platform, "aspect_ratio": aspect_ratio, "device": device}
    )


#: VAST 4.x protocols adloom's 4.2 documents satisfy, most specific first.
VAST4 = (openrtb.PROTOCOL_VAST_4_2, openrtb.PROTOCOL_VAST_4_1, openrtb.PROTOCOL_VAST_4_0)


def _protocol(video: openrtb.Video) -> int:
    """The VAST 4 protocol to declare: the newest the impression accepts."""
    accepted = video.protocols or []
    return next((p for p in VAST4 if p in accepted), openrtb.PROTOCOL_VAST_4_2)


def _may_personalize(req: openrtb.BidRequest) -> bool:
    """No personalization for children, nor under GDPR without a consent string."""
    regs = req.regs
    if regs is not None and regs.coppa == 1:
        return False
    consent = req.user.consent if req.user is not None else None
    return not (regs is not None and regs.gdpr == 1 and not consent)


def bid_response(
    server: AdServer, req: openrtb.BidRequest, started: float
) -> dict[str, object] | None:
    """The bid response body, or None for a no-bid."""
    margin = server.settings.rtb_margin_ms
    if req.tmax is not None and req.tmax <= margin:
        return None
    user = None
    if req.user is not None:
        user = req.user.id or req.user.buyeruid
    personalize = _may_personalize(req)
    currencies = set(req.cur or ["USD"])
    bids: list[dict[str, object]] = []
    for imp in req.imp:
        video = imp.video
        if video is None:
            continue
        floor = imp.bidfloor or 0.0
        floor_cur = imp.bidfloorcur or "USD"
        protocol = _protocol(video)
        # Creatives share a handful of (duration, size, mime) shapes: check each shape once.
        shapes: dict[tuple[float, int, int, str], bool] = {}

        def fits(
            camp: CampaignRecord,
            rec: CreativeRecord,
            video: openrtb.Video = video,
            floor: float = floor,
            floor_cur: str = floor_cur,
            protocol: int = protocol,
            shapes: dict[tuple[float, int, int, str], bool] = shapes,
        ) -> bool:
            if camp.currency not in currencies:
                return False
            if camp.currency == floor_cur and camp.bid_cpm < floor:
                return False
            c = rec.creative
            shape = (c.duration_s, c.width, c.height, c.mime_type)
            ok = shapes.get(shape)
            if ok is None:
                ok = shapes[shape] = (
                    openrtb.video_fits(
                        video,
                        duration_s=c.duration_s,
                        width=c.width,
                        height=c.height,
                        mime=c.mime_type,
                        protocol=protocol,
                    )
                    is None
                )
            return ok

        request = DecideRequest(user_id=user, context=_context(req, video))
        outcome = server.decide(request, "openrtb", personalize=personalize, fits=fits)
        if outcome.served is None:
            continue
        served = outcome.served
        camp, rec = served.campaign, served.record
        # A plain dict in the shape of ``openrtb.Bid`` (the tests hold it to that model):
        # every value is adloom's own, so validating it again per request buys nothing.
        bid: dict[str, object] = {
            "id": served.decision.decision_id,
            "impid": imp.id,
            "price": camp.bid_cpm,
            "adm": vast_document(server, served),
            "crid": rec.creative_id,
            "cid": camp.campaign.id,
            "mtype": 2,
            "protocol": protocol,
            "w": rec.creative.width,
            "h": rec.creative.height,
            "dur": round(rec.creative.duration_s),
        }
        domain = _domain(camp)
        if domain:
            bid["adomain"] = [domain]
        bids.append(bid)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if not bids or (req.tmax is not None and elapsed_ms > req.tmax - margin):
        return None
    return {
        "id": req.id,
        "seatbid": [{"bid": bids, "seat": "adloom"}],
        "bidid": bids[0]["id"],
        "cur": next(iter(currencies)) if len(currencies) == 1 else "USD",
    }


def _domain(camp: CampaignRecord) -> str | None:
    """The advertiser domain exchanges check against their block lists."""
    return _hostname(camp.campaign.products[0].landing_url)


@functools.lru_cache(maxsize=1024)
def _hostname(url: str) -> str | None:
    return urlsplit(url).hostname


@router.post(
    "/openrtb/2.6/bid",
    response_model=openrtb.BidResponse,
    response_model_exclude_none=True,
    responses={
        204: {"description": "No bid: nothing eligible, or tmax too short."},
        **BODY_ERRORS,
        422: {"description": "Not a valid OpenRTB 2.6 bid request (the field is named)."},
    },
    openapi_extra=documented(openrtb.BidRequest),
)
async def bid(request: Request) -> Response:
    """An OpenRTB 2.6 bid for every video impression a verified creative fits."""
    started = time.perf_counter()
    body = await parse(request, openrtb.BidRequest)
    server: AdServer = request.app.state.server
    out = bid_response(server, body, started)
    if out is None:
        return Response(status_code=204)
    return json_response(out)
