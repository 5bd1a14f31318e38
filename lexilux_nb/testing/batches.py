"""The fake server's Batch API: ``/v1/files`` and ``/v1/batches``, the OpenAI wire shapes.

Each line of a batch is answered through the same scripting as a chat request (the server's
``queue()`` and ``default``), at creation time and in line order; the answers are revealed when the
batch completes. ``server.batches.delay`` is how long a batch stays ``in_progress`` (its counts
advance with time); ``server.batches.fail`` names custom_ids answered with an HTTP 500 whatever
the script says (a scripted ``Reply(status=...)`` fails a line too). A batch whose input has a bad
line ends ``failed`` with the line named in ``errors``, as the real service does.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .replies import RecordedRequest, _dumps
from .wire import _completion_object, _error_body, _plan

if TYPE_CHECKING:
    from .server import FakeOpenAIServer

Answer = tuple[int, bytes, str]
ENDPOINTS = ("/v1/chat/completions",)
WINDOWS = ("24h",)


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def obj(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
        }


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    window: str
    metadata: dict[str, Any] | None
    answers: list[dict[str, Any]]  # one output line per input line, in order
    errors: list[dict[str, Any]]  # validation errors: the batch fails
    started: float = field(default_factory=time.monotonic)
    created_at: int = field(default_factory=lambda: int(time.time()))
    cancelled: float | None = None  # monotonic time of the cancel request
    done_count: int | None = None  # lines finished when the batch ended
    output_file_id: str | None = None
    error_file_id: str | None = None


def _ok(obj: Any, status: int = 200) -> Answer:
    return (status, _dumps(obj).encode("utf-8"), "application/json")


def _fail(status: int, message: str, code: str | None = None) -> Answer:
    return _ok(_error_body(status, message, code=code), status)


def _failed(line: dict[str, Any]) -> bool:
    response = line.get("response") or {}
    return bool(line.get("error")) or int(response.get("status_code", 500)) >= 300


class FakeBatches:
    """Files and batches held by one :class:`~.server.FakeOpenAIServer` (``server.batches``)."""

    def __init__(self, fake: FakeOpenAIServer) -> None:
        self._fake = fake
        self.delay = 0.0
        self.fail: set[str] = set()
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        self._batches: dict[str, _Batch] = {}
        self.lines: list[RecordedRequest] = []  # every line answered, as a chat request

    def clear(self) -> None:
        with self._lock:
            self._files.clear()
            self._batches.clear()
            self.lines.clear()

    # ---- routing ---------------------------------------------------------------------------

    def answer(self, request: RecordedRequest, path: str) -> Answer | None:
        """The response for a files/batches path, or ``None`` when the path is not one."""
        parts = path.removeprefix("/v1").strip("/").split("/")
        if parts[0] not in ("files", "batches"):
            return None
        method = request.method
        with self._lock:
            if parts == ["files"] and method == "POST":
                return self._upload(request)
            if parts[0] == "files" and len(parts) in (2, 3) and method == "GET":
                file = self._files.get(parts[1])
                if file is None:
                    return _fail(404, f"No such File object: {parts[1]}")
                if len(parts) == 2:
                    return _ok(file.obj())
                if parts[2] == "content":
                    return (200, file.data, "application/octet-stream")
            if parts == ["batches"] and method == "POST":
                return self._create(request)
            if parts == ["batches"] and method == "GET":
                data = [self._view(b) for b in self._batches.values()]
                return _ok({"object": "list", "data": data, "has_more": False})
            if parts[0] == "batches" and len(parts) in (2, 3):
                batch = self._batches.get(parts[1])
                if batch is None:
                    return _fail(404, f"No batch found with id '{parts[1]}'.")
                if len(parts) == 2 and method == "GET":
                    return _ok(self._view(batch))
                if parts[2:] == ["cancel"] and method == "POST":
                    return _ok(self._cancel(batch))
        return _fail(404, f"Unknown request URL: {method} {request.path}")

    # ---- files -----------------------------------------------------------------------------

    def _upload(self, request: RecordedRequest) -> Answer:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return _fail(400, "Expected a multipart/form-data upload with 'file' and 'purpose'.")
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts() if message.is_multipart() else ():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = (part.get_filename(), payload)
        if "file" not in fields or "purpose" not in fields:
            return _fail(400, "Missing required parameter: 'file' and 'purpose' are required.")
        purpose = fields["purpose"][1].decode("utf-8")
        file = _File("file-" + uuid.uuid4().hex[:24], fields["file"][0] or "upload", purpose, b"")
        file.data = fields["file"][1]
        self._files[file.id] = file
        return _ok(file.obj())

    def _store(self, name: str, lines: list[dict[str, Any]]) -> str:
        data = "".join(_dumps(line) + "\n" for line in lines).encode("utf-8")
        file = _File("file-" + uuid.uuid4().hex[:24], name, "batch_output", data)
        self._files[file.id] = file
        return file.id

    # ---- batches ---------------------------------------------------------------------------

    def _create(self, request: RecordedRequest) -> Answer:
        body = request.json if isinstance(request.json, dict) else {}
        file = self._files.get(str(body.get("input_file_id")))
        if file is None:
            return _fail(400, f"Invalid 'input_file_id': {body.get('input_file_id')!r}.")
        endpoint, window = body.get("endpoint"), body.get("completion_window")
        if endpoint not in ENDPOINTS:
            return _fail(400, f"Invalid 'endpoint': {endpoint!r}; expected one of {ENDPOINTS}.")
        if window not in WINDOWS:
            return _fail(400, f"Invalid 'completion_window': {window!r}; expected '24h'.")
        lines, errors = self._parse(file.data, endpoint)
        answers = [] if errors else [self._respond(line, request) for line in lines]
        batch = _Batch(
            id="batch_" + uuid.uuid4().hex[:24],
            input_file_id=file.id,
            endpoint=endpoint,
            window=window,
            metadata=body.get("metadata"),
            answers=answers,
            errors=errors,
        )
        self._batches[batch.id] = batch
        return _ok({**self._view(batch), "status": "validating"})

    @staticmethod
    def _parse(data: bytes, endpoint: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        lines: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            problem = None
            if not isinstance(line, dict):
                problem = ("invalid_json_line", "This line is not valid JSON.")
            elif not isinstance(line.get("custom_id"), str) or line["custom_id"] in seen:
                problem = ("invalid_custom_id", "custom_id is missing or not unique.")
            elif line.get("method") != "POST" or line.get("url") != endpoint:
                problem = ("invalid_url", f"method must be POST and url must be {endpoint}.")
            elif not isinstance(line.get("body"), dict):
                problem = ("invalid_body", "body must be a JSON object.")
            if problem:
                errors.append({"code": problem[0], "message": problem[1], "line": number})
                continue
            assert isinstance(line, dict)
            seen.add(line["custom_id"])
            lines.append(line)
        if not lines and not errors:
            errors.append({"code": "empty_file", "message": "The input file has no lines."})
        return lines, errors

    def _respond(self, line: dict[str, Any], create: RecordedRequest) -> dict[str, Any]:
        """One output line: the chat answer the scripting gives for this line's body."""
        body = line["body"]
        request = RecordedRequest(
            method="POST",
            path=line["url"],
            headers=dict(create.headers),
            json=body,
            body=_dumps(body).encode("utf-8"),
        )
        self.lines.append(request)
        status, response = 500, _error_body(500, "The scripted reply failed.")
        if line["custom_id"] in self.fail:
            response = _error_body(500, f"Scripted failure of line {line['custom_id']}.")
        elif not isinstance(body.get("messages"), list):
            status = 400
            response = _error_body(400, "'messages' must be a list.", code="invalid_value")
        else:
            try:
                reply = self._fake._next_reply(request)
            except Exception as exc:
                response = _error_body(500, f"reply callable failed: {type(exc).__name__}: {exc}")
            else:
                status = reply.status
                if status >= 300:
                    given = reply.error_body
                    response = given if isinstance(given, dict) else _error_body(status)
                else:
                    response = _completion_object(_plan(reply, request, self._fake.model), reply)
        return {
            "id": "batch_req_" + uuid.uuid4().hex[:24],
            "custom_id": line["custom_id"],
            "response": {
                "status_code": status,
                "request_id": uuid.uuid4().hex,
                "body": response,
            },
            "error": None,
        }

    def _progress(self, batch: _Batch) -> tuple[str, int]:
        """The status and how many lines are finished, from the time since creation."""
        total = len(batch.answers)
        if batch.errors:
            return "failed", 0
        if batch.done_count is not None:
            return ("cancelled" if batch.cancelled is not None else "completed"), batch.done_count
        elapsed = time.monotonic() - batch.started
        if batch.cancelled is not None or elapsed >= self.delay:
            if batch.cancelled is not None:
                spent = (batch.cancelled - batch.started) / self.delay if self.delay else 1.0
                done = min(total, int(total * spent))
            else:
                done = total
            batch.done_count = done
            finished = batch.answers[:done]
            good = [a for a in finished if not _failed(a)]
            bad = [a for a in finished if _failed(a)]
            batch.output_file_id = self._store("batch_output.jsonl", good) if good else None
            batch.error_file_id = self._store("batch_errors.jsonl", bad) if bad else None
            return self._progress(batch)
        return "in_progress", int(total * elapsed / self.delay)

    def _view(self, batch: _Batch) -> dict[str, Any]:
        status, done = self._progress(batch)
        finished = batch.answers[:done]
        failed = sum(1 for a in finished if _failed(a))
        errors = {"object": "list", "data": batch.errors} if batch.errors else None
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": errors,
            "input_file_id": batch.input_file_id,
            "completion_window": batch.window,
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": batch.created_at,
            "request_counts": {
                "total": len(batch.answers),
                "completed": done - failed,
                "failed": failed,
            },
            "metadata": batch.metadata,
        }

    def _cancel(self, batch: _Batch) -> dict[str, Any]:
        status, _ = self._progress(batch)
        if status != "in_progress":
            return self._view(batch)  # already finished: cancelling changes nothing
        batch.cancelled = time.monotonic()
        view = self._view(batch)  # ends it now; the real service says "cancelling" first
        return {**view, "status": "cancelling"}
