"""lexilux_nb: chat with any OpenAI-compatible LLM from Jupyter and IPython.

``%load_ext lexilux_nb`` registers the notebook magics; the client API below works anywhere.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .client.batch import AsyncBatchJob, BatchJob, BatchStatus
from .client.chat import Chat
from .client.continuation import ContinueProgress
from .client.errors import (
    APIError,
    AuthenticationError,
    ChatIncompleteResponseError,
    ChatStreamInterruptedError,
    ConfigurationError,
    InvalidRequestError,
    LexiluxConnectionError,
    LexiluxError,
    LexiluxTimeoutError,
    MalformedResponseError,
    NetworkError,
    NotFoundError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    ValidationError,
)
from .client.history import ChatHistory
from .client.mcp import MCPTools, mcp_tools
from .client.models import (
    ChatResult,
    ChatStreamChunk,
    FunctionTool,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
)
from .client.options import ChatParams
from .client.streaming import AsyncStreamingIterator, StreamingIterator


def __getattr__(name: str) -> object:
    """``ChatPanel`` is imported on first use, so the client alone never loads ipywidgets."""
    if name == "ChatPanel":
        from .notebook.panel import ChatPanel

        return ChatPanel
    raise AttributeError(f"module 'lexilux_nb' has no attribute {name!r}")


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext lexilux_nb``."""
    from .notebook.extension import load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext lexilux_nb``."""
    from .notebook.extension import unload

    unload(ipython)


__all__ = [
    "APIError",
    "AsyncBatchJob",
    "AsyncStreamingIterator",
    "AuthenticationError",
    "BatchJob",
    "BatchStatus",
    "Chat",
    "ChatHistory",
    "ChatIncompleteResponseError",
    "ChatPanel",
    "ChatParams",
    "ChatResult",
    "ChatStreamChunk",
    "ChatStreamInterruptedError",
    "ConfigurationError",
    "ContinueProgress",
    "FunctionTool",
    "InvalidRequestError",
    "LexiluxConnectionError",
    "LexiluxError",
    "LexiluxTimeoutError",
    "MCPTools",
    "MalformedResponseError",
    "NetworkError",
    "NotFoundError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ServerError",
    "StreamingIterator",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "Usage",
    "ValidationError",
    "__version__",
    "load_ipython_extension",
    "mcp_tools",
    "unload_ipython_extension",
]
