"""VMAP 1.0: a mid-roll break at the chosen offset with the segment's VAST."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from adloom.errors import InputError
from adloom.serving import vast
from adloom.serving.vmap import NAMESPACE, AdBreak, vmap

V = f"{{{NAMESPACE}}}"


def _vast() -> str:
    ad = vast.VastAd(
        ad_id="a1",
        ad_serving_id="s1",
        title="Boots",
        creative_id="c1",
        universal_ad_id="c1",
        duration_s=6.0,
        media_files=[vast.MediaFile(url="https://cdn.example.com/s.mp4", width=256, height=144)],
        impression_urls=["https://t.example.com/i"],
    )
    return vast.inline(ad)


def test_midroll_break_embeds_the_vast() -> None:
    doc = vmap([AdBreak("pci-1", 12.72, vast_xml=_vast(), tracking={"breakStart": "https://t/b"})])
    root = ET.fromstring(doc)
    assert root.tag == f"{V}VMAP"
    assert root.get("version") == "1.0"
    (brk,) = root.findall(f"{V}AdBreak")
    assert brk.get("timeOffset") == "00:00:12.720"
    assert brk.get("breakType") == "linear"
    assert brk.get("breakId") == "pci-1"
    source = brk.find(f"{V}AdSource")
    assert source is not None
    assert source.get("allowMultipleAds") == "false"
    data = source.find(f"{V}VASTAdData")
    assert data is not None
    (inner,) = list(data)
    assert inner.tag.endswith("VAST")
    assert inner.get("version") == "4.2"
    assert inner.find(".//{*}Duration").text == "00:00:06.000"  # type: ignore[union-attr]
    tracking = brk.find(f"{V}TrackingEvents/{V}Tracking")
    assert tracking is not None
    assert tracking.get("event") == "breakStart"
    assert "<?xml" not in doc[5:]


def test_ad_tag_uri_in_cdata_and_breaks_in_time_order() -> None:
    doc = vmap(
        [
            AdBreak("late", 30.0, ad_tag_uri="https://ads.example.com/vast?a=1&b=2"),
            AdBreak("early", 5.5, vast_xml=_vast()),
        ]
    )
    assert "<![CDATA[https://ads.example.com/vast?a=1&b=2]]>" in doc
    root = ET.fromstring(doc)
    ids = [b.get("breakId") for b in root.findall(f"{V}AdBreak")]
    assert ids == ["early", "late"]
    uri = root.find(f"{V}AdBreak/{V}AdSource/{V}AdTagURI")
    assert uri is None or uri.get("templateType") == "vast4"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vast_xml": None}, "AdBreak: give exactly one of vast_xml and ad_tag_uri"),
        ({"ad_tag_uri": "https://x"}, "AdBreak: give exactly one of vast_xml and ad_tag_uri"),
        ({"break_id": ""}, "AdBreak.break_id: must not be empty"),
        ({"time_offset_s": -1.0}, "AdBreak.time_offset_s: -1.0s is outside"),
        ({"tracking": {"start": "https://x"}}, "AdBreak.tracking: not VMAP events"),
    ],
)
def test_invalid_breaks(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"break_id": "b", "time_offset_s": 1.0, "vast_xml": "<VAST/>"}
    with pytest.raises(InputError, match=message.replace(".", r"\.").replace("(", r"\(")):
        AdBreak(**{**base, **kwargs})  # type: ignore[arg-type]


def test_empty_vmap_is_refused() -> None:
    with pytest.raises(InputError, match="at least one AdBreak"):
        vmap([])
