"""messages.py: one content -> text rule everywhere, a leaf module, no import circle."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import httpx
import pytest

from lexilux_nb.client.history import ChatHistory
from lexilux_nb.client.messages import ROLES, content_text
from lexilux_nb.notebook import history_view as history_export

from .scenario import PATHS, run_path, sse_body, sse_response

CLIENT = Path(__file__).resolve().parents[2] / "lexilux_nb" / "client"
PARTS = [
    {"type": "text", "text": "a"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    {"type": "text", "text": "b"},
]


def test_the_rule() -> None:
    assert content_text(None) == ""
    assert content_text("plain") == "plain"
    assert content_text([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]) == "ab"
    assert content_text(PARTS, placeholders=False) == "ab"
    assert content_text(PARTS) == "a\n[image PNG, 1 KB]\nb"  # never the payload
    assert content_text([{"type": "input_audio"}]) == "[audio]"
    assert content_text([{"type": "refusal", "refusal": "no"}]) == "[refusal: no]"
    assert content_text(["loose", {"type": "text", "text": " string"}]) == "loose string"


@pytest.mark.parametrize("path", PATHS)
async def test_every_path_reads_list_content_the_same_way(path, chat, router):
    """ChatResult.text, the history, the exports and continuation agree (once 'ab' vs 'a\\nb')."""
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": parts}}]}
    body["choices"][0]["finish_reason"] = "stop"
    chunks = [{"choices": [{"index": 0, "delta": {"content": [p]}}]} for p in parts]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})

    def respond(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            return sse_response(sse_body(chunks))
        return httpx.Response(200, json=body)

    router.post("/chat/completions").mock(side_effect=respond)

    result = (await run_path(path, chat, "hi")).result
    history = ChatHistory(messages=[{"role": "user", "content": parts}])
    history.add_message({"role": "assistant", "content": parts})

    assert result.text == "ab"
    assert history.get_last_user_message() == "ab"
    assert history.get_last_assistant_message() == "ab"
    assert "ab" in history.to_text() and "a\nb" not in history.to_text()
    assert history_export.content_text is content_text  # one implementation


def test_continuation_sees_the_same_original_prompt(chat, router):
    seen = []

    def prompt(count, most, so_far, original):
        seen.append(original)
        return "go on"

    replies = [
        {"choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": "length"}]},
        {"choices": [{"index": 0, "message": {"content": "y"}, "finish_reason": "stop"}]},
    ]
    router.post("/chat/completions").mock(
        side_effect=lambda _r: httpx.Response(200, json=replies.pop(0))
    )

    chat.complete([{"role": "user", "content": PARTS}], continue_prompt=prompt)

    assert seen == ["ab"]


def imports_of(name: str) -> set[str]:
    """The client modules ``name`` imports, at run time or for type checking."""
    tree = ast.parse((CLIENT / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module)
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_messages_is_a_leaf() -> None:
    assert imports_of("messages") == {"errors"}


def test_no_import_circle_among_the_client_modules() -> None:
    modules = {p.stem for p in CLIENT.glob("*.py") if p.stem != "__init__"}
    graph = {m: imports_of(m) & modules for m in modules}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [m for m in sorted(modules) if reaches(m, m, set())] == []


@pytest.mark.parametrize(
    "name", ["messages", "protocol", "responses", "options", "accumulate", "sse", "continuation"]
)
def test_wire_modules_import_no_presentation_code(name: str) -> None:
    source = (CLIENT / f"{name}.py").read_text()
    assert "markdown" not in {
        n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)
    }
    assert "history_export" not in imports_of(name)


def test_roles_are_the_api_roles() -> None:
    assert ROLES == ("system", "developer", "user", "assistant", "tool")
