"""Cohort backends chosen by short name: clusterers and image encoders.

They follow :mod:`adloom.registry` (a ``Config`` with ``extra="forbid"`` and a ``type``
literal per backend, a dotted ``package.module:Class`` path for anything not built in)
but keep their own table, so the cohorts extra stays out of the core registry.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import ValidationError

from adloom.errors import AdloomError
from adloom.registry import BackendConfig

BUILTINS: dict[str, dict[str, str]] = {
    "clusterer": {
        "numpy": "adloom.cohorts.grouping:NumpyKMeans",
        "sklearn": "adloom.cohorts.grouping:SklearnKMeans",
    },
    "image_encoder": {
        "efficientnet": "adloom.cohorts.encoders:EfficientNetLite",
        "pixels": "adloom.cohorts.encoders:PixelStats",
    },
}


def resolve(kind: str, name: str) -> type[Any]:
    """The class for a short name or a dotted path."""
    if kind not in BUILTINS:
        raise AdloomError(f"unknown cohorts backend kind {kind!r} (known: {', '.join(BUILTINS)})")
    target = BUILTINS[kind].get(name)
    if target is None and (":" in name or "." in name):
        target = name
    if target is None:
        known = ", ".join(sorted(BUILTINS[kind]))
        raise AdloomError(f"unknown {kind} backend {name!r} (available: {known})")
    module_name, _, attr = target.partition(":")
    if not attr:
        module_name, _, attr = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise AdloomError(f"cannot load {kind} backend {name!r} from {target!r}: {exc}") from exc


def create(kind: str, spec: str | dict[str, Any] | BackendConfig | None, default: str) -> Any:
    """A backend instance from a short name, a config dict with ``type`` or a config."""
    if spec is None:
        spec = default
    if isinstance(spec, str):
        spec = {"type": spec}
    if isinstance(spec, BackendConfig):
        return resolve(kind, spec.type)(spec)
    name = str(spec.get("type", default))
    cls = resolve(kind, name)
    try:
        # A dotted path names the class; its config still expects its own short name.
        config = cls.Config.model_validate({**spec, "type": getattr(cls, "name", name)})
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e["loc"])
        raise AdloomError(f"{kind} backend {name!r}: {loc}: {e['msg']}") from None
    return cls(config)
