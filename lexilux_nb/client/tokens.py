"""Counting tokens for history truncation: ``tiktoken`` when installed, else a cheap estimate."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

TokenCounter = Callable[[str], int]


@lru_cache(maxsize=1)
def _tiktoken_encoder() -> Callable[..., list[int]] | None:
    try:
        module: Any = importlib.import_module("tiktoken")
        encoder: Callable[..., list[int]] = module.get_encoding("cl100k_base").encode
    except Exception:  # not installed, or the encoding cannot be fetched (offline)
        return None
    return encoder


def estimate_tokens(text: str) -> int:
    """A dependency-free guess: about four characters per token, rounded up."""
    return math.ceil(len(text) / 4)


def default_counter(text: str) -> int:
    """``tiktoken``'s cl100k_base when available, else :func:`estimate_tokens`."""
    encode = _tiktoken_encoder()
    return estimate_tokens(text) if encode is None else len(encode(text, disallowed_special=()))
