"""Cohorts: quality against same-run baselines, and grouping a million users.

Prints:

* Preference model on a simulated log with planted groups (the sample campaign's four
  products, four styled creatives each, the packaged MiniLM text and EfficientNet-Lite0
  image models): training throughput, held-out AUROC against logistic regression and
  gradient boosting on the same features, NDCG@5 between groups against demographic
  segments and size-matched random groups, the k found and the adjusted Rand index
  against the planted groups;
* Scale: 1,000,000 users of one product embedded by that model, then grouped (k chosen
  on a sample, mini-batch K-means on all) by adloom's numpy clusterer and by
  scikit-learn's plain KMeans (every k fitted on all rows, silhouette on the same sample
  size): wall time, peak traced memory, agreement; the ratio is sklearn / adloom;
* Open Bandit Dataset (small sample): AUROC against the baselines on each behaviour
  policy's log (mean and spread over three splits, the logs have few clicks), and NDCG@5
  of groups for the five most shown items against demographic and random groups.

Usage: ``.venv/bin/python bench/cohorts.py [DATA_DIR] [--users N]``; the folder defaults
to ``$ADLOOM_DATA``, then ``../shared/data`` beside the repository.
"""

from __future__ import annotations

import os

THREADS = "2"  # the goal is stated for two cores
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, THREADS)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from adloom.cohorts.data import load_open_bandit  # noqa: E402
from adloom.cohorts.fit import CohortSettings, FitResult, fit_cohorts  # noqa: E402
from adloom.cohorts.grouping import GroupingConfig, group, silhouette  # noqa: E402
from adloom.cohorts.metrics import adjusted_rand  # noqa: E402
from adloom.cohorts.model import PreferenceModel  # noqa: E402
from adloom.cohorts.simulate import simulate_clicks  # noqa: E402
from adloom.demo import load_sample  # noqa: E402
from adloom.measurement.datasets import data_dir  # noqa: E402


def measured(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Result, seconds and peak traced memory (MB) of ``fn``."""
    tracemalloc.start()
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return result, seconds, peak


def quality(n_users: int) -> FitResult:
    products = load_sample()[0].products
    images = Path(tempfile.mkdtemp(prefix="adloom-cohorts-"))
    data = simulate_clicks(
        n_users=n_users, n_groups=4, products=products, impressions=12, seed=0, image_dir=images
    )
    print(
        f"== Simulated log: {len(data.users)} users ({int(data.users.consented.sum())} "
        f"consenting), {len(data.items)} creatives of {len(data.items.products)} products, "
        f"{len(data)} impressions, {data.clicks} clicks, 4 planted groups"
    )
    settings = CohortSettings()
    result, seconds, _ = measured(lambda: fit_cohorts(data, settings))
    report = result.report
    t = report.training
    print(
        f"preference model: {t.examples} training examples x {t.epochs} epochs in "
        f"{t.seconds:.1f}s = {t.examples_per_s:,.0f} examples/s on one thread "
        f"(fit, all steps: {seconds:.1f}s)"
    )
    lr_rate, gbm_rate = baseline_throughput(data, result.model, settings)
    print(
        f"same rows, same features, one thread: logistic regression fits "
        f"{lr_rate:,.0f} examples/s, gradient boosting (150 rounds) {gbm_rate:,.0f}; "
        f"the preference model's epoch costs {lr_rate / t.examples_per_s:.1f}x a full "
        f"logistic regression fit and {gbm_rate / t.examples_per_s:.2f}x gradient boosting's"
    )
    assert report.auroc is not None
    base = report.auroc.baselines
    print(
        f"held-out AUROC ({t.test_examples} impressions): preference model "
        f"{report.auroc.cohorts:.4f}, logistic regression {base['logistic_regression']:.4f}, "
        f"gradient boosting {base['gradient_boosting']:.4f}"
    )
    print(f"{'product':<20}{'k':>3}{'ARI':>8}{'NDCG@5':>9}{'demographic':>13}{'random':>9}  groups")
    for p in report.products:
        n = p.ndcg_at_5
        assert n is not None
        demo = next(v for k, v in n.baselines.items() if k.startswith("demographic"))
        print(
            f"{p.product_id:<20}{p.k:>3}{p.adjusted_rand or 0:>8.3f}{n.cohorts:>9.3f}"
            f"{demo or float('nan'):>13.3f}{n.baselines['random'] or 0:>9.3f}  "
            + "/".join(str(g.size) for g in p.groups)
        )
    best = report.products[0].groups[0].profile
    print(f"e.g. {best.summary}")
    return result


def baseline_throughput(
    data: Any, model: PreferenceModel, settings: CohortSettings
) -> tuple[float, float]:
    """Examples per second of the baselines' whole fits on the preference model's rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from adloom.cohorts.fit import item_matrix, split_rows

    train, _ = split_rows(data, settings.preference.test_fraction, settings.seed)
    x = np.hstack(
        [
            model.user_features(data.users)[data.user[train]],
            item_matrix(model.items)[data.item[train]],
        ]
    )
    y = data.click[train]
    rates = []
    with threadpool_limits(1):
        for est in (
            LogisticRegression(max_iter=2000),
            HistGradientBoostingClassifier(max_iter=150, random_state=0),
        ):
            started = time.perf_counter()
            est.fit(x, y)
            rates.append(len(y) / (time.perf_counter() - started))
    return rates[0], rates[1]


def scale(model: PreferenceModel, n_users: int, seed: int = 1) -> None:
    print(f"== Grouping {n_users:,} users for one product (threads: {THREADS})")
    data = simulate_clicks(
        n_users=n_users,
        n_groups=4,
        products=load_sample()[0].products[:1],
        impressions=1,
        seed=0,
    )
    creatives = [str(i) for i in data.items.ids]
    truth = data.truth[data.items.products[0]]
    ux = model.user_features(data.users)
    emb, embed_s, embed_mb = measured(lambda: model.embed(ux, creatives))
    print(f"embedding: {embed_s:.1f}s, peak {embed_mb:,.0f} MB traced ({emb.shape[1]} dims)")
    cfg = GroupingConfig(seed=seed)
    ours, ours_s, ours_mb = measured(lambda: group(emb, cfg))
    print(
        f"adloom (numpy, mini-batch): k={ours.k} in {ours_s:.1f}s, peak {ours_mb:,.0f} MB "
        f"traced; ARI vs planted {adjusted_rand(truth, ours.labels):.3f}; "
        f"embed + group {embed_s + ours_s:.1f}s (goal <= 60s)"
    )

    def plain_sklearn() -> tuple[int, np.ndarray]:
        from sklearn.cluster import KMeans

        rng = np.random.default_rng(seed)
        sample = rng.choice(len(emb), size=cfg.sample_size, replace=False)
        best: tuple[float, int, np.ndarray] | None = None
        for k in range(cfg.k_min, cfg.k_max + 1):
            labels = KMeans(n_clusters=k, random_state=seed).fit(emb).labels_.astype(np.int64)
            score = silhouette(emb[sample], labels[sample])
            if best is None or score > best[0]:
                best = (score, k, labels)
        assert best is not None
        return best[1], best[2]

    (k, labels), sk_s, sk_mb = measured(plain_sklearn)
    print(
        f"scikit-learn KMeans (every k on all rows): k={k} in {sk_s:.1f}s, peak {sk_mb:,.0f} MB "
        f"traced; ARI vs planted {adjusted_rand(truth, labels):.3f}; "
        f"agreement with adloom {adjusted_rand(ours.labels, labels):.3f}"
    )
    print(f"speed-up: {sk_s / ours_s:.1f}x (sklearn / adloom); memory ratio {sk_mb / ours_mb:.2f}")


def open_bandit(root: Path) -> None:
    folder = root / "open_bandit_dataset_small"
    print("== Open Bandit Dataset (small sample, campaign 'all')")
    for policy in ("random", "bts"):
        data = load_open_bandit(folder, policy, "all")
        counts = np.bincount(data.item, minlength=len(data.items))
        top = [str(data.items.ids[i]) for i in np.argsort(-counts, kind="stable")[:5]]
        runs = []
        for seed in (0, 1, 2):
            settings = CohortSettings.model_validate(
                {
                    "products": top,
                    "min_group_size": 20,
                    "seed": seed,
                    "preference": {"seed": seed, "epochs": 10},
                }
            )
            runs.append(fit_cohorts(data, settings).report)
        aurocs = {
            "preference model": [r.auroc.cohorts for r in runs if r.auroc],
            "logistic regression": [
                r.auroc.baselines["logistic_regression"] for r in runs if r.auroc
            ],
            "gradient boosting": [r.auroc.baselines["gradient_boosting"] for r in runs if r.auroc],
        }
        print(
            f"{policy}: {len(data)} impressions, {data.clicks} clicks, {len(data.users)} "
            f"distinct users, {len(data.items)} items; held-out AUROC over 3 splits:"
        )
        for name, values in aurocs.items():
            vals = [v for v in values if v is not None]
            print(f"   {name:<20} {statistics.mean(vals):.3f} +- {statistics.pstdev(vals):.3f}")
        report = runs[0]
        for p in report.products:
            n = p.ndcg_at_5
            sizes = "/".join(str(g.size) for g in p.groups)
            if n is None:
                print(f"   item {p.product_id:>3}: k={p.k}, groups {sizes} after the minimum size")
                continue
            demo = next((v for k, v in n.baselines.items() if k.startswith("demographic")), None)
            demo_s = "n/a" if demo is None else f"{demo:.3f}"
            print(
                f"   item {p.product_id:>3}: k={p.k}, groups {sizes}, NDCG@5 over "
                f"{p.ndcg_items} items {n.cohorts:.3f} (demographic {demo_s}, "
                f"random {n.baselines['random']:.3f})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=None)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--sim-users", type=int, default=5000)
    args = parser.parse_args()
    started = time.perf_counter()
    result = quality(args.sim_users)
    scale(result.model, args.users)
    root = data_dir(args.data)
    if (root / "open_bandit_dataset_small").is_dir():
        open_bandit(root)
    else:
        print(f"(no Open Bandit data under {root}: skipped)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"done in {time.perf_counter() - started:.0f}s; process peak RSS {rss:,.0f} MB")


if __name__ == "__main__":
    main()
