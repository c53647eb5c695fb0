"""Reading what an OpenAI-compatible server answers: completions, stream events, errors.

Pure functions with no I/O. What the server sends is hostile: every field is checked for
its type, and anything that is not a well-formed answer raises :class:`BadAnswer` (which
the model turns into a :class:`~blazen_py.errors.ModelError`), never ``KeyError``,
``TypeError`` or ``RecursionError``. JSON is parsed without ``NaN``/``Infinity``, and
nested at most :data:`MAX_JSON_DEPTH` deep: checked before parsing, because in Pyodide a
few thousand levels overflow the WebAssembly stack inside ``json.loads`` and kill the
whole runtime (a fatal error, not an exception).

Whatever of the server's text goes into a message is passed through ``redact`` (the
model's: it replaces the API key with ``***``) *before* it is shortened, so a cut can
never leave part of a key behind.
"""

from __future__ import annotations

import http
import json
import math
import re
from collections.abc import Callable
from typing import Any, NoReturn

from ._responses import CompletionResponse, Usage, count_of
from ._sse import SSEEvent

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_TOOL_CALLS",
    "BadAnswer",
    "StreamState",
    "completion_from",
    "loads_json",
    "provider_message",
]

#: The deepest nesting of arrays and objects accepted in an answer (real ones nest < 10).
MAX_JSON_DEPTH = 128
#: The most tool calls one answer may make.
MAX_TOOL_CALLS = 64
_MAX_TOOL_NAME = 256  # characters of a tool call's id or function name

_MAX_PROVIDER_MESSAGE = 500
_SHOWN = 80  # characters of a malformed event quoted in an error
_TAG = re.compile(r"<[^>]*>")
_INVALID = object()
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")

#: Replaces secrets in a text (the model's API key): applied before any text is cut.
Redact = Callable[[str], str]


def _same(text: str) -> str:
    return text


class BadAnswer(Exception):
    """The server's answer is not a well-formed completion; ``what`` says why.

    Attributes:
        what: The reason, a phrase that follows the server's name ("answered without ...").
        reported: Whether the server itself reported an error inside a stream; the error
            then carries ``code`` as its status instead of the response's.
        code: The HTTP-like code the server gave that error, or ``None``.
    """

    def __init__(self, what: str, *, reported: bool = False, code: int | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.reported = reported
        self.code = code


def _bad(what: str) -> NoReturn:
    raise BadAnswer(what)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


# A JSON string (skipped whole: brackets inside it do not nest), or one bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def _too_deep(data: bytes | str) -> bool:
    """Whether arrays and objects nest deeper than MAX_JSON_DEPTH (linear in the size)."""
    # Latin-1 maps bytes to characters one to one, so brackets and quotes keep their place.
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False  # the usual case: too few brackets to nest that deep
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def loads_json(data: bytes | str) -> object:
    """Parse JSON strictly; return :data:`_INVALID` instead of raising.

    Returning (rather than raising) keeps the parser's exception, which holds the whole
    text, out of the ``__context__`` of the error that reports it.
    """
    if _too_deep(data):
        return _INVALID
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _INVALID


def is_invalid(value: object) -> bool:
    """Whether :func:`loads_json` failed."""
    return value is _INVALID


def provider_message(status: int, body: bytes, redact: Redact = _same) -> str:
    """The provider's error message: ``{"error": {"message": ...}}`` and common variants.

    Redacted, whitespace-collapsed, and at most 500 characters.
    """
    text = body.decode("utf-8", errors="replace").strip()
    message: object = None
    data = loads_json(text)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = error
        if not isinstance(message, str) or not message.strip():
            message = data.get("message") or data.get("detail")
    if not isinstance(message, str) or not message.strip():
        message = _TAG.sub(" ", text) if text.startswith("<") else text
    message = " ".join(redact(message).split())
    if not message:
        try:
            message = http.HTTPStatus(status).phrase
        except ValueError:
            message = "no error message"
    if len(message) > _MAX_PROVIDER_MESSAGE:
        message = message[: _MAX_PROVIDER_MESSAGE - 3] + "..."
    return message


def text_of(content: object, field: str) -> str:
    """Text of a message's ``content``: a string, a list of parts, or null."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        _bad(f"answered with a {field} that is neither text nor a list of parts")
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            _bad(f"answered with a {field} part that is not an object")
        if part.get("type") == "text":
            text = part.get("text")
            if not isinstance(text, str):
                _bad(f"answered with a {field} text part whose text is not a string")
            texts.append(text)
    return "".join(texts)


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    _bad(f"answered with a {key} that is not a string")


def usage_of(value: object) -> Usage | None:
    """The ``usage`` object, checked: absent or null is ``None``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        _bad("answered with a usage that is not an object")
    counts: dict[str, int | None] = {}
    for key in _USAGE_KEYS:
        raw = value.get(key)
        counts[key] = count_of(raw)
        if raw is not None and counts[key] is None:
            _bad(f"answered with a {key} that is not a non-negative integer")
    return Usage(counts["prompt_tokens"] or 0, counts["completion_tokens"] or 0, counts["total_tokens"])


def cost_of(usage: object) -> float | None:
    """OpenRouter's ``usage.cost`` (USD): a finite number >= 0, else ``None`` (ignored)."""
    if not isinstance(usage, dict):
        return None
    cost = usage.get("cost")
    if isinstance(cost, bool) or not isinstance(cost, (int, float)):
        return None
    value = float(cost)
    return value if math.isfinite(value) and value >= 0 else None


def _short_text(value: object, what: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        _bad(f"answered with a tool call whose {what} is not a non-empty string")
    if len(value) > _MAX_TOOL_NAME:
        _bad(f"answered with a tool call whose {what} is longer than {_MAX_TOOL_NAME} characters")
    return value


def _arguments_text(value: object) -> str:
    """A tool call's ``arguments``: JSON text (an object some servers send is encoded)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    _bad("answered with tool call arguments that are neither text nor an object")


def tool_calls_of(value: object) -> list[dict[str, Any]]:
    """The ``tool_calls`` of a whole answer's message, checked and put in one shape."""
    if value is None:
        return []
    if not isinstance(value, list):
        _bad("answered with tool_calls that are not a list")
    if len(value) > MAX_TOOL_CALLS:
        _bad(f"answered with more than {MAX_TOOL_CALLS} tool calls")
    calls = []
    for index, call in enumerate(value):
        if not isinstance(call, dict):
            _bad("answered with a tool call that is not an object")
        function = call.get("function")
        if not isinstance(function, dict):
            _bad("answered with a tool call without a function object")
        call_id = _short_text(call.get("id"), "id", required=False) or f"call_{index}"
        name = _short_text(function.get("name"), "function name", required=True)
        calls.append(_call(call_id, name or "", _arguments_text(function.get("arguments"))))
    return calls


def _call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _first_choice(choices: object) -> dict[str, Any] | None:
    if choices is None:
        return None
    if not isinstance(choices, list):
        _bad("answered with choices that are not a list")
    if not choices:
        return None
    choice = choices[0]
    if not isinstance(choice, dict):
        _bad("answered with a choice that is not an object")
    return choice


def _choice_text(choice: dict[str, Any], key: str) -> str:
    """The text of a choice: its ``message``/``delta`` content, or a legacy ``text``."""
    holder = choice.get(key)
    if holder is None:
        return text_of(choice.get("text"), "text")
    if not isinstance(holder, dict):
        _bad(f"answered with a {key} that is not an object")
    return text_of(holder.get("content"), f"{key} content")


def completion_from(
    data: object, status: int, default_model: str, redact: Redact = _same
) -> CompletionResponse:
    """A completion from the parsed JSON of a whole (non-streamed) answer.

    Raises:
        BadAnswer: ``data`` is not a completion with at least one well-formed choice.
    """
    if not isinstance(data, dict):
        _bad("answered with JSON that is not a completion object")
    choice = _first_choice(data.get("choices"))
    if choice is None:
        if data.get("error") is not None:
            _bad(f"reported an error: {provider_message(status, json.dumps(data).encode(), redact)}")
        _bad("answered without any choices")
    message = choice.get("message")
    return CompletionResponse(
        _choice_text(choice, "message"),
        _optional_str(data, "model") or default_model,
        usage_of(data.get("usage")),
        _optional_str(choice, "finish_reason"),
        _optional_str(data, "id"),
        tool_calls_of(message.get("tool_calls")) if isinstance(message, dict) else [],
        cost_of(data.get("usage")),
    )


class StreamState:
    """What a stream has said so far: the pieces of text, model, usage, finish reason."""

    __slots__ = (
        "calls",
        "cost",
        "done",
        "events",
        "finish_reason",
        "id",
        "model",
        "parts",
        "pieces",
        "redact",
        "status",
        "usage",
    )

    def __init__(self, status: int, redact: Redact = _same) -> None:
        self.status = status
        self.redact = redact
        self.parts: list[str] = []
        self.pieces = 0
        self.events = 0
        self.done = False
        self.model: str | None = None
        self.id: str | None = None
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.cost: float | None = None
        # index -> [id, name, argument pieces] of the tool calls streamed so far
        self.calls: dict[int, list[Any]] = {}

    def handle(self, event: SSEEvent) -> str:
        """Take one event in; return the text it adds ("" for none).

        Raises:
            BadAnswer: The event is malformed, or reports an error.
        """
        data = event.data.strip()
        if not data:
            return ""
        self.events += 1
        if data == "[DONE]":
            self.done = True
            return ""
        payload = loads_json(data)
        if is_invalid(payload):
            if event.event == "error":
                raise BadAnswer(
                    f"reported an error in the stream: {self._quote(data, _MAX_PROVIDER_MESSAGE)}",
                    reported=True,
                )
            _bad(f"sent a stream event that is not JSON: {self._quote(data, _SHOWN)!r}")
        if not isinstance(payload, dict):
            _bad(f"sent a stream event that is not an object: {self._quote(data, _SHOWN)!r}")
        if payload.get("error") is not None or event.event == "error":
            error = payload.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            valid_code = isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599
            message = provider_message(self.status, data.encode(), self.redact)
            raise BadAnswer(
                f"reported an error in the stream: {message}",
                reported=True,
                code=code if valid_code else None,
            )
        model, completion_id = _optional_str(payload, "model"), _optional_str(payload, "id")
        self.model = self.model or model
        self.id = self.id or completion_id
        usage = usage_of(payload.get("usage"))
        self.usage = usage or self.usage
        cost = cost_of(payload.get("usage"))
        self.cost = self.cost if cost is None else cost
        choice = _first_choice(payload.get("choices"))
        if choice is None:
            return ""
        self.finish_reason = _optional_str(choice, "finish_reason") or self.finish_reason
        delta = choice.get("delta")
        if isinstance(delta, dict) and delta.get("tool_calls") is not None:
            self._take_calls(delta["tool_calls"])
        text = _choice_text(choice, "delta")
        if text:
            self.parts.append(text)
            self.pieces += 1
        return text

    def _take_calls(self, pieces: object) -> None:
        """Add one event's tool-call pieces: by ``index``, the id and name once, the
        arguments' text in fragments."""
        if not isinstance(pieces, list):
            _bad("sent tool_calls that are not a list")
        for piece in pieces:
            if not isinstance(piece, dict):
                _bad("sent a tool call piece that is not an object")
            index = piece.get("index", 0)
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_TOOL_CALLS:
                _bad(f"sent a tool call index that is not an integer from 0 to {MAX_TOOL_CALLS - 1}")
            function = piece.get("function")
            if function is not None and not isinstance(function, dict):
                _bad("sent a tool call piece whose function is not an object")
            function = function or {}
            call = self.calls.get(index)
            if call is None:
                call = self.calls[index] = [None, "", []]
            call_id = _short_text(piece.get("id"), "id", required=False)
            if call_id:
                call[0] = call_id
            name = _short_text(function.get("name"), "function name", required=False)
            if name:
                call[1] = name if not call[1] else call[1] + name
                if len(call[1]) > _MAX_TOOL_NAME:
                    _bad(f"streamed a tool call whose function name is over {_MAX_TOOL_NAME} characters")
            arguments = function.get("arguments")
            if arguments is not None:
                call[2].append(_arguments_text(arguments))

    def _quote(self, text: str, length: int) -> str:
        return self.redact(text)[:length]

    def result(self, default_model: str) -> CompletionResponse:
        """The whole answer, assembled from the pieces.

        Raises:
            BadAnswer: A streamed tool call never said its function's name.
        """
        calls = []
        for index in sorted(self.calls):
            call_id, name, arguments = self.calls[index]
            if not name:
                _bad("streamed a tool call without a function name")
            calls.append(_call(call_id or f"call_{index}", name, "".join(arguments)))
        return CompletionResponse(
            "".join(self.parts),
            self.model or default_model,
            self.usage,
            self.finish_reason,
            self.id,
            calls,
            self.cost,
        )
