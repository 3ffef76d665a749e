"""Integration-quality checks: thresholds, evidence, and how they enter the decision."""

from __future__ import annotations

import numpy as np
import pytest

from adloom.domain import Box, CutQuality, IntegrationQuality
from adloom.verifier.checks import CheckContext
from adloom.verifier.integration import (
    CHECKS,
    IntegrationCheckContext,
    IntegrationOptions,
    compare,
    continuity,
    loudness,
    share,
)


def _cut(t: float, dist: float = 0.05, jump: float = 3.0, db: float = 1.0) -> CutQuality:
    return CutQuality(
        time_s=t, colour_distance=dist, luma_jump=jump, loudness_jump_db=db, continuity=0.95
    )


def _ctx(q: IntegrationQuality) -> IntegrationCheckContext:
    ctx = IntegrationCheckContext.__new__(IntegrationCheckContext)
    ctx.config, ctx.integration = None, q
    return ctx


def _quality(**cut_out: float) -> IntegrationQuality:
    return IntegrationQuality(
        cut_in=_cut(4.0),
        cut_out=_cut(9.0, **cut_out),
        segment_duration_s=5.0,
        woven_duration_s=20.0,
        share=0.25,
    )


def test_clean_integration_passes_every_check() -> None:
    ctx = _ctx(_quality())
    for c in CHECKS:
        finding = c(ctx)
        assert finding.result.passed, finding.result.message
        assert finding.result.track == "utility"


@pytest.mark.parametrize(
    ("check", "quality", "message", "severity"),
    [
        (continuity, _quality(dist=0.6), "visible cut out at 9.00s: colour distance 0.60", "minor"),
        (continuity, _quality(jump=80.0), "luma jump 80", "minor"),
        (loudness, _quality(db=14.0), "level jumps 14.0 dB at the cut out (9.00s)", "minor"),
        (
            share,
            _quality().model_copy(update={"share": 0.5}),
            "the segment is 50% of the woven video (max 30%)",
            "major",
        ),
    ],
)
def test_failures_are_localized(
    check: object, quality: IntegrationQuality, message: str, severity: str
) -> None:
    finding = check(_ctx(quality))  # type: ignore[operator]
    assert not finding.result.passed
    assert finding.result.severity == severity
    assert any(message in e.message for e in finding.evidence)
    if check is not share:
        assert finding.evidence[0].start_s == 9.0


def test_without_a_measurement_the_check_fails_closed() -> None:
    ctx = CheckContext.__new__(CheckContext)
    ctx.config = None
    finding = continuity(ctx)
    assert not finding.result.passed
    assert finding.result.severity == "critical"


def test_options_tighten_thresholds() -> None:
    ctx = _ctx(_quality(db=3.0))

    class Cfg:
        integration = IntegrationOptions(max_loudness_jump_db=2.0)

    ctx.config = Cfg()  # type: ignore[assignment]
    assert not loudness(ctx).result.passed


def test_compare_pictures() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)
    assert compare(a, a) == (0.0, 0.0, 1.0)
    black = np.zeros_like(a)
    dist, jump, cont = compare(a, black)
    assert dist > 0.9
    assert jump > 100
    assert cont < 0.1
    # A box drawn on purpose (the label) is left out.
    b = a.copy()
    b[0:10, 0:20] = 0
    assert compare(a, b, Box(x=0, y=0, w=20, h=10))[2] == 1.0
    assert compare(a, b)[2] < 1.0
