"""What describes an MCP server, and what the model reads back from one of its tools."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ValidationError

BAD_NAME = re.compile(r"[^A-Za-z0-9_-]")
_SERVER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class MCPServer:
    """How to reach one server: a command over stdio, or a streamable HTTP ``url``."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    url: str | None = None
    env: Mapping[str, str] | None = field(default=None, repr=False)
    headers: Mapping[str, str] | None = field(default=None, repr=False)
    cwd: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _SERVER_NAME.fullmatch(self.name):
            raise ValidationError(
                f"an MCP server name is a word like 'files' or 'web_search', got {self.name!r}"
            )
        if (self.command is None) == (self.url is None):
            raise ValidationError(
                f"MCP server {self.name!r}: give a command (stdio) or a url (HTTP), not "
                f"{'both' if self.command else 'neither'}, e.g. command='npx', args=[...] "
                "or url='http://127.0.0.1:8000/mcp'"
            )
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValidationError(
                f"MCP server {self.name!r}: url must start with http:// or https://,"
                f" got {self.url!r}"
            )
        if any(not isinstance(a, str) for a in self.args):
            raise ValidationError(f"MCP server {self.name!r}: args must be strings")

    @property
    def target(self) -> str:
        """What is shown: the command line or the URL (never env or headers)."""
        if self.url is not None:
            return self.url
        return " ".join([str(self.command), *self.args])

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(v for v in (self.headers or {}).values() if v) + tuple(
            v for v in (self.env or {}).values() if len(v) >= 8
        )


def _default_name(value: Any) -> str:
    """A name from the URL's host, or the first argument that is not a flag (a script, a
    package), else the command: ``npx -y @scope/server-files .`` is ``server-files``."""
    if isinstance(value, Mapping):
        value = value.get("url") or [value.get("command"), *(value.get("args") or ())]
    if isinstance(value, str):
        name = BAD_NAME.sub("_", urlsplit(value).hostname or "")
    else:
        parts = [str(p) for p in value if p]
        words = [p for p in parts[1:] if not p.startswith("-")] + parts[:1]
        name = BAD_NAME.sub("_", Path(words[0]).stem) if words else ""
    return name if _SERVER_NAME.fullmatch(name) else "mcp"


def as_server(name: str, value: Any) -> MCPServer:
    """``[command, *args]``, a URL string, a dict of :class:`MCPServer` fields, or one as it is."""
    if isinstance(value, MCPServer):
        return value
    if isinstance(value, str):
        return MCPServer(name, url=value)
    if isinstance(value, Mapping):
        fields = {k: v for k, v in value.items() if k != "name"}
        fields["args"] = tuple(fields.get("args") or ())
        return MCPServer(name, **fields)
    if isinstance(value, Sequence) and value:
        command, *args = [str(v) for v in value]
        return MCPServer(name, command=command, args=tuple(args))
    raise ValidationError(
        f"MCP server {name!r}: expected [command, *args], a URL or a dict, got {value!r}"
    )


def result_text(result: Any) -> str:
    """A ``CallToolResult`` as the text the model reads; a failed call reads ``error: ...``."""
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource":
            inner = block.resource
            parts.append(getattr(inner, "text", None) or f"[resource {inner.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource link {block.uri}]")
        else:
            parts.append(f"[{kind} {getattr(block, 'mime_type', '')}]".replace(" ]", "]"))
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False, default=str))
    text = "\n".join(parts)
    if getattr(result, "is_error", False):
        return f"error: {text or 'the tool failed without saying why'}"
    return text
