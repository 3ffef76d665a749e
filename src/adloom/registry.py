"""Backends chosen by short name.

Each stage (``planner``, ``renderer``, ``verifier``, ``reflector``, ``embedder``) and each
serving component (``store``, ``counters``, ``policy``), measurement component (``ope``
estimators, ``uplift`` meta-learners) and cohorts component (``clusterer``,
``image_encoder``) has a table of short names.
Built-ins are registered as dotted paths so that importing adloom never imports a heavy
backend (torch, diffusers, SQLAlchemy) until it is asked for. A name that is not in the
table may be a dotted path (``package.module:Class``) or an entry point in the
``adloom.backends`` group named ``<kind>.<name>``, which is how third parties plug in.

Every backend class has a ``Config`` pydantic model with ``extra="forbid"`` and a
``type`` literal, so a single settings file selects and configures the whole stack.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from adloom.errors import AdloomError

KINDS = (
    "planner",
    "renderer",
    "verifier",
    "reflector",
    "embedder",
    "store",
    "counters",
    "policy",
    "ope",
    "uplift",
    "judge",
    "host",
    "clusterer",
    "image_encoder",
)

_BUILTINS: dict[str, dict[str, str]] = {
    "planner": {
        "template": "adloom.director.template:TemplatePlanner",
        "openai": "adloom.director.openai:OpenAIPlanner",
        "fake-llm": "adloom.director.openai:FakeLLMPlanner",
    },
    "renderer": {
        "template": "adloom.producer.template:TemplateRenderer",
        "frames": "adloom.producer.frames:FrameByFrameRenderer",
    },
    "verifier": {
        "basic": "adloom.verifier.basic:BasicVerifier",
        "full": "adloom.verifier.full:FullVerifier",
    },
    "reflector": {"rules": "adloom.reflector.rules:RuleReflector"},
    "embedder": {
        "minilm": "adloom.director.embeddings:MiniLMEmbedder",
        "hashing": "adloom.director.embeddings:HashingEmbedder",
    },
    "store": {
        "sqlite": "adloom.store.sql:SqliteStore",
        "postgresql": "adloom.store.sql:PostgresStore",
    },
    "counters": {
        "memory": "adloom.store.memory:MemoryCounters",
        "redis": "adloom.store.redis:RedisCounters",
    },
    "policy": {
        "thompson": "adloom.serving.bandits.thompson:ThompsonSampling",
        "linucb": "adloom.serving.bandits.linucb:LinUCB",
        "epsilon": "adloom.serving.bandits.baselines:EpsilonGreedy",
        "uniform": "adloom.serving.bandits.baselines:UniformRandom",
    },
    "ope": {
        "ips": "adloom.measurement.ope:IPS",
        "snips": "adloom.measurement.ope:SNIPS",
        "dm": "adloom.measurement.ope:DirectMethod",
        "dr": "adloom.measurement.ope:DoublyRobust",
    },
    "judge": {
        "embedded": "adloom.verifier.judge:EmbeddedJudge",
        "openai": "adloom.verifier.judge:OpenAIJudge",
    },
    "host": {"embedded": "adloom.director.host:EmbeddedHostAnalyzer"},
    "clusterer": {
        "numpy": "adloom.cohorts.grouping:NumpyKMeans",
        "sklearn": "adloom.cohorts.grouping:SklearnKMeans",
    },
    "image_encoder": {
        "efficientnet": "adloom.cohorts.encoders:EfficientNetLite",
        "pixels": "adloom.cohorts.encoders:PixelStats",
    },
    "uplift": {
        "s": "adloom.measurement.uplift:SLearner",
        "t": "adloom.measurement.uplift:TLearner",
        "x": "adloom.measurement.uplift:XLearner",
    },
}
_REGISTERED: dict[str, dict[str, type[Any]]] = {k: {} for k in KINDS}


class BackendConfig(BaseModel):
    """Base for per-backend settings: unknown keys are errors, ``type`` names the backend."""

    model_config = ConfigDict(extra="forbid")
    type: str


ConfigT = TypeVar("ConfigT", bound=BackendConfig)


class Backend(Generic[ConfigT]):
    """Mixin for backends: holds the validated config and the registry name."""

    name: ClassVar[str]
    Config: ClassVar[type[BackendConfig]]

    def __init__(self, config: ConfigT | None = None) -> None:
        self.config: ConfigT = config if config is not None else self.Config(type=self.name)  # type: ignore[assignment]


T = TypeVar("T", bound=type[Any])


def register(kind: str, name: str) -> Any:
    """Class decorator registering a backend under ``kind``/``name`` (for plugins and tests)."""
    _check_kind(kind)

    def deco(cls: T) -> T:
        _REGISTERED[kind][name] = cls
        return cls

    return deco


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise AdloomError(f"unknown backend kind {kind!r} (known: {', '.join(KINDS)})")


def available(kind: str) -> list[str]:
    """Short names usable for ``kind``: built-ins, registered classes and entry points."""
    _check_kind(kind)
    names = set(_BUILTINS[kind]) | set(_REGISTERED[kind])
    for ep in entry_points(group="adloom.backends"):
        k, _, n = ep.name.partition(".")
        if k == kind:
            names.add(n)
    return sorted(names)


def resolve(kind: str, name: str) -> type[Any]:
    """The backend class for a short name, a dotted path or an entry point."""
    _check_kind(kind)
    if name in _REGISTERED[kind]:
        return _REGISTERED[kind][name]
    target = _BUILTINS[kind].get(name)
    if target is None:
        for ep in entry_points(group="adloom.backends"):
            if ep.name == f"{kind}.{name}":
                cls: type[Any] = ep.load()
                return cls
    if target is None and (":" in name or "." in name):
        target = name
    if target is None:
        raise AdloomError(
            f"unknown {kind} backend {name!r} (available: {', '.join(available(kind))})"
        )
    module_name, _, attr = target.partition(":")
    if not attr:
        module_name, _, attr = target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        if isinstance(exc, ImportError) and isinstance(exc.__cause__, AdloomError):
            raise exc.__cause__ from None
        raise AdloomError(f"cannot load {kind} backend {name!r} from {target!r}: {exc}") from exc


def create(kind: str, spec: str | dict[str, Any] | BackendConfig | None, default: str) -> Any:
    """Instantiate a backend from a short name, a config dict (with ``type``) or a config."""
    if spec is None:
        spec = default
    if isinstance(spec, str):
        spec = {"type": spec}
    if isinstance(spec, BackendConfig):
        cls = resolve(kind, spec.type)
        return cls(spec)
    name = spec.get("type", default)
    cls = resolve(kind, str(name))
    try:
        # A dotted path names the class; its config still expects its own short name.
        config = cls.Config.model_validate({**spec, "type": getattr(cls, "name", name)})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise AdloomError(f"{kind} backend {name!r}: {loc}: {err['msg']}") from None
    return cls(config)
