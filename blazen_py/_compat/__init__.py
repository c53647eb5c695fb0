"""The one seam between blazen_py and the platform it runs on.

Modelled on micropip's ``_compat``: whether we run in Pyodide (CPython compiled to
WebAssembly, in a browser or Node) is decided once, here, and the matching implementation
is re-exported. Only this package may import ``js`` or ``pyodide``; everything else in
blazen_py imports from here and stays platform-neutral.

Exports:
    IN_PYODIDE: ``True`` when running in Pyodide.
    TRANSPORT: The platform's :class:`Transport` (``urllib`` on CPython, ``fetch`` in
        Pyodide), made once; what a model uses unless it is given another.
    http_request: ``await http_request(method, url, headers=..., body=..., timeout=...)``
        returns an :class:`HttpResponse` (status, headers, body bytes) for any status.
    http_stream: ``async with http_stream(...) as response: async for chunk in response``
        reads a response body as it arrives.
    patch_http: Make ``requests``/``urllib`` usable in the browser (``pyodide_http``);
        a no-op on CPython.
    TransportError, TransportTimeoutError, ResponseTooLargeError: raised when no
        (acceptable) response arrives in time.
    IndexedDBStore: the browser's snapshot store (on CPython, creating one raises
        StoreError).
    yield_to_host: ``yield_to_host(loop, callback)`` runs ``callback`` after the host had
        its turn: a ``setTimeout(0)`` at most every ~10 ms in a page (where a MessageChannel
        task lets no timer or frame in) that then hands it to ``loop.call_soon``,
        ``loop.call_soon`` otherwise. The dispatcher's only way to yield during a long run.
    install_fast_loop, uninstall_fast_loop: the opt-in ready queue of the page's event loop
        (``blazen_py.install_fast_loop``); no-ops on CPython.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager

from .. import runtime as _runtime
from ._types import (
    HttpRequest,
    HttpResponse,
    ResponseTooLargeError,
    StreamingHttpResponse,
    Transport,
    TransportError,
    TransportTimeoutError,
    is_credential_header,
    same_origin,
)

__all__ = [
    "IN_PYODIDE",
    "TRANSPORT",
    "HttpRequest",
    "HttpResponse",
    "IndexedDBStore",
    "ResponseTooLargeError",
    "StreamingHttpResponse",
    "Transport",
    "TransportError",
    "TransportTimeoutError",
    "http_request",
    "http_stream",
    "install_fast_loop",
    "is_credential_header",
    "patch_http",
    "same_origin",
    "uninstall_fast_loop",
    "yield_to_host",
]

IN_PYODIDE: bool = sys.platform == "emscripten" or "pyodide" in sys.modules

TRANSPORT: Transport
if IN_PYODIDE:
    from ._idb import IndexedDBStore
    from ._pyodide import FetchTransport, patch_http, yield_to_host

    TRANSPORT = FetchTransport()
    # So that user steps can use `requests` / `urllib` in the browser, when the
    # runtime ships pyodide_http; without it this is a cheap no-op.
    patch_http()
else:
    from ._idb_unavailable import IndexedDBStore  # type: ignore[assignment]
    from ._native import UrllibTransport, patch_http, yield_to_host

    TRANSPORT = UrllibTransport()


def install_fast_loop() -> bool:
    """Run the page's asyncio callbacks in batches: one JS task for many, not one each.

    In Pyodide, every ``call_soon`` callback (each step of a Task, each done-callback of a
    Future, each ``await asyncio.sleep(0)``) is its own JS task (~50 µs in Chromium, ~10 µs
    in Node). After this call, the page's event loop keeps a FIFO ready queue, as CPython's
    loop does: one JS task runs the callbacks in the order they were scheduled, those
    scheduled meanwhile included, until the queue is empty or ~1,000 callbacks / ~4 ms are
    spent; then the page gets its turn (a ``setTimeout(0)`` at most every ~10 ms in a
    visible page, so frames, timers and input still get in) and the queue carries on.

    What it keeps: FIFO order of ``call_soon`` callbacks; timers (``call_later``, ``call_at``,
    ``asyncio.sleep(t)``: JS timers, as before); futures settled from JS (awaited Promises);
    cancellation (a cancelled handle is skipped); an exception in a callback is reported to
    the loop's exception handler and the queue goes on; ``run_until_complete`` where
    Pyodide supports it (Chromium). What it changes, for every code of the page: a
    callback no longer lets the browser in between itself and the next one, so JS tasks
    (``setTimeout(0)``, messages, input events) queued meanwhile run after the batch, within
    ~10 ms (~4 ms of a batch when the page is hidden or in Node), not in between; code that
    counts on one ``sleep(0)`` letting a JS callback run should wait for that callback instead.

    Idempotent; undone by :func:`uninstall_fast_loop`. On CPython a no-op (asyncio's loop
    already runs every ready callback in one iteration) that returns ``False``. In
    blazen.js: ``init({fastLoop: true})``.

    Returns:
        ``True`` when this call installed the queue; ``False`` when it was already
        installed, or on CPython.

    Raises:
        TypeError: In Pyodide, the event loop is not Pyodide's ``WebLoop`` (another loop
            was set).
    """
    if not IN_PYODIDE:
        return False
    from . import _fast_loop

    return _fast_loop.install()


def uninstall_fast_loop() -> bool:
    """Give the page's event loop back one JS task per callback (Pyodide's own ``call_soon``).

    Callbacks already queued still run first, in order. On CPython a no-op.

    Returns:
        ``True`` when the ready queue was installed and is now removed; else ``False``.
    """
    if not IN_PYODIDE:
        return False
    from . import _fast_loop

    return _fast_loop.uninstall()


# The dispatcher's budget yields through this platform's hook (see runtime._Parking).
_runtime.set_yield_to_host(yield_to_host)


async def http_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - it also aborts the platform's request
) -> HttpResponse:
    """Send an HTTP request with the platform's transport and read the whole response.

    Redirects are followed; headers that may carry credentials are not sent on to
    another origin.

    Args:
        method: HTTP method, e.g. ``"GET"`` or ``"POST"``.
        url: Absolute ``http://`` or ``https://`` URL (in a browser, also a relative one).
        headers: Request headers.
        body: Request body, or ``None``.
        timeout: Seconds the whole request may take; ``None`` waits forever.

    Returns:
        The response, whatever its status.

    Raises:
        TransportError: No response (connection refused, DNS failure, reset, CORS block).
        TransportTimeoutError: The request took longer than ``timeout``.
    """
    request = HttpRequest(method, url, headers=headers, body=body, timeout=timeout, follow_redirects=True)
    return await TRANSPORT.send(request)


def http_stream(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float | None = None,
) -> AbstractAsyncContextManager[StreamingHttpResponse]:
    """Send an HTTP request and read its body as it arrives (redirects followed, as above).

    Use as ``async with http_stream("POST", url, body=...) as response:``, then
    ``async for chunk in response``. Leaving the block closes the connection.

    Args:
        method: HTTP method.
        url: The URL.
        headers: Request headers.
        body: Request body, or ``None``.
        timeout: Seconds to wait for the response to start, and then for each piece
            of the body (an idle timeout: a long stream that keeps sending is fine);
            ``None`` waits forever.

    Returns:
        An async context manager giving the response, its body not yet read.
    """
    request = HttpRequest(method, url, headers=headers, body=body, timeout=timeout, follow_redirects=True)
    return TRANSPORT.stream(request)
