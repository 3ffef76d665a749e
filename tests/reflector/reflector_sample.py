"""Real plans for the bundled sample campaign, shared by the Reflector tests.

Plans come from the embedded Director on the hashing embedder (fast, deterministic,
offline); the sample's user ``maya`` gets a personalized plan for the boots, with her own
history image behind the context scene.
"""

from __future__ import annotations

from dataclasses import dataclass

from adloom.demo import load_sample
from adloom.director.embeddings import HashingEmbedder
from adloom.director.template import TemplatePlanner
from adloom.domain import Campaign, CreativePlan, User, UserProfile

PRODUCT = "trailblaze-boots"


@dataclass(frozen=True)
class Sample:
    campaign: Campaign
    users: list[User]
    planner: TemplatePlanner
    profile: UserProfile
    #: maya x boots, personalized.
    plan: CreativePlan
    #: The boots' generic plan: the reference and the fallback.
    generic: CreativePlan


def build_sample() -> Sample:
    campaign, users = load_sample()
    planner = TemplatePlanner(embedder=HashingEmbedder())
    maya = next(u for u in users if u.id == "maya")
    profile = planner.profile(maya, campaign)
    product = campaign.product(PRODUCT)
    ctx = campaign.contexts[0]
    plan = planner.plan(campaign, product, ctx, maya, profile)
    generic = planner.plan(campaign, product, ctx)
    assert plan.kind == "personalized", plan.matching.rationale
    return Sample(campaign, users, planner, profile, plan, generic)
