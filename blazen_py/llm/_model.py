"""``CompletionModel``: chat completions from OpenRouter, OpenAI and compatible servers.

Requests go through :mod:`blazen_py._compat`, so the same code uses the browser's
``fetch`` in Pyodide and the standard library (off the event loop) on CPython.

API keys are read from the environment (``os.environ``; in the browser, the ``env``
given to ``init``) when the model is created, and never accepted as arguments. A key is
kept in a private holder that prints as ``***``, refuses to be pickled, and is only
unwrapped to build the ``Authorization`` header of a request. Error messages, log lines,
reprs and ``to_dict()`` outputs never contain it, and the provider's error messages are
scrubbed of it before they are kept.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import inspect
import json
import logging
import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

from .._compat import (
    HttpResponse,
    StreamingHttpResponse,
    TransportError,
    TransportTimeoutError,
    http_request,
    http_stream,
)
from ..errors import ModelError
from ._errors import (
    MissingApiKeyError,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    RateLimitError,
)
from ._messages import ChatMessage
from ._sse import SSEEvent, SSEParser

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_DELAY",
    "DEFAULT_RETRY_BACKOFF",
    "DEFAULT_TIMEOUT",
    "OPENAI_BASE_URL",
    "OPENROUTER_BASE_URL",
    "CompletionChunk",
    "CompletionModel",
    "CompletionResponse",
    "OnChunk",
    "Usage",
]

logger = logging.getLogger("blazen_py.llm")

#: Default seconds a request may take (for ``stream``: until the first byte, and between chunks).
DEFAULT_TIMEOUT = 60.0
#: Default number of retries after a 429, a 5xx or a failed connection.
DEFAULT_MAX_RETRIES = 2
#: Default wait before the first retry, in seconds; doubled for each further retry.
DEFAULT_RETRY_BACKOFF = 0.5
#: Default cap, in seconds, on any one wait between attempts (``Retry-After`` included).
DEFAULT_MAX_RETRY_DELAY = 30.0

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
OPENAI_BASE_URL = "https://api.openai.com/v1"
_OPENROUTER_DEFAULT_MODEL = "openai/gpt-4o-mini"
_OPENAI_DEFAULT_MODEL = "gpt-4o-mini"

_PROVIDER_LABELS = {"openrouter": "OpenRouter", "openai": "OpenAI"}
_RESERVED_OPTIONS = frozenset({"messages", "stream"})
_MAX_PROVIDER_MESSAGE = 500
_REPR_CONTENT = 60
_TAG = re.compile(r"<[^>]*>")


class _Secret:
    """Holds an API key; prints as ``***`` and refuses to be pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "an API key cannot be pickled or serialized; create the model again from the environment"
        )

    def __copy__(self) -> _Secret:
        return self

    def __deepcopy__(self, memo: object) -> _Secret:
        return self


class Usage:
    """Token counts the provider reported for one completion.

    Attributes:
        prompt_tokens: Tokens in the request's messages.
        completion_tokens: Tokens in the answer.
        total_tokens: Their sum, as the provider reported it.
    """

    __slots__ = ("completion_tokens", "prompt_tokens", "total_tokens")

    def __init__(
        self, prompt_tokens: int = 0, completion_tokens: int = 0, total_tokens: int | None = None
    ) -> None:
        """Create usage counts.

        Args:
            prompt_tokens: Tokens in the request's messages.
            completion_tokens: Tokens in the answer.
            total_tokens: Their sum; computed when ``None``.
        """
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.total_tokens = prompt_tokens + completion_tokens if total_tokens is None else total_tokens

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """Read the OpenAI ``usage`` object; missing or malformed counts read as 0.

        Args:
            data: ``{"prompt_tokens": ..., "completion_tokens": ..., "total_tokens": ...}``.

        Returns:
            The usage.
        """

        def count(key: str) -> int | None:
            value = data.get(key)
            return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

        prompt = count("prompt_tokens") or 0
        completion = count("completion_tokens") or 0
        return cls(prompt, completion, count("total_tokens"))

    def to_dict(self) -> dict[str, int]:
        """Return the counts as the OpenAI ``usage`` object.

        Returns:
            ``{"prompt_tokens": ..., "completion_tokens": ..., "total_tokens": ...}``.
        """
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Usage):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Usage(prompt_tokens={self.prompt_tokens}, completion_tokens={self.completion_tokens}, "
            f"total_tokens={self.total_tokens})"
        )


class CompletionResponse:
    """The answer of a chat model.

    Attributes:
        content: The answer's text (``""`` when the model returned none).
        model: The model that answered, as the provider named it.
        usage: Token counts, or ``None`` when the provider reported none (streams
            usually do not, unless ``stream_options: {"include_usage": true}`` is passed).
        finish_reason: Why the answer ended (``"stop"``, ``"length"``, ...), or ``None``.
        id: The provider's id for the completion, or ``None``.
    """

    __slots__ = ("content", "finish_reason", "id", "model", "usage")

    def __init__(
        self,
        content: str,
        model: str,
        usage: Usage | None = None,
        finish_reason: str | None = None,
        id: str | None = None,  # noqa: A002
    ) -> None:
        """Create a response.

        Args:
            content: The answer's text.
            model: The model that answered.
            usage: Token counts, if known.
            finish_reason: Why the answer ended, if known.
            id: The provider's completion id, if known.
        """
        self.content = content
        self.model = model
        self.usage = usage
        self.finish_reason = finish_reason
        self.id = id

    def to_dict(self) -> dict[str, Any]:
        """Return the response as JSON-compatible data.

        Returns:
            ``{"content", "model", "usage", "finish_reason", "id"}``; ``usage`` is a dict
            of token counts or ``None``.
        """
        return {
            "content": self.content,
            "model": self.model,
            "usage": None if self.usage is None else self.usage.to_dict(),
            "finish_reason": self.finish_reason,
            "id": self.id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompletionResponse:
        """Create a response from :meth:`to_dict` output.

        Args:
            data: A mapping as returned by :meth:`to_dict`.

        Returns:
            The response.
        """
        usage = data.get("usage")
        return cls(
            str(data.get("content") or ""),
            str(data.get("model") or ""),
            Usage.from_dict(usage) if isinstance(usage, Mapping) else None,
            data.get("finish_reason"),
            data.get("id"),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompletionResponse):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        content = self.content
        if len(content) > _REPR_CONTENT:
            content = content[: _REPR_CONTENT - 3] + "..."
        return (
            f"CompletionResponse(content={content!r}, model={self.model!r}, usage={self.usage!r}, "
            f"finish_reason={self.finish_reason!r})"
        )


class CompletionChunk:
    """One piece of a streamed answer, as passed to ``on_chunk``.

    Attributes:
        delta: The text this piece adds to the answer (never empty).
        index: 0 for the first piece passed to ``on_chunk``, then 1, 2, ...
    """

    __slots__ = ("delta", "index")

    def __init__(self, delta: str, index: int) -> None:
        """Create a chunk.

        Args:
            delta: The text this piece adds.
            index: Position of this piece among the pieces of the answer.
        """
        self.delta = delta
        self.index = index

    def to_dict(self) -> dict[str, Any]:
        """Return the chunk as JSON-compatible data.

        Returns:
            ``{"delta": ..., "index": ...}``.
        """
        return {"delta": self.delta, "index": self.index}

    def __str__(self) -> str:
        return self.delta

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompletionChunk):
            return NotImplemented
        return (self.delta, self.index) == (other.delta, other.index)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CompletionChunk(delta={self.delta!r}, index={self.index})"


#: The ``on_chunk`` callback of :meth:`CompletionModel.stream`: sync or async.
OnChunk = Callable[[CompletionChunk], "Awaitable[object] | object"]


def _parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            pass
        else:
            if math.isfinite(value) and value >= 0:
                return value
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    return value if math.isfinite(value) and value >= 0 else None


def _provider_message(status: int, body: bytes) -> str:
    """The provider's error message: ``{"error": {"message": ...}}`` and common variants."""
    text = body.decode("utf-8", errors="replace").strip()
    message: object = None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = error
        if not isinstance(message, str) or not message.strip():
            message = data.get("message") or data.get("detail")
    if not isinstance(message, str) or not message.strip():
        message = _TAG.sub(" ", text) if text.startswith("<") else text
    message = " ".join(message.split())
    if not message:
        try:
            message = http.HTTPStatus(status).phrase
        except ValueError:
            message = "no error message"
    if len(message) > _MAX_PROVIDER_MESSAGE:
        message = message[: _MAX_PROVIDER_MESSAGE - 3] + "..."
    return message


def _text_of(content: object) -> str:
    """Text of a message's ``content``: a string, a list of parts, or null."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _message_dict(message: ChatMessage | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(message, ChatMessage):
        return message.to_dict()
    if isinstance(message, Mapping):
        return ChatMessage.from_dict(message).to_dict()
    raise TypeError(f"messages must be ChatMessage objects or mappings, not {type(message).__name__}")


class CompletionModel:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Create one with :meth:`openrouter`, :meth:`openai` or :meth:`openai_compatible`;
    then ``await model.complete(messages)`` or ``await model.stream(messages, on_chunk)``.
    A model holds no connection and may be shared by concurrent steps.

    Failures raise :class:`~blazen_py.errors.ModelError` subclasses:
    :class:`MissingApiKeyError` (at creation), :class:`ModelHTTPError` /
    :class:`RateLimitError` (error status, with ``status`` and ``provider_message``),
    :class:`ModelConnectionError` and :class:`ModelTimeoutError` (no response).
    Responses with status 429 or 5xx, and failed connections, are retried up to
    ``max_retries`` times, waiting ``retry_backoff * 2**n`` seconds (n = 0, 1, ...), or
    what the provider's ``Retry-After`` (or ``retry-after-ms``) asks. No wait is longer
    than ``max_retry_delay``: a ``Retry-After`` beyond it is not waited for, the error is
    raised at once with its ``retry_after``. Timeouts are not retried: the time they allow
    is already spent. A stream is retried only before any of its text arrived.

    Example:
        >>> model = CompletionModel.openai_compatible(base_url="http://127.0.0.1:8080/v1", model="qwen")
        >>> model
        CompletionModel(provider='openai_compatible', model='qwen', base_url='http://127.0.0.1:8080/v1')
    """

    __slots__ = (
        "_api_key",
        "_api_key_env",
        "_base_url",
        "_headers",
        "_label",
        "_max_retries",
        "_max_retry_delay",
        "_model",
        "_options",
        "_provider",
        "_retry_backoff",
        "_timeout",
        "_url",
    )

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key_env: str | None = None,
        provider: str = "openai_compatible",
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY,
        headers: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Create a model; the factory methods are the usual way.

        Args:
            model: The model name sent to the server (e.g. ``"openai/gpt-4o-mini"``).
            base_url: The API root; ``/chat/completions`` is appended.
            api_key_env: Name of the environment variable holding the API key, read now;
                ``None`` sends no ``Authorization`` header.
            provider: A short name for messages and ``repr`` (``"openrouter"``, ...).
            timeout: Seconds a ``complete`` request may take; for ``stream``, the wait
                for the first byte and the longest gap between chunks. ``None``: no limit.
            max_retries: Retries after a 429, a 5xx or a failed connection; 0 disables.
            retry_backoff: Seconds before the first retry, doubled for each further one.
            max_retry_delay: Cap on any one wait; a longer ``Retry-After`` is not waited
                for (the error is raised at once).
            headers: Extra request headers (e.g. OpenRouter's ``HTTP-Referer``,
                ``X-Title``). Only their names are ever shown.
            options: Default request options (``temperature``, ``max_tokens``, ...),
                overridden by the ``options`` of each call.

        Raises:
            MissingApiKeyError: ``api_key_env`` is set but the variable is unset or empty.
            ValueError: An argument is out of range.
            TypeError: An argument has the wrong type.
        """
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must be a non-empty string")
        if not isinstance(base_url, str) or not base_url.strip():
            raise ValueError("base_url must be a non-empty URL")
        if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
            raise ValueError("timeout must be a positive number of seconds, or None")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError("max_retries must be an integer >= 0")
        if not retry_backoff >= 0 or not max_retry_delay >= 0:
            raise ValueError("retry_backoff and max_retry_delay must be >= 0")
        if options is not None:
            self._check_options(options)
        self._provider = provider
        self._label = _PROVIDER_LABELS.get(provider, f"the model server at {base_url.rstrip('/')}")
        self._model = model
        self._base_url = base_url.strip().rstrip("/")
        self._url = self._base_url + "/chat/completions"
        self._timeout = None if timeout is None else float(timeout)
        self._max_retries = max_retries
        self._retry_backoff = float(retry_backoff)
        self._max_retry_delay = float(max_retry_delay)
        self._headers = {str(k): str(v) for k, v in (headers or {}).items()}
        self._options = dict(options or {})
        self._api_key_env = api_key_env
        self._api_key: _Secret | None = None
        if api_key_env is not None:
            key = os.environ.get(api_key_env, "").strip()
            if not key:
                raise MissingApiKeyError(api_key_env)
            self._api_key = _Secret(key)

    # ----------------------------------------------------------------- factories

    @classmethod
    def openrouter(
        cls,
        *,
        model: str = _OPENROUTER_DEFAULT_MODEL,
        base_url: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY,
        headers: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> CompletionModel:
        """A model on OpenRouter, keyed by ``OPENROUTER_API_KEY`` from the environment.

        Args:
            model: OpenRouter model id (default ``"openai/gpt-4o-mini"``).
            base_url: API root; default: ``OPENROUTER_BASE_URL`` from the environment,
                else ``https://openrouter.ai/api/v1``.
            timeout: See :class:`CompletionModel`.
            max_retries: See :class:`CompletionModel`.
            retry_backoff: See :class:`CompletionModel`.
            max_retry_delay: See :class:`CompletionModel`.
            headers: Extra headers, e.g. ``{"HTTP-Referer": ..., "X-Title": ...}``.
            options: Default request options.

        Returns:
            The model.

        Raises:
            MissingApiKeyError: ``OPENROUTER_API_KEY`` is unset or empty.
        """
        return cls(
            model=model,
            base_url=base_url or os.environ.get("OPENROUTER_BASE_URL") or OPENROUTER_BASE_URL,
            api_key_env="OPENROUTER_API_KEY",
            provider="openrouter",
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            max_retry_delay=max_retry_delay,
            headers=headers,
            options=options,
        )

    @classmethod
    def openai(
        cls,
        *,
        model: str = _OPENAI_DEFAULT_MODEL,
        base_url: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY,
        headers: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> CompletionModel:
        """A model on OpenAI, keyed by ``OPENAI_API_KEY`` from the environment.

        Args:
            model: OpenAI model name (default ``"gpt-4o-mini"``).
            base_url: API root; default: ``OPENAI_BASE_URL`` from the environment, else
                ``https://api.openai.com/v1``.
            timeout: See :class:`CompletionModel`.
            max_retries: See :class:`CompletionModel`.
            retry_backoff: See :class:`CompletionModel`.
            max_retry_delay: See :class:`CompletionModel`.
            headers: Extra headers.
            options: Default request options.

        Returns:
            The model.

        Raises:
            MissingApiKeyError: ``OPENAI_API_KEY`` is unset or empty.
        """
        return cls(
            model=model,
            base_url=base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL,
            api_key_env="OPENAI_API_KEY",
            provider="openai",
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            max_retry_delay=max_retry_delay,
            headers=headers,
            options=options,
        )

    @classmethod
    def openai_compatible(
        cls,
        *,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY,
        headers: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> CompletionModel:
        """A model on any OpenAI-compatible server (llama.cpp, Ollama, vLLM, LM Studio...).

        Args:
            base_url: API root, e.g. ``"http://127.0.0.1:8080/v1"``.
            model: The model name the server expects.
            api_key_env: Environment variable holding the key; ``None`` (default) sends none.
            timeout: See :class:`CompletionModel`.
            max_retries: See :class:`CompletionModel`.
            retry_backoff: See :class:`CompletionModel`.
            max_retry_delay: See :class:`CompletionModel`.
            headers: Extra headers.
            options: Default request options.

        Returns:
            The model.

        Raises:
            MissingApiKeyError: ``api_key_env`` is given but the variable is unset or empty.
        """
        return cls(
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            provider="openai_compatible",
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            max_retry_delay=max_retry_delay,
            headers=headers,
            options=options,
        )

    # ---------------------------------------------------------------- properties

    @property
    def provider(self) -> str:
        """``"openrouter"``, ``"openai"`` or ``"openai_compatible"``."""
        return self._provider

    @property
    def model(self) -> str:
        """The model name sent with each request."""
        return self._model

    @property
    def base_url(self) -> str:
        """The API root, without a trailing slash."""
        return self._base_url

    @property
    def api_key_env(self) -> str | None:
        """Name of the environment variable the key was read from, or ``None``."""
        return self._api_key_env

    @property
    def timeout(self) -> float | None:
        """Seconds a request may take (``stream``: to the first byte, and between chunks)."""
        return self._timeout

    @property
    def max_retries(self) -> int:
        """Retries after a 429, a 5xx or a failed connection."""
        return self._max_retries

    @property
    def retry_backoff(self) -> float:
        """Seconds before the first retry; doubled for each further one."""
        return self._retry_backoff

    @property
    def max_retry_delay(self) -> float:
        """Cap on any one wait between attempts, in seconds."""
        return self._max_retry_delay

    def __repr__(self) -> str:
        extra = ""
        if self._api_key_env is not None:
            extra += f", api_key_env={self._api_key_env!r}"
        if self._headers:
            extra += f", headers={sorted(self._headers)!r}"
        return (
            f"CompletionModel(provider={self._provider!r}, model={self._model!r}, "
            f"base_url={self._base_url!r}{extra})"
        )

    # ------------------------------------------------------------------- calls

    async def complete(
        self,
        messages: Iterable[ChatMessage | Mapping[str, Any]],
        options: Mapping[str, Any] | None = None,
    ) -> CompletionResponse:
        """Ask the model for an answer and wait for all of it.

        Args:
            messages: The conversation: :class:`ChatMessage` objects, or mappings in the
                OpenAI chat format.
            options: Request options passed through to the server (``temperature``,
                ``max_tokens``, ``top_p``, ``stop``, ``seed``, ``response_format``,
                ``model`` to override the model, ...); they override the model's
                default options.

        Returns:
            The answer.

        Raises:
            ModelHTTPError: The server answered with an error status (``RateLimitError``
                for 429) after the allowed retries.
            ModelConnectionError: No connection could be made, after the allowed retries.
            ModelTimeoutError: The request took longer than ``timeout``.
            ModelError: The server's answer could not be understood.
            ValueError: ``messages`` is empty or ``options`` holds ``messages``/``stream``.
            TypeError: A message or option is of the wrong type.
        """
        body = self._encode(messages, options, stream=False)
        headers = self._request_headers(stream=False)
        attempt = 0
        while True:
            attempt += 1
            logger.debug("POST %s (attempt %d)", self._url, attempt)
            started = time.monotonic()
            try:
                response = await http_request(
                    "POST", self._url, headers=headers, body=body, timeout=self._timeout
                )
            except TransportError as exc:
                await asyncio.sleep(self._after_transport_error(exc, attempt))
                continue
            self._log_status(response.status, started)
            if response.ok:
                return self._parse_completion(response)
            await asyncio.sleep(
                self._after_error_status(response.status, response.headers, response.body, attempt)
            )

    async def stream(
        self,
        messages: Iterable[ChatMessage | Mapping[str, Any]],
        on_chunk: OnChunk,
        options: Mapping[str, Any] | None = None,
    ) -> CompletionResponse:
        """Ask the model for an answer and receive it piece by piece as it is generated.

        Sends ``"stream": true`` and reads the server-sent events of the response body
        as they arrive (in the browser, through ``fetch``'s ReadableStream).

        Args:
            messages: The conversation, as for :meth:`complete`.
            on_chunk: Called once per non-empty piece of text, in order, with a
                :class:`CompletionChunk` (``chunk.delta`` is the new text; ``str(chunk)``
                too). May be a plain function or a coroutine function (awaited before the
                next piece is read). An exception it raises ends the stream and propagates.
            options: Request options, as for :meth:`complete`.

        Returns:
            The whole answer, assembled from the pieces (``usage`` only if the server
            sent it).

        Raises:
            ModelHTTPError: The server answered with an error status after the allowed
                retries (retries happen only before any piece was received).
            ModelConnectionError: No connection, or the connection broke mid-stream.
            ModelTimeoutError: The first byte, or the next piece, took longer than ``timeout``.
            ModelError: The server reported an error inside the stream, or sent
                something that is not an OpenAI-style event stream.
            ValueError: ``messages`` is empty or ``options`` holds ``messages``/``stream``.
            TypeError: A message or option is of the wrong type.
        """
        body = self._encode(messages, options, stream=True)
        headers = self._request_headers(stream=True)
        attempt = 0
        while True:
            attempt += 1
            logger.debug("POST %s (attempt %d, streaming)", self._url, attempt)
            started = time.monotonic()
            try:
                async with http_stream(
                    "POST", self._url, headers=headers, body=body, timeout=self._timeout
                ) as response:
                    self._log_status(response.status, started)
                    if response.ok:
                        return await self._consume_stream(response, on_chunk)
                    error_body = await response.read()
                    delay = self._after_error_status(response.status, response.headers, error_body, attempt)
            except TransportError as exc:
                delay = self._after_transport_error(exc, attempt)
            await asyncio.sleep(delay)

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def _check_options(options: Mapping[str, Any]) -> None:
        if not isinstance(options, Mapping):
            raise TypeError(f"options must be a mapping, not {type(options).__name__}")
        reserved = _RESERVED_OPTIONS.intersection(options)
        if reserved:
            raise ValueError(
                f"options may not set {sorted(reserved)}: "
                "pass messages as an argument, and use stream() to stream"
            )

    def _encode(
        self,
        messages: Iterable[ChatMessage | Mapping[str, Any]],
        options: Mapping[str, Any] | None,
        *,
        stream: bool,
    ) -> bytes:
        if isinstance(messages, (str, bytes, Mapping, ChatMessage)) or not isinstance(messages, Iterable):
            raise TypeError("messages must be a list of ChatMessage objects or mappings")
        items = [_message_dict(m) for m in messages]
        if not items:
            raise ValueError("messages must not be empty")
        payload: dict[str, Any] = {"model": self._model, **self._options}
        if options is not None:
            self._check_options(options)
            payload.update(options)
        payload["messages"] = items
        if stream:
            payload["stream"] = True
        try:
            return json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise TypeError(f"options and messages must be JSON-serializable: {exc}") from None

    def _request_headers(self, *, stream: bool) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
            **self._headers,
        }
        if self._api_key is not None:
            headers["Authorization"] = "Bearer " + self._api_key.reveal()
        return headers

    def _redact(self, text: str) -> str:
        return self._api_key.redact(text) if self._api_key is not None else text

    def _log_status(self, status: int, started: float) -> None:
        logger.debug(
            "%s answered HTTP %d in %.0f ms", self._label, status, (time.monotonic() - started) * 1000
        )

    def _backoff(self, attempt: int) -> float:
        return min(self._retry_backoff * 2.0 ** (attempt - 1), self._max_retry_delay)

    def _after_transport_error(self, exc: TransportError, attempt: int) -> float:
        """Seconds to wait before retrying after a failed connection, or raise."""
        detail = self._redact(str(exc))
        if isinstance(exc, TransportTimeoutError):
            raise ModelTimeoutError(f"{self._label} did not answer in time ({detail})") from exc
        if attempt <= self._max_retries:
            delay = self._backoff(attempt)
            logger.info(
                "%s: connection failed; retry %d of %d in %.2f s",
                self._label,
                attempt,
                self._max_retries,
                delay,
            )
            return delay
        tries = f" (gave up after {attempt} attempts)" if attempt > 1 else ""
        raise ModelConnectionError(f"could not reach {self._label}: {detail}{tries}") from exc

    def _after_error_status(
        self, status: int, headers: Mapping[str, str], body: bytes, attempt: int
    ) -> float:
        """Seconds to wait before retrying after an error status, or raise."""
        retry_after = _parse_retry_after(headers)
        retryable = status == 429 or 500 <= status <= 599
        # A Retry-After beyond the cap is not waited for: the error tells the caller instead.
        if retryable and attempt <= self._max_retries and (retry_after or 0.0) <= self._max_retry_delay:
            delay = self._backoff(attempt) if retry_after is None else retry_after
            logger.info(
                "%s answered HTTP %d; retry %d of %d in %.2f s",
                self._label,
                status,
                attempt,
                self._max_retries,
                delay,
            )
            return delay
        provider_message = self._redact(_provider_message(status, body))
        tries = f" (gave up after {attempt} attempts)" if attempt > 1 else ""
        message = f"{self._label} answered HTTP {status}: {provider_message}{tries}"
        if status == 429:
            raise RateLimitError(
                message,
                status=status,
                provider_message=provider_message,
                attempts=attempt,
                retry_after=retry_after,
            )
        raise ModelHTTPError(message, status=status, provider_message=provider_message, attempts=attempt)

    def _fail(self, what: str, status: int | None) -> NoReturn:
        raise ModelError(self._redact(f"{self._label} {what}"), status=status)

    def _parse_completion(self, response: HttpResponse) -> CompletionResponse:
        try:
            data = json.loads(response.body)
        except ValueError:
            self._fail("answered with a body that is not JSON", response.status)
        return self._completion_from(data, response.status)

    def _completion_from(self, data: object, status: int) -> CompletionResponse:
        if not isinstance(data, dict):
            self._fail("answered with JSON that is not a completion object", status)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            if "error" in data:
                self._fail(
                    f"reported an error: {_provider_message(status, json.dumps(data).encode())}", status
                )
            self._fail("answered without any choices", status)
        choice = choices[0]
        message = choice.get("message")
        content = (
            _text_of(message.get("content")) if isinstance(message, dict) else _text_of(choice.get("text"))
        )
        usage = data.get("usage")
        finish_reason = choice.get("finish_reason")
        completion_id = data.get("id")
        return CompletionResponse(
            content,
            str(data.get("model") or self._model),
            Usage.from_dict(usage) if isinstance(usage, dict) else None,
            finish_reason if isinstance(finish_reason, str) else None,
            completion_id if isinstance(completion_id, str) else None,
        )

    async def _read_piece(self, response: StreamingHttpResponse) -> bytes:
        try:
            return await response.read_chunk()
        except TransportTimeoutError as exc:
            raise ModelTimeoutError(
                f"{self._label} stalled in the middle of a stream ({self._redact(str(exc))})"
            ) from exc
        except TransportError as exc:
            raise ModelConnectionError(
                f"the connection to {self._label} broke during a stream: {self._redact(str(exc))}"
            ) from exc

    async def _consume_stream(self, response: StreamingHttpResponse, on_chunk: OnChunk) -> CompletionResponse:
        content_type = (response.header("content-type") or "").lower()
        if "text/event-stream" not in content_type and "json" in content_type:
            # The server ignored "stream": true and sent one JSON answer: pass it on whole.
            parts = []
            while piece := await self._read_piece(response):
                parts.append(piece)
            result = self._parse_completion(HttpResponse(response.status, response.headers, b"".join(parts)))
            if result.content:
                await _call(on_chunk, CompletionChunk(result.content, 0))
            return result
        state = _StreamState(self, response.status)
        parser = SSEParser()
        while True:
            piece = await self._read_piece(response)
            events = parser.feed(piece) if piece else parser.close()
            for event in events:
                delta = state.handle(event)
                if delta:
                    await _call(on_chunk, CompletionChunk(delta, state.pieces - 1))
                if state.done:
                    break  # "[DONE]": whatever follows is not read
            if state.done or not piece:
                break
        if not state.events:
            self._fail("ended the stream without sending any event", response.status)
        return state.result()


async def _call(on_chunk: OnChunk, chunk: CompletionChunk) -> None:
    result = on_chunk(chunk)
    if inspect.isawaitable(result):
        await result


class _StreamState:
    """What a stream has said so far: the pieces of text, model, usage, finish reason."""

    __slots__ = (
        "done",
        "events",
        "finish_reason",
        "id",
        "model",
        "owner",
        "parts",
        "pieces",
        "status",
        "usage",
    )

    def __init__(self, owner: CompletionModel, status: int) -> None:
        self.owner = owner
        self.status = status
        self.parts: list[str] = []
        self.pieces = 0
        self.events = 0
        self.done = False
        self.model: str | None = None
        self.id: str | None = None
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def handle(self, event: SSEEvent) -> str:
        """Take one event in; return the text it adds ("" for none)."""
        data = event.data.strip()
        if not data:
            return ""
        self.events += 1
        if data == "[DONE]":
            self.done = True
            return ""
        try:
            payload = json.loads(data)
        except ValueError:
            if event.event == "error":
                self.owner._fail(f"reported an error in the stream: {data[:_MAX_PROVIDER_MESSAGE]}", None)
            self.owner._fail(f"sent a stream event that is not JSON: {data[:80]!r}", self.status)
        if not isinstance(payload, dict):
            self.owner._fail(f"sent a stream event that is not an object: {data[:80]!r}", self.status)
        if "error" in payload or event.event == "error":
            error = payload.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            message = _provider_message(self.status, data.encode())
            self.owner._fail(
                f"reported an error in the stream: {message}",
                code if isinstance(code, int) and not isinstance(code, bool) else None,
            )
        if self.model is None and isinstance(payload.get("model"), str):
            self.model = payload["model"]
        if self.id is None and isinstance(payload.get("id"), str):
            self.id = payload["id"]
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage.from_dict(usage)
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return ""
        choice = choices[0]
        finish_reason = choice.get("finish_reason")
        if isinstance(finish_reason, str):
            self.finish_reason = finish_reason
        delta = choice.get("delta")
        text = _text_of(delta.get("content")) if isinstance(delta, dict) else _text_of(choice.get("text"))
        if text:
            self.parts.append(text)
            self.pieces += 1
        return text

    def result(self) -> CompletionResponse:
        return CompletionResponse(
            "".join(self.parts), self.model or self.owner.model, self.usage, self.finish_reason, self.id
        )
