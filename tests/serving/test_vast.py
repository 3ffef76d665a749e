"""VAST 4.2 documents: structure, order, values and escaping, checked element by element."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import vastlint  # type: ignore[import-untyped]

from adloom import __version__
from adloom.errors import InputError
from adloom.serving import vast
from adloom.serving.vast import (
    LINEAR_EVENTS,
    Disclosure,
    MediaFile,
    Pricing,
    VastAd,
    empty,
    inline,
    timecode,
)

NS = {"v": vast.NAMESPACE}
Q = "{" + vast.NAMESPACE + "}"

# Child order of the VAST 4.2 XSD sequences (AdDefinitionBase_type then Inline_type;
# Creative_Inline_type; Linear_Base_type then Linear_Inline_type).
INLINE_ORDER = [
    "AdSystem",
    "Error",
    "Extensions",
    "Impression",
    "Pricing",
    "ViewableImpression",
    "AdServingId",
    "AdTitle",
    "AdVerifications",
    "Advertiser",
    "Category",
    "Creatives",
    "Description",
    "Expires",
    "Survey",
]
CREATIVE_ORDER = ["CompanionAds", "CreativeExtensions", "Linear", "NonLinearAds", "UniversalAdId"]
LINEAR_ORDER = ["Icons", "TrackingEvents", "AdParameters", "Duration", "MediaFiles", "VideoClicks"]
VIDEO_CLICKS_ORDER = ["ClickTracking", "ClickThrough", "CustomClick"]

BASE = "https://ads.test"


def url(path: str) -> str:
    """A URL whose query needs escaping outside CDATA."""
    return f"{BASE}/{path}?t=abc-DEF_123&cb=[CACHEBUSTING]&x=<1>"


def full_ad(**over: Any) -> VastAd:
    fields: dict[str, Any] = {
        "ad_id": "dec-7f3a",
        "ad_serving_id": "dec-7f3a-serve",
        "title": 'Acme "Summit" shoes <new> & improved',
        "creative_id": "cr-summit-hiker",
        "universal_ad_id": "cr-summit-hiker-v3",
        "duration_s": 15.0,
        "media_files": [
            MediaFile(
                url=url("media/acme/cr-summit-hiker.mp4"),
                width=1920,
                height=1080,
                mime_type="video/mp4",
                bitrate_kbps=4500,
                codec="avc1.640028",
            ),
            MediaFile(url=url("media/acme/cr-summit-hiker-sd.mp4"), width=640, height=360),
        ],
        "impression_urls": [url("v1/events/impression"), "https://verify.test/pixel?a=1&b=2"],
        "advertiser": "Acme & Co",
        "description": "Trail shoes for the hiker in you",
        "error_url": f"{BASE}/v1/error?code=[ERRORCODE]&d=dec-7f3a",
        "tracking": {e: url(f"v1/events/{e}") for e in LINEAR_EVENTS},
        "click_through": url("v1/click"),
        "click_tracking": [url("v1/events/click")],
        "skip_offset_s": 5.0,
        "disclosure": Disclosure(text="AI-generated ad", c2pa=True, kind="personalized"),
        "pricing": Pricing(value=12.5, model="CPM", currency="USD"),
    }
    fields.update(over)
    return VastAd(**fields)


def minimal_ad(**over: Any) -> VastAd:
    fields: dict[str, Any] = {
        "ad_id": "d1",
        "ad_serving_id": "d1",
        "title": "t",
        "creative_id": "c1",
        "universal_ad_id": "c1",
        "duration_s": 6.0,
        "media_files": [MediaFile(url=f"{BASE}/m.mp4", width=1280, height=720)],
        "impression_urls": [f"{BASE}/i"],
    }
    fields.update(over)
    return VastAd(**fields)


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)


def local(el: ET.Element) -> str:
    return el.tag.removeprefix(Q)


def in_schema_order(children: list[str], order: list[str]) -> bool:
    positions = [order.index(c) for c in children]
    return positions == sorted(positions)


def the(root: ET.Element, path: str) -> ET.Element:
    found = root.find(path, NS)
    assert found is not None, path
    return found


def text(root: ET.Element, path: str) -> str:
    return the(root, path).text or ""


def error_issues(xml: str) -> list[Any]:
    return [i for i in vastlint.validate(xml).issues if i.severity == "error"]


# --------------------------------------------------------------------------- structure


def test_document_is_vast_4_2_with_one_inline_ad() -> None:
    root = parse(inline(full_ad()))
    assert root.tag == f"{Q}VAST"
    assert root.get("version") == "4.2"
    ads = root.findall("v:Ad", NS)
    assert len(ads) == 1
    assert ads[0].get("id") == "dec-7f3a"
    assert [local(c) for c in ads[0]] == ["InLine"]


def test_inline_children_are_all_present_in_xsd_order() -> None:
    inline_el = the(parse(inline(full_ad())), "v:Ad/v:InLine")
    children = [local(c) for c in inline_el]
    assert children == [
        "AdSystem",
        "Error",
        "Extensions",
        "Impression",
        "Impression",
        "Pricing",
        "AdServingId",
        "AdTitle",
        "Advertiser",
        "Creatives",
        "Description",
    ]
    assert in_schema_order(children, INLINE_ORDER)


def test_creative_and_linear_children_are_in_xsd_order() -> None:
    root = parse(inline(full_ad()))
    creative = the(root, "v:Ad/v:InLine/v:Creatives/v:Creative")
    assert [local(c) for c in creative] == ["Linear", "UniversalAdId"]
    assert in_schema_order([local(c) for c in creative], CREATIVE_ORDER)
    linear = the(creative, "v:Linear")
    assert [local(c) for c in linear] == ["TrackingEvents", "Duration", "MediaFiles", "VideoClicks"]
    assert in_schema_order([local(c) for c in linear], LINEAR_ORDER)
    clicks = [local(c) for c in the(linear, "v:VideoClicks")]
    assert clicks == ["ClickTracking", "ClickThrough"]
    assert in_schema_order(clicks, VIDEO_CLICKS_ORDER)


def test_minimal_ad_leaves_optional_elements_out() -> None:
    root = parse(inline(minimal_ad()))
    inline_el = the(root, "v:Ad/v:InLine")
    assert [local(c) for c in inline_el] == [
        "AdSystem",
        "Impression",
        "AdServingId",
        "AdTitle",
        "Creatives",
    ]
    linear = the(inline_el, "v:Creatives/v:Creative/v:Linear")
    assert [local(c) for c in linear] == ["Duration", "MediaFiles"]
    assert linear.get("skipoffset") is None


# --------------------------------------------------------------------------- values


def test_ad_system_serving_id_title_and_advertiser() -> None:
    root = parse(inline(full_ad()))
    system = the(root, "v:Ad/v:InLine/v:AdSystem")
    assert system.text == "adloom"
    assert system.get("version") == __version__
    assert text(root, "v:Ad/v:InLine/v:AdServingId") == "dec-7f3a-serve"
    assert text(root, "v:Ad/v:InLine/v:AdTitle") == 'Acme "Summit" shoes <new> & improved'
    assert text(root, "v:Ad/v:InLine/v:Advertiser") == "Acme & Co"
    assert text(root, "v:Ad/v:InLine/v:Description") == "Trail shoes for the hiker in you"


def test_ad_system_name_and_version_are_configurable() -> None:
    root = parse(inline(minimal_ad(ad_system="adloom-edge", ad_system_version="9.9")))
    system = the(root, "v:Ad/v:InLine/v:AdSystem")
    assert (system.text, system.get("version")) == ("adloom-edge", "9.9")


def test_creative_ids_and_universal_ad_id() -> None:
    root = parse(inline(full_ad()))
    creative = the(root, "v:Ad/v:InLine/v:Creatives/v:Creative")
    assert creative.get("id") == "cr-summit-hiker"
    assert creative.get("adId") == "dec-7f3a"
    uid = the(creative, "v:UniversalAdId")
    assert uid.get("idRegistry") == "adloom"
    assert uid.text == "cr-summit-hiker-v3"
    custom = parse(inline(minimal_ad(id_registry="ad-id.org", universal_ad_id="ACME0001000H")))
    uid = the(custom, "v:Ad/v:InLine/v:Creatives/v:Creative/v:UniversalAdId")
    assert (uid.get("idRegistry"), uid.text) == ("ad-id.org", "ACME0001000H")


def test_impressions_have_ids_and_urls() -> None:
    root = parse(inline(full_ad()))
    imps = root.findall("v:Ad/v:InLine/v:Impression", NS)
    assert [i.text for i in imps] == [
        url("v1/events/impression"),
        "https://verify.test/pixel?a=1&b=2",
    ]
    ids = [i.get("id") for i in imps]
    assert all(ids)
    assert len(set(ids)) == 2


def test_error_url_keeps_its_macro() -> None:
    root = parse(inline(full_ad()))
    assert text(root, "v:Ad/v:InLine/v:Error") == f"{BASE}/v1/error?code=[ERRORCODE]&d=dec-7f3a"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (15.0, "00:00:15.000"),
        (0.0, "00:00:00.000"),
        (0.5, "00:00:00.500"),
        (6.006, "00:00:06.006"),
        (29.9996, "00:00:30.000"),
        (59.9994, "00:00:59.999"),
        (61.25, "00:01:01.250"),
        (3661.5, "01:01:01.500"),
        (99 * 3600 + 59 * 60 + 59.999, "99:59:59.999"),
    ],
)
def test_timecode(seconds: float, expected: str) -> None:
    assert timecode(seconds) == expected


@pytest.mark.parametrize("seconds", [-0.001, 100 * 3600.0, float("nan"), float("inf")])
def test_timecode_rejects_what_the_format_cannot_hold(seconds: float) -> None:
    with pytest.raises(InputError, match=r"^duration: .* is outside 0 to 99:59:59\.999$"):
        timecode(seconds)


def test_duration_and_skip_offset() -> None:
    root = parse(inline(full_ad(duration_s=30.04, skip_offset_s=5.0)))
    linear = the(root, "v:Ad/v:InLine/v:Creatives/v:Creative/v:Linear")
    assert text(linear, "v:Duration") == "00:00:30.040"
    assert linear.get("skipoffset") == "00:00:05.000"


def test_every_tracking_event_is_present_once_with_its_url() -> None:
    extra = {"creativeView": url("v1/events/view"), "pause": url("v1/events/pause")}
    ad = full_ad(tracking={**{e: url(f"v1/events/{e}") for e in LINEAR_EVENTS}, **extra})
    root = parse(inline(ad))
    tracking = root.findall(
        "v:Ad/v:InLine/v:Creatives/v:Creative/v:Linear/v:TrackingEvents/v:Tracking", NS
    )
    got = {t.get("event"): t.text for t in tracking}
    assert len(tracking) == len(got) == 8
    assert set(LINEAR_EVENTS) == {
        "start",
        "firstQuartile",
        "midpoint",
        "thirdQuartile",
        "complete",
        "skip",
    }
    for event in LINEAR_EVENTS:
        assert got[event] == url(f"v1/events/{event}")
    assert got["creativeView"] == extra["creativeView"]
    assert got["pause"] == extra["pause"]


def test_media_file_attributes() -> None:
    root = parse(inline(full_ad()))
    files = root.findall(
        "v:Ad/v:InLine/v:Creatives/v:Creative/v:Linear/v:MediaFiles/v:MediaFile", NS
    )
    assert len(files) == 2
    hd, sd = files
    assert hd.attrib == {
        "delivery": "progressive",
        "type": "video/mp4",
        "width": "1920",
        "height": "1080",
        "codec": "avc1.640028",
        "bitrate": "4500",
    }
    assert hd.text == url("media/acme/cr-summit-hiker.mp4")
    assert sd.attrib == {
        "delivery": "progressive",
        "type": "video/mp4",
        "width": "640",
        "height": "360",
    }


def test_video_clicks() -> None:
    root = parse(inline(full_ad()))
    clicks = the(root, "v:Ad/v:InLine/v:Creatives/v:Creative/v:Linear/v:VideoClicks")
    assert text(clicks, "v:ClickThrough") == url("v1/click")
    assert [c.text for c in clicks.findall("v:ClickTracking", NS)] == [url("v1/events/click")]


def test_pricing() -> None:
    root = parse(inline(full_ad(pricing=Pricing(value=3.125, model="CPC", currency="EUR"))))
    pricing = the(root, "v:Ad/v:InLine/v:Pricing")
    assert (pricing.get("model"), pricing.get("currency")) == ("CPC", "EUR")
    assert float(pricing.text or "nan") == 3.125


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"value": -1.0}, "Pricing.value: must be finite and non-negative, not -1.0"),
        ({"value": float("nan")}, "Pricing.value: must be finite and non-negative, not nan"),
        ({"value": 1.0, "currency": "US"}, "Pricing.currency: 'US' is not an ISO-4217 code"),
    ],
)
def test_pricing_rejects_values_vast_cannot_carry(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as info:
        Pricing(**fields)
    assert str(info.value) == message


# --------------------------------------------------------------------------- escaping


def test_urls_are_cdata_and_round_trip_with_ampersands() -> None:
    xml = inline(full_ad())
    raw = url("v1/click")
    assert f"<![CDATA[{raw}]]>" in xml  # unescaped inside CDATA
    assert "&amp;cb=" not in xml
    root = parse(xml)
    assert (
        text(root, "v:Ad/v:InLine/v:Creatives/v:Creative/v:Linear/v:VideoClicks/v:ClickThrough")
        == raw
    )


def test_cdata_terminator_inside_a_url_round_trips() -> None:
    odd = f"{BASE}/x?q=a]]>b&c=<d>"
    root = parse(inline(minimal_ad(impression_urls=[odd], click_through=odd)))
    assert text(root, "v:Ad/v:InLine/v:Impression") == odd
    clicks = "v:Ad/v:InLine/v:Creatives/v:Creative/v:Linear/v:VideoClicks/v:ClickThrough"
    assert text(root, clicks) == odd


def test_text_and_attributes_are_escaped_and_invalid_characters_dropped() -> None:
    ad = minimal_ad(
        ad_id='d"1<&>',
        title="Tom & Jerry's <b>\x00\x07 sale\x1f",
        creative_id="c&1",
        universal_ad_id="u<1>",
        advertiser="A\ufffeB",
    )
    root = parse(inline(ad))
    assert the(root, "v:Ad").get("id") == 'd"1<&>'
    assert text(root, "v:Ad/v:InLine/v:AdTitle") == "Tom & Jerry's <b> sale"
    assert text(root, "v:Ad/v:InLine/v:Advertiser") == "AB"
    creative = the(root, "v:Ad/v:InLine/v:Creatives/v:Creative")
    assert creative.get("id") == "c&1"
    assert text(creative, "v:UniversalAdId") == "u<1>"


def test_control_characters_in_urls_are_dropped() -> None:
    root = parse(inline(minimal_ad(impression_urls=[f"{BASE}/i?\x01a=1\x0b"])))
    assert text(root, "v:Ad/v:InLine/v:Impression") == f"{BASE}/i?a=1"


# --------------------------------------------------------------------------- disclosure


def test_disclosure_extension() -> None:
    root = parse(inline(full_ad()))
    ext = the(root, "v:Ad/v:InLine/v:Extensions/v:Extension")
    assert ext.get("type") == "AIDisclosure"
    body = the(ext, "v:AIDisclosure")
    assert text(body, "v:Text") == "AI-generated ad"
    source = text(body, "v:DigitalSourceType")
    assert source == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    assert the(body, "v:C2PA").get("embedded") == "true"
    assert text(body, "v:PlanKind") == "personalized"


def test_generic_disclosure_never_says_personalized() -> None:
    disclosure = Disclosure(text="Made with AI", c2pa=False, kind="generic")
    xml = inline(full_ad(disclosure=disclosure))
    body = the(parse(xml), "v:Ad/v:InLine/v:Extensions/v:Extension/v:AIDisclosure")
    assert the(body, "v:C2PA").get("embedded") == "false"
    assert text(body, "v:PlanKind") == "generic"
    assert "personalized" not in xml


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"impression_urls": []}, "VastAd.impression_urls: VAST needs at least one Impression"),
        ({"media_files": []}, "VastAd.media_files: VAST needs at least one MediaFile"),
        (
            {"tracking": {"start": "u", "impression": "u", "progress": "u"}},
            "VastAd.tracking: not VAST 4.2 events: ['impression', 'progress']",
        ),
        ({"universal_ad_id": ""}, "VastAd.universal_ad_id: must not be empty"),
        (
            {"duration_s": -1.0},
            "VastAd.duration_s: -1.0s is outside 0 to 99:59:59.999",
        ),
        (
            {"skip_offset_s": 360_000.0},
            "VastAd.skip_offset_s: 360000.0s is outside 0 to 99:59:59.999",
        ),
    ],
)
def test_ads_vast_cannot_express_are_refused(over: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as info:
        minimal_ad(**over)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "ad",
    [
        pytest.param(full_ad(), id="full"),
        pytest.param(minimal_ad(), id="minimal"),
        pytest.param(full_ad(disclosure=Disclosure(text="AI"), pricing=None), id="generic"),
        pytest.param(
            full_ad(
                tracking={e: url(e) for e in sorted(vast.TRACKING_EVENTS)},
                skip_offset_s=None,
                media_files=[
                    dataclasses.replace(
                        full_ad().media_files[0], delivery="streaming", mime_type="video/webm"
                    )
                ],
            ),
            id="every-event",
        ),
    ],
)
def test_vastlint_finds_no_errors(ad: VastAd) -> None:
    xml = inline(ad)
    assert error_issues(xml) == []
    result = vastlint.validate(xml)
    assert result.version == "4.2"
    assert result.summary.errors == 0


# --------------------------------------------------------------------------- empty


def test_empty_document_has_no_ad() -> None:
    xml = empty()
    root = parse(xml)
    assert root.tag == f"{Q}VAST"
    assert root.get("version") == "4.2"
    assert list(root) == []
    assert error_issues(xml) == []


def test_empty_document_with_error_url() -> None:
    err = f"{BASE}/v1/error?code=[ERRORCODE]&r=1"
    xml = empty(err)
    root = parse(xml)
    assert [local(c) for c in root] == ["Error"]
    assert text(root, "v:Error") == err
    assert root.find("v:Ad", NS) is None
    assert error_issues(xml) == []


# --------------------------------------------------------------------------- templates

NASTY = {
    "ad_id": 'dec-1 & <"2">\x01',
    "impression": url("imp") + "]]>tail\x02",
    "start": url("start"),
    "click": url("click"),
    "clickthrough": "https://shop.test/p?a=1&b=]]>&c=<x>",
}


def test_template_renders_what_inline_builds_with_the_same_values() -> None:
    def ad(values: dict[str, str]) -> VastAd:
        return full_ad(
            ad_id=values["ad_id"],
            ad_serving_id=values["ad_id"],
            impression_urls=[values["impression"]],
            tracking={"start": values["start"]},
            click_through=values["clickthrough"],
            click_tracking=[values["click"]],
        )

    template = vast.Template(ad({k: vast.slot(k) for k in NASTY}))
    assert template.slots == set(NASTY)
    for values in (NASTY, {k: f"plain-{k}" for k in NASTY}):
        rendered = template.render(values)
        assert rendered == inline(ad(values))
        ET.fromstring(rendered)  # well-formed whatever the values held
    with pytest.raises(KeyError):
        template.render({k: v for k, v in NASTY.items() if k != "click"})
