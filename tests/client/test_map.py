"""chat.map / chat.amap over the real fake server: order, concurrency, rate limits, retries,
errors kept, interrupts, resume from the cache, progress, and rows as a DataFrame."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lexilux_nb.client import mapping
from lexilux_nb.client.cache import ResultCache
from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import APIError, ValidationError
from lexilux_nb.client.history import ChatHistory
from lexilux_nb.client.map_inputs import render_items, results_frame
from lexilux_nb.client.map_report import MapStats, TextBar
from lexilux_nb.client.mapping import MapResults, Unfinished, amap, map_items
from lexilux_nb.testing import FakeOpenAIServer, RecordedRequest
from lexilux_nb.testing.replies import Reply, echo_reply

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def _shared() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(model="m") as server:
        yield server


@pytest.fixture
def server(_shared: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    _shared.clear()
    _shared.default = None
    yield _shared
    _shared.clear()
    _shared.default = None


def slow(seconds: float) -> Any:
    """Echo every request after ``seconds``."""
    return lambda req: replace(echo_reply(req), latency=seconds)


def chat_for(server: FakeOpenAIServer, **kw: Any) -> Chat:
    kw.setdefault("max_retries", 0)
    return Chat(base_url=server.base_url, model="m", **kw)


def run_map(mode: str, chat: Chat, items: Any, template: str | None = None, **kw: Any) -> Any:
    kw.setdefault("progress", False)
    if mode == "sync":
        return chat.map(items, template, **kw)
    return asyncio.run(chat.amap(items, template, **kw))


def prompts_sent(server: FakeOpenAIServer) -> list[str]:
    return [r.messages[-1]["content"] for r in server.requests]


# -- what is sent ------------------------------------------------------------------------------


def test_template_over_rows_series_and_frames() -> None:
    assert render_items([{"text": "a"}, {"text": "b"}], "Classify: {text}") == [
        "Classify: a",
        "Classify: b",
    ]
    assert render_items(["x", "y"], "Say {}") == ["Say x", "Say y"]
    assert render_items(["x"], None) == ["x"]
    df = pd.DataFrame({"text": ["a", "b"], "lang": ["en", "fr"]})
    assert render_items(df, "{lang}: {text}") == ["en: a", "fr: b"]
    assert render_items(df, "Q: {}", column="text") == ["Q: a", "Q: b"]
    series = pd.Series(["u", "v"], name="text")
    assert render_items(series, "{text}!") == ["u!", "v!"]
    assert render_items(series, "{}?") == ["u?", "v?"]
    messages = [[{"role": "user", "content": "hi"}]]
    assert render_items(messages) == messages


def test_bad_input_is_named_before_anything_is_sent(server: FakeOpenAIServer) -> None:
    df = pd.DataFrame({"text": ["a"]})
    with pytest.raises(ValidationError, match=r"\{label\}.*its fields: text"):
        render_items(df, "Classify: {label}")
    with pytest.raises(ValidationError, match="needs template="):
        render_items(df)
    with pytest.raises(ValidationError, match=r"no column 'body'.*columns: text"):
        render_items(df, "{}", column="body")
    with pytest.raises(ValidationError, match="positional"):
        render_items(df, "Classify: {}")
    with pytest.raises(ValidationError, match="wrap it in a list"):
        render_items("one prompt")
    chat = chat_for(server)
    with pytest.raises(ValidationError, match="on_error"):
        chat.map(["a"], on_error="ignore", progress=False)
    with pytest.raises(ValidationError, match="concurrency"):
        chat.map(["a"], concurrency=0, progress=False)
    with pytest.raises(ValidationError, match="rate_limit"):
        chat.map(["a"], rate_limit="fast", progress=False)
    with pytest.raises(ValidationError, match="item 1"):
        chat.map([{"x": 1}, {"y": 2}], "v={x}", progress=False)
    assert server.requests == []


# -- order and concurrency ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_order_preserved_when_later_items_finish_first(mode: str, server: FakeOpenAIServer) -> None:
    # item i waits (12 - i) * 20 ms, so the answers arrive in reverse order
    server.default = lambda req: replace(
        echo_reply(req), latency=(12 - int(req.messages[-1]["content"][1:])) * 0.02
    )
    prompts = [f"p{i}" for i in range(12)]
    results = run_map(mode, chat_for(server), prompts, concurrency=12)
    assert isinstance(results, MapResults) and not results.interrupted
    assert [r.text for r in results] == [f"Echo: {p}" for p in prompts]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_concurrency_is_reached_and_never_exceeded(
    mode: str, concurrency: int, server: FakeOpenAIServer
) -> None:
    server.default = slow(0.15)
    results = run_map(mode, chat_for(server), [str(i) for i in range(16)], concurrency=concurrency)
    assert len(results) == 16 and not results.errors
    assert server.max_concurrent == concurrency


def test_a_dataframe_with_a_template(server: FakeOpenAIServer) -> None:
    df = pd.DataFrame({"text": ["good", "bad"], "id": [1, 2]})
    results = chat_for(server).map(df, "Classify #{id}: {text}", progress=False)
    assert [r.text for r in results] == ["Echo: Classify #1: good", "Echo: Classify #2: bad"]


# -- rate limits and retries -------------------------------------------------------------------


def warm_map(server: FakeOpenAIServer, chat: Chat, items: list[str], **kw: Any) -> None:
    """Map on a loop whose HTTP client already exists (making one costs ~0.1 s here, which
    would shift the first arrivals); the warm-up request is forgotten."""

    async def main() -> None:
        await chat.acall("warm-up")
        server.clear()
        await chat.amap(items, progress=False, **kw)

    asyncio.run(main())


def test_rate_limit_per_second_spaces_the_starts(server: FakeOpenAIServer) -> None:
    warm_map(server, chat_for(server), [str(i) for i in range(6)], concurrency=6, rate_limit=10)
    times = sorted(r.received for r in server.requests)
    assert len(times) == 6
    assert times[-1] - times[0] >= 0.45  # one start every 100 ms, not six at once
    assert max(sum(1 for t in times if s <= t < s + 0.05) for s in times) == 1


def test_rate_limit_window_allows_a_burst_then_waits(server: FakeOpenAIServer) -> None:
    warm_map(
        server, chat_for(server), [str(i) for i in range(4)], concurrency=4, rate_limit=(2, 0.4)
    )
    times = sorted(r.received for r in server.requests)
    assert times[1] - times[0] < 0.1  # two at once
    assert times[2] - times[0] >= 0.3  # the third waits for the window (0.4 s, less jitter)


def test_rate_limit_counts_retries_too(server: FakeOpenAIServer) -> None:
    chat = chat_for(server, max_retries=1)

    async def main() -> None:
        await chat.acall("warm-up")
        server.clear()
        server.queue(Reply(status=500, headers={"retry-after-ms": "0"}))
        await chat.amap(["a", "b"], concurrency=2, rate_limit=10, progress=False)

    asyncio.run(main())
    times = sorted(r.received for r in server.requests)
    assert len(times) == 3  # one item failed once and was retried
    assert times[-1] - times[0] >= 0.15  # three starts 100 ms apart (the retry waited too)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_429_with_retry_after_is_retried_inside_map(mode: str, server: FakeOpenAIServer) -> None:
    server.queue(Reply(status=429, headers={"retry-after-ms": "300"}))
    results = run_map(mode, chat_for(server, max_retries=2), ["a", "b", "c"], concurrency=1)
    assert [r.text for r in results] == ["Echo: a", "Echo: b", "Echo: c"]
    requests = server.requests
    assert len(requests) == 4  # the first item twice
    assert requests[1].received - requests[0].received >= 0.28  # Retry-After was honoured


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_failed_item_kept_in_its_slot(mode: str, server: FakeOpenAIServer) -> None:
    server.queue(Reply(status=400))
    results = run_map(mode, chat_for(server), ["a", "b", "c"], concurrency=1)
    assert isinstance(results[0], APIError)
    assert [r.text for r in results[1:]] == ["Echo: b", "Echo: c"]
    assert list(results.errors) == [0]
    assert results.stats.failed == 1 and results.stats.done == 2


def test_the_repr_is_bounded_and_counts_failures(server: FakeOpenAIServer) -> None:
    server.queue(Reply(status=400))
    results = chat_for(server).map([f"item {i}" for i in range(40)], concurrency=1, progress=False)
    shown = repr(results)
    assert shown.startswith("MapResults([InvalidRequestError(") and "Echo: item 1" in shown
    assert "Echo: item 39" not in shown and "... 37 more" in shown
    assert shown.endswith("; 40 items, 1 failed)")
    assert len(shown) < 3 * max(len(repr(r)) for r in results)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_on_error_raise_raises_the_first_failure(mode: str, server: FakeOpenAIServer) -> None:
    server.default = slow(0.05)
    server.queue(Reply(status=400))
    with pytest.raises(APIError):
        run_map(
            mode, chat_for(server), [str(i) for i in range(20)], concurrency=2, on_error="raise"
        )
    time.sleep(0.2)
    assert len(server.requests) < 20  # the rest was not sent


# -- interrupts --------------------------------------------------------------------------------


def _assert_partial(results: MapResults, history: ChatHistory, n: int) -> None:
    assert isinstance(results, MapResults) and results.interrupted
    finished = [r for r in results if not isinstance(r, BaseException)]
    unfinished = [r for r in results if isinstance(r, Unfinished)]
    assert 0 < len(finished) < n
    assert len(finished) + len(unfinished) == n
    for i, r in enumerate(results):  # every finished slot holds its own item's answer
        if not isinstance(r, BaseException):
            assert r.text == f"Echo: q{i}"
    assert len(history) == 1  # only read


def _history() -> ChatHistory:
    history = ChatHistory()
    history.add_user("context")
    return history


def test_cancelling_amap_returns_what_finished(server: FakeOpenAIServer) -> None:
    server.default = slow(0.2)
    history = _history()

    async def main() -> MapResults:
        task = asyncio.ensure_future(
            amap(
                chat_for(server),
                [f"q{i}" for i in range(20)],
                concurrency=4,
                progress=False,
                history=history,
            )
        )
        while len(server.requests) < 7:  # q0..q2 answered, q3..q6 in flight
            await asyncio.sleep(0.01)
        task.cancel()
        return await task

    results = asyncio.run(main())
    _assert_partial(results, history, 20)
    assert results.stats.done >= 3


@pytest.mark.parametrize("where", ["plain", "inside a running loop"])
def test_ctrl_c_in_sync_map_returns_what_finished(where: str, server: FakeOpenAIServer) -> None:
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))  # a real Ctrl-C

    def reply(req: RecordedRequest) -> Reply:
        if req.messages[-1]["content"] == "q6":  # q0..q2 answered, q3..q6 in flight
            timer.start()
        return replace(echo_reply(req), latency=0.2)

    server.default = reply
    history = _history()
    chat = chat_for(server)
    prompts = [f"q{i}" for i in range(20)]

    def call() -> MapResults:
        return chat.map(prompts, concurrency=4, progress=False, history=history)

    async def in_loop() -> MapResults:
        return call()

    loop = asyncio.new_event_loop()  # like the kernel's: Ctrl-C is a KeyboardInterrupt (no
    # handler of asyncio.run's that would cancel the cell's task instead)
    try:
        results = call() if where == "plain" else loop.run_until_complete(in_loop())
    finally:
        timer.cancel()
        loop.close()
    _assert_partial(results, history, 20)
    time.sleep(0.3)
    sent = len(server.requests)
    time.sleep(0.3)
    assert len(server.requests) == sent  # nothing is sent after the interrupt


# -- the sync form inside a running loop (a notebook cell) --------------------------------------


def test_sync_map_inside_a_running_loop(server: FakeOpenAIServer) -> None:
    async def cell() -> list[str]:
        return [r.text for r in chat_for(server).map(["a", "b"], progress=False)]

    assert asyncio.run(cell()) == ["Echo: a", "Echo: b"]


# -- resume ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_rerun_with_the_cache_sends_nothing_again(
    mode: str, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.sqlite"
    prompts = [f"p{i}" for i in range(5)]
    first = run_map(mode, chat_for(server), prompts, cache=str(path))
    assert len(server.requests) == 5
    again = run_map(mode, chat_for(server), prompts, cache=path)
    assert len(server.requests) == 5
    assert [r.text for r in again] == [r.text for r in first]
    assert [r.usage for r in again] == [r.usage for r in first]
    assert again.stats.cached == 5
    # another option is another request: sent, not taken from the cache
    run_map(mode, chat_for(server), prompts[:1], cache=path, temperature=0.5)
    assert len(server.requests) == 6


def test_failed_items_are_not_cached(server: FakeOpenAIServer, tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    server.queue(Reply(status=400))
    first = chat_for(server).map(["a", "b"], concurrency=1, cache=path, progress=False)
    assert isinstance(first[0], APIError)
    again = chat_for(server).map(["a", "b"], concurrency=1, cache=path, progress=False)
    assert [r.text for r in again] == ["Echo: a", "Echo: b"]
    assert prompts_sent(server) == ["a", "b", "a"]


CHILD = textwrap.dedent(
    """
    import sys
    from lexilux_nb.client.chat import Chat
    chat = Chat(base_url=sys.argv[1], model="m", max_retries=0)
    chat.map([f"p{i}" for i in range(30)], concurrency=2, cache=sys.argv[2], progress=False)
    """
)


def test_resume_after_the_process_is_killed(server: FakeOpenAIServer, tmp_path: Path) -> None:
    """A kernel restart mid-batch: the finished items survive, the re-run sends only the rest."""
    server.default = slow(0.05)
    path = tmp_path / "run.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, server.base_url, str(path)], env=env)
    try:
        deadline = time.monotonic() + 30
        reader = None
        while time.monotonic() < deadline:  # a concurrent reader, while the child writes
            if path.exists():
                reader = reader or ResultCache(path)
                if len(reader) >= 10:
                    break
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert reader is not None
    reader.close()
    with ResultCache(path) as cache:
        kept = len(cache)
    assert 10 <= kept < 30
    before = len(server.requests)
    results = chat_for(server).map(
        [f"p{i}" for i in range(30)], concurrency=4, cache=path, progress=False
    )
    assert [r.text for r in results] == [f"Echo: p{i}" for i in range(30)]
    assert len(server.requests) - before == 30 - kept
    assert results.stats.cached == kept


# -- progress ----------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[int, int, int]] = []
        self.final: MapStats | None = None

    def update(self, stats: MapStats) -> None:
        self.seen.append((stats.done, stats.failed, stats.in_flight))

    def close(self, stats: MapStats) -> None:
        self.final = stats


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_progress_sees_in_flight_done_and_failed(
    mode: str, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mapping, "REPORT_EVERY", 0.0)  # every change, not ~10 a second
    server.default = slow(0.12)
    server.queue(Reply(status=400, latency=0.12))
    recorder = Recorder()
    run_map(mode, chat_for(server), [str(i) for i in range(6)], concurrency=3, progress=recorder)
    assert recorder.final is not None and recorder.final.finished
    assert (recorder.final.done, recorder.final.failed, recorder.final.in_flight) == (5, 1, 0)
    assert recorder.final.tokens > 0 and recorder.final.rate > 0
    assert max(in_flight for _, _, in_flight in recorder.seen) == 3


def test_text_bar_and_silence(server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    chat = chat_for(server)
    chat.map(["a", "b"], progress=False)
    assert capsys.readouterr().err == ""
    chat.map(["a", "b"])  # the default, without the notebook's widget: a line on stderr
    err = capsys.readouterr().err
    assert "[########################] 2/2 done" in err and "tokens" in err
    stats = MapStats(total=4, done=1, failed=1, in_flight=2)
    stream = io.StringIO()
    TextBar(stream).update(stats)
    assert stream.getvalue() == ""  # not a terminal: no redraws
    assert "1 failed" in TextBar(stream).line(stats) and "2 in flight" in TextBar(stream).line(
        stats
    )


# -- rows --------------------------------------------------------------------------------------


def test_results_frame_has_text_and_error_columns(server: FakeOpenAIServer) -> None:
    server.queue(Reply(status=400))
    df = pd.DataFrame({"text": ["a", "b"]}, index=[10, 11])
    results = chat_for(server).map(df, "{text}", concurrency=1, progress=False)
    frame = results_frame(results, index=df.index)
    assert list(frame.columns) == ["text", "error"]
    assert pd.isna(frame.loc[10, "text"]) and "InvalidRequestError" in frame.loc[10, "error"]
    assert frame.loc[11, "text"] == "Echo: b" and pd.isna(frame.loc[11, "error"])
    joined = df.assign(answer=frame["text"])
    assert pd.isna(joined.loc[10, "answer"]) and joined.loc[11, "answer"] == "Echo: b"
    rows = results_frame([{"label": "pos", "score": 1}, Unfinished()])
    assert list(rows.columns) == ["label", "score", "error"]
    assert pd.isna(rows.loc[1, "score"]) and "Unfinished" in rows.loc[1, "error"]


def test_map_items_is_the_sync_form(server: FakeOpenAIServer) -> None:
    assert [r.text for r in map_items(chat_for(server), ["x"], progress=False)] == ["Echo: x"]


def test_recorded_requests_have_arrival_times(server: FakeOpenAIServer) -> None:
    chat_for(server).map(["a"], progress=False)
    request: RecordedRequest = server.requests[0]
    assert 0 < request.received <= time.monotonic()


# -- schema rows -------------------------------------------------------------------------------


def test_schema_gives_validated_rows_and_columns(server: FakeOpenAIServer, tmp_path: Path) -> None:
    pydantic = pytest.importorskip("pydantic")
    from lexilux_nb.client.structured import ExtractError

    class Ticket(pydantic.BaseModel):
        label: str
        score: int

    def reply(req: RecordedRequest) -> Reply:
        sent = json.dumps(req.messages)  # the prompt, and structured output's instruction
        word = re.search(r"Classify: (\w+)", sent).group(1)  # type: ignore[union-attr]
        if word == "broken":
            return Reply(text="not json at all")
        return Reply(text=json.dumps({"label": word, "score": len(word)}))

    server.default = reply
    prompts = ["Classify: good", "Classify: broken", "Classify: bad"]
    path = tmp_path / "rows.sqlite"
    results = chat_for(server).map(prompts, schema=Ticket, cache=path, progress=False)
    assert results[0] == Ticket(label="good", score=4)
    assert isinstance(results[1], ExtractError)
    assert results[2] == Ticket(label="bad", score=3)
    assert results.stats.tokens > 0
    frame = results_frame(results)
    assert list(frame.columns) == ["label", "score", "error"]
    assert frame["label"].tolist()[::2] == ["good", "bad"]
    assert pd.isna(frame.loc[1, "label"]) and "ExtractError" in frame.loc[1, "error"]
    sent = len(server.requests)  # the broken one was asked twice (one retry)
    assert sent == 4
    again = chat_for(server).map(prompts, schema=Ticket, cache=path, progress=False)
    assert again[0] == Ticket(label="good", score=4) and again[2] == results[2]
    assert len(server.requests) == sent + 2  # only the failed item again (and its retry)
    plain = chat_for(server).map(prompts[:1], cache=path, progress=False)
    assert plain[0].text.startswith("{")  # without schema= it is another request
