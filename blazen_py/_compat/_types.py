"""Platform-neutral types of the HTTP seam: requests, responses, the transport protocol.

Both implementations of :mod:`blazen_py._compat` (``_native`` on CPython, ``_pyodide`` in
the browser) implement :class:`Transport`, return these objects and raise these errors, so
code above the seam never needs to know which platform it runs on. Other transports (a
mock for tests, a recorder, a replayer) implement the same two methods. Nothing here
imports ``js`` or ``pyodide``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

__all__ = [
    "HttpRequest",
    "HttpResponse",
    "ResponseTooLargeError",
    "StreamingHttpResponse",
    "Transport",
    "TransportError",
    "TransportTimeoutError",
    "charset_of",
    "is_credential_header",
    "same_origin",
]

# Header names that carry credentials, and words that mark a custom one (X-Api-Key, ...).
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_CREDENTIAL_WORDS = ("auth", "key", "token", "secret", "password", "cookie", "session", "credential")


class TransportError(OSError):
    """A request got no HTTP response: connection refused, DNS failure, reset, CORS block.

    A response with an error status (404, 500, ...) is *not* a transport error: it is
    returned as an ordinary response for the caller to judge.
    """


class TransportTimeoutError(TransportError, TimeoutError):
    """A request or a read of a streamed body took longer than its ``timeout``."""


class ResponseTooLargeError(TransportError):
    """A response body is longer than the request's ``max_body_bytes``; the rest was not read.

    Attributes:
        limit: The limit, in bytes.
    """

    def __init__(self, message: str, limit: int) -> None:
        """Create the error.

        Args:
            message: What happened.
            limit: The limit, in bytes.
        """
        super().__init__(message)
        self.limit = limit


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


def is_credential_header(name: str) -> bool:
    """Whether a header (by its name) may carry a credential.

    ``Authorization``, ``Proxy-Authorization`` and ``Cookie``, and any name containing
    ``auth``, ``key``, ``token``, ``secret``, ``password``, ``cookie``, ``session`` or
    ``credential`` (``X-Api-Key``, ``api-key``, ...). Such headers are dropped on a redirect
    to another origin and left out of :meth:`HttpRequest.public_headers`.

    Args:
        name: A header name, in any case.

    Returns:
        ``True`` when the header is treated as a secret.
    """
    lowered = name.lower()
    return lowered in _CREDENTIAL_HEADERS or any(word in lowered for word in _CREDENTIAL_WORDS)


def same_origin(first: str, second: str) -> bool:
    """Whether two absolute URLs have the same origin (scheme, host and port).

    Args:
        first: A URL.
        second: Another URL.

    Returns:
        ``True`` when scheme, host and port (explicit or the scheme's default) match.
    """

    def origin(url: str) -> tuple[str, str, int | None]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError:
            port = -1  # a malformed port matches nothing
        default = {"http": 80, "https": 443}.get(scheme)
        return scheme, (parts.hostname or "").lower(), port if port is not None else default

    return origin(first) == origin(second)


class HttpRequest:
    """One HTTP request, as handed to a :class:`Transport`.

    Its ``repr`` names the headers but never shows their values.

    Attributes:
        method: HTTP method, e.g. ``"POST"``.
        url: Absolute URL (in a browser, also one relative to the page).
        headers: Request headers, names as given.
        body: Request body, or ``None``.
        timeout: For :meth:`Transport.send`, seconds the whole exchange may take; for
            :meth:`Transport.stream`, seconds to wait for the response to start and then
            for each piece of the body. ``None``: no limit.
        follow_redirects: Whether a 3xx answer is followed. ``False`` (the default, and
            what model calls use) returns it as the response. When ``True``, credentials
            stay with their origin: on CPython the transport drops every header that may
            carry one (:func:`is_credential_header`) on a hop to another origin; in a
            browser ``fetch`` drops ``Authorization`` itself (the Fetch standard), and a
            request with another credential header is not followed at all (fetch would
            send it on).
        max_body_bytes: For :meth:`Transport.send`, the longest body the transport reads
            before it raises :class:`ResponseTooLargeError`; ``None``: no limit.
    """

    __slots__ = ("body", "follow_redirects", "headers", "max_body_bytes", "method", "timeout", "url")

    def __init__(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
        follow_redirects: bool = False,
        max_body_bytes: int | None = None,
    ) -> None:
        """Create a request.

        Args:
            method: HTTP method.
            url: The URL.
            headers: Request headers.
            body: Request body, or ``None``.
            timeout: See the class attributes.
            follow_redirects: See the class attributes.
            max_body_bytes: See the class attributes.
        """
        self.method = method
        self.url = url
        self.headers: dict[str, str] = dict(headers or {})
        self.body = body
        self.timeout = timeout
        self.follow_redirects = follow_redirects
        self.max_body_bytes = max_body_bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return one header's value, looked up case-insensitively.

        Args:
            name: Header name.
            default: Value returned when the header is absent.

        Returns:
            The header value, or ``default``.
        """
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), default)

    def public_headers(self) -> dict[str, str]:
        """The headers without those that may carry a credential (:func:`is_credential_header`).

        What a recording of this request may keep.

        Returns:
            A new dict of the other headers.
        """
        return {k: v for k, v in self.headers.items() if not is_credential_header(k)}

    def __repr__(self) -> str:
        return f"<HttpRequest {self.method} {self.url} headers={sorted(self.headers)!r}>"


class _ResponseHead:
    """What every response has before its body: status, headers, final URL."""

    __slots__ = ("headers", "status", "url")

    def __init__(self, status: int, headers: Mapping[str, str], url: str) -> None:
        self.status = status
        self.headers: dict[str, str] = {k.lower(): v for k, v in headers.items()}
        self.url = url

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @property
    def is_redirect(self) -> bool:
        """Whether this is a redirect that was not followed.

        A 301, 302, 303, 307 or 308 answer, or status 0: the redirect a browser did not
        follow and does not show (``fetch``'s opaque redirect, with no headers).
        """
        return self.status in (0, 301, 302, 303, 307, 308)

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return one header's value, looked up case-insensitively.

        Args:
            name: Header name.
            default: Value returned when the header is absent.

        Returns:
            The header value, or ``default``.
        """
        return self.headers.get(name.lower(), default)


class HttpResponse(_ResponseHead):
    """A complete HTTP response, whatever its status.

    Attributes:
        status: HTTP status code; 0 for a redirect a browser did not follow (see
            :attr:`is_redirect`).
        headers: Response headers with lower-cased names; repeated headers are joined
            with ``", "``. In a browser only the headers CORS exposes are present.
        body: The response body.
        url: The final URL, after redirects.
    """

    __slots__ = ("body",)

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes = b"", url: str = "") -> None:
        """Create a response.

        Args:
            status: HTTP status code.
            headers: Response headers (names are lower-cased here).
            body: The response body.
            url: The final URL, after redirects.
        """
        super().__init__(status, headers, url)
        self.body = body

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


class StreamingHttpResponse(_ResponseHead):
    """An HTTP response whose body is read as it arrives.

    Obtained from ``async with transport.stream(request) as response:``; the body is read
    with ``async for chunk in response`` (non-empty ``bytes`` chunks, as the network
    delivers them), :meth:`read_chunk`, or all at once with :meth:`read`. Leaving the
    ``async with`` block releases the connection, also when the body was not read to its end.

    Made directly (by a mock or a replaying transport), it serves the given ``chunks``;
    the platform transports subclass it and read the network instead.

    Attributes:
        status: HTTP status code; 0 for a redirect a browser did not follow.
        headers: Response headers with lower-cased names.
        url: The final URL, after redirects.
    """

    __slots__ = ("_chunks", "_closed", "_eof")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        url: str = "",
        *,
        chunks: Iterable[bytes] | AsyncIterable[bytes] = (),
    ) -> None:
        """Create a streamed response.

        Args:
            status: HTTP status code.
            headers: Response headers (names are lower-cased here).
            url: The final URL, after redirects.
            chunks: The body, piece by piece: a list of ``bytes``, or an async iterable
                (an async generator may wait between pieces, or never end).
        """
        super().__init__(status, headers, url)
        self._chunks: AsyncIterator[bytes] = _async_iter(chunks)
        self._closed = False
        self._eof = False

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
        """Hook: the next non-empty chunk, or ``b""`` at the end."""
        async for chunk in self._chunks:
            if not isinstance(chunk, bytes):
                raise TypeError(f"a response body chunk must be bytes, not {type(chunk).__name__}")
            if chunk:
                return chunk
        return b""

    async def _close(self) -> None:
        """Hook: release the connection and every platform object held."""
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status} {self.url}>"


def _async_iter(chunks: Iterable[bytes] | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(chunks, AsyncIterable):
        return aiter(chunks)

    async def replay() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return replay()


@runtime_checkable
class Transport(Protocol):
    """What sends a model's HTTP requests: two methods, as httpx's transports are objects.

    The platform's transport (``urllib`` on CPython, ``fetch`` in Pyodide) is the default;
    :class:`~blazen_py.llm.MockTransport` answers from a function, with no network. A
    wrapper (one that records exchanges, or replays them) holds another transport and
    implements the same two methods.

    Both methods return a response for any HTTP status, a not-followed redirect included,
    and raise :class:`TransportError` (or :class:`TransportTimeoutError`) only when no
    response arrives in time.
    """

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and read the whole body (within ``timeout`` and ``max_body_bytes``)."""
        ...

    def stream(self, request: HttpRequest) -> AbstractAsyncContextManager[StreamingHttpResponse]:
        """Send ``request``; ``async with`` gives the response, its body not yet read."""
        ...
