"""Real-browser fixtures: a scripted fake server, JupyterLab on 127.0.0.1, Debian's Chromium.

Everything is required: a missing piece fails the suite (``make test`` installs them), never skips.
The fixtures are module-scoped on purpose: Playwright's sync API keeps an asyncio loop running on
the main thread while it is open, which would break ``asyncio.run`` in tests collected later.

A test module that needs its own notebook overrides ``lab`` with :func:`launch_lab` and opens
pages with :func:`open_notebook`; the app is exposed as ``window.jupyterapp`` (commands, themes).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from lexilux_nb.testing import FakeOpenAIServer, RecordedRequest, Reply

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "build" / "e2e"
DELAY = 0.03  # seconds between streamed chunks: slow enough to watch the answer grow

RICH = """## Tide tables

The sea keeps **time**, and here is how:

- high tide twice a day
- low tide in between
- ~~never~~ always on schedule

| Port | High tide |
|---|---|
| Brest | 06:12 |
| Cádiz | 07:40 |

```python
def tide(hour):
    return "high" if hour % 12 < 6 else "low"
```
"""
STORY = " ".join(
    f"Wave {i} rolled in, carried a word of the story, and went back out to sea."
    for i in range(1, 9)
)
UNSAFE = (
    "Inert: <img src=x onerror=\"window.__xss=1;alert('img')\"> "
    "<script>window.__xss=2;alert('script')</script> "
    "[click me](javascript:window.__xss=3;alert('link'))"
)
PANEL_LONG = " ".join(f"panel{i}" for i in range(400))
THEMES = (
    """## Tide tables

The sea keeps **time**, *calls* `tide(hour)` and links [the almanac](https://example.com).

| Port | High tide | Note |
|---|--:|---|
| Brest | 06:12 | spring tide |
| Cádiz | 07:40 | `neap` |

```python
import math


@cache
def tide(hour: int) -> str:
    \"\"\"Which tide it is.\"\"\"
    my_list = [1, 2, 3]  # three readings
    return "high" if math.sin(hour) > 0.5 else None
```

```python
harbour = {"name": "Brest", "readings": ["""
    + ", ".join(str(i) for i in range(120))
    + """]}
```
"""
)
REASONING = "First I *look* at the moon, then at the clock."


def script(request: RecordedRequest) -> Reply:
    users = [str(m.get("content") or "") for m in request.messages if m.get("role") == "user"]
    last = users[-1].lower() if users else ""
    if any("long story" in u.lower() for u in users):
        return Reply(text=STORY, resume=True, overlap=2, delay=DELAY)
    if "markdown demo" in last:
        return Reply(text=RICH, delay=DELAY)
    if "theme demo" in last:
        return Reply(text=THEMES)
    if "reasoning demo" in last:
        return Reply(text="The tide turns at *noon*.", reasoning=REASONING)
    if "unsafe" in last:
        return Reply(text=UNSAFE)
    if "keep talking" in last:
        return Reply(text=PANEL_LONG, delay=0.05)
    if "from the panel" in last:
        return Reply(text="The panel **hears** you.", delay=DELAY)
    return Reply(text=f"Echo: {users[-1] if users else ''}", delay=DELAY)


def _require() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    for module in ("playwright", "jupyterlab"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"python package {module}")
    if missing:
        pytest.fail("end-to-end suite needs: " + ", ".join(missing) + " (make test installs them)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    _require()
    main = FakeOpenAIServer(model="e2e-model")
    main.default = script
    locked = FakeOpenAIServer(model="e2e-model", api_key="sk-the-right-key")
    with main, locked:
        yield main, locked


def write_notebook(path: Path, cells: Sequence[str]) -> None:
    """A notebook of code cells, bound to the ``python3`` kernel."""
    nb = new_notebook(cells=[new_code_cell(source) for source in cells])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def build_notebook(path: Path, locked_url: str) -> None:
    cells = [
        "%load_ext lexilux_nb",
        "%%chat\nShow me the markdown demo.",
        "%%chat_complete --max-tokens 12 --max-continues 12 --no-history\nTell the long story.",
        "%chat --no-history Show me something unsafe.",
        "from lexilux_nb import ChatPanel\n\npanel = ChatPanel()\npanel",
        "%%chat\nWhat did I say from the panel?",
        f"%chat --base-url {locked_url} --no-history Hello?",
        "%%chat --no-history\nKeep talking about the sea.",
    ]
    write_notebook(path, cells)


@contextmanager
def launch_lab(root: Path, base_url: str) -> Iterator[dict[str, str]]:
    """JupyterLab on a free loopback port, serving ``root``, its kernels pointed at ``base_url``."""
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "LEXILUX_BASE_URL": base_url,
        "LEXILUX_MODEL": "e2e-model",
        "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
        "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
        "IPYTHONDIR": str(root / ".ipython"),
    }
    for var in ("LEXILUX_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(var, None)
    log = open(root / "lab.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            "--LabApp.news_url=",
            "--LabApp.expose_app_in_browser=True",
            "--LabServerApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/status", params={"token": token}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited: {(root / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.3)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        yield {"base": base, "token": token, "root": str(root)}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def notebook_lab(
    tmp_path_factory: Any, name: str, cells: Sequence[str], base_url: str
) -> Iterator[dict[str, str]]:
    """A JupyterLab serving ``{name}.ipynb`` made of ``cells``; its kernels talk to ``base_url``."""
    root = tmp_path_factory.mktemp(name)
    write_notebook(root / f"{name}.ipynb", cells)
    with launch_lab(root, base_url) as info:
        yield {**info, "notebook": f"{name}.ipynb"}


@pytest.fixture(scope="module")
def lab(servers, tmp_path_factory) -> Iterator[dict[str, str]]:
    main, locked = servers
    root = tmp_path_factory.mktemp("lab")
    build_notebook(root / "e2e.ipynb", locked.base_url)
    with launch_lab(root, main.base_url) as info:
        yield {**info, "notebook": "e2e.ipynb"}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield chromium
        chromium.close()


def open_notebook(browser: Any, lab: dict[str, str], name: str, **context: Any) -> Any:
    """A page showing notebook ``name``, its kernel idle; ``page.dialogs`` records alerts."""
    context.setdefault("viewport", {"width": 1280, "height": 1000})
    page = browser.new_context(**context).new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{lab['base']}/lab/tree/{name}?token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function(  # the kernel is connected and idle
        "() => document.body.innerText.includes('| Idle')", timeout=60_000
    )
    news = page.get_by_role("button", name="No")
    if news.count():
        news.first.click()
    return page


@pytest.fixture(scope="module")
def page(browser, lab):
    page = open_notebook(browser, lab, lab["notebook"])
    yield page
    page.context.close()


def run_all(page: Any, timeout: float = 90) -> None:
    """Run every cell of the open notebook and wait until each has finished."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + timeout
    while True:
        prompts = page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").all_inner_texts()
        if prompts and all(p.strip() not in ("[ ]:", "[*]:", "") for p in prompts):
            return
        assert time.monotonic() < deadline, f"cells still running: {prompts}"
        time.sleep(0.2)


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def ensure_clean() -> None:
    shutil.rmtree(SHOTS, ignore_errors=True)
