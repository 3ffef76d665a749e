"""Reflector: why a creative failed, what to change, and the loop that changes it.

Submodules are imported on first access so ``import adloom.reflector`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from adloom.reflector.base import Reflector

_LAZY = {
    "RuleReflector": "adloom.reflector.rules",
    "apply": "adloom.reflector.revise",
    "Revision": "adloom.reflector.revise",
    "refine": "adloom.reflector.loop",
    "Refined": "adloom.reflector.loop",
    "FeedbackResult": "adloom.reflector.feedback",
}

__all__ = ["FeedbackResult", "Refined", "Reflector", "Revision", "RuleReflector", "apply", "refine"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'adloom.reflector' has no attribute {name!r}")
