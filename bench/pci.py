"""PCI speed and integration quality: host analysis and splice against real time, and the
continuity of chosen integration points against the midpoint and random points.

Makes a footage-like sample host (``--minutes`` long, 640x360 at 25 fps, six-second
shots cycling through four looks: a titled pan, action under a voice, a calm still, a
talking scene) with :mod:`adloom.producer.hostgen`, then:

* **analysis**: the embedded host analyzer, OCR included (its models loaded once before
  timing), as seconds of host per second of wall time (the goal is 5x real time on two
  cores), and the same without OCR;
* **splice**: cutting the host, re-encoding the GOP around the point and joining it with
  a matched segment, as seconds of woven video per second (matching timed separately);
* **continuity**: the segment woven in at the chosen point, at the midpoint and at
  ``--random`` seeded random points, each measured at both cuts by the verifier's
  integration measure. "matched" segments blend from and to the host frames and match
  colour and loudness; "plain" ones are only scaled, which isolates what the choice of
  point alone does. The point's own scores (continuity, intrusiveness, speech interrupted)
  are listed too.

The process (and the ffmpeg it starts) is pinned to ``--cores`` CPUs (default 2).

Usage: ``.venv/bin/python bench/pci.py [--minutes M] [--random N] [--cores N]
[--embedder minilm|hashing]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

from adloom import registry
from adloom.demo import load_sample
from adloom.director.host import EmbeddedHostAnalyzer, EmbeddedHostAnalyzerConfig
from adloom.director.integration import IntegrationSettings, baseline, decide, integration_plan
from adloom.domain import Creative, CreativePlan, HostAnalysis, IntegrationDecision
from adloom.producer.hostgen import DEFAULT_SHOTS, make_host_video
from adloom.producer.splice import SpliceSettings, match_segment, splice
from adloom.verifier.integration import measure
from adloom.verifier.ocr import read_text


def weave(
    host: HostAnalysis,
    decision: IntegrationDecision,
    master: Creative,
    plan: CreativePlan,
    folder: Path,
    matched: bool,
) -> tuple[float, float, float, float]:
    """(match s, splice s, min continuity, max loudness jump) of one woven variant."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = SpliceSettings(match=matched)
    t0 = time.perf_counter()
    segment, piece, audio = match_segment(
        master, plan, host, decision, folder / "segment.mp4", settings
    )
    t1 = time.perf_counter()
    splice(host, decision, piece, audio, segment.frame_count, folder / "woven.mp4", settings)
    t2 = time.perf_counter()
    shutil.rmtree(piece.parent, ignore_errors=True)
    q = measure(
        folder / "woven.mp4",
        decision.point.frame,
        segment.frame_count,
        host.fps,
        segment.disclosure_box,
    )
    continuity = min(q.cut_in.continuity, q.cut_out.continuity)
    jump = max(q.cut_in.loudness_jump_db, q.cut_out.loudness_jump_db)
    return t1 - t0, t2 - t1, continuity, jump


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--random", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--embedder", default="minilm")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[: args.cores]
        os.sched_setaffinity(0, cpus)

    shots = [DEFAULT_SHOTS[i % len(DEFAULT_SHOTS)] for i in range(round(args.minutes * 10))]
    with tempfile.TemporaryDirectory(prefix="adloom-bench-pci-") as tmp_dir:
        tmp = Path(tmp_dir)
        started = time.perf_counter()
        host_path = make_host_video(tmp / "host.mp4", shots=shots, size=(640, 360), fps=25)
        print(
            f"host: {len(shots)} shots, {sum(s.duration_s for s in shots):.0f}s at 640x360 "
            f"25 fps (made in {time.perf_counter() - started:.1f}s), {args.cores} cores"
        )
        read_text(np.zeros((64, 64, 3), dtype=np.uint8))  # load the OCR models once

        def analyze(ocr: bool) -> tuple[HostAnalysis, float]:
            analyzer = EmbeddedHostAnalyzer(EmbeddedHostAnalyzerConfig(ocr=ocr, threads=args.cores))
            t = time.perf_counter()
            result = analyzer.analyze(host_path)
            return result, time.perf_counter() - t

        runs = [analyze(True) for _ in range(3)]
        host = runs[0][0]
        wall = statistics.median(r[1] for r in runs)
        plain = statistics.median(analyze(False)[1] for _ in range(3))
        per_minute = wall * 60 / host.duration_s
        print(
            f"analysis: {host.duration_s / wall:.1f}x real time ({per_minute:.2f}s per minute "
            f"of host; without OCR {host.duration_s / plain:.1f}x); {len(host.shots)} shots, "
            f"{sum(host.timeline.speech) * host.timeline.step_s:.0f}s speech-like"
        )

        campaign, users = load_sample()
        product = campaign.products[0]
        decision_settings = IntegrationSettings(embedder=args.embedder)
        chosen = decide(host, product, decision_settings)
        planner = registry.create(
            "planner", {"type": "template", "embedder": args.embedder}, "template"
        )
        plan = integration_plan(planner, campaign, product, host, chosen, None, user=users[0])
        renderer = registry.create("renderer", "template", "template")
        master = renderer.render(plan, campaign, tmp / "master.mp4")

        strategies: list[tuple[str, IntegrationDecision]] = [
            ("chosen", chosen),
            ("midpoint", baseline(host, "midpoint", product=product, settings=decision_settings)),
        ]
        strategies += [
            (
                "random",
                baseline(host, "random", product=product, seed=s, settings=decision_settings),
            )
            for s in range(args.random)
        ]
        rows: dict[str, list[tuple[float, float, float, float, float, float, bool]]] = {}
        splice_ratios = []
        for i, (name, decision) in enumerate(strategies):
            m_match, m_splice, m_cont, m_jump = weave(
                host, decision, master, plan, tmp / f"m{i}", True
            )
            _, _, p_cont, p_jump = weave(host, decision, master, plan, tmp / f"p{i}", False)
            woven_s = host.duration_s + master.duration_s
            splice_ratios.append((woven_s / m_splice, m_match))
            p = decision.point
            rows.setdefault(name, []).append(
                (m_cont, p_cont, m_jump, p_jump, p.continuity, p.intrusiveness, not p.allowed)
            )
        ratio = statistics.median(r[0] for r in splice_ratios)
        match_s = statistics.median(r[1] for r in splice_ratios)
        print(
            f"splice: {ratio:.1f}x real time (seconds of woven video per second; matching "
            f"the segment {match_s:.2f}s more)"
        )
        print(
            f"chosen point: {chosen.point.kind} at {chosen.point.time_s:.2f}s ({chosen.rationale})"
        )
        print(
            "point     n  continuity matched  plain  loudness jump dB matched  plain  "
            "point continuity  intrusiveness  mid-speech"
        )
        for name, values in rows.items():
            mean = [statistics.fmean(v[k] for v in values) for k in range(6)]
            speech = sum(v[6] for v in values)
            print(
                f"{name:<8} {len(values):>2}  {mean[0]:18.3f}  {mean[1]:5.3f}  "
                f"{mean[2]:24.1f}  {mean[3]:5.1f}  {mean[4]:16.3f}  {mean[5]:13.3f}  "
                f"{speech}/{len(values)}"
            )
        chosen_plain = rows["chosen"][0][1]
        others = [v[1] for name in ("midpoint", "random") for v in rows.get(name, [])]
        print(
            f"plain-segment continuity, chosen / mean of midpoint and random: "
            f"{chosen_plain / max(1e-9, statistics.fmean(others)):.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
