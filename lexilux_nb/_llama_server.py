"""Entry point of the embedded model's server process: llama-cpp-python's server, plus prefill.

llama-cpp-python always closes every message and opens a new assistant turn, so a partial answer
sent back for continuation is answered anew instead of continued. This registers
``lexilux-chatml``: SmolLM2's own template (ChatML, same default system prompt) except that a
trailing assistant message is left open, so the model continues it - what llama.cpp's C++ server
does. ``lexilux_nb.local`` runs ``python -m lexilux_nb._llama_server ... --chat_format
lexilux-chatml``.
"""

from __future__ import annotations

from typing import Any

CHAT_FORMAT = "lexilux-chatml"
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
ROLE_NAMES = {"developer": "system"}


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def chatml_prompt(messages: list[dict[str, Any]]) -> str:
    """The prompt for ``messages``; a trailing assistant message is continued, not closed."""
    messages = list(messages)
    prefill = messages.pop() if messages and messages[-1].get("role") == "assistant" else None
    parts = []
    if not messages or ROLE_NAMES.get(messages[0]["role"], messages[0]["role"]) != "system":
        parts.append(f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n")
    for message in messages:
        role = ROLE_NAMES.get(message["role"], message["role"])
        parts.append(f"<|im_start|>{role}\n{_text(message.get('content'))}<|im_end|>\n")
    parts.append("<|im_start|>assistant\n")
    if prefill is not None:
        parts.append(_text(prefill.get("content")))
    return "".join(parts)


def main() -> None:
    from llama_cpp import llama_chat_format
    from llama_cpp.server.__main__ import main as serve

    @llama_chat_format.register_chat_format(CHAT_FORMAT)  # type: ignore[untyped-decorator]
    def _format(messages: list[dict[str, Any]], **_: Any) -> Any:
        return llama_chat_format.ChatFormatterResponse(
            prompt=chatml_prompt(messages), stop="<|im_end|>"
        )

    serve()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
