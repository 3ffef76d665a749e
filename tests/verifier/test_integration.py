"""The verifier on what the real template renderer produces."""

from __future__ import annotations

from pathlib import Path

import pytest
from verifier_media import make_plan, profile

from adloom.domain import Campaign
from adloom.verifier.basic import BasicVerifier

template = pytest.importorskip("adloom.producer.template")


@pytest.mark.parametrize("aspect", ["16:9", "9:16"])
def test_template_render_is_accepted(campaign: Campaign, tmp_path: Path, aspect: str) -> None:
    plan = make_plan(campaign, aspect=aspect)
    creative = template.TemplateRenderer().render(plan, campaign, tmp_path / "ad.mp4")
    verdict = BasicVerifier().verify(creative, plan, campaign, profile())
    assert verdict.decision == "accept", verdict.rationale
    assert verdict.check("disclosure_label").score == 1.0
    assert verdict.evidence == []


def test_template_render_with_prohibited_copy_is_rejected(
    campaign: Campaign, tmp_path: Path
) -> None:
    plan = make_plan(campaign)
    creative = template.TemplateRenderer().render(plan, campaign, tmp_path / "ad.mp4")
    campaign.policy.prohibited_terms = ["membrane"]
    verdict = BasicVerifier().verify(creative, plan, campaign, profile())
    assert verdict.decision == "reject"
    assert {(e.check, e.scene_index) for e in verdict.evidence} == {("prohibited_terms", 1)}
