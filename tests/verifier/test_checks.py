"""The verifier's building blocks, without decoding any video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from verifier_media import make_creative, make_plan

from adloom.domain import Campaign, CheckResult
from adloom.producer.label import disclosure_label
from adloom.verifier.basic import decide, rationale
from adloom.verifier.checks import (
    CheckContext,
    Finding,
    Thresholds,
    find_terms,
    runs,
    says_ai_generated,
)
from adloom.verifier.labelmatch import LabelMatch, LabelTemplate


@pytest.mark.parametrize(
    ("text", "terms", "hits"),
    [
        ("Go further, stay dry", ["dry"], ["dry"]),
        ("Go further, stay DRY!", ["Dry"], ["Dry"]),
        ("Tumble dryer safe", ["dry"], []),
        ("Only 480 g per boot", ["480 g", "boots"], ["480 g"]),
        ("Best price guaranteed", ["best price", "cure"], ["best price"]),
        ("Ｂｅｓｔ price", ["best"], ["best"]),
        ("anything", [""], []),
    ],
)
def test_find_terms_matches_whole_words_ignoring_case(
    text: str, terms: list[str], hits: list[str]
) -> None:
    assert find_terms(text, terms) == hits


@pytest.mark.parametrize(
    ("metadata", "key"),
    [
        ({"comment": "AI-generated"}, "comment"),
        ({"description": "Made by adloom. ai generated content"}, "description"),
        ({"ai_generated": "true"}, "ai_generated"),
        ({"AI_GENERATED": "1"}, "AI_GENERATED"),
        ({"comment": "KI-generiert"}, "comment"),
        ({"comment": "summer campaign", "ai_generated": "no"}, None),
        ({}, None),
    ],
)
def test_says_ai_generated(metadata: dict[str, str], key: str | None) -> None:
    assert says_ai_generated(metadata, "KI-generiert") == key


def test_runs() -> None:
    assert runs([]) == []
    assert runs([True, True, False, True]) == [(0, 1), (3, 3)]
    assert runs(np.array([False, True, True])) == [(1, 2)]


def test_scene_for_picks_the_largest_overlap(campaign: Campaign, tmp_path: Path) -> None:
    plan = make_plan(campaign)  # scenes: 0-1.5, 1.5-3.0, 3.0-4.0, 4.0-5.0
    ctx = CheckContext(
        creative=make_creative(plan, tmp_path / "none.mp4"),
        plan=plan,
        campaign=campaign,
        profile=None,
        limits=Thresholds(),
    )
    assert ctx.scene_for(0.2) == 0
    assert ctx.scene_for(1.5) == 1
    assert ctx.scene_for(1.4, 3.5) == 1
    assert ctx.scene_for(2.9, 4.0) == 2
    assert ctx.scene_for(6.0, 7.0) == 3
    assert ctx.scene_for(0.0, 5.0) is None
    assert ctx.scene_for(1.0, 4.5) is None
    assert ctx.text_span(None, "cta") == (4.0, 5.0)
    assert ctx.slot_values == ("hiking",)


def _finding(severity: str, passed: bool) -> Finding:
    result = CheckResult.model_validate(
        {
            "name": f"c-{severity}",
            "track": "utility",
            "passed": passed,
            "score": 1.0 if passed else 0.0,
            "severity": severity,
            "message": "m",
        }
    )
    return Finding(result=result, evidence=[])


@pytest.mark.parametrize(
    ("severities", "decision"),
    [
        ([], "accept"),
        (["minor"], "revise"),
        (["major", "minor"], "revise"),
        (["minor", "critical"], "reject"),
    ],
)
def test_decision_follows_the_worst_failure(severities: list[str], decision: str) -> None:
    findings = [_finding("info", True), *(_finding(s, False) for s in severities)]
    assert decide(findings) == decision
    text = rationale(decide(findings), findings)
    assert f"{len(findings) - len(severities)} of {len(findings)} checks passed" in text
    for s in severities:
        assert f"c-{s} ({s})" in text


# --------------------------------------------------------------------------- label matching


def _composite(background: np.ndarray, text: str, x: int, y: int, height: int) -> np.ndarray:
    """Gray frame with the label alpha-composited at (x, y), as the Producer draws it."""
    img = Image.fromarray(background).convert("RGBA")
    img.alpha_composite(disclosure_label(text, height), (x, y))
    return np.asarray(img.convert("L"))


@pytest.fixture
def background() -> np.ndarray:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, size=(60, 200), dtype=np.uint8)
    # Smooth, busy scenery: what a translucent label usually sits on.
    return np.asarray(Image.fromarray(noise).filter(ImageFilter.GaussianBlur(3)))


@pytest.mark.parametrize("height", [360, 720, 1920])
def test_label_is_found_over_a_busy_background(background: np.ndarray, height: int) -> None:
    tpl = LabelTemplate.for_text("AI-generated", height)
    bg = np.asarray(Image.fromarray(background).resize((tpl.width + 20, tpl.height + 20)))
    frame = _composite(bg, "AI-generated", 10, 10, height)
    m = tpl.match(frame, 10, 10)
    assert m.found(0.8, 0.5)
    assert m.correlation > 0.95


def test_label_survives_blur(background: np.ndarray) -> None:
    """Compression softens text edges; the label must still be recognized."""
    tpl = LabelTemplate.for_text("AI-generated", 720)
    frame = _composite(background, "AI-generated", 20, 10, 720)
    blurred = np.asarray(Image.fromarray(frame).filter(ImageFilter.GaussianBlur(1.0)))
    assert tpl.match(blurred, 20, 10).found(0.8, 0.5)


@pytest.mark.parametrize(
    "case", ["absent", "other_text", "uniform", "shifted_far", "black_box_only"]
)
def test_wrong_or_missing_label_is_not_found(background: np.ndarray, case: str) -> None:
    tpl = LabelTemplate.for_text("AI-generated", 720)
    frame = background
    if case == "other_text":
        frame = _composite(background, "Sponsored ad", 20, 10, 720)
    elif case == "uniform":
        frame = np.full_like(background, 128)
    elif case == "shifted_far":
        frame = _composite(background, "AI-generated", 26, 10, 720)
    elif case == "black_box_only":
        frame = background.copy()
        frame[10 : 10 + tpl.height, 20 : 20 + tpl.width] = 20
    m = tpl.match(frame, 20, 10, search=2)
    assert not m.found(0.8, 0.5), m


def test_label_search_tolerates_small_offsets(background: np.ndarray) -> None:
    tpl = LabelTemplate.for_text("AI-generated", 720)
    frame = _composite(background, "AI-generated", 22, 9, 720)
    assert not tpl.match(frame, 20, 10).found(0.8, 0.5)
    best = tpl.match(frame, 20, 10, search=2)
    assert (best.dx, best.dy) == (2, -1)
    assert best.correlation > 0.95
    # With thresholds the search stops at the nearest offset that is good enough.
    first = tpl.match(frame, 20, 10, search=2, min_correlation=0.8, min_contrast=0.5)
    assert first.found(0.8, 0.5)
    assert abs(first.dx - 2) + abs(first.dy + 1) <= 1


def test_label_partly_outside_the_crop_is_not_found(background: np.ndarray) -> None:
    tpl = LabelTemplate.for_text("AI-generated", 720)
    assert tpl.match(background[:20], 20, 10, search=2) == LabelMatch(0.0, 0.0)
