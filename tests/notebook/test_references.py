"""Cells as prompt values: ``{In[n]}``, ``{Out[n]}``, ``{_}``, ``{Err}``, ``--context N``, the
describers and format specs through ``%%chat``, the caps as settings, and the panel.

Source cells run as numbered cells (``store_history=True``, as a notebook runs them); the chat
cell's request goes over HTTP to the fake server, which records the exact messages. The last
test does the same in a real ipykernel (ZMQ display publisher, OutStream, inline matplotlib).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lexilux_nb.context import register_describer
from lexilux_nb.markup.style import EXPORT_SAFE_TAGS
from lexilux_nb.notebook.errors import ChatCellError
from tests.markup.corpus import parse_tags


def cell(shell: Any, source: str) -> Any:
    """Run ``source`` as the next numbered cell; returns its ExecutionResult."""
    return shell.run_cell(source, store_history=True)


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


def sent(server: Any) -> Any:
    assert server.requests, "no request was sent"
    return server.requests[-1].messages[-1]["content"]


# -- {In[n]} --------------------------------------------------------------------------------------


def test_in_sends_a_cells_source_as_typed(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "x = 6 * 7")
    cell(shell, "%time y = x + 1")  # a magic line: sent as typed, not as IPython's rewrite
    ok(run("%%chat\nA: {In[1]}\nB: {In[2]}"))
    assert sent(server) == "A: x = 6 * 7\nB: %time y = x + 1"


@pytest.mark.parametrize("ref", ["In[9]", "In[0]", "In[-1]"])
def test_in_of_a_cell_that_did_not_run_is_a_short_error(
    server: Any, run: Any, shell: Any, ref: str
) -> None:
    cell(shell, "x = 1")
    ran = run(f"%%chat\nExplain {{{ref}}}")
    assert isinstance(ran.error, ChatCellError)
    assert f"{{{ref}}}: there is no cell" in str(ran.error)
    assert "cells 1–1 have run" in str(ran.error)
    assert server.requests == []
    assert "Traceback" not in ran.stdout + ran.stderr


# -- {Out[n]} and {_} -----------------------------------------------------------------------------


def test_out_sends_the_description_of_a_cells_result(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "import pandas as pd\ndf = pd.DataFrame({'city': ['Oslo', 'Rome'], 'n': [3, 4]})")
    cell(shell, "df")
    ok(run("%%chat\nWhat is in {Out[2]}?"))
    text = sent(server)
    assert text.startswith("What is in\nDataFrame: 2 rows × 2 columns")  # on its own lines
    assert text.endswith("| Rome | 4 |\n?")
    assert "| city | n |" in text and "| Oslo | 3 |" in text and "| Rome | 4 |" in text


def test_out_includes_what_the_cell_displayed(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "from IPython.display import display\ndisplay({'shown': 1})\n'result'")
    ok(run("%%chat\n{Out[1]}"))
    assert sent(server) == "result\n{'shown': 1}"  # the result, then the display's text/plain


def test_out_of_a_display_only_cell(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "from IPython.display import display\ndisplay('only shown')")
    ok(run("%%chat\n{Out[1]}"))
    assert sent(server) == "'only shown'"


def test_out_of_a_cell_without_output_is_a_short_error(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "a = 1")
    cell(shell, "a")
    ran = run("%%chat\n{Out[1]}")
    assert isinstance(ran.error, ChatCellError)
    assert "{Out[1]}: cell 1 has no output (cells with output: 2)" in str(ran.error)
    assert server.requests == []


def test_underscore_is_the_last_result(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "[1, 2, 3]")
    cell(shell, "x = 5")  # no result: _ stays the list
    ok(run("%%chat\nlast: {_}"))
    assert sent(server) == "last: [1, 2, 3]"


# -- {Err} ----------------------------------------------------------------------------------------


def test_err_sends_type_message_source_and_traceback(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "def ratio(a, b):\n    return a / b")
    cell(shell, "total = 3\nratio(total, 0)")
    ok(run("%%chat\nFix this: {Err}"))
    text = sent(server)
    assert text.startswith("Fix this:\nZeroDivisionError: division by zero\n")
    assert "raised by cell [2]:\n```python\ntotal = 3\nratio(total, 0)\n```" in text
    assert "Traceback (most recent call last):" in text
    assert "in ratio\n    return a / b" in text  # the frames of the user's code
    assert "interactiveshell.py" not in text  # not IPython's own
    assert "\x1b[" not in text


def test_a_refused_chat_cell_does_not_replace_the_last_error(
    server: Any, run: Any, shell: Any
) -> None:
    cell(shell, "int('seven')")
    assert isinstance(cell(shell, "%%chat\n{undefined_name}").error_in_exec, ChatCellError)
    ok(run("%%chat\n{Err}"))
    assert sent(server).startswith("ValueError: invalid literal for int() with base 10: 'seven'")


def test_err_of_a_numbered_cell(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "[][1]")
    cell(shell, "{}['k']")
    ok(run("%%chat\n{Err[1]} / {Err}"))
    text = sent(server)
    assert text.startswith("IndexError: list index out of range")
    assert "```\n/\nKeyError: 'k'\n\nraised by cell [2]" in text
    ran = run("%%chat\n{Err[2]x}")  # not a reference: left as written
    assert ran.error is None


def test_err_before_any_error_and_of_a_clean_cell(server: Any, run: Any, shell: Any) -> None:
    import sys

    for name in ("last_value", "last_type", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)
    cell(shell, "x = 1")
    ran = run("%%chat\n{Err}")
    assert "{Err}: no cell has raised an error in this session yet" in str(ran.error)
    ran = run("%%chat\n{Err[1]}")
    assert "{Err[1]}: cell 1 raised no error that was recorded" in str(ran.error)
    assert server.requests == []


def test_an_exception_value_is_told_like_err(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "try:\n    int('x')\nexcept ValueError as exc:\n    caught = exc")
    shell.user_ns["made"] = KeyError("never raised")
    ok(run("%%chat\n{caught}"))
    text = sent(server)
    assert text.startswith("ValueError: invalid literal for int() with base 10: 'x'")
    assert "raised by cell [1]:" in text and "int('x')" in text
    ok(run("%%chat\n{made}"))
    assert sent(server).startswith("KeyError: 'never raised'\n\nraised by a cell:")
    assert "(not recorded: it was not raised by a cell)" in sent(server)


def test_a_variable_named_err_wins(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "1/0")
    shell.user_ns["Err"] = "my own Err"
    ok(run("%%chat\n{Err}"))
    assert sent(server) == "my own Err"


def test_traceback_is_bounded_by_context_output_chars(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "def deep(n):\n    return deep(n - 1) if n else 1 / 0\n")
    cell(shell, "deep(60)")
    ok(run("%chat_config context_output_chars=300"))
    ok(run("%%chat\n{Err}"))
    text = sent(server)
    assert "earlier characters of the traceback not shown]" in text
    trace = text.split("Traceback:\n```\n", 1)[1]
    assert len(trace.split("\n", 1)[1]) <= 300 + len("\n```")
    assert trace.rstrip("`\n").endswith("ZeroDivisionError: division by zero")  # the tail kept


# -- describers and format specs through %%chat ----------------------------------------------------


@pytest.fixture
def table(shell: Any) -> Any:
    df = pd.DataFrame({"a": range(30), "b": [None] * 3 + [f"s{i}" for i in range(27)]})
    shell.user_ns["df"] = df
    return df


def test_dataframe_default_is_schema_and_head(server: Any, run: Any, table: Any) -> None:
    ok(run("%%chat\n{df}"))
    text = sent(server)
    assert text.startswith("DataFrame: 30 rows × 2 columns")
    assert "| a | int64 | 0 |" in text and f"| b | {table.dtypes['b']} | 3 |" in text
    assert "First 10 rows:" in text and "| 9 | s6 |" in text and "| 10 |" not in text
    assert text.endswith("[20 more rows not shown]")


@pytest.mark.parametrize(
    ("spec", "has", "lacks"),
    [
        ("md", "First 10 rows:", "a,b"),
        ("schema", "| b | ", "First 10 rows"),
        ("csv", "a,b\n0,\n1,\n2,\n3,s0", "DataFrame:"),
        ("full", "29,s26", "not shown"),
    ],
)
def test_format_specs(server: Any, run: Any, table: Any, spec: str, has: str, lacks: str) -> None:
    ok(run(f"%%chat\n{{df:{spec}}}"))
    assert has in sent(server) and lacks not in sent(server)


def test_full_is_unbounded_and_csv_is_capped(server: Any, run: Any, shell: Any) -> None:
    shell.user_ns["big"] = pd.DataFrame({"n": range(3000)})
    ok(run("%%chat\n{big:full}"))
    assert sent(server).count("\n") == 3001
    ok(run("%%chat\n{big:csv}"))
    assert len(sent(server)) < 4100 and "more characters not shown]" in sent(server)


def test_an_unknown_spec_is_refused_with_the_choices(server: Any, run: Any, table: Any) -> None:
    ran = run("%%chat\n{df:xml}")
    assert isinstance(ran.error, ChatCellError)
    message = str(ran.error)
    assert "{df:xml}" in message and "unknown format 'xml'" in message
    assert ":md, :csv, :schema, :full" in message and "{{df:xml}}" in message
    assert server.requests == []
    ok(run("%%chat\n{{df:md}} and {x:>10}"))  # a literal, and a non-letter spec: as written
    assert sent(server) == "{df:md} and {x:>10}"


def test_series_ndarray_and_collections(server: Any, run: Any, shell: Any) -> None:
    shell.user_ns.update(
        s=pd.Series([1.5, None, 3.0], name="price"),
        arr=np.arange(12).reshape(3, 4),
        rows=[{"id": i} for i in range(400)],
    )
    ok(run("%%chat\n{s}"))
    assert sent(server).startswith("DataFrame: 3 rows × 1 columns")
    assert "| price | float64 | 1 |" in sent(server)
    ok(run("%%chat\n{arr}"))
    assert sent(server) == (
        "ndarray: shape (3, 4), dtype int64\nsample: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 "
        "[2 more items not shown]\nmin 0, max 11, mean 5.5"
    )
    ok(run("%%chat\n{rows}"))
    assert sent(server).startswith('[\n {\n  "id": 0\n },')
    assert "more characters not shown]" in sent(server)


def test_registered_describer_and_llm_hook(server: Any, run: Any, shell: Any) -> None:
    class Model:
        def __llm__(self, spec: str) -> str:
            return f"a model, spec={spec!r}"

    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    register_describer(Point, lambda v, spec, cap: f"Point(x={v.x}) cap={cap}")
    shell.user_ns.update(m=Model(), p=Point(3))
    ok(run("%%chat\n{m:schema} / {p}"))
    assert sent(server) == "a model, spec='schema' / Point(x=3) cap=4000"


def test_context_max_chars_is_a_setting_the_describers_read(
    server: Any, run: Any, shell: Any, table: Any
) -> None:
    shell.user_ns["long_text"] = "w" * 1000
    ok(run("%chat_config context_max_chars=200"))
    ok(run("%%chat\n{df}"))
    assert sent(server).endswith("more characters not shown]")
    assert len(sent(server)) < 300
    ok(run("%%chat\n{long_text}"))
    assert sent(server) == "w" * 200 + "\n[… text cut: 800 more characters not shown]"
    ok(run("%config ChatMagics.context_max_chars = 100000"))
    ok(run("%%chat\n{long_text}"))
    assert sent(server) == "w" * 1000


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("context_max_chars", "10", "context_max_chars must be a whole number of at least 100"),
        ("context_output_chars", "-1", "at least 100"),
        ("image_max_px", "3", "image_max_px must be a whole number of at least 16"),
        ("image_max_px", "big", "takes a whole number"),
    ],
)
def test_caps_are_validated(run: Any, setting: str, value: str, message: str) -> None:
    ran = run(f"%chat_config {setting}={value}")
    assert ran.error is not None and message in str(ran.error)


# -- --context N ----------------------------------------------------------------------------------


def test_context_sends_previous_code_cells_with_text_outputs(
    server: Any, run: Any, shell: Any
) -> None:
    cell(shell, "import math")
    cell(shell, "r = 2\nprint('radius', r)")
    cell(shell, "%%chat\nan earlier question")  # a chat cell: not code context
    cell(shell, "math.pi * r ** 2")
    ok(run("%%chat --context 2\nExplain."))
    assert sent(server) == (
        "Notebook context: the previous 2 code cell(s), oldest first.\n\n"
        "In [2]:\n```python\nr = 2\nprint('radius', r)\n```\n\n"
        "Output [2]:\n```\nradius 2\n```\n\n"
        "In [4]:\n```python\nmath.pi * r ** 2\n```\n\n"
        "Output [4]:\n```\n12.566370614359172\n```"
        "\n\n---\n\nExplain."
    )


def test_context_trims_long_outputs_with_a_marker(server: Any, run: Any, shell: Any) -> None:
    cell(shell, "print('x' * 5000)")
    ok(run("%chat_config context_output_chars=500"))
    ok(run("%%chat --context 1\nWhy so long?"))
    text = sent(server)
    assert "x" * 500 + "\n[… output trimmed: 4500 more characters]" in text
    assert "x" * 501 not in text


def test_context_includes_a_cells_error_and_notes_its_images(
    server: Any, run: Any, shell: Any
) -> None:
    formats = shell.display_formatter
    formats.active_types = list(formats.format_types)  # as in a kernel (a terminal: text only)
    cell(shell, "from PIL import Image\nfrom IPython.display import display")
    cell(shell, "display(Image.new('RGB', (20, 10)))\nundefined_thing")
    ok(run("%%chat --context 1\n?"))
    text = sent(server)
    assert isinstance(text, str)  # --context sends text only
    assert "NameError: name 'undefined_thing' is not defined" in text
    assert "[1 image output(s) not sent; refer to them with {Out[2]}]" in text


def test_context_is_shown_collapsed_and_in_the_dry_run(
    server: Any, run: Any, shell: Any, kernel: Any
) -> None:
    cell(shell, "value = 41 + 1")
    ran = ok(run("%%chat --context 1\n<b>What</b> is {value}?"))
    shown = [b for b in ran.bundles if "lexilux-context" in b.get("text/html", "")]
    assert len(shown) == 1
    html = shown[0]["text/html"]
    assert html.startswith('<div class="lexilux-context"')  # a side item, export-safe
    assert {t for t, _ in parse_tags(html)} <= EXPORT_SAFE_TAGS
    assert "Context sent: 1 previous cell(s) [1]" in html
    assert "value = 41 + 1" in html and "&lt;b&gt;What&lt;/b&gt;" in html  # inert
    assert "<b>What</b>" not in html
    server.clear()
    ran = ok(run("%%chat --context 1 --dry-run\nAgain"))
    assert server.requests == []
    preview = [b["text/plain"] for b in ran.bundles if "Dry run" in b.get("text/plain", "")]
    assert "In [1]:\n```python\nvalue = 41 + 1\n```" in preview[0]
    assert any("Context sent: 1 previous cell(s)" in b.get("text/plain", "") for b in ran.bundles)


def test_context_option_errors_and_no_earlier_cells(server: Any, run: Any, shell: Any) -> None:
    ran = run("%%chat --context -1\nhi")
    assert ran.error is not None and "--context takes a number of cells" in str(ran.error)
    ran = ok(run("%%chat --context 3\nhi"))
    assert sent(server) == "hi"
    assert "--context: there are no earlier code cells to send" in ran.everything


def test_plain_values_show_no_context_item(server: Any, run: Any, shell: Any, kernel: Any) -> None:
    shell.user_ns["n"] = 3
    ran = ok(run("%%chat\n{n} apples"))
    assert not [b for b in ran.bundles if "lexilux-context" in b.get("text/html", "")]


# -- the panel accepts the same references ---------------------------------------------------------


def test_the_panel_interpolates_like_the_cell(server: Any, shell: Any, magics: Any) -> None:
    from lexilux_nb.client import loop_thread
    from lexilux_nb.notebook.panel import ChatPanel

    cell(shell, "df = __import__('pandas').DataFrame({'k': [1, 2]})")
    cell(shell, "1/0")
    panel = ChatPanel("conv", namespace=shell.user_ns, magics=magics)
    try:
        panel.input.value = "See {In[1]} and {df:schema} and {Err}"
        panel.send.click()
        assert panel.wait(10), panel.status.value
        text = sent(server)
        assert text.startswith("See df = __import__('pandas').DataFrame({'k': [1, 2]}) and\n")
        assert "| k | int64 | 0 |" in text and "First" not in text
        assert "ZeroDivisionError: division by zero" in text
        panel.input.value = "{nope}"  # an unknown name: said in the status, nothing sent
        count = len(server.requests)
        panel.send.click()
        assert "no variable named &#x27;nope&#x27;" in panel.status.value
        assert len(server.requests) == count and panel.input.value == "{nope}"
    finally:
        panel.cancel()
        panel.wait(5)
        loop_thread.submit(panel.engine.chat.aclose()).result(timeout=5)
        panel.close()


# -- a real kernel ---------------------------------------------------------------------------------


def _outputs(client: Any, code: str) -> list[dict[str, Any]]:
    msg_id = client.execute(code)
    outputs: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            return outputs
        if kind in ("stream", "display_data", "execute_result", "error"):
            outputs.append({"type": kind, **msg["content"]})
    raise AssertionError(f"the kernel did not finish {code!r}")


def test_references_in_a_real_kernel(_shared_server: Any, monkeypatch: Any) -> None:
    """ipykernel's display publisher and OutStream, and inline matplotlib, are recorded too."""
    import base64
    import io
    import os

    from jupyter_client.manager import start_new_kernel
    from PIL import Image

    server = _shared_server
    server.clear()
    server.default = None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LEXILUX_"))}
    env.update(LEXILUX_BASE_URL=server.base_url, LEXILUX_MODEL="fake-model")
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))]
        + [p for p in [os.environ.get("PYTHONPATH")] if p]
    )
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        for code in (
            "%load_ext lexilux_nb",  # 1
            "import pandas as pd\ndf = pd.DataFrame({'t': [1.0, 2.5]})",  # 2
            "print('printed in the kernel')",  # 3
            "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2]);",  # 4
            "{}['missing']",  # 5
        ):
            _outputs(client, code)
        outputs = _outputs(client, "%%chat --context 2\nLook: {df:schema} {Out[4]} {Err}")
        assert not [o for o in outputs if o["type"] == "error"], outputs
        parts = server.requests[-1].messages[-1]["content"]
        assert [p["type"] for p in parts] == ["text", "image_url", "text"]
        before, image, after = parts
        assert "In [4]:\n```python\n%matplotlib inline" in before["text"]
        assert "[1 image output(s) not sent; refer to them with {Out[4]}]" in before["text"]
        assert "Output [5]:\n```\nKeyError: 'missing'\n```" in before["text"]
        assert "Look:\nDataFrame: 2 rows × 1 columns" in before["text"]
        assert "| t | float64 | 0 |" in before["text"]
        png = base64.b64decode(image["image_url"]["url"].split(",", 1)[1])
        assert Image.open(io.BytesIO(png)).format == "PNG"
        assert after["text"].startswith("\nKeyError: 'missing'")
        assert "raised by cell [5]:\n```python\n{}['missing']\n```" in after["text"]
        shown = [o for o in outputs if "lexilux-context" in o.get("data", {}).get("text/html", "")]
        assert len(shown) == 1 and "base64" not in shown[0]["data"]["text/html"]
        _outputs(client, "%%chat --context 1\nagain")
        assert "printed in the kernel" not in sent(server)  # only the last code cell
        _outputs(client, "%%chat --context 4\nagain")
        assert "Output [3]:\n```\nprinted in the kernel\n```" in sent(server)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        server.clear()
