"""An incremental parser of server-sent events (``text/event-stream``).

Pure Python with no I/O, so it behaves the same on CPython and in Pyodide and is tested
on its own. It follows the WHATWG event-stream rules: lines end with ``\\r\\n``, ``\\n`` or
``\\r``; a blank line dispatches the event; ``data:`` lines of one event are joined with
``\\n``; lines starting with ``:`` are comments; one space after the colon is dropped; a
leading byte-order mark is ignored. Bytes may be fed split anywhere, even inside a UTF-8
character or between the ``\\r`` and ``\\n`` of one line ending.

One leniency: :meth:`SSEParser.close` dispatches an event whose terminating blank line
never came, because some servers end the stream right after the last ``data:`` line.

Bytes that are not UTF-8 are replaced by U+FFFD, as the standard says; a client that must
refuse them instead (the model layer does) creates the parser with ``errors="strict"``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable

__all__ = ["SSEEvent", "SSEParser", "parse_sse"]

_LINE_END = re.compile(r"\r\n|\r|\n")


class SSEEvent:
    """One dispatched server-sent event.

    Attributes:
        data: The event's data lines joined with ``"\\n"``.
        event: The event type (``"message"`` unless an ``event:`` field said otherwise).
        id: The last event id seen so far in the stream, or ``None``.
        retry: The reconnection time in milliseconds from a ``retry:`` field, or ``None``.
    """

    __slots__ = ("data", "event", "id", "retry")

    def __init__(
        self,
        data: str,
        event: str = "message",
        id: str | None = None,  # noqa: A002 - the standard's field name
        retry: int | None = None,
    ) -> None:
        """Create an event.

        Args:
            data: The event's data.
            event: The event type.
            id: The last event id, or ``None``.
            retry: Reconnection time in milliseconds, or ``None``.
        """
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SSEEvent):
            return NotImplemented
        return (self.data, self.event, self.id, self.retry) == (
            other.data,
            other.event,
            other.id,
            other.retry,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SSEEvent(data={self.data!r}, event={self.event!r}, id={self.id!r}, retry={self.retry!r})"


class SSEParser:
    """Turns the bytes of an event stream, fed as they arrive, into :class:`SSEEvent` s.

    Example:
        >>> parser = SSEParser()
        >>> parser.feed(b"data: hel")
        []
        >>> parser.feed(b"lo\\n\\n")
        [SSEEvent(data='hello', event='message', id=None, retry=None)]
    """

    __slots__ = ("_cr_pending", "_data", "_decoder", "_event", "_id", "_parts", "_retry", "_started")

    def __init__(self, *, errors: str = "replace") -> None:
        """Create a parser at the start of a stream.

        Args:
            errors: What to do with bytes that are not UTF-8: ``"replace"`` (the
                standard's rule) or ``"strict"`` (:meth:`feed` and :meth:`close` raise
                ``UnicodeDecodeError``).
        """
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors=errors)
        self._parts: list[str] = []  # the current line's text, until its line ending comes
        self._cr_pending = False  # the last text ended with "\r": a "\n" next is part of it
        self._started = False  # whether the byte-order-mark check is done
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes | str) -> list[SSEEvent]:
        """Parse the next piece of the stream.

        Args:
            chunk: The next bytes (UTF-8) or text, split anywhere.

        Returns:
            The events completed by this piece, in order (often none).
        """
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        events: list[SSEEvent] = []
        self._feed_text(text, events)
        return events

    def close(self) -> list[SSEEvent]:
        """End the stream: parse what is left and dispatch an unterminated last event.

        Returns:
            The events completed by the end of the stream.
        """
        events: list[SSEEvent] = []
        self._feed_text(self._decoder.decode(b"", final=True), events)
        if self._parts:
            line = "".join(self._parts)
            self._parts.clear()
            self._line(line, events)
        self._dispatch(events)
        return events

    def _feed_text(self, text: str, events: list[SSEEvent]) -> None:
        if not text:
            return
        if not self._started:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._cr_pending:
            self._cr_pending = False
            if text.startswith("\n"):
                text = text[1:]
        start = 0
        end = len(text)
        for match in _LINE_END.finditer(text):
            line = text[start : match.start()]
            if self._parts:
                self._parts.append(line)
                line = "".join(self._parts)
                self._parts.clear()
            self._line(line, events)
            start = match.end()
            if start == end and match.group() == "\r":
                self._cr_pending = True
        if start < end:
            self._parts.append(text[start:])

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[0] == ":":
            return  # a comment (keep-alive, "OPENROUTER PROCESSING", ...)
        field, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        # any other field is ignored, as the standard says

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEEvent("\n".join(self._data), self._event or "message", self._id, self._retry))
            self._data = []
        self._event = ""


def parse_sse(chunks: Iterable[bytes | str]) -> list[SSEEvent]:
    """Parse a whole event stream given as pieces.

    Args:
        chunks: The stream's bytes or text, split anywhere.

    Returns:
        Every event of the stream, in order.
    """
    parser = SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events
