"""The revise loop end to end: real renders, the basic Verifier, flawed creatives repaired.

One clean creative is rendered per module (with a scene cache, so revisions re-encode only
the scenes they change); each test breaks a copy of it the way things go wrong in
production and lets the loop repair it, or refuse to.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from reflector_sample import Sample

from adloom.domain import Campaign, Creative, CreativePlan, GroundedText, Verdict
from adloom.errors import AdloomError
from adloom.grounding import grounding_problem
from adloom.io import sha256_file
from adloom.producer.base import Renderer
from adloom.producer.ffmpeg import ffmpeg_exe
from adloom.producer.template import TemplateRenderer, TemplateRendererConfig
from adloom.reflector.loop import Refined, badness, refine, takes_fresh_scenes
from adloom.reflector.rules import RuleReflector
from adloom.verifier.basic import BasicVerifier, BasicVerifierConfig
from adloom.verifier.checks import DEFAULT_CHECKS

INVENTED = "Lasts ten years, no matter what"


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> TemplateRenderer:
    cache = tmp_path_factory.mktemp("scene-cache")
    return TemplateRenderer(TemplateRendererConfig(scene_cache=cache))


@pytest.fixture(scope="module")
def clean(
    sample: Sample, renderer: TemplateRenderer, tmp_path_factory: pytest.TempPathFactory
) -> Creative:
    folder = tmp_path_factory.mktemp("clean")
    return renderer.render(sample.plan, sample.campaign, folder / "creative.mp4")


def verify(
    sample: Sample, creative: Creative, plan: CreativePlan, verifier: BasicVerifier | None = None
) -> Verdict:
    return (verifier or BasicVerifier()).verify(
        creative, plan, sample.campaign, sample.profile, reference=sample.generic
    )


def run(
    sample: Sample,
    plan: CreativePlan,
    creative: Creative,
    out: Path,
    renderer: Renderer,
    *,
    verifier: BasicVerifier | None = None,
    max_rounds: int = 3,
) -> Refined:
    verifier = verifier or BasicVerifier()
    return refine(
        plan,
        creative,
        verify(sample, creative, plan, verifier),
        campaign=sample.campaign,
        renderer=renderer,
        verifier=verifier,
        reflector=RuleReflector(),
        out_path=out,
        profile=sample.profile,
        reference=sample.generic,
        max_rounds=max_rounds,
    )


def with_invented_claim(plan: CreativePlan) -> CreativePlan:
    """The plan with an unverified claim where the proof scene's caption was."""
    scenes = [s.model_copy(deep=True) for s in plan.scenes]
    scenes[3].on_screen_text = GroundedText(text=INVENTED, source="claim", source_id="tb-warranty")
    return plan.model_copy(update={"scenes": scenes})


def paint_over_label(creative: Creative, dest: Path) -> Creative:
    """Re-encode ``creative`` with a box painted over its AI-generated label on every
    frame, keeping the container's tags, as a faulty Producer might publish it."""
    b = creative.disclosure_box
    box = f"drawbox=x={b.x - 4}:y={b.y - 4}:w={b.w + 8}:h={b.h + 8}:color=gray:t=fill"
    cmd = [
        ffmpeg_exe(), "-v", "error", "-y", "-i", creative.path, "-vf", box,
        "-c:v", "libx264", "-preset", "ultrafast", "-an",
        "-map_metadata", "0", "-movflags", "+use_metadata_tags", str(dest),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return creative.model_copy(update={"path": str(dest), "sha256": sha256_file(dest)})


def test_an_invented_claim_is_recaptioned_and_accepted(
    sample: Sample, clean: Creative, renderer: TemplateRenderer, tmp_path: Path
) -> None:
    plan = with_invented_claim(sample.plan)
    out = tmp_path / "creative.mp4"
    # As the pipeline makes them: the thumbnail beside the video is kept in step.
    given = clean.model_copy(update={"thumbnail": str(tmp_path / "thumbnail.png")})
    done = run(sample, plan, given, out, renderer)
    r0, r1 = done.result.rounds
    assert (r0.decision, r1.decision) == ("reject", "accept")
    assert "grounding" in r0.failed_checks
    assert [(d.action, d.scene_index) for d in r0.directives] == [
        ("drop_claim", 3),
        ("rerender", 3),
    ]
    assert r0.render_s == 0.0  # round 0 is the creative the loop was given
    # Only the revised scene (and the one sliding in after it) is encoded again.
    assert r1.rerendered_scenes is not None
    assert 3 in r1.rerendered_scenes
    assert len(r1.rerendered_scenes) < len(plan.scenes)
    assert r1.render_s > 0
    assert (done.result.stopped, done.result.final_decision) == ("accepted", "accept")
    assert done.result.plan_id == done.plan.plan_id == sample.plan.plan_id + ".r1"
    assert done.verdict.decision == "accept"
    caption = done.plan.scenes[3].on_screen_text
    assert caption is not None
    assert caption.text != INVENTED
    product = sample.campaign.product(plan.product_id)
    for _, _, g in done.plan.texts():
        assert grounding_problem(g, product, [i.label for i in sample.profile.interests]) is None
    assert Path(done.creative.path) == out
    assert sha256_file(out) == done.creative.sha256
    assert done.creative.thumbnail == str(tmp_path / "thumbnail.png")
    # The revised creative and its thumbnail, and no round files left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["creative.mp4", "thumbnail.png"]


def test_a_painted_over_label_is_rendered_again(
    sample: Sample, clean: Creative, renderer: TemplateRenderer, tmp_path: Path
) -> None:
    damaged = paint_over_label(clean, tmp_path / "damaged.mp4")
    out = tmp_path / "fixed.mp4"
    done = run(sample, sample.plan, damaged, out, renderer)
    r0, r1 = done.result.rounds
    assert r0.decision == "reject"
    assert r0.failed_checks == ["disclosure_label"]
    assert [(d.target, d.action, d.scene_index) for d in r0.directives] == [
        ("producer", "rerender", None)
    ]
    assert r1.rerendered_scenes is None  # every scene encoded anew, not taken from cache
    assert (r1.decision, done.result.stopped) == ("accept", "accepted")
    assert done.verdict.check("disclosure_label").score == 1.0
    assert done.plan.scenes == sample.plan.scenes
    assert Path(done.creative.path) == out


def test_an_identity_mismatch_stops_at_once(
    sample: Sample, clean: Creative, renderer: TemplateRenderer, tmp_path: Path
) -> None:
    stranger = clean.model_copy(update={"plan_id": "someone-elses-plan"})
    done = run(sample, sample.plan, stranger, tmp_path / "never.mp4", renderer)
    [r0] = done.result.rounds
    assert (r0.decision, r0.failed_checks, r0.directives) == ("reject", ["identity"], [])
    assert (done.result.stopped, done.result.final_decision) == ("rejected", "reject")
    assert done.creative == stranger
    assert list(tmp_path.iterdir()) == []


class PlainRenderer(Renderer):
    """A renderer written before selective re-rendering: no ``fresh_scenes`` argument."""

    name = "plain"

    def __init__(self, inner: TemplateRenderer) -> None:
        self.inner = inner
        self.calls = 0

    def render(  # type: ignore[override]
        self,
        plan: CreativePlan,
        campaign: Campaign,
        out_path: Path,
        *,
        thumbnail_path: Path | None = None,
    ) -> Creative:
        self.calls += 1
        creative = self.inner.render(plan, campaign, out_path, thumbnail_path=thumbnail_path)
        return creative.model_copy(update={"render_stats": None})


def test_no_progress_stops_after_one_wasted_render(
    sample: Sample, clean: Creative, renderer: TemplateRenderer, tmp_path: Path
) -> None:
    """A verifier that calls every frame frozen cannot be satisfied by re-rendering."""
    strict = BasicVerifier(BasicVerifierConfig(frozen_diff=255.0))
    plain = PlainRenderer(renderer)
    assert not takes_fresh_scenes(plain)
    assert takes_fresh_scenes(renderer)
    done = run(sample, sample.plan, clean, tmp_path / "out.mp4", plain, verifier=strict)
    r0, r1 = done.result.rounds
    assert r0.failed_checks == r1.failed_checks == ["frozen"]
    assert {d.action for d in r0.directives} == {"rerender"}
    assert r1.directives == []  # stopped before reflecting again
    assert r1.rerendered_scenes is None
    assert (done.result.stopped, done.result.final_decision) == ("no_progress", "revise")
    assert plain.calls == 1
    # Nothing better came of it: the creative given is kept, the round file removed.
    assert done.creative == clean
    assert done.plan == sample.plan
    assert list(tmp_path.iterdir()) == []


def test_max_rounds_zero_records_the_proposal_without_rendering(
    sample: Sample, clean: Creative, renderer: TemplateRenderer, tmp_path: Path
) -> None:
    plan = with_invented_claim(sample.plan)
    done = run(sample, plan, clean, tmp_path / "out.mp4", renderer, max_rounds=0)
    [r0] = done.result.rounds
    assert [d.action for d in r0.directives] == ["drop_claim", "rerender"]
    assert (done.result.stopped, done.result.final_decision) == ("max_rounds", "reject")
    assert list(tmp_path.iterdir()) == []


def test_negative_max_rounds_is_refused(
    sample: Sample, clean: Creative, renderer: TemplateRenderer, tmp_path: Path
) -> None:
    verdict = Verdict(
        creative_id=clean.creative_id, plan_id=sample.plan.plan_id, decision="revise",
        checks=[], rationale="",
    )  # fmt: skip
    with pytest.raises(AdloomError, match="max_rounds: must be 0 or more, got -1"):
        refine(
            sample.plan, clean, verdict, campaign=sample.campaign, renderer=renderer,
            verifier=BasicVerifier(), reflector=RuleReflector(), out_path=tmp_path / "out.mp4",
            max_rounds=-1,
        )  # fmt: skip


def test_badness_orders_verdicts_and_an_accepted_creative_is_left_alone(
    sample: Sample, clean: Creative, renderer: TemplateRenderer, tmp_path: Path
) -> None:
    good = verify(sample, clean, sample.plan)
    done = refine(
        sample.plan, clean, good, campaign=sample.campaign, renderer=renderer,
        verifier=BasicVerifier(), reflector=RuleReflector(), out_path=tmp_path / "out.mp4",
    )  # fmt: skip
    assert (done.result.stopped, len(done.result.rounds), done.creative) == ("accepted", 1, clean)
    bad = verify(sample, clean, with_invented_claim(sample.plan))
    assert badness(good) == (0, 0, 0, 0, 0)
    assert badness(bad) > badness(good)
    assert badness(bad)[:2] == (2, 1)  # rejected, one critical check


def test_a_long_hook_is_retimed_and_accepted(
    sample: Sample, renderer: TemplateRenderer, tmp_path: Path
) -> None:
    quality = pytest.importorskip("adloom.verifier.quality")
    pacing = next(c for c in quality.CHECKS if c.name == "pacing")
    verifier = BasicVerifier(checks=(*DEFAULT_CHECKS, pacing))
    rest = (sample.plan.context.duration_s - 5.0) / (len(sample.plan.scenes) - 1)
    scenes = [
        s.model_copy(
            update={
                "start_s": 0.0 if s.index == 0 else 5.0 + (s.index - 1) * rest,
                "duration_s": 5.0 if s.index == 0 else rest,
            }
        )
        for s in sample.plan.scenes
    ]
    plan = CreativePlan.model_validate({**sample.plan.model_dump(), "scenes": scenes})
    creative = renderer.render(plan, sample.campaign, tmp_path / "long.mp4")
    done = run(sample, plan, creative, tmp_path / "out.mp4", renderer, verifier=verifier)
    r0 = done.result.rounds[0]
    assert "pacing" in r0.failed_checks
    assert ("retime", 0) in [(d.action, d.scene_index) for d in r0.directives]
    assert done.result.stopped == "accepted"
    assert done.plan.scenes[0].duration_s == 2.0
    assert sum(s.duration_s for s in done.plan.scenes) == pytest.approx(10.0)
