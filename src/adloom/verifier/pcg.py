"""The PCG benchmark: personalized against generic creatives, scored by a judge.

For every (user, product) pair of a campaign the Director plans the personalized
creative and the product's generic one (planned once per product: it carries no user
data), the judge scores both for that user, and diversity is scored per user across
their creatives. Only users who consented to personalization take part (the judge reads
their history); the others are counted and left out. Results are means with 95%
confidence intervals per dimension and variant, the paired difference, and the cost and
time per creative (planning tokens from the ``openai`` Director's traces, judging tokens
from the judge).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from adloom.director.base import Planner
from adloom.domain import Campaign, Context, CreativePlan, Model, User
from adloom.errors import AdloomError
from adloom.verifier.judge import DIMENSIONS, Dimension, Judge, Judgement

Variant = Literal["personalized", "generic"]

#: Two-sided 95% Student t quantiles by degrees of freedom (1-30); normal beyond.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


class Interval(Model):
    """A mean with its 95% confidence interval (t-based); n=1 has no interval."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Interval:
        if not values:
            raise AdloomError("no values to summarize")
        m = statistics.fmean(values)
        if len(values) < 2:
            return cls(mean=round(m, 3), low=round(m, 3), high=round(m, 3), n=len(values))
        half = t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
        return cls(mean=round(m, 3), low=round(m - half, 3), high=round(m + half, 3), n=len(values))


class DimensionResult(Model):
    dimension: Dimension
    personalized: Interval
    generic: Interval
    difference: Interval = Field(description="Personalized minus generic, paired.")
    proxy: bool


class CreativeScore(Model):
    user_id: str
    product_id: str
    variant: Variant
    plan_kind: Literal["personalized", "generic"]
    judgements: list[Judgement]


class PCGReport(Model):
    campaign_id: str
    planner: str
    judge: str
    proxy: bool = Field(description="Some scores are proxies, not a judge's opinion.")
    users: int
    pairs: int
    skipped_users: list[str] = Field(description="Left out: no personalization consent.")
    personalized_share: float = Field(
        description="Share of personalized creatives the Director did personalize."
    )
    fallbacks: int = Field(0, description="Plans the embedded Director made instead.")
    dimensions: list[DimensionResult]
    plan_s_per_creative: float
    judge_s_per_creative: float
    tokens_per_creative: float
    cost_per_creative: float
    creatives: list[CreativeScore] = Field(default_factory=list)


def run_pcg(
    campaign: Campaign,
    users: Sequence[User],
    planner: Planner,
    judge: Judge,
    *,
    context: Context | None = None,
    max_pairs: int | None = None,
    seed: int = 0,
) -> PCGReport:
    context = context or campaign.contexts[0]
    eligible = [u for u in users if u.consent.personalization]
    skipped = [u.id for u in users if not u.consent.personalization]
    if not eligible:
        raise AdloomError("users: nobody consented to personalization; nothing to compare")
    pairs = [(u, p) for u in eligible for p in campaign.products]
    if max_pairs is not None:
        pairs = pairs[:max_pairs]

    traces = getattr(planner, "traces", None)
    seen_traces = len(traces) if traces is not None else 0
    plan_s = 0.0
    generic: dict[str, CreativePlan] = {}
    personalized: dict[tuple[str, str], CreativePlan] = {}
    for user, product in pairs:
        started = time.perf_counter()
        if product.id not in generic:
            generic[product.id] = planner.plan(campaign, product, context, None, seed=seed)
        personalized[(user.id, product.id)] = planner.plan(
            campaign, product, context, user, seed=seed
        )
        plan_s += time.perf_counter() - started
    new_traces = list(traces)[seen_traces:] if traces is not None else []
    plan_tokens = sum(t.tokens for t in new_traces)
    plan_cost = sum(t.cost for t in new_traces)
    fallbacks = sum(t.fallback is not None for t in new_traces)

    judge_tokens0 = judge.usage().total_tokens
    judge_cost0 = judge.usage().cost
    judge_started = time.perf_counter()
    creatives: list[CreativeScore] = []
    by_user = {u.id: u for u in eligible}
    products = {p.id: p for p in campaign.products}
    for (uid, pid), plan in personalized.items():
        for variant, the_plan in (("personalized", plan), ("generic", generic[pid])):
            creatives.append(
                CreativeScore(
                    user_id=uid,
                    product_id=pid,
                    variant=variant,
                    plan_kind=the_plan.kind,
                    judgements=judge.judge(the_plan, products[pid], by_user[uid]),
                )
            )
    diversity: dict[Variant, list[Judgement]] = {"personalized": [], "generic": []}
    for uid, user in by_user.items():
        mine = [p for (u, _), p in personalized.items() if u == uid]
        theirs = [generic[pid] for (u, pid) in personalized if u == uid]
        if len(mine) >= 2:
            diversity["personalized"].append(judge.diversity(mine, user))
            diversity["generic"].append(judge.diversity(theirs, user))
    judge_s = time.perf_counter() - judge_started

    results: list[DimensionResult] = []
    for dim in DIMENSIONS:
        if dim == "diversity":
            p_js, g_js = diversity["personalized"], diversity["generic"]
        else:
            p_js = [_pick(c, dim) for c in creatives if c.variant == "personalized"]
            g_js = [_pick(c, dim) for c in creatives if c.variant == "generic"]
        if not p_js:
            continue
        results.append(
            DimensionResult(
                dimension=dim,
                personalized=Interval.of([j.score for j in p_js]),
                generic=Interval.of([j.score for j in g_js]),
                difference=Interval.of(
                    [a.score - b.score for a, b in zip(p_js, g_js, strict=True)]
                ),
                proxy=any(j.proxy for j in (*p_js, *g_js)),
            )
        )
    n_plans = len(personalized) + len(generic)
    n_judged = len(creatives)
    judge_usage = judge.usage()
    tokens = plan_tokens + judge_usage.total_tokens - judge_tokens0
    cost = plan_cost + judge_usage.cost - judge_cost0
    kinds = [p.kind for p in personalized.values()]
    return PCGReport(
        campaign_id=campaign.id,
        planner=getattr(planner, "name", type(planner).__name__),
        judge=getattr(judge, "name", type(judge).__name__),
        proxy=any(r.proxy for r in results),
        users=len(by_user),
        pairs=len(pairs),
        skipped_users=skipped,
        personalized_share=round(kinds.count("personalized") / len(kinds), 3),
        fallbacks=fallbacks,
        dimensions=results,
        plan_s_per_creative=round(plan_s / n_plans, 4),
        judge_s_per_creative=round(judge_s / n_judged, 4),
        tokens_per_creative=round(tokens / n_judged, 1),
        cost_per_creative=round(cost / n_judged, 6),
        creatives=creatives,
    )


def _pick(creative: CreativeScore, dim: Dimension) -> Judgement:
    return next(j for j in creative.judgements if j.dimension == dim)
