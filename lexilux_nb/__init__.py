"""lexilux_nb: chat with any OpenAI-compatible LLM from Jupyter and IPython."""

from __future__ import annotations

__version__ = "0.1.0"
