"""The budget meter: will this prompt fit the model's context window, and what takes the room?

Counting (:func:`count`): ``tiktoken``'s cl100k_base when it is installed and its encoding is
available (it downloads it once, so offline it may not be), else about four characters per token,
rounded up. Each message adds :data:`PER_MESSAGE` tokens (role and separators, OpenAI's documented
overhead) and each image part :data:`PER_IMAGE` (OpenAI's cost of a 512×512-tiled high-detail
image; servers differ, so it is an estimate like the rest). It is a guess good to ~10-20% on
English prose and code; the meter warns, it does not promise.

The window (:func:`window_from_models`, :func:`window_from_props`, :func:`discover_window`): what
the server says, where it says it (llama.cpp reports ``meta.n_ctx`` per model in ``/v1/models``,
older versions only ``meta.n_ctx_train`` there and the allocated ``n_ctx`` in ``/props``; vLLM
``max_model_len``; OpenRouter ``context_length``), cached per endpoint and model. Nothing here
imports IPython.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..client.tokens import default_counter

PER_MESSAGE = 4
PER_IMAGE = 765
# Below this many estimated tokens no server we know is too small, so the window is not asked for.
ASK_ABOVE = 1000
TOP_PARTS = 3
CELL_ADVICE = "a smaller {value}, --no-history, or --new"
PANEL_ADVICE = "a smaller {value}, or Clear the history"

_PLACEHOLDER = re.compile(r"(?<!\{)\{(?!\{)([A-Za-z_][^{}\n]*)\}(?!\})")


@dataclass(frozen=True)
class Part:
    """A named piece of the prompt and its estimated tokens."""

    name: str
    tokens: int


@dataclass(frozen=True)
class Estimate:
    """The prompt's parts, largest first, and their total (message overhead included)."""

    parts: tuple[Part, ...]
    total: int

    def largest(self, n: int = TOP_PARTS) -> tuple[Part, ...]:
        return self.parts[:n]


def count(text: str, counter: Callable[[str], int] | None = None) -> int:
    """Tokens of ``text`` (see the module docstring for how)."""
    return (counter or default_counter)(text) if text else 0


def _content_parts(content: Any) -> tuple[str, int]:
    """(the text, the number of images) of a message's content."""
    if isinstance(content, str):
        return content, 0
    texts, images = [], 0
    for part in content or ():
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "text":
            texts.append(str(part.get("text") or ""))
        elif part.get("type") in ("image_url", "input_image", "image"):
            images += 1
    return "\n".join(texts), images


def placeholder_parts(raw: str, filled: str) -> list[tuple[str, str]] | None:
    """(``{name}``, the text it became) for each placeholder of ``raw`` found in ``filled``.

    Pure alignment: the literal text between placeholders appears in order in ``filled``, so what
    lies between is what each placeholder became. None when it cannot be aligned; two adjacent
    placeholders are named together.
    """
    pieces = _PLACEHOLDER.split(raw)
    literals = [p.replace("{{", "{").replace("}}", "}") for p in pieces[0::2]]
    names = [f"{{{n}}}" for n in pieces[1::2]]
    if not names or not filled.startswith(literals[0]) or not filled.endswith(literals[-1]):
        return None
    found: list[tuple[str, str]] = []
    pos, end = len(literals[0]), len(filled) - len(literals[-1])
    pending = names[0]
    for name, literal in zip(names[1:], literals[1:-1], strict=True):
        if not literal:
            pending += name
            continue
        at = filled.find(literal, pos, end)
        if at < 0:
            return None
        found.append((pending, filled[pos:at]))
        pos, pending = at + len(literal), name
    if pos > end:
        return None
    found.append((pending, filled[pos:end]))
    return found


def context_prefix(raw: str, filled: str) -> str:
    """What was put before the typed prompt (``--context N`` cells): the text of ``filled`` before
    the prompt's first literal words; empty when there is none or it cannot be told."""
    first = _PLACEHOLDER.split(raw)[0].replace("{{", "{").replace("}}", "}")
    if not first.strip() or filled.startswith(first):
        return ""
    at = filled.find(first)
    return filled[:at] if at > 0 else ""


def estimate(
    messages: Sequence[Mapping[str, Any]],
    *,
    raw_prompt: str | None = None,
    counter: Callable[[str], int] | None = None,
) -> Estimate:
    """Estimate wire ``messages`` (the last one is this turn's prompt), named by part: ``system``,
    ``history``, ``context`` (cells sent before the prompt), each ``{placeholder}`` of
    ``raw_prompt`` (the prompt as typed), ``prompt`` (the rest) and ``images``."""
    sizes: dict[str, int] = {}

    def add(name: str, tokens: int) -> None:
        if tokens:
            sizes[name] = sizes.get(name, 0) + tokens

    for index, message in enumerate(messages):
        text, images = _content_parts(message.get("content"))
        add("images", images * PER_IMAGE)
        last = index == len(messages) - 1
        if message.get("role") == "system":
            add("system", count(text, counter) + PER_MESSAGE)
        elif not last:
            calls = message.get("tool_calls")
            add("history", count(text + (str(calls) if calls else ""), counter) + PER_MESSAGE)
        else:
            head = context_prefix(raw_prompt, text) if raw_prompt else ""
            add("context", count(head, counter))
            text = text[len(head) :]
            aligned = placeholder_parts(raw_prompt, text) if raw_prompt else None
            rest = text
            for name, value in aligned or ():
                add(name, count(value, counter))
                rest = rest.replace(value, "", 1)
            add("prompt", count(rest, counter) + PER_MESSAGE)
    parts = tuple(sorted((Part(n, t) for n, t in sizes.items()), key=lambda p: -p.tokens))
    return Estimate(parts, sum(p.tokens for p in parts))


def verdict(
    found: Estimate, window: int | None, reserve: int = 0, advice: str = CELL_ADVICE
) -> str | None:
    """The warning when the prompt (plus ``reserve``, the answer's ``max_tokens``) will not fit
    ``window``; None when it fits or no window is known. ``advice``: how to send less, in the
    words of the surface (cell options, or the panel's buttons)."""
    if window is None or found.total + reserve <= window:
        return None
    named = ", ".join(f"{p.name} {p.tokens:,} tokens" for p in found.largest())
    answer = f" plus {reserve:,} for the answer (max_tokens)" if reserve else ""
    return (
        f"this prompt is about {found.total:,} tokens{answer}, more than the model's context "
        f"window of {window:,}. Largest parts: {named}. Send less ({advice}), "
        "or raise context_window if the server allows more."
    )


# -- the window the server reports ------------------------------------------------------------


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def window_from_models(body: Any, model: str | None) -> tuple[int | None, bool]:
    """(window, exact) from a ``/v1/models`` body: the entry for ``model`` (or the only one).
    ``exact`` is False when only the training length is known (``n_ctx_train``), which the
    server's allocated context (``/props``) may undercut."""
    data = body.get("data") if isinstance(body, Mapping) else None
    entries = [e for e in data or () if isinstance(e, Mapping)]
    chosen = [e for e in entries if e.get("id") == model] or (entries if len(entries) == 1 else [])
    if not chosen:
        return None, False
    entry = chosen[0]
    meta: Mapping[str, Any] = entry["meta"] if isinstance(entry.get("meta"), Mapping) else {}
    for key in ("n_ctx", "context_window", "context_length", "max_model_len"):
        found = _positive(meta.get(key)) or _positive(entry.get(key))
        if found:
            return found, True
    trained = _positive(meta.get("n_ctx_train"))
    return trained, False


def window_from_props(body: Any) -> int | None:
    """llama.cpp's ``/props``: ``default_generation_settings.n_ctx`` (or a top-level ``n_ctx``)."""
    if not isinstance(body, Mapping):
        return None
    settings = body.get("default_generation_settings")
    nested = settings.get("n_ctx") if isinstance(settings, Mapping) else None
    return _positive(nested) or _positive(body.get("n_ctx"))


Getter = Callable[[str], Any]  # url -> parsed JSON body; raises on any failure
_cache: dict[tuple[str, str | None], int | None] = {}
_lock = threading.Lock()


def discover_window(base_url: str, model: str | None, get: Getter) -> int | None:
    """The window the server at ``base_url`` (``…/v1``) reports for ``model``, asked once per
    endpoint and model (a server that reports nothing is remembered as None too)."""
    key = (base_url.rstrip("/"), model)
    with _lock:
        if key in _cache:
            return _cache[key]
    window: int | None = None
    exact = False
    try:
        window, exact = window_from_models(get(key[0] + "/models"), model)
    except Exception:  # a server without /models, or an answer we cannot read: no window
        window = None
    if window is not None and not exact:
        root = key[0][: -len("/v1")] if key[0].endswith("/v1") else key[0]
        with contextlib.suppress(Exception):  # else the training length is the best we know
            window = window_from_props(get(root + "/props")) or window
    with _lock:
        _cache[key] = window
    return window


def forget_windows() -> None:
    """Empty the cache (a server restarted with another context size)."""
    with _lock:
        _cache.clear()


def http_getter(headers: Mapping[str, str], timeout: float = 5.0) -> Getter:
    """A :data:`Getter` over httpx with the endpoint's headers (its key), bounded in time."""

    def get(url: str) -> Any:
        import httpx

        response = httpx.get(url, headers=dict(headers), timeout=timeout)
        response.raise_for_status()
        return response.json()

    return get
