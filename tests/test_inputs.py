"""Bad input: one line naming the field or file, exit code 2, nothing half-written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adloom.cli import app
from adloom.demo import sample_dir
from adloom.errors import InputError
from adloom.io import atomic_path, load_campaign, load_users

runner = CliRunner()


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A writable copy of the bundled sample campaign."""
    dest = tmp_path / "sample"
    shutil.copytree(sample_dir(), dest)
    return dest


def edit(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _product0(d: Any) -> Any:
    return d["products"][0]


CASES: list[tuple[str, Callable[[Path], None], str]] = [
    (
        "malformed json",
        lambda s: (s / "campaign.json").write_text('{"id": "x", '),
        "campaign.json: malformed JSON at line 1",
    ),
    (
        "unknown field",
        lambda s: edit(s / "campaign.json", lambda d: d.update(colour="blue")),
        "campaign.json: colour: unknown field",
    ),
    (
        "unknown nested field",
        lambda s: edit(s / "campaign.json", lambda d: _product0(d).update(price=9)),
        "campaign.json: products.0.price: unknown field",
    ),
    (
        "missing asset file",
        lambda s: (s / "assets" / "boots.png").unlink(),
        "boots.png: missing asset file (products.0.assets.0.path)",
    ),
    (
        "unsupported aspect ratio",
        lambda s: edit(s / "campaign.json", lambda d: d["contexts"][0].update(aspect_ratio="4:3")),
        "campaign.json: contexts.0.aspect_ratio: unsupported aspect ratio '4:3'",
    ),
    (
        "unsupported duration",
        lambda s: edit(s / "campaign.json", lambda d: d["contexts"][0].update(duration_s=600)),
        "campaign.json: contexts.0.duration_s: unsupported duration 600s",
    ),
    (
        "empty product claims",
        lambda s: edit(s / "campaign.json", lambda d: _product0(d).update(verified_claims=[])),
        "campaign.json: products.0.verified_claims: a product needs at least one verified claim",
    ),
    (
        "unreadable image",
        lambda s: (s / "assets" / "serum.png").write_bytes(b"not a png at all"),
        "serum.png: unreadable image (products.3.assets.0.path)",
    ),
    (
        "missing required field",
        lambda s: edit(s / "campaign.json", lambda d: d.pop("budget")),
        "campaign.json: budget: Field required",
    ),
    (
        "bad colour",
        lambda s: edit(s / "campaign.json", lambda d: _product0(d).update(palette=["green"])),
        "campaign.json: products.0.palette: invalid colour 'green'",
    ),
    (
        "campaign file missing",
        lambda s: (s / "campaign.json").unlink(),
        "campaign.json: file not found",
    ),
]


@pytest.mark.parametrize(("name", "breakit", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_campaign_is_one_line_exit_2_and_writes_nothing(
    sample: Path, name: str, breakit: Callable[[Path], None], message: str
) -> None:
    breakit(sample)
    out = sample / "plan.json"
    result = runner.invoke(
        app, ["plan", "--campaign", str(sample / "campaign.json"), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    assert "\n" not in text, text
    assert message in text
    assert not out.exists()
    assert not list(sample.glob(".plan*")), "temporary file left behind"


USER_CASES: list[tuple[str, Callable[[Path], None], str]] = [
    (
        "unknown user field",
        lambda s: edit(s / "users.json", lambda d: d["users"][0].update(email="a@b.c")),
        "users.json: 0.email: unknown field",
    ),
    (
        "missing history image",
        lambda s: (s / "history" / "alpine-ridge.png").unlink(),
        "alpine-ridge.png: missing image file (0.history.0.image)",
    ),
    (
        "duplicate user",
        lambda s: edit(s / "users.json", lambda d: d["users"].append(d["users"][0])),
        "users.json: 11.id: duplicate user id 'maya'",
    ),
    (
        "bad consent type",
        lambda s: edit(
            s / "users.json",
            lambda d: d["users"][0]["consent"].update(personalization="perhaps"),
        ),
        "users.json: 0.consent.personalization: Input should be a valid boolean",
    ),
]


@pytest.mark.parametrize(("name", "breakit", "message"), USER_CASES, ids=[c[0] for c in USER_CASES])
def test_bad_users_file(
    sample: Path, name: str, breakit: Callable[[Path], None], message: str
) -> None:
    breakit(sample)
    with pytest.raises(InputError) as info:
        load_users(sample / "users.json")
    assert message in str(info.value)


def test_cli_unknown_user_and_product(sample: Path) -> None:
    base = ["plan", "--campaign", str(sample / "campaign.json")]
    r = runner.invoke(app, [*base, "--product", "nope"])
    assert r.exit_code == 2
    assert "no product with id 'nope'" in r.output
    r = runner.invoke(app, [*base, "--users", str(sample / "users.json"), "--user", "nobody"])
    assert r.exit_code == 2
    assert "users.json: no user with id 'nobody'" in r.output


def test_cli_rejects_bad_context_override(sample: Path) -> None:
    r = runner.invoke(
        app, ["plan", "--campaign", str(sample / "campaign.json"), "--aspect-ratio", "1:1"]
    )
    assert r.exit_code == 2
    assert "aspect_ratio: unsupported aspect ratio '1:1'" in r.output


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    dest = tmp_path / "out.json"

    def write_then_fail() -> None:
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_sample_campaign_loads() -> None:
    campaign = load_campaign(sample_dir() / "campaign.json")
    users = load_users(sample_dir() / "users.json")
    assert len(campaign.products) >= 4
    assert len({p.category for p in campaign.products}) >= 4
    assert len(users) >= 8
    assert any(not u.history for u in users)
    assert any(not u.consent.personalization for u in users)
    for product in campaign.products:
        assert product.logo is not None
        assert all(a.license.license for a in product.assets)
