"""HTTP for CPython: the standard library, run off the event loop.

Every blocking call (connect, send, each read of a body) runs in the loop's default
executor, so the event loop keeps running other steps while a request is in flight. The
socket timeout bounds each of those calls, so an executor thread never waits forever,
even when the coroutine that started it was cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import IO, Any

from ._types import HttpResponse, StreamingHttpResponse, TransportError, TransportTimeoutError

__all__ = ["http_request", "http_stream", "patch_http"]

_CHUNK_SIZE = 65536
_opener = urllib.request.build_opener()


def _headers_of(message: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _transport_error(exc: BaseException, method: str, url: str) -> TransportError:
    """Translate a standard-library failure into the seam's error classes."""
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return TransportTimeoutError(f"{method} {url} timed out")
    text = str(reason) or type(reason).__name__
    return TransportError(f"{method} {url} failed: {text}")


def _open(
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    timeout: float | None,
) -> Any:
    """Blocking: send the request and return the open response (error statuses too)."""
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    try:
        if timeout is None:
            return _opener.open(request)
        return _opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        # An error status is a response, not a failure of the transport.
        return exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _transport_error(exc, method, url) from exc


def _read_all(response: IO[bytes], method: str, url: str) -> bytes:
    try:
        return response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise _transport_error(exc, method, url) from exc
    finally:
        response.close()


def _request_blocking(
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    timeout: float | None,
) -> HttpResponse:
    response = _open(method, url, headers, body, timeout)
    status = int(response.status if response.status is not None else response.code)
    response_headers = _headers_of(response.headers)
    final_url = str(response.geturl() or url)
    data = _read_all(response, method, url)
    return HttpResponse(status, response_headers, data, final_url)


async def http_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - it also aborts the platform's request
) -> HttpResponse:
    """Send an HTTP request and read the whole response, without blocking the loop.

    Args:
        method: HTTP method, e.g. ``"GET"`` or ``"POST"``.
        url: Absolute ``http://`` or ``https://`` URL.
        headers: Request headers.
        body: Request body, or ``None``.
        timeout: Seconds the whole request may take; ``None`` waits forever.

    Returns:
        The response, whatever its status.

    Raises:
        TransportError: No response (connection refused, DNS failure, reset).
        TransportTimeoutError: The request took longer than ``timeout``.
    """
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, _request_blocking, method, url, headers, body, timeout)
    if timeout is None:
        return await future
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise TransportTimeoutError(f"{method} {url} timed out after {timeout:g} s") from None


class _NativeStreamingResponse(StreamingHttpResponse):
    __slots__ = ("_method", "_response")

    def __init__(self, response: Any, method: str, url: str) -> None:
        status = int(response.status if response.status is not None else response.code)
        super().__init__(status, _headers_of(response.headers), str(response.geturl() or url))
        self._response = response
        self._method = method

    def _read1(self) -> bytes:
        try:
            data: bytes = self._response.read1(_CHUNK_SIZE)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise _transport_error(exc, self._method, self.url) from exc
        return data

    async def _read_chunk(self) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._read1)

    async def _close(self) -> None:
        self._response.close()


@contextlib.asynccontextmanager
async def http_stream(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - it also aborts the platform's request
) -> AsyncIterator[StreamingHttpResponse]:
    """Send an HTTP request and read its body as it arrives.

    Use as ``async with http_stream("POST", url, body=...) as response:``, then
    ``async for chunk in response``. Leaving the block closes the connection.

    Args:
        method: HTTP method.
        url: Absolute ``http://`` or ``https://`` URL.
        headers: Request headers.
        body: Request body, or ``None``.
        timeout: Seconds to wait for the response to start, and then for each piece
            of the body (an idle timeout: a long stream that keeps sending is fine);
            ``None`` waits forever.

    Yields:
        The response, whatever its status, with its body not yet read.

    Raises:
        TransportError: No response, or the connection failed while reading.
        TransportTimeoutError: The response or a piece of its body took too long.
    """
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, _open, method, url, headers, body, timeout)
    try:
        raw = await (future if timeout is None else asyncio.wait_for(future, timeout))
    except TimeoutError:
        raise TransportTimeoutError(f"{method} {url} timed out after {timeout:g} s") from None
    response = _NativeStreamingResponse(raw, method, url)
    try:
        yield response
    finally:
        await response.aclose()


def patch_http() -> bool:
    """Make ``requests`` and ``urllib`` work in the browser; nothing to do on CPython.

    Returns:
        ``False``: no patching was applied (none is needed here).
    """
    return False
