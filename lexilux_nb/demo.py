"""``make demo``: run a notebook headless in a real kernel and keep what it produced.

The notebook runs through nbclient. The kernel appends every answer, as plain text while it
streams, to a file named by ``LEXILUX_NB_ECHO`` (not to its stderr: ipykernel would capture that
into the notebook), and a thread here copies that file to the terminal. The executed notebook and
an HTML rendering are written to ``--out`` (``build/`` by default). With no endpoint configured the
notebook runs on the embedded local model.

The kernel is this interpreter: a kernelspec named ``python3`` elsewhere (a user-level one of
another virtual environment, say) would run the notebook without this package's dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def bind_kernel(root: Path, name: str = "python3") -> str:
    """Write a kernelspec ``name`` for ``sys.executable`` under ``root``; return a JUPYTER_PATH.

    Kernelspecs found earlier on the path win, and ``JUPYTER_PATH`` is searched first, so with
    the returned value set, ``name`` means this interpreter whatever else is installed.
    """
    spec = root / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": f"Python ({sys.executable})", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel, indent=1), encoding="utf-8")
    return os.pathsep.join(p for p in (str(root), os.environ.get("JUPYTER_PATH", "")) if p)


def run(notebook: Path, out: Path, *, timeout: int = 900, kernel: str = "python3") -> Path:
    """Execute ``notebook`` in a kernel running this interpreter; return the executed copy."""
    before = {name: os.environ.get(name) for name in ("JUPYTER_PATH", "LEXILUX_NB_ECHO")}
    with tempfile.TemporaryDirectory(prefix="lexilux-kernel-") as root:
        os.environ["JUPYTER_PATH"] = bind_kernel(Path(root), kernel)
        try:
            return _run(notebook, out, timeout=timeout, kernel=kernel)
        finally:  # the caller's environment as it was (tests run notebooks after this)
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _run(notebook: Path, out: Path, *, timeout: int, kernel: str) -> Path:
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    echo = Path(tempfile.mkstemp(prefix="lexilux-demo-", suffix=".txt")[1])
    os.environ["LEXILUX_NB_ECHO"] = str(echo)  # inherited by the kernel process
    stop = threading.Event()
    tail = threading.Thread(target=_copy_to_terminal, args=(echo, stop), daemon=True)
    tail.start()
    nb = nbformat.read(notebook, as_version=4)
    started = time.monotonic()

    def on_cell_execute(cell: Any, cell_index: int, **_: Any) -> None:
        if cell.cell_type == "code" and cell.source.strip():
            first = cell.source.strip().splitlines()[0]
            time.sleep(0.1)  # let the echo of the previous cell reach the terminal first
            print(f"\n\033[1mIn [{cell_index}]\033[0m {first}", flush=True)

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        resources={"metadata": {"path": str(notebook.parent.resolve())}},
        on_cell_execute=on_cell_execute,
    )
    try:
        client.execute()
    finally:
        stop.set()
        tail.join(timeout=5)
        echo.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    executed = out / notebook.name
    nbformat.write(nb, executed)
    html, _ = HTMLExporter().from_notebook_node(nb)
    executed.with_suffix(".html").write_text(html, encoding="utf-8")
    print(
        f"\n\nran {notebook} in {time.monotonic() - started:.0f} s; wrote {executed} "
        f"and {executed.with_suffix('.html')}"
    )
    return executed


def _copy_to_terminal(path: Path, stop: threading.Event) -> None:
    """Print what the kernel appends to ``path`` as it arrives."""
    with path.open(encoding="utf-8", errors="replace") as source:
        while True:
            text = source.read()
            if text:
                sys.stdout.write(text)
                sys.stdout.flush()
            elif stop.is_set():
                return
            else:
                time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lexilux_nb.demo", description=__doc__)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--out", type=Path, default=Path("build"))
    parser.add_argument("--timeout", type=int, default=900, help="Seconds per cell.")
    args = parser.parse_args(argv)
    run(args.notebook, args.out, timeout=args.timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
