"""``adloom serve`` as a process: settings file in, HTTP service out."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.serving.helpers import Catalog, seed_store

from adloom import registry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_runs_from_a_settings_file(catalog: Catalog, tmp_path: Path) -> None:
    db = tmp_path / "serve.db"
    store = registry.create("store", {"type": "sqlite", "path": str(db)}, "sqlite")
    seed_store(store, catalog)
    store.close()
    config = tmp_path / "settings.json"
    config.write_text(
        json.dumps(
            {
                "store": {"type": "sqlite", "path": str(db)},
                "policy": {"type": "linucb", "exploration": 0.1},
                "signing_keys": {"k": "secret"},
            }
        )
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "adloom.cli", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        r = httpx.post(f"{base}/v1/decide", json={"user_id": "hiker"}, timeout=5)
        assert r.status_code == 200
        body = r.json()
        assert body["policy"] in {"linucb", "fallback"} or body["reason"] == "policy"
        assert body["creative"]["media_url"].startswith(base)  # base_url follows --port
        assert httpx.get(body["creative"]["media_url"], timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"policy": "bandit9"}, "unknown policy backend 'bandit9'"),
        ({"colour": 1}, "colour: unknown field"),
        ({"store": {"type": "sqlite", "pth": "x"}}, "store backend 'sqlite': pth"),
    ],
)
def test_serve_rejects_bad_settings(
    tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    config = tmp_path / "settings.json"
    config.write_text(json.dumps(settings))
    out = subprocess.run(
        [sys.executable, "-m", "adloom.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
