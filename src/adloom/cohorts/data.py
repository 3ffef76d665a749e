"""Click logs for cohorts: users with attributes, items (creatives) with text and images.

Everything is validated once, on load, into frozen containers of numpy arrays, so the
model, the grouping and the metrics can assume consistent indices. Files are read with
the measurement loaders (:func:`adloom.measurement.logs.read_table`: CSV or Parquet) and
every problem is a one-line :class:`InputError` naming the file and column.

Consent is explicit: a users table needs a consent column unless the caller states that
the whole log was collected with consent (public, anonymized research logs). Users
without personalization consent are never trained on, grouped or described.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adloom.errors import InputError
from adloom.measurement.logs import labels, numeric, read_table

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
StrArray = NDArray[np.str_]
BoolArray = NDArray[np.bool_]

_TRUE = {"1", "true", "yes", "y", "t", "1.0"}
_FALSE = {"0", "false", "no", "n", "f", "0.0", ""}


@dataclass(frozen=True)
class Users:
    """One row per user: categorical and numeric attributes and personalization consent."""

    ids: StrArray
    categorical: dict[str, StrArray] = field(default_factory=dict)
    numeric: dict[str, FloatArray] = field(default_factory=dict)
    consent: BoolArray | None = None
    source: str = "users"

    def __post_init__(self) -> None:
        n = len(self.ids)
        if n == 0:
            raise InputError(self.source, "no users")
        if len(set(self.ids.tolist())) != n:
            seen: set[str] = set()
            for i, u in enumerate(self.ids.tolist()):
                if u in seen:
                    raise InputError(self.source, f"row {i + 1}: duplicate user id {u!r}")
                seen.add(u)
        for name, col in {**self.categorical, **self.numeric}.items():
            if len(col) != n:
                raise InputError(self.source, f"column {name!r}: {len(col)} rows for {n} users")
        if self.consent is not None and len(self.consent) != n:
            raise InputError(self.source, f"consent: {len(self.consent)} rows for {n} users")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def consented(self) -> BoolArray:
        if self.consent is None:
            return np.ones(len(self), dtype=np.bool_)
        return self.consent

    @property
    def attributes(self) -> list[str]:
        return [*self.categorical, *self.numeric]

    def subset(self, rows: IntArray | BoolArray) -> Users:
        return Users(
            ids=self.ids[rows],
            categorical={k: v[rows] for k, v in self.categorical.items()},
            numeric={k: v[rows] for k, v in self.numeric.items()},
            consent=None if self.consent is None else self.consent[rows],
            source=self.source,
        )


@dataclass(frozen=True)
class Items:
    """One row per creative: the product it advertises, its text fields and its image."""

    ids: StrArray
    product: StrArray
    texts: tuple[tuple[str, ...], ...]
    images: tuple[str | None, ...]
    source: str = "items"

    def __post_init__(self) -> None:
        n = len(self.ids)
        if n == 0:
            raise InputError(self.source, "no items")
        if len(set(self.ids.tolist())) != n:
            raise InputError(self.source, "duplicate item ids")
        if not (len(self.product) == len(self.texts) == len(self.images) == n):
            raise InputError(self.source, "product, text and image columns differ in length")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def products(self) -> list[str]:
        """Product ids in order of first appearance."""
        return list(dict.fromkeys(self.product.tolist()))

    def of_product(self, product: str) -> IntArray:
        rows = np.flatnonzero(self.product == product).astype(np.int64)
        if len(rows) == 0:
            raise InputError(self.source, f"no items for product {product!r}")
        return rows


@dataclass(frozen=True)
class ClickData:
    """Impressions: user index, item index, clicked or not; plus the tables they index."""

    users: Users
    items: Items
    user: IntArray
    item: IntArray
    click: FloatArray
    source: str = "clicks"
    #: Planted groups per product (simulated logs only): one label per user.
    truth: dict[str, IntArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.user)
        if n == 0:
            raise InputError(self.source, "no impressions")
        if len(self.item) != n or len(self.click) != n:
            raise InputError(self.source, "user, item and click columns differ in length")
        if self.user.min() < 0 or self.user.max() >= len(self.users):
            raise InputError(self.source, "user index out of range")
        if self.item.min() < 0 or self.item.max() >= len(self.items):
            raise InputError(self.source, "item index out of range")
        if not np.all((self.click == 0) | (self.click == 1)):
            row = int(np.flatnonzero((self.click != 0) & (self.click != 1))[0])
            raise InputError(self.source, f"column 'click' row {row + 1}: expected 0 or 1")

    def __len__(self) -> int:
        return len(self.user)

    @property
    def clicks(self) -> int:
        return int(self.click.sum())

    def consented_rows(self) -> IntArray:
        """Impressions of users who consented to personalization."""
        return np.flatnonzero(self.users.consented[self.user]).astype(np.int64)


# --------------------------------------------------------------------------- loaders


def _flag(values: Sequence[Any], where: str, column: str) -> BoolArray:
    out = np.empty(len(values), dtype=np.bool_)
    for i, v in enumerate(values):
        s = str(v).strip().lower() if v is not None else ""
        if s in _TRUE:
            out[i] = True
        elif s in _FALSE:
            out[i] = False
        else:
            raise InputError(where, f"column {column!r} row {i + 1}: expected yes/no ({v!r})")
    return out


def _is_numeric(values: Sequence[Any]) -> bool:
    try:
        for v in values:
            if isinstance(v, bool):
                return False
            float(v)
    except (TypeError, ValueError):
        return False
    return True


def users_from_table(
    table: dict[str, list[Any]],
    where: str,
    *,
    id_column: str = "user_id",
    consent_column: str | None = "consent",
    categorical: Sequence[str] = (),
) -> Users:
    """Users from columns: every column other than the id and consent is an attribute,
    numeric when every value parses as a number unless listed in ``categorical``."""
    if id_column not in table:
        raise InputError(where, f"missing column {id_column!r} (user id)")
    if consent_column is not None and consent_column not in table:
        raise InputError(
            where,
            f"missing column {consent_column!r} (personalization consent); "
            "pass --assume-consent only for logs collected with consent",
        )
    ids = labels(table[id_column], where, id_column)
    cats: dict[str, StrArray] = {}
    nums: dict[str, FloatArray] = {}
    for name, values in table.items():
        if name in (id_column, consent_column) or name.startswith("column_"):
            continue
        if name not in categorical and _is_numeric(values):
            nums[name] = numeric(values, where, name)
        else:
            cats[name] = labels(values, where, name)
    if not cats and not nums:
        raise InputError(where, "no attribute columns besides the user id")
    consent = None if consent_column is None else _flag(table[consent_column], where, "consent")
    return Users(ids=ids, categorical=cats, numeric=nums, consent=consent, source=where)


def load_users(
    path: str | Path,
    *,
    id_column: str = "user_id",
    consent_column: str | None = "consent",
    categorical: Sequence[str] = (),
) -> Users:
    """A users table (CSV or Parquet): id, consent and attribute columns."""
    return users_from_table(
        read_table(path),
        str(path),
        id_column=id_column,
        consent_column=consent_column,
        categorical=categorical,
    )


def load_items(
    path: str | Path,
    *,
    id_column: str = "item_id",
    product_column: str = "product_id",
    text_column: str = "text",
    image_column: str = "image",
) -> Items:
    """Creatives: id, product (defaults to the item itself), text fields split on ``|``,
    and an optional image path resolved against the file's folder."""
    path = Path(path)
    table = read_table(path)
    where = str(path)
    for col in (id_column, text_column):
        if col not in table:
            raise InputError(where, f"missing column {col!r}")
    ids = labels(table[id_column], where, id_column)
    product = (
        labels(table[product_column], where, product_column) if product_column in table else ids
    )
    texts: list[tuple[str, ...]] = []
    for i, raw in enumerate(table[text_column]):
        fields = tuple(f.strip() for f in str(raw or "").split("|") if f.strip())
        if not fields:
            raise InputError(where, f"column {text_column!r} row {i + 1}: empty text")
        texts.append(fields)
    images: list[str | None] = []
    base = path.resolve().parent
    for i, raw in enumerate(table.get(image_column, [None] * len(ids))):
        if raw is None or str(raw).strip() == "":
            images.append(None)
            continue
        img = Path(str(raw))
        img = img if img.is_absolute() else base / img
        if not img.is_file():
            raise InputError(where, f"column {image_column!r} row {i + 1}: no file {str(raw)!r}")
        images.append(str(img))
    return Items(ids=ids, product=product, texts=tuple(texts), images=tuple(images), source=where)


def load_clicks(
    path: str | Path,
    users: Users,
    items: Items,
    *,
    user_column: str = "user_id",
    item_column: str = "item_id",
    click_column: str = "click",
) -> ClickData:
    """Impressions (CSV or Parquet) joined to the users and items tables by id."""
    where = str(path)
    table = read_table(path, [user_column, item_column, click_column])
    uid = labels(table[user_column], where, user_column)
    iid = labels(table[item_column], where, item_column)
    click = numeric(table[click_column], where, click_column)
    return _joined(uid, iid, click, users, items, where, (user_column, item_column, click_column))


def items_from_ids(ids: Sequence[str], source: str = "items") -> Items:
    """Items known only by id: each its own product, described by its id."""
    unique = list(dict.fromkeys(ids))
    arr = np.asarray(unique, dtype=np.str_)
    return Items(
        ids=arr,
        product=arr,
        texts=tuple((i,) for i in unique),
        images=tuple([None] * len(unique)),
        source=source,
    )


def load_log(
    path: str | Path,
    items: Items | None = None,
    *,
    user_column: str = "user_id",
    item_column: str = "item_id",
    click_column: str = "click",
    consent_column: str | None = "consent",
    categorical: Sequence[str] = (),
) -> ClickData:
    """One table of impressions whose other columns are the user's attributes (and
    consent), the common single-file form. Attributes must not change between a user's
    rows. Without ``items``, each item is its own product, described by its id."""
    where = str(path)
    table = read_table(path)
    for col in (user_column, item_column, click_column):
        if col not in table:
            known = ", ".join(sorted(table)[:12])
            raise InputError(where, f"missing column {col!r} (columns: {known})")
    uid = labels(table[user_column], where, user_column)
    iid = labels(table[item_column], where, item_column)
    click = numeric(table[click_column], where, click_column)
    first: dict[str, int] = {}
    for r, u in enumerate(uid.tolist()):
        first.setdefault(u, r)
    attrs = [c for c in table if c not in (item_column, click_column, user_column)]
    for col in attrs:
        values = table[col]
        for r, u in enumerate(uid.tolist()):
            seen = values[first[u]]
            if values[r] != seen:
                raise InputError(
                    where,
                    f"column {col!r} row {r + 1}: user {u!r} has {values[r]!r} here and "
                    f"{seen!r} before (user attributes must not change between rows)",
                )
    rows = list(first.values())
    user_table = {c: [table[c][r] for r in rows] for c in [user_column, *attrs]}
    users = users_from_table(
        user_table,
        where,
        id_column=user_column,
        consent_column=consent_column,
        categorical=categorical,
    )
    items = items if items is not None else items_from_ids(iid.tolist(), where)
    return _joined(uid, iid, click, users, items, where, (user_column, item_column, click_column))


def _joined(
    uid: StrArray,
    iid: StrArray,
    click: FloatArray,
    users: Users,
    items: Items,
    where: str,
    columns: tuple[str, str, str],
) -> ClickData:
    u_index = {u: i for i, u in enumerate(users.ids.tolist())}
    i_index = {t: i for i, t in enumerate(items.ids.tolist())}
    user = np.empty(len(uid), dtype=np.int64)
    item = np.empty(len(iid), dtype=np.int64)
    for row, (u, t) in enumerate(zip(uid.tolist(), iid.tolist(), strict=True)):
        if u not in u_index:
            raise InputError(where, f"column {columns[0]!r} row {row + 1}: unknown user {u!r}")
        if t not in i_index:
            raise InputError(where, f"column {columns[1]!r} row {row + 1}: unknown item {t!r}")
        user[row] = u_index[u]
        item[row] = i_index[t]
    bad = np.flatnonzero((click != 0) & (click != 1))
    if len(bad):
        raise InputError(
            where,
            f"column {columns[2]!r} row {int(bad[0]) + 1}: expected 0 or 1 ({click[bad[0]]:g})",
        )
    return ClickData(users=users, items=items, user=user, item=item, click=click, source=where)


def load_open_bandit(root: str | Path, policy: str = "random", campaign: str = "all") -> ClickData:
    """The Open Bandit sample as a click log, through the measurement loader.

    A user is a distinct row of hashed user features and user-item affinities (the log
    has no user ids): the four hashed features stay categorical attributes (so one can
    serve as the demographic baseline), the affinities are numeric ones. An item is a
    ZOZOTOWN fashion item, its own product, described by its hashed categorical features
    (as text) and its scaled price-like feature. The public log carries no consent
    column; it was released for research, so consent is assumed.
    """
    from adloom.measurement.datasets import load_open_bandit as load_bandit_log

    log, meta = load_bandit_log(root, policy, campaign)
    where_log = meta.path
    raw = read_table(where_log)
    feature_cols = [f"user_feature_{j}" for j in range(4) if f"user_feature_{j}" in raw]
    affinity_cols = [c for c in raw if c.startswith("user-item_affinity_")]
    features = [labels(raw[c], where_log, c) for c in feature_cols]
    affinity = np.column_stack([numeric(raw[c], where_log, c) for c in affinity_cols])
    keys = [
        "|".join(f[r] for f in features) + "|" + affinity[r].tobytes().hex()
        for r in range(len(log))
    ]
    first: dict[str, int] = {}
    user = np.empty(len(keys), dtype=np.int64)
    for r, key in enumerate(keys):
        user[r] = first.setdefault(key, len(first))
    rep = np.zeros(len(first), dtype=np.int64)
    rep[user[::-1]] = np.arange(len(keys))[::-1]  # first row of each user
    users = Users(
        ids=np.asarray([f"u{i}" for i in range(len(first))], dtype=np.str_),
        categorical={
            c.removeprefix("user_"): f[rep] for c, f in zip(feature_cols, features, strict=True)
        },
        numeric={
            c.removeprefix("user-item_"): affinity[rep, j] for j, c in enumerate(affinity_cols)
        },
        consent=None,
        source=where_log,
    )
    items_path = Path(root) / policy / campaign / "item_context.csv"
    table = read_table(items_path)
    where = str(items_path)
    item_ids = labels(table["item_id"], where, "item_id")
    cats = [c for c in table if c.startswith("item_feature_") and not _is_numeric(table[c])]
    nums_i = [c for c in table if c.startswith("item_feature_") and c not in cats]
    texts = []
    for r in range(len(item_ids)):
        fields = [f"{c.removeprefix('item_')} {table[c][r]}" for c in cats]
        fields += [f"{c.removeprefix('item_')} level {float(table[c][r]):.1f}" for c in nums_i]
        texts.append(tuple(fields) or (f"item {item_ids[r]}",))
    items = Items(
        ids=item_ids,
        product=item_ids,
        texts=tuple(texts),
        images=tuple([None] * len(item_ids)),
        source=where,
    )
    if int(log.action.max()) >= len(items):
        raise InputError(meta.path, "item_id beyond item_context.csv")
    return ClickData(
        users=users,
        items=items,
        user=user,
        item=log.action.astype(np.int64),
        click=log.reward.astype(np.float64),
        source=meta.path,
    )
