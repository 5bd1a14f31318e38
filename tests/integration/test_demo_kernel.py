"""``make demo`` runs its notebook on this interpreter, whatever kernelspec named python3 exists."""

from __future__ import annotations

import json
import os
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from lexilux_nb.demo import run


def test_demo_kernel_is_this_interpreter_despite_a_user_kernelspec(tmp_path, monkeypatch) -> None:
    data = tmp_path / "data"  # a user-level "python3" of another environment, as seen on a laptop
    spec = data / "kernels" / "python3"
    spec.mkdir(parents=True)
    bogus = ["/nonexistent/venv/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": bogus, "language": "python"}))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    monkeypatch.delenv("LEXILUX_NB_ECHO", raising=False)
    source = tmp_path / "probe.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("import sys\nprint(sys.executable)")]), source)

    executed = run(source, tmp_path / "out", timeout=120)

    outputs = nbformat.read(executed, as_version=4).cells[0].outputs
    assert outputs[0]["text"].strip() == sys.executable
    assert "JUPYTER_PATH" not in os.environ and "LEXILUX_NB_ECHO" not in os.environ
    assert executed.with_suffix(".html").is_file()
