"""The simulator: deterministic per seed, planted structure visible in the clicks, and
arguments checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adloom.cohorts.simulate import STYLES, simulate_clicks
from adloom.errors import InputError


def test_same_seed_same_log() -> None:
    a = simulate_clicks(n_users=200, seed=4)
    b = simulate_clicks(n_users=200, seed=4)
    c = simulate_clicks(n_users=200, seed=5)
    np.testing.assert_array_equal(a.click, b.click)
    np.testing.assert_array_equal(a.users.categorical["region"], b.users.categorical["region"])
    assert not np.array_equal(a.click, c.click)


def test_planted_segments_click_differently_and_prefer_their_own_style(sim) -> None:  # type: ignore[no-untyped-def]
    seg = sim.truth[sim.items.products[0]]
    rates = [sim.click[seg[sim.user] == g].mean() for g in range(seg.max() + 1)]
    # Segments' overall click rates differ by far more than sampling noise (~0.01).
    assert max(rates) - min(rates) > 0.1
    style = sim.item % len(STYLES)
    favourites = []
    for g in range(seg.max() + 1):
        mine = seg[sim.user] == g
        favourites.append(int(np.argmax([sim.click[mine & (style == s)].mean() for s in range(4)])))
    assert len(set(favourites)) == len(favourites)  # every segment has its own favourite


def test_attributes_reveal_the_segment_with_the_configured_fidelity() -> None:
    d = simulate_clicks(n_users=4000, n_groups=3, fidelity=0.8, seed=1)
    seg = d.truth["product-0"]
    region = d.users.categorical["region"]
    for g in range(3):
        _, counts = np.unique(region[seg == g], return_counts=True)
        # 80 % own level plus a third of the 20 % uniform draws.
        assert counts.max() / counts.sum() == pytest.approx(0.8 + 0.2 / 3, abs=0.04)


def test_images_and_products(sim, image_dir: Path) -> None:  # type: ignore[no-untyped-def]
    assert len(sim.items) == 2 * len(STYLES)
    assert all(p is not None and Path(p).parent == image_dir for p in sim.items.images)
    assert sim.items.of_product("product-1").tolist() == [4, 5, 6, 7]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_groups": 1}, "n_groups"),
        ({"n_groups": 9}, "n_groups"),
        ({"n_users": 5}, "at least 40 users"),
        ({"impressions": 0}, "impressions"),
        ({"fidelity": 1.5}, "between 0 and 1"),
        ({"products": 0}, "at least one product"),
    ],
)
def test_rejects(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        simulate_clicks(**kwargs)  # type: ignore[arg-type]
