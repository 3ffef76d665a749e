"""The judge: proxies that measure what they say, the rubric backend on the scripted
endpoint (score, rationale, fallback labelled as proxy), and the PCG runner's statistics."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from adloom import registry
from adloom.director.embeddings import HashingEmbedder
from adloom.director.template import TemplatePlanner
from adloom.domain import Background, Campaign, Context, CreativePlan, GroundedText, User
from adloom.errors import AdloomError
from adloom.llm.fake import ScriptedTransport
from adloom.verifier.judge import (
    DIMENSIONS,
    PER_CREATIVE,
    EmbeddedJudge,
    Judgement,
    OpenAIJudge,
    OpenAIJudgeConfig,
    history_texts,
)
from adloom.verifier.pcg import Interval, run_pcg, t975


def by_id(users: list[User], uid: str) -> User:
    return next(u for u in users if u.id == uid)


@pytest.fixture
def judge() -> EmbeddedJudge:
    return EmbeddedJudge(embedder=HashingEmbedder())


@pytest.fixture
def plans(campaign: Campaign, users: list[User]) -> tuple[CreativePlan, CreativePlan]:
    planner = TemplatePlanner(embedder=HashingEmbedder())
    boots, context = campaign.product("boots"), Context(duration_s=10)
    personalized = planner.plan(campaign, boots, context, by_id(users, "hiker"))
    generic = planner.plan(campaign, boots, context)
    assert personalized.kind == "personalized"
    return personalized, generic


def test_embedded_judgements_are_labelled_proxies(
    judge: EmbeddedJudge, campaign: Campaign, users: list[User], plans: tuple[CreativePlan, ...]
) -> None:
    out = judge.judge(plans[0], campaign.product("boots"), by_id(users, "hiker"))
    assert [j.dimension for j in out] == list(PER_CREATIVE)
    for j in out:
        assert j.proxy
        assert j.judge == "embedded"
        assert j.rationale.startswith("proxy: ")
        assert 0.0 <= j.score <= 10.0


def test_personalized_beats_generic_on_personalization(
    judge: EmbeddedJudge, campaign: Campaign, users: list[User], plans: tuple[CreativePlan, ...]
) -> None:
    hiker, boots = by_id(users, "hiker"), campaign.product("boots")
    p = {j.dimension: j.score for j in judge.judge(plans[0], boots, hiker)}
    g = {j.dimension: j.score for j in judge.judge(plans[1], boots, hiker)}
    assert p["personalization_content"] > g["personalization_content"]
    assert p["personalization_presentation"] > g["personalization_presentation"]
    # Both are grounded, fit the context and show the product: equal there.
    assert p["integration_quality"] == g["integration_quality"] == 10.0


def test_alignment_counts_claims_and_grounding(
    judge: EmbeddedJudge, campaign: Campaign, plans: tuple[CreativePlan, ...]
) -> None:
    boots = campaign.product("boots")
    plan = plans[1]
    base = judge.alignment(plan, boots)
    assert "grounded texts 100%" in base.rationale
    fake = GroundedText(text="Cures everything", source="claim", source_id="c-waterproof")
    scenes = [s.model_copy(update={"on_screen_text": fake}) for s in plan.scenes]
    worse = judge.alignment(plan.model_copy(update={"scenes": scenes}), boots)
    assert worse.score < base.score
    assert "grounded texts 100%" not in worse.rationale
    bare = plan.model_copy(
        update={"scenes": [s.model_copy(update={"asset_ids": []}) for s in plan.scenes]}
    )
    assert "product image missing" in judge.alignment(bare, boots).rationale


def test_integration_names_failing_checks(
    judge: EmbeddedJudge, plans: tuple[CreativePlan, ...]
) -> None:
    plan = plans[1]
    long = GroundedText(text="x" * 80, source="copy", source_id="h1")
    scenes = [plan.scenes[0].model_copy(update={"on_screen_text": long}), *plan.scenes[1:]]
    j = judge.integration(plan.model_copy(update={"scenes": scenes}))
    assert j.score < 10
    assert "failing: lines fit the frame" in j.rationale


def test_no_consent_no_history_read(
    judge: EmbeddedJudge, campaign: Campaign, users: list[User], plans: tuple[CreativePlan, ...]
) -> None:
    private = by_id(users, "private")
    assert history_texts(private) == []
    out = {j.dimension: j for j in judge.judge(plans[1], campaign.product("boots"), private)}
    assert out["personalization_content"].score == 0.0
    assert "no consented history" in out["personalization_content"].rationale
    assert out["personalization_presentation"].score == 0.0


def test_presentation_credits_the_users_own_backdrop(
    judge: EmbeddedJudge, users: list[User], plans: tuple[CreativePlan, ...]
) -> None:
    plan, hiker = plans[1], by_id(users, "hiker")
    image = next(it.image for it in hiker.history if it.image)
    scenes = [
        s.model_copy(update={"background": Background(kind="image", image=image, colors=[])})
        if s.role == "context"
        else s
        for s in plan.scenes
    ]
    with_backdrop = judge.presentation(plan.model_copy(update={"scenes": scenes}), hiker)
    assert with_backdrop.score > judge.presentation(plan, hiker).score
    assert "own imagery" in with_backdrop.rationale


def test_diversity_is_mean_pairwise_dissimilarity(
    judge: EmbeddedJudge, users: list[User], plans: tuple[CreativePlan, ...]
) -> None:
    hiker = by_id(users, "hiker")
    same = judge.diversity([plans[1], plans[1]], hiker)
    different = judge.diversity(list(plans), hiker)
    assert same.score == pytest.approx(0.0, abs=1e-6)
    assert different.score > same.score
    assert "across 2 creatives" in different.rationale
    with pytest.raises(ValueError, match="two or more"):
        judge.diversity([plans[0]], hiker)


def openai_judge(script: list[str], **settings: object) -> tuple[OpenAIJudge, ScriptedTransport]:
    transport = ScriptedTransport(script)  # type: ignore[arg-type]
    config = OpenAIJudgeConfig(api_key="sk-judge-secret", **settings)  # type: ignore[arg-type]
    return (
        OpenAIJudge(
            config, transport=transport, fallback=EmbeddedJudge(embedder=HashingEmbedder())
        ),
        transport,
    )


def test_openai_judge_scores_with_rubrics(
    campaign: Campaign, users: list[User], plans: tuple[CreativePlan, ...]
) -> None:
    judge, transport = openai_judge(["valid"], vision=True)
    hiker = by_id(users, "hiker")
    out = judge.judge(plans[0], campaign.product("boots"), hiker)
    assert [j.dimension for j in out] == list(PER_CREATIVE)
    assert all(not j.proxy and j.judge == "openai" for j in out)
    assert all(float(j.score).is_integer() for j in out)
    names = [r["response_format"]["json_schema"]["name"] for r in transport.requests]
    assert names == list(PER_CREATIVE)
    sent = json.dumps(transport.requests)
    assert "sk-judge-secret" not in sent
    assert "hiker" not in sent  # no user id
    # The presentation rubric gets the history images; the content rubric does not.
    assert isinstance(transport.requests[0]["messages"][-1]["content"], list)
    assert isinstance(transport.requests[1]["messages"][-1]["content"], str)
    assert "verified_claims" in transport.requests[2]["messages"][-1]["content"]
    div = judge.diversity(list(plans), hiker)
    assert div.dimension == "diversity"
    assert not div.proxy
    assert judge.usage().calls == 5
    assert judge.usage().total_tokens > 0


def test_openai_judge_repairs_then_falls_back_labelled(
    campaign: Campaign, users: list[User], plans: tuple[CreativePlan, ...]
) -> None:
    hiker, boots = by_id(users, "hiker"), campaign.product("boots")
    judge, _ = openai_judge(["fenced"])
    assert not any(j.proxy for j in judge.judge(plans[0], boots, hiker))
    judge, _ = openai_judge(["prose"], max_retries=0)
    out = judge.judge(plans[0], boots, hiker)
    assert all(j.proxy for j in out)
    assert all(j.rationale.startswith("judge failed (") for j in out)
    assert judge.failures
    div = judge.diversity(list(plans), hiker)
    assert div.proxy
    with pytest.raises(ValueError, match="two or more"):
        judge.diversity([plans[0]], hiker)


def test_openai_judge_without_fallback_raises(
    campaign: Campaign, users: list[User], plans: tuple[CreativePlan, ...]
) -> None:
    transport = ScriptedTransport(["http_500"])
    judge = OpenAIJudge(OpenAIJudgeConfig(fallback=None, max_retries=0), transport=transport)
    with pytest.raises(AdloomError, match="HTTP 500"):
        judge.judge(plans[0], campaign.product("boots"), by_id(users, "hiker"))


def test_judge_registry_and_bad_configs() -> None:
    assert isinstance(
        registry.create("judge", {"type": "embedded", "embedder": "hashing"}, "embedded"),
        EmbeddedJudge,
    )
    judge = registry.create("judge", {"type": "openai", "max_retries": 0}, "embedded")
    assert isinstance(judge, OpenAIJudge)
    with pytest.raises(AdloomError, match="rubric"):
        registry.create("judge", {"type": "openai", "rubric": "x"}, "embedded")
    with pytest.raises(AdloomError, match="unknown judge backend 'vlm'"):
        registry.create("judge", "vlm", "embedded")


@pytest.mark.parametrize(
    ("score", "message"), [(-1, "greater than or equal"), (10.5, "less than or equal")]
)
def test_judgement_score_range(score: float, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Judgement(dimension="diversity", score=score, rationale="r", proxy=True, judge="embedded")


# --------------------------------------------------------------------------- statistics


def test_interval_matches_the_t_distribution() -> None:
    ci = Interval.of([1.0, 2.0, 3.0, 4.0])
    half = 3.182 * math.sqrt(5 / 3) / 2
    assert ci.mean == 2.5
    assert ci.low == pytest.approx(2.5 - half, abs=1e-3)
    assert ci.high == pytest.approx(2.5 + half, abs=1e-3)
    assert Interval.of([7.0]) == Interval(mean=7.0, low=7.0, high=7.0, n=1)
    assert t975(1) == 12.706
    assert t975(200) == 1.96
    with pytest.raises(AdloomError, match="no values"):
        Interval.of([])


def test_run_pcg_on_the_test_campaign(
    judge: EmbeddedJudge, campaign: Campaign, users: list[User]
) -> None:
    planner = TemplatePlanner(embedder=HashingEmbedder())
    report = run_pcg(campaign, users, planner, judge, context=Context(duration_s=6))
    assert report.skipped_users == ["private"]
    assert report.users == 3
    assert report.pairs == 6
    assert [d.dimension for d in report.dimensions] == list(DIMENSIONS)
    assert report.proxy
    for d in report.dimensions:
        assert d.personalized.n == d.generic.n == d.difference.n
        assert d.personalized.low <= d.personalized.mean <= d.personalized.high
    assert len(report.creatives) == 12
    assert report.tokens_per_creative == 0.0
    assert report.fallbacks == 0
    assert 0.0 <= report.personalized_share <= 1.0
    limited = run_pcg(campaign, users, planner, judge, max_pairs=1)
    assert limited.pairs == 1
    assert "diversity" not in [d.dimension for d in limited.dimensions]


def test_run_pcg_counts_tokens_and_fallbacks(
    judge: EmbeddedJudge, campaign: Campaign, users: list[User]
) -> None:
    planner = registry.create(
        "planner",
        {
            "type": "fake-llm",
            "script": ["valid", "valid", "valid", "prose", "prose"],
            "max_retries": 0,
            "max_repairs": 0,
            "price_per_1k_prompt": 1.0,
            "fallback": {"type": "template", "embedder": "hashing"},
        },
        "template",
    )
    report = run_pcg(campaign, users, planner, judge, context=Context(duration_s=6))
    assert report.tokens_per_creative > 0
    assert report.cost_per_creative > 0
    assert report.fallbacks > 0
    assert report.planner == "fake-llm"


def test_run_pcg_needs_consenting_users(
    judge: EmbeddedJudge, campaign: Campaign, users: list[User]
) -> None:
    planner = TemplatePlanner(embedder=HashingEmbedder())
    with pytest.raises(AdloomError, match="nobody consented"):
        run_pcg(campaign, [by_id(users, "private")], planner, judge)
