"""The template's layout, motion curves and text fitting, without encoding any video."""

from __future__ import annotations

import itertools
import math

import pytest
from PIL import Image, ImageDraw
from producer_plans import make_plan

from adloom.domain import Campaign, CreativePlan, Disclosure
from adloom.errors import InputError
from adloom.producer import ffmpeg
from adloom.producer import text as tx
from adloom.producer.layers import Anim, Fade, Palette, Ramp, Wave, build
from adloom.producer.template import filter_graph, pack, parts, split_parts, stills


def ffmpeg_eval(expr: str, t: float) -> float:
    """Evaluate the subset of ffmpeg's expression language the template writes."""
    names = {"clip": lambda v, lo, hi: min(max(v, lo), hi), "pow": pow, "sin": math.sin, "t": t}
    return float(eval(expr, {"__builtins__": {}}, names))


@pytest.mark.parametrize(
    "anim",
    [
        Anim(12.5),
        Anim(-40.0, (Ramp(80.0, 0.2, 0.5),)),
        Anim(100.0, (Ramp(-64.0, 0.0, 1.6, linear=True), Wave(8.6, 2.6, 4.95))),
        Anim(0.87, (Ramp(0.13, 0.0, 1.0, linear=True),)),
    ],
)
def test_motion_is_the_same_in_python_and_in_ffmpeg(anim: Anim) -> None:
    for i in range(41):
        t = i * 0.05
        assert ffmpeg_eval(anim.expr(), t) == pytest.approx(anim.at(t), abs=1e-3)


def test_ramps_settle_exactly_and_fades_clamp() -> None:
    a = Anim(100.0, (Ramp(-30.0, 0.1, 0.4),))
    assert a.at(0.0) == 100.0
    assert a.at(0.5) == 70.0
    assert a.at(9.0) == 70.0
    f = Fade(0.2, 0.4)
    assert f.at(0.0) == 0.0
    assert f.at(0.4) == pytest.approx(0.5)
    assert f.at(1.0) == 1.0


def test_text_shrinks_and_wraps_to_fit() -> None:
    short = tx.fit("Shop now", 600, 200, 60, 20, 2)
    long = tx.fit(
        "Waterproof membrane keeps every step dry on long trails " * 2, 600, 200, 60, 20, 3
    )
    assert short.size == 60
    assert len(short.lines) == 1
    assert long.size < 60
    assert long.width <= 600
    assert (
        " ".join(long.lines).split()
        == ("Waterproof membrane keeps every step dry on long trails " * 2).split()
    )


def test_text_without_spaces_or_glyphs_still_lays_out() -> None:
    block = tx.fit("冬季登山装备推荐冬季登山装备推荐冬季登山装备推荐", 200, 400, 40, 16, 8)
    assert len(block.lines) > 1
    assert block.width <= 200
    img = Image.new("RGBA", (block.width + 4, block.height + 4))
    tx.draw_block(ImageDraw.Draw(img), block, (2, 2), (255, 255, 255, 255), align="center")
    assert img.getbbox() is not None


def test_button_colour_stands_out_from_the_brand_colour() -> None:
    p = Palette(((30, 90, 60), (242, 239, 230)))
    assert p.button == (242, 239, 230)
    assert tx.contrast(p.button_text[:3], p.button) >= 4.5
    assert tx.contrast(p.panel_text[:3], p.panel) >= 4.5
    assert Palette(((30, 90, 60),)).button != (30, 90, 60)


def test_scenes_tile_the_frames_with_transitions(campaign: Campaign) -> None:
    plan = make_plan(campaign, duration_s=6.0, fps=30)
    tpl = build(plan, campaign)
    assert tpl.frame_count == 180
    assert sum(sc.frames for sc in tpl.scenes) == tpl.frame_count
    for prev, sc in zip(tpl.scenes, tpl.scenes[1:], strict=False):
        assert sc.start_frame == prev.start_frame + prev.frames
        assert prev.tail == sc.transition_frames
        assert (sc.transition_frames > 0) == (sc.transition != "cut")
    product = next(sc for sc in tpl.scenes if sc.role == "product")
    assert product.start_frame <= tpl.thumbnail_frame < product.start_frame + product.frames
    # Backgrounds are big enough for their whole pan.
    for sc in tpl.scenes:
        bw, bh = sc.background_size
        for k in range(sc.length):
            t = k / tpl.fps
            assert sc.bg_x.at(t) + tpl.width <= bw + 1e-6
            assert sc.bg_y.at(t) + tpl.height <= bh + 1e-6


def graph_of(plan: CreativePlan, campaign: Campaign) -> str:
    tpl = build(plan, campaign)
    images = stills(tpl)
    return filter_graph(tpl, images, pack(images)[1])


def test_layout_is_seeded(campaign: Campaign) -> None:
    plan = make_plan(campaign, duration_s=5.0)
    assert graph_of(plan, campaign) == graph_of(plan, campaign)
    assert graph_of(make_plan(campaign, duration_s=5.0, seed=99), campaign) != graph_of(
        plan, campaign
    )


def test_cta_goes_on_the_last_scene_when_no_scene_is_the_cta(campaign: Campaign) -> None:
    plan = make_plan(
        campaign,
        duration_s=5.0,
        scenes=[("hook", "static", "cut", "gradient"), ("product", "zoom_out", "fade", "solid")],
    )
    tpl = build(plan, campaign)
    cta = [rt for rt in tpl.rendered_text if rt.field == "cta"]
    assert len(cta) == 1
    assert cta[0].text == plan.cta.text.text
    assert cta[0].start_s >= plan.scenes[-1].start_s


def test_unknown_asset_id_is_an_input_error(campaign: Campaign) -> None:
    plan = make_plan(campaign, duration_s=5.0)
    bad = plan.scenes[1].model_copy(update={"asset_ids": ["nope"]})
    plan = plan.model_copy(update={"scenes": [plan.scenes[0], bad, *plan.scenes[2:]]})
    with pytest.raises(InputError, match=r"scenes\.1\.asset_ids\.0: unknown asset 'nope'"):
        build(plan, campaign)


def test_atlas_packs_every_image_without_overlap() -> None:
    images = [
        Image.new("RGBA", (w, h), (w % 255, h % 255, 0, 255))
        for w, h in [(300, 100), (700, 380), (120, 40), (300, 100), (90, 90)]
    ]
    atlas, slots = pack(images)
    for img, s in zip(images, slots, strict=True):
        assert atlas.crop((s.x, s.y, s.x + s.w, s.y + s.h)).tobytes() == img.tobytes()


def test_disclosure_metadata_follows_the_plan(campaign: Campaign) -> None:
    plan = make_plan(campaign, duration_s=5.0)
    tags = ffmpeg.metadata(plan, "template")
    assert tags["ai_generated"] == "true"
    assert plan.disclosure.text in tags["comment"]
    quiet = plan.model_copy(update={"disclosure": Disclosure(in_metadata=False)})
    assert "ai_generated" not in ffmpeg.metadata(quiet, "template")


def test_ffmpeg_errors_become_one_line() -> None:
    stderr = (
        "[vost#0:0 @ 0x5615a344ab80] Unknown encoder 'x'\n"
        "[vost#0:0 @ 0x5615a344ab80] Error selecting an encoder\n"
        "Error opening output file out.mp4.\n"
        "Error opening output files: Encoder not found\n"
    )
    assert ffmpeg.error_line(stderr) == "Unknown encoder 'x'"
    assert ffmpeg.error_line("") == "no error output"


def test_parts_tile_the_video_and_split_into_balanced_runs(campaign: Campaign) -> None:
    tpl = build(make_plan(campaign, duration_s=6.0), campaign)
    all_parts = parts(tpl)
    assert all_parts[0].start == 0
    for a, b in itertools.pairwise(all_parts):
        assert b.start == a.start + a.frames
    assert sum(p.frames for p in all_parts) == tpl.frame_count
    for n in (1, 2, 3):
        runs = split_parts(all_parts, n)
        assert len(runs) == n
        assert [p for run in runs for p in run] == all_parts
        sizes = [sum(p.frames for p in run) for run in runs]
        assert max(sizes) - min(sizes) <= max(p.frames for p in all_parts)
