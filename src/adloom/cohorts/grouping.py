"""Per-product grouping: K-means over preference embeddings, k chosen by separation.

The number of groups is picked on a random sample (silhouette by default, or
Calinski-Harabasz / Davies-Bouldin) over a configurable range, capped at 5 as in the
paper; when even the best silhouette shows no structure, everyone is one group. The
chosen k is then fitted on all users, warm-started from the sample's centres: Lloyd
iterations for ordinary sizes, mini-batch updates followed by full passes for large ones,
so a million users take seconds rather than minutes.

The embedded clusterer (``numpy``) is plain numpy with chunked distance computations
(memory stays O(chunk x k)); ``sklearn`` runs scikit-learn's KMeans / MiniBatchKMeans
for comparison.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator

from adloom import registry
from adloom.domain import Model
from adloom.errors import InputError
from adloom.registry import Backend, BackendConfig

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: Rows per block in distance computations: bounds memory at CHUNK x k floats.
CHUNK = 65536


@dataclass(frozen=True)
class KMeansResult:
    centres: F32
    labels: I64
    inertia: float
    iterations: int


class Clusterer(ABC):
    """Partitions rows into ``k`` clusters; ``init`` warm-starts from given centres."""

    name: ClassVar[str] = "clusterer"

    @abstractmethod
    def fit(self, x: F32, k: int, *, seed: int = 0, init: F32 | None = None) -> KMeansResult:
        """Centres, one label per row, and the within-cluster sum of squares."""


# --------------------------------------------------------------------------- numpy k-means


def assign(x: F32, centres: F32, chunk: int = CHUNK) -> tuple[I64, F64]:
    """Nearest centre and squared distance to it, computed block by block."""
    n = len(x)
    labels = np.empty(n, dtype=np.int64)
    sqd = np.empty(n, dtype=np.float64)
    cc = np.einsum("ij,ij->i", centres, centres)
    for start in range(0, n, chunk):
        xs = x[start : start + chunk]
        d2 = cc[None, :] - 2.0 * (xs @ centres.T)
        lab = np.argmin(d2, axis=1)
        labels[start : start + chunk] = lab
        near = d2[np.arange(len(xs)), lab] + np.einsum("ij,ij->i", xs, xs)
        sqd[start : start + chunk] = np.maximum(near, 0.0)
    return labels, sqd


def _sums(x: F32, labels: I64, k: int) -> tuple[F64, F64]:
    counts: F64 = np.bincount(labels, minlength=k).astype(np.float64)
    sums: F64 = np.stack(
        [np.bincount(labels, weights=x[:, j], minlength=k) for j in range(x.shape[1])], axis=1
    )
    return sums, counts


def kmeans_pp(x: F32, k: int, rng: np.random.Generator) -> F32:
    """k-means++ seeding (D^2 sampling), with a few candidates per step."""
    n = len(x)
    centres = np.empty((k, x.shape[1]), dtype=np.float32)
    centres[0] = x[rng.integers(n)]
    closest = assign(x, centres[:1])[1]
    trials = 2 + int(np.log(k))
    for c in range(1, k):
        total = closest.sum()
        if total <= 0:
            centres[c] = x[rng.integers(n)]
            continue
        cand = rng.choice(n, size=trials, p=closest / total)
        best, best_pot, best_d = cand[0], np.inf, closest
        for i in cand:
            d = np.minimum(closest, assign(x, x[i : i + 1])[1])
            pot = d.sum()
            if pot < best_pot:
                best, best_pot, best_d = i, pot, d
        centres[c] = x[best]
        closest = best_d
    return centres


def lloyd(x: F32, centres: F32, *, max_iter: int = 100, tol: float = 1e-4) -> KMeansResult:
    """Full-batch K-means from the given centres; an emptied cluster restarts at the
    point farthest from its centre."""
    k = len(centres)
    centres = centres.astype(np.float32, copy=True)
    scale = float(np.mean(np.var(x, axis=0))) or 1.0
    labels, sqd = assign(x, centres)
    it = 0
    while it < max_iter:
        it += 1
        sums, counts = _sums(x, labels, k)
        new = centres.astype(np.float64)
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled, None]
        for j in np.flatnonzero(~filled):
            far = int(np.argmax(sqd))
            new[j] = x[far]
            sqd[far] = 0.0
        shift = float(np.sum((new - centres) ** 2))
        centres = new.astype(np.float32)
        labels, sqd = assign(x, centres)
        if shift <= tol * scale * k:
            break
    return KMeansResult(centres, labels, float(sqd.sum()), it)


def minibatch(
    x: F32,
    centres: F32,
    *,
    batch_size: int,
    max_batches: int,
    rng: np.random.Generator,
    tol: float = 1e-4,
) -> F32:
    """Mini-batch K-means (per-centre learning rates 1/count), stopping once the
    centres stop moving."""
    k = len(centres)
    c = centres.astype(np.float64, copy=True)
    seen = np.zeros(k)
    scale = float(np.mean(np.var(x[: min(len(x), 50_000)], axis=0))) or 1.0
    calm = 0
    for _ in range(max_batches):
        idx = rng.integers(0, len(x), size=batch_size)
        xb = x[idx]
        lab, _ = assign(xb, c.astype(np.float32))
        sums, counts = _sums(xb, lab, k)
        seen += counts
        moved = counts > 0
        step = np.zeros_like(c)
        step[moved] = (sums[moved] - counts[moved, None] * c[moved]) / seen[moved, None]
        c += step
        calm = calm + 1 if float(np.sum(step**2)) <= tol * scale * k else 0
        if calm >= 10:
            break
    return c.astype(np.float32)


class NumpyKMeansConfig(BackendConfig):
    type: Literal["numpy"] = "numpy"
    n_init: int = Field(3, ge=1, description="k-means++ restarts when not warm-started.")
    max_iter: int = Field(100, ge=1)
    tol: float = Field(1e-4, gt=0)
    minibatch_above: int = Field(200_000, ge=1, description="Rows from which to use batches.")
    batch_size: int = Field(8192, ge=64)
    max_batches: int = Field(400, ge=1)
    refine_passes: int = Field(3, ge=0, description="Full passes after the mini-batches.")


class NumpyKMeans(Clusterer, Backend[NumpyKMeansConfig]):
    """adloom's own K-means: k-means++ seeding, Lloyd or mini-batch then full passes."""

    name = "numpy"
    Config: ClassVar[type[BackendConfig]] = NumpyKMeansConfig

    def fit(self, x: F32, k: int, *, seed: int = 0, init: F32 | None = None) -> KMeansResult:
        cfg = self.config
        x = np.ascontiguousarray(x, dtype=np.float32)
        rng = np.random.default_rng(seed)
        if len(x) >= cfg.minibatch_above:
            if init is None:
                sample = x[rng.choice(len(x), size=min(len(x), 20 * cfg.batch_size), replace=False)]
                init = kmeans_pp(sample, k, rng)
            centres = minibatch(
                x, init, batch_size=cfg.batch_size, max_batches=cfg.max_batches, rng=rng
            )
            if cfg.refine_passes:
                return lloyd(x, centres, max_iter=cfg.refine_passes, tol=cfg.tol)
            labels, sqd = assign(x, centres)
            return KMeansResult(centres, labels, float(sqd.sum()), 0)
        if init is not None:
            return lloyd(x, init, max_iter=cfg.max_iter, tol=cfg.tol)
        best: KMeansResult | None = None
        for _ in range(cfg.n_init):
            res = lloyd(x, kmeans_pp(x, k, rng), max_iter=cfg.max_iter, tol=cfg.tol)
            if best is None or res.inertia < best.inertia:
                best = res
        assert best is not None
        return best


class SklearnKMeansConfig(BackendConfig):
    type: Literal["sklearn"] = "sklearn"
    n_init: int = Field(1, ge=1)
    minibatch_above: int | None = Field(
        None, ge=1, description="Use MiniBatchKMeans from this many rows (None: never)."
    )
    batch_size: int = Field(8192, ge=64)


class SklearnKMeans(Clusterer, Backend[SklearnKMeansConfig]):
    """scikit-learn's KMeans (or MiniBatchKMeans), for comparison."""

    name = "sklearn"
    Config: ClassVar[type[BackendConfig]] = SklearnKMeansConfig

    def fit(self, x: F32, k: int, *, seed: int = 0, init: F32 | None = None) -> KMeansResult:
        from sklearn.cluster import KMeans, MiniBatchKMeans

        cfg = self.config
        start: Any = "k-means++" if init is None else init
        n_init = cfg.n_init if init is None else 1
        model: Any
        if cfg.minibatch_above is not None and len(x) >= cfg.minibatch_above:
            model = MiniBatchKMeans(
                n_clusters=k,
                init=start,
                n_init=n_init,
                batch_size=cfg.batch_size,
                random_state=seed,
            )
        else:
            model = KMeans(n_clusters=k, init=start, n_init=n_init, random_state=seed)
        model.fit(x)
        return KMeansResult(
            model.cluster_centers_.astype(np.float32),
            model.labels_.astype(np.int64),
            float(model.inertia_),
            int(model.n_iter_),
        )


# --------------------------------------------------------------------------- separation


def silhouette(x: F32, labels: I64, chunk: int = 2048) -> float:
    """Mean silhouette (Euclidean); members of singleton clusters count 0."""
    n = len(x)
    k = int(labels.max()) + 1
    if k < 2 or n < 3:
        return 0.0
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    onehot = np.zeros((n, k), dtype=np.float32)
    onehot[np.arange(n), labels] = 1.0
    sq = np.einsum("ij,ij->i", x, x)
    total = 0.0
    for start in range(0, n, chunk):
        xs = x[start : start + chunk]
        d = np.sqrt(np.maximum(sq[start : start + chunk, None] - 2.0 * xs @ x.T + sq[None, :], 0))
        sums = (d @ onehot).astype(np.float64)
        own = labels[start : start + chunk]
        rows = np.arange(len(xs))
        own_n = counts[own]
        a = sums[rows, own] / np.maximum(own_n - 1, 1)
        means = sums / np.maximum(counts, 1)[None, :]
        means[rows, own] = np.inf
        means[:, counts == 0] = np.inf
        b = means.min(axis=1)
        s = np.where(own_n > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
        total += float(s.sum())
    return total / n


def calinski_harabasz(x: F32, labels: I64) -> float:
    """Between- over within-cluster dispersion, each per degree of freedom (higher is better)."""
    n, k = len(x), int(labels.max()) + 1
    if k < 2 or n <= k:
        return 0.0
    sums, counts = _sums(x, labels, k)
    filled = counts > 0
    centres = sums[filled] / counts[filled, None]
    mean = x.mean(axis=0, dtype=np.float64)
    between = float(np.sum(counts[filled] * np.sum((centres - mean) ** 2, axis=1)))
    full = np.zeros((k, x.shape[1]))
    full[filled] = centres
    within = float(np.sum((x - full[labels]) ** 2))
    if within == 0:
        return float("inf")
    return between * (n - k) / (within * (k - 1))


def davies_bouldin(x: F32, labels: I64) -> float:
    """Mean over clusters of the worst (spread_i + spread_j) / gap_ij (lower is better)."""
    k = int(labels.max()) + 1
    if k < 2:
        return float("inf")
    sums, counts = _sums(x, labels, k)
    filled = np.flatnonzero(counts > 0)
    centres = np.zeros((k, x.shape[1]))
    centres[filled] = sums[filled] / counts[filled, None]
    spread = np.zeros(k)
    dist = np.sqrt(np.sum((x - centres[labels]) ** 2, axis=1))
    spread[filled] = np.bincount(labels, weights=dist, minlength=k)[filled] / counts[filled]
    c = centres[filled]
    gaps = np.sqrt(np.sum((c[:, None, :] - c[None, :, :]) ** 2, axis=2))
    ratio = (spread[filled][:, None] + spread[filled][None, :]) / np.where(gaps > 0, gaps, 1e-12)
    np.fill_diagonal(ratio, -np.inf)
    return float(np.mean(ratio.max(axis=1)))


CRITERIA = {
    "silhouette": (silhouette, True),
    "calinski_harabasz": (calinski_harabasz, True),
    "davies_bouldin": (davies_bouldin, False),
}
Criterion = Literal["silhouette", "calinski_harabasz", "davies_bouldin"]


# --------------------------------------------------------------------------- selection


class GroupingConfig(Model):
    """How groups are found for one product."""

    k_min: int = Field(2, ge=2, le=20)
    k_max: int = Field(5, ge=2, le=20, description="Most groups per product (the paper uses 5).")
    criterion: Criterion = "silhouette"
    min_silhouette: float = Field(
        0.1,
        ge=-1.0,
        le=1.0,
        description="Below this best silhouette (of the sample) everyone forms one group.",
    )
    sample_size: int = Field(4000, ge=50, description="Rows the choice of k is made on.")
    clusterer: str | dict[str, Any] = Field("numpy", description="Clusterer backend.")
    seed: int = 0

    @model_validator(mode="after")
    def _range(self) -> GroupingConfig:
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) is below k_min ({self.k_min})")
        return self


@dataclass(frozen=True)
class Grouping:
    """One product's groups: labels and distances for every row, and how k was chosen."""

    k: int
    labels: I64
    centres: F32
    distance: F64
    scores: dict[int, float]
    criterion: str
    inertia: float


def group(x: F32, config: GroupingConfig | None = None) -> Grouping:
    """Choose k on a sample, then fit that k on every row."""
    cfg = config or GroupingConfig()
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise InputError("embeddings", "expected a non-empty (rows, dims) array")
    if not np.all(np.isfinite(x)):
        raise InputError("embeddings", "not finite")
    clusterer: Clusterer = registry.create("clusterer", cfg.clusterer, "numpy")
    rng = np.random.default_rng(cfg.seed)
    n = len(x)
    sample_idx = (
        np.sort(rng.choice(n, size=cfg.sample_size, replace=False)) if n > cfg.sample_size else None
    )
    xs = x if sample_idx is None else x[sample_idx]
    score_fn, higher = CRITERIA[cfg.criterion]
    ks = [k for k in range(cfg.k_min, cfg.k_max + 1) if k < len(xs)]
    fits: dict[int, KMeansResult] = {}
    scores: dict[int, float] = {}
    for k in ks:
        fits[k] = clusterer.fit(xs, k, seed=cfg.seed + k)
        scores[k] = float(score_fn(xs, fits[k].labels))
    if not ks:
        best_k = 1
    else:
        best_k = (max if higher else min)(ks, key=lambda k: scores[k])
        sil = (
            scores[best_k] if cfg.criterion == "silhouette" else silhouette(xs, fits[best_k].labels)
        )
        if sil < cfg.min_silhouette:
            best_k = 1
    if best_k == 1:
        centre = x.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
        labels, sqd = assign(x, centre)
        return Grouping(1, labels, centre, np.sqrt(sqd), scores, cfg.criterion, float(sqd.sum()))
    if sample_idx is None:
        final = fits[best_k]
    else:
        final = clusterer.fit(x, best_k, seed=cfg.seed, init=fits[best_k].centres)
    labels, sqd = assign(x, final.centres)
    # Renumber groups by size, largest first, so group 0 is the main audience.
    order = np.argsort(-np.bincount(labels, minlength=best_k), kind="stable")
    remap = np.empty(best_k, dtype=np.int64)
    remap[order] = np.arange(best_k)
    return Grouping(
        k=best_k,
        labels=remap[labels],
        centres=final.centres[order],
        distance=np.sqrt(sqd),
        scores=scores,
        criterion=cfg.criterion,
        inertia=float(sqd.sum()),
    )
