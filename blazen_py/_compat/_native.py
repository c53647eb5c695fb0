"""HTTP for CPython: the standard library, run off the event loop.

Every blocking call (connect, send, each read of a body) runs in the loop's default
executor, so the event loop keeps running other steps while a request is in flight. The
socket timeout bounds each of those calls, so an executor thread never waits forever,
even when the coroutine that started it was cancelled.

Redirects: a request with ``follow_redirects=False`` gets the 3xx answer itself (urllib's
default handler would follow it, ``Authorization`` included, to any host). One that
follows drops every header that may carry a credential on a hop to another origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import IO, Any

from ._timeout import within
from ._types import (
    HttpRequest,
    HttpResponse,
    ResponseTooLargeError,
    StreamingHttpResponse,
    TransportError,
    TransportTimeoutError,
    is_credential_header,
    same_origin,
)

__all__ = ["UrllibTransport", "patch_http", "yield_to_host"]

_CHUNK_SIZE = 65536


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow: urllib then raises the 3xx as an HTTPError, returned as the response."""

    def redirect_request(self, *args: Any) -> None:
        return None


class _SameOriginCredentials(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but credentials stay with the origin they were meant for."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and not same_origin(req.full_url, new.full_url):
            for name in [n for n in new.headers if is_credential_header(n)]:
                del new.headers[name]
            for name in [n for n in new.unredirected_hdrs if is_credential_header(n)]:
                del new.unredirected_hdrs[name]
        return new


_openers = {
    False: urllib.request.build_opener(_NoRedirects),
    True: urllib.request.build_opener(_SameOriginCredentials),
}


def _headers_of(message: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _transport_error(exc: BaseException, request: HttpRequest) -> TransportError:
    """Translate a standard-library failure into the seam's error classes."""
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return TransportTimeoutError(f"{request.method} {request.url} timed out")
    text = str(reason) or type(reason).__name__
    return TransportError(f"{request.method} {request.url} failed: {text}")


def _open(request: HttpRequest) -> Any:
    """Blocking: send the request and return the open response (error statuses too)."""
    raw = urllib.request.Request(
        request.url, data=request.body, headers=request.headers, method=request.method
    )
    opener = _openers[bool(request.follow_redirects)]
    try:
        if request.timeout is None:
            return opener.open(raw)
        return opener.open(raw, timeout=request.timeout)
    except urllib.error.HTTPError as exc:
        # An error status (or a redirect not followed) is a response, not a failure.
        return exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _transport_error(exc, request) from exc


def _status_of(response: Any) -> int:
    return int(response.status if response.status is not None else response.code)


def _read_all(response: Any, request: HttpRequest) -> bytes:
    limit = request.max_body_bytes
    try:
        if limit is None:
            data: bytes = response.read()
            return data
        declared = response.headers.get("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > limit:
            raise ResponseTooLargeError(f"{request.url} announced a body of over {limit} bytes", limit)
        data = response.read(limit + 1)
        if len(data) > limit:
            raise ResponseTooLargeError(f"{request.url} sent a body of over {limit} bytes", limit)
        return data
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, TransportError):
            raise
        raise _transport_error(exc, request) from exc
    finally:
        response.close()


def _send_blocking(request: HttpRequest) -> HttpResponse:
    response = _open(request)
    status = _status_of(response)
    headers = _headers_of(response.headers)
    final_url = str(response.geturl() or request.url)
    return HttpResponse(status, headers, _read_all(response, request), final_url)


class _NativeStreamingResponse(StreamingHttpResponse):
    __slots__ = ("_request", "_response")

    def __init__(self, response: Any, request: HttpRequest) -> None:
        super().__init__(
            _status_of(response), _headers_of(response.headers), str(response.geturl() or request.url)
        )
        self._response = response
        self._request = request

    def _read1(self) -> bytes:
        try:
            data: bytes = self._response.read1(_CHUNK_SIZE)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise _transport_error(exc, self._request) from exc
        return data

    async def _read_chunk(self) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._read1)

    async def _close(self) -> None:
        self._response.close()


class UrllibTransport:
    """The CPython transport: ``urllib.request`` in the loop's default executor.

    One instance serves every model (it holds no connection); see :class:`Transport`.
    """

    __slots__ = ()

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send a request and read the whole response, without blocking the loop.

        Args:
            request: The request; its ``timeout`` bounds the whole exchange.

        Returns:
            The response, whatever its status.

        Raises:
            TransportError: No response (connection refused, DNS failure, reset).
            TransportTimeoutError: The request took longer than its ``timeout``.
            ResponseTooLargeError: The body is longer than ``max_body_bytes``.
        """
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, _send_blocking, request)
        return await within(future, request.timeout, f"{request.method} {request.url}")

    @contextlib.asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamingHttpResponse]:
        """Send a request and read its body as it arrives.

        Args:
            request: The request; its ``timeout`` bounds the wait for the response to
                start, and then each read of the body (an idle timeout).

        Yields:
            The response, whatever its status, with its body not yet read.

        Raises:
            TransportError: No response, or the connection failed while reading.
            TransportTimeoutError: The response or a piece of its body took too long.
        """
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, _open, request)
        raw = await within(future, request.timeout, f"{request.method} {request.url}")
        response = _NativeStreamingResponse(raw, request)
        try:
            yield response
        finally:
            await response.aclose()

    def __repr__(self) -> str:
        return "UrllibTransport()"


def patch_http() -> bool:
    """Make ``requests`` and ``urllib`` work in the browser; nothing to do on CPython.

    Returns:
        ``False``: no patching was applied (none is needed here).
    """
    return False


def yield_to_host(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """Run ``callback`` later, after the loop's other ready callbacks: ``call_soon``.

    On CPython every ready callback and due timer runs before a ``call_soon`` callback
    scheduled now, so nothing more is needed to let them in.
    """
    loop.call_soon(callback)
