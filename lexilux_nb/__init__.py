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
    DeadlineExceededError,
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
from .client.map_inputs import results_frame
from .client.map_report import MapStats
from .client.mapping import MapResults, Unfinished
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
from .client.structured import Extracted, ExtractError
from .client.toolloop import ToolActivity, ToolLoopInterrupted, ToolLoopResult
from .client.tools import PythonTool, from_function


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
    "DeadlineExceededError",
    "ExtractError",
    "Extracted",
    "FunctionTool",
    "InvalidRequestError",
    "LexiluxConnectionError",
    "LexiluxError",
    "LexiluxTimeoutError",
    "MCPTools",
    "MalformedResponseError",
    "MapResults",
    "MapStats",
    "NetworkError",
    "NotFoundError",
    "PythonTool",
    "RateLimitError",
    "ResponseTooLargeError",
    "ServerError",
    "StreamingIterator",
    "Tool",
    "ToolActivity",
    "ToolCall",
    "ToolChoice",
    "ToolLoopInterrupted",
    "ToolLoopResult",
    "Unfinished",
    "Usage",
    "ValidationError",
    "__version__",
    "from_function",
    "load_ipython_extension",
    "mcp_tools",
    "results_frame",
    "unload_ipython_extension",
]
