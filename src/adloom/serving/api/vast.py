"""``GET /vast/4``: a VAST 4.2 document for players that fetch ads themselves."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from adloom.serving import vast as vastxml
from adloom.serving.api.decide import media_url
from adloom.serving.api.deps import Server
from adloom.serving.catalog import PerCreative
from adloom.serving.engine import TRACKED, AdServer, DecideRequest, RequestContext, Served
from adloom.store import CampaignRecord, CreativeRecord

router = APIRouter(tags=["serving"])

XML = "application/xml"


def vast_document(server: AdServer, served: Served) -> str:
    """The InLine VAST of a served decision, its URLs signed for this decision."""
    d = served.decision
    urls = server.urls(d, conversion=False)
    urls["ad_id"] = d.decision_id
    return _template(server, served).render(urls)


#: Each creative's VAST with placeholders, filled per request.
_TEMPLATES: PerCreative[vastxml.Template] = PerCreative()


def _template(server: AdServer, served: Served) -> vastxml.Template:
    """The creative's VAST with placeholders, rebuilt when the catalog replaced a record."""
    rec, camp, base = served.record, served.campaign, server.settings.base_url
    return _TEMPLATES.get(rec, (rec, camp, base), lambda: _build_template(rec, camp, base))


def _build_template(rec: CreativeRecord, camp: CampaignRecord, base: str) -> vastxml.Template:
    product = next((p for p in camp.campaign.products if p.id == rec.product_id), None)
    c = rec.creative
    slot = vastxml.slot
    ad = vastxml.VastAd(
        ad_id=slot("ad_id"),
        ad_serving_id=slot("ad_id"),
        title=f"{camp.campaign.name}: {product.name if product else rec.product_id}",
        advertiser=camp.campaign.advertiser,
        creative_id=rec.creative_id,
        universal_ad_id=rec.creative_id,
        duration_s=c.duration_s,
        media_files=[
            vastxml.MediaFile(
                url=media_url(base, rec.advertiser_id, rec.creative_id),
                width=c.width,
                height=c.height,
                mime_type=c.mime_type,
                codec=c.codec,
            )
        ],
        impression_urls=[slot("impression")],
        tracking={e: slot(e) for e in vastxml.LINEAR_EVENTS if e in TRACKED},
        click_through=slot("clickthrough"),
        click_tracking=[slot("click")],
        disclosure=vastxml.Disclosure(
            text=c.disclosure_text,
            c2pa=c.provenance is not None,
            kind=rec.kind,
        ),
    )
    return vastxml.Template(ad)


@router.get(
    "/vast/4",
    response_class=Response,
    responses={200: {"content": {XML: {}}, "description": "A VAST 4.2 document."}},
)
async def vast(
    server: Server,
    user_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    campaign_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    platform: Annotated[str, Query(min_length=1, max_length=32)] = "instream",
    aspect_ratio: Literal["16:9", "9:16"] = "16:9",
    device: Literal["mobile", "desktop", "tablet", "ctv", "unknown"] = "unknown",
    consent: bool | None = None,
) -> Response:
    """One ad for this user as VAST 4.2; an empty VAST document when none is eligible."""
    request = DecideRequest(
        user_id=user_id,
        campaign_id=campaign_id,
        context=RequestContext(platform=platform, aspect_ratio=aspect_ratio, device=device),
        consent=consent,
    )
    outcome = server.decide(request, "vast")
    if outcome.served is None:
        return Response(vastxml.empty(), media_type=XML)
    return Response(vast_document(server, outcome.served), media_type=XML)
