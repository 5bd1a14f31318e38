"""jupyter-config/ makes a real kernel load the extension: %%chat works without %load_ext."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from lexilux_nb.testing import FakeOpenAIServer, Reply

CONFIG = Path(__file__).resolve().parents[2] / "jupyter-config" / "ipython_kernel_config.py"


def run(client, code: str) -> list[dict]:
    """Execute ``code`` and collect its IOPub outputs until the kernel is idle."""
    msg_id = client.execute(code)
    outputs = []
    while True:
        msg = client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            return outputs
        if kind in ("stream", "display_data", "execute_result", "error"):
            outputs.append({"type": kind, **msg["content"]})


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    shutil.copy(CONFIG, profile / "ipython_kernel_config.py")
    with FakeOpenAIServer(model="kernel-model") as server:
        server.queue(Reply(text="Hello from **the kernel**."))
        env = {"IPYTHONDIR": str(tmp_path / "ipython"), "LEXILUX_BASE_URL": server.base_url}
        for var in ("LEXILUX_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("LEXILUX_MODEL", "kernel-model")
        manager, client = start_new_kernel(kernel_name="python3", env={**_environ(), **env})
        try:
            yield client, server
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_kernel_with_jupyter_config_runs_chat_without_load_ext(kernel) -> None:
    client, server = kernel
    outputs = run(client, "%%chat\nSay hello.")
    assert not [o for o in outputs if o["type"] == "error"], outputs
    final = [o for o in outputs if o["type"] == "display_data" and "text/html" in o["data"]]
    assert final and final[-1]["data"]["text/plain"] == "Hello from **the kernel**."
    assert "<strong>the kernel</strong>" in final[-1]["data"]["text/html"]
    assert server.requests[-1].messages == [{"role": "user", "content": "Say hello."}]
    history = run(client, "len(chat_history), chat_history.get_last_assistant_message()")
    assert history[-1]["data"]["text/plain"] == "(2, 'Hello from **the kernel**.')"
