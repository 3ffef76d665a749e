"""The full Verifier: every utility and compliance check adloom has, in one verdict.

It extends the basic checks (file, timing, drawn text, grounding, disclosure label) with
the model-backed ones: video quality and pacing, OCR of what is actually drawn, product
and logo visibility, advertising policy, the privacy boundary, prompt injection, NSFW
imagery, faces and licensing, C2PA provenance, personalization against the generic
reference and the platform's placement rules. Each group keeps its settings in its own
config section, so one file tunes the whole gatekeeper::

    {"type": "full", "quality": {"max_hook_s": 2.5}, "decision": {"skip": ["aesthetics"]}}

Its models (OCR, NSFW, embeddings, C2PA) come from the ``verify`` extra; a missing one
fails the check that needs it with a message naming the extra, never silently passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from adloom.domain import Campaign, CreativePlan, FairnessAudit, User
from adloom.registry import BackendConfig
from adloom.verifier import (
    alignment,
    fairness,
    imagery,
    personalization,
    platforms,
    policy,
    provenance,
    quality,
)
from adloom.verifier.basic import BasicVerifier, BasicVerifierConfig
from adloom.verifier.checks import DEFAULT_CHECKS, Check
from adloom.verifier.fairness import audit_fairness

#: Every check of the full verifier, utility first, then compliance, in report order.
FULL_CHECKS: tuple[Check, ...] = (
    *DEFAULT_CHECKS,
    *quality.CHECKS,
    *platforms.CHECKS,
    *personalization.CHECKS,
    *alignment.CHECKS,
    *policy.CHECKS,
    *imagery.CHECKS,
    *provenance.CHECKS,
)


QualityOptions = quality.QualityOptions
PlatformOptions = platforms.PlatformOptions
PersonalizationOptions = personalization.PersonalizationOptions
AlignmentOptions = alignment.AlignmentOptions
PolicyOptions = policy.PolicyOptions
ImageryOptions = imagery.ImageryOptions
ProvenanceOptions = provenance.ProvenanceOptions
FairnessOptions = fairness.FairnessOptions


class FullVerifierConfig(BasicVerifierConfig):
    """The basic thresholds and decision policy, plus one section per check group."""

    type: Literal["full"] = "full"  # type: ignore[assignment]
    quality: QualityOptions = Field(default_factory=QualityOptions)
    platform: PlatformOptions = Field(default_factory=PlatformOptions)
    personalization: PersonalizationOptions = Field(default_factory=PersonalizationOptions)
    alignment: AlignmentOptions = Field(default_factory=AlignmentOptions)
    policy: PolicyOptions = Field(default_factory=PolicyOptions)
    imagery: ImageryOptions = Field(default_factory=ImageryOptions)
    provenance: ProvenanceOptions = Field(default_factory=ProvenanceOptions)
    fairness: FairnessOptions = Field(default_factory=FairnessOptions)


class FullVerifier(BasicVerifier):
    """All checks, both tracks; the default gatekeeper of the pipeline."""

    name: ClassVar[str] = "full"  # type: ignore[misc]
    Config: ClassVar[type[BackendConfig]] = FullVerifierConfig
    checks: ClassVar[tuple[Check, ...]] = FULL_CHECKS

    def audit(
        self, plans: Sequence[CreativePlan], users: Sequence[User], campaign: Campaign
    ) -> FairnessAudit:
        options = getattr(self.config, "fairness", None)
        return audit_fairness(plans, users, campaign, options)
