"""AUROC, NDCG@k between groups and ARI: known values, agreement with scikit-learn,
and a table of invalid inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from adloom.cohorts.metrics import adjusted_rand, auroc, group_ndcg, group_rates, ndcg_at_k
from adloom.errors import InputError


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_matches_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(size=500) + 0.7 * y, 1)  # rounding makes many ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auroc_extremes() -> None:
    y = np.array([0, 0, 1, 1])
    assert auroc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert auroc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 1], [0.1], "1 scores for 2 labels"),
        ([0, 2], [0.1, 0.2], "expected 0 or 1"),
        ([0, 1], [0.1, float("nan")], "not finite"),
        ([1, 1], [0.1, 0.2], "needs both clicks and non-clicks"),
    ],
)
def test_auroc_rejects(labels: list[int], scores: list[float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        auroc(labels, scores)


def test_ndcg_known_value() -> None:
    # Ranking puts the gain-3 item second: DCG = 1 + 3/log2(3), ideal = 3 + 1/log2(3).
    got = ndcg_at_k([3.0, 1.0, 0.0], [0.1, 0.9, 0.0], k=2)
    assert got == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    assert ndcg_at_k([3.0, 1.0, 0.0], [3.0, 1.0, 0.0]) == 1.0
    assert ndcg_at_k([0.0, 0.0], [1.0, 2.0]) == 1.0


@pytest.mark.parametrize(
    ("relevance", "scores", "k", "message"),
    [
        ([1.0, 2.0], [1.0], 5, "1 scores for 2 items"),
        ([1.0, 2.0], [1.0, 2.0], 0, "at least 1"),
        ([-1.0, 2.0], [1.0, 2.0], 5, "non-negative"),
    ],
)
def test_ndcg_rejects(relevance: list[float], scores: list[float], k: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        ndcg_at_k(relevance, scores, k)


def test_group_ndcg_is_one_for_agreeing_groups_and_lower_for_opposed() -> None:
    agree = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]])
    assert group_ndcg(agree) == pytest.approx(1.0)
    opposed = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]])
    assert group_ndcg(opposed) < 0.5
    with pytest.raises(InputError, match="at least 2 groups"):
        group_ndcg(agree[:1])


def test_group_rates_means_and_minimum_size() -> None:
    p = np.array([[0.1, 0.9], [0.3, 0.7], [0.5, 0.5]])
    rates = group_rates(np.array(["a", "a", "b"]), p)
    np.testing.assert_allclose(rates, [[0.2, 0.8], [0.5, 0.5]])
    assert group_rates(np.array(["a", "a", "b"]), p, min_size=2).shape == (1, 2)
    assert group_rates(np.array(["a", "a", "b"]), p, min_size=9).shape == (0, 2)
    with pytest.raises(InputError, match="one row per user"):
        group_rates(np.array(["a"]), p)


def test_adjusted_rand_ignores_label_names() -> None:
    assert adjusted_rand([0, 0, 1, 1], [5, 5, 7, 7]) == 1.0
    rng = np.random.default_rng(0)
    assert abs(adjusted_rand(rng.integers(0, 3, 3000), rng.integers(0, 3, 3000))) < 0.02
