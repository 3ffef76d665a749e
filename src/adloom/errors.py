"""Errors adloom raises on purpose.

Every user-facing failure is an :class:`AdloomError` whose message is one line naming the
field or file at fault, so the CLI can print it and exit 2 and the HTTP layer can map it
to a 4xx without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class AdloomError(Exception):
    """Base class: a problem the caller can fix; its ``str`` is a single line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class InputError(AdloomError):
    """Bad user input: a malformed file, an unknown field, an unsupported value."""

    def __init__(self, where: str | Path, problem: str) -> None:
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{self.where}: {problem}")


class MissingExtraError(AdloomError):
    """A backend needs an optional dependency that is not installed."""

    def __init__(self, backend: str, extra: str, module: str) -> None:
        super().__init__(
            f"backend {backend!r} needs the {module!r} package: pip install 'adloom[{extra}]'"
        )


class RenderError(AdloomError):
    """The renderer (ffmpeg) failed on an otherwise valid plan."""
