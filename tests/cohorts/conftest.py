"""Shared fixtures: one small simulated log and one fit of it, reused across the tier.

The fit uses the hashing text embedder and the pixel-statistics image encoder so the
tier stays fast; the packaged models are exercised in their own tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adloom.cohorts.data import ClickData
from adloom.cohorts.encoders import ItemFeatures, encode_items
from adloom.cohorts.fit import CohortSettings, FitResult, fit_cohorts
from adloom.cohorts.model import PreferenceConfig
from adloom.cohorts.simulate import simulate_clicks

PLANTED = 4


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("creatives")


@pytest.fixture(scope="session")
def sim(image_dir: Path) -> ClickData:
    return simulate_clicks(
        n_users=1500, n_groups=PLANTED, products=2, impressions=12, seed=3, image_dir=image_dir
    )


@pytest.fixture(scope="session")
def sim_features(sim: ClickData) -> ItemFeatures:
    return encode_items(sim.items, "hashing", "pixels")


def fast_settings(**kwargs: object) -> CohortSettings:
    base: dict[str, object] = {
        "text_encoder": "hashing",
        "image_encoder": "pixels",
        "preference": PreferenceConfig(epochs=15, seed=0),
        "min_group_size": 30,
    }
    return CohortSettings.model_validate({**base, **kwargs})


@pytest.fixture(scope="session")
def fitted(sim: ClickData, sim_features: ItemFeatures) -> FitResult:
    return fit_cohorts(sim, fast_settings(), items=sim_features)
