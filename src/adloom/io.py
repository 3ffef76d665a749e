"""Reading inputs and writing outputs safely.

Inputs are validated up front and every problem becomes a one-line :class:`InputError`
naming the file and field. Outputs are written to a temporary path in the same folder
and renamed into place, so a failure never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from adloom.domain import Campaign, CreativePlan, User
from adloom.errors import InputError

M = TypeVar("M", bound=BaseModel)


def format_validation_error(where: str | Path, exc: ValidationError) -> InputError:
    """First error of a pydantic failure as ``file: field.path: message (+N more)``."""
    errors = exc.errors()
    err = errors[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(root)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return InputError(where, f"{loc}: {msg}{more}")


def sha256_file(path: str | Path) -> str:
    """Hex digest of a file, read in chunks (creatives can be large)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            path, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


def parse(model: type[M], data: Any, where: str | Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(where, exc) from None


def _check_image(path: Path, where: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"unreadable image ({where}): {type(exc).__name__}") from None


def load_campaign(path: str | Path, *, check_assets: bool = True) -> Campaign:
    """Load and validate a campaign file; asset paths resolve against its folder."""
    path = Path(path)
    campaign = parse(Campaign, read_json(path), path).with_base_dir(path.resolve().parent)
    if check_assets:
        for pi, product in enumerate(campaign.products):
            for ai, asset in enumerate(product.assets):
                where = f"products.{pi}.assets.{ai}.path"
                file = campaign.asset_path(asset)
                if not file.is_file():
                    raise InputError(file, f"missing asset file ({where})")
                if asset.kind in ("product_image", "logo", "background"):
                    _check_image(file, where)
    return campaign


def load_users(path: str | Path, *, check_images: bool = True) -> list[User]:
    """Load a JSON list of users; history image paths resolve against the file's folder."""
    path = Path(path)
    data = read_json(path)
    if isinstance(data, dict) and "users" in data:
        data = data["users"]
    try:
        users = TypeAdapter(list[User]).validate_python(data)
    except ValidationError as exc:
        raise format_validation_error(path, exc) from None
    base = path.resolve().parent
    seen: set[str] = set()
    for ui, user in enumerate(users):
        if user.id in seen:
            raise InputError(path, f"{ui}.id: duplicate user id {user.id!r}")
        seen.add(user.id)
        for hi, item in enumerate(user.history):
            if item.image is None:
                continue
            img = Path(item.image)
            if not img.is_absolute():
                img = base / img
            item.image = str(img)
            if check_images:
                where = f"{ui}.history.{hi}.image"
                if not img.is_file():
                    raise InputError(img, f"missing image file ({where})")
                _check_image(img, where)
    return users


def load_plan(path: str | Path) -> CreativePlan:
    path = Path(path)
    return parse(CreativePlan, read_json(path), path)


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary file path beside ``dest``; rename it onto ``dest`` on success."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.stem}.",
        suffix=suffix if suffix is not None else dest.suffix,
        dir=dest.parent,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(dest: str | Path, text: str) -> Path:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(dest)


def write_model(dest: str | Path, model: BaseModel) -> Path:
    return write_text(dest, model.model_dump_json(indent=2, exclude_none=False) + "\n")


@contextlib.contextmanager
def atomic_dir(dest: str | Path) -> Iterator[Path]:
    """Build a directory under a temporary name and swap it in only when complete."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield tmp
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
