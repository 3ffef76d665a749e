"""Personalized creative integration (PCI): the loop for a segment woven into a host video.

The steps follow the paper's pipeline, each done by the stage that owns it:

1. host understanding (:mod:`adloom.director.host`);
2. the integration decision (:mod:`adloom.director.integration`);
3. the storyboard, from the Director's planner, opening on the integration frame;
4. the segment, rendered by the Producer and matched to the host, then spliced in
   (:mod:`adloom.producer.splice`);
5. delivery: the woven file, the segment's VAST and a VMAP with the mid-roll break
   (:mod:`adloom.serving.vmap`);
6. verification: the verifier's checks on the segment as rendered plus the integration
   checks on the woven file (:mod:`adloom.verifier.integration`), and the generic
   integration (no user data, no analysis, the midpoint) measured the same way.

Everything lands in one output folder built aside and swapped in whole; the host video is
only read.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from PIL import ImageFilter
from pydantic import BaseModel, ConfigDict, Field

from adloom import registry
from adloom.director.integration import (
    IntegrationSettings,
    baseline,
    decide,
    integration_plan,
    manual,
)
from adloom.domain import (
    Campaign,
    Creative,
    CreativePlan,
    HostAnalysis,
    IntegrationDecision,
    IntegrationQuality,
    IntegrationReport,
    Product,
    SpliceStats,
    User,
)
from adloom.errors import InputError
from adloom.io import atomic_dir, write_model, write_text
from adloom.producer.splice import SpliceSettings, frame_image, match_segment, splice
from adloom.verifier.integration import IntegrationOptions, measure, verify_integration

FILES = {
    "woven": "woven.mp4",
    "segment": "segment.mp4",
    "master": "segment-master.mp4",
    "frame": "integration-frame.png",
    "backdrop": "integration-backdrop.png",
    "vast": "segment.vast.xml",
    "vmap": "woven.vmap.xml",
    "report": "report.json",
}


class IntegrateSettings(BaseModel):
    """Backends and knobs of one integration run; one file can configure all of it."""

    model_config = ConfigDict(extra="forbid")

    analyzer: str | dict[str, Any] = "embedded"
    planner: str | dict[str, Any] = "template"
    renderer: str | dict[str, Any] = "template"
    verifier: str | dict[str, Any] = "full"
    segment_s: float = Field(6.0, ge=5.0, le=60.0, description="Segment length (s).")
    at_s: float | None = Field(
        None, description="Integrate here (seconds into the host) instead of the ranked choice."
    )
    decision: IntegrationSettings = Field(default_factory=IntegrationSettings)
    splice: SpliceSettings = Field(default_factory=SpliceSettings)
    checks: IntegrationOptions = Field(default_factory=IntegrationOptions)
    baseline: bool = Field(True, description="Also weave the generic midpoint integration.")
    media_url: str | None = Field(
        None, description="Where the segment will be served (VAST MediaFile); default file URI."
    )
    vast_url: str | None = Field(
        None,
        description="Where segment.vast.xml will be served: the VMAP then points at it "
        "(AdTagURI) instead of embedding it (VASTAdData).",
    )
    tracking_url: str = Field(
        "https://ads.example.com/track", description="Base of the VAST impression URL."
    )


class _Woven:
    """One woven variant: its plan, segment, splice and measured quality."""

    def __init__(
        self,
        plan: CreativePlan,
        master: Creative,
        segment: Creative,
        stats: SpliceStats,
        quality: IntegrationQuality,
    ) -> None:
        self.plan, self.master, self.segment = plan, master, segment
        self.stats, self.quality = stats, quality


def _weave(
    host: HostAnalysis,
    decision: IntegrationDecision,
    plan: CreativePlan,
    campaign: Campaign,
    folder: Path,
    settings: IntegrateSettings,
    splice_settings: SpliceSettings,
) -> _Woven:
    renderer = registry.create("renderer", settings.renderer, "template")
    master = renderer.render(plan, campaign, folder / FILES["master"])
    segment, piece, audio = match_segment(
        master, plan, host, decision, folder / FILES["segment"], splice_settings
    )
    try:
        stats = splice(
            host, decision, piece, audio, segment.frame_count, folder / FILES["woven"],
            splice_settings,
        )  # fmt: skip
    finally:
        shutil.rmtree(piece.parent, ignore_errors=True)
    quality = measure(
        folder / FILES["woven"],
        decision.point.frame,
        segment.frame_count,
        host.fps,
        segment.disclosure_box,
        settings.checks.window_s,
    )
    return _Woven(plan, master, segment, stats, quality)


def _vast(
    segment: Creative, plan: CreativePlan, campaign: Campaign, settings: IntegrateSettings, url: str
) -> str:
    from adloom.serving import vast

    ad = vast.VastAd(
        ad_id=plan.plan_id,
        ad_serving_id=segment.creative_id,
        title=f"{campaign.name}: {plan.product_id}",
        creative_id=segment.creative_id,
        universal_ad_id=segment.creative_id,
        duration_s=segment.duration_s,
        media_files=[
            vast.MediaFile(url=url, width=segment.width, height=segment.height, codec="avc1")
        ],
        impression_urls=[
            f"{settings.tracking_url.rstrip('/')}/impression?creative={segment.creative_id}"
        ],
        advertiser=campaign.advertiser,
        click_through=plan.cta.url,
        disclosure=vast.Disclosure(
            text=plan.disclosure.text, c2pa=segment.provenance == "c2pa", kind=plan.kind
        ),
    )
    return vast.inline(ad)


def _moved(plan: CreativePlan, old: Path, new: Path) -> CreativePlan:
    """The plan with its host-frame backdrops pointing where the frame will be published."""
    scenes = [
        s.model_copy(update={"background": s.background.model_copy(update={"image": str(new)})})
        if s.background.image == str(old.resolve())
        else s
        for s in plan.scenes
    ]
    return plan.model_copy(update={"scenes": scenes})


def integrate(
    host_path: Path,
    campaign: Campaign,
    product: Product,
    out_dir: Path,
    *,
    user: User | None = None,
    settings: IntegrateSettings | None = None,
    seed: int = 0,
) -> IntegrationReport:
    """Weave a segment for ``product`` (personalized for ``user`` when allowed) into the
    host video; write every output into ``out_dir`` and return the report."""
    from adloom.serving.vmap import AdBreak, vmap

    settings = settings or IntegrateSettings()
    host_path, out_dir = Path(host_path), Path(out_dir)
    if host_path.resolve().is_relative_to(out_dir.resolve()):
        raise InputError("--out", f"{out_dir} holds the host video; choose another folder")
    analyzer = registry.create("host", settings.analyzer, "embedded")
    host: HostAnalysis = analyzer.analyze(host_path)
    if host.video_codec != "h264":  # refused before anything is rendered
        raise InputError(host_path, f"video codec {host.video_codec!r}: splicing copies H.264 only")
    if settings.at_s is None:
        decision = decide(host, product, settings.decision)
    else:
        decision = manual(host, settings.at_s, product, settings.decision)
    planner = registry.create("planner", settings.planner, "template")
    with atomic_dir(out_dir) as tmp:
        picture = frame_image(host, decision.start_frame)
        picture.save(tmp / FILES["frame"])
        # The scenes' backdrop is the frame blurred: its mood and colours carry over, while
        # text and faces in it stay out of a creative that may only show approved copy.
        frame = tmp / FILES["backdrop"]
        radius = max(2.0, host.height / 40)
        picture.filter(ImageFilter.GaussianBlur(radius)).save(frame)
        plan = integration_plan(
            planner, campaign, product, host, decision, frame,
            user=user, duration_s=settings.segment_s, seed=seed,
        )  # fmt: skip
        woven = _weave(host, decision, plan, campaign, tmp, settings, settings.splice)
        base_quality = None
        if settings.baseline:
            generic = baseline(host, "midpoint", product=product, settings=settings.decision)
            base_plan = integration_plan(
                planner, campaign, product, host, generic, None,
                duration_s=settings.segment_s, seed=seed,
            )  # fmt: skip
            (tmp / "baseline").mkdir()
            plain = settings.splice.model_copy(update={"match": False})
            base = _weave(host, generic, base_plan, campaign, tmp / "baseline", settings, plain)
            base_quality = base.quality
        verifier = registry.create("verifier", settings.verifier, "full")
        profile = planner.profile(user, campaign) if user is not None else None
        reference = None
        if plan.kind == "personalized":  # judged against the generic segment in the same host
            reference = integration_plan(
                planner, campaign, product, host, decision, frame,
                duration_s=settings.segment_s, seed=seed,
            )  # fmt: skip
        verdict = verify_integration(
            verifier, woven.master, plan, campaign, woven.quality, profile,
            reference=reference, options=settings.checks,
        )  # fmt: skip
        url = settings.media_url or (out_dir.resolve() / FILES["segment"]).as_uri()
        vast_xml = _vast(woven.segment, plan, campaign, settings, url)
        write_text(tmp / FILES["vast"], vast_xml)
        write_text(
            tmp / FILES["vmap"],
            vmap(
                [
                    AdBreak(
                        break_id="pci-1",
                        time_offset_s=decision.point.time_s,
                        vast_xml=None if settings.vast_url else vast_xml,
                        ad_tag_uri=settings.vast_url,
                    )
                ]
            ),
        )
        segment = woven.segment.model_copy(update={"path": str(out_dir / FILES["segment"])})
        plan = _moved(plan, frame, out_dir / FILES["backdrop"])
        report = IntegrationReport(
            host=host,
            decision=decision,
            plan=plan,
            segment=segment,
            woven_path=str(out_dir / FILES["woven"]),
            vast_path=str(out_dir / FILES["vast"]),
            vmap_path=str(out_dir / FILES["vmap"]),
            splice=woven.stats,
            quality=woven.quality,
            baseline=base_quality,
            verdict=verdict,
        )
        write_model(tmp / FILES["report"], report)
    return report
