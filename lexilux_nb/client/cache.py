"""Finished batch items in sqlite, keyed by the exact request body, so a re-run resumes.

WAL mode lets other processes read while one writes; every put commits at once, so a
kernel restart loses nothing that finished.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from .models import ChatResult, ToolCall, Usage

__all__ = ["ResultCache", "request_key", "result_from_json", "result_to_json"]


def request_key(body: Mapping[str, Any]) -> str:
    """A stable hash of a request body (key order does not matter, every value does)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def result_to_json(result: ChatResult) -> dict[str, Any]:
    """A ChatResult as plain JSON data (without ``raw``), for the cache."""
    return result.to_dict()


def result_from_json(data: Mapping[str, Any]) -> ChatResult:
    """The ChatResult :func:`result_to_json` stored."""
    known = {f.name for f in fields(ChatResult)}
    values = {k: v for k, v in data.items() if k in known}
    values["usage"] = Usage.from_dict(values.get("usage"))
    values["tool_calls"] = [ToolCall.from_dict(t) for t in values.get("tool_calls") or ()]
    values["choices"] = [result_from_json(c) for c in values.get("choices") or ()]
    values["raw"] = None
    return ChatResult(**values)


class ResultCache:
    """A sqlite file of request key -> JSON answer; safe across restarts and concurrent readers."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, timeout=30.0, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )

    def __repr__(self) -> str:
        return f"ResultCache({str(self.path)!r})"

    def get(self, key: str) -> Any | None:
        """The stored answer for ``key``, or None when that request never finished."""
        with self._lock:
            row = self._db.execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        """Store one finished answer (committed immediately)."""
        text = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)", (key, text)
            )

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
