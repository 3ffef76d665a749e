"""Director: user modeling, user-product matching, storyboard and asset grounding.

Backends are imported on first access so ``import adloom.director`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from adloom.director.base import Planner

_LAZY = {
    "TemplatePlanner": "adloom.director.template",
    "Embedder": "adloom.director.embeddings",
    "MiniLMEmbedder": "adloom.director.embeddings",
    "HashingEmbedder": "adloom.director.embeddings",
    "OpenAIPlanner": "adloom.director.openai",
    "FakeLLMPlanner": "adloom.director.openai",
}

__all__ = [
    "Embedder",
    "FakeLLMPlanner",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "OpenAIPlanner",
    "Planner",
    "TemplatePlanner",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'adloom.director' has no attribute {name!r}")
