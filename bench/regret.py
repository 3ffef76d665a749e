"""Cumulative regret of the serving policies on the seeded contextual simulator.

Every policy serves the same ``T`` requests (same environment, same contexts, same click
draws) with its default settings, feedback arriving as impressions and clicks. Prints:

* cumulative expected regret against the best fixed arm at checkpoints (1k, 5k, 10k, 25k,
  50k and T); negative means the policy beat every single arm by using the context;
* regret per round against the per-context oracle in the first and the last tenth of the
  run, and their ratio (well below 1: the policy is still learning, regret is sub-linear);
* Thompson's and LinUCB's final regret as a ratio of uniform random's and
  epsilon-greedy's, against both yardsticks;
* the cost of one ``choose`` over 10 arms with a 12-dimensional context.

Usage: ``.venv/bin/python bench/regret.py [ROUNDS] [SEED]`` (default 50000 rounds, seed 0).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from adloom import registry  # noqa: E402
from adloom.serving.bandits.simulate import (  # noqa: E402
    Baseline,
    Environment,
    RegretCurve,
    compare,
)

POLICIES = ("uniform", "epsilon", "thompson", "linucb")
CHECKPOINTS = (1_000, 5_000, 10_000, 25_000, 50_000)
YARDSTICKS: tuple[Baseline, ...] = ("fixed", "oracle")


def choose_cost(name: str, arms: int = 10, dim: int = 12, calls: int = 2_000) -> float:
    """Median microseconds per ``choose`` after some learning, like a server in use."""
    rng = np.random.default_rng(1)
    names = [f"creative-{i}" for i in range(arms)]
    contexts = []
    for _ in range(8):
        x = np.zeros(dim)
        x[0] = 1.0
        x[1 + rng.choice(dim - 1, size=3, replace=False)] = 1.0
        x.setflags(write=False)
        contexts.append(x)
    policy = registry.create("policy", {"type": name, "seed": 1}, "thompson")
    for i in range(2_000):
        x = contexts[i % len(contexts)]
        arm = policy.choose(names, x).arm
        policy.observe(arm, x)
        if rng.random() < 0.03:
            policy.reward(arm, x)
    times = []
    for i in range(calls):
        x = contexts[i % len(contexts)]
        t = time.perf_counter()
        policy.choose(names, x)
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e6


def _ratio(a: float, b: float) -> str:
    return f"{a / b:6.2f}" if b > 0 else "   n/a"


def main(rounds: int, seed: int) -> None:
    env = Environment(seed=seed)
    gain = (env.ctr.max(axis=0) @ env.weights) / (env.ctr[env.best_fixed] @ env.weights) - 1
    print(
        f"{len(env.arms)} arms, {len(env.labels)} contexts (d={env.dim}), true CTR "
        f"{env.ctr.min():.1%}-{env.ctr.max():.1%}, oracle +{gain:.0%} clicks over the best "
        f"fixed arm; T={rounds}, seed {seed}"
    )
    t = time.perf_counter()
    curves: dict[str, RegretCurve] = {}
    seconds: dict[str, float] = {}
    for name in POLICIES:
        start = time.perf_counter()
        curves.update(compare([name], rounds, seed, env))
        seconds[name] = time.perf_counter() - start
    total = time.perf_counter() - t

    points = [c for c in CHECKPOINTS if c < rounds] + [rounds]
    print("\ncumulative regret vs the best fixed arm")
    print(f"{'policy':10s}" + "".join(f"{p:>10d}" for p in points) + f"{'clicks':>9s}")
    for name, curve in curves.items():
        row = "".join(f"{curve.at(p):10.1f}" for p in points)
        print(f"{name:10s}{row}{curve.clicks:9d}")

    tenth = max(rounds // 10, 1)
    print("\nregret per round vs the per-context oracle (x1000), first vs last tenth")
    for name, curve in curves.items():
        first = curve.per_round(0, tenth, "oracle") * 1000
        last = curve.per_round(rounds - tenth, rounds, "oracle") * 1000
        print(f"{name:10s} first {first:6.2f}  last {last:6.2f}  last/first {_ratio(last, first)}")

    print("\nfinal regret ratios (negative: better than the best fixed arm)")
    for name in ("thompson", "linucb"):
        for against in YARDSTICKS:
            mine = curves[name].at(rounds, against)
            uni = curves["uniform"].at(rounds, against)
            eps = curves["epsilon"].at(rounds, against)
            print(
                f"{name:10s} vs {against:6s}: /uniform {_ratio(mine, uni)}   "
                f"/epsilon {_ratio(mine, eps)}"
            )

    print("\nsimulation time: " + ", ".join(f"{n} {s:.1f}s" for n, s in seconds.items()))
    print(f"total {total:.1f}s")
    print("\nchoose() over 10 arms, d=12 (median):")
    for name in POLICIES:
        print(f"{name:10s} {choose_cost(name):7.1f} us")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 50_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 0,
    )
