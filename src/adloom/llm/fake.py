"""A scripted OpenAI-compatible endpoint, shipped as a real httpx transport.

It answers ``POST /chat/completions`` in the wire format of the real thing, so everything
between the backend and the socket (request body, headers, status handling, usage,
repair, validation, fallback) runs as in production. Each reply is built from the JSON
schema in the request's ``response_format``: the smallest instance that satisfies it,
picking enum values by a seeded rotation. A script of reply kinds then damages it on
purpose: a Markdown fence, a cut-off body, prose instead of JSON, an ungrounded claim
in every string, or a 429/500 status. Every request is kept in ``requests`` so tests
can assert on exactly what would have left the process.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any, Literal

import httpx

ReplyKind = Literal[
    "valid", "fenced", "truncated", "prose", "injected", "http_429", "http_500", "timeout"
]
#: What an "injected" reply writes into every free string and every choice of shown text:
#: a claim no product can make.
INJECTED_CLAIM = "Clinically proven to cure cancer"
#: Descriptions of enums whose values are texts to show (as opposed to labels like a
#: camera move) start with this; an "injected" reply replaces them.
TEXT_CHOICE = "Approved text"


def instance(
    schema: dict[str, Any], defs: dict[str, Any], rng: random.Random, *, inject: bool = False
) -> Any:
    """A small instance of ``schema`` (the subset of JSON Schema the stages use)."""
    if "$ref" in schema:
        return instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, rng, inject=inject)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        if inject and str(schema.get("description", "")).startswith(TEXT_CHOICE):
            return INJECTED_CLAIM
        return rng.choice(list(schema["enum"]))
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return instance(options[0], defs, rng, inject=inject)
    kind = schema.get("type")
    if kind == "object":
        props: dict[str, Any] = schema.get("properties", {})
        return {name: instance(sub, defs, rng, inject=inject) for name, sub in props.items()}
    if kind == "array":
        n = max(int(schema.get("minItems", 1)), 1)
        n = min(n, int(schema.get("maxItems", n)))
        return [instance(schema.get("items", {}), defs, rng, inject=inject) for _ in range(n)]
    if kind == "integer":
        lo, hi = int(schema.get("minimum", 0)), int(schema.get("maximum", 10))
        return rng.randint(lo, hi)
    if kind == "number":
        lo_f, hi_f = float(schema.get("minimum", 0.0)), float(schema.get("maximum", 1.0))
        return round(rng.uniform(lo_f, hi_f), 3)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if inject:
        return INJECTED_CLAIM
    return "ok"[: int(schema.get("maxLength", 2))] or "o"


class ScriptedTransport(httpx.BaseTransport):
    """Replies by ``script`` (cycled); ``seed`` makes enum choices reproducible."""

    def __init__(self, script: Sequence[ReplyKind] = ("valid",), *, seed: int = 0) -> None:
        self.script = list(script) or ["valid"]
        self.rng = random.Random(seed)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        kind = self.script[len(self.requests) % len(self.script)]
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if kind == "timeout":
            raise httpx.ReadTimeout("scripted timeout", request=request)
        if kind in ("http_429", "http_500"):
            status = 429 if kind == "http_429" else 500
            return httpx.Response(status, headers={"retry-after": "0"}, json={"error": kind})
        fmt = body.get("response_format") or {}
        schema = fmt.get("json_schema", {}).get("schema") or fmt.get("schema") or {}
        defs = schema.get("$defs", {})
        value = instance(schema, defs, self.rng, inject=kind == "injected") if schema else {}
        text = json.dumps(value)
        finish = "stop"
        if kind == "fenced":
            text = f"Here is the plan:\n```json\n{text}\n```"
        elif kind == "truncated":
            text = text[: max(1, len(text) * 2 // 3)]
            finish = "length"
        elif kind == "prose":
            text = "I would suggest a bright, upbeat spot with the product front and centre."
        prompt_tokens = sum(len(json.dumps(m).split()) for m in body.get("messages", []))
        return httpx.Response(
            200,
            json={
                "id": f"fake-{len(self.requests)}",
                "object": "chat.completion",
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": finish,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(text.split()),
                    "total_tokens": prompt_tokens + len(text.split()),
                },
            },
        )
