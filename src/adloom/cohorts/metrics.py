"""The OSMF paper's two metrics, plus the agreement score used against planted groups.

* AUROC of click prediction: how well a model separates clicked from unclicked
  impressions (0.5 is chance).
* NDCG@5 between groups: rank a product's creatives by one group's expected click rate
  and score that ranking with another group's rates as relevance, averaged over ordered
  pairs of groups. Groups that want the same creatives score near 1; lower means the
  groups are more distinct, which is the point of one creative per group.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from adloom.errors import InputError

FloatArray = NDArray[np.float64]


def _ranks(x: FloatArray) -> FloatArray:
    """1-based ranks with ties sharing their average rank."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    # Boundaries of runs of equal values.
    edges = np.flatnonzero(np.diff(sorted_x)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [len(x)]))
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def auroc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U), ties counted as half."""
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(y) != len(s):
        raise InputError("scores", f"{len(s)} scores for {len(y)} labels")
    if not np.all((y == 0) | (y == 1)):
        raise InputError("labels", "expected 0 or 1")
    if not np.all(np.isfinite(s)):
        raise InputError("scores", "not finite")
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        raise InputError("labels", "AUROC needs both clicks and non-clicks")
    r = _ranks(s)
    return float((r[y == 1].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def ndcg_at_k(relevance: ArrayLike, scores: ArrayLike, k: int = 5) -> float:
    """NDCG@k of ranking items by ``scores`` when their gains are ``relevance`` (>= 0)."""
    rel = np.asarray(relevance, dtype=np.float64).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(rel) != len(s):
        raise InputError("scores", f"{len(s)} scores for {len(rel)} items")
    if k < 1:
        raise InputError("k", "must be at least 1")
    if np.any(rel < 0) or not np.all(np.isfinite(rel)):
        raise InputError("relevance", "must be finite and non-negative")
    k = min(k, len(rel))
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = float(np.sort(rel)[::-1][:k] @ discount)
    if ideal == 0.0:
        return 1.0
    got = float(rel[np.argsort(-s, kind="mergesort")[:k]] @ discount)
    return got / ideal


def group_ndcg(rates: ArrayLike, k: int = 5) -> float:
    """Mean NDCG@k over ordered pairs of groups of one group's ranking of the creatives
    judged by another group's rates. ``rates`` is (groups, creatives).

    Rates are min-max scaled per group first, so a group that clicks more overall does
    not dominate: what counts is the order of preference, as in the paper.
    """
    r = np.asarray(rates, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 2 or r.shape[1] < 2:
        raise InputError("rates", "need at least 2 groups and 2 creatives")
    lo = r.min(axis=1, keepdims=True)
    span = r.max(axis=1, keepdims=True) - lo
    gains = np.where(span > 0, (r - lo) / np.where(span > 0, span, 1.0), 1.0)
    values = [
        ndcg_at_k(gains[b], r[a], k) for a in range(r.shape[0]) for b in range(r.shape[0]) if a != b
    ]
    return float(np.mean(values))


def group_rates(labels: ArrayLike, probabilities: ArrayLike, min_size: int = 1) -> FloatArray:
    """Mean predicted click probability per (group, creative) from a (users, creatives)
    matrix, one row per group (in sorted label order); groups smaller than ``min_size``
    are left out."""
    lab = np.asarray(labels).reshape(-1)
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != len(lab):
        raise InputError("probabilities", "expected one row per user")
    groups, counts = np.unique(lab, return_counts=True)
    keep = groups[counts >= min_size]
    if not len(keep):
        return np.empty((0, p.shape[1]))
    return np.stack([p[lab == g].mean(axis=0) for g in keep])


def adjusted_rand(truth: ArrayLike, labels: ArrayLike) -> float:
    """Adjusted Rand index: 1 for the same partition, about 0 for an unrelated one."""
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(np.asarray(truth), np.asarray(labels)))
