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

Redirects: a request with ``follow_redirects=False`` (every model call) is fetched with
``redirect: "manual"``, so the browser never sends it on; what comes back is an opaque
redirect (status 0, no headers), reported as such. One that follows uses ``redirect:
"follow"``: the browser drops ``Authorization`` on a hop to another origin (the Fetch
standard; checked in Chromium 156 by tests/browser/test_llm_browser.py), but it would send
any other header on, so a request with another credential header (``X-Api-Key``, ...)
is not followed either.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, create_once_callable, to_js  # type: ignore[import-not-found]

from ._types import (
    HttpRequest,
    HttpResponse,
    ResponseTooLargeError,
    StreamingHttpResponse,
    TransportError,
    TransportTimeoutError,
    is_credential_header,
)

__all__ = ["FetchTransport", "page_yield", "patch_http", "yield_to_host"]

_T = TypeVar("_T")

# Looked up once: every `js.X` access crosses into JS and costs ~20 µs.
_fetch: Any = js.fetch
_object_from_entries: Any = js.Object.fromEntries
_AbortController: Any = js.AbortController
_set_timeout: Any = js.setTimeout
_clear_timeout: Any = js.clearTimeout


def _follows(request: HttpRequest) -> bool:
    """Whether fetch may follow this request's redirects without carrying a secret along.

    fetch drops ``Authorization`` on a hop to another origin, but no other header: a
    request with another credential header (``X-Api-Key``, ...) does not follow at all.
    """
    return request.follow_redirects and not any(
        is_credential_header(name) and name.lower() != "authorization" for name in request.headers
    )


def _init(request: HttpRequest, signal: Any) -> Any:
    """Build the ``RequestInit`` object for ``fetch``."""
    init: dict[str, Any] = {
        "method": request.method,
        "headers": dict(request.headers),
        "signal": signal,
        "redirect": "follow" if _follows(request) else "manual",
    }
    if request.body is not None:
        init["body"] = request.body  # converted to a Uint8Array (a copy)
    return to_js(init, dict_converter=_object_from_entries, create_pyproxies=False)


def _headers_of(response: Any) -> dict[str, str]:
    entries = _object_from_entries(response.headers)
    headers: dict[str, str] = entries.to_py()
    return headers


async def _guard(
    awaitable: Awaitable[_T], seconds: float | None, controller: Any, request: HttpRequest
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
            raise TransportTimeoutError(
                f"{request.method} {request.url} timed out after {request.timeout:g} s"
            ) from None
        # fetch rejects with a TypeError for refused connections, DNS failures and CORS
        # blocks alike; the browser does not tell them apart.
        raise TransportError(f"{request.method} {request.url} failed: {exc}") from None
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


class _FetchStreamingResponse(StreamingHttpResponse):
    """A fetch response's body, read through its ReadableStream's reader.

    Each read waits at most ``idle`` seconds, and never past ``deadline`` (a
    ``time.monotonic()`` time), whichever comes first.
    """

    __slots__ = ("_controller", "_deadline", "_idle", "_reader", "_request")

    def __init__(
        self, response: Any, controller: Any, request: HttpRequest, idle: float | None, deadline: float | None
    ) -> None:
        opaque = str(response.type) == "opaqueredirect"
        headers = {} if opaque else _headers_of(response)
        super().__init__(int(response.status), headers, str(response.url or request.url))
        body = None if opaque else response.body
        # A body-less response (204, HEAD, an opaque redirect) has `body === null`.
        self._reader: Any = body.getReader() if body else None
        self._controller: Any = controller
        self._request = request
        self._idle = idle
        self._deadline = deadline

    def _wait(self) -> float | None:
        if self._deadline is None:
            return self._idle
        remaining = max(self._deadline - time.monotonic(), 0.0)
        return remaining if self._idle is None else min(remaining, self._idle)

    async def _read_chunk(self) -> bytes:
        reader = self._reader
        while reader is not None:
            result = await _guard(reader.read(), self._wait(), self._controller, self._request)
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


async def _start(request: HttpRequest, *, total: bool) -> _FetchStreamingResponse:
    """Fetch until the response's head arrives; the body is read later, bounded in time."""
    deadline = None if not total or request.timeout is None else time.monotonic() + request.timeout
    controller = _AbortController.new()
    raw = await _guard(
        _fetch(request.url, _init(request, controller.signal)), request.timeout, controller, request
    )
    response = _FetchStreamingResponse(raw, controller, request, None if total else request.timeout, deadline)
    del raw, controller
    return response


async def _read_limited(response: StreamingHttpResponse, request: HttpRequest) -> bytes:
    limit = request.max_body_bytes
    if limit is not None:
        declared = response.header("content-length")
        if declared and declared.strip().isdigit() and int(declared) > limit:
            raise ResponseTooLargeError(f"{request.url} announced a body of over {limit} bytes", limit)
    parts: list[bytes] = []
    size = 0
    while chunk := await response.read_chunk():
        size += len(chunk)
        if limit is not None and size > limit:
            raise ResponseTooLargeError(f"{request.url} sent a body of over {limit} bytes", limit)
        parts.append(chunk)
    return b"".join(parts)


class FetchTransport:
    """The Pyodide transport: the browser's (or Node's) ``fetch``.

    Requests obey the page's CORS rules and its origin; timeouts are JS timers that abort
    the request with an ``AbortController``. One instance serves every model; see
    :class:`Transport`.
    """

    __slots__ = ()

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send a request with ``fetch`` and read the whole response.

        Args:
            request: The request; its ``timeout`` bounds the whole exchange. The browser
                forbids some headers (``User-Agent``, ``Host``).

        Returns:
            The response, whatever its status (0 for a redirect not followed).

        Raises:
            TransportError: No response (connection refused, DNS failure, CORS block).
            TransportTimeoutError: The request took longer than its ``timeout``.
            ResponseTooLargeError: The body is longer than ``max_body_bytes``.
        """
        response = await _start(request, total=True)
        try:
            body = await _read_limited(response, request)
        finally:
            await response.aclose()
        return HttpResponse(response.status, response.headers, body, response.url)

    @contextlib.asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamingHttpResponse]:
        """As :meth:`Transport.stream`: ``fetch``, the body read through its ReadableStream.

        Leaving the ``async with`` block cancels an unfinished body and aborts the request.
        """
        response = await _start(request, total=False)
        try:
            yield response
        finally:
            await response.aclose()

    def __repr__(self) -> str:
        return "FetchTransport()"


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


# -- yielding to the host ------------------------------------------------------------------

# Pyodide's loop runs every callback as a JS task (a MessageChannel task in Chromium). A
# task that posts its own continuation runs again before due timers and animation frames:
# a long run yielding with call_soon alone freezes the page. A setTimeout(0) task is a
# real yield, but nested timeouts are clamped to >= 4 ms, so one is used at most every
# _PAGE_YIELD_EVERY seconds and call_soon in between (foreign asyncio callbacks get in
# either way). Node runs timers between setImmediate tasks: call_soon is enough there.
_PAGE_YIELD_EVERY = 0.010
_last_page_yield = 0.0
_in_page: bool | None = None  # decided at the first yield: a memory snapshot made in a
# page may be restored elsewhere, so nothing about the host is fixed at import


def _host_is_page() -> bool:
    process = getattr(js, "process", None)
    versions = getattr(process, "versions", None) if process is not None else None
    return not (versions is not None and hasattr(versions, "node"))


def _page_hidden() -> bool:
    document = getattr(js, "document", None)
    return bool(document is not None and getattr(document, "hidden", False))


def _page_turn_due() -> bool:
    """Whether the next yield must be a ``setTimeout(0)``: in a visible page, at most every
    ``_PAGE_YIELD_EVERY`` seconds (this call starts the next period when it says yes)."""
    global _in_page, _last_page_yield
    if _in_page is None:
        _in_page = _host_is_page()
    if not _in_page:
        return False
    now = time.perf_counter()
    # A hidden page draws no frames and its timers are throttled (to 1 s and more):
    # a setTimeout yield there would only stall the run.
    if now - _last_page_yield >= _PAGE_YIELD_EVERY and not _page_hidden():
        _last_page_yield = now
        return True
    return False


def yield_to_host(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """Run ``callback`` later, after the host (timers, frames, input) had its turn.

    In a page: when the last such yield is ``_PAGE_YIELD_EVERY`` old, a ``setTimeout(0)``
    that then hands ``callback`` to ``loop.call_soon``; else ``loop.call_soon`` at once. In
    Node: ``loop.call_soon``. Always through the loop, so the callback runs as a loop
    callback (errors to the loop's exception handler) and, with the fast loop installed,
    waits its turn in the ready queue behind callbacks scheduled before it.
    """
    page_yield(loop.call_soon, callback)


def page_yield(soon: Callable[[Callable[[], object]], object], callback: Callable[[], object]) -> None:
    """Schedule ``callback`` with ``soon`` (a loop's ``call_soon``), after a ``setTimeout(0)``
    when a page turn is due (see :func:`yield_to_host`). The fast loop's yield, with Pyodide's
    own ``call_soon``, so it shares the dispatcher's clock."""
    if _page_turn_due():

        def turn() -> None:
            # Returns None: the Handle `soon` returns, handed back to JS, would become a
            # PyProxy nobody destroys, keeping the Handle and its run alive.
            soon(callback)

        # A once-callable destroys its own PyProxy when setTimeout calls it.
        _set_timeout(create_once_callable(turn), 0)
        return
    soon(callback)
