"""A small client for OpenAI-compatible chat completions (vLLM, Ollama, llama.cpp, hosted).

httpx rather than a vendor SDK keeps the dependency light and the transport swappable:
tests and offline runs plug in :class:`adloom.llm.fake.ScriptedTransport`, which answers
in the same wire format. The client owns what every caller needs and should not
re-implement: the API key (configuration or environment, only ever sent as a header),
timeouts, bounded retries on rate limits and server errors, a requests-per-minute
limit, and token accounting with a per-campaign budget and a price per 1k tokens.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from adloom.errors import AdloomError, MissingExtraError

#: Environment variables read for the API key when the configuration gives none.
KEY_ENV = ("ADLOOM_LLM_API_KEY", "OPENAI_API_KEY")
#: Longest wait honoured from a server's ``Retry-After``.
MAX_RETRY_AFTER_S = 30.0


class LLMError(AdloomError):
    """The endpoint could not give a usable reply (transport, status, timeout)."""


class BudgetExceededError(LLMError):
    """The campaign's token budget is spent; planning falls back to the embedded Director."""


class EndpointSettings(BaseModel):
    """Where the model is and how to talk to it; mixed into each backend's config."""

    base_url: str = Field(
        "http://127.0.0.1:8080/v1", description="OpenAI-compatible API root (ends in /v1)."
    )
    model: str = Field("default", description="Model name the endpoint serves.")
    api_key: SecretStr | None = Field(
        None, description=f"API key; when unset, read from {' or '.join(KEY_ENV)}."
    )
    timeout_s: float = Field(60.0, gt=0.0, le=600.0, description="Per-request timeout.")
    max_retries: int = Field(
        2, ge=0, le=10, description="Retries on timeouts, 429 and 5xx, with backoff."
    )
    requests_per_minute: float | None = Field(
        None, gt=0.0, description="Client-side request rate limit; None for no limit."
    )
    max_tokens: int = Field(768, ge=16, le=32768, description="Completion tokens per call.")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    seed: int | None = Field(0, description="Sampling seed, for endpoints that honour one.")
    response_format: Literal["json_schema", "json_object"] = Field(
        "json_schema",
        description="json_schema constrains output to each stage's schema (llama.cpp, "
        "vLLM, OpenAI); json_object only asks for JSON (older servers).",
    )
    vision: bool = Field(
        False, description="The model reads images: history images are sent as data URLs."
    )
    max_images: int = Field(4, ge=0, le=16, description="History images sent per request.")
    campaign_token_budget: int | None = Field(
        None, ge=1, description="Tokens (prompt + completion) one campaign may spend."
    )
    price_per_1k_prompt: float = Field(0.0, ge=0.0, description="Cost per 1k prompt tokens.")
    price_per_1k_completion: float = Field(
        0.0, ge=0.0, description="Cost per 1k completion tokens."
    )

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url {value!r} must start with http:// or https://")
        return value.rstrip("/")

    def key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        for name in KEY_ENV:
            value = os.environ.get(name)
            if value:
                return value
        return None


@dataclass
class Usage:
    """Tokens spent and what they cost."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cost: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls
        self.cost += other.cost


@dataclass
class Completion:
    text: str
    finish_reason: str
    usage: Usage
    latency_s: float


@dataclass
class RateLimiter:
    """Spaces requests evenly at ``per_minute`` (no bursts: endpoints count per second)."""

    per_minute: float | None
    _next: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self) -> float:
        """Block until the next request may go; returns the seconds waited."""
        if self.per_minute is None:
            return 0.0
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + 60.0 / self.per_minute
        delay = start - now
        if delay > 0:
            time.sleep(delay)
        return delay


@dataclass
class Ledger:
    """Tokens spent per campaign, checked before each call against the budget."""

    budget: int | None
    spent: dict[str, Usage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, campaign_id: str) -> None:
        if self.budget is None:
            return
        with self._lock:
            used = self.spent.get(campaign_id, Usage()).total_tokens
        if used >= self.budget:
            raise BudgetExceededError(
                f"campaign {campaign_id!r} has spent {used} of its {self.budget} tokens"
            )

    def charge(self, campaign_id: str, usage: Usage) -> None:
        with self._lock:
            self.spent.setdefault(campaign_id, Usage()).add(usage)

    def usage(self, campaign_id: str) -> Usage:
        with self._lock:
            u = self.spent.get(campaign_id, Usage())
            return Usage(u.prompt_tokens, u.completion_tokens, u.calls, u.cost)


Message = dict[str, Any]


class ChatClient:
    """Chat completions with JSON output; one instance per backend, thread-safe."""

    def __init__(self, settings: EndpointSettings, *, transport: Any | None = None) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - httpx ships with the llm extra
            raise MissingExtraError("openai", "llm", "httpx") from exc
        self.settings = settings
        headers = {"content-type": "application/json"}
        key = settings.key()
        if key:
            headers["authorization"] = f"Bearer {key}"
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers=headers,
            timeout=settings.timeout_s,
            transport=transport,
        )
        self.limiter = RateLimiter(settings.requests_per_minute)
        self.ledger = Ledger(settings.campaign_token_budget)

    def close(self) -> None:
        self._http.close()

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        s = self.settings
        return (
            prompt_tokens * s.price_per_1k_prompt + completion_tokens * s.price_per_1k_completion
        ) / 1000.0

    def body(
        self,
        messages: Sequence[Message],
        *,
        schema: Mapping[str, Any] | None = None,
        schema_name: str = "reply",
        max_tokens: int | None = None,
    ) -> dict[str, Any]:
        """The request body; separate so tests can read exactly what leaves the process."""
        s = self.settings
        body: dict[str, Any] = {
            "model": s.model,
            "messages": list(messages),
            "temperature": s.temperature,
            "max_tokens": max_tokens or s.max_tokens,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if schema is not None and s.response_format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": dict(schema), "strict": True},
            }
        elif schema is not None:
            body["response_format"] = {"type": "json_object", "schema": dict(schema)}
        return body

    def complete(
        self,
        messages: Sequence[Message],
        *,
        campaign_id: str,
        schema: Mapping[str, Any] | None = None,
        schema_name: str = "reply",
        max_tokens: int | None = None,
    ) -> Completion:
        """One completion, retried on transient failures; charged to ``campaign_id``."""
        import httpx

        self.ledger.check(campaign_id)
        body = self.body(messages, schema=schema, schema_name=schema_name, max_tokens=max_tokens)
        attempts = self.settings.max_retries + 1
        last = "no attempt"
        for attempt in range(attempts):
            self.limiter.wait()
            started = time.perf_counter()
            try:
                resp = self._http.post("/chat/completions", json=body)
            except httpx.TimeoutException:
                last = f"timed out after {self.settings.timeout_s:g}s"
                continue
            except httpx.TransportError as exc:
                last = f"cannot reach {self.settings.base_url}: {type(exc).__name__}"
                time.sleep(min(2.0, 0.2 * 2**attempt))
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                if attempt + 1 < attempts:
                    time.sleep(_retry_after(resp.headers.get("retry-after"), attempt))
                continue
            if resp.status_code >= 400:
                raise LLMError(
                    f"{self.settings.base_url}: HTTP {resp.status_code}: {_snippet(resp)}"
                )
            return self._completion(resp.json(), campaign_id, time.perf_counter() - started)
        raise LLMError(f"{self.settings.base_url}: {last} ({attempts} attempt(s))")

    def _completion(self, data: Any, campaign_id: str, latency: float) -> Completion:
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            finish = str(choice.get("finish_reason") or "stop")
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"{self.settings.base_url}: malformed reply ({exc!r})") from None
        raw = data.get("usage") or {}
        prompt = int(raw.get("prompt_tokens") or 0)
        completion = int(raw.get("completion_tokens") or 0)
        usage = Usage(prompt, completion, 1, self.cost(prompt, completion))
        self.ledger.charge(campaign_id, usage)
        return Completion(text=text, finish_reason=finish, usage=usage, latency_s=latency)


def _retry_after(header: str | None, attempt: int) -> float:
    if header is not None:
        try:
            return min(MAX_RETRY_AFTER_S, max(0.0, float(header)))
        except ValueError:
            pass
    return float(min(MAX_RETRY_AFTER_S, 0.5 * 2**attempt))


def _snippet(resp: Any) -> str:
    return " ".join(str(resp.text)[:160].split())
