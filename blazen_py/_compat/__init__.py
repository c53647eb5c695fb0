"""The one seam between blazen_py and the platform it runs on.

Modelled on micropip's ``_compat``: whether we run in Pyodide (CPython compiled to
WebAssembly, in a browser or Node) is decided once, here, and the matching implementation
is re-exported. Only this package may import ``js`` or ``pyodide``; everything else in
blazen_py imports from here and stays platform-neutral.

Exports:
    IN_PYODIDE: ``True`` when running in Pyodide.
    http_request: ``await http_request(method, url, headers=..., body=..., timeout=...)``
        returns an :class:`HttpResponse` (status, headers, body bytes) for any status.
    http_stream: ``async with http_stream(...) as response: async for chunk in response``
        reads a response body as it arrives.
    patch_http: Make ``requests``/``urllib`` usable in the browser (``pyodide_http``);
        a no-op on CPython.
    TransportError, TransportTimeoutError: raised when no response arrives in time.
    IndexedDBStore: the browser's snapshot store (on CPython, creating one raises
        StoreError).
"""

from __future__ import annotations

import sys

from ._types import HttpResponse, StreamingHttpResponse, TransportError, TransportTimeoutError

__all__ = [
    "IN_PYODIDE",
    "HttpResponse",
    "IndexedDBStore",
    "StreamingHttpResponse",
    "TransportError",
    "TransportTimeoutError",
    "http_request",
    "http_stream",
    "patch_http",
]

IN_PYODIDE: bool = sys.platform == "emscripten" or "pyodide" in sys.modules

if IN_PYODIDE:
    from ._idb import IndexedDBStore
    from ._pyodide import http_request, http_stream, patch_http

    # So that user steps can use `requests` / `urllib` in the browser, when the
    # runtime ships pyodide_http; without it this is a cheap no-op.
    patch_http()
else:
    from ._idb_unavailable import IndexedDBStore  # type: ignore[assignment]
    from ._native import http_request, http_stream, patch_http
