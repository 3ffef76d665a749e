"""VAST 4.2 documents for adloom's creatives, built as strings on every ad request.

Elements appear in the order the VAST 4.2 XSD sequences require (players with strict
parsers reject anything else): InLine is AdSystem, Error, Extensions, Impression, Pricing,
AdServingId, AdTitle, Advertiser, Creatives, Description; a Creative holds Linear, then
UniversalAdId; Linear is TrackingEvents, Duration, MediaFiles, VideoClicks. URLs go in
CDATA so query strings need no entity escaping; all other text and attributes are escaped.

Each served creative is machine-generated, and the VAST says so: an ``<Extension
type="AIDisclosure">`` carries the on-screen disclosure text, the IPTC digital source type
``trainedAlgorithmicMedia``, whether the file embeds a C2PA manifest, and whether the ad was
personalized for the viewer, so players and verification vendors can act on it without
decoding the video.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from adloom import __version__
from adloom.errors import InputError

VERSION: Final = "4.2"
#: The VAST 4 schema namespace: with it, documents validate against the IAB XSD.
NAMESPACE: Final = "http://www.iab.com/VAST"
#: The player events adloom tracks on a linear ad, in playback order.
LINEAR_EVENTS: Final = ("start", "firstQuartile", "midpoint", "thirdQuartile", "complete", "skip")
#: Every ``Tracking@event`` the VAST 4.2 schema allows on a linear creative, except
#: ``progress`` (it needs an offset, which a plain event-to-URL map cannot carry).
TRACKING_EVENTS: Final = frozenset(
    {
        "mute",
        "unmute",
        "pause",
        "resume",
        "rewind",
        "skip",
        "playerExpand",
        "playerCollapse",
        "loaded",
        "start",
        "firstQuartile",
        "midpoint",
        "thirdQuartile",
        "complete",
        "closeLinear",
        "creativeView",
        "acceptInvitation",
        "adExpand",
        "adCollapse",
        "minimize",
        "close",
        "overlayViewDuration",
        "otherAdInteraction",
        "interactiveStart",
    }
)
#: IPTC digital source type of media created by a trained model (what C2PA also records).
DIGITAL_SOURCE_TYPE: Final = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
)
DISCLOSURE_EXTENSION: Final = "AIDisclosure"
_HEAD = f'<?xml version="1.0" encoding="UTF-8"?><VAST xmlns="{NAMESPACE}" version="{VERSION}">'
#: Largest duration the ``HH:MM:SS.mmm`` form can hold.
MAX_DURATION_S: Final = 100 * 3600 - 0.001

# Characters XML 1.0 cannot carry at all: dropped rather than breaking the document.
_INVALID = "\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff"
_ESCAPE = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        **dict.fromkeys(map(chr, (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))), None),
        "\ufffe": None,
        "\uffff": None,
    }
)
_STRIP = str.maketrans({k: v for k, v in _ESCAPE.items() if v is None})
# Most values need no change; a C-level search keeps them off the slower translate path.
_NEEDS_ESCAPE = re.compile(f'[&<>"{_INVALID}]').search
_NEEDS_CDATA_FIX = re.compile(f"[{_INVALID}]|]]>").search


def _plain(text: str) -> bool:
    """Printable ASCII without markup: needs no escaping anywhere (the usual case, and a
    few C-level scans where a regex search costs microseconds per URL)."""
    return (
        text.isascii()
        and text.isprintable()
        and "&" not in text
        and "<" not in text
        and ">" not in text
        and '"' not in text
    )


def _esc(text: str) -> str:
    """Text or attribute value, escaped."""
    if _plain(text) or not _NEEDS_ESCAPE(text):
        return text
    return text.translate(_ESCAPE)


def _cdata_body(url: str) -> str:
    """A URL made safe inside CDATA: a literal ``]]>`` is split across two sections."""
    if _plain(url) or not _NEEDS_CDATA_FIX(url):
        return url
    return url.translate(_STRIP).replace("]]>", "]]]]><![CDATA[>")


def _cdata(url: str) -> str:
    """A URL as CDATA."""
    return f"<![CDATA[{_cdata_body(url)}]]>"


def timecode(seconds: float, where: str = "duration") -> str:
    """``HH:MM:SS.mmm``, the form VAST uses for durations and offsets."""
    if not 0 <= seconds <= MAX_DURATION_S:
        raise InputError(where, f"{seconds!r}s is outside 0 to 99:59:59.999")
    ms = int(seconds * 1000 + 0.5)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


@dataclass(frozen=True, slots=True)
class MediaFile:
    url: str
    width: int
    height: int
    mime_type: str = "video/mp4"
    bitrate_kbps: int | None = None
    codec: str | None = None
    delivery: Literal["progressive", "streaming"] = "progressive"


@dataclass(frozen=True, slots=True)
class Disclosure:
    """How an AI-generated creative is labelled, repeated for machines."""

    text: str
    c2pa: bool = False
    kind: Literal["personalized", "generic"] = "generic"
    source_type: str = DIGITAL_SOURCE_TYPE


@dataclass(frozen=True, slots=True)
class Pricing:
    value: float
    model: Literal["CPM", "CPC", "CPE", "CPV"] = "CPM"
    currency: str = "USD"

    def __post_init__(self) -> None:
        if not 0 <= self.value < float("inf"):
            raise InputError("Pricing.value", f"must be finite and non-negative, not {self.value}")
        if len(self.currency) != 3 or not self.currency.isascii() or not self.currency.isalpha():
            raise InputError("Pricing.currency", f"{self.currency!r} is not an ISO-4217 code")


@dataclass(slots=True)
class VastAd:
    """One linear video ad. ``tracking`` maps a VAST event name to its URL."""

    ad_id: str
    ad_serving_id: str
    title: str
    creative_id: str
    universal_ad_id: str
    duration_s: float
    media_files: Sequence[MediaFile]
    impression_urls: Sequence[str]
    advertiser: str | None = None
    description: str | None = None
    error_url: str | None = None
    tracking: Mapping[str, str] = field(default_factory=dict)
    click_through: str | None = None
    click_tracking: Sequence[str] = ()
    skip_offset_s: float | None = None
    disclosure: Disclosure | None = None
    pricing: Pricing | None = None
    ad_system: str = "adloom"
    ad_system_version: str = __version__
    id_registry: str = "adloom"

    def __post_init__(self) -> None:
        if not self.impression_urls:
            raise InputError("VastAd.impression_urls", "VAST needs at least one Impression")
        if not self.media_files:
            raise InputError("VastAd.media_files", "VAST needs at least one MediaFile")
        unknown = set(self.tracking) - TRACKING_EVENTS
        if unknown:
            raise InputError("VastAd.tracking", f"not VAST 4.2 events: {sorted(unknown)}")
        if not self.universal_ad_id:
            raise InputError("VastAd.universal_ad_id", "must not be empty")
        timecode(self.duration_s, "VastAd.duration_s")
        if self.skip_offset_s is not None:
            timecode(self.skip_offset_s, "VastAd.skip_offset_s")


def _extension(d: Disclosure) -> str:
    return (
        f'<Extension type="{DISCLOSURE_EXTENSION}"><AIDisclosure>'
        f"<Text>{_esc(d.text)}</Text>"
        f"<DigitalSourceType>{_cdata(d.source_type)}</DigitalSourceType>"
        f'<C2PA embedded="{"true" if d.c2pa else "false"}"/>'
        f"<PlanKind>{_esc(d.kind)}</PlanKind>"
        "</AIDisclosure></Extension>"
    )


def _media_file(m: MediaFile) -> str:
    attrs = (
        f'delivery="{m.delivery}" type="{_esc(m.mime_type)}" width="{int(m.width)}"'
        f' height="{int(m.height)}"'
    )
    if m.codec:
        attrs += f' codec="{_esc(m.codec)}"'
    if m.bitrate_kbps is not None:
        attrs += f' bitrate="{int(m.bitrate_kbps)}"'
    return f"<MediaFile {attrs}>{_cdata(m.url)}</MediaFile>"


def inline(ad: VastAd) -> str:
    """A ``<VAST version="4.2">`` document holding ``ad`` as its one InLine ad."""
    out = [
        _HEAD,
        f'<Ad id="{_esc(ad.ad_id)}"><InLine>',
        f'<AdSystem version="{_esc(ad.ad_system_version)}">{_esc(ad.ad_system)}</AdSystem>',
    ]
    if ad.error_url:
        out.append(f"<Error>{_cdata(ad.error_url)}</Error>")
    if ad.disclosure is not None:
        out.append(f"<Extensions>{_extension(ad.disclosure)}</Extensions>")
    for i, url in enumerate(ad.impression_urls):
        out.append(f'<Impression id="{_esc(ad.ad_system)}-{i}">{_cdata(url)}</Impression>')
    if ad.pricing is not None:
        p = ad.pricing
        out.append(
            f'<Pricing model="{p.model}" currency="{_esc(p.currency)}">{p.value:.4f}</Pricing>'
        )
    out.append(f"<AdServingId>{_esc(ad.ad_serving_id)}</AdServingId>")
    out.append(f"<AdTitle>{_esc(ad.title)}</AdTitle>")
    if ad.advertiser:
        out.append(f"<Advertiser>{_esc(ad.advertiser)}</Advertiser>")
    out.append(
        f'<Creatives><Creative id="{_esc(ad.creative_id)}" adId="{_esc(ad.ad_id)}" sequence="1">'
    )
    skip = ""
    if ad.skip_offset_s is not None:
        skip = f' skipoffset="{timecode(ad.skip_offset_s, "VastAd.skip_offset_s")}"'
    out.append(f"<Linear{skip}>")
    if ad.tracking:
        out.append("<TrackingEvents>")
        for event, url in ad.tracking.items():
            out.append(f'<Tracking event="{event}">{_cdata(url)}</Tracking>')
        out.append("</TrackingEvents>")
    out.append(f"<Duration>{timecode(ad.duration_s, 'VastAd.duration_s')}</Duration><MediaFiles>")
    out.extend(_media_file(m) for m in ad.media_files)
    out.append("</MediaFiles>")
    if ad.click_through or ad.click_tracking:
        system = _esc(ad.ad_system)
        out.append("<VideoClicks>")
        for i, url in enumerate(ad.click_tracking):
            out.append(f'<ClickTracking id="{system}-{i}">{_cdata(url)}</ClickTracking>')
        if ad.click_through:
            out.append(f'<ClickThrough id="{system}">{_cdata(ad.click_through)}</ClickThrough>')
        out.append("</VideoClicks>")
    out.append("</Linear>")
    out.append(
        f'<UniversalAdId idRegistry="{_esc(ad.id_registry)}">{_esc(ad.universal_ad_id)}'
        "</UniversalAdId></Creative></Creatives>"
    )
    if ad.description:
        out.append(f"<Description>{_esc(ad.description)}</Description>")
    out.append("</InLine></Ad></VAST>")
    return "".join(out)


def empty(error_url: str | None = None) -> str:
    """A VAST 4.2 document with no ad: the standard "nothing to show" answer to a player.

    ``error_url`` is fired by the player to report the empty response (VAST error 303).
    """
    body = "" if error_url is None else f"<Error>{_cdata(error_url)}</Error>"
    return f"{_HEAD}{body}</VAST>"


# Placeholder delimiters: private-use characters, valid XML that escaping leaves alone.
_OPEN, _CLOSE = "\ue000", "\ue001"
_SLOT = re.compile(f"{_OPEN}([A-Za-z0-9_]+){_CLOSE}")
_CDATA_OPEN = "<![CDATA["


def slot(name: str) -> str:
    """A placeholder for a per-request value in an ad given to :class:`Template`."""
    return f"{_OPEN}{name}{_CLOSE}"


class Template:
    """The document of one ad with placeholders for what changes per request.

    A creative's VAST differs between requests only in the ad serving id and the signed
    URLs, so the document is built once (``inline`` over an ad holding :func:`slot`
    placeholders) and each request joins the fixed parts with its values, escaped for the
    place each placeholder sits in: CDATA for URLs, escaped text for the rest. The result
    is the string ``inline`` would build with those values.
    """

    __slots__ = ("_cdata", "_names", "_parts")

    def __init__(self, ad: VastAd) -> None:
        pieces = _SLOT.split(inline(ad))
        self._parts = pieces[0::2]
        self._names = pieces[1::2]
        self._cdata = [p.endswith(_CDATA_OPEN) for p in self._parts[:-1]]

    @property
    def slots(self) -> frozenset[str]:
        return frozenset(self._names)

    def render(self, values: Mapping[str, str]) -> str:
        """The document with every placeholder replaced; a missing value is a KeyError."""
        parts = self._parts
        out = [parts[0]]
        for i, name in enumerate(self._names):
            value = values[name]
            out.append(_cdata_body(value) if self._cdata[i] else _esc(value))
            out.append(parts[i + 1])
        return "".join(out)
