"""MCP tools against a real MCP server (the SDK's MCPServer) over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator

import pytest

pytest.importorskip("mcp")

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import ValidationError
from lexilux_nb.client.mcp import MCPServer, MCPServerError, MCPTools, mcp_tools
from lexilux_nb.client.tools import PythonTool
from lexilux_nb.testing import FakeOpenAIServer, Reply
from tests.fixtures.mcp_http import SERVER, ended, serve_http

STDIO = [sys.executable, SERVER]
TIMEOUT = 120.0  # the machine may be busy: starting the SDK takes seconds


@pytest.fixture(scope="module")
def tools() -> Iterator[MCPTools]:
    with mcp_tools(STDIO, timeout_s=TIMEOUT) as owner:
        yield owner


def call(tool: PythonTool | None, **arguments: object) -> object:
    assert tool is not None and tool.is_async
    return asyncio.run(tool.function(**arguments))


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    with serve_http(TIMEOUT) as url:
        yield url


def test_lists_the_servers_tools_with_their_schemas(tools: MCPTools) -> None:
    assert [t.name for t in tools] == ["add", "shout", "refuse", "crash", "stats"]
    assert list(tools.by_server()) == ["mcp_server"]
    add = tools.tool("add")
    assert add is not None and isinstance(add, PythonTool)
    assert add.spec.description == "Add two integers."
    assert add.spec.parameters["properties"]["a"]["type"] == "integer"
    assert add.spec.parameters["required"] == ["a", "b"]
    assert tools.tool("nope") is None
    assert repr(tools) == "MCPTools(mcp_server: 5 tools)"


def test_calls_a_tool_and_returns_its_text(tools: MCPTools) -> None:
    assert call(tools.tool("add"), a=2, b=40) == "42"
    assert call(tools.tool("shout"), text="hi there") == "HI THERE"


def test_a_failing_tool_returns_an_error_text(tools: MCPTools) -> None:
    assert (
        call(tools.tool("refuse"), reason="not today")
        == "error: Error executing tool refuse: refused: not today"
    )
    text = call(tools.tool("crash"))
    assert isinstance(text, str) and text.startswith("error: ")
    assert "stays on the server" not in text  # the server decides what it reveals


def test_calls_from_many_threads_and_loops_share_one_session(tools: MCPTools) -> None:
    shout = tools.tool("shout")
    assert shout is not None
    results: dict[int, object] = {}

    def worker(i: int) -> None:
        results[i] = asyncio.run(shout.function(text=f"w{i}"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {i: f"W{i}" for i in range(6)}

    async def gathered() -> list[object]:
        return list(await asyncio.gather(*(shout.function(text=str(i)) for i in range(5))))

    assert asyncio.run(gathered()) == ["0", "1", "2", "3", "4"]
    pids = {call(tools.tool("stats")).split()[0] for _ in range(2)}  # type: ignore[union-attr]
    assert len(pids) == 1  # one server process throughout


def test_the_tool_loop_runs_mcp_tools_with_approvals(tools: MCPTools) -> None:
    stats = tools.tool("stats")
    before = str(call(stats)).split("calls=")[1]
    with FakeOpenAIServer(model="m") as server:
        chat = Chat(base_url=server.base_url, model="m", max_retries=0)
        ask = Reply(tool_calls=[{"id": "c1", "name": "add", "arguments": '{"a": 1, "b": 2}'}])
        server.queue(ask, Reply(text="three"))
        out = chat("add them", tools=tools, approve="always")
        assert str(out) == "three"
        assert [m["content"] for m in server.requests[1].messages if m["role"] == "tool"] == ["3"]
        assert server.requests[0].json["tools"][0]["function"]["name"] == "add"

        server.queue(ask, Reply(text="denied"))
        out = chat("add them", tools=tools, approve="never")
        sent = [m["content"] for m in server.requests[3].messages if m["role"] == "tool"]
        assert sent[0].startswith("denied")
    after = str(call(stats)).split("calls=")[1]
    assert after.count("add") == before.count("add") + 1  # the denied call never reached it


async def test_the_async_tool_loop_awaits_mcp_tools(tools: MCPTools) -> None:
    with FakeOpenAIServer(model="m") as server:
        chat = Chat(base_url=server.base_url, model="m", max_retries=0)
        server.queue(
            Reply(tool_calls=[{"id": "c1", "name": "shout", "arguments": '{"text": "ok"}'}]),
            Reply(text="fine"),
        )
        out = await chat.acall("shout", tools=tools, approve="always")
        assert str(out) == "fine"
        assert out.messages[-1]["content"] == "OK"


def test_streamable_http(http_url: str) -> None:
    with mcp_tools(web=http_url, timeout_s=TIMEOUT) as owner:
        assert list(owner.by_server()) == ["web"]
        assert owner.servers["web"].url == http_url
        assert call(owner.tool("shout"), text="over http") == "OVER HTTP"
        assert call(owner.tool("refuse"), reason="http").endswith("refused: http")


async def test_async_add_and_close(http_url: str) -> None:
    async with MCPTools(timeout_s=TIMEOUT, prefix=True) as owner:
        added = await owner.aadd("remote", http_url)
        assert [t.name for t in added][:2] == ["remote_add", "remote_shout"]
        assert await added[0].function(a=5, b=6) == "11"
        await owner.aremove("remote")
        assert len(owner) == 0
        with pytest.raises(MCPServerError, match="closed"):
            await added[0].function(a=1, b=1)


def test_a_tool_awaited_on_the_shared_loop_itself_runs(tools: MCPTools) -> None:
    """``map`` from a cell and the panel run on the loop the sessions live on: no hand-over."""
    from lexilux_nb.client import loop_thread

    add = tools.tool("add")
    assert loop_thread.submit(add.function(a=2, b=3)).result(TIMEOUT) == "5"


def test_close_ends_the_server_process_and_the_tools() -> None:
    owner = mcp_tools(STDIO, timeout_s=TIMEOUT)
    pid = int(str(call(owner.tool("stats"))).split()[0].removeprefix("pid="))
    add = owner.tool("add")
    owner.close()
    owner.close()  # idempotent
    with pytest.raises(MCPServerError, match="closed"):
        call(add, a=1, b=2)
    assert ended(pid, 20), f"the MCP server process {pid} still runs after close()"


def test_two_servers_need_prefixes_when_their_tools_clash(tools: MCPTools) -> None:
    with pytest.raises(ValidationError, match=r"prefix=True"):
        tools.add("again", STDIO)
    assert list(tools.by_server()) == ["mcp_server"]  # the clash left nothing behind
    with mcp_tools(one=STDIO, two=STDIO, prefix=True, timeout_s=TIMEOUT) as both:
        names = [t.name for t in both]
        assert "one_add" in names and "two_add" in names and len(names) == 10
        assert call(both.tool("two_add"), a=1, b=1) == "2"


def test_a_server_that_fails_to_start_is_named_with_what_it_said() -> None:
    crashing = [sys.executable, "-c", "import sys; sys.stderr.write('bad config x\\n'); exit(3)"]
    with pytest.raises(MCPServerError, match=r"'broken'.*bad config x"):
        mcp_tools(broken=crashing, timeout_s=TIMEOUT)
    with pytest.raises(MCPServerError, match="no-such-command-here"):
        mcp_tools(["no-such-command-here", "--flag"], timeout_s=TIMEOUT)


def test_bad_server_descriptions_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"command .*or a url"):
        MCPServer("x")
    with pytest.raises(ValidationError, match="http://"):
        MCPServer("x", url="ftp://host/mcp")
    with pytest.raises(ValidationError, match="server name"):
        MCPServer("two words", command="x")
    with pytest.raises(ValidationError, match="expected"):
        MCPTools().add("x", 42)
    with pytest.raises(KeyError, match="no MCP server named 'ghost'"):
        MCPTools().remove("ghost")
    spec = MCPServer("w", url="https://h/mcp", headers={"Authorization": "Bearer sk-secret-123"})
    assert "sk-secret" not in repr(spec) and spec.target == "https://h/mcp"


def test_a_missing_sdk_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(ImportError, match=r"pip install 'lexilux-nb\[mcp\]'"):
        MCPTools().add("x", STDIO)


def test_unnamed_servers_are_named_after_their_script_package_or_host() -> None:
    from lexilux_nb.client.mcp import _default_name

    assert _default_name(["npx", "-y", "@modelcontextprotocol/server-filesystem", "."]) == (
        "server-filesystem"
    )
    assert _default_name(["python", "tools/my_server.py"]) == "my_server"
    assert _default_name(["uvx", "--quiet"]) == "uvx"
    assert _default_name("http://127.0.0.1:8000/mcp") == "mcp"  # not a word
    assert _default_name("http://localhost:8000/mcp") == "localhost"
    assert _default_name({"url": "https://tools.example/mcp"}) == "tools_example"
    assert _default_name(["./42"]) == "mcp"
