"""The chat client: wire format, key handling, retries, rate limit, budget and cost."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from pydantic import ValidationError

from adloom.llm.client import (
    BudgetExceededError,
    ChatClient,
    EndpointSettings,
    Ledger,
    LLMError,
    RateLimiter,
    Usage,
)
from adloom.llm.fake import INJECTED_CLAIM, ScriptedTransport, instance

SCHEMA = {
    "type": "object",
    "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 3}},
    "required": ["n"],
    "additionalProperties": False,
}
MESSAGES = [{"role": "user", "content": "hi"}]


def client(script: list[str], **settings: object) -> tuple[ChatClient, ScriptedTransport]:
    transport = ScriptedTransport(script)  # type: ignore[arg-type]
    return ChatClient(EndpointSettings(**settings), transport=transport), transport  # type: ignore[arg-type]


def test_request_body_and_usage() -> None:
    c, t = client(["valid"], model="m", price_per_1k_prompt=1.0, price_per_1k_completion=2.0)
    done = c.complete(MESSAGES, campaign_id="c1", schema=SCHEMA, schema_name="stage")
    body = t.requests[0]
    assert body["model"] == "m"
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0.0
    assert body["seed"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "stage"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert 0 <= json.loads(done.text)["n"] <= 3
    assert done.finish_reason == "stop"
    assert done.usage.calls == 1
    assert done.usage.total_tokens > 0
    expected = (done.usage.prompt_tokens * 1.0 + done.usage.completion_tokens * 2.0) / 1000
    assert done.usage.cost == pytest.approx(expected)
    assert c.ledger.usage("c1").total_tokens == done.usage.total_tokens
    assert c.ledger.usage("other").total_tokens == 0


def test_json_object_format_for_older_servers() -> None:
    c, t = client(["valid"], response_format="json_object", seed=None)
    c.complete(MESSAGES, campaign_id="c", schema=SCHEMA)
    assert t.requests[0]["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert "seed" not in t.requests[0]


def test_key_from_config_goes_in_the_header_only() -> None:
    c, t = client(["valid"], api_key="sk-config-secret")
    c.complete(MESSAGES, campaign_id="c", schema=SCHEMA)
    assert t.headers[0]["authorization"] == "Bearer sk-config-secret"
    assert "sk-config-secret" not in json.dumps(t.requests[0])
    assert "sk-config-secret" not in repr(c.settings)


@pytest.mark.parametrize("var", ["ADLOOM_LLM_API_KEY", "OPENAI_API_KEY"])
def test_key_from_environment(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    monkeypatch.delenv("ADLOOM_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv(var, "sk-env")
    c, t = client(["valid"])
    c.complete(MESSAGES, campaign_id="c")
    assert t.headers[0]["authorization"] == "Bearer sk-env"


def test_no_key_no_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADLOOM_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    c, t = client(["valid"])
    c.complete(MESSAGES, campaign_id="c")
    assert "authorization" not in t.headers[0]


@pytest.mark.parametrize("failure", ["http_429", "http_500", "timeout"])
def test_transient_failures_are_retried(failure: str) -> None:
    c, t = client([failure, "valid"], max_retries=1)
    c.complete(MESSAGES, campaign_id="c", schema=SCHEMA)
    assert len(t.requests) == 2


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        ("http_429", "HTTP 429 \\(3 attempt"),
        ("http_500", "HTTP 500 \\(3 attempt"),
        ("timeout", "timed out after 60s \\(3 attempt"),
    ],
)
def test_retries_are_bounded(failure: str, message: str) -> None:
    c, t = client([failure], max_retries=2)
    with pytest.raises(LLMError, match=message):
        c.complete(MESSAGES, campaign_id="c")
    assert len(t.requests) == 3


def test_client_errors_are_not_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="model 'x' not found")

    c = ChatClient(EndpointSettings(), transport=httpx.MockTransport(handler))
    with pytest.raises(LLMError, match="HTTP 400: model 'x' not found"):
        c.complete(MESSAGES, campaign_id="c")


@pytest.mark.parametrize(
    "payload", [{}, {"choices": []}, {"choices": [{"message": {}}]}, {"choices": "x"}]
)
def test_malformed_replies(payload: object) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=payload)

    c = ChatClient(EndpointSettings(), transport=httpx.MockTransport(handler))
    with pytest.raises(LLMError, match="malformed reply"):
        c.complete(MESSAGES, campaign_id="c")


def test_unreachable_endpoint() -> None:
    c = ChatClient(EndpointSettings(base_url="http://127.0.0.1:9/v1", max_retries=0))
    with pytest.raises(LLMError, match=r"cannot reach http://127\.0\.0\.1:9/v1"):
        c.complete(MESSAGES, campaign_id="c")


def test_budget_is_per_campaign() -> None:
    c, _ = client(["valid"], campaign_token_budget=20)
    for _ in range(20):
        if c.ledger.usage("a").total_tokens >= 20:
            break
        c.complete(MESSAGES, campaign_id="a", schema=SCHEMA)
    with pytest.raises(BudgetExceededError, match="campaign 'a' has spent"):
        c.complete(MESSAGES, campaign_id="a", schema=SCHEMA)
    assert c.ledger.usage("a").total_tokens >= 20
    c.complete(MESSAGES, campaign_id="b", schema=SCHEMA)  # another campaign still may


def test_ledger_without_budget_never_refuses() -> None:
    ledger = Ledger(None)
    ledger.charge("c", Usage(10**9, 10**9, 1))
    ledger.check("c")
    assert ledger.usage("c").total_tokens == 2 * 10**9


def test_rate_limiter_spaces_requests() -> None:
    limiter = RateLimiter(per_minute=1200)  # one every 50 ms
    started = time.monotonic()
    waits = [limiter.wait() for _ in range(4)]
    assert waits[0] == 0.0
    assert time.monotonic() - started >= 0.14
    assert RateLimiter(None).wait() == 0.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"base_url": "localhost:8080"}, "must start with http"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"max_retries": -1}, "max_retries"),
        ({"requests_per_minute": 0}, "requests_per_minute"),
        ({"campaign_token_budget": 0}, "campaign_token_budget"),
        ({"temperature": 3}, "temperature"),
        ({"response_format": "text"}, "response_format"),
    ],
)
def test_bad_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EndpointSettings(**settings)  # type: ignore[arg-type]


def test_fake_instances_follow_the_schema() -> None:
    import random

    schema = {
        "type": "object",
        "properties": {
            "e": {"enum": ["a", "b"]},
            "c": {"const": 3},
            "o": {"anyOf": [{"type": "null"}, {"type": "number", "minimum": 1, "maximum": 2}]},
            "l": {"type": "array", "items": {"$ref": "#/$defs/B"}, "minItems": 2},
            "t": {"enum": ["shown"], "description": "Approved text shown"},
            "s": {"type": "string", "maxLength": 1},
            "z": {"type": "null"},
        },
        "$defs": {"B": {"type": "boolean"}},
    }
    value = instance(schema, schema["$defs"], random.Random(0))  # type: ignore[arg-type]
    assert value["e"] in ("a", "b")
    assert value["c"] == 3
    assert 1 <= value["o"] <= 2
    assert len(value["l"]) == 2
    assert all(isinstance(b, bool) for b in value["l"])
    assert value["t"] == "shown"
    assert value["s"] == "o"
    assert value["z"] is None
    injected = instance(schema, schema["$defs"], random.Random(0), inject=True)  # type: ignore[arg-type]
    assert injected["t"] == INJECTED_CLAIM
    assert injected["s"] == INJECTED_CLAIM
    assert injected["e"] in ("a", "b")
