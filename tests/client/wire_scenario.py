"""Answers with several choices, refusals, content parts and legacy calls, in both wire forms.

:class:`Answer` describes one choice; :class:`Wire` renders a list of them as a
``chat.completion`` body *and* as the equivalent stream (the choices' chunks interleaved by
``index``, as OpenAI sends them), served in random network reads. :meth:`Answer.expected` is
what a client must make of it, written from the OpenAI API reference, not from our parser.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import httpx

from lexilux_nb.client.models import ChatResult, ToolCall

from .scenario import SSE_HEADERS, ChunkedStream, fragments, pieces, sse_body


@dataclass
class Answer:
    text: str = ""
    refusal: str | None = None
    reasoning: str | None = None
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)
    function_call: tuple[str, str] | None = None  # legacy (name, arguments)
    finish_reason: str = "stop"
    logprobs: bool = False
    as_parts: bool = False  # stream the content as typed parts, send it as parts

    def message(self) -> dict[str, Any]:
        content: Any = self.text if self.text else None
        if self.as_parts and self.text:
            content = [{"type": "text", "text": p} for p in pieces(self.text)]
        msg: dict[str, Any] = {"role": "assistant", "content": content, "refusal": self.refusal}
        if self.reasoning:
            msg["reasoning_content"] = self.reasoning
        if self.tool_calls:
            msg["tool_calls"] = [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, n, a in self.tool_calls
            ]
        if self.function_call:
            name, arguments = self.function_call
            msg["function_call"] = {"name": name, "arguments": arguments}
        return msg

    def token_logprobs(self, text: str) -> list[dict[str, Any]]:
        return [
            {"token": t, "logprob": -0.5, "bytes": list(t.encode()), "top_logprobs": []}
            for t in pieces(text)
        ]

    def all_logprobs(self) -> dict[str, Any] | None:
        if not self.logprobs:
            return None
        return {
            "content": self.token_logprobs(self.text) if self.text else None,
            "refusal": self.token_logprobs(self.refusal) if self.refusal else None,
        }

    def deltas(self) -> list[tuple[dict[str, Any], Any]]:
        """(delta, logprobs) of every chunk before the finish chunk."""
        out: list[tuple[dict[str, Any], Any]] = [({"role": "assistant", "content": ""}, None)]
        out += [({"reasoning_content": p}, None) for p in pieces(self.reasoning or "")]
        for p in pieces(self.text):
            content: Any = [{"type": "text", "text": p}] if self.as_parts else p
            lp = {"content": self.token_logprobs(p), "refusal": None} if self.logprobs else None
            out.append(({"content": content}, lp))
        for p in pieces(self.refusal or ""):
            lp = {"content": None, "refusal": self.token_logprobs(p)} if self.logprobs else None
            out.append(({"refusal": p}, lp))
        for index, (call_id, name, arguments) in enumerate(self.tool_calls):
            head = {"index": index, "id": call_id, "type": "function"}
            head["function"] = {"name": name, "arguments": ""}
            out.append(({"tool_calls": [head]}, None))
            for f in fragments(arguments):
                out.append(({"tool_calls": [{"index": index, "function": {"arguments": f}}]}, None))
        if self.function_call:
            name, arguments = self.function_call
            out.append(({"function_call": {"name": name, "arguments": ""}}, None))
            out += [({"function_call": {"arguments": f}}, None) for f in fragments(arguments)]
        return out

    def expected(self, index: int) -> dict[str, Any]:
        calls = [ToolCall(i, n, a) for i, n, a in self.tool_calls]
        if self.function_call:
            calls.append(ToolCall("", *self.function_call))
        reason = "tool_calls" if self.finish_reason == "function_call" and calls else None
        return {
            "index": index,
            "text": self.text,
            "refusal": self.refusal,
            "reasoning": self.reasoning,
            "tool_calls": calls,
            "finish_reason": reason or self.finish_reason,
            "logprobs": self.all_logprobs(),
        }


def choice_summary(result: ChatResult) -> dict[str, Any]:
    return {
        "index": result.index,
        "text": result.text,
        "refusal": result.refusal,
        "reasoning": result.reasoning,
        "tool_calls": result.tool_calls,
        "finish_reason": result.finish_reason,
        "logprobs": result.logprobs,
    }


@dataclass
class Wire:
    answers: list[Answer]
    usage: dict[str, Any] | None = field(
        default_factory=lambda: {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
    )
    model: str = "gpt-test"
    id: str = "chatcmpl-wire"
    seed: int = 0  # of the random read boundaries

    def completion(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": 1700000000,
            "model": self.model,
            "choices": [
                {
                    "index": i,
                    "message": a.message(),
                    "logprobs": a.all_logprobs(),
                    "finish_reason": a.finish_reason,
                }
                for i, a in enumerate(self.answers)
            ],
        }
        if self.usage is not None:
            body["usage"] = self.usage
        return body

    def _chunk(self, index: int, delta: dict[str, Any], lp: Any, finish: str | None) -> Any:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "logprobs": lp, "finish_reason": finish}],
        }

    def chunks(self) -> list[dict[str, Any]]:
        per_choice = [
            [self._chunk(i, d, lp, None) for d, lp in a.deltas()]
            + [self._chunk(i, {}, None, a.finish_reason)]
            for i, a in enumerate(self.answers)
        ]
        longest = max(len(c) for c in per_choice)
        out = [c[k] for k in range(longest) for c in per_choice if k < len(c)]
        if self.usage is not None:
            out.append({**self._chunk(0, {}, None, None), "choices": [], "usage": self.usage})
        return out

    def sse(self) -> bytes:
        return sse_body(self.chunks())

    def reads(self, body: bytes) -> list[bytes]:
        """The body cut at random places (mid-line, mid-character), a different cut each time."""
        rng = random.Random(self.seed)
        self.seed += 1
        cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, 60))))
        return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]

    def responder(self) -> Any:
        def respond(request: httpx.Request) -> httpx.Response:
            if json.loads(request.content).get("stream"):
                stream = ChunkedStream(self.reads(self.sse()))
                return httpx.Response(200, headers=SSE_HEADERS, stream=stream)
            return httpx.Response(200, json=self.completion())

        return respond

    def expected(self) -> list[dict[str, Any]]:
        return [a.expected(i) for i, a in enumerate(self.answers)]
