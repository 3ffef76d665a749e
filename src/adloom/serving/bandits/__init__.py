"""Contextual bandits that choose among eligible creatives (Thompson sampling, LinUCB)."""

from adloom.serving.bandits.base import Choice, Policy, PolicyConfig

__all__ = ["Choice", "Policy", "PolicyConfig"]
