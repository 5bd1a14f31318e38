"""The provider Batch API against the real fake server: upload, create, poll, results, cancel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lexilux_nb.client.batch import AsyncBatchJob, BatchJob, BatchStatus
from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    LexiluxTimeoutError,
    MalformedResponseError,
    ServerError,
    ValidationError,
)
from lexilux_nb.client.models import ChatResult
from lexilux_nb.testing import FakeOpenAIServer, Reply

MODES = ["sync", "async"]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(model="m") as fake:
        yield fake


def chat_for(server: FakeOpenAIServer, **kw: Any) -> Chat:
    return Chat(base_url=server.base_url, model="m", max_retries=0, **kw)


def run(mode: str, value: Any) -> Any:
    """The value of a sync call, or the awaited coroutine of the async one."""
    return asyncio.run(value) if mode == "async" else value


def submit(mode: str, chat: Chat, items: Any, *args: Any, **kw: Any) -> BatchJob | AsyncBatchJob:
    if mode == "sync":
        return chat.batch(items, *args, **kw)
    return asyncio.run(chat.abatch(items, *args, **kw))


def attach(mode: str, chat: Chat, batch_id: str) -> BatchJob | AsyncBatchJob:
    return chat.batch_job(batch_id) if mode == "sync" else AsyncBatchJob.attach(chat, batch_id)


@pytest.mark.parametrize("mode", MODES)
def test_round_trip_keeps_order_and_failed_lines(mode: str, server: FakeOpenAIServer) -> None:
    server.batches.delay = 0.2
    server.batches.fail = {"item-1"}
    # lines take scripted replies in order; item-1 is forced to fail and takes none
    server.queue(Reply(text="first"), Reply(status=400))
    chat = chat_for(server)
    prompts = ["a", "b", "c", "d"]
    job = submit(mode, chat, prompts, temperature=0.3, max_tokens=50)
    assert job.id.startswith("batch_")
    results = run(mode, job.results(poll_s=0.05))
    assert len(results) == 4
    assert isinstance(results[0], ChatResult) and results[0].text == "first"
    assert isinstance(results[1], ServerError) and "item-1" in str(results[1])
    assert isinstance(results[2], InvalidRequestError) and results[2].status_code == 400
    assert isinstance(results[3], ChatResult) and results[3].text == "Echo: d"
    # every line's body is exactly the request the same plain call would send
    sent = [line.json for line in server.batches.lines]
    assert sent == [chat.prepare(p, temperature=0.3, max_tokens=50).body for p in prompts]


@pytest.mark.parametrize("mode", MODES)
def test_many_items_come_back_in_item_order(mode: str, server: FakeOpenAIServer) -> None:
    server.batches.fail = {f"item-{i}" for i in range(0, 40, 7)}
    chat = chat_for(server)
    prompts = [f"p{i}" for i in range(40)]
    results = run(mode, submit(mode, chat, prompts).results(poll_s=0.01))
    for i, result in enumerate(results):
        if i % 7 == 0:
            assert isinstance(result, ServerError), i
        else:
            assert isinstance(result, ChatResult) and result.text == f"Echo: p{i}", i


@pytest.mark.parametrize("mode", MODES)
def test_reattach_by_id_from_a_new_chat(mode: str, server: FakeOpenAIServer) -> None:
    server.batches.delay = 0.2
    first = chat_for(server)
    batch_id = submit(mode, first, ["x", "y"]).id
    first.close()  # "the kernel restarted": nothing but the id survives
    again = chat_for(server)
    job = attach(mode, again, batch_id)
    assert job.id == batch_id and repr(job) == f"{type(job).__name__}(id={batch_id!r})"
    results = run(mode, job.results(poll_s=0.05))
    assert [r.text for r in results] == ["Echo: x", "Echo: y"]
    assert job.last is not None and job.last.status == "completed"  # results() waited


@pytest.mark.parametrize("mode", MODES)
def test_status_moves_from_validating_through_in_progress_to_completed(
    mode: str, server: FakeOpenAIServer
) -> None:
    server.batches.delay = 1.0
    chat = chat_for(server)
    job = submit(mode, chat, [f"q{i}" for i in range(8)])
    assert job.last is not None and job.last.status == "validating"
    first = run(mode, job.status())
    assert first.status == "in_progress" and not first.done and first.total == 8
    seen: list[BatchStatus] = []
    final = run(mode, job.wait(progress=seen.append, poll_s=0.05))
    assert final.status == "completed" and final.done and final.completed == 8
    assert final.output_file_id and final.error_file_id is None
    assert seen[-1] == final and job.last == final
    assert all(s.status == "in_progress" for s in seen[:-1]) and len(seen) >= 2
    done = [s.completed + s.failed for s in seen]
    assert done == sorted(done) and done[0] < 8  # counts only advance


def test_text_progress_goes_to_stderr(
    server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.batches.delay = 0.1
    job = chat_for(server).batch(["a", "b"])
    job.wait(poll_s=0.03)
    err = capsys.readouterr().err
    assert "in_progress" in err and err.rstrip().endswith("completed, 2/2 done")
    job.wait(progress=False, poll_s=0.03)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("mode", MODES)
def test_cancel_keeps_answered_lines_and_marks_the_rest(
    mode: str, server: FakeOpenAIServer
) -> None:
    server.batches.delay = 1.0
    chat = chat_for(server)
    job = submit(mode, chat, [f"c{i}" for i in range(10)], metadata={"run": "nightly"})
    assert job.last is not None and job.last.raw["metadata"] == {"run": "nightly"}
    while run(mode, job.status()).completed < 3:  # let a few lines finish
        asyncio.run(asyncio.sleep(0.05))
    cancelling = run(mode, job.cancel())
    assert cancelling.status == "cancelling"
    after = run(mode, job.status())
    assert after.status == "cancelled" and after.done
    results = run(mode, job.results(poll_s=0.05))
    answered = [r for r in results if isinstance(r, ChatResult)]
    assert 3 <= len(answered) < 10 and len(results) == 10
    assert [r.text for r in answered] == [f"Echo: c{i}" for i in range(len(answered))]
    for missing in results[len(answered) :]:
        assert isinstance(missing, APIError) and "ended 'cancelled'" in str(missing)
    # cancelling a finished batch changes nothing
    assert run(mode, job.cancel()).status == "cancelled"


@pytest.mark.parametrize("mode", MODES)
def test_wait_gives_up_at_timeout_and_names_the_way_back(
    mode: str, server: FakeOpenAIServer
) -> None:
    server.batches.delay = 30.0
    job = submit(mode, chat_for(server), ["slow"])
    with pytest.raises(LexiluxTimeoutError, match=r"chat\.batch_job\('batch_"):
        run(mode, job.wait(progress=False, poll_s=0.05, timeout_s=0.12))
    assert run(mode, job.cancel()).status == "cancelling"


@pytest.mark.parametrize("mode", MODES)
def test_a_batch_failed_by_the_server_raises_with_the_bad_line(
    mode: str, server: FakeOpenAIServer
) -> None:
    good = {"custom_id": "item-0", "method": "POST", "url": "/v1/chat/completions", "body": {}}
    jsonl = json.dumps(good) + "\n{not json\n"
    with httpx.Client(base_url=server.base_url) as http:
        file = http.post("/files", files={"file": ("in.jsonl", jsonl)}, data={"purpose": "batch"})
        created = http.post(
            "/batches",
            json={
                "input_file_id": file.json()["id"],
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
        ).json()
    job = attach(mode, chat_for(server), created["id"])
    status = run(mode, job.status())
    assert status.status == "failed" and status.errors == (
        "line 2: This line is not valid JSON. (invalid_json_line)",
    )
    with pytest.raises(APIError, match="line 2"):
        run(mode, job.results(poll_s=0.05))


@pytest.mark.parametrize("mode", MODES)
def test_bad_input_is_refused_before_anything_is_sent(mode: str, server: FakeOpenAIServer) -> None:
    chat = chat_for(server)
    cases: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
        ([], {}, ValidationError, "at least one item"),
        ("one prompt", {}, ValidationError, "wrap it in a list"),
        (["a"], {"stream": True}, ValidationError, "stream="),
        (["a"], {"temperature": 9}, ValidationError, "temperature"),
        (["a"], {"completion_window": 24}, ValidationError, "'24h'"),
        (["a"], {"metadata": ["x"]}, ValidationError, "metadata"),
        ([{"text": "a"}], {"template": "{missing}"}, ValidationError, "names {missing}"),
    ]
    for items, kw, error, message in cases:
        with pytest.raises(error, match=message):
            submit(mode, chat, items, **kw)
    with pytest.raises(ValidationError, match="no model"):
        submit(mode, Chat(base_url=server.base_url), ["a"])
    with pytest.raises(ValidationError, match="batch id"):
        attach(mode, chat, "")
    job = attach(mode, chat, "batch_x")
    with pytest.raises(ValidationError, match="poll_s"):
        run(mode, job.wait(poll_s=0))
    assert server.requests == []
    with pytest.raises(APIError, match="No batch found"):
        run(mode, job.status())


@pytest.mark.parametrize("mode", MODES)
def test_a_wrong_key_fails_without_showing_it(mode: str) -> None:
    with FakeOpenAIServer(model="m", api_key="sk-right-0000000000") as fake:
        chat = chat_for(fake, api_key="sk-wrong-1234567890")
        with pytest.raises(AuthenticationError) as info:
            submit(mode, chat, ["a"])
        assert "sk-wrong-1234567890" not in str(info.value) + repr(info.value)
        job = submit(mode, chat_for(fake, api_key="sk-right-0000000000"), ["a"])
        assert "sk-right" not in repr(job)
        assert fake.requests[-1].headers["authorization"] == "Bearer sk-right-0000000000"


def test_dataframe_and_series_items_with_a_template(server: FakeOpenAIServer) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"text": ["red", "blue"], "n": [1, 2]})
    chat = chat_for(server)
    results = chat.batch(frame, "Say {text} {n}").results(poll_s=0.02)
    assert [r.text for r in results] == ["Echo: Say red 1", "Echo: Say blue 2"]
    results = chat.batch(frame["text"], "Color: {}").results(poll_s=0.02)
    assert [r.text for r in results] == ["Echo: Color: red", "Echo: Color: blue"]
    with pytest.raises(ValueError, match="template"):
        chat.batch(frame)


def test_message_lists_and_a_system_prompt(server: FakeOpenAIServer) -> None:
    chat = chat_for(server)
    items = [[{"role": "user", "content": "hi"}], "plain"]
    results = chat.batch(items, system="be brief").results(poll_s=0.02)
    assert [r.text for r in results] == ["Echo: hi", "Echo: plain"]
    assert server.batches.lines[0].messages[0] == {"role": "system", "content": "be brief"}


def test_batch_file_is_the_jsonl_that_is_uploaded(server: FakeOpenAIServer, tmp_path: Any) -> None:
    chat = chat_for(server)
    path = chat.batch_file(["a", "b"], tmp_path / "in.jsonl", seed=7)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [
        {
            "custom_id": f"item-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": p}], "seed": 7},
        }
        for i, p in enumerate("ab")
    ]
    job = chat.batch(["a", "b"], seed=7)
    with httpx.Client(base_url=server.base_url) as http:
        batch = http.get(f"/batches/{job.id}").json()
        uploaded = http.get(f"/files/{batch['input_file_id']}/content").content
    assert uploaded == path.read_bytes()
    upload = next(r for r in server.requests if r.path.endswith("/files"))
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert b'name="purpose"' in upload.body and b"batch" in upload.body


@pytest.mark.parametrize("mode", MODES)
def test_batch_calls_retry_like_chat_calls_and_reject_non_json(mode: str, clock: Any) -> None:
    answers = [
        httpx.Response(503, json={"error": {"message": "busy"}}, headers={"Retry-After": "2"}),
        httpx.Response(200, json={"id": "batch_1", "status": "in_progress"}),
        httpx.Response(200, text="<html>a proxy page</html>"),
    ]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url}")
        return answers.pop(0)

    transport = httpx.MockTransport(handler)
    chat = Chat(
        base_url="https://llm.test/v1/chat/completions",  # the batch API sits beside it
        model="m",
        max_retries=1,
        clock=clock,
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
    )
    job = attach(mode, chat, "batch_1")
    assert run(mode, job.status()).status == "in_progress"
    assert clock.sleeps == [2.0]  # the server's Retry-After
    assert seen == ["GET https://llm.test/v1/batches/batch_1"] * 2
    with pytest.raises(MalformedResponseError, match="expected JSON from /batches/batch_1"):
        run(mode, job.status())
