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

from pydantic import BaseModel, ConfigDict, Field

from adloom.domain import Campaign, Creative, CreativePlan, UserProfile, Verdict
from adloom.errors import AdloomError
from adloom.registry import Backend, BackendConfig
from adloom.verifier.base import Verifier
from adloom.verifier.checks import (
    DEFAULT_CHECKS,
    SEVERITY_RANK,
    Check,
    CheckContext,
    Finding,
    Severity,
    Thresholds,
    Track,
    run_checks,
)
from adloom.verifier.labelmatch import LabelTemplate
from adloom.verifier.video import VideoError, VideoScan, scan_video

Decision = Literal["accept", "revise", "reject"]


class DecisionPolicy(BaseModel):
    """How findings become accept, revise or reject; every threshold is configurable."""

    model_config = ConfigDict(extra="forbid")

    reject_at: Severity = Field(
        "critical", description="A failed check at or above this severity rejects."
    )
    revise_at: Severity = Field(
        "minor", description="A failed check at or above this severity (below reject_at) revises."
    )
    severity: dict[str, Severity] = Field(
        default_factory=dict,
        description="Per-check override of the severity its failures carry, e.g. "
        "{'frozen': 'minor'}.",
    )
    skip: list[str] = Field(default_factory=list, description="Checks not to run.")
    min_track_score: dict[Track, float] = Field(
        default_factory=dict,
        description="A track whose mean check score falls below this revises (e.g. "
        "{'utility': 0.8}); compliance failures still reject by severity.",
    )


class BasicVerifierConfig(BackendConfig, Thresholds):
    type: Literal["basic"] = "basic"
    decision: DecisionPolicy = Field(default_factory=DecisionPolicy)


class BasicVerifier(Verifier, Backend[BasicVerifierConfig]):
    """Utility and compliance checks on a rendered MP4 against its plan and campaign."""

    name: ClassVar[str] = "basic"  # type: ignore[misc]
    Config: ClassVar[type[BackendConfig]] = BasicVerifierConfig
    checks: ClassVar[tuple[Check, ...]] = DEFAULT_CHECKS

    def __init__(
        self, config: BasicVerifierConfig | None = None, *, checks: Sequence[Check] | None = None
    ) -> None:
        Backend.__init__(self, config)
        if checks is not None:
            self.checks = tuple(checks)  # type: ignore[misc]
        unknown = set(self.config.decision.severity) | set(self.config.decision.skip)
        unknown -= {c.name for c in self.checks}
        if unknown:
            raise AdloomError(
                f"verifier {self.name!r}: decision: unknown check(s) {', '.join(sorted(unknown))} "
                f"(known: {', '.join(c.name for c in self.checks)})"
            )

    def scan(
        self, creative: Creative, campaign: Campaign, still_times: Sequence[float] = ()
    ) -> VideoScan:
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
            still_times=still_times,
        )

    def context(
        self,
        creative: Creative,
        plan: CreativePlan,
        campaign: Campaign,
        profile: UserProfile | None = None,
        *,
        reference: CreativePlan | None = None,
    ) -> CheckContext:
        """Everything the checks look at, with the video decoded once (if it can be)."""
        ctx = CheckContext(
            creative=creative,
            plan=plan,
            campaign=campaign,
            profile=profile,
            limits=self.config,
            config=self.config,
            reference=reference,
        )
        if creative.kind != "video":
            ctx.video_error = f"the {self.name} verifier checks videos, not {creative.kind}s"
        else:
            try:
                ctx.video = self.scan(creative, campaign, list(ctx.still_times.values()))
            except VideoError as exc:
                ctx.video_error = str(exc)
        return ctx

    def verify(
        self,
        creative: Creative,
        plan: CreativePlan,
        campaign: Campaign,
        profile: UserProfile | None = None,
        *,
        reference: CreativePlan | None = None,
    ) -> Verdict:
        ctx = self.context(creative, plan, campaign, profile, reference=reference)
        policy = self.config.decision
        checks = [c for c in self.checks if c.name not in policy.skip]
        return judge_checks(ctx, checks, policy, creative, plan, self.name)


def judge_checks(
    ctx: CheckContext,
    checks: Sequence[Check],
    policy: DecisionPolicy,
    creative: Creative,
    plan: CreativePlan,
    verifier: str,
) -> Verdict:
    """Run ``checks`` and decide: every verifier reaches its verdict the same way."""
    findings = [overridden(f, policy.severity.get(f.result.name)) for f in run_checks(ctx, checks)]
    scores = track_scores(findings)
    decision = decide(findings, policy, scores)
    return Verdict(
        creative_id=creative.creative_id,
        plan_id=plan.plan_id,
        decision=decision,
        checks=[f.result for f in findings],
        evidence=[e for f in findings for e in f.evidence],
        rationale=rationale(
            decision, findings, skipped=ctx.video is None, scores=scores, policy=policy
        ),
        verifier=verifier,
        track_scores=scores,
    )


def overridden(finding: Finding, severity: Severity | None) -> Finding:
    """``finding`` with a failed result's severity replaced by the configured one."""
    if severity is None or finding.result.passed:
        return finding
    return Finding(finding.result.model_copy(update={"severity": severity}), finding.evidence)


def track_scores(findings: Sequence[Finding]) -> dict[str, float]:
    by_track: dict[str, list[float]] = {}
    for f in findings:
        by_track.setdefault(f.result.track, []).append(f.result.score)
    return {t: round(sum(v) / len(v), 4) for t, v in sorted(by_track.items())}


def decide(
    findings: Sequence[Finding],
    policy: DecisionPolicy | None = None,
    scores: dict[str, float] | None = None,
) -> Decision:
    policy = policy or DecisionPolicy()
    worst = max(
        (SEVERITY_RANK[f.result.severity] for f in findings if not f.result.passed), default=0
    )
    if worst >= SEVERITY_RANK[policy.reject_at]:
        return "reject"
    if worst >= max(1, SEVERITY_RANK[policy.revise_at]):
        return "revise"
    low = _low_tracks(scores or {}, policy)
    return "revise" if low else "accept"


def _low_tracks(scores: dict[str, float], policy: DecisionPolicy) -> list[str]:
    return [t for t, floor in policy.min_track_score.items() if scores.get(t, 1.0) < floor]


def rationale(
    decision: Decision,
    findings: Sequence[Finding],
    *,
    skipped: bool = False,
    scores: dict[str, float] | None = None,
    policy: DecisionPolicy | None = None,
) -> str:
    """One paragraph: the decision, what drove it, and how much passed."""
    failed = [f.result for f in findings if not f.result.passed]
    passed = len(findings) - len(failed)
    lead = {
        "accept": "Accepted: no check failed at a blocking severity",
        "revise": "Revise: no compliance blocker, but fixable problems",
        "reject": "Rejected: a critical problem blocks serving",
    }[decision]
    parts = [f"{lead} ({passed} of {len(findings)} checks passed)."]
    by_rank = sorted(failed, key=lambda r: -SEVERITY_RANK[r.severity])
    if by_rank:
        parts.append(" ".join(f"{r.name} ({r.severity}): {r.message}." for r in by_rank))
    if scores and policy:
        for track in _low_tracks(scores, policy):
            parts.append(
                f"The {track} score {scores[track]:.2f} is below its floor "
                f"{policy.min_track_score[track]:.2f}."  # type: ignore[index]
            )
    if skipped:
        parts.append("Pixel checks were skipped because the video could not be decoded.")
    return " ".join(parts)
