"""The Verifier and Reflector on the labelled flaw suite (see ``adloom.verifier.suite``).

Builds clean creatives from the bundled sample campaign and ``--per-flaw`` flawed copies
of each flaw type, then prints:

* recall per flaw type of the ``full`` verifier (goal: at least 0.95 on every type) and
  its false-reject rate on the clean creatives (goal: at most 5 %);
* the share of flawed creatives the ``rules`` Reflector repairs to acceptance within
  ``--rounds`` revise rounds;
* the median time of a scene-level re-render as a ratio of a full render of the same
  creatives (the scene cache at work), both measured in this run.

Usage: ``.venv/bin/python bench/verify.py [--per-flaw N] [--clean N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from adloom import registry
from adloom.demo import load_sample
from adloom.verifier.suite import Builder, evaluate, repair

RECALL_GOAL = 0.95
FALSE_REJECT_GOAL = 0.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-flaw", type=int, default=4)
    parser.add_argument("--clean", type=int, default=14)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    campaign, users = load_sample()
    with tempfile.TemporaryDirectory(prefix="adloom-suite-") as folder:
        work = Path(folder)
        renderer = registry.create(
            "renderer", {"type": "template", "scene_cache": str(work / "cache")}, "template"
        )
        planner = registry.create("planner", "template", "template")
        verifier = registry.create("verifier", "full", "full")
        reflector = registry.create("reflector", "rules", "rules")
        started = time.perf_counter()
        cases = Builder(work, planner, renderer, campaign, users).build(
            per_flaw=args.per_flaw, clean=args.clean
        )
        flawed = sum(c.flaw is not None for c in cases)
        print(
            f"suite: {flawed} flawed + {len(cases) - flawed} clean creatives built in "
            f"{time.perf_counter() - started:.0f}s"
        )
        report = evaluate(verifier, cases)
        for line in report.lines():
            print(line)
        recall = report.recall()
        worst = min(recall.values())
        print(
            f"recall: worst type {worst:.2f} (goal >= {RECALL_GOAL}); false rejects "
            f"{report.false_reject_rate:.1%} (goal <= {FALSE_REJECT_GOAL:.0%})"
        )
        fixed = repair(
            cases, renderer=renderer, verifier=verifier, reflector=reflector,
            max_rounds=args.rounds,
        )  # fmt: skip
        for flaw, results in sorted(fixed.repaired.items()):
            print(f"  repaired {flaw:<22} {sum(results)}/{len(results)}")
        print(
            f"repaired within {args.rounds} rounds: {fixed.share:.0%} of {flawed} flawed creatives"
        )
        ratio = fixed.rerender_ratio
        if ratio is not None:
            print(
                f"scene re-render / full render: {ratio:.2f} (median of "
                f"{len(fixed.scene_render_s)} scene re-renders vs {len(fixed.full_render_s)} "
                "full renders)"
            )
    ok = worst >= RECALL_GOAL and report.false_reject_rate <= FALSE_REJECT_GOAL
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
