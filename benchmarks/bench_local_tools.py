"""Does tool calling work with the embedded model (SmolLM2-135M on llama-cpp-python's server)?

Two servers on 127.0.0.1, the same GGUF: the embedded one as ``%chat_local`` starts it
(``lexilux-chatml``: SmolLM2's template with prefill, which does not show tools to the model) and
one with llama-cpp-python's ``chatml-function-calling`` handler (tools in the system prompt and a
grammar for the call). Each runs the client's tool loop (``tools=[add]``, ``approve="always"``)
over a few prompts, streamed and not, with ``tool_choice`` left to the model ("auto") and forced
to ``add``. Printed: how often the model called the tool, with the right numbers, and whether the
final answer holds the sum. Run: ``python benchmarks/bench_local_tools.py`` (the ``local`` extra).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from lexilux_nb import Chat
from lexilux_nb.local import MODEL_ALIAS, PROVIDER, LocalServer

PROMPTS = [(2, 3), (17, 25), (120, 7)]
SPEC = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


class FormatServer(LocalServer):
    """The embedded server's process, with another ``--chat_format``."""

    def __init__(self, chat_format: str, module: str) -> None:
        super().__init__(n_ctx=4096)
        self.chat_format, self.module = chat_format, module

    def command(self) -> list[str]:
        command = super().command()
        command[2] = self.module
        command[-1] = self.chat_format
        return command


def adder(calls: list[Any]) -> Any:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        calls.append((a, b))
        return a + b

    return add


def raw(url: str, choice: Any) -> dict[str, Any]:
    """The server's own answer (httpx, no client): does the model call add, with a and b?"""
    called = right = errors = 0
    started = time.monotonic()
    for a, b in PROMPTS:
        body: dict[str, Any] = {
            "model": MODEL_ALIAS,
            "messages": [{"role": "user", "content": f"What is {a} plus {b}? Use the add tool."}],
            "tools": [SPEC],
            "temperature": 0,
            "max_tokens": 48,
        }
        if choice is not None:
            body["tool_choice"] = choice
        try:
            message = httpx.post(f"{url}/chat/completions", json=body, timeout=180).json()
            message = message["choices"][0]["message"]
        except Exception:
            errors += 1
            continue
        calls = message.get("tool_calls") or []
        called += bool(calls)
        for call in calls:
            try:
                args = json.loads(call["function"]["arguments"])
            except (ValueError, KeyError, TypeError):
                continue
            right += args == {"a": a, "b": b}
    return {
        "called": called,
        "right": right,
        "answered": None,
        "errors": errors,
        "seconds": (time.monotonic() - started) / len(PROMPTS),
    }


def measure(url: str, stream: bool, choice: Any) -> dict[str, Any]:
    """The client's tool loop (tools=[add], approve="always"), streamed or not."""
    called = right = answered = errors = 0
    started = time.monotonic()
    for a, b in PROMPTS:
        calls: list[Any] = []
        add = adder(calls)

        prompt = f"What is {a} plus {b}? Use the add tool."
        options: dict[str, Any] = {"tools": [add], "approve": "always", "max_tool_rounds": 2}
        options.update(temperature=0, max_tokens=48)
        if choice is not None:
            options["tool_choice"] = choice
        try:
            with Chat(base_url=url, model=MODEL_ALIAS, provider=PROVIDER) as chat:
                if stream:
                    iterator = chat.stream(prompt, **options)
                    for _ in iterator:
                        pass
                    result = iterator.result
                else:
                    result = chat(prompt, **options)
        except Exception as exc:  # counted, and the first one shown
            errors += 1
            if errors == 1:
                print(f"  error ({url}, stream={stream}, {choice}): {type(exc).__name__}: {exc}")
            continue
        called += bool(calls)
        right += (a, b) in calls
        answered += str(a + b) in (result.text or "")
    return {
        "called": called,
        "right": right,
        "answered": answered,
        "errors": errors,
        "seconds": (time.monotonic() - started) / len(PROMPTS),
    }


def main() -> None:
    servers = {
        "embedded (lexilux-chatml)": FormatServer("lexilux-chatml", "lexilux_nb._llama_server"),
        "chatml-function-calling": FormatServer("chatml-function-calling", "llama_cpp.server"),
    }
    forced = {"type": "function", "function": {"name": "add"}}
    rows = []
    try:
        for name, server in servers.items():
            url = server.start()
            for label, choice in (("not sent", None), ("auto", "auto"), ("forced add", forced)):
                rows.append((name, "raw HTTP", label, raw(url, choice)))
                for stream in (False, True):
                    found = measure(url, stream, choice)
                    rows.append((name, "stream" if stream else "chat", label, found))
            server.stop()
    finally:
        for server in servers.values():
            server.stop()
    n = len(PROMPTS)
    print(f"\n{n} prompts each, 'What is A plus B? Use the add tool.', temperature 0\n")
    print(
        "| server chat format | path | tool_choice | called add | right arguments "
        "| answer has the sum | errors | s / prompt |"
    )
    print("|---|---|---|--:|--:|--:|--:|--:|")
    for name, path, label, f in rows:
        print(
            f"| {name} | {path} | {label} | {f['called']}/{n} | {f['right']}/{n} "
            f"| {'-' if f['answered'] is None else str(f['answered']) + '/' + str(n)} "
            f"| {f['errors']} "
            f"| {f['seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()
