"""HTTP for Pyodide: the browser's ``fetch``.

This is the only module of blazen_py that imports ``js`` and ``pyodide``. Requests go
through ``fetch`` (so they obey the page's CORS rules and its origin); a streamed body is
read chunk by chunk through ``response.body.getReader()`` as the network delivers it.
Timeouts are JS timers that abort the request with an ``AbortController``, so nothing
keeps running in the browser after Python gave up on it.

JS objects: the JS callables used on every request are looked up once, at import. No
Python object is ever handed to JS as a proxy (``to_js(..., create_pyproxies=False)``),
so there is no PyProxy to destroy; the JsProxies this module holds (response, reader,
abort controller) are dropped as soon as a request is done, the reader's lock is
released, and an unfinished body is cancelled and its request aborted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, TypeVar

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from ._types import HttpResponse, StreamingHttpResponse, TransportError, TransportTimeoutError

__all__ = ["http_request", "http_stream", "patch_http"]

_T = TypeVar("_T")

# Looked up once: every `js.X` access crosses into JS and costs ~20 µs.
_fetch: Any = js.fetch
_object_from_entries: Any = js.Object.fromEntries
_AbortController: Any = js.AbortController
_set_timeout: Any = js.setTimeout
_clear_timeout: Any = js.clearTimeout


def _init(method: str, headers: Mapping[str, str] | None, body: bytes | None, signal: Any) -> Any:
    """Build the ``RequestInit`` object for ``fetch``."""
    init: dict[str, Any] = {"method": method, "headers": dict(headers or {}), "signal": signal}
    if body is not None:
        init["body"] = body  # converted to a Uint8Array (a copy)
    return to_js(init, dict_converter=_object_from_entries, create_pyproxies=False)


def _headers_of(response: Any) -> dict[str, str]:
    entries = _object_from_entries(response.headers)
    headers: dict[str, str] = entries.to_py()
    return headers


async def _guard(
    awaitable: Awaitable[_T], seconds: float | None, controller: Any, method: str, url: str
) -> _T:
    """Await a JS promise with a timeout, turning JS failures into the seam's errors.

    The timeout is a JS timer that aborts the request (so the browser stops it too), not
    an asyncio timer: Pyodide's event loop cannot clear its timers, and in Node a pending
    one keeps the process alive until it fires. On cancellation the request is aborted
    as well, and the rejection that follows is retrieved and dropped.
    """
    timer = None if seconds is None else _set_timeout(controller.abort.bind(controller), seconds * 1000.0)
    future = asyncio.ensure_future(awaitable)
    try:
        return await future
    except asyncio.CancelledError:
        _abandon(future, controller)
        raise
    except JsException as exc:
        if seconds is not None and controller.signal.aborted:
            raise TransportTimeoutError(f"{method} {url} timed out after {seconds:g} s") from None
        # fetch rejects with a TypeError for refused connections, DNS failures and CORS
        # blocks alike; the browser does not tell them apart.
        raise TransportError(f"{method} {url} failed: {exc}") from None
    finally:
        if timer is not None:
            _clear_timeout(timer)


def _abandon(future: asyncio.Future[Any], controller: Any) -> None:
    """Abort the request behind ``future`` and swallow the rejection that follows."""
    with contextlib.suppress(JsException):
        controller.abort()
    _drop(future)


def _drop(future: asyncio.Future[Any]) -> None:
    """Retrieve a future's outcome whenever it comes, so no rejection goes unseen."""
    if future.done():
        _retrieve(future)
    else:
        future.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def http_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - it also aborts the platform's request
) -> HttpResponse:
    """Send an HTTP request with ``fetch`` and read the whole response.

    Args:
        method: HTTP method, e.g. ``"GET"`` or ``"POST"``.
        url: Absolute URL (or one relative to the page).
        headers: Request headers. The browser forbids some (``User-Agent``, ``Host``).
        body: Request body, or ``None``.
        timeout: Seconds the whole request may take; ``None`` waits forever.

    Returns:
        The response, whatever its status.

    Raises:
        TransportError: No response (connection refused, DNS failure, CORS block).
        TransportTimeoutError: The request took longer than ``timeout``.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    controller = _AbortController.new()
    response = await _guard(
        _fetch(url, _init(method, headers, body, controller.signal)),
        timeout,
        controller,
        method,
        url,
    )
    status = int(response.status)
    response_headers = _headers_of(response)
    final_url = str(response.url or url)
    remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
    buffer = await _guard(response.arrayBuffer(), remaining, controller, method, url)
    data: bytes = buffer.to_bytes()
    del buffer, response, controller
    return HttpResponse(status, response_headers, data, final_url)


class _FetchStreamingResponse(StreamingHttpResponse):
    __slots__ = ("_controller", "_method", "_reader", "_timeout")

    def __init__(self, response: Any, controller: Any, method: str, url: str, timeout: float | None) -> None:
        super().__init__(int(response.status), _headers_of(response), str(response.url or url))
        body = response.body
        # A body-less response (204, HEAD) has `body === null`.
        self._reader: Any = body.getReader() if body else None
        self._controller: Any = controller
        self._method = method
        self._timeout = timeout

    async def _read_chunk(self) -> bytes:
        reader = self._reader
        while reader is not None:
            result = await _guard(reader.read(), self._timeout, self._controller, self._method, self.url)
            if result.done:
                self._release(cancel=False)
                return b""
            value = result.value
            data: bytes = value.to_bytes()
            del value, result
            if data:
                return data
        return b""

    def _release(self, *, cancel: bool) -> None:
        reader, self._reader = self._reader, None
        controller, self._controller = self._controller, None
        if reader is not None:
            with contextlib.suppress(JsException):
                if cancel:
                    _drop(asyncio.ensure_future(reader.cancel()))
                reader.releaseLock()
        if cancel and controller is not None:
            with contextlib.suppress(JsException):
                controller.abort()

    async def _close(self) -> None:
        self._release(cancel=not self._eof)


@contextlib.asynccontextmanager
async def http_stream(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - it also aborts the platform's request
) -> AsyncIterator[StreamingHttpResponse]:
    """Send an HTTP request with ``fetch`` and read its body through a ReadableStream.

    Use as ``async with http_stream("POST", url, body=...) as response:``, then
    ``async for chunk in response``. Leaving the block cancels an unfinished body.

    Args:
        method: HTTP method.
        url: Absolute URL (or one relative to the page).
        headers: Request headers.
        body: Request body, or ``None``.
        timeout: Seconds to wait for the response to start, and then for each piece
            of the body (an idle timeout); ``None`` waits forever.

    Yields:
        The response, whatever its status, with its body not yet read.

    Raises:
        TransportError: No response, or the connection failed while reading.
        TransportTimeoutError: The response or a piece of its body took too long.
    """
    controller = _AbortController.new()
    raw = await _guard(
        _fetch(url, _init(method, headers, body, controller.signal)),
        timeout,
        controller,
        method,
        url,
    )
    response = _FetchStreamingResponse(raw, controller, method, url, timeout)
    del raw, controller
    try:
        yield response
    finally:
        await response.aclose()


_patched: bool | None = None


def patch_http() -> bool:
    """Apply ``pyodide_http.patch_all()`` once, so ``requests`` and ``urllib`` use fetch.

    User steps can then call ``requests.get(...)`` or ``urllib.request.urlopen(...)`` in
    the browser. Safe to call many times.

    Returns:
        Whether the patch is in place (``False`` when ``pyodide_http`` is not installed).
    """
    global _patched
    if _patched is None:
        try:
            import pyodide_http  # type: ignore[import-not-found]
        except ImportError:
            return False
        pyodide_http.patch_all()
        _patched = True
    return _patched
