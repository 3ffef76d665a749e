"""The preference model: who clicks on what, and a per-(user, product) embedding of it.

User attributes go through an MLP into a query; the product's text tokens and image
tokens (see :mod:`.encoders`) are keys and values of a multi-head cross-attention, so
each user weighs the parts of the product that matter to them. The user vector, the
attended product vector and their product are fused into the *preference embedding*,
from which one linear layer predicts the click. Users who would respond to a product
alike get nearby embeddings for it, which is what grouping clusters.

Trained on click logs with binary cross-entropy on the CPU; small by design (tens of
thousands of parameters on top of the frozen encoders).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from adloom.cohorts.data import ClickData, Users
from adloom.cohorts.encoders import ItemFeatures
from adloom.cohorts.report import TrainStats
from adloom.domain import Model
from adloom.errors import InputError, MissingExtraError
from adloom.io import atomic_path, write_text
from adloom.lexicons import sensitive_hits

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - the cohorts extra installs torch
    raise MissingExtraError("cohorts", "cohorts", "torch") from exc

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: Rows per forward pass when embedding or scoring many users.
CHUNK = 65536


def is_sensitive_attribute(name: str) -> bool:
    """Special-category attributes (health, religion, ethnicity, ...) are never used."""
    return bool(sensitive_hits(name.replace("_", " ").replace("-", " ")))


# --------------------------------------------------------------------------- features


class FeatureSpace(Model):
    """How user attributes become a vector: one-hot levels and standardized numbers."""

    categorical: dict[str, list[str]] = Field(default_factory=dict)
    numeric: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="Mean and standard deviation per numeric attribute."
    )
    dropped: list[str] = Field(
        default_factory=list, description="Sensitive attributes left out of the model."
    )

    @classmethod
    def fit(cls, users: Users, max_levels: int = 30) -> FeatureSpace:
        cats: dict[str, list[str]] = {}
        nums: dict[str, tuple[float, float]] = {}
        dropped = []
        for name, values in users.categorical.items():
            if is_sensitive_attribute(name):
                dropped.append(name)
                continue
            levels, counts = np.unique(values, return_counts=True)
            order = np.argsort(-counts, kind="stable")[:max_levels]
            cats[name] = sorted(str(v) for v in levels[order])
        for name, col in users.numeric.items():
            if is_sensitive_attribute(name):
                dropped.append(name)
                continue
            sd = float(col.std())
            nums[name] = (float(col.mean()), sd if sd > 1e-9 else 1.0)
        if not cats and not nums:
            raise InputError(users.source, "no usable user attributes")
        return cls(categorical=cats, numeric=nums, dropped=dropped)

    @property
    def dim(self) -> int:
        return sum(len(v) for v in self.categorical.values()) + len(self.numeric)

    def encode(self, users: Users) -> F32:
        blocks: list[F32] = []
        for name, levels in self.categorical.items():
            if name not in users.categorical:
                raise InputError(users.source, f"missing attribute {name!r}")
            col = users.categorical[name]
            blocks.append(np.stack([col == lv for lv in levels], axis=1).astype(np.float32))
        for name, (mean, sd) in self.numeric.items():
            if name not in users.numeric:
                raise InputError(users.source, f"missing numeric attribute {name!r}")
            blocks.append(((users.numeric[name] - mean) / sd).astype(np.float32)[:, None])
        return np.hstack(blocks)


# --------------------------------------------------------------------------- network


class PreferenceNet(nn.Module):
    """User MLP, cross-attention over product tokens, fused preference embedding."""

    def __init__(
        self, user_dim: int, text_dim: int, image_dim: int, dim: int, hidden: int, heads: int
    ) -> None:
        super().__init__()
        if dim % heads:
            raise InputError("heads", f"embedding size {dim} is not a multiple of {heads} heads")
        self.heads = heads
        self.dim = dim
        self.user = nn.Sequential(nn.Linear(user_dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.text = nn.Linear(text_dim, dim)
        self.image = nn.Linear(image_dim, dim) if image_dim else None
        self.kind = nn.Parameter(torch.zeros(2, dim))
        self.token_norm = nn.LayerNorm(dim)
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.attended = nn.Linear(dim, dim)
        self.fuse = nn.Sequential(nn.Linear(3 * dim, dim), nn.Tanh())
        self.head = nn.Linear(dim, 1)

    def tokens(
        self,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        image: torch.Tensor,
        image_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-item token table (items, tokens, dim) and its mask."""
        tok = self.text(text) + self.kind[0]
        mask = text_mask
        if self.image is not None:
            tok = torch.cat([tok, self.image(image) + self.kind[1]], dim=1)
            mask = torch.cat([mask, image_mask], dim=1)
        return self.token_norm(tok), mask

    def attend(self, h: torch.Tensor, tok: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Preference embeddings from user vectors ``h``; ``tok``/``mask`` have one row
        per user, or a single row shared by all (keys and values are then computed once)."""
        b, dim = h.shape[0], self.dim
        dh = dim // self.heads
        q = self.query(h).view(b, self.heads, dh)
        k, v = self.key_value(tok).chunk(2, dim=-1)
        k = k.reshape(tok.shape[0], -1, self.heads, dh)
        v = v.reshape(tok.shape[0], -1, self.heads, dh)
        if tok.shape[0] == 1 and b != 1:
            scores = torch.einsum("bhd,thd->bht", q, k[0])
        else:
            scores = torch.einsum("bhd,bthd->bht", q, k)
        scores = scores / math.sqrt(dh)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        att = torch.softmax(scores, dim=-1)
        if tok.shape[0] == 1 and b != 1:
            mixed = torch.einsum("bht,thd->bhd", att, v[0])
        else:
            mixed = torch.einsum("bht,bthd->bhd", att, v)
        a = self.attended(mixed.reshape(b, dim))
        fused: torch.Tensor = self.fuse(torch.cat([h, a, h * a], dim=-1))
        return fused

    def embed(self, user: torch.Tensor, tok: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Preference embeddings of user attribute vectors."""
        return self.attend(self.user(user), tok, mask)

    def forward(self, user: torch.Tensor, tok: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.embed(user, tok, mask)).squeeze(-1)
        return logits


# --------------------------------------------------------------------------- model


class PreferenceConfig(Model):
    """Size and training of the preference model."""

    dim: int = Field(16, ge=2, le=512, description="Preference embedding size.")
    hidden: int = Field(64, ge=2, le=4096)
    heads: int = Field(4, ge=1, le=16)
    epochs: int = Field(15, ge=1, le=1000)
    batch_size: int = Field(512, ge=8)
    lr: float = Field(5e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    test_fraction: float = Field(0.2, ge=0.0, lt=0.9)
    max_levels: int = Field(30, ge=1, description="Most one-hot levels per attribute.")
    threads: int = Field(
        1, ge=1, description="Torch threads; the network is small enough that one is fastest."
    )
    seed: int = 0


class PreferenceModel:
    """A trained network with the feature space and item tokens it reads."""

    def __init__(
        self,
        net: PreferenceNet,
        space: FeatureSpace,
        items: ItemFeatures,
        item_ids: Sequence[str],
        config: PreferenceConfig,
    ) -> None:
        self.net = net.eval()
        self.space = space
        self.items = items
        self.item_ids = list(item_ids)
        self.config = config
        self._index = {t: i for i, t in enumerate(self.item_ids)}

    # ------------------------------------------------------------------ training

    @classmethod
    def train(
        cls,
        data: ClickData,
        items: ItemFeatures,
        config: PreferenceConfig | None = None,
        *,
        train_rows: I64 | None = None,
    ) -> tuple[PreferenceModel, TrainStats]:
        """Fit on ``train_rows`` of the log (default: every consented impression)."""
        cfg = config or PreferenceConfig()
        with _threads(cfg.threads):
            return cls._train(data, items, cfg, train_rows)

    @classmethod
    def _train(
        cls, data: ClickData, items: ItemFeatures, cfg: PreferenceConfig, train_rows: I64 | None
    ) -> tuple[PreferenceModel, TrainStats]:
        torch.manual_seed(cfg.seed)
        rows = data.consented_rows() if train_rows is None else train_rows
        if len(rows) == 0:
            raise InputError(data.source, "no impressions from users with consent")
        y_all = data.click[rows]
        if y_all.min() == y_all.max():
            raise InputError(data.source, "training needs both clicks and non-clicks")
        space = FeatureSpace.fit(data.users.subset(np.unique(data.user[rows])), cfg.max_levels)
        user_x = torch.from_numpy(space.encode(data.users))
        net = PreferenceNet(
            space.dim, items.text_dim, items.image_dim, cfg.dim, cfg.hidden, cfg.heads
        )
        tables = _tensors(items)
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        loss_fn = nn.BCEWithLogitsLoss()
        u = torch.from_numpy(data.user[rows])
        it = torch.from_numpy(data.item[rows])
        y = torch.from_numpy(y_all.astype(np.float32))
        gen = torch.Generator().manual_seed(cfg.seed)
        net.train()
        started = time.perf_counter()
        loss_value = float("nan")
        for _ in range(cfg.epochs):
            order = torch.randperm(len(rows), generator=gen)
            total, count = 0.0, 0
            for start in range(0, len(rows), cfg.batch_size):
                b = order[start : start + cfg.batch_size]
                tok, mask = net.tokens(*tables)
                logits = net(user_x[u[b]], tok[it[b]], mask[it[b]])
                loss = loss_fn(logits, y[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
                count += len(b)
            loss_value = total / count
        seconds = time.perf_counter() - started
        model = cls(net, space, items, data.items.ids.tolist(), cfg)
        stats = TrainStats(
            examples=len(rows),
            test_examples=0,
            epochs=cfg.epochs,
            seconds=seconds,
            examples_per_s=len(rows) * cfg.epochs / max(seconds, 1e-9),
            final_loss=loss_value,
        )
        return model, stats

    # ------------------------------------------------------------------ inference

    def _item_rows(self, item_ids: Sequence[str]) -> list[int]:
        try:
            return [self._index[t] for t in item_ids]
        except KeyError as exc:
            raise InputError("items", f"unknown item {exc.args[0]!r}") from None

    def user_features(self, users: Users) -> F32:
        return self.space.encode(users)

    @torch.no_grad()
    def _run(self, user_x: F32, items: list[int], embed: bool) -> F32:
        """Mean embedding over ``items`` (``embed``), or one click probability per item;
        each user's MLP output is computed once and reused for every item."""
        tok, mask = self.net.tokens(*_tensors(self.items))
        out = []
        with _threads(self.config.threads):
            for start in range(0, len(user_x), CHUNK):
                out.append(self._chunk(user_x[start : start + CHUNK], tok, mask, items, embed))
        width = self.config.dim if embed else len(items)
        if not out:
            return np.zeros((0, width), dtype=np.float32)
        return np.concatenate(out).astype(np.float32)

    def _chunk(
        self, user_x: F32, tok: torch.Tensor, mask: torch.Tensor, items: list[int], embed: bool
    ) -> F32:
        h = self.net.user(torch.from_numpy(np.ascontiguousarray(user_x)))
        per_item = [self.net.attend(h, tok[i : i + 1], mask[i : i + 1]) for i in items]
        if embed:
            result: F32 = torch.stack(per_item).mean(dim=0).numpy()
            return result
        logits = torch.stack([self.net.head(e).squeeze(-1) for e in per_item], dim=1)
        probs: F32 = torch.sigmoid(logits).numpy()
        return probs

    def embed(self, user_x: F32, item_ids: Sequence[str]) -> F32:
        """Preference embeddings for a product: the mean over its creatives' embeddings."""
        return self._run(user_x, self._item_rows(item_ids), embed=True)

    def predict(self, user_x: F32, item_ids: Sequence[str]) -> F32:
        """Click probabilities, one column per item."""
        return self._run(user_x, self._item_rows(item_ids), embed=False)

    @torch.no_grad()
    def predict_rows(self, user_x: F32, user: I64, item: I64) -> F32:
        """Click probability of each (user, item) impression."""
        tok, mask = self.net.tokens(*_tensors(self.items))
        out = []
        for start in range(0, len(user), CHUNK):
            u = torch.from_numpy(user_x[user[start : start + CHUNK]])
            i = torch.from_numpy(item[start : start + CHUNK])
            out.append(torch.sigmoid(self.net(u, tok[i], mask[i])).numpy())
        return np.concatenate(out).astype(np.float32)

    # ------------------------------------------------------------------ files

    def save(self, folder: str | Path) -> Path:
        """Weights (``model.pt``), item tokens (``items.npz``) and the spec (``model.json``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "model.pt") as tmp:
            torch.save(self.net.state_dict(), tmp)
        with atomic_path(folder / "items.npz") as tmp, tmp.open("wb") as fh:
            np.savez(
                fh,
                text=self.items.text,
                text_mask=self.items.text_mask,
                image=self.items.image,
                image_mask=self.items.image_mask,
            )
        spec = {
            "config": self.config.model_dump(),
            "space": self.space.model_dump(),
            "item_ids": self.item_ids,
        }
        write_text(folder / "model.json", json.dumps(spec, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> PreferenceModel:
        folder = Path(folder)
        for name in ("model.json", "model.pt", "items.npz"):
            if not (folder / name).is_file():
                raise InputError(folder / name, "file not found (run 'adloom cohorts fit')")
        try:
            spec = json.loads((folder / "model.json").read_text(encoding="utf-8"))
            config = PreferenceConfig.model_validate(spec["config"])
            space = FeatureSpace.model_validate(spec["space"])
            item_ids = [str(t) for t in spec["item_ids"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(folder / "model.json", f"malformed model spec: {exc}") from None
        with np.load(folder / "items.npz") as z:
            items = ItemFeatures(
                text=z["text"],
                text_mask=z["text_mask"],
                image=z["image"],
                image_mask=z["image_mask"],
            )
        net = PreferenceNet(
            space.dim, items.text_dim, items.image_dim, config.dim, config.hidden, config.heads
        )
        state: dict[str, Any] = torch.load(folder / "model.pt", weights_only=True)
        net.load_state_dict(state)
        return cls(net, space, items, item_ids, config)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` threads, then restore the process-wide setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _tensors(items: ItemFeatures) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.from_numpy(items.text),
        torch.from_numpy(items.text_mask),
        torch.from_numpy(items.image),
        torch.from_numpy(items.image_mask),
    )
