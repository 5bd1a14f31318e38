"""``%%chat_map`` and the batch progress widget: in a real InteractiveShell, and in a real kernel
(where the cell runs inside the kernel's loop, so the sync map must use the client's loop thread,
and the stop button must keep the answered rows)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from IPython.core.error import UsageError
from jupyter_client.manager import start_new_kernel

from lexilux_nb.client import map_report
from lexilux_nb.client.chat import Chat
from lexilux_nb.client.map_report import MapStats, TextBar
from lexilux_nb.notebook.errors import ChatCellError
from lexilux_nb.notebook.map_progress import MapBar, notebook_bar
from lexilux_nb.testing import FakeOpenAIServer, Reply
from lexilux_nb.testing.replies import echo_reply

from .conftest import MODEL, FakeKernel

pd = pytest.importorskip("pandas")


def chat_map(shell: Any, line: str, body: str) -> Any:
    return shell.run_cell_magic("chat_map", line, body)


# -- the magic in a shell ----------------------------------------------------------------------


def test_writes_a_new_column(shell: Any, server: FakeOpenAIServer) -> None:
    df = pd.DataFrame({"text": ["good", "bad"], "id": [1, 2]})
    shell.user_ns["df"] = df
    chat_map(shell, "-i df -o label --no-progress", "Classify #{id}: {text}")
    assert df["label"].tolist() == ["Echo: Classify #1: good", "Echo: Classify #2: bad"]
    assert "label_error" not in df.columns
    assert len(shell.user_ns["_chat_map"]) == 2
    assert [r.json["model"] for r in server.requests] == [MODEL, MODEL]


def test_column_fills_the_positional_slot(shell: Any, server: FakeOpenAIServer) -> None:
    shell.user_ns["df"] = pd.DataFrame({"text": ["a"]})
    chat_map(shell, "-i df -c text -o out --no-progress --concurrency 2", "Q: {}")
    assert shell.user_ns["df"]["out"].tolist() == ["Echo: Q: a"]


def test_failed_rows_are_missing_with_their_error(shell: Any, server: FakeOpenAIServer) -> None:
    server.queue(Reply(status=400))
    df = pd.DataFrame({"text": ["a", "b"]})
    shell.user_ns["df"] = df
    chat_map(shell, "-i df -o out --no-progress --concurrency 1", "{text}")
    assert pd.isna(df.loc[0, "out"]) and df.loc[1, "out"] == "Echo: b"
    assert "InvalidRequestError" in df.loc[0, "out_error"] and pd.isna(df.loc[1, "out_error"])


def test_a_list_gives_a_list_variable(shell: Any, server: FakeOpenAIServer) -> None:
    shell.user_ns["tickets"] = ["x", "y"]
    chat_map(shell, "-i tickets -o answers --no-progress", "About {}")
    assert shell.user_ns["answers"] == ["Echo: About x", "Echo: About y"]


def test_mistakes_are_named(shell: Any, server: FakeOpenAIServer) -> None:
    shell.user_ns["df"] = pd.DataFrame({"text": ["a"]})
    with pytest.raises(UsageError, match="no variable 'nope'"):
        chat_map(shell, "-i nope", "{text}")
    with pytest.raises(UsageError, match="template"):
        chat_map(shell, "-i df", "  \n")
    with pytest.raises(ChatCellError, match=r"\{label\}"):
        chat_map(shell, "-i df --no-progress", "Classify {label}")
    assert server.requests == []


def test_resume_with_cache_in_the_magic(
    shell: Any, server: FakeOpenAIServer, tmp_path: Any
) -> None:
    cache = tmp_path / "rows.sqlite"
    shell.user_ns["df"] = pd.DataFrame({"text": ["a", "b", "c"]})
    chat_map(shell, f"-i df -o out --no-progress --cache {cache}", "{text}")
    chat_map(shell, f"-i df -o out --no-progress --cache {cache}", "{text}")
    assert len(server.requests) == 3
    assert shell.user_ns["df"]["out"].tolist() == ["Echo: a", "Echo: b", "Echo: c"]


# -- the widget --------------------------------------------------------------------------------


def test_map_bar_traits_follow_the_stats() -> None:
    bar = MapBar(10)
    bar.update(MapStats(total=10, done=3, failed=1, in_flight=4, tokens=1200))
    assert bar.bar.value == 4 and bar.bar.max == 10
    assert bar.bar.bar_style == "warning"  # a failure shows
    text = bar.label.value
    assert "3/10 done" in text and "1 failed" in text and "4 in flight" in text
    assert "1,200 tokens" in text and "req/s" in text
    bar.close(MapStats(total=10, done=6, failed=0, interrupted=True))
    assert bar.bar.bar_style == "danger" and "interrupted" in bar.label.value


def test_map_bar_driven_by_a_real_map(server: FakeOpenAIServer) -> None:
    server.default = lambda req: replace(echo_reply(req), latency=0.05)
    bar = MapBar(5)
    chat = Chat(base_url=server.base_url, model=MODEL, max_retries=0)
    chat.map([str(i) for i in range(5)], concurrency=2, progress=bar)
    assert bar.bar.value == 5 and bar.bar.bar_style == "success"
    assert bar.label.value.startswith("5/5 done")


def test_progress_true_shows_the_widget_only_in_a_kernel(shell: Any) -> None:
    assert map_report._factory is notebook_bar  # installed by %load_ext
    assert notebook_bar(3) is None  # a terminal IPython: the text bar instead
    assert isinstance(map_report.resolve_progress(True, 3), TextBar)
    shell.kernel = FakeKernel()
    shown = map_report.resolve_progress(True, 3)
    assert isinstance(shown, MapBar) and shown.bar.max == 3
    shell.run_line_magic("unload_ext", "lexilux_nb")
    assert map_report._factory is None


# -- a real kernel -----------------------------------------------------------------------------


def run(client: Any, code: str, timeout: float = 60) -> list[dict[str, Any]]:
    msg_id = client.execute(code)
    outputs = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            return outputs
        if kind in ("stream", "display_data", "execute_result", "error", "comm_msg", "comm_open"):
            outputs.append({"type": kind, **msg["content"]})
    raise AssertionError(f"the kernel did not finish {code!r}")


def value(client: Any, expression: str) -> str:
    outputs = run(client, expression)
    results = [o for o in outputs if o["type"] == "execute_result"]
    assert results, outputs
    text: str = results[-1]["data"]["text/plain"]
    return text


@pytest.fixture
def kernel(server: FakeOpenAIServer) -> Iterator[tuple[Any, Any]]:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {
        **os.environ,
        "PYTHONPATH": root,
        "LEXILUX_BASE_URL": server.base_url,
        "LEXILUX_MODEL": MODEL,
    }
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        run(client, "%load_ext lexilux_nb\nimport pandas as pd")
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_in_a_real_kernel_the_column_arrives_and_the_bar_advances(
    kernel: tuple[Any, Any], server: FakeOpenAIServer
) -> None:
    _, client = kernel
    server.default = lambda req: replace(echo_reply(req), latency=0.1)
    run(client, "df = pd.DataFrame({'text': [f't{i}' for i in range(12)]})")
    outputs = run(client, "%%chat_map -i df -o label --concurrency 4\nClassify: {text}")
    assert not [o for o in outputs if o["type"] == "error"], outputs
    opened = [o for o in outputs if o["type"] == "comm_open"]
    assert any(o["data"]["state"].get("_model_name") == "IntProgressModel" for o in opened)
    values = [
        o["data"]["state"]["value"]
        for o in outputs
        if o["type"] == "comm_msg"
        and "value" in o["data"].get("state", {})
        and isinstance(o["data"]["state"]["value"], int)
    ]
    assert values and 0 < values[0] < 12 and values[-1] == 12  # it advanced, then finished
    assert (
        value(client, "df['label'].tolist()[:2]") == "['Echo: Classify: t0', 'Echo: Classify: t1']"
    )
    assert value(client, "int(df['label'].notna().sum())") == "12"


def test_in_a_real_kernel_an_interrupt_keeps_the_answered_rows(
    kernel: tuple[Any, Any], server: FakeOpenAIServer
) -> None:
    manager, client = kernel
    server.default = lambda req: replace(echo_reply(req), latency=0.3)
    run(client, "df = pd.DataFrame({'text': [f't{i}' for i in range(40)]})")
    run(client, "from lexilux_nb import ChatHistory\nchat_history = ChatHistory()")
    msg_id = client.execute("%%chat_map -i df -o label --concurrency 2 --no-progress\n{text}")
    deadline = time.monotonic() + 30
    while len(server.requests) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    manager.interrupt_kernel()
    streams: list[str] = []
    while True:
        msg = client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            streams.append(msg["content"]["text"])
        if msg["msg_type"] == "error":
            raise AssertionError(msg["content"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    assert any("Interrupted" in s for s in streams), streams
    answered = int(value(client, "int(df['label'].notna().sum())"))
    assert 4 <= answered < 40
    first = value(client, "df['label'].dropna().index.tolist()[:4]")
    assert first == "[0, 1, 2, 3]"
    sent = len(server.requests)
    time.sleep(0.8)
    assert len(server.requests) == sent  # stopped sending
    assert value(client, "len(chat_history)") == "0"  # the batch never touches the history


def test_schema_rows_become_columns(shell: Any, server: FakeOpenAIServer) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Ticket(pydantic.BaseModel):
        label: str
        urgent: bool

    server.default = lambda req: Reply(text='{"label": "billing", "urgent": true}')
    df = pd.DataFrame({"text": ["refund please", "charged twice"]})
    shell.user_ns.update(df=df, Ticket=Ticket)
    chat_map(shell, "-i df --schema Ticket --no-progress", "Classify: {text}")
    assert df["label"].tolist() == ["billing", "billing"]
    assert df["urgent"].tolist() == [True, True]
    assert isinstance(shell.user_ns["_chat_map"][0], Ticket)
