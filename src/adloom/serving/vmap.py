"""VMAP 1.0 documents: where in a host video a player should play which ad break.

PCI weaves the segment into the host file, but many players insert ads themselves; for
them the same decision is a VMAP playlist with one linear mid-roll ``AdBreak`` at the
chosen time offset. Its ``AdSource`` either embeds the segment's VAST document
(``VASTAdData``, what VMAP 1.0.1 names the element) or points at it (``AdTagURI``, in
CDATA). Offsets use VMAP's ``HH:MM:SS.mmm`` form, the same as VAST's durations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from adloom.errors import InputError
from adloom.serving.vast import _cdata, _esc, timecode

NAMESPACE = "http://www.iab.net/videosuite/vmap"
BREAK_EVENTS = frozenset({"breakStart", "breakEnd", "error"})


@dataclass(frozen=True, slots=True)
class AdBreak:
    """One ad break: when, which kind, and its ad (inline VAST or a tag URL)."""

    break_id: str
    time_offset_s: float
    vast_xml: str | None = None
    ad_tag_uri: str | None = None
    template_type: Literal["vast3", "vast4"] = "vast4"
    break_type: Literal["linear", "nonlinear", "display"] = "linear"
    source_id: str = "adloom"
    tracking: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.vast_xml is None) == (self.ad_tag_uri is None):
            raise InputError("AdBreak", "give exactly one of vast_xml and ad_tag_uri")
        if not self.break_id:
            raise InputError("AdBreak.break_id", "must not be empty")
        timecode(self.time_offset_s, "AdBreak.time_offset_s")
        unknown = set(self.tracking) - BREAK_EVENTS
        if unknown:
            raise InputError("AdBreak.tracking", f"not VMAP events: {sorted(unknown)}")


def _body(vast_xml: str) -> str:
    """A VAST document without its XML declaration, ready to nest inside VMAP."""
    text = vast_xml.strip()
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2 :].lstrip()
    return text


def vmap(breaks: Sequence[AdBreak]) -> str:
    """A ``<vmap:VMAP version="1.0">`` document with ``breaks`` in time order."""
    if not breaks:
        raise InputError("breaks", "a VMAP needs at least one AdBreak")
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<vmap:VMAP xmlns:vmap="{NAMESPACE}" version="1.0">',
    ]
    for b in sorted(breaks, key=lambda b: b.time_offset_s):
        out.append(
            f'<vmap:AdBreak timeOffset="{timecode(b.time_offset_s, "AdBreak.time_offset_s")}" '
            f'breakType="{b.break_type}" breakId="{_esc(b.break_id)}">'
        )
        out.append(
            f'<vmap:AdSource id="{_esc(b.source_id)}" allowMultipleAds="false" '
            'followRedirects="true">'
        )
        if b.vast_xml is not None:
            out.append(f"<vmap:VASTAdData>{_body(b.vast_xml)}</vmap:VASTAdData>")
        else:
            uri = b.ad_tag_uri or ""
            out.append(
                f'<vmap:AdTagURI templateType="{b.template_type}">{_cdata(uri)}</vmap:AdTagURI>'
            )
        out.append("</vmap:AdSource>")
        if b.tracking:
            out.append("<vmap:TrackingEvents>")
            for event, url in b.tracking.items():
                out.append(f'<vmap:Tracking event="{event}">{_cdata(url)}</vmap:Tracking>')
            out.append("</vmap:TrackingEvents>")
        out.append("</vmap:AdBreak>")
    out.append("</vmap:VMAP>")
    return "".join(out)
