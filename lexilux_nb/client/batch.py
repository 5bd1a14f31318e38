"""The provider Batch API for big jobs: a JSONL file in, results out, at the provider's pace.

``chat.batch(items)`` uploads one line per item (``POST /files``, purpose ``batch``) and creates
a batch (``POST /batches``); the returned :class:`BatchJob` polls it, downloads the output and
error files and puts every result back in its item's slot. Each operation is a generator flow
that yields ``Call`` and ``Sleep`` steps (see :mod:`.batch_http`), as :func:`~.retry.retry_flow`
does, run by a sync and an async driver: :class:`BatchJob` and :class:`AsyncBatchJob` send the
same requests and fail the same way. vLLM's offline ``run_batch`` reads the same JSONL
(:func:`write_file`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .batch_http import Call, Chat, Flow, Sleep, arun, run
from .errors import (
    APIError,
    LexiluxError,
    LexiluxTimeoutError,
    MalformedResponseError,
    ValidationError,
    error_from_response,
    redact,
)
from .mapping import render_items
from .models import ChatResult
from .responses import parse_completion

__all__ = [
    "AsyncBatchJob",
    "BatchJob",
    "BatchStatus",
    "asubmit",
    "batch_lines",
    "job",
    "submit",
    "write_file",
]

ENDPOINT = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_CUSTOM_ID = re.compile(r"item-(\d+)")
T = TypeVar("T")
Progress = bool | Callable[["BatchStatus"], None]


@dataclass(frozen=True)
class BatchStatus:
    """One look at a batch: its status and request counts (``raw`` is the server's object)."""

    id: str
    status: str
    total: int
    completed: int
    failed: int
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        """The batch will not change any more (completed, failed, expired or cancelled)."""
        return self.status in TERMINAL

    def __str__(self) -> str:
        return (
            f"batch {self.id}: {self.status}, {self.completed + self.failed}/{self.total} done"
            + (f", {self.failed} failed" if self.failed else "")
        )


def _status(data: Any) -> BatchStatus:
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        raise MalformedResponseError(f"expected a batch object with an 'id', got {data!r:.200}")
    counts = data.get("request_counts") or {}
    errors = (data.get("errors") or {}).get("data") or []
    return BatchStatus(
        id=data["id"],
        status=str(data.get("status", "")),
        total=int(counts.get("total") or 0),
        completed=int(counts.get("completed") or 0),
        failed=int(counts.get("failed") or 0),
        output_file_id=data.get("output_file_id"),
        error_file_id=data.get("error_file_id"),
        errors=tuple(
            f"line {e.get('line')}: {e.get('message')} ({e.get('code')})"
            if e.get("line")
            else f"{e.get('message')} ({e.get('code')})"
            for e in errors
            if isinstance(e, Mapping)
        ),
        raw=dict(data),
    )


# -- the pure part: lines, steps, flows -------------------------------------------------------


def batch_lines(chat: Chat, items: Iterable[Any], template: str | None, **options: Any) -> bytes:
    """The JSONL input: one line per item, each body exactly what the same call would send."""
    if "stream" in options:
        raise ValidationError("batch lines are never streamed: drop stream=")
    if isinstance(items, (str, bytes)):
        raise ValidationError("batch takes a list of prompts, not one string: wrap it in a list")
    prompts = render_items(items, template)
    if not prompts:
        raise ValidationError("batch needs at least one item, e.g. chat.batch(['a', 'b'])")
    out = []
    for i, prompt in enumerate(prompts):
        body = chat.prepare(prompt, **options).body
        line = {"custom_id": f"item-{i}", "method": "POST", "url": ENDPOINT, "body": body}
        out.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(out).encode("utf-8")


def _submit(jsonl: bytes, window: str, metadata: Mapping[str, str] | None) -> Flow[BatchStatus]:
    upload = Call(
        "POST",
        "/files",
        files={"file": ("batch.jsonl", jsonl, "application/jsonl")},
        data={"purpose": "batch"},
    )
    file = yield upload
    if not isinstance(file, Mapping) or not isinstance(file.get("id"), str):
        raise MalformedResponseError(f"expected a file object with an 'id', got {file!r:.200}")
    body: dict[str, Any] = {
        "input_file_id": file["id"],
        "endpoint": ENDPOINT,
        "completion_window": window,
    }
    if metadata:
        body["metadata"] = dict(metadata)
    return _status((yield Call("POST", "/batches", json=body)))


def _get(batch_id: str) -> Flow[BatchStatus]:
    return _status((yield Call("GET", f"/batches/{batch_id}")))


def _cancel(batch_id: str) -> Flow[BatchStatus]:
    return _status((yield Call("POST", f"/batches/{batch_id}/cancel")))


def _reporter(progress: Progress) -> Callable[[BatchStatus], None]:
    if callable(progress):
        return progress
    if not progress:
        return lambda status: None

    def show(status: BatchStatus) -> None:  # one line, rewritten in place
        sys.stderr.write(f"\r{status!s:<72}" + ("\n" if status.done else ""))
        sys.stderr.flush()

    return show


def _wait(
    batch_id: str, poll_s: float, timeout_s: float | None, report: Callable[[BatchStatus], None]
) -> Flow[BatchStatus]:
    waited = 0.0
    while True:
        status = yield from _get(batch_id)
        report(status)
        if status.done:
            return status
        if timeout_s is not None and waited + poll_s > timeout_s:
            raise LexiluxTimeoutError(
                f"{status} after {waited:g}s of waiting; wait again later, or after a restart "
                f"re-attach with chat.batch_job({batch_id!r})"
            )
        yield Sleep(poll_s)
        waited += poll_s


def _line_result(line: Mapping[str, Any], secrets: tuple[str, ...]) -> ChatResult | LexiluxError:
    response = line.get("response")
    if isinstance(response, Mapping) and response.get("status_code") is not None:
        status, body = int(response["status_code"]), response.get("body")
        if status < 300:
            try:
                return parse_completion(body, keep_raw=False, secrets=secrets)
            except LexiluxError as exc:
                return exc
        return error_from_response(status, {}, json.dumps(body), secrets)
    error = line.get("error") or {}
    message = error.get("message") if isinstance(error, Mapping) else str(error)
    code = error.get("code") if isinstance(error, Mapping) else None
    return APIError(redact(f"batch line failed: {message}", secrets), code=code)


def _results(
    status: BatchStatus, secrets: tuple[str, ...]
) -> Flow[list[ChatResult | LexiluxError]]:
    """Every item's result in item order; a line that failed or never ran holds its error."""
    if status.status == "failed":
        detail = "; ".join(status.errors) or "no reason given"
        raise APIError(f"batch {status.id} failed: {detail}")
    found: dict[int, ChatResult | LexiluxError] = {}
    for file_id in (status.output_file_id, status.error_file_id):
        if not file_id:
            continue
        content = yield Call("GET", f"/files/{file_id}/content", raw=True)
        for text in content.decode("utf-8", "replace").splitlines():
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                match = _CUSTOM_ID.fullmatch(str(line.get("custom_id")))
            except (ValueError, AttributeError):
                raise MalformedResponseError(
                    f"a result line that is not JSON: {text:.200}"
                ) from None
            if match is None:
                raise MalformedResponseError(
                    f"a result line with custom_id {line.get('custom_id')!r}, not one chat.batch"
                    " writes ('item-N')"
                )
            found[int(match.group(1))] = _line_result(line, secrets)
    size = max([status.total, *(i + 1 for i in found)])
    missing = f"no result: batch {status.id} ended {status.status!r} before this item ran"
    return [found.get(i, APIError(missing)) for i in range(size)]


def _wait_results(
    batch_id: str,
    poll_s: float,
    timeout_s: float | None,
    secrets: tuple[str, ...],
    report: Callable[[BatchStatus], Any],
) -> Flow[list[ChatResult | LexiluxError]]:
    status = yield from _wait(batch_id, poll_s, timeout_s, report)
    return (yield from _results(status, secrets))


# -- handles ----------------------------------------------------------------------------------


def _check_poll(poll_s: float, timeout_s: float | None) -> None:
    if isinstance(poll_s, bool) or not isinstance(poll_s, (int, float)) or not poll_s > 0:
        raise ValidationError(f"poll_s must be a positive number of seconds, got {poll_s!r}")
    if timeout_s is not None and (isinstance(timeout_s, bool) or not timeout_s >= 0):
        raise ValidationError(f"timeout_s must be None or >= 0 seconds, got {timeout_s!r}")


class _Job:
    def __init__(self, chat: Chat, batch_id: str) -> None:
        if not isinstance(batch_id, str) or not batch_id.strip() or "/" in batch_id:
            raise ValidationError(
                f"a batch id is a string like 'batch_abc123' (job.id), got {batch_id!r}"
            )
        self.chat = chat
        self.id = batch_id
        self.last: BatchStatus | None = None  # the latest status seen

    @classmethod
    def attach(cls: type[J], chat: Chat, batch_id: str) -> J:
        """The handle of an existing batch, e.g. after a kernel restart (nothing is sent)."""
        return cls(chat, batch_id)

    def _seen(self, status: BatchStatus) -> BatchStatus:
        self.last = status
        return status

    def __repr__(self) -> str:
        shown = f", status={self.last.status!r}" if self.last else ""
        return f"{type(self).__name__}(id={self.id!r}{shown})"


J = TypeVar("J", bound=_Job)


class BatchJob(_Job):
    """A submitted batch: ``status()``, ``wait()``, ``results()``, ``cancel()``."""

    def status(self) -> BatchStatus:
        return self._seen(run(self.chat, _get(self.id)))

    def wait(
        self, progress: Progress = True, poll_s: float = 5.0, timeout_s: float | None = None
    ) -> BatchStatus:
        """Poll until the batch is done; ``progress`` True (a line on stderr), False or a
        callable given each :class:`BatchStatus`."""
        _check_poll(poll_s, timeout_s)
        report = _reporter(progress)
        flow = _wait(self.id, poll_s, timeout_s, lambda s: report(self._seen(s)))
        return run(self.chat, flow)

    def results(
        self, poll_s: float = 5.0, timeout_s: float | None = None
    ) -> list[ChatResult | LexiluxError]:
        """Wait (silently) if needed, then one result per item in item order; a failed line
        holds its error."""
        _check_poll(poll_s, timeout_s)
        return run(
            self.chat, _wait_results(self.id, poll_s, timeout_s, self.chat.secrets, self._seen)
        )

    def cancel(self) -> BatchStatus:
        """Ask the provider to stop; lines already answered stay in :meth:`results`."""
        return self._seen(run(self.chat, _cancel(self.id)))


class AsyncBatchJob(_Job):
    """:class:`BatchJob` with every method a coroutine."""

    async def status(self) -> BatchStatus:
        return self._seen(await arun(self.chat, _get(self.id)))

    async def wait(
        self, progress: Progress = True, poll_s: float = 5.0, timeout_s: float | None = None
    ) -> BatchStatus:
        _check_poll(poll_s, timeout_s)
        report = _reporter(progress)
        flow = _wait(self.id, poll_s, timeout_s, lambda s: report(self._seen(s)))
        return await arun(self.chat, flow)

    async def results(
        self, poll_s: float = 5.0, timeout_s: float | None = None
    ) -> list[ChatResult | LexiluxError]:
        _check_poll(poll_s, timeout_s)
        return await arun(
            self.chat, _wait_results(self.id, poll_s, timeout_s, self.chat.secrets, self._seen)
        )

    async def cancel(self) -> BatchStatus:
        return self._seen(await arun(self.chat, _cancel(self.id)))


# -- entry points used by Chat ----------------------------------------------------------------


def _submit_flow(
    chat: Chat,
    items: Iterable[Any],
    template: str | None,
    completion_window: str = "24h",
    metadata: Mapping[str, str] | None = None,
    **options: Any,
) -> Flow[BatchStatus]:
    if not isinstance(completion_window, str) or not completion_window:
        raise ValidationError(
            f"completion_window is a string like '24h', got {completion_window!r}"
        )
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ValidationError(f"metadata must be a dict of strings, got {type(metadata).__name__}")
    jsonl = batch_lines(chat, items, template, **options)  # validated before anything is sent
    return _submit(jsonl, completion_window, metadata)


def submit(chat: Chat, items: Iterable[Any], template: str | None = None, **kw: Any) -> BatchJob:
    """Upload the lines and create the batch; ``completion_window`` (``"24h"``), ``metadata``."""
    status = run(chat, _submit_flow(chat, items, template, **kw))
    job = BatchJob(chat, status.id)
    job.last = status
    return job


async def asubmit(
    chat: Chat, items: Iterable[Any], template: str | None = None, **kw: Any
) -> AsyncBatchJob:
    """Async :func:`submit`."""
    status = await arun(chat, _submit_flow(chat, items, template, **kw))
    job = AsyncBatchJob(chat, status.id)
    job.last = status
    return job


def write_file(
    chat: Chat,
    items: Iterable[Any],
    path: str | Path,
    template: str | None = None,
    **options: Any,
) -> Path:
    """Write the JSONL to ``path`` (for ``python -m vllm.entrypoints.openai.run_batch``)."""
    target = Path(path)
    target.write_bytes(batch_lines(chat, items, template, **options))
    return target


def job(chat: Chat, batch_id: str) -> BatchJob:
    """Re-attach to a batch by id, e.g. after a kernel restart (``AsyncBatchJob.attach`` too)."""
    return BatchJob.attach(chat, batch_id)
