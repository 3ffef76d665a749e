"""Fitting cohorts end to end: features, preference model, groups, profiles, metrics.

:func:`fit_cohorts` works in numbered steps and returns typed results; the CLI and the
benchmark call it, and nothing else holds logic. Baselines are measured in the same run
on the same data: logistic regression and gradient boosting on the same user and item
features for AUROC; demographic segments and size-matched random groups for NDCG@5.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from adloom.cohorts.data import ClickData
from adloom.cohorts.encoders import ItemFeatures, encode_items
from adloom.cohorts.grouping import GroupingConfig, group
from adloom.cohorts.metrics import adjusted_rand, auroc, group_ndcg, group_rates
from adloom.cohorts.model import PreferenceConfig, PreferenceModel
from adloom.cohorts.profiles import PERCENTILES, PROTECTED, Audience, describe, is_withheld
from adloom.cohorts.report import CohortReport, Comparison, Group, ProductCohorts
from adloom.domain import Model
from adloom.errors import InputError

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

GENERIC = "generic"


class CohortSettings(Model):
    """Everything ``adloom cohorts fit`` can be told; unknown keys are errors."""

    preference: PreferenceConfig = Field(default_factory=PreferenceConfig)
    grouping: GroupingConfig = Field(default_factory=GroupingConfig)
    text_encoder: str | dict[str, Any] = Field("minilm", description="Embedder backend.")
    image_encoder: str | dict[str, Any] = Field("efficientnet", description="Image encoder.")
    min_group_size: int = Field(
        50, ge=1, description="k-anonymity: no creative is made for fewer users than this."
    )
    small_groups: Literal["merge", "generic"] = Field(
        "merge", description="Merge a small group into its nearest one, or serve it generic."
    )
    percentiles: list[int] = Field(default_factory=lambda: list(PERCENTILES))
    per_percentile: int = Field(3, ge=1, le=20)
    protected: list[str] = Field(
        default_factory=lambda: list(PROTECTED),
        description="Attribute-name words profiles never describe.",
    )
    products: list[str] | None = Field(None, description="Products to group (default: all).")
    segment_by: str | None = Field(
        None, description="Attribute for the demographic baseline (default: the first usable)."
    )
    baselines: bool = True
    max_ndcg_items: int = Field(20, ge=2)
    seed: int = 0


@dataclass(frozen=True)
class FitResult:
    report: CohortReport
    model: PreferenceModel
    #: Per product: one group id (or "generic") per user of the log, in users order.
    assignments: dict[str, list[str]]


def split_rows(data: ClickData, fraction: float, seed: int) -> tuple[I64, I64]:
    rows = data.consented_rows()
    if fraction <= 0:
        return rows, rows[:0]
    rng = np.random.default_rng(seed)
    test = rng.random(len(rows)) < fraction
    return rows[~test], rows[test]


def item_matrix(items: ItemFeatures, dims: int = 16) -> F32:
    """Compact item features for the baselines: mean text and image tokens, reduced."""
    text = (items.text * items.text_mask[..., None]).sum(1) / np.maximum(
        items.text_mask.sum(1, keepdims=True), 1
    )
    parts = [text]
    if items.image_dim:
        parts.append(items.image[:, -1, :])
    m = np.hstack(parts).astype(np.float64)
    m -= m.mean(axis=0)
    if len(m) > 1:
        _, _, vt = np.linalg.svd(m, full_matrices=False)
        m = m @ vt[: min(dims, len(m) - 1)].T
    return m.astype(np.float32)


def baseline_aurocs(
    data: ClickData, model: PreferenceModel, train: I64, test: I64, seed: int
) -> dict[str, float | None]:
    """Logistic regression and gradient boosting on the same user and item features.

    They run on one OpenMP thread: on a shared machine, gradient boosting's busy-waiting
    threads slow it down twentyfold, and on these sizes one thread loses little.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    ux = model.user_features(data.users)
    ix = item_matrix(model.items)

    def features(rows: I64) -> F32:
        return np.hstack([ux[data.user[rows]], ix[data.item[rows]]])

    y_train, y_test = data.click[train], data.click[test]
    x_train, x_test = features(train), features(test)
    out: dict[str, float | None] = {}
    with threadpool_limits(1):
        lr = LogisticRegression(max_iter=2000).fit(x_train, y_train)
        out["logistic_regression"] = auroc(y_test, lr.predict_proba(x_test)[:, 1])
        gbm = HistGradientBoostingClassifier(max_iter=150, random_state=seed)
        gbm.fit(x_train, y_train)
        out["gradient_boosting"] = auroc(y_test, gbm.predict_proba(x_test)[:, 1])
    return out


def enforce_min_size(
    labels: I64, centres: F32, min_size: int, policy: str
) -> tuple[I64, F32, list[list[int]], list[bool]]:
    """Apply k-anonymity to a grouping.

    ``merge`` folds the smallest too-small group into the group with the nearest centre
    until every group is large enough (or one is left); ``generic`` keeps the groups
    but marks the small ones for the generic creative. Returns new labels (renumbered
    0..m-1), centres, the original indices merged into each group, and which groups are
    large enough to personalize.
    """
    k = len(centres)
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    members: dict[int, list[int]] = {j: [j] for j in range(k)}
    cent = {j: centres[j].astype(np.float64) for j in range(k)}
    lab = labels.copy()
    if policy == "merge":
        while len(members) > 1:
            small = [j for j in members if sizes[j] < min_size]
            if not small:
                break
            j = min(small, key=lambda g: sizes[g])
            others = [g for g in members if g != j]
            target = min(others, key=lambda g: float(np.sum((cent[g] - cent[j]) ** 2)))
            total = sizes[j] + sizes[target]
            if total > 0:
                cent[target] = (cent[target] * sizes[target] + cent[j] * sizes[j]) / total
            sizes[target] = total
            lab[lab == j] = target
            members[target].extend(members.pop(j))
            del cent[j]
    kept = sorted(members)
    remap = np.full(k, -1, dtype=np.int64)
    remap[kept] = np.arange(len(kept))
    new_centres = np.stack([cent[g] for g in kept]).astype(np.float32)
    merged = [sorted(m for m in members[g] if m != g) for g in kept]
    ok = [bool(sizes[g] >= min_size) for g in kept]
    return remap[lab], new_centres, merged, ok


def _demographic(data: ClickData, settings: CohortSettings, cons: I64) -> str | None:
    users = data.users
    if settings.segment_by is not None:
        if settings.segment_by not in users.categorical:
            have = ", ".join(users.categorical) or "none"
            raise InputError(
                "segment_by", f"no categorical attribute {settings.segment_by!r} (have: {have})"
            )
        return settings.segment_by
    for name, col in users.categorical.items():
        if 1 < len(np.unique(col[cons])) <= 12:
            return name
    return None


def fit_cohorts(
    data: ClickData,
    settings: CohortSettings | None = None,
    *,
    items: ItemFeatures | None = None,
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Train the preference model and group each product's consenting users."""
    cfg = settings or CohortSettings()
    say = progress or (lambda _msg: None)
    notes: list[str] = []
    cons = np.flatnonzero(data.users.consented).astype(np.int64)
    if len(cons) == 0:
        raise InputError(data.users.source, "no user consented to personalization")
    products = data.items.products if cfg.products is None else cfg.products
    for p in products:
        data.items.of_product(p)  # names the product when it has no items
    demographic = _demographic(data, cfg, cons)
    if len(cons) < len(data.users):
        notes.append(
            f"{len(data.users) - len(cons)} users without personalization consent get the "
            "generic creative and were not used for training or grouping"
        )

    # 1. Product features.
    say("encoding creatives")
    feats = items or encode_items(data.items, cfg.text_encoder, cfg.image_encoder)

    # 2. Preference model, with a held-out split for AUROC.
    say("training the preference model")
    train, test = split_rows(data, cfg.preference.test_fraction, cfg.seed)
    model, stats = PreferenceModel.train(data, feats, cfg.preference, train_rows=train)
    if model.space.dropped:
        notes.append(f"sensitive attributes not used: {', '.join(model.space.dropped)}")
    ux_all = model.user_features(data.users)
    auroc_cmp: Comparison | None = None
    y_test = data.click[test]
    if len(test) and 0 < y_test.sum() < len(test):
        p_test = model.predict_rows(ux_all, data.user[test], data.item[test])
        stats.test_auroc = auroc(y_test, p_test)
        stats.test_examples = len(test)
        baselines: dict[str, float | None] = {}
        if cfg.baselines:
            say("fitting baselines")
            baselines = baseline_aurocs(data, model, train, test, cfg.seed)
        auroc_cmp = Comparison(cohorts=stats.test_auroc, baselines=baselines, better="higher")
    elif len(test):
        notes.append("held-out rows lack clicks or non-clicks: AUROC not measured")

    # 3. Groups per product.
    ux = ux_all[cons]
    audience_users = data.users.subset(cons)
    position = np.full(len(data.users), -1, dtype=np.int64)
    position[cons] = np.arange(len(cons))
    out: list[ProductCohorts] = []
    assignments: dict[str, list[str]] = {}
    rng = np.random.default_rng(cfg.seed)
    for pid in products:
        say(f"grouping {pid}")
        started = time.perf_counter()
        creative_rows = data.items.of_product(pid)
        creative_ids = [str(t) for t in data.items.ids[creative_rows]]
        emb = model.embed(ux, creative_ids)
        grouping = group(emb, cfg.grouping)
        labels, centres, merged, ok = enforce_min_size(
            grouping.labels, grouping.centres, cfg.min_group_size, cfg.small_groups
        )
        distance = np.sqrt(np.sum((emb - centres[labels]) ** 2, axis=1)).astype(np.float64)

        # Impressions and clicks of the product's creatives per consenting user.
        on_product = np.isin(data.item, creative_rows) & (position[data.user] >= 0)
        idx = position[data.user[on_product]]
        shown = np.bincount(idx, minlength=len(cons)).astype(np.float64)
        clicked = np.bincount(idx, weights=data.click[on_product], minlength=len(cons)).astype(
            np.float64
        )
        rates = model.predict(ux, creative_ids)
        audience = Audience(
            users=audience_users,
            rates=rates,
            creative_ids=creative_ids,
            creative_texts=[data.items.texts[r] for r in creative_rows],
            creative_images=[data.items.images[r] for r in creative_rows],
            clicks=clicked,
            impressions=shown,
        )
        name = str(data.items.texts[creative_rows[0]][0]) if len(creative_rows) else pid
        groups: list[Group] = []
        for g in range(len(centres)):
            members = np.flatnonzero(labels == g).astype(np.int64)
            profile = describe(
                audience,
                members,
                distance[members],
                index=g,
                k=len(centres),
                product_name=name,
                protected=cfg.protected,
                percentiles=cfg.percentiles,
                per_percentile=cfg.per_percentile,
            )
            groups.append(
                Group(
                    group_id=f"{pid}.g{g}",
                    product_id=pid,
                    index=g,
                    size=len(members),
                    status="personalized" if ok[g] else "generic",
                    merged_from=merged[g],
                    centre=[round(float(c), 5) for c in centres[g]],
                    profile=profile,
                )
            )

        # 4. Metrics: NDCG@5 between groups against demographic and random groups.
        ndcg_cmp: Comparison | None = None
        ndcg_ids = creative_ids
        ndcg_rates = rates
        if len(creative_ids) < 2:
            counts = np.bincount(data.item, minlength=len(data.items))
            top = np.argsort(-counts, kind="stable")[: cfg.max_ndcg_items]
            ndcg_ids = [str(t) for t in data.items.ids[top]]
            ndcg_rates = model.predict(ux, ndcg_ids)
        if len(ndcg_ids) >= 2 and len(centres) >= 2:
            cohort_rates = group_rates(labels, ndcg_rates)
            base: dict[str, float | None] = {}
            if demographic is not None:
                seg = audience_users.categorical[demographic]
                seg_rates = group_rates(seg, ndcg_rates, min_size=cfg.min_group_size)
                base[f"demographic:{demographic}"] = (
                    group_ndcg(seg_rates) if len(seg_rates) >= 2 else None
                )
            shuffled = rng.permutation(labels)
            rand_rates = group_rates(shuffled, ndcg_rates)
            base["random"] = group_ndcg(rand_rates)
            ndcg_cmp = Comparison(cohorts=group_ndcg(cohort_rates), baselines=base, better="lower")

        ari = None
        if pid in data.truth:
            ari = adjusted_rand(data.truth[pid][cons], grouping.labels)
        assigned = np.full(len(data.users), GENERIC, dtype=object)
        for g, grp in enumerate(groups):
            if grp.status == "personalized":
                assigned[cons[labels == g]] = grp.group_id
        assignments[pid] = [str(a) for a in assigned]
        out.append(
            ProductCohorts(
                product_id=pid,
                users=len(cons),
                k=grouping.k,
                criterion=grouping.criterion,
                scores={str(k): round(v, 5) for k, v in grouping.scores.items()},
                groups=groups,
                ndcg_at_5=ndcg_cmp,
                ndcg_items=len(ndcg_ids),
                adjusted_rand=ari,
                seconds=round(time.perf_counter() - started, 3),
            )
        )
    withheld = sorted(a for a in data.users.attributes if is_withheld(a, cfg.protected))
    if withheld:
        notes.append(f"never described in profiles: {', '.join(withheld)}")
    report = CohortReport(
        source=data.source,
        users=len(data.users),
        consenting_users=len(cons),
        impressions=len(data),
        clicks=data.clicks,
        min_group_size=cfg.min_group_size,
        training=stats,
        auroc=auroc_cmp,
        products=out,
        notes=notes,
    )
    return FitResult(report=report, model=model, assignments=assignments)
