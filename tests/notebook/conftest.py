"""Fixtures for the notebook layer: a real ``InteractiveShell``, the fake server, a fake kernel.

The transport is never patched: every cell talks HTTP to :class:`FakeOpenAIServer` on 127.0.0.1.
Every test starts with no ``OPENAI_*`` / ``LEXILUX_*`` variables, and the ``server`` fixture sets
``LEXILUX_BASE_URL``, so no test can fall back to the embedded local model.
"""

from __future__ import annotations

import atexit
import gc
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from IPython.utils.capture import RichOutput, capture_output
from traitlets.config import Config

from lexilux_nb.testing import FakeOpenAIServer

MODEL = "fake-model"


@pytest.fixture(scope="package", autouse=True)
def _frozen_heap() -> Iterator[None]:
    """Each shell's ``reset()`` runs a full ``gc.collect()``; with the objects that exist before
    these tests frozen (``gc.freeze``) that collection only walks what the tests create."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No endpoint, key, model or echo setting leaks in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "LEXILUX_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def _shared_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(model=MODEL) as server:
        yield server


@pytest.fixture
def server(
    _shared_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeOpenAIServer]:
    """The fake server, emptied, with ``LEXILUX_BASE_URL`` / ``LEXILUX_MODEL`` pointing at it."""
    _shared_server.clear()
    _shared_server.default = None
    _shared_server.api_key = None
    monkeypatch.setenv("LEXILUX_BASE_URL", _shared_server.base_url)
    monkeypatch.setenv("LEXILUX_MODEL", MODEL)
    yield _shared_server
    _shared_server.clear()
    _shared_server.default = None
    _shared_server.api_key = None


@pytest.fixture
def make_server() -> Iterator[Callable[..., FakeOpenAIServer]]:
    """Extra servers (a second endpoint, one that checks the key), stopped after the test."""
    made: list[FakeOpenAIServer] = []

    def make(**kwargs: Any) -> FakeOpenAIServer:
        kwargs.setdefault("model", MODEL)
        started = FakeOpenAIServer(**kwargs).start()
        made.append(started)
        return started

    yield make
    for started in made:
        started.stop()


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    """A fresh InteractiveShell with the extension loaded (history kept in memory)."""
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "lexilux_nb")
    yield ip
    ip.kernel = None
    if "lexilux_nb" in ip.extension_manager.loaded:
        ip.run_line_magic("unload_ext", "lexilux_nb")
    ip.reset(new_session=False)
    # Let the shell be garbage collected (else every test's shell stays alive and each reset's
    # gc.collect() gets slower): drop its atexit callbacks, give sys.modules its __main__ back.
    atexit.unregister(ip.atexit_operations)
    script_magics = ip.magics_manager.registry.get("ScriptMagics")
    if script_magics is not None:
        atexit.unregister(script_magics.kill_bg_processes)
    ip.cleanup()
    InteractiveShell.clear_instance()


@pytest.fixture
def magics(shell: InteractiveShell) -> Any:
    """The registered ``ChatMagics`` instance."""
    return shell.magics_manager.registry["ChatMagics"]


class FakeKernel:
    """Just enough of ipykernel for the magics: the parent message carries the cell id."""

    def __init__(self, cell_id: str | None = "cell-1") -> None:
        self.cell_id = cell_id

    def get_parent(self, channel: str = "shell") -> dict[str, Any]:
        metadata = {"cellId": self.cell_id} if self.cell_id else {}
        return {"header": {"msg_type": "execute_request"}, "metadata": metadata}


@pytest.fixture
def kernel(shell: InteractiveShell) -> FakeKernel:
    """Make ``shell`` kernel-like, so the magics take the widget path."""
    fake = FakeKernel()
    shell.kernel = fake
    return fake


@dataclass
class Ran:
    """What one cell did: the execution result and everything it showed."""

    result: ExecutionResult
    stdout: str
    stderr: str
    outputs: list[RichOutput] = field(default_factory=list)

    @property
    def error(self) -> BaseException | None:
        return self.result.error_before_exec or self.result.error_in_exec

    @property
    def bundles(self) -> list[dict[str, Any]]:
        return [o.data for o in self.outputs]

    @property
    def answer(self) -> dict[str, Any]:
        """The persisted answer bundle (the last output with HTML, markdown and plain text)."""
        found = [b for b in self.bundles if {"text/html", "text/markdown", "text/plain"} <= set(b)]
        assert found, f"no answer bundle among {self.bundles!r}"
        return found[-1]

    @property
    def everything(self) -> str:
        """Every character the cell showed, for "never appears" checks."""
        parts = [self.stdout, self.stderr]
        parts += [repr(b) for b in self.bundles]
        parts += [repr(o.metadata) for o in self.outputs]
        return "\n".join(parts)


@pytest.fixture
def run(shell: InteractiveShell) -> Callable[[str], Ran]:
    """Run a cell with its output captured."""

    def run_cell(source: str) -> Ran:
        with capture_output() as cap:
            result = shell.run_cell(source, store_history=False)
        return Ran(result, cap.stdout, cap.stderr, list(cap.outputs))

    return run_cell


@pytest.fixture
def widgets_made() -> Iterator[list[Any]]:
    """Every ipywidget constructed during the test, in order (ipywidgets' public hook)."""
    from ipywidgets import Widget

    made: list[Any] = []
    previous = getattr(Widget, "_widget_construction_callback", None)
    Widget.on_widget_constructed(made.append)
    yield made
    Widget.on_widget_constructed(previous)


@dataclass
class CommMessage:
    comm_id: str
    msg_type: str  # comm_open, comm_msg, comm_close
    data: dict[str, Any]

    @property
    def custom(self) -> Any:
        """The content of a custom widget message (``widget.send``), else None."""
        if self.msg_type == "comm_msg" and (self.data or {}).get("method") == "custom":
            return self.data["content"]
        return None


@pytest.fixture
def comm_messages() -> Iterator[list[CommMessage]]:
    """Every widget message that would reach a frontend, in order (the ``comm`` package's
    replaceable ``create_comm``, the hook ipykernel itself uses)."""
    import comm
    from comm.base_comm import BaseComm

    sent: list[CommMessage] = []

    class RecordingComm(BaseComm):  # type: ignore[misc]
        def publish_msg(
            self,
            msg_type: str,
            data: Any = None,
            metadata: Any = None,
            buffers: Any = None,
            **keys: Any,
        ) -> None:
            sent.append(CommMessage(self.comm_id, msg_type, dict(data or {})))

    previous = comm.create_comm
    comm.create_comm = lambda *args, **kwargs: RecordingComm(*args, **kwargs)
    yield sent
    comm.create_comm = previous
