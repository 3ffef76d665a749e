"""Director: user modeling, user-product matching, storyboard and asset grounding."""

from adloom.director.base import Planner

__all__ = ["Planner"]
