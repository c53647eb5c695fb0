"""Transports for models: the platform's by default, a mock for tests, or your own.

A :class:`~blazen_py.llm.CompletionModel` sends every request through a *transport*, an
object with two methods (the :class:`Transport` protocol, as httpx's transports are
objects): ``await transport.send(request)`` returns a whole :class:`HttpResponse`, and
``async with transport.stream(request) as response`` gives a
:class:`StreamingHttpResponse` whose body is read as it arrives. The default is the
platform's (``urllib`` on CPython, ``fetch`` in Pyodide), chosen once in
:mod:`blazen_py._compat`; give a model another with ``transport=`` or
:meth:`~blazen_py.llm.CompletionModel.with_transport`.

:class:`MockTransport` answers from a function, so model code is tested with no socket.
A wrapper holding another transport (one that records each exchange, or one that replays
recorded ones) implements the same two methods; :meth:`HttpRequest.public_headers` is
what such a recording may keep of a request.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from .._compat import (
    TRANSPORT,
    HttpRequest,
    HttpResponse,
    ResponseTooLargeError,
    StreamingHttpResponse,
    Transport,
)
from .._compat._timeout import within

__all__ = ["MockHandler", "MockTransport", "default_transport"]

_T = TypeVar("_T")

#: What :class:`MockTransport` calls: a request in, a response out (sync or async).
MockHandler = Callable[
    [HttpRequest],
    "HttpResponse | StreamingHttpResponse | Awaitable[HttpResponse | StreamingHttpResponse]",
]


def default_transport() -> Transport:
    """The platform's transport: ``urllib`` on CPython, ``fetch`` in Pyodide.

    Returns:
        The one instance every model uses unless given another.
    """
    return TRANSPORT


async def _within(awaitable: Awaitable[_T], request: HttpRequest) -> _T:
    return await within(awaitable, request.timeout, f"{request.method} {request.url}")


class _TimedStream(StreamingHttpResponse):
    """A mock's streamed body: each read waits at most the request's timeout, as a socket would."""

    __slots__ = ("_request", "_source")

    def __init__(self, source: StreamingHttpResponse, request: HttpRequest) -> None:
        super().__init__(source.status, source.headers, source.url or request.url)
        self._source = source
        self._request = request

    async def _read_chunk(self) -> bytes:
        return await _within(self._source.read_chunk(), self._request)

    async def _close(self) -> None:
        await self._source.aclose()


class MockTransport:
    """A transport that answers every request with ``handler(request)``: no network at all.

    The handler returns an :class:`HttpResponse` (a whole body) or a
    :class:`StreamingHttpResponse` made from ``chunks`` (a list of ``bytes``, or an async
    generator, which may wait between pieces or never end), whichever the call was; each
    is turned into what the caller asked for. It may be a coroutine function, and may raise
    :class:`TransportError` to act as a failed connection. The request's ``timeout`` and
    ``max_body_bytes`` apply as in the platform's transports: a handler or a piece of body
    that takes longer raises :class:`TransportTimeoutError`. Redirects are never followed:
    a 3xx the handler returns is the response.

    Example:
        >>> import json
        >>> def handler(request):
        ...     reply = {"choices": [{"message": {"role": "assistant", "content": "Hi"}}]}
        ...     return HttpResponse(200, {"content-type": "application/json"}, json.dumps(reply).encode())
        >>> transport = MockTransport(handler)
        >>> model = CompletionModel.openai_compatible(base_url="http://llm.test/v1", model="m")
        >>> model = model.with_transport(transport)
        >>> # (await model.complete([ChatMessage.user("Hello")])).content == "Hi"

    Attributes:
        requests: Every request received, in order (headers as sent, ``Authorization``
            included: it is your test's own record).
    """

    __slots__ = ("_handler", "requests")

    def __init__(self, handler: MockHandler) -> None:
        """Create the transport.

        Args:
            handler: Called once per request with the :class:`HttpRequest`.
        """
        if not callable(handler):
            raise TypeError("MockTransport needs a function: handler(request) -> response")
        self._handler = handler
        self.requests: list[HttpRequest] = []

    async def _answer(self, request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, (HttpResponse, StreamingHttpResponse)):
            raise TypeError(
                f"a MockTransport handler must return an HttpResponse or a StreamingHttpResponse, "
                f"not {type(answer).__name__}"
            )
        return answer

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Answer ``request`` with a whole body; see :class:`Transport`.

        Args:
            request: The request.

        Returns:
            The handler's response (a streamed one read to its end).

        Raises:
            TransportTimeoutError: The handler, or its body, took longer than ``timeout``.
            ResponseTooLargeError: The body is longer than ``max_body_bytes``.
        """
        return await _within(self._exchange(request), request)

    async def _exchange(self, request: HttpRequest) -> HttpResponse:
        answer = await self._answer(request)
        if isinstance(answer, HttpResponse):
            body = answer.body
        else:
            body = await _read_at_most(answer, request.max_body_bytes, request)
        limit = request.max_body_bytes
        if limit is not None and len(body) > limit:
            raise ResponseTooLargeError(f"{request.url} sent a body of over {limit} bytes", limit)
        return HttpResponse(answer.status, answer.headers, body, answer.url or request.url)

    @contextlib.asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamingHttpResponse]:
        """Answer ``request`` with a body read piece by piece; see :class:`Transport`.

        Args:
            request: The request.

        Yields:
            The handler's response (a whole one served as a single piece).

        Raises:
            TransportTimeoutError: The handler, or the next piece, took longer than ``timeout``.
        """
        answer = await _within(self._answer(request), request)
        if isinstance(answer, HttpResponse):
            answer = StreamingHttpResponse(answer.status, answer.headers, answer.url, chunks=[answer.body])
        response = _TimedStream(answer, request)
        try:
            yield response
        finally:
            await response.aclose()

    def __repr__(self) -> str:
        return f"MockTransport({len(self.requests)} requests)"


async def _read_at_most(response: StreamingHttpResponse, limit: int | None, request: HttpRequest) -> bytes:
    parts: list[bytes] = []
    size = 0
    try:
        while chunk := await response.read_chunk():
            size += len(chunk)
            if limit is not None and size > limit:
                raise ResponseTooLargeError(f"{request.url} sent a body of over {limit} bytes", limit)
            parts.append(chunk)
    finally:
        await response.aclose()
    return b"".join(parts)
