"""Rendering speed: seconds of video rendered per wall-clock second, template vs baseline.

Renders one 6 s 1280x720 creative for the bundled sample campaign with both Producer
backends:

* template: the embedded default, stills painted once and animated by ffmpeg filter
  graphs (two runs of scenes side by side, one per core, with default settings);
* frames: the baseline, the same template composed frame by frame with Pillow and piped
  to ffmpeg as raw RGB.

Both encode with the same x264 settings (ultrafast, constant QP 23). The process (and
the ffmpeg it starts) is pinned to ``--cores`` CPUs (default 2), so figures from bigger
machines compare. Each renderer runs once to warm up, then ``--repeats`` times; the
median is reported, with the CPU seconds used (Python plus ffmpeg), which vary less than
wall time on a busy host.

Usage: ``.venv/bin/python bench/render.py [--repeats N] [--cores N]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from adloom.demo import load_sample
from adloom.domain import (
    Background,
    CallToAction,
    Campaign,
    Context,
    CreativePlan,
    GroundedText,
    MatchDecision,
    Scene,
)
from adloom.producer.base import Renderer
from adloom.producer.frames import FrameByFrameRenderer
from adloom.producer.template import TemplateRenderer

GOAL = 10.0  # video seconds per wall second, for 6 s of 720p on 2 cores
DURATION = 6.0


def make_plan(campaign: Campaign) -> CreativePlan:
    """Five scenes over 6 s, text taken from the product's claims and approved copy."""
    product = campaign.products[0]
    claims = [
        GroundedText(text=c.text, source="claim", source_id=c.id) for c in product.verified_claims
    ]
    copy = {
        c.role: GroundedText(text=c.text, source="copy", source_id=c.id)
        for c in product.approved_copy
        if not c.is_template
    }
    headline = copy.get("headline", claims[0])
    slogan = copy.get("slogan", headline)
    cta = copy.get("cta") or GroundedText(text="Shop now", source="copy", source_id="cta")
    shot = product.assets_of("product_image")[0].id
    colors = [*product.palette[:1], "#0d2119"] if product.palette else []
    spec = [
        ("hook", "static", "cut", headline, slogan, []),
        ("context", "pan_right", "fade", claims[0], None, [shot]),
        ("product", "zoom_in", "slide", headline, claims[-1], [shot]),
        ("proof", "pan_left", "fade", claims[-1], None, [shot]),
        ("cta", "zoom_out", "fade", slogan, slogan, [shot]),
    ]
    step = DURATION / len(spec)
    scenes = [
        Scene(
            index=i,
            role=role,
            start_s=round(i * step, 3),
            duration_s=round(DURATION - i * step, 3) if i == len(spec) - 1 else round(step, 3),
            on_screen_text=on_screen,
            narration=narration,
            camera=camera,
            asset_ids=assets,
            background=Background(kind="gradient" if i % 2 == 0 else "solid", colors=colors),
            transition_in=transition,
        )
        for i, (role, camera, transition, on_screen, narration, assets) in enumerate(spec)
    ]
    logo = product.logo
    return CreativePlan(
        plan_id="bench-render",
        campaign_id=campaign.id,
        product_id=product.id,
        kind="generic",
        matching=MatchDecision(
            compatibility=0.0, threshold=0.0, personalized=False, rationale="benchmark"
        ),
        context=Context(aspect_ratio="16:9", duration_s=DURATION, fps=25),
        palette=product.palette,
        logo_asset=logo.id if logo else None,
        scenes=scenes,
        cta=CallToAction(text=cta, url=product.landing_url),
        seed=1,
    )


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(
    renderer: Renderer, plan: CreativePlan, campaign: Campaign, out: Path, repeats: int
) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds) per render, after one warm-up render."""
    renderer.render(plan, campaign, out)
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = cpu_seconds(), time.perf_counter()
        renderer.render(plan, campaign, out)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[: max(1, args.cores)]
        os.sched_setaffinity(0, cpus)
        print(f"pinned to {len(cpus)} CPU(s); load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        campaign, _ = load_sample()
        plan = make_plan(campaign)
        w, h = plan.context.size
        print(
            f"{DURATION:g} s {w}x{h} @ {plan.context.fps} fps, {len(plan.scenes)} scenes, "
            f"product {plan.product_id!r}, median of {args.repeats}"
        )
        rates: dict[str, float] = {}
        for renderer in (TemplateRenderer(), FrameByFrameRenderer()):
            wall, cpu = measure(
                renderer, plan, campaign, tmp / f"{renderer.name}.mp4", args.repeats
            )
            rates[renderer.name] = DURATION / wall
            print(
                f"{renderer.name:>9}: {wall:6.3f} s wall, {cpu:6.3f} s CPU per render -> "
                f"{DURATION / wall:6.2f} video-s per wall-s ({DURATION / cpu:5.2f} per CPU-s)"
            )
    ratio = rates["template"] / rates["frames"]
    print(
        f"template / baseline: {ratio:.2f}x faster; goal {GOAL:g} video-s/s: "
        f"{'met' if rates['template'] >= GOAL else 'not met'} ({rates['template']:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
