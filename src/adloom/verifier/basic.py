"""The basic Verifier: file, timing, pixel and text checks, no learned models.

It decodes the creative once (see :mod:`adloom.verifier.video`), runs every check in
:data:`~adloom.verifier.checks.DEFAULT_CHECKS` and turns the findings into one decision:
any critical problem (ungrounded or prohibited text, missing disclosure, unreadable file,
wrong size) rejects, because serving it would break a promise to the advertiser or the
viewer; anything lesser (timing, frozen or blank stretches) asks for a revision, because
a re-render can fix it; a clean run accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from adloom.domain import Campaign, Creative, CreativePlan, UserProfile, Verdict
from adloom.registry import Backend, BackendConfig
from adloom.verifier.base import Verifier
from adloom.verifier.checks import (
    DEFAULT_CHECKS,
    SEVERITY_RANK,
    Check,
    CheckContext,
    Finding,
    Thresholds,
    run_checks,
)
from adloom.verifier.labelmatch import LabelTemplate
from adloom.verifier.video import VideoError, VideoScan, scan_video

Decision = Literal["accept", "revise", "reject"]


class BasicVerifierConfig(BackendConfig, Thresholds):
    type: Literal["basic"] = "basic"


class BasicVerifier(Verifier, Backend[BasicVerifierConfig]):
    """Utility and compliance checks on a rendered MP4 against its plan and campaign."""

    name: ClassVar[str] = "basic"  # type: ignore[misc]
    Config: ClassVar[type[BackendConfig]] = BasicVerifierConfig
    checks: ClassVar[tuple[Check, ...]] = DEFAULT_CHECKS

    def __init__(self, config: BasicVerifierConfig | None = None) -> None:
        Backend.__init__(self, config)

    def scan(self, creative: Creative, campaign: Campaign) -> VideoScan:
        """Decode the creative's file once, cutting out where its label should be."""
        lim = self.config
        box = creative.disclosure_box
        label = LabelTemplate.for_text(campaign.policy.disclosure_text, creative.height)
        margin = lim.label_search_px + max(0, label.width - box.w, label.height - box.h)
        return scan_video(
            creative.path,
            sample_fps=lim.sample_fps,
            analysis_size=lim.analysis_size,
            region=box,
            region_margin=margin,
            lag_s=min(lim.frozen_lag_s, lim.frozen_max_s / 2),
        )

    def verify(
        self,
        creative: Creative,
        plan: CreativePlan,
        campaign: Campaign,
        profile: UserProfile | None = None,
    ) -> Verdict:
        ctx = CheckContext(
            creative=creative, plan=plan, campaign=campaign, profile=profile, limits=self.config
        )
        if creative.kind != "video":
            ctx.video_error = f"the basic verifier checks videos, not {creative.kind}s"
        else:
            try:
                ctx.video = self.scan(creative, campaign)
            except VideoError as exc:
                ctx.video_error = str(exc)
        findings = run_checks(ctx, self.checks)
        decision = decide(findings)
        return Verdict(
            creative_id=creative.creative_id,
            plan_id=plan.plan_id,
            decision=decision,
            checks=[f.result for f in findings],
            evidence=[e for f in findings for e in f.evidence],
            rationale=rationale(decision, findings, skipped=ctx.video is None),
            verifier=self.name,
        )


def decide(findings: Sequence[Finding]) -> Decision:
    worst = max(
        (SEVERITY_RANK[f.result.severity] for f in findings if not f.result.passed), default=0
    )
    if worst >= SEVERITY_RANK["critical"]:
        return "reject"
    if worst > 0:
        return "revise"
    return "accept"


def rationale(decision: Decision, findings: Sequence[Finding], *, skipped: bool = False) -> str:
    """One paragraph: the decision, what drove it, and how much passed."""
    failed = [f.result for f in findings if not f.result.passed]
    passed = len(findings) - len(failed)
    lead = {
        "accept": "Accepted: every check passed",
        "revise": "Revise: no compliance blocker, but fixable problems",
        "reject": "Rejected: a critical problem blocks serving",
    }[decision]
    parts = [f"{lead} ({passed} of {len(findings)} checks passed)."]
    by_rank = sorted(failed, key=lambda r: -SEVERITY_RANK[r.severity])
    if by_rank:
        parts.append(" ".join(f"{r.name} ({r.severity}): {r.message}." for r in by_rank))
    if skipped:
        parts.append("Pixel checks were skipped because the video could not be decoded.")
    return " ".join(parts)
