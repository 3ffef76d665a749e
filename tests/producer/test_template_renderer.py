"""The template renderer end to end: real MP4s decoded back with PyAV and inspected."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from producer_plans import make_plan

from adloom.domain import Campaign, Creative, CreativePlan, Scene
from adloom.errors import AdloomError, InputError, RenderError
from adloom.io import sha256_file
from adloom.producer import ffmpeg
from adloom.producer.frames import FrameByFrameRenderer
from adloom.producer.label import disclosure_label, label_box
from adloom.producer.template import TemplateRenderer, TemplateRendererConfig
from adloom.registry import create

Frames = list[tuple[float, np.ndarray]]


def decode(path: str | Path) -> tuple[av.video.stream.VideoStream, Frames]:
    """Every decoded frame as (time, RGB array), plus the stream for its parameters."""
    frames: Frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            frames.append((float(frame.time), frame.to_ndarray(format="rgb24")))
        return stream, frames


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def label_correlation(rgb: np.ndarray, text: str, position: str) -> float:
    """How closely the label box of a decoded frame follows the label's own pattern."""
    h, w = rgb.shape[:2]
    box = label_box(text, (w, h), position)
    label = np.asarray(disclosure_label(text, h), dtype=np.float64) / 255.0
    grey = 128.0
    expected = luma(label[..., :3] * 255.0) * label[..., 3] + grey * (1 - label[..., 3])
    got = luma(rgb[box.y : box.y + box.h, box.x : box.x + box.w])
    return float(np.corrcoef(expected.ravel(), got.ravel())[0, 1])


def check_video(creative: Creative, plan: CreativePlan, size: tuple[int, int]) -> Frames:
    """Assertions every rendered creative must pass; returns the decoded frames."""
    stream, frames = decode(creative.path)
    fps = plan.context.fps
    assert stream.codec_context.name == "h264"
    assert (stream.codec_context.width, stream.codec_context.height) == size
    assert float(stream.average_rate) == fps
    expected = round(plan.context.duration_s * fps)
    assert abs(len(frames) - expected) <= 1
    assert creative.frame_count == expected
    assert (creative.width, creative.height) == size
    assert creative.sha256 == sha256_file(creative.path)

    # No blank frames, and every scene moves between samples ~0.4 s apart.
    step = max(1, round(0.4 * fps))
    for t, rgb in frames[::step]:
        assert luma(rgb[::4, ::4]).std() > 5.0, f"blank frame at {t:.2f}s"
    for scene in plan.scenes:
        picks = [rgb for t, rgb in frames if scene.start_s <= t < scene.end_s][::step]
        assert len(picks) >= 2
        for a, b in itertools.pairwise(picks):
            diff = np.abs(luma(a[::4, ::4]) - luma(b[::4, ::4])).mean()
            assert diff > 0.3, f"scene {scene.index} looks frozen"

    # The disclosure label is on every frame, exactly where the Creative says.
    d = plan.disclosure
    assert creative.disclosure_text == d.text
    assert creative.disclosure_box == label_box(d.text, size, d.position)
    for t, rgb in frames:
        assert label_correlation(rgb, d.text, d.position) > 0.85, f"no label at {t:.2f}s"

    # Every drawn string is reported with a box inside the frame and a time inside the ad.
    w, h = size
    assert creative.rendered_text
    for rt in creative.rendered_text:
        b = rt.box
        assert b.x >= 0
        assert b.y >= 0
        assert b.w > 0
        assert b.h > 0
        assert b.x + b.w <= w
        assert b.y + b.h <= h
        assert 0 <= rt.start_s < rt.end_s <= plan.context.duration_s + 1e-6
    drawn = {(rt.scene_index, rt.field, rt.text) for rt in creative.rendered_text}

    # A caption that would repeat the headline or the CTA button in its scene is not drawn.
    def shown_in(scene: Scene) -> set[str]:
        texts = {scene.on_screen_text.text} if scene.on_screen_text else set()
        if scene.role == "cta":
            texts.add(plan.cta.text.text)
        return {t.casefold() for t in texts}

    repeats = {
        (s.index, s.narration.text)
        for s in plan.scenes
        if s.narration and s.narration.text.casefold() in shown_in(s)
    }
    expected = {
        (i, f, g.text)
        for i, f, g in plan.texts()
        if not (f == "narration" and (i, g.text) in repeats)
    }
    assert drawn == expected
    return frames


def test_renders_a_valid_h264_creative(campaign: Campaign, tmp_path: Path) -> None:
    plan = make_plan(campaign, duration_s=5.0)
    out, thumb = tmp_path / "out" / "ad.mp4", tmp_path / "out" / "ad.png"
    creative = TemplateRenderer().render(plan, campaign, out, thumbnail_path=thumb)

    assert Path(creative.path) == out
    assert out.is_file()
    assert creative.renderer == "template"
    assert creative.seed == plan.seed
    assert creative.creative_id.startswith(plan.plan_id)
    frames = check_video(creative, plan, (1280, 720))

    with av.open(str(out)) as container:
        tags = {k.lower(): v for k, v in container.metadata.items()}
        assert any(s.type == "audio" for s in container.streams)
    assert tags["ai_generated"] == "true"
    assert plan.disclosure.text in tags["comment"]
    assert tags["plan_id"] == plan.plan_id
    assert creative.metadata["ai_generated"] == "true"

    assert creative.thumbnail == str(thumb)
    with Image.open(thumb) as im:
        assert im.format == "PNG"
        assert im.size == (1280, 720)
        assert luma(np.asarray(im.convert("RGB"))).std() > 5.0
    # The thumbnail is a frame of the video: the product scene, label included.
    product = next(s for s in plan.scenes if s.role == "product")
    at = [rgb for t, rgb in frames if product.start_s <= t < product.end_s]
    thumb_rgb = np.asarray(Image.open(thumb).convert("RGB"), dtype=np.float64)
    assert min(np.abs(thumb_rgb - rgb).mean() for rgb in at) < 3.0
    assert sorted(p.name for p in out.parent.iterdir()) == ["ad.mp4", "ad.png"]


def test_same_plan_renders_the_same_video(campaign: Campaign, tmp_path: Path) -> None:
    """The same frames and the same id; the file itself may carry a per-render signature."""
    plan = make_plan(campaign, duration_s=5.0)
    renderer = TemplateRenderer()
    a = renderer.render(plan, campaign, tmp_path / "a.mp4")
    b = renderer.render(plan, campaign, tmp_path / "b.mp4")
    assert a.creative_id == b.creative_id
    frames_a = [rgb for _, rgb in decode(a.path)[1]]
    frames_b = [rgb for _, rgb in decode(b.path)[1]]
    assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b, strict=True))
    other = renderer.render(
        make_plan(campaign, duration_s=5.0, seed=8), campaign, tmp_path / "c.mp4"
    )
    assert other.creative_id != a.creative_id


def test_vertical_video_with_photo_background_and_unrenderable_text(
    campaign: Campaign, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    Image.new("RGB", (160, 120), (200, 120, 40)).save(photo)
    plan = make_plan(
        campaign,
        aspect_ratio="9:16",
        duration_s=5.0,
        position="bottom_left",
        background_image=str(photo),
        scenes=[
            ("hook", "pan_left", "cut", "image"),
            ("product", "static", "slide", "solid"),
            ("cta", "zoom_in", "fade", "gradient"),
        ],
    )
    hook = plan.scenes[0].model_copy(
        update={
            "on_screen_text": plan.scenes[0].on_screen_text.model_copy(  # type: ignore[union-attr]
                update={"text": "冬季登山装备 — Зимнее снаряжение"}
            )
        }
    )
    plan = plan.model_copy(update={"scenes": [hook, *plan.scenes[1:]]})
    creative = TemplateRenderer().render(plan, campaign, tmp_path / "v.mp4")
    check_video(creative, plan, (1080, 1920))


def test_frames_baseline_draws_the_same_template(campaign: Campaign, tmp_path: Path) -> None:
    plan = make_plan(campaign, duration_s=5.0, fps=24)
    fast = TemplateRenderer().render(plan, campaign, tmp_path / "t.mp4")
    slow = FrameByFrameRenderer().render(
        plan, campaign, tmp_path / "f.mp4", thumbnail_path=tmp_path / "f.jpg"
    )
    assert slow.renderer == "frames"
    assert slow.render_stats is not None
    assert slow.render_stats.encoded_scenes == [0, 1, 2, 3, 4]
    frames = check_video(slow, plan, (1280, 720))
    assert slow.rendered_text == fast.rendered_text
    _, reference = decode(fast.path)
    for (_, a), (_, b) in zip(frames[::5], reference[::5], strict=True):
        assert np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() < 3.0
    with Image.open(tmp_path / "f.jpg") as im:
        assert im.format == "JPEG"
        assert im.size == (1280, 720)


def test_missing_asset_is_an_input_error_and_writes_nothing(
    campaign: Campaign, tmp_path: Path
) -> None:
    plan = make_plan(campaign, duration_s=5.0)
    asset = campaign.product("boots").asset("boots-main")
    campaign.asset_path(asset).unlink()
    out = tmp_path / "out" / "ad.mp4"
    with pytest.raises(InputError, match=r"boots\.png"):
        TemplateRenderer().render(plan, campaign, out, thumbnail_path=tmp_path / "out" / "t.png")
    assert not out.exists()
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_ffmpeg_failure_is_a_one_line_render_error(
    campaign: Campaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ffmpeg.video_args

    def broken(*args: object, **kwargs: object) -> list[str]:
        good: list[str] = real(*args, **kwargs)  # type: ignore[arg-type]
        return [a.replace("libx264", "no_such_encoder") for a in good]

    monkeypatch.setattr(ffmpeg, "video_args", broken)
    out = tmp_path / "out" / "ad.mp4"
    with pytest.raises(RenderError) as err:
        TemplateRenderer().render(
            make_plan(campaign, duration_s=5.0),
            campaign,
            out,
            thumbnail_path=out.with_suffix(".png"),
        )
    assert "\n" not in str(err.value)
    assert "no_such_encoder" in str(err.value)
    assert list(out.parent.iterdir()) == []


def test_registered_by_short_name_with_strict_config() -> None:
    assert isinstance(create("renderer", "template", "template"), TemplateRenderer)
    frames = create("renderer", {"type": "frames", "preset": "veryfast"}, "template")
    assert isinstance(frames, FrameByFrameRenderer)
    assert frames.config.preset == "veryfast"
    with pytest.raises(AdloomError, match="crff"):
        create("renderer", {"type": "template", "crff": 20}, "template")


def test_cut_scenes_encoded_in_parallel_runs(campaign: Campaign, tmp_path: Path) -> None:
    scenes = [
        ("hook", "zoom_in", "cut", "gradient"),
        ("product", "pan_left", "cut", "gradient"),
        ("cta", "static", "cut", "solid"),
    ]
    plan = make_plan(campaign, duration_s=6.0, scenes=scenes)
    for segments in (2, 3):
        renderer = TemplateRenderer(TemplateRendererConfig(segments=segments))
        check_video(
            renderer.render(plan, campaign, tmp_path / f"{segments}.mp4"), plan, (1280, 720)
        )


def test_single_scene_without_audio(campaign: Campaign, tmp_path: Path) -> None:
    plan = make_plan(campaign, duration_s=5.0, fps=30, scenes=[("cta", "pan_left", "cut", "solid")])
    renderer = TemplateRenderer(TemplateRendererConfig(audio=False, rate_control="crf"))
    creative = renderer.render(plan, campaign, tmp_path / "one.mp4")
    check_video(creative, plan, (1280, 720))
    with av.open(creative.path) as container:
        assert [s.type for s in container.streams] == ["video"]
