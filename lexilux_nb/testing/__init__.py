"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat API, for tests and demos.

``FakeOpenAIServer`` listens on a free local port and answers ``POST /v1/chat/completions``
(streamed or not) and ``GET /v1/models`` exactly the way OpenAI-compatible servers do on the wire:
``chat.completion`` objects with ``usage``; Server-Sent Events whose first chunk carries only
``delta.role``, then content deltas, then an empty delta with the ``finish_reason``, an optional
usage chunk (``choices: []``) when the request asked ``stream_options.include_usage``, and
``data: [DONE]``. Every reply is scripted with :class:`Reply`, including faults (HTTP errors with
``Retry-After``, streams cut mid-way, error events, hangs, SSE spelling variants). Only the
standard library is used, so any client - ``httpx``, the ``openai`` SDK, ``curl``, a Jupyter
kernel in another process - can talk to it by URL.

Use it in your own tests::

    from lexilux_nb.testing import FakeOpenAIServer, Reply

    def test_my_code_handles_a_cut_answer():
        with FakeOpenAIServer(model="fake-model") as server:
            server.queue(Reply(text="Hello **world**, how are you?"))
            server.queue(lambda req: Reply(text=req.messages[-1]["content"].upper()))
            server.queue(Reply(status=429, headers={"Retry-After": "1"}))
            my_code(base_url=server.base_url, api_key="anything")
            assert server.requests[0].stream
            assert server.requests[0].messages[-1]["role"] == "user"

When the queue is empty, ``server.default`` answers (by default an echo of the last user message,
prefixed ``"Echo: "``). ``Reply(text=LONG, resume=True)`` as the default makes deterministic
continuation demos: a client asking ``max_tokens=20`` gets 20 "tokens" and ``finish_reason:
"length"``; sending the partial answer back as the last assistant message (optionally followed by a
user "continue" prompt) yields the next 20, and so on until ``"stop"``.

A "token" here is one piece of :func:`split_tokens` (a run of non-blank characters with the
blanks before it, like ``" world"``), so ``max_tokens`` cuts and usage counts are predictable.

From a shell (serves until Ctrl-C and prints the base URL first)::

    python -m lexilux_nb.testing --port 8765 --delay 0.05 --text "A long answer ..." --resume
"""

from __future__ import annotations

from .replies import RecordedRequest, Reply, ReplyFactory, ReplySource, echo_reply, split_tokens
from .server import FakeOpenAIServer, main

__all__ = [
    "FakeOpenAIServer",
    "RecordedRequest",
    "Reply",
    "ReplyFactory",
    "ReplySource",
    "echo_reply",
    "main",
    "split_tokens",
]
