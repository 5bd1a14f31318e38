"""``%chat_mcp add / list / remove`` in a real kernel, against a real MCP server."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("mcp")
from jupyter_client.manager import start_new_kernel

from tests.fixtures.mcp_http import SERVER, ended, serve_http

TIMEOUT = 180.0  # a busy machine: the kernel and the SDK take seconds to start


def run(client: Any, code: str) -> list[dict[str, Any]]:
    """Execute ``code`` and collect its IOPub outputs until the kernel is idle."""
    msg_id = client.execute(code)
    outputs = []
    while True:
        msg = client.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            return outputs
        if kind in ("stream", "display_data", "execute_result", "error"):
            outputs.append({"type": kind, **msg["content"]})


def text(outputs: list[dict[str, Any]]) -> str:
    return "".join(o.get("text", "") for o in outputs if o["type"] == "stream")


def value(outputs: list[dict[str, Any]]) -> str:
    results = [o for o in outputs if o["type"] == "execute_result"]
    assert results, outputs
    return str(results[-1]["data"]["text/plain"])


def error(outputs: list[dict[str, Any]]) -> str:
    """The cell's error: IPython shows a UsageError as one stderr line, with no traceback."""
    errors = [f"{o['ename']}: {o['evalue']}" for o in outputs if o["type"] == "error"]
    errors += [o["text"] for o in outputs if o["type"] == "stream" and o["name"] == "stderr"]
    assert errors, outputs
    return errors[-1]


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    manager, client = start_new_kernel(kernel_name="python3", env=env, startup_timeout=TIMEOUT)
    try:
        assert not [o for o in run(client, "%load_ext lexilux_nb") if o["type"] == "error"]
        yield client
    finally:
        run(client, "%unload_ext lexilux_nb")  # closes the servers it started
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_add_list_call_and_remove_a_stdio_server(kernel: Any) -> None:
    added = run(kernel, f"%chat_mcp add tests -- {sys.executable} {SERVER}")
    assert not [o for o in added if o["type"] == "error"], added
    assert "MCP server tests: add, shout, refuse, crash, stats" in text(added)

    listed = text(run(kernel, "%chat_mcp list"))
    assert f"tests ({sys.executable} {SERVER}): 5 tools" in listed
    assert "  add: Add two integers." in listed

    # the kernel's own loop is running: the tool is awaited there, its session lives elsewhere
    code = "from lexilux_nb.client.mcp import registry\n"
    code += "await registry().tool('add').function(a=2, b=3)"
    assert value(run(kernel, code)) == "'5'"
    stats = value(run(kernel, "await registry().tool('stats').function()"))
    pid = int(stats.strip("'").split()[0].removeprefix("pid="))

    removed = run(kernel, "%chat_mcp remove tests")
    assert "removed MCP server tests" in text(removed)
    assert "no MCP servers yet" in text(run(kernel, "%chat_mcp list"))
    assert ended(pid, 30), f"the server process {pid} still runs after %chat_mcp remove"


def test_add_an_http_server_by_url(kernel: Any) -> None:
    with serve_http(TIMEOUT) as url:
        added = run(kernel, f"%chat_mcp add web --url {url}")
        assert "MCP server web: add, shout" in text(added), added
        assert f"web ({url}): 5 tools" in text(run(kernel, "%chat_mcp list"))
        code = "from lexilux_nb.client.mcp import registry\n"
        code += "await registry().tool('shout').function(text='hey')"
        assert value(run(kernel, code)) == "'HEY'"
        assert "removed MCP server web" in text(run(kernel, "%chat_mcp remove web"))


def test_mistakes_are_usage_errors_that_say_what_to_do(kernel: Any) -> None:
    assert "needs a NAME" in error(run(kernel, "%chat_mcp add"))
    assert "one of them" in error(run(kernel, "%chat_mcp add x"))
    assert "no MCP server named 'ghost'" in error(run(kernel, "%chat_mcp remove ghost"))
    assert "http://" in error(run(kernel, "%chat_mcp add x --url ftp://host/mcp"))
    assert "LEXILUX_NO_SUCH_TOKEN is not set" in error(
        run(
            kernel,
            "%chat_mcp add x --url http://127.0.0.1:9/mcp --bearer-env LEXILUX_NO_SUCH_TOKEN",
        )
    )
    failed = error(run(kernel, "%chat_mcp add broken -- no-such-command-here"))
    assert failed.startswith("UsageError") and "no-such-command-here" in failed
    assert "no MCP servers yet" in text(run(kernel, "%chat_mcp list"))


def test_chat_tools_finds_a_tool_of_an_added_server(kernel: Any) -> None:
    """``%%chat --tools add`` with no notebook function ``add``: the MCP server's tool runs."""
    from lexilux_nb.testing import FakeOpenAIServer, Reply

    with FakeOpenAIServer() as server:
        call = {"id": "c1", "name": "add", "arguments": {"a": 2, "b": 3}}
        server.queue(Reply(tool_calls=[call]), Reply(text="The sum is 5."))
        assert "MCP server tests" in text(
            run(kernel, f"%chat_mcp add tests -- {sys.executable} {SERVER}")
        )
        setup = f"%chat_config base_url={server.base_url} model=m history=True"
        assert not [o for o in run(kernel, setup) if o["type"] == "error"]
        ran = run(kernel, "%%chat --tools add --approve always\nWhat is 2 + 3?")
        assert not [o for o in ran if o["type"] == "error"], ran
        tool_messages = [m for m in server.requests[-1].messages if m["role"] == "tool"]
        assert tool_messages == [{"role": "tool", "tool_call_id": "c1", "content": "5"}]
        run(kernel, "%chat_mcp remove tests")
