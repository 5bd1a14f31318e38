"""Fold streamed ``chat.completion.chunk`` events into chunks for the caller and one result.

Pure: the drivers feed it SSE events (name and data text) and ask for the final chunk at the
end of the byte stream. It guarantees what the lexilux client got wrong: usage-only chunks
are read, error events raise, a stream cut short is reported, each complete tool call appears
in exactly one chunk (the final one), and with ``n > 1`` every choice is accumulated apart (by
its ``index``), so the streamed result equals the non-streamed one for every ``n``.

Every event is validated by the same rules as a whole completion (``protocol.py``): a field of
the wrong type is a :class:`MalformedResponseError` quoting the event, never a ``TypeError``.

Memory stays proportional to the answer, not to the number of events: nothing is kept per
event (unless ``return_raw`` asks for the chunks), text pieces are joined into blocks every
few hundred events, and an answer past ``max_answer_chars`` (all text, reasoning, refusals and
tool arguments of all choices, plus the raw chunks when ``return_raw`` keeps them; by default
``lexilux_nb.defaults.MAX_ANSWER_CHARS``, 64 Mi characters) stops with
:class:`ResponseTooLargeError`. What arrived before stays in :meth:`StreamAccumulator.result`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import defaults
from .errors import (
    APIError,
    ChatStreamInterruptedError,
    LexiluxError,
    ResponseTooLargeError,
    error_from_event,
    redact,
)
from .models import ChatResult, ChatStreamChunk, Usage
from .responses import (
    MAX_CHOICES,
    SNIPPET_CHARS,
    ChoiceState,
    PartialCall,
    ShapeError,
    Text,
    assemble,
    choice_index,
    identity,
    malformed,
    merge_filter,
    merge_logprobs,
    normalize_finish_reason,
    opt,
    parse_completion,
    parse_usage,
    prompt_filter_of,
    reasoning_of,
    response_text,
)

BLOCK = 256  # pieces joined into one string at a time (keeps memory ~ the answer's size)
BIG_PIECE = 65536  # a longer piece is counted at once; shorter ones when their block is joined
ITEM_COST = 100  # what a kept logprob entry, annotation or tool call counts toward the cap
MAX_FILTER_CATEGORIES = 64
IDENTITY_PATIENCE = 8  # chunks read in full while a server has not said its id and model

_loads = json.loads
# json.loads minus its wrappers: about 0.6 µs a chunk (measured; see benchmarks/)
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_DONE = object()
_EMPTY = object()
_FOREIGN = (TypeError, KeyError, AttributeError, IndexError, ValueError, RecursionError)


class StreamAccumulator:
    """Turns one stream's events into :class:`ChatStreamChunk` objects and a :class:`ChatResult`."""

    def __init__(
        self,
        *,
        secrets: Iterable[str | None] = (),
        keep_raw: bool = False,
        max_answer_chars: int | None = None,
    ) -> None:
        self._secrets = tuple(secrets)
        self._keep_raw = keep_raw
        self._max = defaults.MAX_ANSWER_CHARS if max_answer_chars is None else max_answer_chars
        self._size = 0
        self._choices: dict[int, ChoiceState] = {}
        self._text0: list[str] = []  # choice 0's text pieces, for the hot path
        # Plain deltas of choice 0 skip the general path once it exists, no raw chunks are kept,
        # and the id and model are known (or have not come in IDENTITY_PATIENCE chunks).
        self._hot = False
        self._patience = IDENTITY_PATIENCE
        self._raw: list[Any] = []
        self._prompt_filter: list[Any] = []
        self.usage = Usage()
        self._no_usage = Usage()  # the (empty) usage of every chunk but the last, shared
        self.model: str | None = None
        self.id: str | None = None
        self.finished = False  # the done chunk was produced
        self.interrupted = False  # the bytes ran out before the answer was finished

    # -- feeding -----------------------------------------------------------------------------

    def feed(self, event: str, data: str) -> ChatStreamChunk | None:
        """One SSE event. Returns a chunk worth showing, or ``None``."""
        if event == "error":
            raise self._error(data)
        try:
            obj, end = _scan(data, 0)
        except (StopIteration, ValueError, RecursionError):
            obj, end = None, -1
        if end != len(data):
            obj = self._parse_slow(data)
            if obj is _DONE:
                return self.finish()
            if obj is _EMPTY:
                return None
        if type(obj) is not dict:
            raise malformed("a stream event that is not a JSON object", data, self._secrets)
        choices = obj.get("choices")
        if choices and self._hot:
            try:  # the hot path: a plain content delta of choice 0, nothing else to look at
                if len(choices) == 1:
                    choice = choices[0]
                    delta = choice.get("delta")
                    if (
                        delta
                        and len(delta) == 1
                        and not choice.get("finish_reason")
                        and not choice.get("index")
                        and not choice.get("logprobs")
                        and not choice.get("content_filter_results")
                        and not obj.get("usage")
                    ):
                        content = delta.get("content")
                        if type(content) is str and content and len(content) < BIG_PIECE:
                            pieces = self._text0
                            pieces.append(content)
                            if len(pieces) >= BLOCK:  # sizes are counted per block here
                                self._seal(self._choices[0].text)
                            return ChatStreamChunk(content, False, None, self._no_usage, [])
            except (AttributeError, TypeError, KeyError):
                pass  # the general path says what is wrong
        return self._feed_object(obj, data)

    def _parse_slow(self, data: str) -> Any:
        """Data the fast scanner refused: JSON with blanks around it, ``[DONE]``, or garbage."""
        try:
            return _loads(data)
        except (ValueError, RecursionError):
            pass
        bare = data.strip()
        if bare == "[DONE]":  # providers' samples show "[DONE] " and the like
            return _DONE
        if not bare:  # an event without data (a keep-alive)
            return _EMPTY
        raise malformed("a stream event that is not JSON", data, self._secrets)

    def _feed_object(self, obj: dict[str, Any], data: str) -> ChatStreamChunk | None:
        if self._keep_raw:  # every kept chunk counts, or empty events would grow without end
            self._charge(len(data))
        try:
            return self._read(obj)
        except LexiluxError:
            raise
        except ShapeError as exc:
            what = f"a stream event of the wrong shape ({exc})"
            raise malformed(what, data, self._secrets) from None
        except _FOREIGN as exc:
            what = f"a stream event of an unexpected shape ({type(exc).__name__})"
            raise malformed(what, data, self._secrets) from None

    def _read(self, obj: dict[str, Any]) -> ChatStreamChunk | None:
        """Everything but a plain content delta: errors, usage, annotations, choices."""
        if obj.get("error"):
            raise error_from_event(obj, self._secrets)
        if self._keep_raw:
            self._raw.append(obj)
        found_id, found_model = identity(obj)  # checked on every chunk, kept from the first
        self.id = self.id or found_id
        self.model = self.model or found_model
        usage = obj.get("usage")
        if usage is not None:
            usage = parse_usage(usage)
            if usage.reported or usage.details:
                self.usage = usage
        prompt_filter = prompt_filter_of(obj)
        if prompt_filter:
            self._prompt_filter += prompt_filter[: MAX_CHOICES - len(self._prompt_filter)]
        choices = obj.get("choices")
        if not self._hot and 0 in self._choices and not self._keep_raw:
            self._patience -= 1
            self._hot = (self.id is not None and self.model is not None) or self._patience <= 0
        if choices is None:
            return None
        if not isinstance(choices, list):
            raise ShapeError(f"'choices' is a {type(choices).__name__}")
        if obj.get("object") == "chat.completion":  # a server that ignored stream=True
            return self._absorb(parse_completion(obj, keep_raw=False, secrets=self._secrets))
        shown = None
        for position, choice in enumerate(choices):
            chunk = self._read_choice(choice, position, obj)
            shown = shown or chunk
        return shown

    def _read_choice(self, choice: Any, position: int, obj: Any) -> ChatStreamChunk | None:
        where = f"choice {position}"
        if not isinstance(choice, Mapping):
            raise ShapeError(f"{where} is a {type(choice).__name__}")
        index = choice_index(choice, position, where)
        c = self._choice(index)
        delta = choice.get("delta")
        delta = {} if delta is None else delta
        if not isinstance(delta, Mapping):
            raise ShapeError(f"choice {index} 'delta' is a {type(delta).__name__}")
        where = f"choice {index} delta"
        content = response_text(delta.get("content"), where)
        reasoning = reasoning_of(delta, where)
        refusal = opt(delta, "refusal", str, where)
        call_deltas = opt(delta, "tool_calls", list, where) or ()
        for call_delta in call_deltas:
            self._tool_delta(c, call_delta, where)
        # llama-cpp-python sends each call twice, as tool_calls and as legacy function_call
        if delta.get("function_call") is not None and not call_deltas:
            self._legacy_delta(c, delta["function_call"], where)
        annotations = opt(delta, "annotations", list, where)
        if annotations:
            self._charge(len(annotations) * ITEM_COST)
            c.annotations += annotations
        reason = opt(choice, "finish_reason", str, f"choice {index}")
        if reason:
            c.finish_reason = reason
        logprobs = choice.get("logprobs")
        if logprobs is not None:
            c.logprobs = merge_logprobs(c.logprobs, logprobs, f"choice {index}")
            self._charge(sum(len(v) for v in logprobs.values() if isinstance(v, list)) * ITEM_COST)
        filter_results = choice.get("content_filter_results")
        if filter_results is not None:
            merge_filter(c.content_filter, filter_results, f"choice {index}")
            if len(c.content_filter) > MAX_FILTER_CATEGORIES:
                raise ShapeError(f"choice {index} has over {MAX_FILTER_CATEGORIES} filter results")
        if content:
            self._add(c.text, content)
        if reasoning:
            self._add(c.reasoning, reasoning)
        if refusal:
            self._add(c.refusal, refusal)
        if not (content or reasoning or refusal):
            return None
        raw = obj if self._keep_raw else None
        return ChatStreamChunk(
            content, False, None, Usage(), [], reasoning, raw, refusal or None, index
        )

    def _tool_delta(self, c: ChoiceState, delta: Any, where: str) -> None:
        if not isinstance(delta, Mapping):
            raise ShapeError(f"{where} tool call delta is a {type(delta).__name__}")
        key = opt(delta, "index", int, f"{where} tool call")
        call_id = opt(delta, "id", str, f"{where} tool call")
        if key is not None:
            call = c.by_index.get(key)
            if call is None or (call_id and call.id and call_id != call.id):
                call = c.by_index[key] = self._new_call(c)  # a new id at a used index: a new call
        elif call_id:  # no index: a new id starts a call, a known one continues it
            known = [k for k in c.calls if k.id == call_id]
            call = known[-1] if known else self._new_call(c)
        else:
            call = c.calls[-1] if c.calls else self._new_call(c)
        if call_id:
            call.id = call_id
        kind = opt(delta, "type", str, f"{where} tool call")
        if kind:
            call.type = kind
        self._function_delta(call, delta.get("function"), f"{where} tool call 'function'")

    def _legacy_delta(self, c: ChoiceState, fn: Any, where: str) -> None:
        """A streamed legacy ``function_call``: one ToolCall, so finish_reason has its call."""
        if c.legacy is None:
            c.legacy = self._new_call(c)
        self._function_delta(c.legacy, fn, f"{where} 'function_call'")

    def _function_delta(self, call: PartialCall, fn: Any, where: str) -> None:
        if fn is None:
            return
        if not isinstance(fn, Mapping):
            raise ShapeError(f"{where} is a {type(fn).__name__}")
        name = opt(fn, "name", str, where)
        if name:
            call.name = name
        arguments = fn.get("arguments")
        if isinstance(arguments, Mapping | list):
            arguments = json.dumps(arguments)
        elif arguments is not None and not isinstance(arguments, str):
            raise ShapeError(f"{where} 'arguments' is a {type(arguments).__name__}")
        if arguments:
            self._add(call.arguments, arguments)

    def _new_call(self, c: ChoiceState) -> PartialCall:
        self._charge(ITEM_COST)
        call = PartialCall()
        c.calls.append(call)
        return call

    def _choice(self, index: int) -> ChoiceState:
        c = self._choices.get(index)
        if c is None:
            c = self._choices[index] = ChoiceState(index)
            if index == 0:
                self._text0 = c.text.pieces
        return c

    def _add(self, text: Text, piece: str) -> None:
        if len(piece) >= BIG_PIECE:
            if text.pieces:
                self._seal(text)
            self._charge(len(piece))
            text.blocks.append(piece)
            return
        text.pieces.append(piece)
        if len(text.pieces) >= BLOCK:
            self._seal(text)

    def _seal(self, text: Text) -> None:
        """Join a text's (short) pieces into one block, and count them toward the cap."""
        block = "".join(text.pieces)
        text.pieces.clear()
        text.blocks.append(block)
        self._charge(len(block))

    def _charge(self, cost: int) -> None:
        self._size += cost
        if self._size > self._max:
            snippet = redact(self.text[: SNIPPET_CHARS * 2], self._secrets)[:SNIPPET_CHARS]
            raise ResponseTooLargeError(
                f"the streamed answer passed {self._max:,} characters (max_answer_chars) and "
                "was stopped (an endless or broken stream); what arrived so far is in the "
                "stream's result. To accept longer answers, raise "
                "lexilux_nb.defaults.MAX_ANSWER_CHARS",
                body=snippet,
            )

    def feed_json_body(self, body: bytes) -> ChatStreamChunk | None:
        """A server answered a stream request with one JSON completion: treat it as the stream."""
        try:
            data = _loads(body)
        except (ValueError, RecursionError):
            raise malformed("a JSON answer that is not valid JSON", body, self._secrets) from None
        result = parse_completion(data, keep_raw=False, secrets=self._secrets)
        if self._keep_raw:
            self._charge(len(body))
            self._raw.append(data)
        return self._absorb(result)

    def _absorb(self, result: ChatResult) -> ChatStreamChunk | None:
        """A whole completion (every choice) folded in as if it had been streamed."""
        for whole in result.choices:
            c = self._choice(whole.index)
            for text, piece in (
                (c.text, whole.text),
                (c.reasoning, whole.reasoning),
                (c.refusal, whole.refusal),
            ):
                if piece:
                    self._add(text, piece)
            for done in whole.tool_calls:
                call = self._new_call(c)
                call.id, call.name, call.type = done.id, done.name, done.type
                self._add(call.arguments, done.arguments)
            c.finish_reason = whole.finish_reason or c.finish_reason
            c.logprobs = merge_logprobs(c.logprobs, whole.logprobs, "choice")
            c.annotations += whole.annotations
            merge_filter(c.content_filter, whole.content_filter.get("content_filter_results"), "")
        self.id, self.model = self.id or result.id, self.model or result.model
        if result.usage.reported or result.usage.details:
            self.usage = result.usage
        self._prompt_filter += result.content_filter.get("prompt_filter_results") or []
        first = result.choices[0] if result.choices else result
        if not (first.text or first.reasoning or first.refusal):
            return None
        return ChatStreamChunk(
            first.text, False, None, Usage(), [], first.reasoning, None, first.refusal, first.index
        )

    def _error(self, data: str) -> APIError:
        try:
            payload: Any = _loads(data)
        except (ValueError, RecursionError):
            payload = {"message": data}
        return error_from_event(payload, self._secrets)

    # -- ending ------------------------------------------------------------------------------

    def _first(self) -> ChoiceState | None:
        return self._choices[min(self._choices)] if self._choices else None

    @property
    def finish_reason(self) -> str | None:
        """Choice 0's finish reason so far (normalised)."""
        first = self._first()
        if first is None:
            return None
        return normalize_finish_reason(first.finish_reason, has_calls=bool(first.calls))

    @property
    def complete(self) -> bool:
        """The server said the answer is over (``[DONE]``, or a finish_reason on every choice)."""
        if self.finished:
            return True
        return bool(self._choices) and all(c.finish_reason for c in self._choices.values())

    def finish(self) -> ChatStreamChunk:
        """The single ``done`` chunk: finish reason, usage and every complete tool call."""
        if self.finished:
            raise RuntimeError("stream already finished")
        self.finished = True
        first = self._first()
        calls = [c.build() for c in first.calls] if first is not None else []
        return ChatStreamChunk("", True, self.finish_reason, self.usage, calls, None, None)

    def end_of_stream(self, cause: Exception | None = None) -> ChatStreamChunk | None:
        """The bytes ran out. A finished answer gets its done chunk; a cut one raises."""
        if self.finished:
            return None
        if self.complete:
            return self.finish()
        reason = f": {cause}" if cause else ""
        self.interrupted = True
        raise ChatStreamInterruptedError(
            f"the stream ended before the server finished the answer{reason} "
            f"({len(self.text)} characters received; they are kept in partial_result)",
            partial_result=self.result(interrupted=True),
            cause=cause,
        ) from cause  # the redacted error, not the raw httpx one (it may echo the key)

    @property
    def text(self) -> str:
        first = self._first()
        return first.text.value() if first is not None else ""

    def result(self, *, interrupted: bool = False) -> ChatResult:
        """Everything so far as one :class:`ChatResult` (every choice in ``choices``)."""
        return assemble(
            [self._choices[i].result() for i in sorted(self._choices)],
            usage=self.usage,
            model=self.model,
            id=self.id,
            prompt_filter=list(self._prompt_filter) or None,
            raw={"chunks": list(self._raw)} if self._keep_raw else None,
            interrupted=interrupted or self.interrupted,
        )
