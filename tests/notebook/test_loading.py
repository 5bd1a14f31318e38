"""``%load_ext lexilux_nb`` / ``%unload_ext``: what gets registered, and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import lexilux_nb
from lexilux_nb.notebook.magics import ChatMagics

REPO = Path(__file__).resolve().parents[2]
LINE = {"chat", "chat_complete", "chat_config", "chat_history"}  # at least these
CELL = {"chat", "chat_complete"}


def _ours(shell: Any, kind: str) -> dict[str, Any]:
    table = shell.magics_manager.magics[kind]
    return {
        name: fn
        for name, fn in table.items()
        if isinstance(getattr(fn, "__self__", None), ChatMagics)
    }


def _instances(shell: Any) -> list[ChatMagics]:
    return [c for c in shell.configurables if isinstance(c, ChatMagics)]


def test_load_registers_line_and_cell_magics(shell: Any) -> None:
    assert set(_ours(shell, "line")) >= LINE
    assert set(_ours(shell, "cell")) == CELL
    for name in ("chat_config", "chat_history"):
        assert name not in shell.magics_manager.magics["cell"]
    assert isinstance(shell.magics_manager.registry["ChatMagics"], ChatMagics)
    assert len(_instances(shell)) == 1


def test_unload_removes_every_magic(shell: Any, run: Any) -> None:
    shell.run_line_magic("unload_ext", "lexilux_nb")
    assert _ours(shell, "line") == {}
    assert _ours(shell, "cell") == {}
    assert "ChatMagics" not in shell.magics_manager.registry
    assert _instances(shell) == []
    ran = run("%chat hello")
    assert isinstance(ran.error, UsageError)
    assert "not found" in str(ran.error)


def test_loading_twice_does_not_double_register(shell: Any, run: Any) -> None:
    ran = run("%load_ext lexilux_nb")  # IPython: "already loaded"
    assert ran.result.success
    assert len(_instances(shell)) == 1
    shell.run_line_magic("reload_ext", "lexilux_nb")
    lexilux_nb.load_ipython_extension(shell)
    lexilux_nb.load_ipython_extension(shell)
    instances = _instances(shell)
    assert len(instances) == 1
    (current,) = instances
    assert shell.magics_manager.registry["ChatMagics"] is current
    for kind, names in (("line", LINE), ("cell", CELL)):
        table = _ours(shell, kind)
        assert set(table) >= names
        assert all(fn.__self__ is current for fn in table.values())


def test_unload_closes_the_shared_client(shell: Any, server: Any, run: Any, magics: Any) -> None:
    assert run("%chat hi").result.success
    assert magics._chat is not None
    shell.run_line_magic("unload_ext", "lexilux_nb")
    assert magics._chat is None


def test_magics_are_configurable(shell: Any, run: Any) -> None:
    ran = run("%config ChatMagics")
    assert ran.result.success, ran.stdout + ran.stderr
    for option in ("base_url", "model", "api_key_env", "max_continues", "update_interval"):
        assert f"ChatMagics.{option}" in ran.stdout


SNAPSHOT = textwrap.dedent(
    """
    import asyncio, json, logging, signal, sys, threading, warnings

    def snapshot():
        return {
            "excepthook": repr(sys.excepthook),
            "displayhook": repr(sys.displayhook),
            "threading_excepthook": repr(threading.excepthook),
            "unraisablehook": repr(sys.unraisablehook),
            "warnings": repr(warnings.filters),
            "policy": repr(asyncio.get_event_loop_policy()),
            "policy_type": type(asyncio.get_event_loop_policy()).__name__,
            "sigint": repr(signal.getsignal(signal.SIGINT)),
            "root_handlers": repr(logging.getLogger().handlers),
            "root_level": logging.getLogger().level,
        }
    """
)


def _run_python(code: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", SNAPSHOT + textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "PYTHONWARNINGS": ""},
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_import_changes_no_global_hooks() -> None:
    out = _run_python(
        """
        # third-party imports have side effects of their own (IPython adds a warnings filter)
        import httpx, IPython, ipywidgets, markdown_it, pygments, traitlets
        import IPython.core.completer, IPython.core.magic_arguments, IPython.display
        before = snapshot()
        import lexilux_nb
        import lexilux_nb.notebook.extension
        import lexilux_nb.notebook.magics
        import lexilux_nb.notebook.views
        after = snapshot()
        print(json.dumps({"before": before, "after": after}))
        """
    )
    assert out["after"] == out["before"]


@pytest.mark.parametrize("action", ["load", "load_and_unload"])
def test_load_ext_changes_no_global_hooks(action: str) -> None:
    unload = 'ip.run_line_magic("unload_ext", "lexilux_nb")' if action != "load" else ""
    out = _run_python(
        f"""
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        ip = InteractiveShell.instance(config=config)
        before = snapshot()
        events = {{k: len(v) for k, v in ip.events.callbacks.items()}}
        ip.run_line_magic("load_ext", "lexilux_nb")
        {unload}
        after = snapshot()
        events_after = {{k: len(v) for k, v in ip.events.callbacks.items()}}
        print(json.dumps({{"before": before, "after": after,
                          "events": events, "events_after": events_after}}))
        """
    )
    assert out["after"] == out["before"]
    expected = dict(out["events"])
    if action == "load":  # the cell recorder ({Out[n]}, {Err}, --context), and nothing else
        expected["pre_run_cell"] += 1
        expected["post_run_cell"] += 1
    assert out["events_after"] == expected
