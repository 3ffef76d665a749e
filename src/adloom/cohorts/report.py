"""Typed, inspectable outputs of cohort fitting and planning (each with a JSON Schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from adloom.domain import SCHEMA_VERSION, Model


class TrainStats(Model):
    """What training did and how well the model separates clicks on held-out rows."""

    examples: int
    test_examples: int
    epochs: int
    seconds: float
    examples_per_s: float
    final_loss: float
    test_auroc: float | None = None


class AttributeShare(Model):
    """A categorical level that is more common in the group than in the population."""

    attribute: str
    level: str
    share: float = Field(ge=0.0, le=1.0)
    population_share: float = Field(ge=0.0, le=1.0)
    lift: float = Field(ge=0.0, description="share / population_share")


class NumericShift(Model):
    """Where the group's mean of a numeric attribute sits, in population standard units."""

    attribute: str
    mean: float
    population_mean: float
    shift: float = Field(description="(mean - population mean) / population standard deviation")


class CreativeAffinity(Model):
    """How the group is expected to respond to one of the product's creatives."""

    item_id: str
    text: list[str] = Field(default_factory=list, description="The creative's text fields.")
    image: str | None = None
    rate: float = Field(ge=0.0, le=1.0, description="Mean predicted click probability.")
    lift: float = Field(description="rate / the population's rate for the same creative")


class Representative(Model):
    """A member sampled at a percentile of distance to the group's centre (anonymous)."""

    percentile: int = Field(ge=0, le=100)
    distance: float = Field(ge=0.0)
    attributes: dict[str, str | float]


class GroupProfile(Model):
    """What a group is like, in words and in structure, for the Director and for people."""

    summary: str
    size: int = Field(ge=0)
    share: float = Field(ge=0.0, le=1.0, description="Of the product's consenting users.")
    predicted_rate: float = Field(ge=0.0, le=1.0)
    observed_rate: float | None = Field(None, description="Click rate in the log, if seen.")
    impressions: int = Field(0, ge=0)
    distinctive: list[AttributeShare] = Field(default_factory=list)
    numeric: list[NumericShift] = Field(default_factory=list)
    creatives: list[CreativeAffinity] = Field(
        default_factory=list, description="The product's creatives, best first."
    )
    interests: list[str] = Field(
        default_factory=list, description="Themes of the creatives the group prefers."
    )
    representatives: list[Representative] = Field(default_factory=list)
    withheld: list[str] = Field(
        default_factory=list, description="Attributes never described (sensitive or protected)."
    )


class Group(Model):
    group_id: str
    product_id: str
    index: int = Field(ge=0)
    size: int = Field(ge=0)
    status: Literal["personalized", "generic"] = Field(
        description="Generic when the group is below the minimum size and not merged."
    )
    merged_from: list[int] = Field(
        default_factory=list, description="Indices of small groups folded into this one."
    )
    centre: list[float]
    profile: GroupProfile


class Comparison(Model):
    """A metric for cohorts and for the baselines measured in the same run."""

    cohorts: float
    baselines: dict[str, float | None]
    better: Literal["higher", "lower"]


class ProductCohorts(Model):
    product_id: str
    users: int = Field(ge=0, description="Consenting users grouped.")
    k: int = Field(ge=1, description="Groups found, before the minimum-size rule.")
    criterion: str
    scores: dict[str, float] = Field(description="Separation score per candidate k.")
    groups: list[Group]
    ndcg_at_5: Comparison | None = None
    ndcg_items: int = Field(0, ge=0, description="Creatives the groups' rankings compare.")
    adjusted_rand: float | None = Field(
        None, description="Agreement with planted groups (simulated logs only)."
    )
    seconds: float = Field(0.0, ge=0.0)


class CohortReport(Model):
    """Everything ``adloom cohorts fit`` learned: model quality, groups per product."""

    schema_version: str = SCHEMA_VERSION
    source: str
    users: int
    consenting_users: int
    impressions: int
    clicks: int
    min_group_size: int
    training: TrainStats
    auroc: Comparison | None = None
    products: list[ProductCohorts]
    notes: list[str] = Field(default_factory=list)

    def product(self, product_id: str) -> ProductCohorts:
        for p in self.products:
            if p.product_id == product_id:
                return p
        raise KeyError(product_id)


class GroupCreative(Model):
    """One (product, group) with the plan made for it and, when rendered, the creative."""

    product_id: str
    group_id: str
    users: int = Field(ge=0)
    kind: Literal["personalized", "generic"]
    plan_id: str
    plan_path: str
    creative_path: str | None = None
    rationale: str = ""


class CohortPlans(Model):
    """The output of ``adloom cohorts plan``: one plan per (product, group) plus generics."""

    schema_version: str = SCHEMA_VERSION
    campaign_id: str
    creatives: list[GroupCreative]
    generic: dict[str, str] = Field(
        description="Plan path of the generic creative per product (no consent, small groups)."
    )
    notes: list[str] = Field(default_factory=list)


SCHEMAS: dict[str, type[Model]] = {
    "cohorts": CohortReport,
    "cohort-plans": CohortPlans,
    "group": Group,
}
