"""Quality and pacing checks: the metrics on known arrays, adloom's own template renders
(which must pass), and short videos with real defects (which must not)."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from pydantic import ValidationError
from verifier_media import make_creative, make_plan, profile

from adloom.demo import load_sample, sample_dir
from adloom.director.embeddings import HashingEmbedder
from adloom.director.template import TemplatePlanner
from adloom.domain import (
    Box,
    Campaign,
    CheckResult,
    Context,
    Creative,
    CreativePlan,
    UserProfile,
    Verdict,
)
from adloom.errors import MissingExtraError
from adloom.verifier import quality
from adloom.verifier.basic import BasicVerifier, BasicVerifierConfig
from adloom.verifier.checks import DEFAULT_CHECKS, CheckContext, Problem, Thresholds
from adloom.verifier.quality import (
    CHECKS,
    SECTION,
    MotionProfile,
    QualityOptions,
    colourfulness,
    edge_balance,
    exposure,
    flow_speed,
    interpolation_error_map,
    judged,
    laplacian_variance,
    motion_profile,
    noise_sigma,
    optical_flow,
    read_time,
    rms_contrast,
    sharpness,
    text_contrast,
    words,
)


def _producer_plans() -> ModuleType:
    """The Producer tests' plan builder (its folder is on sys.path only for those tests)."""
    if "producer_plans" not in sys.modules:
        path = Path(__file__).parents[1] / "producer" / "producer_plans.py"
        spec = importlib.util.spec_from_file_location("producer_plans", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["producer_plans"] = module
        spec.loader.exec_module(module)
    return sys.modules["producer_plans"]


needs_cv2 = pytest.mark.skipif(
    importlib.util.find_spec("cv2") is None, reason="motion checks need adloom[vision]"
)
NAMES = {c.name for c in CHECKS}


def _blurred(img: np.ndarray, radius: float) -> np.ndarray:
    out = Image.fromarray(img.astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(out, dtype=np.float32)


@pytest.fixture(scope="module")
def pattern() -> np.ndarray:
    """Crisp shapes on a soft background: edges a blur visibly softens (luma, 240x320)."""
    rng = np.random.default_rng(1)
    img = Image.new("L", (320, 240), 90)
    d = ImageDraw.Draw(img)
    for _ in range(40):
        x, y, r = rng.uniform(0, 320), rng.uniform(0, 240), rng.uniform(4, 24)
        d.rectangle((x - r, y - r, x + r, y + r), fill=int(rng.integers(0, 256)))
    return np.asarray(img, dtype=np.float32)


# --------------------------------------------------------------------------- metrics


def test_blur_lowers_sharpness_monotonically(pattern: np.ndarray) -> None:
    radii = [0, 0.5, 1, 2, 4]
    lap = [laplacian_variance(_blurred(pattern, r)) for r in radii]
    sharp = [sharpness(_blurred(pattern, r)) for r in radii]
    assert all(a > b for a, b in itertools.pairwise(lap)), lap
    assert all(s is not None for s in sharp)
    values = [s for s in sharp if s is not None]
    assert all(a > b for a, b in itertools.pairwise(values)), values
    assert values[0] > 3 * QualityOptions().min_sharpness
    assert values[-1] < QualityOptions().min_sharpness


def test_sharpness_ignores_contrast_but_not_detail(pattern: np.ndarray) -> None:
    """A dim, low-contrast picture is not a blurry one."""
    faint = 100 + (pattern - pattern.mean()) * 0.25
    assert laplacian_variance(faint) == pytest.approx(laplacian_variance(pattern) / 16, rel=1e-3)
    sharp, dim = sharpness(pattern), sharpness(faint)
    assert sharp is not None
    assert dim is not None
    assert dim == pytest.approx(sharp, rel=1e-3)
    assert sharpness(np.full((50, 50), 128.0, dtype=np.float32)) is None
    assert sharpness(np.zeros((2, 2), dtype=np.float32)) is None


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0])
def test_noise_sigma_recovers_added_noise(pattern: np.ndarray, sigma: float) -> None:
    rng = np.random.default_rng(3)
    smooth = _blurred(pattern, 6)
    assert noise_sigma(smooth) < 0.3
    noisy = smooth + rng.normal(0, sigma, smooth.shape).astype(np.float32)
    assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.15)


def test_exposure_reads_both_ends() -> None:
    y = np.concatenate([np.zeros(300), np.full(500, 128.0), np.full(200, 255.0)])
    ex = exposure(y.astype(np.float32).reshape(10, 100))
    assert ex.mean == pytest.approx((500 * 128 + 200 * 255) / 1000)
    assert ex.shadows == pytest.approx(0.3)
    assert ex.highlights == pytest.approx(0.2)
    assert (ex.low, ex.high) == (0.0, 255.0)


def test_rms_contrast_and_colourfulness() -> None:
    halves = np.zeros((10, 10), dtype=np.float32)
    halves[:, 5:] = 255
    assert rms_contrast(halves) == pytest.approx(0.5)
    assert rms_contrast(np.full((10, 10), 77.0, dtype=np.float32)) == pytest.approx(0.0, abs=1e-6)
    grey = np.full((8, 8, 3), 128, dtype=np.uint8)
    assert colourfulness(grey) == 0.0
    red_blue = np.zeros((8, 8, 3), dtype=np.uint8)
    red_blue[:, :4, 0] = 255
    red_blue[:, 4:, 2] = 255
    # rg = R-G is 255 | 0, yb = (R+G)/2-B is 127.5 | -255, so the spread and mean are:
    spread = math.hypot(127.5, 191.25)
    offset = math.hypot(127.5, 63.75)
    assert colourfulness(red_blue) == pytest.approx(spread + 0.3 * offset, rel=1e-4)
    muted = (red_blue * 0.2 + 100).astype(np.uint8)
    assert 0 < colourfulness(muted) < colourfulness(red_blue)


def test_edge_balance_follows_where_the_detail_is() -> None:
    def square(x: int, y: int) -> np.ndarray:
        img = np.full((90, 160), 40.0, dtype=np.float32)
        img[y : y + 20, x : x + 20] = 220
        return img

    centred, corner = edge_balance(square(70, 35)), edge_balance(square(2, 2))
    assert centred > 0.95
    assert corner < 0.35
    assert edge_balance(np.full((90, 160), 40.0, dtype=np.float32)) == 0.0


def test_text_contrast_is_the_wcag_ratio() -> None:
    box = np.full((20, 60, 3), 255, dtype=np.uint8)
    box[5:15, 10:50:4] = 0  # black strokes on white
    assert text_contrast(box) == pytest.approx(21.0)
    grey = np.full((20, 60, 3), 120, dtype=np.uint8)
    grey[5:15, 10:50:4] = 135
    assert 1.0 < text_contrast(grey) < 1.5
    assert text_contrast(np.zeros((0, 0, 3), dtype=np.uint8)) == 1.0


@needs_cv2
def test_interpolation_error_tells_steady_motion_from_a_doubled_frame(
    pattern: np.ndarray,
) -> None:
    soft = _blurred(pattern, 1.5)  # video is band-limited; razor edges are not
    a, m, b = (soft[:, 3 * k : 3 * k + 200].astype(np.uint8) for k in range(3))
    flow = optical_flow(a, b)
    moving = flow[..., 0][np.abs(flow[..., 0]) > 2]  # flat areas show no motion
    assert np.median(moving) == pytest.approx(-6.0, abs=0.5)  # content moves 6 px left
    steady = interpolation_error_map(a, m, b, flow).mean()
    doubled = interpolation_error_map(a, a, b, flow).mean()
    in_place = interpolation_error_map(a, m, b, np.zeros_like(flow)).mean()
    assert steady < 1.5
    assert doubled > 4 * steady
    assert in_place > 2 * steady  # following the flow beats averaging in place


def test_flow_speed_reads_the_fastest_part() -> None:
    flow = np.zeros((20, 20, 2), dtype=np.float32)
    flow[:2, :10] = (3.0, 4.0)  # 5% of the picture moves 5 px
    assert flow_speed(flow, 0.5, 100) == pytest.approx(5 / 0.5 / 100)
    assert flow_speed(np.zeros((20, 20, 2), np.float32), 0.5, 100) == 0.0
    assert flow_speed(flow, 0.0, 100) == 0.0


def test_judged_skips_boundaries_and_transitions(campaign: Campaign) -> None:
    plan = make_plan(campaign, duration=5.0)  # boundaries at 1.5, 3.0 and 4.0 s
    times = np.round(np.arange(1, 50) * 0.1, 1)
    prof = MotionProfile(
        times=times,
        spans=np.stack([times - 0.1, times + 0.1], axis=1),
        error=np.zeros(len(times)),
        speed=np.zeros(len(times)),
    )
    skipped = set(times[~judged(prof, plan, transition_s=0.4)].tolist())
    # A sample is skipped when its frames (t - 0.1 .. t + 0.1) reach within half a sample
    # of a boundary b, or into the transition that follows it (b .. b + 0.4).
    expected = {round(b + 0.1 * k, 1) for b in (1.4, 2.9, 3.9) for k in range(7)}
    assert skipped == expected
    assert judged(prof, plan, transition_s=10.0).sum() == len([t for t in times if t < 1.4])


@pytest.mark.parametrize(
    ("text", "count", "seconds"),
    [
        ("Shop now", 2, 0.6 + 2 / 3),
        ("Only 480 g per boot", 5, 0.6 + 5 / 3),
        ("  spaced   out  ", 2, 0.6 + 2 / 3),
        ("冬季登山装备推荐", 4, 0.6 + 4 / 3),
        ("Made for 登山", 3, 0.6 + 3 / 3),
    ],
)
def test_words_and_read_time(text: str, count: int, seconds: float) -> None:
    assert words(text) == count
    assert read_time(text, 0.6, 3.0) == pytest.approx(seconds)


# --------------------------------------------------------------------------- options


def test_checks_and_options_are_exported_for_the_full_verifier() -> None:
    assert [c.name for c in CHECKS] == [
        "motion_smoothness",
        "dynamic_degree",
        "imaging_quality",
        "aesthetics",
        "pacing",
    ]
    assert {c.track for c in CHECKS} == {"utility"}
    assert [c.name for c in CHECKS if not c.needs_video] == ["pacing"]
    assert SECTION == "quality"
    for name, field in QualityOptions.model_fields.items():
        assert field.description, name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"jerk_error": 0}, "jerk_error\n  Input should be greater than 0"),
        ({"transition_s": -0.1}, "transition_s\n  Input should be greater than or equal to 0"),
        ({"min_moving_share": 1.5}, "min_moving_share\n  Input should be less than or equal"),
        ({"major_factor": 1.0}, "major_factor\n  Input should be greater than 1"),
        ({"flow_size": 8}, "flow_size\n  Input should be greater than or equal to 32"),
        ({"max_hook": 2.0}, "max_hook\n  Extra inputs are not permitted"),
    ],
)
def test_bad_options_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        QualityOptions.model_validate(data)


class QualityConfig(BasicVerifierConfig):
    """A verifier config carrying the quality section, as the full verifier nests it."""

    quality: QualityOptions = QualityOptions()


# --------------------------------------------------------------------------- pacing


def _retimed(plan: CreativePlan, durations: list[float]) -> CreativePlan:
    start, scenes = 0.0, []
    for scene, seconds in zip(plan.scenes, durations, strict=True):
        scenes.append(scene.model_copy(update={"start_s": start, "duration_s": seconds}))
        start += seconds
    return CreativePlan.model_validate({**plan.model_dump(), "scenes": scenes})


def _pacing_ctx(plan: CreativePlan, campaign: Campaign, tmp_path: Path) -> CheckContext:
    return CheckContext(
        creative=make_creative(plan, tmp_path / "unrendered.mp4"),
        plan=plan,
        campaign=campaign,
        profile=None,
        limits=Thresholds(),
    )


# Scenes of make_plan(duration=10): hook "Made for hiking", product "Waterproof membrane"
# with narration "Go further, stay dry", proof "Only 480 g per boot", cta "Every trail,
# every weather" plus the CTA "Shop now".
@pytest.mark.parametrize(
    ("durations", "failures"),
    [
        ([3, 3, 2, 2], []),
        (
            [5, 2, 2, 1],
            [
                ("major", 0, "scene 0 (hook) lasts 5s: shorten it to 3s at most"),
                ("minor", 3, "scene 3 on_screen_text: 4 words need 1.3s to skim, shown 1s"),
            ],
        ),
        (
            [2.5, 2.5, 1.2, 3.8],
            [("minor", 2, "scene 2 on_screen_text: 5 words need 1.4s to skim, shown 1.2s")],
        ),
        (
            [3, 3, 3.6, 0.4],
            [
                ("major", 3, "scene 3 (cta) lasts 0.4s (min 1s)"),
                ("major", 3, "scene 3 on_screen_text: 4 words need 1.3s to skim, shown 0.4s"),
                ("major", 3, "cta: 2 words need 0.9s to skim, shown 0.4s"),
            ],
        ),
        (
            [3, 3, 3.2, 0.8],
            [
                ("minor", 3, "scene 3 (cta) lasts 0.8s (min 1s)"),
                ("minor", 3, "scene 3 on_screen_text: 4 words need 1.3s to skim, shown 0.8s"),
                ("minor", 3, "cta: 2 words need 0.9s to skim, shown 0.8s"),
            ],
        ),
    ],
)
def test_pacing_flags_each_timing_problem(
    campaign: Campaign,
    tmp_path: Path,
    durations: list[float],
    failures: list[tuple[str, int, str]],
) -> None:
    plan = _retimed(make_plan(campaign, duration=10.0), durations)
    ctx = _pacing_ctx(plan, campaign, tmp_path)
    problems = quality.pacing.fn(ctx).problems
    failing = [(p.severity, p.scene_index, p.message) for p in problems if p.severity != "info"]
    assert failing == failures
    for p in problems:
        scene = plan.scenes[p.scene_index if p.scene_index is not None else -1]
        assert (p.start_s, p.end_s) == (scene.start_s, scene.end_s)
    result = quality.pacing(ctx).result
    assert result.passed == (not failures)
    judged_items = len(plan.scenes) + len(plan.texts())
    assert result.score == pytest.approx(1 - len(failures) / judged_items)
    if failures:
        assert result.severity == max((f[0] for f in failures), key=["minor", "major"].index)


def test_pacing_reports_tight_copy_as_evidence_only(campaign: Campaign, tmp_path: Path) -> None:
    plan = make_plan(campaign, duration=10.0)  # "Only 480 g per boot" gets 2 s
    finding = quality.pacing(_pacing_ctx(plan, campaign, tmp_path))
    assert finding.result.passed
    assert finding.result.message == "4 scenes, hook 3s, every string readable"
    assert [(e.scene_index, e.text) for e in finding.evidence] == [(2, "Only 480 g per boot")]
    assert "read comfortably in 2.3s, shown 2s" in finding.evidence[0].message


def test_pacing_reads_a_repeated_caption_once(campaign: Campaign, tmp_path: Path) -> None:
    plan = make_plan(campaign, duration=6.0)
    hook = plan.scenes[0]
    echoed = hook.model_copy(update={"narration": hook.on_screen_text})
    plan = plan.model_copy(update={"scenes": [echoed, *plan.scenes[1:]]})
    long_hook = _retimed(plan, [0.9, 2.1, 1.5, 1.5])
    problems = quality.pacing.fn(_pacing_ctx(long_hook, campaign, tmp_path)).problems
    assert [p.message for p in problems if p.scene_index == 0] == [
        "scene 0 (hook) lasts 0.9s (min 1s)",
        "scene 0 on_screen_text: 3 words need 1.1s to skim, shown 0.9s",
    ]


def test_pacing_options_come_from_the_config_section(campaign: Campaign, tmp_path: Path) -> None:
    plan = make_plan(campaign, duration=10.0)
    ctx = _pacing_ctx(plan, campaign, tmp_path)
    assert quality.pacing(ctx).result.passed
    ctx.config = QualityConfig(quality=QualityOptions(max_hook_s=2.0, skim_wps=2.0))
    result = quality.pacing(ctx).result
    assert not result.passed
    assert result.message.startswith("scene 0 (hook) lasts 3s: shorten it to 2s at most; ")
    assert "scene 2 on_screen_text: 5 words need 3.1s to skim, shown 2s" in result.message


def test_one_second_scenes_with_four_word_copy_are_too_fast(
    campaign: Campaign, tmp_path: Path
) -> None:
    """The Producer tests' default plan packs five scenes into 5 s: 1 s per string of up
    to five words, faster than anyone skims. Given 2 s per scene, it reads fine."""
    make = _producer_plans().make_plan
    fast = make(campaign)
    problems = quality.pacing.fn(_pacing_ctx(fast, campaign, tmp_path)).problems
    failing = [p for p in problems if p.severity != "info"]
    assert {p.scene_index for p in failing} == {0, 2, 3, 4}
    assert {p.severity for p in failing} == {"minor"}
    assert "scene 3 on_screen_text: 5 words need 1.4s to skim, shown 1s" in [
        p.message for p in failing
    ]
    slow = make(campaign, duration_s=10.0)
    assert quality.pacing(_pacing_ctx(slow, campaign, tmp_path)).result.passed


def test_pacing_passes_every_plan_the_director_writes() -> None:
    """The Director's 2-3 s slots and copy limits must never be flagged by pacing."""
    sample, users = load_sample()
    planner = TemplatePlanner(embedder=HashingEmbedder())
    contexts = [
        Context(aspect_ratio=aspect, duration_s=seconds)
        for aspect in ("16:9", "9:16")
        for seconds in (5.0, 6.0, 10.0, 15.0, 30.0)
    ]
    plans = planner.plan_batch(sample, users, contexts=contexts)
    plans += [planner.plan(sample, p, c) for p in sample.products for c in contexts]
    assert len({p.plan_id for p in plans}) == len(plans)
    for plan in plans:
        ctx = CheckContext(
            creative=make_creative(plan, Path("unrendered.mp4")),
            plan=plan,
            campaign=sample,
            profile=None,
            limits=Thresholds(),
        )
        result = quality.pacing(ctx).result
        assert result.passed, (plan.plan_id, result.message)


# --------------------------------------------------------------------------- defect videos

W, H, FPS = 640, 360, 25
#: Pan speed of the test scenery, px per frame.
SPEED = 2
#: Where the motion defects are: frames 50-79 (2.0-3.2 s), inside scenes 1 and 2.
DEFECT = range(50, 80)


def _scenery(frames: int, margin: int) -> np.ndarray:
    """A strip of crisp shapes on a soft colour field, wide enough to pan across."""
    rng = np.random.default_rng(3)
    w, h = W + frames * SPEED + 2 * margin, H + 2 * margin
    field = rng.integers(0, 256, size=(h // 16, w // 16, 3), dtype=np.uint8)
    img = Image.fromarray(field).resize((w, h), Image.Resampling.BICUBIC)
    img = img.filter(ImageFilter.GaussianBlur(4))
    d = ImageDraw.Draw(img)
    for _ in range(w // 10):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(6, 30)
        d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return np.asarray(img)


def _timeline(kind: str, n: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Which scenery position each frame shows, and its shake offset (dx, dy)."""
    index, shake = list(range(n)), [(0, 0)] * n
    rng = np.random.default_rng(5)
    if kind == "stutter":  # 6 fps judder: every 4th frame held for 4
        index = [i - i % 4 if i in DEFECT else i for i in index]
    elif kind == "drop":  # a hitch: held for 6 frames, then a jump
        index = [DEFECT[0] if DEFECT[0] <= i < DEFECT[0] + 6 else i for i in index]
    elif kind == "jitter":  # camera shake
        shake = [
            (int(rng.integers(-6, 7)), int(rng.integers(-6, 7))) if i in DEFECT else (0, 0)
            for i in index
        ]
    elif kind == "static":
        index = [0] * n
    elif kind == "static_hook":  # still until the first cut at 1.5 s
        index = [0 if i < 1.5 * FPS else i for i in index]
    return index, shake


#: Picture defects: a function applied to every RGB frame.
TONES: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "blur": lambda f, _: np.asarray(Image.fromarray(f).filter(ImageFilter.GaussianBlur(4))),
    "noise": lambda f, rng: np.clip(f + rng.normal(0, 25, f.shape), 0, 255),
    "dark": lambda f, _: f * 0.12,
    "crushed": lambda f, _: np.clip((f.astype(np.float32) - 185) * 4, 0, 255),
    "bright": lambda f, _: np.clip(f.astype(np.float32) * 2.5 + 60, 0, 255),
    "grey": lambda f, _: 128 + (f.astype(np.float32) - 128) * 0.04,
    "flat": lambda f, _: np.full_like(f, 128),
}


def _clip(kind: str, seconds: float = 5.0) -> Iterator[np.ndarray]:
    """Frames of the named clip; picture defects are applied to a still view (the
    still checks look at one frame per scene, and a still encodes fast)."""
    n, margin = round(seconds * FPS), 8
    scenery = _scenery(n, margin)
    if kind in TONES:
        view = scenery[margin : margin + H, margin : margin + W]
        still = np.ascontiguousarray(TONES[kind](view, np.random.default_rng(11)), np.uint8)
        yield from (still for _ in range(n))
        return
    index, shake = _timeline(kind, n)
    for k, (dx, dy) in zip(index, shake, strict=True):
        x = margin + k * SPEED + dx
        yield np.ascontiguousarray(scenery[margin + dy : margin + dy + H, x : x + W])


def _encode(path: Path, frames: Iterator[np.ndarray]) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height = W, H
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23", "g": str(2 * FPS)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``clip(kind)``: a 5 s 640x360 pan with the named defect, encoded on first use."""
    folder = tmp_path_factory.mktemp("quality-clips")
    cache: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = _encode(folder / f"{kind}.mp4", _clip(kind))
        return cache[kind]

    return get


def _clip_plan(campaign: Campaign) -> CreativePlan:
    """A 5 s plan (scenes 0-1.5, 1.5-3.0, 3.0-4.0, 4.0-5.0 s) whose 1 s scenes carry a
    two-word claim, short enough to read there."""
    plan = make_plan(campaign, duration=5.0)
    short = plan.scenes[1].on_screen_text
    scenes = [
        s if s.duration_s > 1 else s.model_copy(update={"on_screen_text": short})
        for s in plan.scenes
    ]
    return plan.model_copy(update={"scenes": scenes})


def _clip_creative(plan: CreativePlan, path: Path) -> Creative:
    """The creative record of a test clip: text boxes scaled down to the clip's size."""
    creative = make_creative(plan, path, width=W, height=H)
    f = W / plan.context.size[0]
    drawn = [
        r.model_copy(
            update={
                "box": Box(
                    x=round(r.box.x * f),
                    y=round(r.box.y * f),
                    w=round(r.box.w * f),
                    h=round(r.box.h * f),
                )
            }
        )
        for r in creative.rendered_text
    ]
    return creative.model_copy(update={"rendered_text": drawn})


def _clip_context(clip: Callable[[str], Path], kind: str, campaign: Campaign) -> CheckContext:
    plan = _clip_plan(campaign)
    return BasicVerifier().context(_clip_creative(plan, clip(kind)), plan, campaign)


def _run(ctx: CheckContext, name: str) -> tuple[CheckResult, list[Problem]]:
    """A check's result and its problems (with severities) on ``ctx``."""
    chk = next(c for c in CHECKS if c.name == name)
    return chk(ctx).result, chk.fn(ctx).problems


@needs_cv2
def test_a_smooth_pan_passes_every_video_check(
    clip: Callable[[str], Path], campaign: Campaign
) -> None:
    plan = _clip_plan(campaign)
    creative = _clip_creative(plan, clip("smooth"))
    verdict = BasicVerifier(checks=CHECKS).verify(creative, plan, campaign, profile())
    assert verdict.decision == "accept", verdict.rationale
    assert {c.name: c.score for c in verdict.checks} == {
        "motion_smoothness": 1.0,
        "dynamic_degree": 1.0,
        "imaging_quality": 1.0,
        "aesthetics": pytest.approx(1.0, abs=0.05),
        "pacing": 1.0,
    }


@needs_cv2
@pytest.mark.parametrize(
    ("kind", "severity"), [("stutter", "major"), ("drop", "minor"), ("jitter", "major")]
)
def test_jerky_motion_is_found_where_it_happens(
    clip: Callable[[str], Path], campaign: Campaign, kind: str, severity: str
) -> None:
    ctx = _clip_context(clip, kind, campaign)
    result, problems = _run(ctx, "motion_smoothness")
    assert not result.passed
    assert result.severity == severity
    assert result.score < 1.0
    start, end = DEFECT[0] / FPS, DEFECT[-1] / FPS
    # The samples around the cuts at 1.5 s and 3.0 s are not judged, so the defect
    # inside scene 1 is one stretch and scene 2's share of it is not reported.
    assert len(problems) == 1
    p = problems[0]
    assert p.severity == severity
    assert p.message.startswith("jerky motion from ")
    assert p.start_s is not None
    assert p.end_s is not None
    assert p.frame is not None
    assert p.box is not None
    assert start - 0.1 <= p.start_s < p.end_s <= end + 0.1, p
    assert p.scene_index == ctx.scene_for(p.start_s, p.end_s) == 1
    assert round(p.start_s * FPS) <= p.frame <= round(p.end_s * FPS)
    assert p.box.x >= 0
    assert p.box.y >= 0
    assert p.box.x + p.box.w <= W
    assert p.box.y + p.box.h <= H
    if kind == "jitter":  # the whole picture shakes
        assert p.box.w > W / 2
        assert p.box.h > H / 2


@needs_cv2
def test_motion_is_analyzed_once_for_both_motion_checks(
    clip: Callable[[str], Path], campaign: Campaign
) -> None:
    ctx = _clip_context(clip, "smooth", campaign)
    first = motion_profile(ctx.scan)
    quality.motion_smoothness(ctx)
    quality.dynamic_degree(ctx)
    assert motion_profile(ctx.scan) is first
    assert len(first.times) == len(ctx.scan.small) - 2
    timed = first.speed[~np.isnan(first.speed)]
    assert len(timed) == math.ceil(len(first.times) / 3)
    assert (timed > QualityOptions().moving_speed).all()
    # Averaging in place cannot follow a pan; the flow can, and decides the error there.
    in_place = motion_profile(ctx.scan, gate=math.inf)
    assert (in_place.error > QualityOptions().jerk_error / 2).all()  # the default gate
    assert (first.error < in_place.error / 10).all()
    # Another scan of the same file is analyzed afresh, not mistaken for this one.
    other = dataclasses.replace(ctx.scan)
    assert motion_profile(other) is not first
    np.testing.assert_array_equal(motion_profile(other).error, first.error)


@needs_cv2
def test_a_static_creative_is_dull(clip: Callable[[str], Path], campaign: Campaign) -> None:
    ctx = _clip_context(clip, "static", campaign)
    result, problems = _run(ctx, "dynamic_degree")
    assert not result.passed
    assert (result.severity, result.score) == ("minor", 0.0)
    assert result.message.startswith("dull: 0% of ")
    assert [(p.severity, p.scene_index) for p in problems] == [("minor", i) for i in range(4)]
    for p, scene in zip(problems, ctx.plan.scenes, strict=True):
        assert p.message == f"scene {scene.index} is static: 0% of its samples move"
        assert (p.start_s, p.end_s) == (scene.start_s, scene.end_s)
        assert p.frame == ctx.frame_at(scene.start_s + scene.duration_s / 2)
    smooth, _ = _run(ctx, "motion_smoothness")
    assert smooth.passed  # nothing moves, so nothing jerks


@needs_cv2
def test_one_still_scene_is_reported_but_not_dull(
    clip: Callable[[str], Path], campaign: Campaign
) -> None:
    ctx = _clip_context(clip, "static_hook", campaign)
    result, problems = _run(ctx, "dynamic_degree")
    assert result.passed
    assert result.score == 1.0
    assert [(p.severity, p.scene_index) for p in problems] == [("info", 0)]


@pytest.mark.parametrize(
    ("kind", "severity", "message"),
    [
        # Encoder noise keeps a blurred frame's sharpness near half the minimum, so its
        # severity may fall either side of the major line; the others are clear-cut.
        ("blur", "minor|major", "blurry (sharpness 0."),
        ("noise", "major", "noisy (noise sigma "),
        ("dark", "major", "under-exposed (98th-percentile luma "),
        ("crushed", "minor", "crushed shadows ("),
        ("bright", "major", "blown highlights ("),
    ],
)
def test_imaging_defects_are_flagged_per_scene(
    clip: Callable[[str], Path], campaign: Campaign, kind: str, severity: str, message: str
) -> None:
    ctx = _clip_context(clip, kind, campaign)
    result, problems = _run(ctx, "imaging_quality")
    assert not result.passed
    assert result.severity in severity.split("|")
    assert result.score < 0.8
    assert [p.scene_index for p in problems] == [0, 1, 2, 3]
    for p, scene in zip(problems, ctx.plan.scenes, strict=True):
        assert p.message.startswith(f"scene {scene.index}: {message}"), p.message
        assert p.severity in severity.split("|")
        assert (p.start_s, p.end_s) == (scene.start_s, scene.end_s)
        assert p.frame is not None
        assert abs(p.frame - round(ctx.still_times[scene.index] * FPS)) <= 1


def test_a_clean_clip_has_good_imaging_quality(
    clip: Callable[[str], Path], campaign: Campaign
) -> None:
    result, problems = _run(_clip_context(clip, "smooth", campaign), "imaging_quality")
    assert (result.passed, result.score, problems) == (True, 1.0, [])
    assert result.message.startswith("4 scene stills sharp, clean and well exposed")


@pytest.mark.parametrize("kind", ["flat", "grey"])
def test_flat_grey_frames_fail_aesthetics(
    clip: Callable[[str], Path], campaign: Campaign, kind: str
) -> None:
    ctx = _clip_context(clip, kind, campaign)
    result, problems = _run(ctx, "aesthetics")
    assert not result.passed
    assert result.severity == "minor"
    assert result.score < QualityOptions().min_aesthetic
    scored = [p for p in problems if "aesthetic score" in p.message]
    assert [p.scene_index for p in scored] == [0, 1, 2, 3]
    assert "contrast 0.0" in scored[0].message
    # Nothing drawn stands out of the grey: every recorded text box is illegible.
    drawn = sorted((r.text, str(r.box)) for r in ctx.creative.rendered_text)
    texts = [p for p in problems if "text contrast" in p.message]
    assert sorted((p.text, str(p.box)) for p in texts) == drawn
    assert all(p.severity == "minor" and p.frame is not None for p in texts)


@needs_cv2
def test_missing_opencv_is_a_clear_error(
    clip: Callable[[str], Path], campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _clip_context(clip, "smooth", campaign)
    ctx.video = dataclasses.replace(ctx.scan)  # not analyzed yet
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'adloom\[vision\]'"):
        motion_profile(ctx.scan)
    result = quality.motion_smoothness(ctx).result
    assert (result.passed, result.severity) == (False, "critical")
    assert "opencv-python-headless" in result.message


@needs_cv2
def test_thresholds_come_from_the_quality_section(
    clip: Callable[[str], Path], campaign: Campaign
) -> None:
    plan = _clip_plan(campaign)
    creative = _clip_creative(plan, clip("stutter"))
    strict = BasicVerifier(checks=CHECKS).verify(creative, plan, campaign, profile())
    assert strict.decision == "revise"
    assert [c.name for c in strict.failed] == ["motion_smoothness"]
    lenient = QualityConfig(quality=QualityOptions(jerk_error=50.0, max_hook_s=1.0))
    verdict = BasicVerifier(lenient, checks=CHECKS).verify(creative, plan, campaign, profile())
    assert [c.name for c in verdict.failed] == ["pacing"]
    assert verdict.check("pacing").message.startswith("scene 0 (hook) lasts 1.5s")


# --------------------------------------------------------------------------- template renders

PHOTO_SCENES = [
    ("hook", "zoom_in", "cut", "image"),
    ("product", "pan_left", "fade", "image"),
    ("cta", "static", "slide", "image"),
]


@dataclasses.dataclass(frozen=True)
class Rendered:
    plan: CreativePlan
    creative: Creative
    campaign: Campaign
    profile: UserProfile | None
    #: Whether every string is the campaign's own copy (then the basic checks pass too).
    grounded: bool


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Rendered]:
    """``rendered(name)``: a template render of the sample campaign, made on first use.

    Names: ``sample/<product>/<user or generic>/<aspect>[/<seconds>]`` (a Director plan)
    and ``producer/<aspect>[/photo][/<seconds>]`` (a Producer test plan for the sample
    boots); both last 10 s unless told.
    """
    template = pytest.importorskip("adloom.producer.template")
    folder = tmp_path_factory.mktemp("quality-renders")
    sample, users = load_sample()
    planner = TemplatePlanner(embedder=HashingEmbedder())
    cache: dict[str, Rendered] = {}

    def get(name: str) -> Rendered:
        if name in cache:
            return cache[name]
        kind, *rest = name.split("/")
        seconds = float(rest[-1]) if rest[-1][0].isdigit() and ":" not in rest[-1] else 10.0
        prof: UserProfile | None = None
        if kind == "sample":
            product_id, who, aspect = rest[:3]
            user = next((u for u in users if u.id == who), None)
            prof = planner.profile(user, sample) if user else None
            context = Context(aspect_ratio=aspect, duration_s=seconds)
            plan = planner.plan(sample, sample.product(product_id), context, user, prof)
        else:
            aspect, photo = rest[0], "photo" in rest
            plan = _producer_plans().make_plan(
                sample,
                product_id="trailblaze-boots",
                aspect_ratio=aspect,
                duration_s=seconds,
                scenes=PHOTO_SCENES if photo else None,
                background_image=str(sample_dir() / "history" / "forest-lake.png"),
            )
        path = folder / f"{len(cache)}.mp4"
        creative = template.TemplateRenderer().render(plan, sample, path)
        cache[name] = Rendered(plan, creative, sample, prof, grounded=kind == "sample")
        return cache[name]

    return get


def _verify(r: Rendered) -> Verdict:
    verifier = BasicVerifier(checks=DEFAULT_CHECKS + CHECKS)
    return verifier.verify(r.creative, r.plan, r.campaign, r.profile)


def _assert_quality_passes(r: Rendered, names: set[str] = NAMES) -> Verdict:
    verdict = _verify(r)
    mine = {c.name: c for c in verdict.checks if c.name in names}
    assert set(mine) == names
    failed = {n: c.message for n, c in mine.items() if not c.passed}
    assert not failed, (r.plan.plan_id, failed)
    if "motion_smoothness" in mine:
        assert mine["motion_smoothness"].score == 1.0
    if r.grounded:
        assert verdict.decision == "accept", verdict.rationale
    flagged = {e.check for e in verdict.evidence if e.check in names}
    assert flagged <= {"pacing", "dynamic_degree"}  # tight copy or one calm scene: info only
    return verdict


@needs_cv2
@pytest.mark.parametrize(
    "name",
    [
        "sample/trailblaze-boots/generic/16:9",
        "sample/aura-anc/leo/9:16/6",
        "producer/16:9",
        "producer/9:16/photo/6",
    ],
)
def test_template_renders_pass_every_quality_check(
    rendered: Callable[[str], Rendered], name: str
) -> None:
    verdict = _assert_quality_passes(rendered(name))
    assert verdict.check("dynamic_degree").score == 1.0
    assert verdict.check("imaging_quality").score == 1.0
    assert verdict.check("aesthetics").score > 0.9


SWEEP = [
    f"sample/{product}/{who}/{aspect}"
    for aspect in ("16:9", "9:16")
    for product, who in [
        ("trailblaze-boots", "generic"),
        ("trailblaze-boots", "maya"),
        ("aura-anc", "generic"),
        ("aura-anc", "tom"),
        ("daybreak-coldbrew", "generic"),
        ("daybreak-coldbrew", "sam"),
        ("lumi-serum", "generic"),
        ("lumi-serum", "priya"),
    ]
]


@pytest.mark.slow
@needs_cv2
@pytest.mark.parametrize("name", SWEEP)
def test_every_sample_render_passes(rendered: Callable[[str], Rendered], name: str) -> None:
    r = rendered(name)
    assert r.plan.kind == ("generic" if "/generic/" in name else "personalized")
    _assert_quality_passes(r)


@pytest.mark.slow
@needs_cv2
@pytest.mark.parametrize("name", ["producer/16:9/5", "producer/9:16/5", "producer/16:9/photo/5"])
def test_fast_producer_plans_render_smooth_and_clean(
    rendered: Callable[[str], Rendered], name: str
) -> None:
    """Their 1 s scenes are too fast to read (pacing), but the pictures are fine."""
    _assert_quality_passes(rendered(name), NAMES - {"pacing"})
