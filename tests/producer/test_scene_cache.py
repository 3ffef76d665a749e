"""The template renderer's scene cache and text placement, on real encoded creatives.

Creatives are compared by their decoded frames, not their file bytes: the published
file carries a signature that differs on every render. The bundled sample campaign is
read-only, so one cold render per module serves every test.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image
from producer_plans import claim, copy, make_plan

from adloom.demo import load_sample
from adloom.domain import Box, Campaign, Creative, CreativePlan, GroundedText, RenderedText
from adloom.errors import InputError
from adloom.producer import cache as sc
from adloom.producer.layers import build
from adloom.producer.template import TemplateRenderer, TemplateRendererConfig
from adloom.registry import create

PRODUCT = "trailblaze-boots"
ALL = [0, 1, 2, 3, 4]


def frames(path: str | Path) -> list[str]:
    """A digest per decoded frame: the video essence, whatever the container holds."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            out.append(hashlib.sha256(b"".join(bytes(p) for p in frame.planes)).hexdigest())
    return out


def frames_at(path: str | Path, *times: float) -> list[np.ndarray]:
    """The RGB frames shown at ``times`` (ascending), decoding the video once."""
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            while (
                len(out) < len(times) and frame.time is not None and frame.time >= times[len(out)]
            ):
                out.append(frame.to_ndarray(format="rgb24").astype(np.int16))
            if len(out) == len(times):
                return out
    raise AssertionError(f"no frame at {times[len(out)]}s")


def recaptioned(plan: CreativePlan, index: int, text: GroundedText) -> CreativePlan:
    return revised(plan, index, on_screen_text=text)


def revised(plan: CreativePlan, index: int, **changes: object) -> CreativePlan:
    scenes = list(plan.scenes)
    scenes[index] = scenes[index].model_copy(update=changes)
    return plan.model_copy(update={"scenes": scenes})


def stats(creative: Creative) -> tuple[list[int], list[int]]:
    assert creative.render_stats is not None
    assert creative.render_stats.render_s > 0
    return creative.render_stats.encoded_scenes, creative.render_stats.cached_scenes


@dataclass
class Cold:
    """A plan rendered once with an empty cache: the reference every test compares to."""

    campaign: Campaign
    plan: CreativePlan
    creative: Creative
    frames: list[str]
    cache: Path
    thumbnail: Path


@pytest.fixture(scope="module")
def cold(tmp_path_factory: pytest.TempPathFactory) -> Cold:
    campaign, _ = load_sample()
    plan = make_plan(campaign, product_id=PRODUCT, duration_s=5.0)
    folder = tmp_path_factory.mktemp("cold")
    renderer = TemplateRenderer(TemplateRendererConfig(scene_cache=folder / "cache"))
    creative = renderer.render(
        plan, campaign, folder / "ad.mp4", thumbnail_path=folder / "thumb.png"
    )
    return Cold(
        campaign, plan, creative, frames(creative.path), folder / "cache", folder / "thumb.png"
    )


@pytest.fixture
def warm(cold: Cold, tmp_path: Path) -> Callable[..., Creative]:
    """``warm(plan, name, fresh_scenes=...)`` renders with a private copy of the cold cache."""
    folder = tmp_path / "cache"
    shutil.copytree(cold.cache, folder)
    renderer = TemplateRenderer(TemplateRendererConfig(scene_cache=folder))

    def render(plan: CreativePlan, name: str = "ad", **kwargs: Any) -> Creative:
        return renderer.render(plan, cold.campaign, tmp_path / f"{name}.mp4", **kwargs)

    return render


# --------------------------------------------------------------------------- hits and misses


def test_cold_render_encodes_every_scene_and_a_warm_one_none(cold: Cold, tmp_path: Path) -> None:
    assert stats(cold.creative) == (ALL, [])
    assert len(cold.frames) == cold.creative.frame_count == 125
    assert len(list(cold.cache.glob("*.h264"))) == 5

    renderer = TemplateRenderer(TemplateRendererConfig(scene_cache=cold.cache))
    thumb = tmp_path / "thumb.png"
    again = renderer.render(cold.plan, cold.campaign, tmp_path / "ad.mp4", thumbnail_path=thumb)
    assert stats(again) == ([], ALL)
    assert frames(again.path) == cold.frames
    assert again.rendered_text == cold.creative.rendered_text
    # The thumbnail is a keyframe inside a cached scene: the same picture either way.
    with Image.open(thumb) as a, Image.open(cold.thumbnail) as b:
        assert a.tobytes() == b.tobytes()


def test_one_run_per_scene_draws_what_the_default_split_draws(cold: Cold, tmp_path: Path) -> None:
    # Without a cache every render encodes everything; fresh_scenes changes nothing.
    plain = TemplateRenderer().render(
        cold.plan, cold.campaign, tmp_path / "plain.mp4", fresh_scenes=[2]
    )
    assert stats(plain) == (ALL, [])
    assert len(frames(plain.path)) == len(cold.frames)
    times = (0.5, 1.05, 2.5, 4.9)  # inside scenes and in the middle of transitions
    pairs = zip(frames_at(plain.path, *times), frames_at(cold.creative.path, *times), strict=True)
    for t, (a, b) in zip(times, pairs, strict=True):
        assert np.abs(a - b).mean() < 2.0, f"frames differ at {t}s"


@pytest.mark.parametrize(
    ("scene", "transitions", "encoded"),
    [
        (2, None, [2, 3]),  # scene 3 fades out of scene 2: its opening frames change too
        (4, None, [4]),  # the last scene: nothing blends its tail
        (2, "cut", [2]),  # scene 3 cuts in: it does not show scene 2 at all
        (0, None, [0, 1]),
    ],
)
def test_recaption_encodes_that_scene_and_the_next_if_it_blends_in(
    cold: Cold,
    warm: Callable[..., Creative],
    tmp_path: Path,
    scene: int,
    transitions: str | None,
    encoded: list[int],
) -> None:
    plan = cold.plan
    if transitions is not None:  # scene 3 cuts in instead of fading
        plan = revised(plan, 3, transition_in=transitions)
        # Scene 2 no longer renders a tail for scene 3 to fade from.
        assert stats(warm(plan, "base")) == ([2, 3], [0, 1, 4])
    new = recaptioned(plan, scene, claim("Only 480 g per boot", "c-weight"))
    creative = warm(new)
    assert stats(creative) == (encoded, [i for i in ALL if i not in encoded])
    drawn = {rt.text for rt in creative.rendered_text if rt.scene_index == scene}
    assert "Only 480 g per boot" in drawn
    if scene == 2 and transitions is None:
        # Warm or cold, the creative is the same: the cache never shows in the frames.
        fresh = TemplateRenderer(TemplateRendererConfig(scene_cache=tmp_path / "empty"))
        reference = fresh.render(new, cold.campaign, tmp_path / "cold.mp4")
        assert stats(reference) == (ALL, [])
        assert frames(creative.path) == frames(reference.path)
        assert frames(creative.path) != cold.frames


def test_retimed_scenes_keep_the_cache_of_scenes_that_only_moved(
    cold: Cold, warm: Callable[..., Creative]
) -> None:
    """Scenes are keyed on their own time, not their place in the video."""
    s = cold.plan.scenes
    plan = revised(cold.plan, 0, duration_s=0.6)
    plan = revised(plan, 1, start_s=0.6, duration_s=s[1].duration_s + s[0].duration_s - 0.6)
    creative = warm(plan)
    # Scene 2 slides out of scene 1, whose tail is now different: 3 and 4 only moved.
    assert stats(creative) == ([0, 1, 2], [3, 4])
    assert frames(creative.path)[-50:] == cold.frames[-50:]


def test_fresh_scenes_are_encoded_even_when_cached(
    cold: Cold, warm: Callable[..., Creative]
) -> None:
    creative = warm(cold.plan, fresh_scenes={3, 1})
    assert stats(creative) == ([1, 3], [0, 2, 4])
    assert frames(creative.path) == cold.frames


@pytest.mark.parametrize(
    ("fresh", "message"),
    [
        ([5], r"fresh_scenes: no scene 5: the plan has scenes 0-4"),
        ([0, -1], r"fresh_scenes: no scene -1: the plan has scenes 0-4"),
    ],
)
def test_fresh_scenes_outside_the_plan_are_input_errors(
    cold: Cold, warm: Callable[..., Creative], fresh: list[int], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        warm(cold.plan, fresh_scenes=fresh)


# --------------------------------------------------------------------------- damage and races


def damage_truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def damage_flip(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes([data[mid] ^ 0x40]) + data[mid + 1 :]


@pytest.mark.parametrize(
    "damage",
    [damage_truncate, damage_flip, lambda data: b""],
    ids=["truncated", "bit flip", "empty"],
)
def test_a_damaged_cache_file_is_encoded_again(
    cold: Cold, warm: Callable[..., Creative], damage: Callable[[bytes], bytes]
) -> None:
    before = set(cold.cache.glob("*.h264"))
    plan = recaptioned(cold.plan, 4, copy("Every trail. Every weather.", "tb-slogan"))
    first = warm(plan, "first")
    folder = Path(first.path).parent / "cache"
    (name,) = {p.name for p in folder.glob("*.h264")} - {p.name for p in before}
    new = folder / name
    new.write_bytes(damage(new.read_bytes()))

    again = warm(plan, "again")
    assert stats(again) == ([4], [0, 1, 2, 3])
    assert frames(again.path) == frames(first.path)
    assert sc.unpack(new.read_bytes()) is not None  # repaired


@pytest.mark.parametrize(
    "data",
    [
        b"",
        sc.MAGIC,
        sc.MAGIC + b"\x00" * 32,
        b"x" * len(sc.MAGIC) + sc.pack(b"\x00\x00\x00\x01\x67")[len(sc.MAGIC) :],
        sc.pack(b"\x00\x00\x00\x01\x67")[:-1],
        sc.pack(b"\xff\xfe not h264"),
    ],
    ids=["empty", "magic only", "no stream", "wrong magic", "truncated", "not h264"],
)
def test_unpack_refuses_what_it_did_not_pack(data: bytes) -> None:
    assert sc.unpack(data) is None


def test_pack_round_trips() -> None:
    stream = b"\x00\x00\x00\x01\x67" + bytes(range(200))
    assert sc.unpack(sc.pack(stream)) == stream


def test_concurrent_renders_share_a_cache_folder(cold: Cold, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    other = recaptioned(cold.plan, 4, copy("Every trail. Every weather.", "tb-slogan"))
    # Two workers, two plans sharing four scenes: both encode and store those at once.
    jobs = [("a", cold.plan), ("c", other)]
    start = threading.Barrier(len(jobs))
    results: dict[str, Creative] = {}
    errors: list[BaseException] = []

    def work(name: str, plan: CreativePlan) -> None:
        renderer = TemplateRenderer(TemplateRendererConfig(scene_cache=folder))
        start.wait()
        try:
            results[name] = renderer.render(plan, cold.campaign, tmp_path / f"{name}.mp4")
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert frames(results["a"].path) == cold.frames

    files = sorted(folder.iterdir())
    assert len(files) == 6  # five scenes, plus the re-captioned last one; no leftovers
    assert all(f.suffix == ".h264" and not f.name.startswith(".") for f in files)
    assert all(sc.unpack(f.read_bytes()) is not None for f in files)
    renderer = TemplateRenderer(TemplateRendererConfig(scene_cache=folder))
    for name, plan in jobs:
        assert stats(renderer.render(plan, cold.campaign, tmp_path / "d.mp4")) == ([], ALL)
        assert frames(tmp_path / "d.mp4") == frames(results[name].path)


def test_a_cache_path_that_is_a_file_is_an_input_error(cold: Cold, tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    renderer = create("renderer", {"type": "template", "scene_cache": str(blocker)}, "template")
    assert isinstance(renderer, TemplateRenderer)
    assert renderer.config.scene_cache == blocker
    with pytest.raises(InputError, match=r"^scene_cache: cannot use .*cache as a folder"):
        renderer.render(cold.plan, cold.campaign, tmp_path / "ad.mp4")


# --------------------------------------------------------------------------- text placement


def texts(plan: CreativePlan, campaign: Campaign, scene: int) -> dict[str, Box]:
    tpl = build(plan, campaign)
    return {rt.field: rt.box for rt in tpl.rendered_text if rt.scene_index == scene}


def inside(box: Box, size: tuple[int, int]) -> bool:
    return box.x >= 0 and box.y >= 0 and box.x + box.w <= size[0] and box.y + box.h <= size[1]


def overlaps(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


@pytest.mark.parametrize("aspect", ["16:9", "9:16"])
@pytest.mark.parametrize("label", ["top_right", "bottom_left"])
def test_text_position_moves_headline_and_caption(
    campaign: Campaign, aspect: str, label: str
) -> None:
    # Scene 2 of the default plan has a picture, a headline and a narration caption.
    plan = make_plan(campaign, aspect_ratio=aspect, duration_s=5.0, position=label)
    size = plan.context.size
    boxes = {
        pos: texts(revised(plan, 2, text_position=pos), campaign, 2)
        for pos in ("auto", "top", "center", "bottom")
    }
    assert boxes["auto"] == texts(plan, campaign, 2)
    head = {pos: b["on_screen_text"] for pos, b in boxes.items()}
    assert head["top"].y < head["center"].y <= head["bottom"].y
    assert head["top"].y < head["auto"].y < head["bottom"].y
    label_box = build(plan, campaign).disclosure_box
    for b in boxes.values():
        assert set(b) == {"on_screen_text", "narration"}
        for box in b.values():
            assert inside(box, size)
            assert not overlaps(box, label_box)
        assert not overlaps(b["on_screen_text"], b["narration"])
    # The caption follows the text to the top; elsewhere it stays on the bottom edge.
    assert boxes["top"]["narration"].y < boxes["top"]["on_screen_text"].y
    for pos in ("auto", "center", "bottom"):
        assert boxes[pos]["narration"] == boxes["auto"]["narration"]
        assert boxes[pos]["narration"].y > boxes[pos]["on_screen_text"].y


def test_text_position_keeps_the_cta_button_under_its_headline(campaign: Campaign) -> None:
    plan = make_plan(campaign, aspect_ratio="9:16", duration_s=5.0)
    for pos in ("top", "bottom"):
        tpl = build(revised(plan, 4, text_position=pos), campaign)
        drawn = {rt.field: rt.box for rt in tpl.rendered_text if rt.start_s >= 4.0}
        head, button = drawn["on_screen_text"], drawn["cta"]
        assert head.y + head.h < button.y
        assert inside(button, plan.context.size)


def test_rendered_text_boxes_are_where_the_text_is_drawn(
    cold: Cold, warm: Callable[..., Creative]
) -> None:
    """Moving scene 1's headline changes the frame inside the old and new boxes only."""
    moved = warm(revised(cold.plan, 1, text_position="top"))
    assert stats(moved) == ([1, 2], [0, 3, 4])  # scene 2 slides out of scene 1

    def box(creative: Creative) -> RenderedText:
        return next(
            rt
            for rt in creative.rendered_text
            if rt.scene_index == 1 and rt.field == "on_screen_text"
        )

    before, after = box(cold.creative).box, box(moved).box
    assert after.y < before.y
    t = 1.9  # late in scene 1: the headline has settled, scene 2 has not begun
    (a,), (b,) = frames_at(moved.path, t), frames_at(cold.creative.path, t)
    diff = np.abs(a - b).mean(axis=2)
    mask = np.zeros(diff.shape, dtype=bool)
    for b in (before, after):
        mask[max(0, b.y - 8) : b.y + b.h + 8, max(0, b.x - 8) : b.x + b.w + 8] = True
    assert diff[~mask].mean() < 1.0
    for b in (before, after):
        assert diff[b.y : b.y + b.h, b.x : b.x + b.w].mean() > 15.0
