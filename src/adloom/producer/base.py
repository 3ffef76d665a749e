"""The Producer's interface: render a plan to a file and describe what was drawn."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
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
        fresh_scenes: Collection[int] = (),
    ) -> Creative:
        """Render ``plan`` to ``out_path`` (written atomically) and return its Creative.

        Output is deterministic for ``plan.seed``. A renderer that reuses earlier work
        (a scene cache) makes the scenes in ``fresh_scenes`` anew: the Reflector asks for
        that when a scene's frames came out damaged. Others may ignore it.
        """
