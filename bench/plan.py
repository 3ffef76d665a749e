"""Plans per second per CPU core for the embedded Director (MiniLM embeddings).

Runs the bundled sample campaign: every (user, product) pair, several times. Everything
runs on one thread (torch and BLAS), so plans/s is plans/s/core. Loading the model and
embedding the fixed prototype texts are setup and not timed.

* baseline: the same planner with its caches off (no text cache, no facet cache), texts
  embedded one at a time, every pair planned on its own (profiling the user each time).
* batched, cold: ``plan_batch`` on a fresh planner for every repeat: each user profiled
  once, all history texts and product facets embedded in a few large batches.
* batched, warm: ``plan_batch`` again on one planner: history texts come from the cache
  (a returning user whose history has not changed).

Usage: ``.venv/bin/python bench/plan.py [REPEATS]`` (default 5).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import sys  # noqa: E402
import time  # noqa: E402

from adloom.demo import load_sample  # noqa: E402
from adloom.director.embeddings import MiniLMConfig, MiniLMEmbedder  # noqa: E402
from adloom.director.template import TemplatePlanner, TemplatePlannerConfig  # noqa: E402
from adloom.domain import (  # noqa: E402
    CreativePlan,
)

GOAL = 10.0


def main(repeats: int) -> None:
    import torch

    torch.set_num_threads(1)
    campaign, users = load_sample()
    pairs = [(u, p) for u in users for p in campaign.products]
    context = campaign.contexts[0]

    t0 = time.perf_counter()
    MiniLMEmbedder()  # loads the shared model
    print(f"model load (not timed): {time.perf_counter() - t0:.1f}s")
    print(f"{len(users)} users x {len(campaign.products)} products = {len(pairs)} plans per pass")

    def fresh(baseline: bool) -> TemplatePlanner:
        if baseline:
            emb = MiniLMEmbedder(MiniLMConfig(cache_size=0, batch_size=1))
            cfg = TemplatePlannerConfig(facet_cache=0)
        else:
            emb = MiniLMEmbedder()
            cfg = TemplatePlannerConfig()
        planner = TemplatePlanner(cfg, embedder=emb)
        planner.warm_up(campaign.products)  # prototypes (and facets) embedded: setup
        return planner

    # Baseline: one pass is enough to measure it (it is the slow one).
    planner = fresh(baseline=True)
    t = time.perf_counter()
    base_plans = [planner.plan(campaign, p, context, u) for u, p in pairs]
    base_rate = len(base_plans) / (time.perf_counter() - t)

    cold_time = 0.0
    fast_plans: list[CreativePlan] = []
    for _ in range(repeats):
        planner = fresh(baseline=False)
        t = time.perf_counter()
        fast_plans = planner.plan_batch(campaign, users, contexts=[context])
        cold_time += time.perf_counter() - t
    cold_rate = repeats * len(pairs) / cold_time

    t = time.perf_counter()
    for _ in range(repeats):
        planner.plan_batch(campaign, users, contexts=[context])
    warm_rate = repeats * len(pairs) / (time.perf_counter() - t)

    same = sum(a == b for a, b in zip(base_plans, fast_plans, strict=True))
    print(f"baseline (no cache, unbatched): {base_rate:8.1f} plans/s/core")
    print(f"batched, cold caches:           {cold_rate:8.1f} plans/s/core")
    print(f"batched, warm caches:           {warm_rate:8.1f} plans/s/core")
    print(
        f"ratio cold/baseline: {cold_rate / base_rate:.1f}x   warm/baseline: "
        f"{warm_rate / base_rate:.1f}x"
    )
    print(f"identical plans baseline vs batched: {same}/{len(pairs)}")
    verdict = "meets" if cold_rate >= GOAL else "misses"
    print(f"goal >= {GOAL:g} plans/s/core (cold): {verdict}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
