"""Group profiles: percentile representatives, protected and sensitive attributes kept
out, and a summary that states only what the structured profile holds."""

from __future__ import annotations

import numpy as np
import pytest

from adloom.cohorts.data import Users
from adloom.cohorts.profiles import Audience, describe, is_withheld, representatives


def test_representatives_sit_at_the_percentiles() -> None:
    distance = np.arange(101, dtype=np.float64)  # percentile p is distance p
    picked = representatives(distance, (15, 55, 95), per_percentile=3)
    assert [p for p, _ in picked] == [15] * 3 + [55] * 3 + [95] * 3
    by = {p: sorted(int(distance[i]) for q, i in picked if q == p) for p in (15, 55, 95)}
    assert by == {15: [14, 15, 16], 55: [54, 55, 56], 95: [94, 95, 96]}
    assert len({i for _, i in picked}) == 9  # nobody twice


def test_representatives_of_a_tiny_group_never_repeat() -> None:
    picked = representatives(np.array([0.1, 0.2]), (15, 55, 95), per_percentile=3)
    assert sorted(i for _, i in picked) == [0, 1]
    assert representatives(np.array([], dtype=np.float64)) == []


@pytest.mark.parametrize(
    ("name", "withheld"),
    [
        ("age_band", True),
        ("Gender", True),
        ("year-of-birth", True),
        ("religion", True),
        ("ethnicity", True),
        ("usage", False),
        ("device", False),
        ("region", False),
        ("spend_level", False),
    ],
)
def test_is_withheld(name: str, withheld: bool) -> None:
    assert is_withheld(name) is withheld


def audience() -> Audience:
    rng = np.random.default_rng(0)
    n = 400
    group = np.repeat([0, 1], n // 2)
    users = Users(
        ids=np.asarray([f"u{i}" for i in range(n)]),
        categorical={
            "device": np.where(group == 0, "mobile", "desktop").astype(np.str_),
            "club": np.where(rng.random(n) < 0.5, "church group", "running club").astype(np.str_),
            "gender": rng.choice(["f", "m"], n).astype(np.str_),
        },
        numeric={"spend": np.where(group == 0, 2.0, -2.0) + rng.normal(0, 0.1, n)},
    )
    rates = np.where(group[:, None] == 0, [0.3, 0.1], [0.1, 0.2]).astype(np.float32)
    return Audience(
        users=users,
        rates=rates,
        creative_ids=["p.bold", "p.calm"],
        creative_texts=[("Boots", "bold action"), ("Boots", "calm sunrise")],
        creative_images=[None, None],
        clicks=np.where(group == 0, 1.0, 0.0),
        impressions=np.ones(n),
    )


def test_describe_group() -> None:
    aud = audience()
    members = np.arange(200, dtype=np.int64)
    prof = describe(aud, members, np.linspace(0, 1, 200), index=0, k=2, product_name="Boots")
    assert prof.size == 200
    assert prof.share == 0.5
    assert prof.observed_rate == 1.0
    assert prof.impressions == 200
    assert prof.predicted_rate == pytest.approx(0.2)
    assert [c.item_id for c in prof.creatives] == ["p.bold", "p.calm"]
    assert prof.creatives[0].lift == pytest.approx(0.3 / 0.2, rel=1e-3)
    assert prof.interests == ["bold action", "calm sunrise"]  # the shared name is not a theme
    assert prof.distinctive[0].attribute == "device"
    assert prof.distinctive[0].level == "mobile"
    assert prof.distinctive[0].lift == pytest.approx(2.0)
    assert prof.numeric[0].attribute == "spend"
    assert prof.numeric[0].shift > 0.9
    assert prof.withheld == ["gender"]
    # The sensitive level "church group" and the protected gender never appear.
    assert all(a.level != "church group" for a in prof.distinctive)
    for rep in prof.representatives:
        assert "gender" not in rep.attributes
        assert rep.attributes.get("club") != "church group"
    text = prof.summary
    assert text.startswith("Group 1 of 2 for Boots: 200 users (50% of the audience)")
    assert "p.bold (bold action)" in text
    assert "device mobile (100% vs 50%)" in text
    assert "higher spend" in text
    assert "church" not in text
    assert "gender" not in text


def test_describe_empty_group() -> None:
    prof = describe(
        audience(),
        np.array([], dtype=np.int64),
        np.array([], dtype=np.float64),
        index=1,
        k=2,
        product_name="Boots",
    )
    assert prof.size == 0
    assert prof.observed_rate is None
    assert prof.representatives == []
