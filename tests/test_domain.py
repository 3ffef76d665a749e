"""Domain model: schema export, JSON round trips, validation rules, grounding, registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from adloom import registry
from adloom.cli import app
from adloom.domain import (
    SCHEMAS,
    Background,
    Box,
    CallToAction,
    Campaign,
    CheckResult,
    Context,
    Creative,
    CreativePlan,
    Directive,
    Event,
    Evidence,
    GroundedText,
    MatchDecision,
    Scene,
    Verdict,
)
from adloom.errors import AdloomError
from adloom.grounding import grounding_problem, is_approved_text


def make_plan(campaign: Campaign, durations: tuple[float, ...] = (2.0, 2.0, 2.0)) -> CreativePlan:
    product = campaign.products[0]
    roles = ["hook", "product", "proof", "context", "cta"]
    scenes, t = [], 0.0
    for i, d in enumerate(durations):
        scenes.append(
            Scene(
                index=i,
                role=roles[i % len(roles)],
                start_s=t,
                duration_s=d,  # type: ignore[arg-type]
                on_screen_text=GroundedText(
                    text="Go further, stay dry", source="copy", source_id="h1"
                ),
                background=Background(colors=["#112233", "#445566"]),
            )
        )
        t += d
    return CreativePlan(
        plan_id="p1",
        campaign_id=campaign.id,
        product_id=product.id,
        kind="generic",
        matching=MatchDecision(
            compatibility=0.0, threshold=0.3, personalized=False, rationale="generic"
        ),
        context=Context(duration_s=t),
        scenes=scenes,
        cta=CallToAction(
            text=GroundedText(text="Shop now", source="copy", source_id="cta1"), url="https://x"
        ),
    )


def examples(campaign: Campaign) -> list[BaseModel]:
    plan = make_plan(campaign)
    creative = Creative(
        creative_id="c1",
        plan_id="p1",
        path="a.mp4",
        width=1280,
        height=720,
        fps=25,
        duration_s=6,
        frame_count=150,
        sha256="0" * 64,
        seed=0,
        renderer="template",
        disclosure_text="AI-generated",
        disclosure_box=Box(x=1, y=2, w=3, h=4),
    )
    verdict = Verdict(
        creative_id="c1",
        plan_id="p1",
        decision="revise",
        checks=[
            CheckResult(name="duration", track="utility", passed=False, score=0.5, message="off")
        ],
        evidence=[Evidence(check="duration", message="short", scene_index=2, start_s=4, end_s=6)],
        rationale="duration off",
    )
    return [
        campaign,
        campaign.products[0],
        plan,
        creative,
        verdict,
        Directive(
            target="producer",
            action="retime",
            scene_index=2,
            params={"duration_s": 2.5},
            reason="x",
        ),
        Event(type="click", creative_id="c1", timestamp=datetime(2026, 1, 1, tzinfo=UTC)),
    ]


def test_every_schema_exports_as_json() -> None:
    for name, model in SCHEMAS.items():
        schema = model.model_json_schema()
        assert schema["type"] == "object", name
        assert schema.get("additionalProperties") is False, f"{name} must reject unknown fields"
        json.dumps(schema)


def test_schema_cli_prints_valid_json() -> None:
    result = CliRunner().invoke(app, ["schema", "plan"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "scenes" in schema["properties"]


def test_round_trips(campaign: Campaign) -> None:
    for obj in examples(campaign):
        again = type(obj).model_validate_json(obj.model_dump_json())
        assert again.model_dump() == obj.model_dump()


def test_plan_scenes_must_tile_the_duration(campaign: Campaign) -> None:
    plan = make_plan(campaign)
    data = plan.model_dump()
    data["scenes"][1]["start_s"] = 2.5
    with pytest.raises(ValidationError, match=r"scenes.1.start_s: expected 2"):
        CreativePlan.model_validate(data)
    data = plan.model_dump()
    data["context"]["duration_s"] = 10
    with pytest.raises(ValidationError, match="total duration 6s differs"):
        CreativePlan.model_validate(data)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("aspect_ratio", "1:1", "unsupported aspect ratio"),
        ("duration_s", 2, "unsupported duration"),
        ("duration_s", 61, "unsupported duration"),
        ("fps", 60, "unsupported frame rate"),
        ("colour", "x", "Extra inputs are not permitted"),
    ],
)
def test_context_rejects(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Context.model_validate({field: value})


@pytest.mark.parametrize(("ratio", "size"), [("16:9", (1280, 720)), ("9:16", (1080, 1920))])
def test_context_sizes(ratio: str, size: tuple[int, int]) -> None:
    assert Context(aspect_ratio=ratio).size == size


# --------------------------------------------------------------------------- grounding


@pytest.mark.parametrize(
    ("text", "source", "source_id", "slots", "problem"),
    [
        ("Waterproof membrane", "claim", "c-waterproof", {}, None),
        ("waterproof   MEMBRANE", "claim", "c-waterproof", {}, None),
        ("Made for hiking", "copy", "hook1", {"interest": "hiking"}, None),
        ("Waterproof for life", "claim", "c-waterproof", {}, "differs from its source"),
        ("Made for gambling", "copy", "hook1", {"interest": "gambling"}, "not an allowed value"),
        ("Made for hiking", "copy", "hook1", {}, "do not match the template"),
        ("Anything", "claim", "c-nope", {}, "unknown claim"),
        ("Anything", "copy", "nope", {}, "unknown approved copy"),
    ],
)
def test_grounding_table(
    campaign: Campaign,
    text: str,
    source: str,
    source_id: str,
    slots: dict[str, str],
    problem: str | None,
) -> None:
    item = GroundedText(text=text, source=source, source_id=source_id, slots=slots)  # type: ignore[arg-type]
    found = grounding_problem(item, campaign.products[0], ["hiking", "camping"])
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Only 480 g per boot", True),
        ("Made for Hiking", True),
        ("Made for crime", False),
        ("Only 400 g per boot", False),
        ("Shop now", True),
    ],
)
def test_is_approved_text(campaign: Campaign, text: str, ok: bool) -> None:
    assert is_approved_text(text, campaign.products[0], ["hiking"]) is ok


# --------------------------------------------------------------------------- registry


def test_registry_lists_builtins() -> None:
    assert "template" in registry.available("planner")
    assert "template" in registry.available("renderer")
    assert "basic" in registry.available("verifier")
    assert {"minilm", "hashing"} <= set(registry.available("embedder"))


def test_registry_errors_are_one_line() -> None:
    with pytest.raises(AdloomError, match=r"unknown renderer backend 'nope' \(available: "):
        registry.resolve("renderer", "nope")
    with pytest.raises(AdloomError, match="unknown backend kind 'colour'"):
        registry.resolve("colour", "x")
    with pytest.raises(AdloomError, match="embedder backend 'hashing': bogus: Extra inputs"):
        registry.create("embedder", {"type": "hashing", "bogus": 1}, "hashing")


def test_registry_register_and_dotted_path() -> None:
    @registry.register("verifier", "always-accept")
    class AlwaysAccept(registry.Backend[registry.BackendConfig]):
        name = "always-accept"

        class Config(registry.BackendConfig):
            type: str = "always-accept"

    assert registry.resolve("verifier", "always-accept") is AlwaysAccept
    assert isinstance(registry.create("verifier", "always-accept", "basic"), AlwaysAccept)
    cls = registry.resolve("embedder", "adloom.director.embeddings:HashingEmbedder")
    assert cls.__name__ == "HashingEmbedder"
