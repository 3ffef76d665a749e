"""The preference model: it learns the planted click structure (held-out AUROC well
above chance and above a linear baseline), embeds users per product, drops sensitive
attributes, and survives a save/load round trip exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from adloom.cohorts.data import ClickData, Users
from adloom.cohorts.encoders import ItemFeatures
from adloom.cohorts.fit import FitResult
from adloom.cohorts.metrics import auroc
from adloom.cohorts.model import (
    FeatureSpace,
    PreferenceConfig,
    PreferenceModel,
    PreferenceNet,
    is_sensitive_attribute,
)
from adloom.errors import InputError


def test_held_out_auroc_beats_chance_and_logistic_regression(fitted: FitResult) -> None:
    cmp = fitted.report.auroc
    assert cmp is not None
    assert cmp.cohorts > 0.70  # the planted log allows about 0.78
    lr = cmp.baselines["logistic_regression"]
    gbm = cmp.baselines["gradient_boosting"]
    assert lr is not None
    assert gbm is not None
    assert cmp.cohorts > lr + 0.05  # a linear model cannot see user x creative interactions
    assert cmp.cohorts > gbm - 0.03  # on par with gradient boosting on the same features
    stats = fitted.report.training
    assert stats.test_auroc == cmp.cohorts
    assert stats.test_examples > 0
    assert stats.examples_per_s > 0


def test_predictions_follow_planted_preferences(fitted: FitResult, sim: ClickData) -> None:
    model = fitted.model
    ux = model.user_features(sim.users)
    seg = sim.truth["product-0"]
    creatives = [str(t) for t in sim.items.ids[sim.items.of_product("product-0")]]
    p = model.predict(ux, creatives)
    assert p.shape == (len(sim.users), 4)
    assert ((p > 0) & (p < 1)).all()
    # Every segment's predicted favourite creative differs from the others'.
    favourites = {int(np.argmax(p[seg == g].mean(axis=0))) for g in range(seg.max() + 1)}
    assert len(favourites) == seg.max() + 1
    rows = model.predict_rows(ux, sim.user, sim.item)
    assert auroc(sim.click, rows) > 0.7


def test_embeddings_per_product(fitted: FitResult, sim: ClickData) -> None:
    model = fitted.model
    ux = model.user_features(sim.users)[:50]
    a = model.embed(ux, ["product-0.bold", "product-0.calm"])
    b = model.embed(ux, ["product-1.bold", "product-1.calm"])
    assert a.shape == (50, model.config.dim)
    assert not np.allclose(a, b)  # product-aware
    with pytest.raises(InputError, match="unknown item 'nope'"):
        model.embed(ux, ["nope"])


def test_save_and_load_give_the_same_predictions(fitted: FitResult, tmp_path: Path) -> None:
    model = fitted.model
    model.save(tmp_path / "m")
    again = PreferenceModel.load(tmp_path / "m")
    ux = np.random.default_rng(0).normal(size=(20, model.space.dim)).astype(np.float32)
    np.testing.assert_allclose(
        again.predict(ux, model.item_ids[:3]), model.predict(ux, model.item_ids[:3]), atol=1e-6
    )
    assert again.space == model.space


def test_load_rejects_missing_or_malformed(tmp_path: Path, fitted: FitResult) -> None:
    with pytest.raises(InputError, match=r"model\.json: file not found"):
        PreferenceModel.load(tmp_path)
    fitted.model.save(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text('{"config": {}}', encoding="utf-8")
    with pytest.raises(InputError, match="malformed model spec"):
        PreferenceModel.load(tmp_path / "m")


def test_sensitive_attributes_never_reach_the_model() -> None:
    users = Users(
        ids=np.asarray(["a", "b", "c"]),
        categorical={
            "religion": np.asarray(["x", "y", "x"]),
            "region": np.asarray(["u", "r", "u"]),
        },
        numeric={"health_score": np.array([1.0, 2.0, 3.0]), "spend": np.array([1.0, 2.0, 4.0])},
    )
    space = FeatureSpace.fit(users)
    assert "religion" in space.dropped
    assert "religion" not in space.categorical
    assert space.categorical == {"region": ["r", "u"]}
    x = space.encode(users)
    assert x.shape == (3, space.dim)
    np.testing.assert_allclose(x[:, -1].mean(), 0.0, atol=1e-6)  # standardized
    assert is_sensitive_attribute("sexual_orientation")
    assert not is_sensitive_attribute("device")


def test_feature_space_errors() -> None:
    only_sensitive = Users(ids=np.asarray(["a"]), categorical={"ethnicity": np.asarray(["x"])})
    with pytest.raises(InputError, match="no usable user attributes"):
        FeatureSpace.fit(only_sensitive)
    space = FeatureSpace(categorical={"region": ["u"]}, numeric={"spend": (0.0, 1.0)})
    with pytest.raises(InputError, match="missing attribute 'region'"):
        space.encode(Users(ids=np.asarray(["a"]), numeric={"spend": np.zeros(1)}))
    with pytest.raises(InputError, match="missing numeric attribute 'spend'"):
        space.encode(Users(ids=np.asarray(["a"]), categorical={"region": np.asarray(["u"])}))
    with pytest.raises(InputError, match="not a multiple of 3 heads"):
        PreferenceNet(4, 4, 0, dim=8, hidden=8, heads=3)


def test_training_needs_both_outcomes(sim: ClickData, sim_features: ItemFeatures) -> None:
    rows = np.flatnonzero(sim.click == 0)[:100].astype(np.int64)
    with pytest.raises(InputError, match="both clicks and non-clicks"):
        PreferenceModel.train(sim, sim_features, PreferenceConfig(epochs=1), train_rows=rows)
    with pytest.raises(InputError, match="no impressions from users with consent"):
        PreferenceModel.train(sim, sim_features, train_rows=rows[:0])


def test_training_is_deterministic_and_restores_threads(
    sim: ClickData, sim_features: ItemFeatures
) -> None:
    before = torch.get_num_threads()
    rows = sim.consented_rows()[:3000]
    cfg = PreferenceConfig(epochs=1, seed=7)
    a, _ = PreferenceModel.train(sim, sim_features, cfg, train_rows=rows)
    b, _ = PreferenceModel.train(sim, sim_features, cfg, train_rows=rows)
    assert torch.get_num_threads() == before
    ux = a.user_features(sim.users)[:10]
    np.testing.assert_array_equal(
        a.predict(ux, ["product-0.bold"]), b.predict(ux, ["product-0.bold"])
    )
