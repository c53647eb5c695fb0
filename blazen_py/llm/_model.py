"""``CompletionModel``: chat completions from OpenRouter, OpenAI and compatible servers.

Requests go through a *transport* (:mod:`blazen_py.llm._transport`): by default the
platform's, chosen once in :mod:`blazen_py._compat` (the browser's ``fetch`` in Pyodide,
the standard library off the event loop on CPython); a test gives a
:class:`~blazen_py.llm.MockTransport` instead.

API keys are read from the environment (``os.environ``; in the browser, the ``env``
given to ``init``) when the model is created, checked there (:mod:`._secret`), and never
accepted as arguments. A key is kept in a private holder that prints as ``***``, refuses
to be pickled, and is only unwrapped to build the ``Authorization`` header of a request.
Error messages (and the exceptions chained to them), log lines and reprs never contain
it, and the provider's error messages are scrubbed of it before they are kept.

Model calls never follow redirects (:class:`ModelRedirectError`): the key, and the
conversation, go to ``base_url``'s origin and nowhere else. What the server answers is
hostile: bodies are bounded (``max_response_bytes``), and anything that is not a
well-formed answer is a :class:`~blazen_py.errors.ModelError` (:mod:`._openai_format`).
"""

from __future__ import annotations

import asyncio
import copy
import email.utils
import inspect
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

from .._compat import (
    HttpRequest,
    HttpResponse,
    ResponseTooLargeError,
    StreamingHttpResponse,
    Transport,
    TransportError,
    TransportTimeoutError,
)
from ..errors import CassetteError, ModelError
from ._cassette import Cassette, RecordingTransport, ReplayTransport
from ._errors import (
    ModelConnectionError,
    ModelHTTPError,
    ModelRedirectError,
    ModelTimeoutError,
    RateLimitError,
)
from ._messages import ChatMessage
from ._openai_format import BadAnswer, StreamState, completion_from, is_invalid, loads_json, provider_message
from ._providers import OPENAI_BASE_URL, OPENROUTER_BASE_URL, PROVIDERS, label_for
from ._responses import CompletionChunk, CompletionResponse, OnChunk, Usage
from ._secret import _Secret, check_base_url, check_headers, read_api_key
from ._sse import SSEParser
from ._transport import default_transport

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_DELAY",
    "DEFAULT_RETRY_BACKOFF",
    "DEFAULT_TIMEOUT",
    "MAX_RESPONSE_BYTES",
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
#: Default cap on the bytes of one answer (a whole body, or all of a stream): 16 MiB.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024

_RESERVED_OPTIONS = frozenset({"messages", "stream"})
_MAX_ERROR_BODY = 64 * 1024  # of an error answer, only the start is read (for its message)
_MAX_SHOWN_LOCATION = 200

_T = TypeVar("_T")


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
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    return value if math.isfinite(value) and value >= 0 else None


def _message_dict(message: ChatMessage | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(message, ChatMessage):
        return message.to_dict()
    if isinstance(message, Mapping):
        return ChatMessage.from_dict(message).to_dict()
    raise TypeError(f"messages must be ChatMessage objects or mappings, not {type(message).__name__}")


async def _call(on_chunk: OnChunk, chunk: CompletionChunk) -> None:
    result = on_chunk(chunk)
    if inspect.isawaitable(result):
        await result


async def _read_at_most(response: StreamingHttpResponse, limit: int) -> bytes:
    """The start of a body, up to ``limit`` bytes; the rest is left unread."""
    parts: list[bytes] = []
    size = 0
    while size < limit and (piece := await response.read_chunk()):
        parts.append(piece)
        size += len(piece)
    return b"".join(parts)[:limit]


class CompletionModel:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Create one with :meth:`openrouter`, :meth:`openai` or :meth:`openai_compatible`;
    then ``await model.complete(messages)`` or ``await model.stream(messages, on_chunk)``.
    A model holds no connection and may be shared by concurrent steps.

    Failures raise :class:`~blazen_py.errors.ModelError` subclasses:
    :class:`MissingApiKeyError` / :class:`InvalidApiKeyError` (at creation),
    :class:`ModelHTTPError` / :class:`RateLimitError` (error status, with ``status`` and
    ``provider_message``), :class:`ModelRedirectError` (a redirect, never followed),
    :class:`ModelConnectionError` and :class:`ModelTimeoutError` (no response), and
    :class:`~blazen_py.errors.ModelError` itself for an answer that is malformed (not
    JSON, not UTF-8, fields of the wrong type) or longer than ``max_response_bytes``.
    Responses with status 429 or 5xx, and failed connections, are retried up to
    ``max_retries`` times, waiting ``retry_backoff * 2**n`` seconds (n = 0, 1, ...), or
    what the provider's ``Retry-After`` (or ``retry-after-ms``) asks. No wait is longer
    than ``max_retry_delay``: a ``Retry-After`` beyond it is not waited for, the error is
    raised at once with its ``retry_after``. Timeouts are not retried: the time they allow
    is already spent. A stream is retried only before any of its text arrived.

    Redirects are never followed, on any platform: the API key goes to ``base_url``'s
    origin and nowhere else (on CPython urllib would re-send it to any host a 3xx names;
    in a browser ``fetch`` is told ``redirect: "manual"``). A redirect answer raises
    :class:`ModelRedirectError`; point ``base_url`` at the final address instead.

    A stream's ``timeout`` is an idle timeout: a server that keeps sending (keep-alive
    comments included) is bounded only by ``max_response_bytes``. For a wall-clock limit
    on a whole call, wrap it in ``asyncio.timeout(...)`` (in a step added with
    ``inline=False``, which has a Task of its own from its first line).

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
        "_max_response_bytes",
        "_max_retries",
        "_max_retry_delay",
        "_model",
        "_options",
        "_provider",
        "_retry_backoff",
        "_timeout",
        "_transport",
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
        transport: Transport | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        """Create a model; the factory methods are the usual way.

        Args:
            model: The model name sent to the server (e.g. ``"openai/gpt-4o-mini"``).
            base_url: The API root; ``/chat/completions`` is appended. ``http(s)://...``
                (or, in a browser, a path on the page's origin such as ``/v1``), without
                credentials, query or fragment.
            api_key_env: Name of the environment variable holding the API key, read and
                checked now; ``None`` sends no ``Authorization`` header.
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
            transport: What sends the requests (see :class:`Transport`); ``None``: the
                platform's (:func:`default_transport`).
            max_response_bytes: The most bytes read of one answer (a whole body, or all
                of a stream, keep-alive comments included); more is a ``ModelError``.

        Raises:
            MissingApiKeyError: ``api_key_env`` is set but the variable is unset or empty.
            InvalidApiKeyError: The variable holds something that cannot be a key.
            ValueError: An argument is out of range.
            TypeError: An argument has the wrong type.
        """
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must be a non-empty string")
        base = check_base_url(base_url)
        if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
            raise ValueError("timeout must be a positive number of seconds, or None")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError("max_retries must be an integer >= 0")
        if not retry_backoff >= 0 or not max_retry_delay >= 0:
            raise ValueError("retry_backoff and max_retry_delay must be >= 0")
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
            raise TypeError("max_response_bytes must be an integer")
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be at least 1")
        if options is not None:
            self._check_options(options)
        self._provider = provider
        self._label = label_for(provider, base)
        self._model = model
        self._base_url = base
        self._url = base + "/chat/completions"
        self._timeout = None if timeout is None else float(timeout)
        self._max_retries = max_retries
        self._retry_backoff = float(retry_backoff)
        self._max_retry_delay = float(max_retry_delay)
        self._headers = check_headers(headers)
        self._options = dict(options or {})
        self._transport = self._checked_transport(transport)
        self._max_response_bytes = max_response_bytes
        self._api_key_env = api_key_env
        self._api_key: _Secret | None = None if api_key_env is None else read_api_key(api_key_env)

    # ----------------------------------------------------------------- factories

    @classmethod
    def openrouter(
        cls,
        *,
        model: str = "openai/gpt-4o-mini",
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
        return cls._for_provider(
            "openrouter",
            model,
            base_url,
            None,
            timeout,
            max_retries,
            retry_backoff,
            max_retry_delay,
            headers,
            options,
        )

    @classmethod
    def openai(
        cls,
        *,
        model: str = "gpt-4o-mini",
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
        return cls._for_provider(
            "openai",
            model,
            base_url,
            None,
            timeout,
            max_retries,
            retry_backoff,
            max_retry_delay,
            headers,
            options,
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
        return cls._for_provider(
            "openai_compatible",
            model,
            base_url,
            api_key_env,
            timeout,
            max_retries,
            retry_backoff,
            max_retry_delay,
            headers,
            options,
        )

    @classmethod
    def _for_provider(
        cls,
        name: str,
        model: str,
        base_url: str | None,
        api_key_env: str | None,
        timeout: float | None,
        max_retries: int,
        retry_backoff: float,
        max_retry_delay: float,
        headers: Mapping[str, str] | None,
        options: Mapping[str, Any] | None,
    ) -> CompletionModel:
        """What every factory does, from its row of the provider table."""
        row = PROVIDERS[name]
        return cls(
            model=model,
            base_url=row.base_url(base_url) or "",
            api_key_env=api_key_env or row.api_key_env,
            provider=name,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            max_retry_delay=max_retry_delay,
            headers={**row.headers, **headers} if headers is not None else row.headers,
            options=options,
        )

    def with_transport(self, transport: Transport) -> CompletionModel:
        """The same model (same key, settings and provider), sending through ``transport``.

        For tests (a :class:`MockTransport`) and for wrappers of :attr:`transport`, such
        as one that records or replays each exchange.

        Args:
            transport: An object with ``send`` and ``stream`` (see :class:`Transport`).

        Returns:
            A new model; this one is unchanged.

        Raises:
            TypeError: ``transport`` lacks ``send`` or ``stream``.
        """
        clone = copy.copy(self)
        clone._transport = self._checked_transport(transport)
        return clone

    @staticmethod
    def record(model: CompletionModel, cassette: Cassette) -> CompletionModel:
        """``model``, keeping a copy of each of its exchanges in ``cassette``.

        Requests still go to the server; what is recorded leaves credentials out (see
        :mod:`blazen_py.llm._cassette`). Keep ``cassette.to_json()`` for :meth:`replay`.

        Args:
            model: The model to record.
            cassette: Where the exchanges go (an empty :class:`Cassette`, or one to add to).

        Returns:
            A new model (the same settings and key) that records.

        Raises:
            TypeError: ``model`` or ``cassette`` is of the wrong type.
        """
        if not isinstance(model, CompletionModel) or not isinstance(cassette, Cassette):
            raise TypeError("CompletionModel.record(model, cassette) takes a CompletionModel and a Cassette")
        if cassette.model is None:
            cassette.model, cassette.base_url = model.model, model.base_url
        return model.with_transport(RecordingTransport(model.transport, cassette))

    @classmethod
    def replay(cls, cassette: Cassette | str | bytes | Mapping[str, Any]) -> CompletionModel:
        """A model that answers from ``cassette`` only, with no network and no key.

        It has the recorded model's name and base URL, so the same code sends the same
        requests; each is answered by the first unused recording with the same method,
        URL and body. Nothing is retried.

        Args:
            cassette: A :class:`Cassette`, or its JSON text or data (checked: hostile).

        Returns:
            The replaying model.

        Raises:
            CassetteError: ``cassette`` is malformed, or holds no model name.
            CassetteMismatchError: (on a call) a request has no recording; the message
                names the request and where it differs from the next unused recording.
        """
        tape = cassette if isinstance(cassette, Cassette) else Cassette.from_json(cassette)
        if not tape.model or not tape.base_url:
            raise CassetteError("the cassette names no model (record one with CompletionModel.record)")
        return cls(
            model=tape.model,
            base_url=tape.base_url,
            provider="replay",
            max_retries=0,
            transport=ReplayTransport(tape),
        )

    @staticmethod
    def _checked_transport(transport: Transport | None) -> Transport:
        if transport is None:
            return default_transport()
        if not isinstance(transport, Transport):
            raise TypeError(
                f"transport must have send() and stream() (see blazen_py.llm.Transport), "
                f"not {type(transport).__name__}"
            )
        return transport

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

    @property
    def transport(self) -> Transport:
        """What sends this model's requests (the platform's unless one was given)."""
        return self._transport

    @property
    def max_response_bytes(self) -> int:
        """The most bytes read of one answer."""
        return self._max_response_bytes

    def __repr__(self) -> str:
        extra = ""
        if self._api_key_env is not None:
            extra += f", api_key_env={self._api_key_env!r}"
        if self._headers:
            extra += f", headers={sorted(self._headers)!r}"
        if self._transport is not default_transport():
            extra += f", transport={self._transport!r}"
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
                for 429, ``ModelRedirectError`` for a redirect) after the allowed retries.
            ModelConnectionError: No connection could be made, after the allowed retries.
            ModelTimeoutError: The request took longer than ``timeout``.
            ModelError: The server's answer could not be understood, or was longer than
                ``max_response_bytes``.
            ValueError: ``messages`` is empty or ``options`` holds ``messages``/``stream``.
            TypeError: A message or option is of the wrong type.
        """
        request = self._request(messages, options, stream=False)
        attempt = 0
        while True:
            attempt += 1
            logger.debug("POST %s (attempt %d)", self._url, attempt)
            started = time.monotonic()
            try:
                response = await self._transport.send(request)
            except TransportError as exc:
                delay = self._after_transport_error(exc, attempt)
            else:
                self._log_status(response.status, started)
                if response.ok:
                    return self._parse_completion(response)
                delay = self._after_error_status(response, response.body[:_MAX_ERROR_BODY], attempt)
            await asyncio.sleep(delay)

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
                something that is not an OpenAI-style event stream (or not UTF-8), or
                more than ``max_response_bytes``.
            ValueError: ``messages`` is empty or ``options`` holds ``messages``/``stream``.
            TypeError: A message or option is of the wrong type.
        """
        request = self._request(messages, options, stream=True)
        attempt = 0
        while True:
            attempt += 1
            logger.debug("POST %s (attempt %d, streaming)", self._url, attempt)
            started = time.monotonic()
            try:
                async with self._transport.stream(request) as response:
                    self._log_status(response.status, started)
                    if response.ok:
                        return await self._consume_stream(response, on_chunk)
                    error_body = await _read_at_most(response, _MAX_ERROR_BODY)
                    delay = self._after_error_status(response, error_body, attempt)
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

    def _request(
        self,
        messages: Iterable[ChatMessage | Mapping[str, Any]],
        options: Mapping[str, Any] | None,
        *,
        stream: bool,
    ) -> HttpRequest:
        """The request of one call (the same for each of its attempts)."""
        return HttpRequest(
            "POST",
            self._url,
            headers=self._request_headers(stream=stream),
            body=self._encode(messages, options, stream=stream),
            timeout=self._timeout,
            follow_redirects=False,
            max_body_bytes=self._max_response_bytes,
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
        }
        headers.update(self._headers)
        if self._api_key is not None:
            for name in [n for n in headers if n.lower() == "authorization"]:
                del headers[name]
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
        if isinstance(exc, ResponseTooLargeError):
            self._fail(f"answered with more than {exc.limit} bytes (max_response_bytes)", None)
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
        self, response: HttpResponse | StreamingHttpResponse, body: bytes, attempt: int
    ) -> float:
        """Seconds to wait before retrying after an error status, or raise."""
        status = response.status
        if response.is_redirect:
            self._refuse_redirect(response)
        retry_after = _parse_retry_after(response.headers)
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
        message_of_provider = provider_message(status, body, self._redact)
        tries = f" (gave up after {attempt} attempts)" if attempt > 1 else ""
        message = f"{self._label} answered HTTP {status}: {message_of_provider}{tries}"
        if status == 429:
            raise RateLimitError(
                message,
                status=status,
                provider_message=message_of_provider,
                attempts=attempt,
                retry_after=retry_after,
            )
        raise ModelHTTPError(message, status=status, provider_message=message_of_provider, attempts=attempt)

    def _refuse_redirect(self, response: HttpResponse | StreamingHttpResponse) -> NoReturn:
        location = response.header("location")
        if location is not None:
            location = self._redact(" ".join(location.split()))[:_MAX_SHOWN_LOCATION]
        where = f" to {location}" if location else " (the browser does not show where)"
        status = response.status or None
        code = f"HTTP {status}" if status else "a redirect"
        raise ModelRedirectError(
            f"{self._label} answered {code}{where}: model calls never follow redirects, so that "
            "the API key and the conversation go to base_url's origin only; set base_url to "
            "the final address",
            status=status,
            location=location,
        )

    def _fail(self, what: str, status: int | None) -> NoReturn:
        raise ModelError(self._redact(f"{self._label} {what}"), status=status)

    def _checked(self, parse: Callable[..., _T], *args: Any, status: int) -> _T:
        """``parse(*args)``, with a malformed answer turned into a ``ModelError``.

        The error is raised after the handler has ended, so it carries no ``__context__``
        (the parser's exception may hold the server's text, and with it an echoed key).
        """
        try:
            return parse(*args)
        except BadAnswer as exc:
            problem = exc
        except UnicodeDecodeError:
            problem = BadAnswer("sent bytes that are not UTF-8 text")
        self._fail(problem.what, problem.code if problem.reported else status)

    def _parse_completion(self, response: HttpResponse) -> CompletionResponse:
        if len(response.body) > self._max_response_bytes:
            self._fail(f"answered with more than {self._max_response_bytes} bytes (max_response_bytes)", None)
        data = loads_json(response.body)
        if is_invalid(data):
            self._fail("answered with a body that is not JSON (UTF-8)", response.status)
        return self._checked(
            completion_from, data, response.status, self._model, self._redact, status=response.status
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
        status = response.status
        limit = self._max_response_bytes
        content_type = (response.header("content-type") or "").lower()
        if "text/event-stream" not in content_type and "json" in content_type:
            # The server ignored "stream": true and sent one JSON answer: pass it on whole.
            body = await _read_at_most(response, limit + 1)
            result = self._parse_completion(HttpResponse(status, response.headers, body))
            if result.content:
                await _call(on_chunk, CompletionChunk(result.content, 0))
            return result
        state = StreamState(status, self._redact)
        parser = SSEParser(errors="strict")
        received = 0
        while True:
            piece = await self._read_piece(response)
            received += len(piece)
            if received > limit:
                self._fail(f"sent a stream of more than {limit} bytes (max_response_bytes)", status)
            if piece:
                events = self._checked(parser.feed, piece, status=status)
            else:
                events = self._checked(parser.close, status=status)
            for event in events:
                delta = self._checked(state.handle, event, status=status)
                if delta:
                    await _call(on_chunk, CompletionChunk(delta, state.pieces - 1))
                if state.done:
                    break  # "[DONE]": whatever follows is not read
            if state.done or not piece:
                break
        if not state.events:
            self._fail("ended the stream without sending any event", status)
        return self._checked(state.result, self._model, status=status)
