"""Re-render speed: one revised scene against the whole creative, with the scene cache.

Plans the bundled sample campaign's personalized creative for one user with the embedded
Director (planning is not timed), then, on a fresh scene cache each repeat:

* full: renders the plan with the cache empty (every scene encoded);
* re-caption: renders it again with one scene's on-screen text swapped for another
  approved line of the same role, as the Reflector's "recaption" does: that scene is
  encoded again, and so is the next one if it fades or slides out of it;
* camera: renders the original plan with the last scene's camera swapped: one scene;
* no cache: the same plan without a cache (two runs of scenes side by side, as by
  default), to show what one run per scene costs a cold render.

The process (and the ffmpeg it starts) is pinned to ``--cores`` CPUs (default 2). Every
render runs once to warm up, then ``--repeats`` times; medians are reported with the CPU
seconds used (Python plus ffmpeg), which vary less than wall time on a busy host. A last
check decodes the re-captioned creative and a cold render of the same plan: the frames
must be the same.

Usage: ``.venv/bin/python bench/rerender.py [--repeats N] [--cores N] [--user ID]
[--embedder minilm|hashing]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import av

from adloom.demo import load_sample
from adloom.director.template import TemplatePlanner, TemplatePlannerConfig
from adloom.domain import Campaign, Creative, CreativePlan, GroundedText
from adloom.producer.template import TemplateRenderer, TemplateRendererConfig

CAMERAS = ("static", "pan_left", "pan_right", "zoom_in", "zoom_out")


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def recaption(plan: CreativePlan, campaign: Campaign) -> tuple[CreativePlan, int]:
    """The plan with the first scene whose copy has an approved alternative re-captioned."""
    product = campaign.product(plan.product_id)
    lines = {c.id: c for c in product.approved_copy}
    for scene in plan.scenes:
        text = scene.on_screen_text
        if text is None or text.source != "copy" or text.source_id not in lines:
            continue
        role = lines[text.source_id].role
        other = next(
            (c for c in product.copy_of(role) if c.id != text.source_id and not c.is_template),
            None,
        )
        if other is None:
            continue
        new = GroundedText(text=other.text, source="copy", source_id=other.id)
        return revise(plan, scene.index, on_screen_text=new), scene.index
    raise SystemExit("no scene's copy has an approved alternative of the same role")


def revise(plan: CreativePlan, index: int, **changes: object) -> CreativePlan:
    scenes = list(plan.scenes)
    scenes[index] = scenes[index].model_copy(update=changes)
    return plan.model_copy(update={"scenes": scenes})


def frames_digest(path: str) -> str:
    digest = hashlib.sha256()
    with av.open(path) as container:
        for frame in container.decode(container.streams.video[0]):
            for plane in frame.planes:
                digest.update(bytes(plane))
    return digest.hexdigest()


def timed(render: Callable[[], Creative]) -> tuple[float, float, Creative]:
    c0, t0 = cpu_seconds(), time.perf_counter()
    creative = render()
    return time.perf_counter() - t0, cpu_seconds() - c0, creative


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--user", default="maya")
    parser.add_argument("--embedder", choices=("minilm", "hashing"), default="minilm")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[: max(1, args.cores)]
        os.sched_setaffinity(0, cpus)
        print(f"pinned to {len(cpus)} CPU(s); load average {os.getloadavg()[0]:.2f}")

    campaign, users = load_sample()
    user = next((u for u in users if u.id == args.user), None)
    if user is None:
        raise SystemExit(f"--user: no user {args.user!r} in the sample campaign")
    planner = TemplatePlanner(TemplatePlannerConfig(embedder=args.embedder))
    plan = planner.plan(campaign, campaign.products[0], campaign.contexts[0], user)
    recaptioned, scene = recaption(plan, campaign)
    last = plan.scenes[-1]
    camera = next(c for c in CAMERAS if c != last.camera)
    moved = revise(plan, last.index, camera=camera)
    w, h = plan.context.size
    print(
        f"{plan.kind} plan for {user.id!r} x {plan.product_id!r}: {plan.context.duration_s:g} s "
        f"{w}x{h} @ {plan.context.fps} fps, {len(plan.scenes)} scenes, median of {args.repeats}"
    )

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        plain = TemplateRenderer()
        results: dict[str, list[tuple[float, float]]] = {}
        encoded: dict[str, list[int]] = {}
        for k in range(args.repeats + 1):  # the first round warms up
            cached = TemplateRenderer(TemplateRendererConfig(scene_cache=tmp / f"cache{k}"))
            rounds = {
                "full": lambda r=cached: r.render(plan, campaign, tmp / "full.mp4"),
                "re-caption": lambda r=cached: r.render(recaptioned, campaign, tmp / "cap.mp4"),
                "camera": lambda r=cached: r.render(moved, campaign, tmp / "cam.mp4"),
                "no cache": lambda: plain.render(plan, campaign, tmp / "plain.mp4"),
            }
            for name, render in rounds.items():
                wall, cpu, creative = timed(render)
                if k:
                    results.setdefault(name, []).append((wall, cpu))
                if creative.render_stats is not None:
                    encoded[name] = creative.render_stats.encoded_scenes

        median = {
            name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
            for name, runs in results.items()
        }
        for name, (wall, cpu) in median.items():
            print(
                f"{name:>10}: {wall:6.3f} s wall, {cpu:6.3f} s CPU per render; "
                f"scenes encoded {encoded[name]}"
            )
        full_wall, full_cpu = median["full"]
        for name, what in (
            ("re-caption", f"re-caption of scene {scene}"),
            ("camera", f"camera of scene {last.index}"),
        ):
            wall, cpu = median[name]
            print(
                f"{what}: scene re-render / full render: {wall / full_wall:.2f} "
                f"(CPU {cpu / full_cpu:.2f})"
            )
        plain_wall, plain_cpu = median["no cache"]
        print(
            f"full render, cold cache / no cache: {full_wall / plain_wall:.2f} "
            f"(CPU {full_cpu / plain_cpu:.2f})"
        )

        cold = TemplateRenderer(TemplateRendererConfig(scene_cache=tmp / "check"))
        reference = cold.render(recaptioned, campaign, tmp / "cold.mp4")
        same = frames_digest(str(tmp / "cap.mp4")) == frames_digest(reference.path)
        print(f"re-captioned frames, warm cache vs cold: {'identical' if same else 'DIFFERENT'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
