"""Loaders: CSV and Parquet round trips, the Open Bandit sample, and a table of malformed
files, each rejected with a one-line message naming the file and the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adloom.cohorts import data as logs
from adloom.cohorts.data import ClickData, Items, Users
from adloom.cohorts.simulate import write_simulation
from adloom.errors import InputError

OBD = Path(__file__).parents[1] / "measurement" / "data" / "open_bandit"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    img = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 10, 10)).save(img)
    return {
        "users": write(
            tmp_path / "users.csv",
            "user_id,consent,region,spend\nu1,yes,urban,1.5\nu2,0,rural,0.5\nu3,true,urban,2\n",
        ),
        "items": write(
            tmp_path / "items.csv",
            "item_id,product_id,text,image\n"
            "p.a,p,Boots | bold action,a.png\np.b,p,Boots | calm sunrise,\n",
        ),
        "clicks": write(
            tmp_path / "clicks.csv", "user_id,item_id,click\nu1,p.a,1\nu2,p.b,0\nu3,p.a,0\n"
        ),
    }


def load(files: dict[str, Path]) -> ClickData:
    users = logs.load_users(files["users"])
    items = logs.load_items(files["items"])
    return logs.load_clicks(files["clicks"], users, items)


def test_loads_csv(files: dict[str, Path]) -> None:
    d = load(files)
    assert d.users.consented.tolist() == [True, False, True]
    assert d.users.categorical["region"].tolist() == ["urban", "rural", "urban"]
    assert d.users.numeric["spend"].tolist() == [1.5, 0.5, 2.0]
    assert d.items.texts[0] == ("Boots", "bold action")
    assert d.items.images[0] == str(files["items"].parent.resolve() / "a.png")
    assert d.items.images[1] is None
    assert d.user.tolist() == [0, 1, 2]
    assert d.item.tolist() == [0, 1, 0]
    assert d.clicks == 1
    assert d.consented_rows().tolist() == [0, 2]
    assert d.items.products == ["p"]


def test_simulation_round_trips_through_csv_and_parquet(sim: ClickData, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = write_simulation(sim, tmp_path / "csv")
    users = logs.load_users(paths["users"])
    items = logs.load_items(paths["items"])
    back = logs.load_clicks(paths["clicks"], users, items)
    np.testing.assert_array_equal(back.click, sim.click)
    np.testing.assert_array_equal(back.item, sim.item)
    np.testing.assert_array_equal(back.users.consented, sim.users.consented)
    np.testing.assert_allclose(back.users.numeric["spend_level"], sim.users.numeric["spend_level"])
    table = pa.table(
        {
            "user_id": sim.users.ids[sim.user].tolist(),
            "item_id": sim.items.ids[sim.item].tolist(),
            "click": sim.click.astype(int).tolist(),
        }
    )
    pq.write_table(table, tmp_path / "clicks.parquet")
    via_parquet = logs.load_clicks(tmp_path / "clicks.parquet", users, items)
    np.testing.assert_array_equal(via_parquet.user, sim.user)


def test_single_file_log_with_inline_attributes(tmp_path: Path, files: dict[str, Path]) -> None:
    log = write(
        tmp_path / "log.csv",
        "user_id,item_id,click,consent,region,spend\n"
        "u1,p.a,1,1,urban,1.5\nu2,p.b,0,0,rural,0.5\nu1,p.b,0,1,urban,1.5\n",
    )
    d = logs.load_log(log)
    assert d.users.ids.tolist() == ["u1", "u2"]
    assert d.users.consented.tolist() == [True, False]
    assert d.users.categorical["region"].tolist() == ["urban", "rural"]
    assert d.user.tolist() == [0, 1, 0]
    assert d.items.ids.tolist() == ["p.a", "p.b"]
    assert d.items.texts == (("p.a",), ("p.b",))  # known only by id
    with_items = logs.load_log(log, logs.load_items(files["items"]))
    assert with_items.items.texts[1] == ("Boots", "calm sunrise")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user_id,item_id,consent,region\nu1,p.a,1,urban\n", "missing column 'click'"),
        (
            "user_id,item_id,click,consent,region\nu1,p.a,1,1,urban\nu1,p.a,0,1,rural\n",
            "column 'region' row 2: user 'u1' has 'rural' here and 'urban' before",
        ),
        ("user_id,item_id,click,region\nu1,p.a,1,urban\n", "missing column 'consent'"),
        ("user_id,item_id,click,consent,region\nu1,p.a,3,1,urban\n", "expected 0 or 1"),
    ],
)
def test_single_file_log_rejects(tmp_path: Path, text: str, message: str) -> None:
    log = write(tmp_path / "log.csv", text)
    with pytest.raises(InputError, match=message) as info:
        logs.load_log(log)
    assert str(log) in str(info.value)


def test_categorical_override_and_assumed_consent(files: dict[str, Path]) -> None:
    users = logs.load_users(files["users"], consent_column=None, categorical=["spend"])
    assert "spend" in users.categorical
    assert users.consent is None
    assert users.consented.all()


@pytest.mark.parametrize(
    ("which", "text", "message"),
    [
        ("users", "user_id,region\nu1,urban\n", "missing column 'consent'"),
        ("users", "id,consent,region\nu1,1,urban\n", "missing column 'user_id'"),
        ("users", "user_id,consent\nu1,1\n", "no attribute columns"),
        ("users", "user_id,consent,region\nu1,maybe,urban\n", "column 'consent' row 1"),
        ("users", "user_id,consent,region\nu1,1,urban\nu1,1,rural\n", "duplicate user id 'u1'"),
        ("users", "user_id,consent,region\nu1,1,\n", "column 'region' row 1: missing value"),
        ("items", "item_id,product_id\np.a,p\n", "missing column 'text'"),
        ("items", "item_id,product_id,text\np.a,p, | \n", "column 'text' row 1: empty text"),
        ("items", "item_id,product_id,text,image\np.a,p,x,nope.png\n", "no file 'nope.png'"),
        ("clicks", "user_id,item_id,click\nu9,p.a,1\n", "unknown user 'u9'"),
        ("clicks", "user_id,item_id,click\nu1,p.z,1\n", "unknown item 'p.z'"),
        ("clicks", "user_id,item_id,click\nu1,p.a,2\n", r"column 'click' row 1: expected 0 or 1"),
        ("clicks", "user_id,item_id,click\nu1,p.a,yes\n", "not a number"),
        ("clicks", "user_id,item_id\nu1,p.a\n", "missing column 'click'"),
        ("clicks", "user_id,item_id,click\nu1,p.a\n", "line 2: 2 fields"),
    ],
)
def test_rejects_malformed(files: dict[str, Path], which: str, text: str, message: str) -> None:
    write(files[which], text)
    with pytest.raises(InputError, match=message) as info:
        load(files)
    assert str(files[which]) in str(info.value)
    assert "\n" not in str(info.value)


def test_rejects_unsupported_format(tmp_path: Path, files: dict[str, Path]) -> None:
    bad = write(tmp_path / "clicks.json", "[]")
    with pytest.raises(InputError, match=r"unsupported log format '\.json'"):
        logs.load_clicks(bad, logs.load_users(files["users"]), logs.load_items(files["items"]))


def test_containers_check_themselves() -> None:
    ids = np.asarray(["a", "b"], dtype=np.str_)
    with pytest.raises(InputError, match="no users"):
        Users(ids=np.asarray([], dtype=np.str_))
    with pytest.raises(InputError, match="2 rows for"):
        Users(ids=np.asarray(["a", "b", "c"]), numeric={"x": np.zeros(2)})
    with pytest.raises(InputError, match="duplicate item ids"):
        Items(ids=np.asarray(["a", "a"]), product=ids, texts=(("x",), ("y",)), images=(None, None))
    items = Items(ids=ids, product=ids, texts=(("x",), ("y",)), images=(None, None))
    users = Users(ids=ids, numeric={"x": np.zeros(2)})
    with pytest.raises(InputError, match="no items for product 'zz'"):
        items.of_product("zz")
    with pytest.raises(InputError, match="user index out of range"):
        ClickData(users, items, np.array([5]), np.array([0]), np.array([1.0]))
    with pytest.raises(InputError, match="item index out of range"):
        ClickData(users, items, np.array([0]), np.array([9]), np.array([1.0]))
    with pytest.raises(InputError, match="expected 0 or 1"):
        ClickData(users, items, np.array([0]), np.array([0]), np.array([0.5]))
    with pytest.raises(InputError, match="no impressions"):
        ClickData(users, items, np.array([], int), np.array([], int), np.array([]))


def test_open_bandit_sample_through_the_measurement_loader() -> None:
    d = logs.load_open_bandit(OBD, "random", "men")
    assert len(d) == 1500
    assert len(d.items) == 34
    assert d.clicks == int(d.click.sum()) > 0
    assert 1 < len(d.users) < 1500  # repeated visitors share a feature row
    assert d.users.consented.all()
    assert list(d.users.categorical) == [f"feature_{j}" for j in range(4)]
    assert len(d.users.numeric) == 34  # one affinity per item
    assert np.bincount(d.user).max() > 1  # visitors come back
    assert all(t[0].startswith("feature_") for t in d.items.texts)
    assert d.items.products == d.items.ids.tolist()
    with pytest.raises(InputError, match="unknown Open Bandit policy"):
        logs.load_open_bandit(OBD, "greedy", "men")
