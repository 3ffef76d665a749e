"""JSON repair: a table of damaged replies, what they repair to, and what cannot be."""

from __future__ import annotations

import pytest

from adloom.llm.repair import RepairError, parse_json


@pytest.mark.parametrize(
    ("text", "value", "repairs"),
    [
        ('{"a": 1}', {"a": 1}, []),
        ('```json\n{"a": 1}\n```', {"a": 1}, ["code fence stripped"]),
        ('```\n{"a": [1, 2]}', {"a": [1, 2]}, ["code fence stripped"]),
        ('Sure! {"a": 1}', {"a": 1}, ["text before the object dropped"]),
        ('{"a": 1} hope this helps', {"a": 1}, ["text after the object dropped"]),
        ('{"a": "cut off', {"a": "cut off"}, ["truncated reply closed"]),
        ('{"a": [1, 2', {"a": [1, 2]}, ["truncated reply closed"]),
        ('{"a": 1, "b": ', {"a": 1}, ["truncated reply closed"]),
        ('{"a": 1, "b', {"a": 1}, ["truncated reply closed"]),
        ('{"a": {"b": [{"c": "x\\"y', {"a": {"b": [{"c": 'x"y'}]}}, ["truncated reply closed"]),
        ('{"s": [{"x": 1}, {"x": 2', {"s": [{"x": 1}, {"x": 2}]}, ["truncated reply closed"]),
        ('{"a": tru', {}, ["truncated reply closed"]),
    ],
)
def test_repairs(text: str, value: object, repairs: list[str]) -> None:
    assert parse_json(text) == (value, repairs)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("I think a bright ad would work.", "no JSON object"),
        ("", "no JSON object"),
        ("[1, 2, 3]", "no JSON object"),
        ("null", "no JSON object"),
    ],
)
def test_unrepairable(text: str, message: str) -> None:
    with pytest.raises(RepairError, match=message):
        parse_json(text)
