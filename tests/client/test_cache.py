"""The resume cache: exact-request keys, durable across processes, readable while written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lexilux_nb.client.cache import ResultCache, request_key


def test_key_ignores_key_order_but_not_values() -> None:
    a = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    b = {"messages": [{"role": "user", "content": "hi"}], "model": "m"}
    assert request_key(a) == request_key(b)
    assert request_key(a) != request_key({**a, "temperature": 0.1})


def test_round_trip_and_missing(tmp_path: Path) -> None:
    with ResultCache(tmp_path / "c.sqlite") as cache:
        assert cache.get("nope") is None
        cache.put("k", {"text": "ok", "n": 1})
        assert cache.get("k") == {"text": "ok", "n": 1}
        assert "k" in cache and len(cache) == 1


def test_survives_a_new_process(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    code = (
        "from lexilux_nb.client.cache import ResultCache;"
        f"c = ResultCache({str(path)!r}); c.put('done', {{'text': 'from child'}})"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with ResultCache(path) as cache:
        assert cache.get("done") == {"text": "from child"}


def test_reader_sees_writes_of_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with ResultCache(path) as writer, ResultCache(path) as reader:
        writer.put("a", [1, 2])
        assert reader.get("a") == [1, 2]
