"""A real kernel (jupyter_client) with the extension loaded and the fake server as its endpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lexilux_nb.testing import FakeOpenAIServer


def execute(client: Any, code: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run ``code``; (the execute_reply content, the IOPub outputs)."""
    msg_id = client.execute(code)
    outputs = []
    while True:
        msg = client.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            break
        if kind in ("stream", "display_data", "execute_result", "error"):
            outputs.append({"type": kind, **msg["content"]})
    while True:
        reply = client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"], outputs


@contextmanager
def running_kernel(model: str = "kernel-model") -> Iterator[tuple[Any, FakeOpenAIServer]]:
    """(client, server): a kernel of this interpreter, ``%load_ext lexilux_nb`` done."""
    from jupyter_client.manager import start_new_kernel

    with FakeOpenAIServer(model=model) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LEXILUX_"))}
        env.update(LEXILUX_BASE_URL=server.base_url, LEXILUX_MODEL=model)
        manager, client = start_new_kernel(kernel_name="python3", env=env)
        try:
            execute(client, "%load_ext lexilux_nb")
            yield client, server
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
