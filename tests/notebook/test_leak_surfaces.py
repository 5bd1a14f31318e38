"""The notebook's surfaces, searched for a planted key.

A real kernel runs ``%%chat`` against hostile loopback servers that echo the key (headers, error
bodies, every error field, stream error events, JSON-escaped); ``%chat_config`` shows the
settings; ``%xmode Verbose`` shows an unexpected failure's traceback with its locals. The
executed notebook and its nbconvert HTML export must not hold the key. A real IPython shell (in a
subprocess, so a SIGINT is a real Ctrl-C) shows Verbose tracebacks of a KeyboardInterrupt and of
unexpected failures, and they must not show it either."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.client.hostile import KEY, found, hostile_server

ROOT = Path(__file__).resolve().parents[2]
MODES = ("error", "stream_error", "echo", "stream_echo", "drop", "not_json", "bad_shape")


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    """One hostile server per mode; their base URLs by mode."""
    with ExitStack() as stack:
        started = {mode: stack.enter_context(hostile_server(mode)) for mode in MODES}
        started["trickle"] = stack.enter_context(hostile_server("trickle"))
        yield {mode: server.base_url for mode, server in started.items()}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LEXILUX_"))}
    env.update(LEXILUX_API_KEY=KEY, LEXILUX_MODEL="m", PYTHONPATH=str(ROOT))
    return env


def _cells(urls: dict[str, str]) -> list[str]:
    cells = ["%load_ext lexilux_nb", "%chat_config max_retries=0 timeout=5"]
    for mode in MODES:
        for no_stream in ("", " --no-stream"):
            cells.append(f"%%chat --base-url {urls[mode]}{no_stream}\nsay hello")
    cells += [
        "%chat_config",
        f"%chat_config base_url={urls['error']}",
        "%chat_config",
        "%chat --dry-run hello",
        "%xmode Verbose",
        # an unexpected failure below the magic: its frames' locals are shown
        "import httpx\n_send = httpx.Client.send\n"
        "httpx.Client.send = lambda *a, **k: (_ for _ in ()).throw(RuntimeError('unexpected'))",
        "%chat --no-stream hello",
        "httpx.Client.send = _send",
        f"%chat_config deadline_s=1 base_url={urls['trickle']}",
        "%chat --no-stream slowly",
        "from lexilux_nb.client.chat import Chat\nimport os\n"
        f"chat = Chat(base_url={urls['error']!r}, api_key=os.environ['LEXILUX_API_KEY'], model='m')"
        "\nchat",
        "chat('hi')",
        "from lexilux_nb.client.history import ChatHistory\nChatHistory()",
        "import lexilux_nb.notebook.config as c\nc.resolve_endpoint(os.environ)",
    ]
    return cells


def test_an_executed_notebook_and_its_html_export_hold_no_key(servers, tmp_path: Path) -> None:
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = new_notebook(cells=[new_code_cell(source) for source in _cells(servers)])
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", allow_errors=True, resources={"metadata": {}}
    )
    env = _env()
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this environment
    try:
        client.execute(cwd=str(tmp_path))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    text = json.dumps(nb)
    html, _ = HTMLExporter().from_notebook_node(nb)
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]

    assert len(outputs) > 20  # the cells really ran and showed something
    shown = json.dumps(outputs, ensure_ascii=False)
    assert "AuthenticationError" in shown and "sk-…" in shown  # the error was shown, masked
    assert "deadline_s" in shown  # the trickling server was stopped by the deadline
    assert "RuntimeError" in shown  # the Verbose traceback is there
    leaks = {i: found(json.dumps(c.get("outputs", []))) for i, c in enumerate(nb.cells)}
    assert not {i: n for i, n in leaks.items() if n}, leaks
    assert not found(text) and not found(html)
    nbformat.validate(nb)


SHELL_SCRIPT = """
import os, signal, sys, threading
from IPython.terminal.interactiveshell import TerminalInteractiveShell
shell = TerminalInteractiveShell.instance(colors="NoColor")
cells = sys.stdin.read().split("\\n# CELL\\n")
for cell in cells:
    print("=== cell", flush=True)
    shell.run_cell(cell, store_history=True)
    sys.stdout.flush()
"""


def test_verbose_tracebacks_in_a_real_shell_hold_no_key(servers) -> None:
    """``%xmode Verbose`` prints every frame's locals; a real SIGINT interrupts a call to a
    trickling server, and unexpected failures happen below our frames."""
    cells = [
        "%xmode Verbose",
        "import os, signal, threading, httpx\nfrom lexilux_nb.client.chat import Chat\n"
        f"chat = Chat(base_url={servers['trickle']!r}, api_key=os.environ['LEXILUX_API_KEY'],"
        " model='m')",
        "threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\nchat('hi')",
        "threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
        "for chunk in chat.stream('hi'):\n    pass",
        "def boom(request):\n    raise RuntimeError('unexpected')\n"
        f"chat2 = Chat(base_url={servers['error']!r}, api_key=os.environ['LEXILUX_API_KEY'],"
        " model='m', http_client=httpx.Client(transport=httpx.MockTransport(boom)))\n"
        "chat2('hi')",
        "%load_ext lexilux_nb",
        f"%chat_config base_url={servers['trickle']}",
        "threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()",
        "%chat --no-stream hello",
        "_send = httpx.Client.send\n"
        "httpx.Client.send = lambda *a, **k: (_ for _ in ()).throw(RuntimeError('unexpected'))",
        "%chat --no-stream hello",
        "httpx.Client.send = _send",
        f"%chat_config base_url={servers['error']}",
        "%chat --no-stream hello",
        "%chat_config",
    ]
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SHELL_SCRIPT)],
        input="\n# CELL\n".join(cells),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        cwd=str(ROOT),
    )
    out = done.stdout + done.stderr
    assert out.count("=== cell") == len(cells)
    assert out.count("KeyboardInterrupt") >= 2  # both Ctrl-Cs landed in our frames
    assert "Interrupted" in out  # and the magic's one ended the cell with its short message
    assert "RuntimeError" in out and "api_key='sk-…" in out  # Verbose locals were printed
    assert not found(out), [line for line in out.splitlines() if found(line)][:5]
