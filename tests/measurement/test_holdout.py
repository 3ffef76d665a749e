"""Holdout assignment, exposure logging and the intent-to-treat table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from adloom.domain import Decision, Event
from adloom.errors import InputError
from adloom.measurement.holdout import (
    Exposure,
    ExposureLog,
    Holdout,
    HoldoutConfig,
    itt_table,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _holdout(**kw: object) -> Holdout:
    return Holdout(HoldoutConfig.model_validate({"campaign_id": "c1", "salt": "s3cret", **kw}))


def test_assignment_is_stable_and_follows_the_configured_shares() -> None:
    h = _holdout(shares={"personalized": 0.7, "generic": 0.2, "control": 0.1})
    users = [f"user-{i}" for i in range(20_000)]
    arms = [h.assign(u) for u in users]
    assert arms == [h.assign(u) for u in users]  # same answer every request
    counts = np.asarray([arms.count(a) for a in ("personalized", "generic", "control")])
    chi2 = stats.chisquare(counts, f_exp=np.asarray([0.7, 0.2, 0.1]) * len(users))
    assert chi2.pvalue > 0.001
    # Listing the arms in another order does not move anyone.
    same = _holdout(shares={"control": 0.1, "generic": 0.2, "personalized": 0.7})
    assert [same.assign(u) for u in users[:500]] == arms[:500]


def test_salt_and_campaign_randomize_independently() -> None:
    a = _holdout()
    b = Holdout(HoldoutConfig(campaign_id="c1", salt="other"))
    c = Holdout(HoldoutConfig(campaign_id="c2", salt="s3cret"))
    users = [f"u{i}" for i in range(5000)]
    in_control = np.asarray([a.assign(u) == "control" for u in users])
    for other in (b, c):
        also = np.asarray([other.assign(u) == "control" for u in users])
        # Independent re-randomization: control overlap ~ 0.1 * 0.1 of users.
        assert abs((in_control & also).mean() - 0.01) < 0.006
    assert 0.0 <= a.bucket("x") < 1.0
    assert a.serves_ad(next(u for u in users if a.assign(u) != "control"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"shares": {"control": 1.0}}, "at least two arms"),
        ({"shares": {"a": 0.5, "control": 0.6}}, "shares sum to 1.1, not 1"),
        ({"shares": {"a": 0.0, "control": 1.0}}, "share of arm 'a' is 0.0"),
        ({"shares": {"": 0.5, "control": 0.5}}, "arm names must not be empty"),
        ({"shares": {"a": 0.5, "b": 0.5}}, "control arm 'control' is not one of the shares"),
        ({"salt": ""}, "salt"),
        ({"colour": "red"}, "colour: unknown field"),
    ],
)
def test_invalid_holdout_settings_name_the_problem(data: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Holdout.from_dict({"campaign_id": "c1", "salt": "s", **data}, "holdout.json")


def _decision(user: str, i: int, kind: str = "personalized") -> Decision:
    return Decision(
        decision_id=f"d{i}",
        timestamp=T0,
        channel="decide",
        advertiser_id="adv",
        campaign_id="c1",
        user_id=user,
        creative_id=f"cr-{kind}",
        arm=f"c1/p/{kind}",
        kind=kind,  # type: ignore[arg-type]
        reason="policy",
        policy="thompson",
        propensity=0.5,
        context={"platform": "feed"},
    )


def test_intent_to_treat_counts_unserved_and_control_users(tmp_path: Path) -> None:
    h = _holdout(shares={"personalized": 0.5, "generic": 0.25, "control": 0.25})
    log = ExposureLog(tmp_path / "exposures.jsonl")
    decisions, events, exposures = [], [], []
    rng = np.random.default_rng(0)
    for i in range(400):
        user = f"u{i}"
        arm = h.assign(user)
        served = arm != "control" and rng.random() < 0.8  # some users are never reached
        d = _decision(user, i, arm) if served else None
        if d is not None:
            decisions.append(d)
        exposures.append(
            h.exposure(
                user,
                served=served,
                decision=d,
                cohort="new" if i % 2 else "old",
                timestamp=T0 + timedelta(seconds=i),
            )
        )
        if rng.random() < 0.2:  # conversions happen in every arm, served or not
            events.append(
                Event(type="conversion", creative_id="-", user_id=user, timestamp=T0, value=10.0)
            )
        if d is not None and rng.random() < 0.3:
            events.append(
                Event(
                    type="click", creative_id=d.creative_id, decision_id=d.decision_id, timestamp=T0
                )
            )
    assert log.append(exposures) == 400
    assert log.append([]) == 0
    # A repeat exposure of the same user in the same arm is harmless.
    log.append([exposures[0]])
    read = log.read()
    assert len(read) == 401
    assert read[0] == exposures[0]
    data = itt_table(read, decisions, events, campaign_id="c1")
    assert len(data.arm) == 400
    assert set(data.arms) == {"personalized", "generic", "control"}
    control = data.arm == "control"
    assert data.outcomes["click"][control].sum() == 0.0
    assert data.outcomes["conversion"][control].sum() > 0  # held-out users still convert
    assert np.all(data.outcomes["revenue"] == 10.0 * data.outcomes["conversion"])
    assert set(data.segments["cohort"].tolist()) == {"new", "old"}
    assert "(none)" in data.segments["creative"].tolist()  # unreached users stay in the table


def test_exposure_and_itt_table_reject_inconsistent_logs(tmp_path: Path) -> None:
    h = _holdout()
    control_user = next(f"u{i}" for i in range(1000) if h.assign(f"u{i}") == "control")
    with pytest.raises(InputError, match="is in the control arm but was served"):
        h.exposure(control_user, served=True)
    with pytest.raises(InputError, match="empty user id"):
        h.assign("")
    e1 = Exposure(campaign_id="c1", user_id="u", arm="generic", served=False, timestamp=T0)
    e2 = e1.model_copy(update={"arm": "control", "timestamp": T0 + timedelta(1)})
    with pytest.raises(InputError, match="exposed in arms 'generic' and 'control'"):
        itt_table([e1, e2])
    with pytest.raises(InputError, match="no exposures for campaign 'c9'"):
        itt_table([e1], campaign_id="c9")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(e1.model_dump_json() + "\n\n{not json\n")
    with pytest.raises(InputError, match="line 3: malformed JSON"):
        ExposureLog(bad).read()
    bad.write_text('{"campaign_id": "c1"}\n')
    with pytest.raises(InputError, match="line 1: user_id: Field required"):
        ExposureLog(bad).read()
    with pytest.raises(InputError, match="file not found"):
        ExposureLog(tmp_path / "missing.jsonl").read()
