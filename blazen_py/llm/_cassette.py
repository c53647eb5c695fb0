"""Recorded model calls: record a model's exchanges once, replay them with no network.

``CompletionModel.record(model, cassette)`` gives a model whose transport passes every
request on and keeps a copy of the exchange in ``cassette`` (streamed answers as the
chunks that arrived); ``CompletionModel.replay(cassette)`` gives one whose transport
answers from the cassette only, and raises :class:`~blazen_py.errors.CassetteMismatchError`
for a request it has no recording of, naming it. Tests of agent code run keyless and
deterministically; a static page can run a demo for visitors who have no key.

What a cassette keeps of a request: method, URL, the headers of
:meth:`HttpRequest.public_headers` (never ``Authorization``, keys, cookies), and the body
(as JSON when it is JSON). Each credential the request carried (the values of its
credential headers, a bearer token alone too) is replaced by ``***`` wherever it shows
in what is recorded, so a provider echoing the key in an error does not put it in the
cassette; response headers that may carry credentials (``set-cookie``, ...) are left out.

A cassette read back (:meth:`Cassette.from_json`) is hostile data: every field is
checked (types, statuses, sizes, nesting, counts: :data:`MAX_EXCHANGES` exchanges,
:data:`MAX_CASSETTE_CHARS` characters of JSON), a request header that would carry a
credential is refused, and nothing in it is ever run; anything else is a
:class:`~blazen_py.errors.CassetteError`.

A replayed request matches a recording with the same method, URL and body (JSON bodies
compared as data); the first unused matching recording answers it, so calls made in
another order (parallel steps) still replay.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .._compat import HttpRequest, HttpResponse, StreamingHttpResponse, Transport
from .._compat._types import is_credential_header
from ..errors import CassetteError, CassetteMismatchError
from ._openai_format import is_invalid, loads_json

__all__ = [
    "CASSETTE_FORMAT",
    "CASSETTE_VERSION",
    "MAX_CASSETTE_CHARS",
    "MAX_EXCHANGES",
    "Cassette",
    "RecordingTransport",
    "ReplayTransport",
]

CASSETTE_FORMAT = "blazen-cassette"
CASSETTE_VERSION = 1
#: The most exchanges a cassette may hold.
MAX_EXCHANGES = 10_000
#: The longest cassette JSON text read back.
MAX_CASSETTE_CHARS = 64 * 1024 * 1024

_MAX_HEADERS = 100
_MAX_HEADER_CHARS = 8 * 1024
_MAX_CHUNKS = 200_000
_MAX_URL = 8 * 1024
_REDACTED = "***"
_SHOWN = 60


def _secrets(request: HttpRequest) -> list[str]:
    """The credentials ``request`` carries: its credential headers' values (a bearer token
    alone too), longest first (so a longer one is replaced before a part of it)."""
    found: set[str] = set()
    for name, value in request.headers.items():
        if is_credential_header(name) and value:
            found.add(value)
            scheme, _, token = value.partition(" ")
            if token.strip() and scheme.lower() in ("bearer", "basic", "token"):
                found.add(token.strip())
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text


def _body_record(body: bytes | None, secrets: list[str]) -> dict[str, Any]:
    if body is None:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"body_base64": base64.b64encode(body).decode("ascii")}
    text = _scrub(text, secrets)
    parsed = loads_json(text)
    if not is_invalid(parsed):
        return {"json": parsed}
    return {"body": text}


def _response_headers(headers: Mapping[str, str], secrets: list[str]) -> dict[str, str]:
    return {k: _scrub(v, secrets) for k, v in headers.items() if not is_credential_header(k)}


def _text_of(data: bytes, secrets: list[str]) -> dict[str, Any]:
    try:
        return {"text": _scrub(data.decode("utf-8"), secrets)}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


class Cassette:
    """Recorded model calls, as JSON data (see :mod:`blazen_py.llm._cassette`).

    Create an empty one, give it to :meth:`CompletionModel.record`, run your code, then
    keep :meth:`to_json`. Later ``CompletionModel.replay(Cassette.from_json(text))``
    answers the same requests with no network.

    Attributes:
        model: The model name of the first recorded model (what ``replay`` uses).
        base_url: Its API root.
        exchanges: The recorded exchanges (JSON data), in the order they ended.

    Example:
        >>> cassette = Cassette()
        >>> len(cassette)
        0
    """

    __slots__ = ("base_url", "exchanges", "model")

    def __init__(self) -> None:
        """Create an empty cassette."""
        self.model: str | None = None
        self.base_url: str | None = None
        self.exchanges: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.exchanges)

    def to_dict(self) -> dict[str, Any]:
        """The cassette as JSON-compatible data."""
        return {
            "format": CASSETTE_FORMAT,
            "version": CASSETTE_VERSION,
            "model": self.model,
            "base_url": self.base_url,
            "exchanges": [dict(e) for e in self.exchanges],
        }

    def to_json(self) -> str:
        """The cassette as JSON text (what :meth:`from_json` reads)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> Cassette:
        """Read a cassette (JSON text, or the data :meth:`to_dict` gives), checking everything.

        Raises:
            CassetteError: The cassette is malformed, too large, of another format or
                version, or has a request header that would carry a credential.
        """
        if isinstance(data, (str, bytes)):
            if len(data) > MAX_CASSETTE_CHARS:
                raise CassetteError(f"a cassette is at most {MAX_CASSETTE_CHARS} characters of JSON")
            parsed = loads_json(data)
            if is_invalid(parsed):
                raise CassetteError("the cassette is not JSON (or nests too deeply)")
        elif isinstance(data, Mapping):
            parsed = dict(data)
        else:
            raise CassetteError(f"a cassette is JSON text or a mapping, not {type(data).__name__}")
        return _parse(parsed)

    def record(self, request: HttpRequest, response: dict[str, Any]) -> None:
        """Keep one exchange (the recording transport does)."""
        secrets = _secrets(request)
        entry = {
            "request": {
                "method": request.method,
                "url": _scrub(request.url, secrets),
                "headers": {k: _scrub(v, secrets) for k, v in request.public_headers().items()},
                **_body_record(request.body, secrets),
            },
            "response": response,
        }
        if len(self.exchanges) >= MAX_EXCHANGES:
            raise CassetteError(f"a cassette holds at most {MAX_EXCHANGES} exchanges")
        self.exchanges.append(entry)

    def __repr__(self) -> str:
        return f"Cassette({len(self.exchanges)} exchanges, model={self.model!r})"


# ------------------------------------------------------------------ reading back


def _fail(where: str, what: str) -> CassetteError:
    return CassetteError(f"cassette {where}: {what}")


def _headers(value: object, where: str, *, request: bool) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > _MAX_HEADERS:
        raise _fail(where, f"headers must be an object of at most {_MAX_HEADERS} entries")
    out = {}
    for name, text in value.items():
        if not isinstance(text, str) or len(name) > _MAX_HEADER_CHARS or len(text) > _MAX_HEADER_CHARS:
            raise _fail(where, "each header is a name and a text of at most 8 KiB")
        if request and is_credential_header(name):
            raise _fail(where, f"header {name[:_SHOWN]!r} would carry a credential: cassettes hold none")
        out[name] = text
    return out


def _piece(value: object, where: str) -> bytes:
    if isinstance(value, dict) and set(value) == {"text"} and isinstance(value["text"], str):
        return value["text"].encode("utf-8")
    if isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
        try:
            return base64.b64decode(value["base64"], validate=True)
        except ValueError:
            raise _fail(where, "a chunk's base64 is malformed") from None
    raise _fail(where, 'a body piece is {"text": ...} or {"base64": ...}')


def _request_body(entry: dict[str, Any], where: str) -> Any:
    present = [k for k in ("json", "body", "body_base64") if k in entry]
    if len(present) > 1:
        raise _fail(where, "a request has one body at most")
    if not present:
        return None
    key = present[0]
    if key == "body" and not isinstance(entry["body"], str):
        raise _fail(where, "body must be text")
    if key == "body_base64":
        if not isinstance(entry["body_base64"], str):
            raise _fail(where, "body_base64 must be text")
        try:
            base64.b64decode(entry["body_base64"], validate=True)
        except ValueError:
            raise _fail(where, "body_base64 is malformed") from None
    return entry[key]


def _parse(data: object) -> Cassette:
    if not isinstance(data, dict):
        raise CassetteError("a cassette is a JSON object")
    if data.get("format") != CASSETTE_FORMAT:
        raise CassetteError(f"not a cassette (format must be {CASSETTE_FORMAT!r})")
    if data.get("version") != CASSETTE_VERSION:
        raise CassetteError(f"cassette version {data.get('version')!r} is not {CASSETTE_VERSION}")
    cassette = Cassette()
    for key in ("model", "base_url"):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > _MAX_URL):
            raise CassetteError(f"cassette {key} must be text")
        setattr(cassette, key, value)
    exchanges = data.get("exchanges")
    if not isinstance(exchanges, list) or len(exchanges) > MAX_EXCHANGES:
        raise CassetteError(f"cassette exchanges must be a list of at most {MAX_EXCHANGES}")
    chunks = 0
    for index, exchange in enumerate(exchanges):
        where = f"exchange {index}"
        if not isinstance(exchange, dict):
            raise _fail(where, "is not an object")
        request, response = exchange.get("request"), exchange.get("response")
        if not isinstance(request, dict) or not isinstance(response, dict):
            raise _fail(where, "needs a request and a response object")
        method, url = request.get("method"), request.get("url")
        if not isinstance(method, str) or not method.isalpha() or len(method) > 16:
            raise _fail(where, "request method must be a word")
        if not isinstance(url, str) or len(url) > _MAX_URL:
            raise _fail(where, "request url must be text")
        _headers(request.get("headers", {}), where, request=True)
        _request_body(request, where)
        status = response.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise _fail(where, "response status must be an integer from 100 to 599")
        _headers(response.get("headers", {}), where, request=False)
        pieces = response.get("chunks")
        if not isinstance(pieces, list):
            raise _fail(where, "response chunks must be a list")
        chunks += len(pieces)
        if chunks > _MAX_CHUNKS:
            raise CassetteError(f"a cassette holds at most {_MAX_CHUNKS} body chunks")
        for piece in pieces:
            _piece(piece, where)
        if not isinstance(response.get("streamed", False), bool):
            raise _fail(where, "response streamed must be true or false")
        cassette.exchanges.append(exchange)
    return cassette


# ------------------------------------------------------------------ the transports


class _Tee(StreamingHttpResponse):
    """A streamed response that keeps what it reads, recorded when it is closed."""

    __slots__ = ("_done", "_pieces", "_source")

    def __init__(self, source: StreamingHttpResponse, done: Any) -> None:
        super().__init__(source.status, source.headers, source.url)
        self._source = source
        self._pieces: list[bytes] = []
        self._done = done

    async def _read_chunk(self) -> bytes:
        chunk = await self._source.read_chunk()
        if chunk:
            self._pieces.append(chunk)
        return chunk

    async def _close(self) -> None:
        await self._source.aclose()
        self._done(self._pieces)


class RecordingTransport:
    """Sends through ``inner`` and keeps each exchange in ``cassette``."""

    __slots__ = ("_cassette", "_inner")

    def __init__(self, inner: Transport, cassette: Cassette) -> None:
        """Wrap ``inner``."""
        self._inner = inner
        self._cassette = cassette

    def _response(
        self,
        request: HttpRequest,
        status: int,
        headers: Mapping[str, str],
        pieces: list[bytes],
        streamed: bool,
    ) -> dict[str, Any]:
        secrets = _secrets(request)
        return {
            "status": status,
            "headers": _response_headers(headers, secrets),
            "streamed": streamed,
            "chunks": [_text_of(p, secrets) for p in pieces],
        }

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send, and record the exchange."""
        response = await self._inner.send(request)
        pieces = [response.body] if response.body else []
        self._cassette.record(
            request, self._response(request, response.status, response.headers, pieces, False)
        )
        return response

    @contextlib.asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamingHttpResponse]:
        """Stream, and record the chunks read when the response is closed."""
        async with self._inner.stream(request) as response:

            def done(pieces: list[bytes]) -> None:
                record = self._response(request, response.status, response.headers, pieces, True)
                self._cassette.record(request, record)

            tee = _Tee(response, done)
            try:
                yield tee
            finally:
                await tee.aclose()

    def __repr__(self) -> str:
        return f"RecordingTransport({self._inner!r}, {self._cassette!r})"


def _sent_body(request: HttpRequest) -> Any:
    """The request's body as the cassette compares it (JSON as data)."""
    record = _body_record(request.body, _secrets(request))
    for key in ("json", "body", "body_base64"):
        if key in record:
            return record[key]
    return None


def _difference(recorded: Any, sent: Any, path: str = "body") -> str:
    """Where two JSON values first differ, shortly."""
    if isinstance(recorded, dict) and isinstance(sent, dict):
        for key in list(recorded) + [k for k in sent if k not in recorded]:
            if key not in sent:
                return f"{path}.{key} is missing"
            if key not in recorded:
                return f"{path}.{key} was not recorded"
            if recorded[key] != sent[key]:
                return _difference(recorded[key], sent[key], f"{path}.{key}")
    if isinstance(recorded, list) and isinstance(sent, list):
        for index, (a, b) in enumerate(zip(recorded, sent, strict=False)):
            if a != b:
                return _difference(a, b, f"{path}[{index}]")
        if len(recorded) != len(sent):
            return f"{path} has {len(sent)} items, the recording {len(recorded)}"
    shown = json.dumps(sent, ensure_ascii=False)[:_SHOWN]
    was = json.dumps(recorded, ensure_ascii=False)[:_SHOWN]
    return f"{path} is {shown}, the recording has {was}"


def _likeness(recorded: Any, sent: Any) -> int:
    """How many top-level fields two bodies share (to find the nearest recording)."""
    if isinstance(recorded, dict) and isinstance(sent, dict):
        return sum(1 for k, v in sent.items() if k in recorded and recorded[k] == v)
    return int(recorded == sent)


class ReplayTransport:
    """Answers from a cassette only: never touches the network."""

    __slots__ = ("_cassette", "_sent", "_used")

    def __init__(self, cassette: Cassette) -> None:
        """Replay ``cassette``."""
        self._cassette = cassette
        self._used = [False] * len(cassette.exchanges)
        self._sent = 0

    def _match(self, request: HttpRequest) -> dict[str, Any]:
        index = self._sent
        self._sent += 1
        body = _sent_body(request)
        first_unused = None
        for position, exchange in enumerate(self._cassette.exchanges):
            if self._used[position]:
                continue
            recorded = exchange["request"]
            if first_unused is None:
                first_unused = recorded
            same = recorded["method"] == request.method and recorded["url"] == request.url
            if same and _request_body(recorded, "") == body:
                self._used[position] = True
                response: dict[str, Any] = exchange["response"]
                return response
        what = f"request {index} ({request.method} {request.url})"
        exchanges = self._cassette.exchanges
        unused = [e["request"] for e, used in zip(exchanges, self._used, strict=True) if not used]
        alike = [r for r in unused if r["method"] == request.method and r["url"] == request.url]
        if first_unused is None:
            detail = f"all {len(self._used)} recordings were already replayed"
        elif not alike:
            detail = f"the next unused recording is {first_unused['method']} {first_unused['url']}"
        else:
            nearest = max(alike, key=lambda r: _likeness(_request_body(r, ""), body))
            difference = _difference(_request_body(nearest, ""), body)
            detail = "against the nearest unused recording, " + difference
        raise CassetteMismatchError(f"{what} matches no recording in the cassette: {detail}", index=index)

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Answer with the recorded response (a streamed one joined)."""
        response = self._match(request)
        body = b"".join(_piece(p, "") for p in response["chunks"])
        return HttpResponse(response["status"], response.get("headers", {}), body, request.url)

    @contextlib.asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamingHttpResponse]:
        """Answer with the recorded chunks, one by one."""
        response = self._match(request)
        pieces = [_piece(p, "") for p in response["chunks"]]
        streamed = StreamingHttpResponse(
            response["status"], response.get("headers", {}), request.url, chunks=pieces
        )
        try:
            yield streamed
        finally:
            await streamed.aclose()

    @property
    def unused(self) -> int:
        """How many recordings were not replayed (yet)."""
        return self._used.count(False)

    def __repr__(self) -> str:
        return f"ReplayTransport({self._cassette!r}, {self.unused} unused)"
