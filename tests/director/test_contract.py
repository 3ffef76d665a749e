"""The Director contract against the embedded Director and the ``openai`` Director on
the scripted endpoint (the real local server runs it in ``test_openai_server.py``)."""

from __future__ import annotations

import pytest
from tests.director.contract import PlannerContract

from adloom import registry
from adloom.director import Planner
from adloom.director.embeddings import HashingEmbedder
from adloom.director.openai import FakeLLMPlanner, FakeLLMPlannerConfig
from adloom.director.template import TemplatePlanner


class TestTemplateContract(PlannerContract):
    @pytest.fixture
    def contract_planner(self, hashing: HashingEmbedder) -> Planner:
        return TemplatePlanner(embedder=hashing)


class TestFakeLLMContract(PlannerContract):
    @pytest.fixture(params=[["valid"], ["fenced"], ["truncated", "valid"]])
    def contract_planner(self, request: pytest.FixtureRequest) -> Planner:
        planner = registry.create(
            "planner",
            {
                "type": "fake-llm",
                "script": request.param,
                "fallback": {"type": "template", "embedder": "hashing"},
            },
            "template",
        )
        assert isinstance(planner, FakeLLMPlanner)
        return planner


class TestFallbackContract(PlannerContract):
    """Every request failing: the embedded Director's plan, same contract."""

    @pytest.fixture
    def contract_planner(self, hashing: HashingEmbedder) -> Planner:
        config = FakeLLMPlannerConfig(script=["prose"], max_retries=0)
        return FakeLLMPlanner(config, fallback=TemplatePlanner(embedder=hashing))
