"""MCP servers as tools: :func:`mcp_tools` connects them with the official ``mcp`` SDK and returns
:class:`~.tools.PythonTool` s whose async functions call the servers' tools.

Every session lives on the shared loop thread (:mod:`.loop_thread`, also the panel's and
``map``'s): the SDK's sessions must be entered and left in one task of one loop, and a notebook
already runs a loop of its own. A tool call made from any thread or loop (the sync tool loop's
``asyncio.run``, a notebook cell, the panel's loop) is handed to that loop and awaited from where
it was made. The tools go through the same tool loop, with the same approvals, as any Python
function. The SDK is imported only when a server is connected (``pip install 'lexilux-nb[mcp]'``).

:func:`registry` is the process-wide :class:`MCPTools` that ``%chat_mcp add`` fills: look a tool up
by name with ``registry().tool(name)``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import tempfile
import threading
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from . import loop_thread
from .errors import LexiluxError, ValidationError, redact
from .mcp_wire import BAD_NAME, MCPServer, _default_name, as_server, result_text
from .models import FunctionTool
from .tools import PythonTool

__all__ = ["MCPServer", "MCPServerError", "MCPTools", "close_registry", "mcp_tools", "registry"]

T = TypeVar("T")


class MCPServerError(LexiluxError):
    """An MCP server could not be started or reached, or stopped answering."""


def _sdk() -> Any:
    try:
        import mcp
    except ImportError:
        raise ImportError(
            "MCP tools need the official MCP SDK: pip install 'lexilux-nb[mcp]'"
        ) from None
    return mcp


# -- every session on the shared loop thread (:mod:`.loop_thread`) ---------------------------------


def _submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    if loop_thread.on_loop_thread():
        coro.close()
        raise RuntimeError("an MCP call made on the MCP loop itself would wait for ever")
    return loop_thread.submit(coro)


def _run(coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
    future = _submit(coro)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise MCPServerError(f"no answer from the MCP server within {timeout:g}s") from None


async def _arun(coro: Coroutine[Any, Any, T]) -> T:
    if loop_thread.on_loop_thread():  # e.g. ``map`` from a cell: already where sessions live
        return await coro
    return await asyncio.wrap_future(_submit(coro))


def _unwrap(exc: BaseException) -> BaseException:
    inner = getattr(exc, "exceptions", None)  # an exception group of one (anyio task groups)
    while isinstance(inner, (list, tuple)) and len(inner) == 1:
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


class _Session:
    """One live server: a task on the loop holds the SDK client open until ``close``."""

    def __init__(self, server: MCPServer, timeout_s: float) -> None:
        self.server = server
        self.timeout_s = timeout_s
        self.listing: list[Any] = []
        self._client: Any = None
        self._closing: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self.closed = False
        # the server's stderr, kept for error messages (a notebook's sys.stderr has no fd)
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115

    def _said(self) -> str:
        """The last lines the server wrote to stderr, for error messages."""
        try:
            self._stderr.flush()
            self._stderr.seek(0)
            lines = self._stderr.read()[-2000:].strip().splitlines()[-5:]
        except (OSError, ValueError):
            return ""
        return ("; it said: " + " | ".join(lines)) if lines else ""

    def _error(self, doing: str, exc: BaseException) -> MCPServerError:
        exc = _unwrap(exc)
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        where = f"MCP server {self.server.name!r} ({self.server.target})"
        message = f"{where}: {doing} failed: {detail}"
        return MCPServerError(redact(message + self._said(), self.server.secrets))

    def _transport(self, sdk: Any) -> Any:
        server = self.server
        if server.url is not None:
            if not server.headers:
                return server.url
            import httpx2  # the SDK's own HTTP client
            from mcp.client.streamable_http import streamable_http_client

            client = httpx2.AsyncClient(headers=dict(server.headers), timeout=self.timeout_s)
            return streamable_http_client(server.url, http_client=client)
        from mcp.client.stdio import stdio_client

        params = sdk.StdioServerParameters(
            command=server.command,
            args=list(server.args),
            env=dict(server.env) if server.env else None,
            cwd=server.cwd,
        )
        return stdio_client(params, errlog=self._stderr)

    async def open(self) -> None:
        sdk = _sdk()
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closing = asyncio.Event()
        self._task = asyncio.create_task(self._serve(sdk, ready))
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.timeout_s)
        except asyncio.TimeoutError:
            await self.close()
            late = TimeoutError(f"no answer in {self.timeout_s:g}s")
            raise self._error("connecting", late) from None

    async def _serve(self, sdk: Any, ready: asyncio.Future[None]) -> None:
        assert self._closing is not None
        try:
            client = sdk.Client(self._transport(sdk), read_timeout_seconds=self.timeout_s)
            async with client:
                cursor = None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    self.listing.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
                self._client = client
                ready.set_result(None)
                await self._closing.wait()
        except BaseException as exc:
            error = self._error("connecting" if not ready.done() else "the session", exc)
            self._failure = error
            if not ready.done():
                ready.set_exception(error)
            if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
                raise
        finally:
            self._client = None

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        client = self._client
        if client is None:
            raise self._failure or MCPServerError(f"MCP server {self.server.name!r} is closed")
        try:
            result = await client.call_tool(name, arguments)
        except Exception as exc:
            raise self._error(f"calling {name!r}", exc) from None
        return redact(result_text(result), self.server.secrets)

    async def close(self) -> None:
        self.closed = True
        if self._closing is not None:
            self._closing.set()
        if self._task is not None:
            # a server that will not stop is left to its process group
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)
        self._stderr.close()


# -- the owner of the sessions ------------------------------------------------------------------


class MCPTools(Sequence[PythonTool]):
    """Connected MCP servers and their tools: a list of ``PythonTool`` to pass as ``tools=``.

    Sessions stay open across calls until :meth:`close` (or ``with`` / ``async with``).
    ``prefix=True`` names tools ``SERVER_TOOL``; otherwise two servers may not offer one name.
    """

    def __init__(self, *, timeout_s: float = 60.0, prefix: bool = False) -> None:
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
            raise ValidationError(f"timeout_s must be a positive number, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        self.prefix = prefix
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._tools: dict[str, list[PythonTool]] = {}
        self._exit_hook = False

    # -- connecting

    def _check_new(self, server: MCPServer) -> None:
        if server.name in self._sessions:
            raise ValidationError(
                f"an MCP server named {server.name!r} is already connected: remove it first"
            )

    def _adopt(self, session: _Session) -> list[PythonTool]:
        name = session.server.name
        tools = [self._tool(session, t) for t in session.listing]
        taken = {t.name: n for n, ts in self._tools.items() for t in ts}
        for tool in tools:
            if tool.name in taken:
                raise ValidationError(
                    f"MCP server {name!r} offers a tool {tool.name!r}, as {taken[tool.name]!r}"
                    " does: use MCPTools(prefix=True) (tools named SERVER_TOOL) or remove one"
                )
        with self._lock:
            self._sessions[name] = session
            self._tools[name] = tools
        if not self._exit_hook:
            atexit.register(self.close)
            self._exit_hook = True
        return tools

    def add(self, name: str, server: Any = None, **fields: Any) -> list[PythonTool]:
        """Connect a server and return its tools; ``server`` as in :func:`mcp_tools`, or the
        :class:`MCPServer` fields (``command=, args=, url=, env=, headers=, cwd=``)."""
        spec = as_server(name, server) if server is not None else as_server(name, fields)
        self._check_new(spec)
        _sdk()
        session = _Session(spec, self.timeout_s)
        _run(session.open(), self.timeout_s + 5)
        try:
            return self._adopt(session)
        except BaseException:
            _run(session.close(), 15)
            raise

    async def aadd(self, name: str, server: Any = None, **fields: Any) -> list[PythonTool]:
        """Async :meth:`add`."""
        spec = as_server(name, server) if server is not None else as_server(name, fields)
        self._check_new(spec)
        _sdk()
        session = _Session(spec, self.timeout_s)
        await _arun(session.open())
        try:
            return self._adopt(session)
        except BaseException:
            await _arun(session.close())
            raise

    def _tool(self, session: _Session, listed: Any) -> PythonTool:
        remote = str(listed.name)
        exposed = f"{session.server.name}_{remote}" if self.prefix else remote
        exposed = BAD_NAME.sub("_", exposed)[:64]

        async def call(**arguments: Any) -> str:
            if session.closed:
                raise MCPServerError(f"MCP server {session.server.name!r} is closed")
            return await _arun(session.call(remote, arguments))

        description = listed.description or getattr(listed, "title", None) or ""
        call.__name__ = exposed
        call.__doc__ = description
        schema = listed.input_schema or {}
        parameters = dict(schema) if schema else {"type": "object", "properties": {}}
        # the server validates against its own inputSchema: every argument passes through
        return PythonTool(call, FunctionTool(exposed, description, parameters), open_ended=True)

    # -- looking up

    @property
    def servers(self) -> dict[str, MCPServer]:
        with self._lock:
            return {name: s.server for name, s in self._sessions.items()}

    def by_server(self) -> dict[str, list[PythonTool]]:
        """The tools of each server, in the order they were added."""
        with self._lock:
            return {name: list(tools) for name, tools in self._tools.items()}

    def tool(self, name: str) -> PythonTool | None:
        """The tool called ``name`` on any connected server, or None."""
        return next((t for t in self if t.name == name), None)

    def _all(self) -> list[PythonTool]:
        with self._lock:
            return [t for tools in self._tools.values() for t in tools]

    def __iter__(self) -> Iterator[PythonTool]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}: {len(ts)} tools" for n, ts in self.by_server().items())
        return f"MCPTools({shown})"

    # -- closing

    def _pop(self, name: str) -> _Session:
        with self._lock:
            session = self._sessions.pop(name, None)
            self._tools.pop(name, None)
        if session is None:
            known = ", ".join(self.servers) or "none connected"
            raise KeyError(f"no MCP server named {name!r} (servers: {known})")
        return session

    def remove(self, name: str) -> None:
        """Close one server's session (its process ends); its tools stop working."""
        _run(self._pop(name).close(), 15)

    async def aremove(self, name: str) -> None:
        await _arun(self._pop(name).close())

    def close(self) -> None:
        """Close every session (the shared loop thread stays for others). Idempotent."""
        for name in list(self.servers):
            self.remove(name)
        if self._exit_hook:
            atexit.unregister(self.close)
            self._exit_hook = False

    async def aclose(self) -> None:
        for name in list(self.servers):
            await self.aremove(name)

    def __enter__(self) -> MCPTools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> MCPTools:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def mcp_tools(
    *servers: Any, timeout_s: float = 60.0, prefix: bool = False, **named: Any
) -> MCPTools:
    """Connect MCP servers and return their tools, ready for ``tools=``.

    Each server is ``[command, *args]`` (stdio), a URL (streamable HTTP), a dict of
    :class:`MCPServer` fields, or an ``MCPServer``; keyword arguments name them
    (``mcp_tools(files=["npx", "-y", "@modelcontextprotocol/server-filesystem", "."])``).
    Close it when done (``with mcp_tools(...) as tools:``).
    """
    owner = MCPTools(timeout_s=timeout_s, prefix=prefix)
    pending = [(_default_name(s) if not isinstance(s, MCPServer) else s.name, s) for s in servers]
    pending += list(named.items())
    try:
        for name, value in pending:
            unique, n = name, 2
            while unique in owner.servers:
                unique, n = f"{name}_{n}", n + 1
            owner.add(unique, value)
    except BaseException:
        owner.close()
        raise
    return owner


_REGISTRY: MCPTools | None = None
_REGISTRY_LOCK = threading.Lock()


def registry() -> MCPTools:
    """The process-wide servers added by ``%chat_mcp add`` (created on first use)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            _REGISTRY = MCPTools()
        return _REGISTRY


def registered(name: str) -> PythonTool | None:
    """The tool ``name`` of a server added with ``%chat_mcp add``, if any (no registry: None)."""
    with _REGISTRY_LOCK:
        owner = _REGISTRY
    return None if owner is None else owner.tool(name)


def close_registry() -> None:
    """Close the registry's servers, if any were ever added (``%unload_ext``)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        owner, _REGISTRY = _REGISTRY, None
    if owner is not None:
        owner.close()
