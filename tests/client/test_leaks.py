"""The proof that a planted key never leaks from the client: a hostile loopback server echoes it
everywhere it can (headers, error bodies, every error field, stream error events, broken JSON,
bodies of the wrong shape; plain, ``\\/``-escaped, ``\\uXXXX``-escaped, URL-encoded), and every
surface is searched: reprs of the client, results and history, each error and every exception in
its chain (``__cause__``, ``__context__``, ``cause``; str, repr, args, ``__dict__``), the pickle
of each error, a formatted traceback, and the DEBUG logs of every logger (root, httpx, httpcore,
lexilux_nb). The notebook's surfaces are in ``tests/notebook/test_leak_surfaces.py``.

Also here: sockets do not leak across repeated ``asyncio.run`` (one client per loop, closed with
it)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import LexiluxError
from lexilux_nb.client.history import ChatHistory

from .hostile import KEY, MODES, found, hostile_server

PATHS = ("call", "stream", "acall", "astream")
LOGGERS = ("", "httpx", "httpcore", "lexilux_nb", "hpack", "h11")


@pytest.fixture
def debug_logs() -> Iterator[list[str]]:
    """Every record of every logger at DEBUG, formatted as a handler would (with exc_info)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    root = logging.getLogger()
    root.addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def run(chat: Chat, path: str) -> tuple[Any, BaseException | None]:
    """(result, error) of one call on ``path``; a stream's result is what arrived."""
    holder: dict[str, Any] = {}
    try:
        if path == "call":
            return chat("hi", max_tokens=5), None
        if path == "acall":
            return asyncio.run(chat.acall("hi")), None
        if path == "stream":
            holder["it"] = chat.stream("hi")
            list(holder["it"])
            return holder["it"].result, None

        async def consume() -> Any:
            holder["it"] = chat.astream("hi")
            async for _ in holder["it"]:
                pass
            return holder["it"].result

        return asyncio.run(consume()), None
    except Exception as exc:
        it = holder.get("it")
        return (it.result if it is not None else None), exc


def chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        node = todo.pop()
        if not isinstance(node, BaseException) or any(node is seen for seen in out):
            continue
        out.append(node)
        todo += [node.__cause__, node.__context__, getattr(node, "cause", None)]
    return out


def error_surfaces(exc: BaseException) -> dict[str, str]:
    """Every place a key could hide in an error, by name."""
    shown: dict[str, str] = {"traceback": "".join(traceback.format_exception(exc))}
    for i, node in enumerate(chain(exc)):
        name = f"chain[{i}]:{type(node).__name__}"
        shown[f"{name}.str"] = str(node)
        shown[f"{name}.repr"] = repr(node)
        shown[f"{name}.args"] = repr(node.args)
        state = getattr(node, "__dict__", {})
        shown[f"{name}.__dict__"] = repr(state)
        for key, value in state.items():
            shown[f"{name}.{key}"] = repr(getattr(value, "__dict__", value))
        if isinstance(node, LexiluxError):
            back = pickle.loads(pickle.dumps(node))
            shown[f"{name}.pickle"] = repr(pickle.dumps(node)) + repr(vars(back))
    return shown


def assert_clean(surfaces: dict[str, str]) -> None:
    leaks = {where: found(text) for where, text in surfaces.items() if found(text)}
    assert not leaks, leaks


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("mode", MODES)
def test_a_planted_key_reaches_no_surface(mode: str, path: str, debug_logs: list[str]) -> None:
    with hostile_server(mode, status=401 if path.startswith("a") else 503) as server:
        chat = Chat(base_url=server.base_url, api_key=KEY, model="m", max_retries=1)
        history = ChatHistory(system="be terse")
        result, error = run(chat, path)
        if result is not None and result.text:
            history.add_user("hi")
            history.add_assistant(result.text)
        surfaces = {"chat": repr(chat), "history": repr(history) + repr(history.to_dict())}
        surfaces["result"] = repr(result)
        if error is not None:
            assert isinstance(error, LexiluxError), error  # never a foreign exception
            surfaces.update(error_surfaces(error))
        surfaces["logs"] = "\n".join(debug_logs)
        chat.close()
    assert server.auth and all(KEY in a for a in server.auth)  # the key was really sent
    assert debug_logs  # DEBUG logging really ran (httpcore logs the response headers)
    if mode != "echo" and mode != "stream_echo":
        assert error is not None  # every hostile mode but the echo ends in an error
    assert_clean(surfaces)


def test_the_header_echo_is_really_in_the_httpcore_logs_unmasked_without_us(debug_logs):
    """The control for the log check: httpcore does log the response headers at DEBUG, so a
    server's echo would be in them; it is masked because the key belongs to a live client."""
    with hostile_server("echo") as server:
        chat = Chat(base_url=server.base_url, api_key=KEY, model="m")
        chat("hi")
        text = "\n".join(debug_logs)
        assert "X-Echo-Key" in text and "sk-…" in text
        chat.close()
    assert not found(text)


def test_settings_reprs_mask_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from lexilux_nb.notebook.config import resolve_endpoint, target

    monkeypatch.setenv("LEXILUX_API_KEY", KEY)
    endpoint = resolve_endpoint(os.environ, base_url="http://127.0.0.1:9/v1", model="m")
    chosen = target(endpoint)
    key = endpoint.api_key.value
    assert key == KEY  # the value itself is intact, to be sent
    shown = [repr(endpoint), repr(chosen), repr(endpoint.api_key), repr((key,)), repr({"k": key})]
    chat = Chat(base_url="http://127.0.0.1:9/v1", api_key=key, model="m")
    shown += [repr(chat), repr(chat.api_key), repr(chat.prepare("hi")), repr(vars(chat))]
    chat.close()
    assert_clean(dict(enumerate(shown)))  # type: ignore[arg-type]


def test_proxy_credentials_reach_no_surface(debug_logs: list[str]) -> None:
    proxy = "http://alice:Pr0xy-Pa55word@127.0.0.1:9"
    chat = Chat(base_url="http://127.0.0.1:1/v1", model="m", proxies={"all": proxy}, max_retries=1)
    _, error = run(chat, "call")
    assert isinstance(error, LexiluxError)
    text = repr(chat) + "".join(error_surfaces(error).values()) + "\n".join(debug_logs)
    chat.close()
    assert "Pr0xy-Pa55word" not in text


# -- sockets across asyncio.run ------------------------------------------------------------------


def _open_sockets() -> int:
    fd_dir = "/proc/self/fd"
    count = 0
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            count += os.readlink(os.path.join(fd_dir, fd)).startswith("socket:")
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts sockets in /proc")
def test_repeated_asyncio_run_leaks_no_client_or_socket() -> None:
    from lexilux_nb.testing import FakeOpenAIServer

    gc.collect()  # what earlier tests left is collected outside the recording
    with FakeOpenAIServer() as server, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        chat = Chat(base_url=server.base_url, api_key="sk-test", model="m")
        asyncio.run(chat.acall("warm up"))
        gc.collect()
        before = _open_sockets()
        for i in range(20):
            assert asyncio.run(chat.acall(f"run {i}")).text
        gc.collect()
        after = _open_sockets()
        pooled = len(chat._http._async) + len(chat._http._lean)
        chat.close()
    assert after <= before, (before, after)
    assert pooled == 0  # each loop's pool (h1) or client was closed and forgotten with its loop
    assert not [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_one_pooled_client_per_running_loop() -> None:
    from lexilux_nb.testing import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        chat = Chat(base_url=server.base_url, api_key="sk-test", model="m")

        async def twice() -> tuple[int, bool, int]:
            await chat.acall("a")
            first = chat._http.lean()
            await chat.acall("b")
            pool = chat._http.lean()
            assert pool is not None
            return len(chat._http._lean), pool is first, pool.opened

        assert asyncio.run(twice()) == (1, True, 1)  # one pool, one connection, kept alive
        chat.close()


def test_any_logger_masks_a_live_clients_key_even_in_tracebacks(debug_logs: list[str]) -> None:
    chat = Chat(base_url="http://127.0.0.1:9/v1", api_key=KEY, model="m")
    other = logging.getLogger("someone.else")
    other.debug("the key is %s", KEY)
    try:
        raise RuntimeError(f"failed with {KEY}")
    except RuntimeError:
        other.exception("while calling")
    other.info("nothing secret here")
    text = "\n".join(debug_logs)
    assert "RuntimeError" in text and "nothing secret here" in text and "sk-…" in text
    assert not found(text)
    chat.close()
