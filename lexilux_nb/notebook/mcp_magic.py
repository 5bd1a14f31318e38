"""``%chat_mcp``: connect MCP servers whose tools ``%%chat --tools NAME`` can then use.

The servers live in the process-wide :func:`lexilux_nb.client.mcp.registry` (one
:class:`~lexilux_nb.client.mcp.MCPTools`): ``registry().tool(name)`` finds a tool by name. The
command after ``--`` is run as typed (no shell, no ``$var`` expansion).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments

from ..client.errors import LexiluxError
from ..client.mcp import MCPServer, registry

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _plain(text: str, limit: int = 160) -> str:
    """One inert line of server-supplied text (no control or escape characters)."""
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@magic_arguments()
@argument("action", choices=["add", "list", "remove"], help="What to do.")
@argument("name", nargs="?", help="The server's name (add, remove).")
@argument("--url", help="A streamable HTTP server, e.g. http://127.0.0.1:8000/mcp.")
@argument(
    "--bearer-env",
    metavar="VAR",
    help="Send 'Authorization: Bearer $VAR' (the environment variable's name, not the token).",
)
@argument("--timeout", type=float, default=60.0, help="Seconds to wait for the server.")
def _parser(line: str) -> None:
    """%chat_mcp add NAME -- COMMAND ARGS... | add NAME --url URL | list | remove NAME"""


def _split(line: str) -> tuple[list[str], list[str]]:
    """The magic's own words, and the server command after ``--``."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%chat_mcp: {exc} in {line!r}") from None
    if "--" in words:
        at = words.index("--")
        return words[:at], words[at + 1 :]
    return words, []


def _server(args: argparse.Namespace, command: list[str]) -> MCPServer:
    if not args.name:
        raise UsageError("%chat_mcp add needs a NAME: %chat_mcp add files -- npx -y SERVER")
    if bool(command) == bool(args.url):
        raise UsageError(
            "%chat_mcp add NAME takes a command after -- (stdio) or --url URL (HTTP), one of them:"
            " %chat_mcp add files -- npx -y @modelcontextprotocol/server-filesystem ."
        )
    headers = None
    if args.bearer_env:
        token = os.environ.get(args.bearer_env)
        if not token:
            raise UsageError(f"%chat_mcp: the environment variable {args.bearer_env} is not set")
        headers = {"Authorization": f"Bearer {token}"}
    if args.url:
        return MCPServer(args.name, url=args.url, headers=headers)
    return MCPServer(args.name, command=command[0], args=tuple(command[1:]))


def mcp_command(line: str) -> None:
    words, command = _split(line)
    args = _parser.parser.parse_args(words)
    servers = registry()
    try:
        if args.action == "list":
            listing = servers.by_server()
            if not listing:
                print("no MCP servers yet: %chat_mcp add NAME -- COMMAND ARGS")
            for name, spec in servers.servers.items():
                tools = listing.get(name, [])
                print(f"{name} ({_plain(spec.target)}): {len(tools)} tools")
                for tool in tools:
                    print(f"  {_plain(tool.name, 64)}: {_plain(tool.spec.description)}")
        elif args.action == "remove":
            if not args.name:
                raise UsageError("%chat_mcp remove needs the server's NAME (see %chat_mcp list)")
            servers.remove(args.name)
            print(f"removed MCP server {args.name}")
        else:
            if servers.timeout_s != args.timeout:
                servers.timeout_s = args.timeout
            spec = _server(args, command)
            tools = servers.add(spec.name, spec)
            names = ", ".join(_plain(t.name, 64) for t in tools) or "no tools"
            print(f"MCP server {spec.name}: {names} (use: %%chat --tools NAME,...)")
    except KeyError as exc:
        raise UsageError(f"%chat_mcp: {exc.args[0]}") from None
    except (LexiluxError, ImportError, OSError) as exc:
        raise UsageError(f"%chat_mcp {args.action}: {exc}") from None


@magics_class
class MCPMagics(Magics):
    """``%chat_mcp``: MCP servers as tools."""

    @line_magic
    @no_var_expand
    def chat_mcp(self, line: str) -> None:
        """%chat_mcp add NAME -- COMMAND ARGS | add NAME --url URL | list | remove NAME

        Connects an MCP server (stdio command, or streamable HTTP) and keeps it running; its
        tools are then usable by name in ``%%chat --tools``. ``--bearer-env VAR`` sends the
        token from an environment variable.
        """
        mcp_command(line)


def register(shell: Any) -> None:
    magics = MCPMagics(shell=shell)
    shell.register_magics(magics)
    if magics in shell.configurables:  # nothing to configure: %config stays ChatMagics'
        shell.configurables.remove(magics)


def unregister(shell: Any) -> None:
    """Remove ``%chat_mcp`` and close the servers it started."""
    from ..client import mcp

    table = shell.magics_manager.magics["line"]
    for name in [
        n for n, f in table.items() if isinstance(getattr(f, "__self__", None), MCPMagics)
    ]:
        del table[name]
    shell.magics_manager.registry.pop("MCPMagics", None)
    for configurable in [c for c in shell.configurables if isinstance(c, MCPMagics)]:
        shell.configurables.remove(configurable)
    mcp.close_registry()
