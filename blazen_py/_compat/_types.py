"""Platform-neutral types of the HTTP seam.

Both implementations of :mod:`blazen_py._compat` (``_native`` on CPython, ``_pyodide`` in
the browser) return these objects and raise these errors, so code above the seam never
needs to know which platform it runs on. Nothing here imports ``js`` or ``pyodide``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

__all__ = [
    "HttpResponse",
    "StreamingHttpResponse",
    "TransportError",
    "TransportTimeoutError",
    "charset_of",
]


class TransportError(OSError):
    """A request got no HTTP response: connection refused, DNS failure, reset, CORS block.

    A response with an error status (404, 500, ...) is *not* a transport error: it is
    returned as an ordinary response for the caller to judge.
    """


class TransportTimeoutError(TransportError, TimeoutError):
    """A request or a read of a streamed body took longer than its ``timeout``."""


def charset_of(content_type: str | None, default: str = "utf-8") -> str:
    """Return the ``charset`` parameter of a ``Content-Type`` header value.

    Args:
        content_type: The header value, e.g. ``"text/plain; charset=latin-1"``, or ``None``.
        default: Charset returned when the header names none.

    Returns:
        The charset name, lower-cased, or ``default``.
    """
    if content_type:
        for param in content_type.split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"').lower()
    return default


class HttpResponse:
    """A complete HTTP response, whatever its status.

    Attributes:
        status: HTTP status code.
        headers: Response headers with lower-cased names; repeated headers are joined
            with ``", "``. In a browser only the headers CORS exposes are present.
        body: The response body.
        url: The final URL, after redirects.
    """

    __slots__ = ("body", "headers", "status", "url")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes, url: str = "") -> None:
        """Create a response.

        Args:
            status: HTTP status code.
            headers: Response headers (names are lower-cased here).
            body: The response body.
            url: The final URL, after redirects.
        """
        self.status = status
        self.headers: dict[str, str] = {k.lower(): v for k, v in headers.items()}
        self.body = body
        self.url = url

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return one header's value, looked up case-insensitively.

        Args:
            name: Header name.
            default: Value returned when the header is absent.

        Returns:
            The header value, or ``default``.
        """
        return self.headers.get(name.lower(), default)

    def text(self, encoding: str | None = None) -> str:
        """Decode the body as text.

        Args:
            encoding: Charset to use; by default the ``Content-Type`` charset, else UTF-8.
                Undecodable bytes are replaced, never raised.

        Returns:
            The body as a string.
        """
        charset = encoding or charset_of(self.headers.get("content-type"))
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Parse the body as JSON.

        Returns:
            The decoded JSON value.

        Raises:
            ValueError: The body is not valid JSON.
        """
        return json.loads(self.text())

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} ({len(self.body)} bytes) {self.url}>"


class StreamingHttpResponse:
    """An HTTP response whose body is read as it arrives.

    Obtained from ``async with http_stream(...) as response:``; the body is read with
    ``async for chunk in response`` (non-empty ``bytes`` chunks, as the network delivers
    them) or all at once with :meth:`read`. Leaving the ``async with`` block releases the
    connection, also when the body was not read to its end.

    Attributes:
        status: HTTP status code.
        headers: Response headers with lower-cased names.
        url: The final URL, after redirects.
    """

    __slots__ = ("_closed", "_eof", "headers", "status", "url")

    def __init__(self, status: int, headers: Mapping[str, str], url: str = "") -> None:
        """Create a streamed response (done by the platform implementations).

        Args:
            status: HTTP status code.
            headers: Response headers (names are lower-cased here).
            url: The final URL, after redirects.
        """
        self.status = status
        self.headers: dict[str, str] = {k.lower(): v for k, v in headers.items()}
        self.url = url
        self._closed = False
        self._eof = False

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return one header's value, looked up case-insensitively.

        Args:
            name: Header name.
            default: Value returned when the header is absent.

        Returns:
            The header value, or ``default``.
        """
        return self.headers.get(name.lower(), default)

    async def read_chunk(self) -> bytes:
        """Return the next piece of the body as soon as it arrives.

        Returns:
            A non-empty chunk, or ``b""`` once the body has ended.

        Raises:
            TransportError: The connection failed while reading.
            TransportTimeoutError: No data arrived within the request's ``timeout``.
        """
        if self._eof or self._closed:
            return b""
        chunk = await self._read_chunk()
        if not chunk:
            self._eof = True
        return chunk

    async def read(self) -> bytes:
        """Read the rest of the body.

        Returns:
            Every remaining byte of the body.
        """
        parts: list[bytes] = []
        while chunk := await self.read_chunk():
            parts.append(chunk)
        return b"".join(parts)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk

    async def aclose(self) -> None:
        """Release the connection; idempotent."""
        if not self._closed:
            self._closed = True
            await self._close()

    async def _read_chunk(self) -> bytes:
        """Platform hook: the next non-empty chunk, or ``b""`` at the end."""
        raise NotImplementedError

    async def _close(self) -> None:
        """Platform hook: release the connection and every platform object held."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status} {self.url}>"
