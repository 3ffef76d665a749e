"""Director fixtures: the real MiniLM model is loaded once per session."""

from __future__ import annotations

import pytest

from adloom.director.embeddings import HashingEmbedder, MiniLMEmbedder
from adloom.director.template import TemplatePlanner


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def hashing() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(scope="session")
def planner(minilm: MiniLMEmbedder) -> TemplatePlanner:
    """The default planner on the real model (behavioural tests)."""
    return TemplatePlanner(embedder=minilm)


@pytest.fixture(scope="session")
def fast_planner(hashing: HashingEmbedder) -> TemplatePlanner:
    """The same planner on the hashing embedder (structure tests, many cases)."""
    return TemplatePlanner(embedder=hashing)
