"""K-means and the choice of k: planted clusters are recovered by every criterion and
both clusterers; the separation scores agree with scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from adloom import registry
from adloom.cohorts.fit import enforce_min_size
from adloom.cohorts.grouping import (
    GroupingConfig,
    NumpyKMeans,
    NumpyKMeansConfig,
    assign,
    calinski_harabasz,
    davies_bouldin,
    group,
    silhouette,
)
from adloom.cohorts.metrics import adjusted_rand
from adloom.errors import AdloomError, InputError


def blobs(k: int, n: int = 2400, d: int = 8, seed: int = 0, spread: float = 4.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread, (k, d))
    labels = rng.integers(0, k, n)
    x = centres[labels] + rng.normal(0, 1.0, (n, d))
    return x.astype(np.float32), labels


@pytest.mark.parametrize("criterion", ["silhouette", "calinski_harabasz", "davies_bouldin"])
@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_finds_planted_k(criterion: str, k: int) -> None:
    x, truth = blobs(k, seed=k)
    g = group(x, GroupingConfig(criterion=criterion, sample_size=1500))  # type: ignore[arg-type]
    assert g.k == k
    assert adjusted_rand(truth, g.labels) >= 0.95
    assert set(g.scores) == {2, 3, 4, 5}


def test_structureless_data_is_one_group() -> None:
    x = np.random.default_rng(1).normal(size=(2000, 12)).astype(np.float32)
    g = group(x)
    assert g.k == 1
    assert set(g.labels.tolist()) == {0}
    np.testing.assert_allclose(g.centres[0], x.mean(axis=0), atol=1e-4)


def test_groups_are_numbered_by_size_and_distances_are_to_own_centre() -> None:
    x, _ = blobs(3, seed=5)
    g = group(x)
    sizes = np.bincount(g.labels)
    assert list(sizes) == sorted(sizes, reverse=True)
    own = np.sqrt(((x - g.centres[g.labels]) ** 2).sum(axis=1))
    np.testing.assert_allclose(g.distance, own, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("clusterer", ["numpy", "sklearn"])
def test_minibatch_path_on_large_data(clusterer: str) -> None:
    x, truth = blobs(4, n=60_000, d=16, seed=7)
    spec = (
        {"type": "numpy", "minibatch_above": 20_000, "batch_size": 2048}
        if clusterer == "numpy"
        else {"type": "sklearn", "minibatch_above": 20_000}
    )
    g = group(x, GroupingConfig(clusterer=spec, sample_size=2000))
    assert g.k == 4
    assert adjusted_rand(truth, g.labels) >= 0.95


def test_numpy_kmeans_close_to_sklearn_inertia() -> None:
    from sklearn.cluster import KMeans

    x, _ = blobs(5, n=3000, d=6, seed=11, spread=2.5)
    ours = NumpyKMeans(NumpyKMeansConfig(n_init=3)).fit(x, 5, seed=0)
    ref = KMeans(n_clusters=5, n_init=3, random_state=0).fit(x)
    assert ours.inertia <= ref.inertia_ * 1.02
    labels, sqd = assign(x, ours.centres)
    np.testing.assert_array_equal(labels, ours.labels)
    assert sqd.sum() == pytest.approx(ours.inertia, rel=1e-4)


def test_separation_scores_match_sklearn() -> None:
    x, truth = blobs(3, n=900, d=5, seed=2, spread=2.0)
    labels = truth.astype(np.int64)
    assert silhouette(x, labels) == pytest.approx(silhouette_score(x, labels), abs=1e-4)
    assert calinski_harabasz(x, labels) == pytest.approx(
        calinski_harabasz_score(x, labels), rel=1e-4
    )
    assert davies_bouldin(x, labels) == pytest.approx(davies_bouldin_score(x, labels), rel=1e-4)


def test_degenerate_scores() -> None:
    x = np.zeros((10, 2), dtype=np.float32)
    one = np.zeros(10, dtype=np.int64)
    assert silhouette(x, one) == 0.0
    assert calinski_harabasz(x, one) == 0.0
    assert davies_bouldin(x, one) == float("inf")


def test_tiny_input_is_one_group() -> None:
    g = group(np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32))
    assert g.k == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k_min": 4, "k_max": 3}, "k_max"),
        ({"k_min": 1}, "greater than or equal to 2"),
        ({"criterion": "elbow"}, "silhouette"),
        ({"sample_size": 10}, "greater than or equal to 50"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_config_rejects(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GroupingConfig.model_validate(kwargs)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((0, 3), dtype=np.float32), "non-empty"),
        (np.zeros(5, dtype=np.float32), "non-empty"),
        (np.array([[np.nan, 1.0]] * 5, dtype=np.float32), "not finite"),
    ],
)
def test_group_rejects(x: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        group(x)


def test_backend_table() -> None:
    with pytest.raises(AdloomError, match=r"unknown clusterer backend 'faiss' \(available: numpy"):
        registry.create("clusterer", "faiss", "numpy")
    with pytest.raises(AdloomError, match="unknown backend kind"):
        registry.resolve("cohort", "x")
    with pytest.raises(AdloomError, match=r"clusterer backend 'numpy': n_init"):
        registry.create("clusterer", {"type": "numpy", "n_init": 0}, "numpy")
    with pytest.raises(AdloomError, match="cannot load"):
        registry.create("clusterer", "adloom.cohorts.grouping:Missing", "numpy")
    dotted = registry.create("clusterer", "adloom.cohorts.grouping:SklearnKMeans", "numpy")
    assert dotted.name == "sklearn"
    config = NumpyKMeansConfig(n_init=2)
    assert registry.create("clusterer", config, "numpy").config.n_init == 2


def test_k_anonymity_merge_folds_small_groups_into_nearest() -> None:
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.5, 0.0], [10.5, 0.0]], dtype=np.float32)
    labels = np.repeat(np.arange(4), [100, 80, 10, 5]).astype(np.int64)
    new, cents, merged, ok = enforce_min_size(labels, centres, 50, "merge")
    assert np.bincount(new).tolist() == [110, 85]
    assert merged == [[2], [3]]
    assert ok == [True, True]
    np.testing.assert_allclose(cents[0], [(0 * 100 + 0.5 * 10) / 110, 0.0], rtol=1e-5)


def test_k_anonymity_generic_keeps_groups_but_flags_small_ones() -> None:
    centres = np.zeros((3, 2), dtype=np.float32)
    labels = np.repeat(np.arange(3), [100, 60, 10]).astype(np.int64)
    new, _, merged, ok = enforce_min_size(labels, centres, 50, "generic")
    np.testing.assert_array_equal(new, labels)
    assert ok == [True, True, False]
    assert merged == [[], [], []]


def test_k_anonymity_when_everyone_is_too_few() -> None:
    centres = np.array([[0.0], [1.0]], dtype=np.float32)
    labels = np.repeat(np.arange(2), [10, 12]).astype(np.int64)
    new, _, merged, ok = enforce_min_size(labels, centres, 50, "merge")
    assert set(new.tolist()) == {0}
    assert ok == [False]  # one group of 22 is still too few: it gets the generic creative
    assert merged == [[0]]
