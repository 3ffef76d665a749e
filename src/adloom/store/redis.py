"""Redis counters: shared by every server process, for frequency caps at scale.

The request path must never wait on a sick Redis. Sockets time out after ``timeout_ms``,
redis-py's own retries are off, and after any failure the backend fails fast: for
``retry_after_s`` it raises :class:`~adloom.store.Unavailable` without touching the
network, so the server falls back to the generic creative in microseconds. Then one call
probes Redis again (the others keep failing fast meanwhile), and a success closes the
circuit, so recovery needs no restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field

from adloom.errors import AdloomError, MissingExtraError
from adloom.registry import Backend, BackendConfig
from adloom.store.base import Unavailable
from adloom.store.counters import Counters

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("redis", "redis", "redis") from exc


class RedisCountersConfig(BackendConfig):
    type: Literal["redis"] = "redis"
    url: str = Field("redis://127.0.0.1:6379/0", description="redis:// or rediss:// URL.")
    prefix: str = Field("adloom:", description="Prepended to every key, to share a Redis.")
    timeout_ms: int = Field(50, ge=1, description="Socket connect and read timeout.")
    retry_after_s: float = Field(
        0.5, ge=0, description="After a failure, fail fast this long before trying again."
    )


def _where(url: str) -> str:
    """``host:port/db`` of a URL, without credentials, for error messages."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname or '?'}:{parts.port or 6379}{parts.path or ''}"
    except ValueError:
        return "the configured URL"


class RedisCounters(Counters, Backend[RedisCountersConfig]):
    """Counters in Redis: one MGET per read, one pipelined round trip per bump."""

    name: ClassVar[str] = "redis"
    Config: ClassVar[type[BackendConfig]] = RedisCountersConfig

    def __init__(self, config: RedisCountersConfig | None = None) -> None:
        Backend.__init__(self, config)
        cfg = self.config
        timeout = cfg.timeout_ms / 1000
        self._prefix = cfg.prefix
        self._retry_after = cfg.retry_after_s
        self._where = _where(cfg.url)
        try:
            self._pool: Any = redis.ConnectionPool.from_url(
                cfg.url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=0,
            )
        except ValueError as exc:
            raise AdloomError(f"counters backend 'redis': url: {exc}") from None
        self._client: Any = redis.Redis(connection_pool=self._pool)
        self._state = threading.Lock()
        # monotonic time until which calls fail fast; 0.0 while Redis is healthy
        self._open_until = 0.0
        self._error = ""

    def get(self, keys: Sequence[str]) -> list[int]:
        if not keys:
            return []
        self._gate()
        prefix = self._prefix
        try:
            raw = self._client.mget([prefix + k for k in keys])
        except redis.RedisError as exc:
            raise self._failed(exc) from None
        self._ok()
        return [0 if v is None else int(v) for v in raw]

    def incr(self, keys: Sequence[str], ttl_s: int) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        if not keys:
            return
        self._gate()
        pipe = self._client.pipeline(transaction=False)
        for k in keys:
            key = self._prefix + k
            pipe.incr(key)
            # NX: the window starts at the first count; later bumps do not extend it.
            pipe.expire(key, ttl_s, nx=True)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            raise self._failed(exc) from None
        self._ok()

    def ping(self) -> bool:
        """Whether Redis answers now (bypasses the fail-fast window, for health checks)."""
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._pool.disconnect()

    # ------------------------------------------------------------------ circuit breaker

    def _gate(self) -> None:
        """Raise at once while failing fast; past the window, let one caller probe."""
        until = self._open_until
        if not until:
            return
        now = time.monotonic()
        if now < until:
            raise Unavailable(self._error)
        with self._state:
            if self._open_until != until:  # another caller is probing or closed it
                if self._open_until and now < self._open_until:
                    raise Unavailable(self._error)
                return
            # This caller probes; the others fail fast until it is done.
            self._open_until = now + self._retry_after

    def _ok(self) -> None:
        if self._open_until:
            with self._state:
                self._open_until = 0.0

    def _failed(self, exc: Exception) -> Unavailable:
        message = " ".join(f"redis counters at {self._where}: {type(exc).__name__}: {exc}".split())
        with self._state:
            self._error = message
            self._open_until = time.monotonic() + self._retry_after
        # Idle pooled sockets may be dead too; drop them so recovery starts clean.
        self._pool.disconnect(inuse_connections=False)
        return Unavailable(message)
