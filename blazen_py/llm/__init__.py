"""Chat models for workflow steps: messages, completions, streaming, transports.

``ChatMessage.system/user/assistant/tool`` build a conversation;
``CompletionModel.openrouter()``, ``.openai()`` and ``.openai_compatible(...)`` talk to any
OpenAI-compatible ``/chat/completions`` endpoint; ``await model.complete(messages)``
returns a :class:`CompletionResponse`, and ``await model.stream(messages, on_chunk)``
delivers the answer piece by piece as the server generates it.

The same code runs on CPython (standard-library HTTP, off the event loop) and in Pyodide
(the browser's ``fetch``): the platform's :class:`Transport` is chosen once in
:mod:`blazen_py._compat`. A model may be given another transport: :class:`MockTransport`
answers from a function, so model code is tested without a network.

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

from .._compat import (
    HttpRequest,
    HttpResponse,
    ResponseTooLargeError,
    StreamingHttpResponse,
    Transport,
    TransportError,
    TransportTimeoutError,
)
from ..agent import AgentResult, Tool, ToolOutput, extract, run_agent
from ..errors import AgentError, CassetteError, CassetteMismatchError, MaxIterationsError, ModelError
from ._cassette import Cassette
from ._errors import (
    InvalidApiKeyError,
    MissingApiKeyError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRedirectError,
    ModelTimeoutError,
    RateLimitError,
)
from ._messages import ROLES, ChatMessage
from ._model import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_DELAY,
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_TIMEOUT,
    MAX_RESPONSE_BYTES,
    OPENAI_BASE_URL,
    OPENROUTER_BASE_URL,
    CompletionChunk,
    CompletionModel,
    CompletionResponse,
    OnChunk,
    Usage,
)
from ._secret import MAX_API_KEY_LENGTH
from ._sse import SSEEvent, SSEParser, parse_sse
from ._transport import MockHandler, MockTransport, default_transport

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_DELAY",
    "DEFAULT_RETRY_BACKOFF",
    "DEFAULT_TIMEOUT",
    "MAX_API_KEY_LENGTH",
    "MAX_RESPONSE_BYTES",
    "OPENAI_BASE_URL",
    "OPENROUTER_BASE_URL",
    "ROLES",
    "AgentError",
    "AgentResult",
    "Cassette",
    "CassetteError",
    "CassetteMismatchError",
    "ChatMessage",
    "CompletionChunk",
    "CompletionModel",
    "CompletionResponse",
    "HttpRequest",
    "HttpResponse",
    "InvalidApiKeyError",
    "MaxIterationsError",
    "MissingApiKeyError",
    "MockHandler",
    "MockTransport",
    "ModelConnectionError",
    "ModelError",
    "ModelHTTPError",
    "ModelRedirectError",
    "ModelTimeoutError",
    "OnChunk",
    "RateLimitError",
    "ResponseTooLargeError",
    "SSEEvent",
    "SSEParser",
    "StreamingHttpResponse",
    "Tool",
    "ToolOutput",
    "Transport",
    "TransportError",
    "TransportTimeoutError",
    "Usage",
    "default_transport",
    "extract",
    "parse_sse",
    "run_agent",
]
