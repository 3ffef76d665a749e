"""OpenRTB 2.6 models: real requests parse, broken ones are named precisely, bids serialize."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from adloom.errors import AdloomError, InputError
from adloom.serving import openrtb
from adloom.serving.openrtb import (
    NO_BID,
    PROTOCOL_VAST_4_0,
    PROTOCOL_VAST_4_0_WRAPPER,
    PROTOCOL_VAST_4_1,
    PROTOCOL_VAST_4_1_WRAPPER,
    PROTOCOL_VAST_4_2,
    PROTOCOL_VAST_4_2_WRAPPER,
    Bid,
    BidRequest,
    BidRequestError,
    BidResponse,
    SeatBid,
    Video,
    parse_bid_request,
    video_fits,
)


def video_request() -> dict[str, Any]:
    """A site video request shaped like the specification's video example, plus 2.6 fields."""
    return {
        "id": "8f3a1c2e-req",
        "at": 2,
        "tmax": 150,
        "cur": ["USD"],
        "imp": [
            {
                "id": "1",
                "bidfloor": 0.5,
                "bidfloorcur": "USD",
                "secure": 1,
                "video": {
                    "mimes": ["video/mp4", "video/webm", "application/javascript"],
                    "minduration": 5,
                    "maxduration": 30,
                    "protocols": [2, 3, 7, 8, 11, 13],
                    "w": 1280,
                    "h": 720,
                    "startdelay": 0,
                    "plcmt": 1,
                    "linearity": 1,
                    "skip": 1,
                    "skipmin": 15,
                    "skipafter": 5,
                    "maxextended": 30,
                    "minbitrate": 300,
                    "maxbitrate": 4000,
                    "boxingallowed": 1,
                    "playbackmethod": [1, 3],
                    "playbackend": 1,
                    "delivery": [2],
                    "pos": 1,
                    "battr": [13, 14],
                    "api": [7],
                    "companiontype": [1, 2],
                    "companionad": [
                        {"id": "c-1", "w": 300, "h": 250, "pos": 1, "battr": [13], "expdir": [2]},
                        {"id": "c-2", "format": [{"w": 728, "h": 90}], "vcm": 1},
                    ],
                    "durfloors": [
                        {"mindur": 1, "maxdur": 15, "bidfloor": 0.5},
                        {"mindur": 16, "maxdur": 30, "bidfloor": 1.0},
                    ],
                },
                "pmp": {
                    "private_auction": 0,
                    "deals": [{"id": "deal-7", "bidfloor": 2.5, "at": 1, "wadomain": ["a.test"]}],
                },
                "metric": [{"type": "viewability", "value": 0.72, "vendor": "ven.test"}],
                "qty": {"multiplier": 1.0, "sourcetype": 1, "vendor": "meas.test"},
            }
        ],
        "site": {
            "id": "site-42",
            "name": "Trail News",
            "domain": "trailnews.test",
            "cattax": 2,
            "cat": ["483"],
            "page": "https://trailnews.test/gear/shoes",
            "ref": "https://search.test/?q=shoes",
            "privacypolicy": 1,
            "publisher": {"id": "pub-9", "name": "Trail Media", "domain": "trailmedia.test"},
            "content": {
                "id": "ep-23",
                "series": "Mountain Weekly",
                "season": "2",
                "episode": 23,
                "title": "Ridge Run",
                "cat": ["483"],
                "keywords": "hiking,trail,running",
                "livestream": 0,
                "len": 1320,
                "language": "en",
                "producer": {"id": "prod-1", "name": "Ridge Studio"},
                "network": {"id": "n-1", "name": "Outdoor Net"},
                "channel": {"id": "ch-1", "name": "Trail TV"},
                "data": [{"id": "ctx", "segment": [{"id": "s-1", "value": "outdoor"}]}],
            },
        },
        "device": {
            "ua": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15",
            "sua": {
                "browsers": [{"brand": "Safari", "version": ["17", "4"]}],
                "platform": {"brand": "macOS", "version": ["14", "4"]},
                "mobile": 0,
                "source": 2,
            },
            "ip": "203.0.113.7",
            "devicetype": 2,
            "os": "macOS",
            "js": 1,
            "language": "en",
            "connectiontype": 2,
            "geo": {"country": "USA", "region": "CO", "type": 2, "utcoffset": -360},
        },
        "user": {
            "id": "u-456789",
            "buyeruid": "b-545678",
            "consent": "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
            "data": [
                {
                    "id": "6",
                    "name": "Data Provider 1",
                    "segment": [{"id": "1234", "name": "outdoor intenders"}],
                }
            ],
            "eids": [{"source": "id5-sync.com", "uids": [{"id": "ID5*abc", "atype": 1}]}],
        },
        "source": {
            "tid": "tx-1",
            "schain": {
                "complete": 1,
                "ver": "1.0",
                "nodes": [{"asi": "exchange.test", "sid": "123", "hp": 1}],
            },
        },
        "regs": {"coppa": 0, "gdpr": 1, "gpp": "DBABMA~CPXxRfAPXxRfAAfKABENB", "gpp_sid": [2]},
        "bcat": ["IAB25", "IAB26"],
        "badv": ["competitor.test"],
    }


def body(req: dict[str, Any]) -> bytes:
    return json.dumps(req).encode()


# --------------------------------------------------------------------------- valid requests


def test_spec_shaped_video_request_parses_with_every_object_typed() -> None:
    req = parse_bid_request(body(video_request()))
    assert req.id == "8f3a1c2e-req"
    assert req.tmax == 150
    imp = req.imp[0]
    assert imp.bidfloor == 0.5
    assert imp.video is not None
    assert imp.video.mimes == ["video/mp4", "video/webm", "application/javascript"]
    assert imp.video.protocols == [2, 3, 7, 8, 11, 13]
    assert (imp.video.minduration, imp.video.maxduration) == (5, 30)
    assert imp.video.companionad is not None
    assert imp.video.companionad[1].format is not None
    assert imp.video.companionad[1].format[0].w == 728
    assert imp.video.durfloors is not None
    assert imp.video.durfloors[1].bidfloor == 1.0
    assert imp.pmp is not None
    assert imp.pmp.deals is not None
    assert imp.pmp.deals[0].bidfloorcur == "USD"  # the spec's default
    assert req.site is not None
    assert req.site.content is not None
    assert req.site.content.episode == 23
    assert req.site.content.producer is not None
    assert req.site.content.producer.name == "Ridge Studio"
    assert req.device is not None
    assert req.device.sua is not None
    assert req.device.sua.platform is not None
    assert req.device.sua.platform.brand == "macOS"
    assert req.user is not None
    assert req.user.eids is not None
    assert req.user.eids[0].uids is not None
    assert req.user.eids[0].uids[0].atype == 1
    assert req.source is not None
    assert req.source.schain is not None
    assert req.source.schain["nodes"][0]["asi"] == "exchange.test"
    assert req.regs is not None
    assert req.regs.gpp_sid == [2]
    assert req.app is None


def test_spec_defaults_apply_when_fields_are_absent() -> None:
    req = parse_bid_request(b'{"id": "r", "imp": [{"id": "1", "video": {"mimes": ["video/mp4"]}}]}')
    imp = req.imp[0]
    assert (req.at, req.test, req.allimps, req.cattax) == (2, 0, 0, 1)
    assert (imp.bidfloor, imp.bidfloorcur, imp.instl) == (0.0, "USD", 0)
    assert imp.video is not None
    assert (imp.video.minduration, imp.video.maxduration, imp.video.boxingallowed) == (0, None, 1)


def test_app_dooh_audio_banner_and_native_requests_parse() -> None:
    req = video_request()
    del req["site"]
    req["app"] = {
        "id": "app-1",
        "bundle": "com.example.trail",
        "storeurl": "https://store.test/app",
        "ver": "3.1",
        "paid": 0,
        "publisher": {"id": "pub-9"},
        "inventorypartnerdomain": "partner.test",
    }
    req["imp"].append({"id": "2", "audio": {"mimes": ["audio/mp4"], "feed": 1, "stitched": 1}})
    req["imp"].append({"id": "3", "banner": {"w": 300, "h": 250, "btype": [4], "topframe": 1}})
    req["imp"].append({"id": "4", "native": {"request": "{}", "ver": "1.2", "api": [3]}})
    parsed = parse_bid_request(body(req))
    assert parsed.app is not None
    assert parsed.app.bundle == "com.example.trail"
    assert [i.id for i in parsed.imp] == ["1", "2", "3", "4"]
    assert parsed.imp[1].audio is not None
    assert parsed.imp[2].banner is not None
    assert parsed.imp[3].native is not None

    dooh: dict[str, Any] = {"id": "r", "imp": [{"id": "1", "video": {"mimes": ["video/mp4"]}}]}
    dooh["dooh"] = {"id": "screen-1", "venuetype": ["transit"], "venuetypetax": 1}
    assert parse_bid_request(body(dooh)).dooh is not None


def test_ext_accepts_anything_at_every_level() -> None:
    vendor = {"prebid": {"bidder": {"x": [1, 2.5, None, True, {"deep": ["y"]}]}}, "n": None}
    req = video_request()
    req["ext"] = vendor
    req["imp"][0]["ext"] = vendor
    req["imp"][0]["video"]["ext"] = {"vendor_flag": "yes"}
    req["site"]["publisher"]["ext"] = {"k": 1}
    req["device"]["geo"]["ext"] = {}
    req["user"]["eids"][0]["uids"][0]["ext"] = {"rtiPartner": "TDID"}
    req["source"]["ext"] = {"omidpn": "adloom"}
    parsed = parse_bid_request(body(req))
    assert parsed.ext == vendor
    assert parsed.imp[0].ext == vendor
    assert parsed.imp[0].video is not None
    assert parsed.imp[0].video.ext == {"vendor_flag": "yes"}
    bad = video_request()
    bad["imp"][0]["ext"] = [1, 2]
    with pytest.raises(BidRequestError, match=r"^imp\.0\.ext: Input should be an object$"):
        parse_bid_request(body(bad))


def test_a_dict_validates_the_same_way_as_json() -> None:
    """The HTTP layer validates the decoded dict, so both paths must agree."""
    req = video_request()
    assert BidRequest.model_validate(req) == parse_bid_request(body(req))


# --------------------------------------------------------------------------- invalid requests


def _without(*path: str | int) -> Any:
    def mutate(req: dict[str, Any]) -> None:
        target: Any = req
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _set(value: Any, *path: str | int) -> Any:
    def mutate(req: dict[str, Any]) -> None:
        target: Any = req
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _dup_imp(req: dict[str, Any]) -> None:
    req["imp"].append(copy.deepcopy(req["imp"][0]))


def _min_over_max(req: dict[str, Any]) -> None:
    req["imp"][0]["video"].update(minduration=40, maxduration=30)


def _two_errors(req: dict[str, Any]) -> None:
    del req["id"]
    req["tmax"] = "soon"


INVALID = [
    pytest.param(_without("id"), "id: Field required", id="missing id"),
    pytest.param(_set("", "id"), "id: String should have at least 1 character", id="empty id"),
    pytest.param(_without("imp"), "imp: Field required", id="no imp field"),
    pytest.param(
        _set([], "imp"),
        "imp: List should have at least 1 item after validation, not 0",
        id="empty imp",
    ),
    pytest.param(
        _set("", "imp", 0, "id"),
        "imp.0.id: String should have at least 1 character",
        id="empty imp id",
    ),
    pytest.param(_dup_imp, "imp: duplicate imp id '1'", id="duplicate imp ids"),
    pytest.param(
        _without("imp", 0, "video", "mimes"),
        "imp.0.video.mimes: Field required",
        id="imp without mimes",
    ),
    pytest.param(
        _set([], "imp", 0, "video", "mimes"),
        "imp.0.video.mimes: List should have at least 1 item after validation, not 0",
        id="empty mimes",
    ),
    pytest.param(
        _min_over_max,
        "imp.0.video.maxduration: must be >= minduration (40)",
        id="min > max duration",
    ),
    pytest.param(
        _set({"id": "a"}, "app"), "app: site and app are mutually exclusive", id="site and app"
    ),
    pytest.param(
        _set({"id": "d"}, "dooh"), "dooh: site and dooh are mutually exclusive", id="site and dooh"
    ),
    pytest.param(_set(1, "wat"), "wat: unknown field", id="unknown top-level field"),
    # The specification's own video example spells ``api`` as ``apis``; adloom says so.
    pytest.param(
        _set([1, 2], "imp", 0, "video", "apis"),
        "imp.0.video.apis: unknown field",
        id="unknown field in video",
    ),
    pytest.param(
        _set(1, "site", "publisher", "foo"),
        "site.publisher.foo: unknown field",
        id="unknown field deep",
    ),
    pytest.param(
        _set("soon", "tmax"), "tmax: Input should be a valid integer", id="string for int"
    ),
    pytest.param(
        _set("150", "tmax"), "tmax: Input should be a valid integer", id="numeric string for int"
    ),
    pytest.param(_set(True, "test"), "test: Input should be a valid integer", id="bool for int"),
    pytest.param(_set(0, "tmax"), "tmax: Input should be greater than 0", id="tmax zero"),
    pytest.param(
        _set(2, "regs", "coppa"),
        "regs.coppa: Input should be less than or equal to 1",
        id="flag out of range",
    ),
    pytest.param(
        _set(-0.01, "imp", 0, "bidfloor"),
        "imp.0.bidfloor: Input should be greater than or equal to 0",
        id="negative floor",
    ),
    pytest.param(
        _set(-1, "imp", 0, "pmp", "deals", 0, "bidfloor"),
        "imp.0.pmp.deals.0.bidfloor: Input should be greater than or equal to 0",
        id="negative deal floor",
    ),
    pytest.param(
        _set([7, "13"], "imp", 0, "video", "protocols"),
        "imp.0.video.protocols.1: Input should be a valid integer",
        id="int list with string",
    ),
    pytest.param(lambda req: req.clear(), "id: Field required (+1 more)", id="empty object"),
    pytest.param(_two_errors, "id: Field required (+1 more)", id="two problems"),
]


@pytest.mark.parametrize(("mutate", "message"), INVALID)
def test_invalid_requests_name_the_first_problem_in_one_line(mutate: Any, message: str) -> None:
    req = video_request()
    mutate(req)
    with pytest.raises(BidRequestError) as info:
        parse_bid_request(body(req))
    assert str(info.value) == message
    assert isinstance(info.value, InputError)
    assert isinstance(info.value, AdloomError)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"id": "r1", "imp": [', "malformed JSON at line 1 column 22: Expecting value"),
        (b'{"id": "r1",\n "imp": [}]}', "malformed JSON at line 2 column 10: Expecting value"),
        (b"", "malformed JSON at line 1 column 1: Expecting value"),
        (b'{"id": "r", imp', "malformed JSON at line 1 column 13: Expecting property name enclosed "
         "in double quotes"),
        ('{"id": "é"}'.encode("latin-1"), "malformed JSON: not UTF-8 text"),
        (b"[]", "(root): Input should be an object"),
        (b"null", "(root): Input should be an object"),
    ],
)  # fmt: skip
def test_malformed_json_is_reported_with_its_position(raw: bytes, message: str) -> None:
    with pytest.raises(BidRequestError) as info:
        parse_bid_request(raw)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_error_keeps_path_and_problem_apart() -> None:
    req = video_request()
    del req["imp"][0]["video"]["mimes"]
    with pytest.raises(BidRequestError) as info:
        parse_bid_request(body(req))
    assert (info.value.where, info.value.problem) == ("imp.0.video.mimes", "Field required")


def test_rqddurs_must_be_positive_and_durations_non_negative() -> None:
    req = video_request()
    req["imp"][0]["video"]["rqddurs"] = [15, 0]
    with pytest.raises(BidRequestError, match=r"^imp\.0\.video\.rqddurs\.1: Input should be"):
        parse_bid_request(body(req))
    req = video_request()
    req["imp"][0]["video"]["minduration"] = -1
    with pytest.raises(BidRequestError, match=r"^imp\.0\.video\.minduration: "):
        parse_bid_request(body(req))


# --------------------------------------------------------------------------- enumerations


def test_vast_protocol_codes_match_adcom() -> None:
    pairs = [
        (PROTOCOL_VAST_4_0, 7),
        (PROTOCOL_VAST_4_0_WRAPPER, 8),
        (PROTOCOL_VAST_4_1, 11),
        (PROTOCOL_VAST_4_1_WRAPPER, 12),
        (PROTOCOL_VAST_4_2, 13),
        (PROTOCOL_VAST_4_2_WRAPPER, 14),
    ]
    for constant, code in pairs:
        assert constant == code


def test_no_bid_reasons_cover_the_spec_codes() -> None:
    assert [r.value for r in NO_BID] == list(range(18))
    assert NO_BID(2) is NO_BID.INVALID_REQUEST
    assert NO_BID(15) is NO_BID.INSUFFICIENT_AUCTION_TIME
    assert NO_BID(17) is NO_BID.BLOCKED_SUPPLY_CHAIN_NODE


# --------------------------------------------------------------------------- responses


def test_response_serializes_without_unset_fields() -> None:
    bid = Bid(
        id="dec-1",
        impid="1",
        price=2.5,
        adm="<VAST/>",
        adomain=["acme.test"],
        crid="cr-1",
        mtype=openrtb.MTYPE_VIDEO,
        protocol=PROTOCOL_VAST_4_2,
        dur=15,
    )
    resp = BidResponse(id="req-1", seatbid=[SeatBid(bid=[bid], seat="adloom")], cur="USD")
    expected = {
        "id": "req-1",
        "seatbid": [
            {
                "bid": [
                    {
                        "id": "dec-1",
                        "impid": "1",
                        "price": 2.5,
                        "adm": "<VAST/>",
                        "adomain": ["acme.test"],
                        "crid": "cr-1",
                        "protocol": 13,
                        "dur": 15,
                        "mtype": 2,
                    }
                ],
                "seat": "adloom",
            }
        ],
        "cur": "USD",
    }
    assert resp.model_dump() == expected
    assert resp.model_dump(mode="json") == expected
    assert json.loads(resp.model_dump_json()) == expected
    assert "null" not in resp.model_dump_json()


def test_response_ext_keeps_vendor_nulls() -> None:
    resp = BidResponse(id="r", ext={"k": None})
    assert resp.model_dump() == {"id": "r", "ext": {"k": None}}


def test_explicit_no_bid_carries_the_reason() -> None:
    resp = BidResponse.no_bid("req-9", NO_BID.INSUFFICIENT_AUCTION_TIME)
    assert json.loads(resp.model_dump_json()) == {"id": "req-9", "nbr": 15}


def test_response_schema_still_describes_the_fields() -> None:
    """Dropping nulls must not turn the published response schema into a bare object."""
    schema = BidResponse.model_json_schema(mode="serialization")
    assert {"id", "seatbid", "nbr"} <= set(schema["properties"])
    assert {"impid", "price", "adm"} <= set(schema["$defs"]["Bid"]["properties"])


def test_bid_rejects_negative_price_and_empty_seat() -> None:
    with pytest.raises(ValueError, match="price"):
        Bid(id="b", impid="1", price=-1.0)
    with pytest.raises(ValueError, match="bid"):
        SeatBid(bid=[])


# --------------------------------------------------------------------------- video_fits


def video(**over: Any) -> Video:
    base: dict[str, Any] = {
        "mimes": ["video/mp4"],
        "minduration": 5,
        "maxduration": 30,
        "protocols": [7, 13],
        "w": 1280,
        "h": 720,
    }
    base.update(over)
    return Video.model_validate(base)


FITS = [
    ("fits", {}, {}, None),
    ("mime with parameters", {}, {"mime": "video/mp4; codecs=avc1"}, None),
    ("mime case", {"mimes": ["VIDEO/MP4"]}, {}, None),
    ("mime not accepted", {"mimes": ["video/webm"]}, {}, "mime video/mp4 not accepted"),
    ("protocol not accepted", {"protocols": [2, 3]}, {}, "protocol 13 not accepted"),
    ("no protocols listed", {"protocols": None}, {}, None),
    ("too long", {"maxduration": 10}, {}, "duration 15s outside [5, 10]"),
    ("too short", {"minduration": 20}, {}, "duration 15s outside [20, 30]"),
    ("no max", {"maxduration": None}, {"duration_s": 120.0}, None),
    ("frame rounding", {"maxduration": 15}, {"duration_s": 15.033}, None),
    ("at the limits", {"minduration": 15, "maxduration": 15}, {}, None),
    ("rqddurs hit", {"minduration": 0, "maxduration": None, "rqddurs": [15, 30]}, {}, None),
    (
        "rqddurs miss",
        {"minduration": 0, "maxduration": None, "rqddurs": [10, 30]},
        {},
        "duration 15s not in rqddurs [10, 30]",
    ),
    ("rqddurs over min/max", {"rqddurs": [15], "maxduration": 10, "minduration": 0}, {}, None),
    ("non-linear only", {"linearity": 2}, {}, "only non-linear ads accepted"),
    ("portrait, boxing allowed", {}, {"width": 1080, "height": 1920}, None),
    (
        "portrait, no boxing",
        {"boxingallowed": 0},
        {"width": 1080, "height": 1920},
        "1080x1920 would be boxed in a 1280x720 player",
    ),
    ("same shape, no boxing", {"boxingallowed": 0}, {"width": 1920, "height": 1080}, None),
    ("unknown player size", {"boxingallowed": 0, "w": None, "h": None}, {"width": 1080}, None),
    ("zero duration", {"minduration": 0}, {"duration_s": 0.0}, "creative has no duration"),
]


@pytest.mark.parametrize(
    ("video_over", "creative_over", "reason"), [c[1:] for c in FITS], ids=[c[0] for c in FITS]
)
def test_video_fits(
    video_over: dict[str, Any], creative_over: dict[str, Any], reason: str | None
) -> None:
    creative: dict[str, Any] = {
        "duration_s": 15.0,
        "width": 1280,
        "height": 720,
        "mime": "video/mp4",
        "protocol": PROTOCOL_VAST_4_2,
    }
    creative.update(creative_over)
    assert video_fits(video(**video_over), **creative) == reason
