"""OpenRTB 2.6 bid requests and responses, as exchanges send and expect them.

Field names and types follow the 2.6 specification (integers for the AdCOM enumerations,
0/1 integers for flags) so a request reads exactly as the exchange wrote it. Every object
rejects fields the specification does not define, except inside ``ext``, where vendors put
their own data: a typo in a standard field fails loudly instead of being ignored. Types are
strict (a string is not an integer) because bidding on a misread request costs money.

Responses drop unset fields when serialized: exchanges expect absent, not ``null``,
attributes, and a bid response is sent on every request.
"""

from __future__ import annotations

import json
import math
from enum import IntEnum
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from adloom.errors import AdloomError, InputError

# ----------------------------------------------------------------------------- enumerations

#: AdCOM "Creative Subtypes - Audio/Video" (``Video.protocols``, ``Bid.protocol``).
PROTOCOL_VAST_1_0: Final = 1
PROTOCOL_VAST_2_0: Final = 2
PROTOCOL_VAST_3_0: Final = 3
PROTOCOL_VAST_1_0_WRAPPER: Final = 4
PROTOCOL_VAST_2_0_WRAPPER: Final = 5
PROTOCOL_VAST_3_0_WRAPPER: Final = 6
PROTOCOL_VAST_4_0: Final = 7
PROTOCOL_VAST_4_0_WRAPPER: Final = 8
PROTOCOL_DAAST_1_0: Final = 9
PROTOCOL_DAAST_1_0_WRAPPER: Final = 10
PROTOCOL_VAST_4_1: Final = 11
PROTOCOL_VAST_4_1_WRAPPER: Final = 12
PROTOCOL_VAST_4_2: Final = 13
PROTOCOL_VAST_4_2_WRAPPER: Final = 14
PROTOCOL_VAST_4_3: Final = 15
PROTOCOL_VAST_4_3_WRAPPER: Final = 16

#: ``Bid.mtype``: the kind of markup in ``adm``.
MTYPE_BANNER: Final = 1
MTYPE_VIDEO: Final = 2
MTYPE_AUDIO: Final = 3
MTYPE_NATIVE: Final = 4

#: ``Video.linearity``.
LINEARITY_LINEAR: Final = 1
LINEARITY_NON_LINEAR: Final = 2


class NoBidReason(IntEnum):
    """``BidResponse.nbr``: why a bidder passed (OpenRTB no-bid reason codes)."""

    UNKNOWN_ERROR = 0
    TECHNICAL_ERROR = 1
    INVALID_REQUEST = 2
    KNOWN_WEB_CRAWLER = 3
    SUSPECTED_NON_HUMAN_TRAFFIC = 4
    CLOUD_DATA_CENTER_OR_PROXY_IP = 5
    UNSUPPORTED_DEVICE = 6
    BLOCKED_PUBLISHER_OR_SITE = 7
    UNMATCHED_USER = 8
    DAILY_USER_CAP_MET = 9
    DAILY_DOMAIN_CAP_MET = 10
    ADS_TXT_AUTHORIZATION_UNAVAILABLE = 11
    ADS_TXT_AUTHORIZATION_VIOLATION = 12
    ADS_CERT_AUTHENTICATION_UNAVAILABLE = 13
    ADS_CERT_AUTHENTICATION_VIOLATION = 14
    INSUFFICIENT_AUCTION_TIME = 15
    INCOMPLETE_SUPPLY_CHAIN = 16
    BLOCKED_SUPPLY_CHAIN_NODE = 17


#: The no-bid reason codes under the name the rest of adloom uses.
NO_BID = NoBidReason

# ----------------------------------------------------------------------------- field types

Ext = dict[str, Any] | None
Ints = list[int] | None
Strs = list[str] | None
Flag = Annotated[int, Field(ge=0, le=1)]
NonNegInt = Annotated[int, Field(ge=0)]
Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Currency = Annotated[str, Field(min_length=3, max_length=3)]
Id = Annotated[str, Field(min_length=1)]


class _Object(BaseModel):
    """Base of every OpenRTB object: spec fields only, spec types only."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Response(_Object):
    """Base of the response objects: unset attributes are left out, not sent as null."""

    # Unannotated on purpose: a return annotation would replace this model's
    # serialization schema (and the OpenAPI response schema) with a bare object.
    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        return {k: v for k, v in handler(self).items() if v is not None}


def _check_durations(maxduration: int | None, info: ValidationInfo) -> int | None:
    low = info.data.get("minduration")
    if maxduration is not None and low is not None and low > maxduration:
        raise ValueError(f"must be >= minduration ({low})")
    return maxduration


# ----------------------------------------------------------------------------- request


class Metric(_Object):
    type: str
    value: float
    vendor: str | None = None
    ext: Ext = None


class Format(_Object):
    w: int | None = None
    h: int | None = None
    wratio: int | None = None
    hratio: int | None = None
    wmin: int | None = None
    ext: Ext = None


class Banner(_Object):
    format: list[Format] | None = None
    w: int | None = None
    h: int | None = None
    btype: Ints = None
    battr: Ints = None
    pos: int | None = None
    mimes: Strs = None
    topframe: Flag | None = None
    expdir: Ints = None
    api: Ints = None
    id: str | None = None
    vcm: Flag | None = None
    ext: Ext = None


class DurFloors(_Object):
    mindur: NonNegInt | None = None
    maxdur: NonNegInt | None = None
    bidfloor: Price = 0.0
    ext: Ext = None


class Video(_Object):
    mimes: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    minduration: NonNegInt = 0
    maxduration: Annotated[int, Field(gt=0)] | None = None
    startdelay: int | None = None
    maxseq: NonNegInt | None = None
    poddur: NonNegInt | None = None
    protocols: Ints = None
    w: NonNegInt | None = None
    h: NonNegInt | None = None
    podid: str | None = None
    podseq: int = 0
    rqddurs: list[Annotated[int, Field(gt=0)]] | None = None
    placement: int | None = None
    plcmt: int | None = None
    linearity: int | None = None
    skip: Flag | None = None
    skipmin: NonNegInt = 0
    skipafter: NonNegInt = 0
    sequence: int = 0
    slotinpod: int = 0
    mincpmpersec: Price | None = None
    battr: Ints = None
    maxextended: int | None = None
    minbitrate: NonNegInt | None = None
    maxbitrate: NonNegInt | None = None
    boxingallowed: Flag = 1
    playbackmethod: Ints = None
    playbackend: int | None = None
    delivery: Ints = None
    pos: int | None = None
    companionad: list[Banner] | None = None
    api: Ints = None
    companiontype: Ints = None
    poddedupe: Ints = None
    durfloors: list[DurFloors] | None = None
    ext: Ext = None

    _durations = field_validator("maxduration")(_check_durations)


class Audio(_Object):
    mimes: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    minduration: NonNegInt = 0
    maxduration: Annotated[int, Field(gt=0)] | None = None
    poddur: NonNegInt | None = None
    protocols: Ints = None
    startdelay: int | None = None
    rqddurs: list[Annotated[int, Field(gt=0)]] | None = None
    podid: str | None = None
    podseq: int = 0
    sequence: int = 0
    slotinpod: int = 0
    mincpmpersec: Price | None = None
    battr: Ints = None
    maxextended: int | None = None
    minbitrate: NonNegInt | None = None
    maxbitrate: NonNegInt | None = None
    delivery: Ints = None
    companionad: list[Banner] | None = None
    api: Ints = None
    companiontype: Ints = None
    maxseq: NonNegInt | None = None
    feed: int | None = None
    stitched: Flag | None = None
    nvol: int | None = None
    durfloors: list[DurFloors] | None = None
    ext: Ext = None

    _durations = field_validator("maxduration")(_check_durations)


class Native(_Object):
    request: str
    ver: str | None = None
    api: Ints = None
    battr: Ints = None
    ext: Ext = None


class Deal(_Object):
    id: Id
    bidfloor: Price = 0.0
    bidfloorcur: Currency = "USD"
    at: int | None = None
    wseat: Strs = None
    wadomain: Strs = None
    guar: Flag = 0
    mincpmpersec: Price | None = None
    durfloors: list[DurFloors] | None = None
    ext: Ext = None


class Pmp(_Object):
    private_auction: Flag = 0
    deals: list[Deal] | None = None
    ext: Ext = None


class Qty(_Object):
    multiplier: float
    sourcetype: int | None = None
    vendor: str | None = None
    ext: Ext = None


class RefSettings(_Object):
    reftype: int = 0
    minint: NonNegInt | None = None
    ext: Ext = None


class Refresh(_Object):
    refsettings: list[RefSettings] | None = None
    count: NonNegInt | None = None
    ext: Ext = None


class Imp(_Object):
    id: Id
    metric: list[Metric] | None = None
    banner: Banner | None = None
    video: Video | None = None
    audio: Audio | None = None
    native: Native | None = None
    pmp: Pmp | None = None
    displaymanager: str | None = None
    displaymanagerver: str | None = None
    instl: Flag = 0
    tagid: str | None = None
    bidfloor: Price = 0.0
    bidfloorcur: Currency = "USD"
    clickbrowser: Flag | None = None
    secure: Flag | None = None
    iframebuster: Strs = None
    rwdd: Flag = 0
    ssai: int = 0
    exp: NonNegInt | None = None
    qty: Qty | None = None
    dt: float | None = None
    refresh: Refresh | None = None
    ext: Ext = None


class Publisher(_Object):
    id: str | None = None
    name: str | None = None
    cattax: int = 1
    cat: Strs = None
    domain: str | None = None
    ext: Ext = None


class Producer(_Object):
    id: str | None = None
    name: str | None = None
    cattax: int = 1
    cat: Strs = None
    domain: str | None = None
    ext: Ext = None


class Segment(_Object):
    id: str | None = None
    name: str | None = None
    value: str | None = None
    ext: Ext = None


class Data(_Object):
    id: str | None = None
    name: str | None = None
    cids: Strs = None
    segment: list[Segment] | None = None
    ext: Ext = None


class Network(_Object):
    id: str | None = None
    name: str | None = None
    domain: str | None = None
    ext: Ext = None


class Channel(_Object):
    id: str | None = None
    name: str | None = None
    domain: str | None = None
    ext: Ext = None


class Content(_Object):
    id: str | None = None
    episode: int | None = None
    title: str | None = None
    series: str | None = None
    season: str | None = None
    artist: str | None = None
    genre: str | None = None
    gtax: int = 9
    genres: Strs = None
    album: str | None = None
    isrc: str | None = None
    producer: Producer | None = None
    url: str | None = None
    cattax: int = 1
    cat: Strs = None
    prodq: int | None = None
    context: int | None = None
    contentrating: str | None = None
    userrating: str | None = None
    qagmediarating: int | None = None
    keywords: str | None = None
    kwarray: Strs = None
    livestream: Flag | None = None
    sourcerelationship: Flag | None = None
    len: NonNegInt | None = None
    language: str | None = None
    langb: str | None = None
    embeddable: Flag | None = None
    data: list[Data] | None = None
    network: Network | None = None
    channel: Channel | None = None
    realtime: Flag | None = None
    firstbroadcast: Flag | None = None
    ext: Ext = None


class Site(_Object):
    id: str | None = None
    name: str | None = None
    domain: str | None = None
    cattax: int = 1
    cat: Strs = None
    sectioncat: Strs = None
    pagecat: Strs = None
    page: str | None = None
    ref: str | None = None
    search: str | None = None
    mobile: Flag | None = None
    privacypolicy: Flag | None = None
    publisher: Publisher | None = None
    content: Content | None = None
    keywords: str | None = None
    kwarray: Strs = None
    inventorypartnerdomain: str | None = None
    ext: Ext = None


class App(_Object):
    id: str | None = None
    name: str | None = None
    bundle: str | None = None
    domain: str | None = None
    storeurl: str | None = None
    cattax: int = 1
    cat: Strs = None
    sectioncat: Strs = None
    pagecat: Strs = None
    ver: str | None = None
    privacypolicy: Flag | None = None
    paid: Flag | None = None
    publisher: Publisher | None = None
    content: Content | None = None
    keywords: str | None = None
    kwarray: Strs = None
    inventorypartnerdomain: str | None = None
    ext: Ext = None


class DOOH(_Object):
    id: str | None = None
    name: str | None = None
    venuetype: Strs = None
    venuetypetax: int = 1
    publisher: Publisher | None = None
    domain: str | None = None
    keywords: str | None = None
    content: Content | None = None
    ext: Ext = None


class Geo(_Object):
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    type: int | None = None
    accuracy: NonNegInt | None = None
    lastfix: NonNegInt | None = None
    ipservice: int | None = None
    country: str | None = None
    region: str | None = None
    regionfips104: str | None = None
    metro: str | None = None
    city: str | None = None
    zip: str | None = None
    utcoffset: int | None = None
    ext: Ext = None


class BrandVersion(_Object):
    brand: str
    version: Strs = None
    ext: Ext = None


class UserAgent(_Object):
    browsers: list[BrandVersion] | None = None
    platform: BrandVersion | None = None
    mobile: Flag | None = None
    architecture: str | None = None
    bitness: str | None = None
    model: str | None = None
    source: int = 0
    ext: Ext = None


class Device(_Object):
    geo: Geo | None = None
    dnt: Flag | None = None
    lmt: Flag | None = None
    ua: str | None = None
    sua: UserAgent | None = None
    ip: str | None = None
    ipv6: str | None = None
    devicetype: int | None = None
    make: str | None = None
    model: str | None = None
    os: str | None = None
    osv: str | None = None
    hwv: str | None = None
    h: NonNegInt | None = None
    w: NonNegInt | None = None
    ppi: NonNegInt | None = None
    pxratio: float | None = None
    js: Flag | None = None
    geofetch: Flag | None = None
    flashver: str | None = None
    language: str | None = None
    langb: str | None = None
    carrier: str | None = None
    mccmnc: str | None = None
    connectiontype: int | None = None
    ifa: str | None = None
    didsha1: str | None = None
    didmd5: str | None = None
    dpidsha1: str | None = None
    dpidmd5: str | None = None
    macsha1: str | None = None
    macmd5: str | None = None
    ext: Ext = None


class UID(_Object):
    id: str | None = None
    atype: int | None = None
    ext: Ext = None


class EID(_Object):
    inserter: str | None = None
    source: str | None = None
    matcher: str | None = None
    mm: int | None = None
    uids: list[UID] | None = None
    ext: Ext = None


class User(_Object):
    id: str | None = None
    buyeruid: str | None = None
    yob: int | None = None
    gender: str | None = None
    keywords: str | None = None
    kwarray: Strs = None
    customdata: str | None = None
    geo: Geo | None = None
    data: list[Data] | None = None
    consent: str | None = None
    eids: list[EID] | None = None
    ext: Ext = None


class Source(_Object):
    fd: Flag | None = None
    tid: str | None = None
    pchain: str | None = None
    #: The SupplyChain object, kept as the exchange sent it (adloom only passes it on).
    schain: dict[str, Any] | None = None
    ext: Ext = None


class Regs(_Object):
    coppa: Flag | None = None
    gdpr: Flag | None = None
    us_privacy: str | None = None
    gpp: str | None = None
    gpp_sid: Ints = None
    ext: Ext = None


class BidRequest(_Object):
    id: Id
    imp: list[Imp] = Field(min_length=1)
    site: Site | None = None
    app: App | None = None
    dooh: DOOH | None = None
    device: Device | None = None
    user: User | None = None
    test: Flag = 0
    at: int = 2
    tmax: Annotated[int, Field(gt=0)] | None = None
    wseat: Strs = None
    bseat: Strs = None
    allimps: Flag = 0
    cur: Strs = None
    wlang: Strs = None
    wlangb: Strs = None
    acat: Strs = None
    bcat: Strs = None
    cattax: int = 1
    badv: Strs = None
    bapp: Strs = None
    source: Source | None = None
    regs: Regs | None = None
    ext: Ext = None

    @field_validator("imp")
    @classmethod
    def _unique_imp_ids(cls, imps: list[Imp]) -> list[Imp]:
        seen: set[str] = set()
        for imp in imps:
            if imp.id in seen:
                raise ValueError(f"duplicate imp id {imp.id!r}")
            seen.add(imp.id)
        return imps

    @field_validator("app", "dooh")
    @classmethod
    def _one_medium(cls, value: Any, info: ValidationInfo) -> Any:
        earlier = [f for f in ("site", "app") if f != info.field_name and info.data.get(f)]
        if value is not None and earlier:
            raise ValueError(f"{earlier[0]} and {info.field_name} are mutually exclusive")
        return value


# ----------------------------------------------------------------------------- response


class Bid(_Response):
    id: Id
    impid: Id
    price: Price
    nurl: str | None = None
    burl: str | None = None
    lurl: str | None = None
    adm: str | None = None
    adid: str | None = None
    adomain: Strs = None
    bundle: str | None = None
    iurl: str | None = None
    cid: str | None = None
    crid: str | None = None
    tactic: str | None = None
    cattax: int | None = None
    cat: Strs = None
    attr: Ints = None
    apis: Ints = None
    api: int | None = None
    protocol: int | None = None
    qagmediarating: int | None = None
    language: str | None = None
    langb: str | None = None
    dealid: str | None = None
    w: NonNegInt | None = None
    h: NonNegInt | None = None
    wratio: int | None = None
    hratio: int | None = None
    exp: NonNegInt | None = None
    dur: NonNegInt | None = None
    mtype: int | None = None
    slotinpod: int | None = None
    ext: Ext = None


class SeatBid(_Response):
    bid: list[Bid] = Field(min_length=1)
    seat: str | None = None
    group: Flag | None = None
    ext: Ext = None


class BidResponse(_Response):
    id: Id
    seatbid: list[SeatBid] | None = None
    bidid: str | None = None
    cur: Currency | None = None
    customdata: str | None = None
    nbr: int | None = None
    ext: Ext = None

    @classmethod
    def no_bid(cls, request_id: str, reason: NoBidReason) -> BidResponse:
        """An explicit no-bid, for exchanges that want the reason rather than a bare 204."""
        return cls(id=request_id, nbr=int(reason))


# ----------------------------------------------------------------------------- parsing


class BidRequestError(InputError):
    """A bid request adloom cannot read; the message names the JSON path at fault."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        AdloomError.__init__(self, f"{where}: {problem}" if where else problem)


def _first_error(exc: ValidationError) -> BidRequestError:
    errors = exc.errors(include_url=False, include_input=False)
    err = errors[0]
    where = ".".join(str(p) for p in err["loc"]) or "(root)"
    msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
    msg = msg.removeprefix("Value error, ")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return BidRequestError(where, msg + more)


def parse_bid_request(body: bytes | str) -> BidRequest:
    """Validate a raw bid request; the error names the first problem and where it is."""
    try:
        return BidRequest.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        if first["type"] != "json_invalid":
            raise _first_error(exc) from None
        fallback = first["msg"]
    # The fast parser rejected the JSON; the standard one says where, in the usual terms.
    try:
        json.loads(body)
    except UnicodeDecodeError:
        raise BidRequestError("", "malformed JSON: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise BidRequestError(
            "", f"malformed JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    raise BidRequestError("", f"malformed JSON: {fallback}")


# ----------------------------------------------------------------------------- matching

#: How far a creative may be from a duration limit and still count as fitting it (seconds):
#: rendered durations are frame counts over a frame rate, never exact integers.
DURATION_TOLERANCE_S: Final = 0.05
#: Relative aspect-ratio difference below which a creative fills the player unboxed.
ASPECT_TOLERANCE: Final = 0.02


def _base_mime(mime: str) -> str:
    return mime.split(";", 1)[0].strip().lower()


def video_fits(
    video: Video, *, duration_s: float, width: int, height: int, mime: str, protocol: int
) -> str | None:
    """None when a linear creative may be bid into this impression, else why not.

    The reason is short and stable so it can be counted: an exchange that never gets a bid
    is usually asking for a mime, protocol or duration adloom's creatives do not have.
    """
    want = _base_mime(mime)
    if all(_base_mime(m) != want for m in video.mimes):
        return f"mime {mime} not accepted"
    if video.protocols and protocol not in video.protocols:
        return f"protocol {protocol} not accepted"
    if video.linearity == LINEARITY_NON_LINEAR:
        return "only non-linear ads accepted"
    if not math.isfinite(duration_s) or duration_s <= 0:
        return "creative has no duration"
    tol = DURATION_TOLERANCE_S
    if video.rqddurs:
        if all(abs(duration_s - d) > tol for d in video.rqddurs):
            return f"duration {duration_s:g}s not in rqddurs {video.rqddurs}"
    else:
        high = video.maxduration
        if duration_s < video.minduration - tol or (high is not None and duration_s > high + tol):
            return f"duration {duration_s:g}s outside [{video.minduration}, {high or '∞'}]"
    if video.boxingallowed == 0 and video.w and video.h and width > 0 and height > 0:
        player, creative = video.w / video.h, width / height
        if abs(player - creative) / player > ASPECT_TOLERANCE:
            return f"{width}x{height} would be boxed in a {video.w}x{video.h} player"
    return None
