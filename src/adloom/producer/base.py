"""The Producer's interface: render a plan to a file and describe what was drawn."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from adloom.domain import Campaign, Creative, CreativePlan


class Renderer(ABC):
    name: str = "renderer"

    @abstractmethod
    def render(
        self,
        plan: CreativePlan,
        campaign: Campaign,
        out_path: Path,
        *,
        thumbnail_path: Path | None = None,
    ) -> Creative:
        """Render ``plan`` to ``out_path`` (written atomically) and return its Creative.

        Output is deterministic for ``plan.seed``.
        """
