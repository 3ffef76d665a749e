"""Tolerant JSON parsing for model replies.

Even with a grammar, a reply can be cut off by ``max_tokens``, wrapped in a Markdown
fence or preceded by chatter. Repair is mechanical and never invents content: strip the
fence and the text around the outermost object, close an open string, drop a dangling
key or comma, and close the open brackets. What it cannot fix is re-asked by the caller
with the parse or validation error.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.DOTALL)
#: How many cut points are tried, from the end, before a reply counts as unrepairable.
MAX_CUTS = 64


class RepairError(ValueError):
    """The reply holds no JSON object that repair can recover."""


def _scan(text: str) -> tuple[list[str], bool, list[int]]:
    """Open brackets, whether a string is open, and positions where a value can end."""
    stack: list[str] = []
    in_str = False
    esc = False
    cuts: list[int] = []
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
            cuts.append(i + 1)
        elif ch in "}]":
            if stack:
                stack.pop()
            cuts.append(i + 1)
        elif ch == ",":
            cuts.append(i)
    return stack, in_str, cuts


def _closed(text: str) -> str:
    stack, in_str, _ = _scan(text)
    if in_str:
        text += '"'
    text = re.sub(r"[\s,:]+$", "", text)
    return text + "".join(reversed(stack))


def parse_json(text: str) -> tuple[Any, list[str]]:
    """The JSON value in ``text`` and the repairs that were needed (empty when none)."""
    repairs: list[str] = []
    body = text.strip()
    try:
        value = json.loads(body)
        if isinstance(value, dict):
            return value, repairs
    except json.JSONDecodeError:
        pass
    fence = _FENCE.search(body)
    if fence is not None and "```" in body:
        body = fence.group(1).strip()
        repairs.append("code fence stripped")
    start = body.find("{")
    if start < 0:
        raise RepairError("no JSON object in the reply")
    if start > 0:
        repairs.append("text before the object dropped")
        body = body[start:]
    try:
        value, end = json.JSONDecoder().raw_decode(body)
        if body[end:].strip():
            repairs.append("text after the object dropped")
        return value, repairs
    except json.JSONDecodeError:
        pass
    # Truncated: close what is open, then cut back to earlier value boundaries.
    _, _, cuts = _scan(body)
    candidates = [body, *(body[:c] for c in reversed(cuts[-MAX_CUTS:]))]
    for candidate in candidates:
        try:
            value = json.loads(_closed(candidate))
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            repairs.append("truncated reply closed")
            return value, repairs
    raise RepairError(  # pragma: no cover - a lone "{" always closes to {}
        "the reply is not JSON and could not be repaired"
    )
