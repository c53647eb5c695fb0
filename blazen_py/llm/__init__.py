"""Chat models for workflow steps: messages, completions, streaming.

``ChatMessage.system/user/assistant/tool`` build a conversation;
``CompletionModel.openrouter()``, ``.openai()`` and ``.openai_compatible(...)`` talk to any
OpenAI-compatible ``/chat/completions`` endpoint; ``await model.complete(messages)``
returns a :class:`CompletionResponse`, and ``await model.stream(messages, on_chunk)``
delivers the answer piece by piece as the server generates it.

The same code runs on CPython (standard-library HTTP, off the event loop) and in Pyodide
(the browser's ``fetch``): the platform is chosen once in :mod:`blazen_py._compat`.

Example:
    >>> import asyncio
    >>> async def summarize(text: str) -> str:
    ...     model = CompletionModel.openrouter()  # reads OPENROUTER_API_KEY
    ...     response = await model.complete([
    ...         ChatMessage.system("Summarize the following text in 2-3 sentences."),
    ...         ChatMessage.user(text),
    ...     ])
    ...     return response.content
"""

from __future__ import annotations

from ..errors import ModelError
from ._errors import (
    MissingApiKeyError,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    RateLimitError,
)
from ._messages import ROLES, ChatMessage
from ._model import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_DELAY,
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_TIMEOUT,
    OPENAI_BASE_URL,
    OPENROUTER_BASE_URL,
    CompletionChunk,
    CompletionModel,
    CompletionResponse,
    OnChunk,
    Usage,
)
from ._sse import SSEEvent, SSEParser, parse_sse

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_DELAY",
    "DEFAULT_RETRY_BACKOFF",
    "DEFAULT_TIMEOUT",
    "OPENAI_BASE_URL",
    "OPENROUTER_BASE_URL",
    "ROLES",
    "ChatMessage",
    "CompletionChunk",
    "CompletionModel",
    "CompletionResponse",
    "MissingApiKeyError",
    "ModelConnectionError",
    "ModelError",
    "ModelHTTPError",
    "ModelTimeoutError",
    "OnChunk",
    "RateLimitError",
    "SSEEvent",
    "SSEParser",
    "Usage",
    "parse_sse",
]
