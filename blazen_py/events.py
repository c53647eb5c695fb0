"""Built-in event types and the checks every produced event goes through.

An event is a mapping with a string ``type``. blazen_py keeps the mapping a step produced
and hands the same object to every step that accepts its type, so events are cheap to
route; treat them as read-only once produced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from .errors import InvalidEventError

__all__ = [
    "CHECKED_EVENT_TYPES",
    "INPUT_REQUESTED",
    "INPUT_REQUEST_EVENT",
    "INPUT_RESPONSE_EVENT",
    "START_EVENT",
    "STEP_FAILED_EVENT",
    "STOP_EVENT",
    "CheckedEvent",
    "Event",
    "describe",
    "event_shape",
    "event_type_of",
    "kind",
    "message_language",
    "shown",
]

START_EVENT = "blazen::StartEvent"
"""Type of the event that starts a run; ``run(input)`` merges ``input`` onto it."""

STOP_EVENT = "blazen::StopEvent"
"""Type of the event that ends a run; its ``result`` is the run's result."""

INPUT_REQUEST_EVENT = "blazen::InputRequestEvent"
"""Returned by a step to ask the host for input durably (survives snapshot and resume)."""

INPUT_RESPONSE_EVENT = "blazen::InputResponseEvent"
"""Routed to the steps that accept it when the host answers an input request."""

STEP_FAILED_EVENT = "blazen::StepFailedEvent"
"""Produced by the engine when a step has failed for good (its retries, if any, ran out):
``{"type", "step", "event", "error": {"name", "message"}, "attempts"}``, routed to the steps
that accept it (error handlers). When no step accepts it, the run fails instead."""

INPUT_REQUESTED = "InputRequested"
"""``event_type`` of the stream item announcing an input request."""

Event = Mapping[str, Any]
"""An event: a mapping with a string ``type``."""


# The language error messages speak: "python" (names like str, None, a mapping) or "js"
# (a string, null, an object). blazen.js's bridge sets "js" around every call it takes from
# JS; the runs it starts inherit it (asyncio copies the context into their tasks and
# callbacks), so a JS user reads JS words while a Python cell in the same page reads Python's.
message_language: ContextVar[str] = ContextVar("blazen_py_message_language", default="python")


def _clip(text: str) -> str:
    return text[:77] + "..." if len(text) > 80 else text


def _js_literal(value: object) -> str:
    if value is None or type(value).__name__ == "JsNull":
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"Uint8Array({len(bytes(value))})"
    try:
        return json.dumps(value, default=lambda v: f"<{type(v).__name__}>", ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return f"<{type(value).__name__}>"


def shown(value: object) -> str:
    """``value`` as its language writes it, clipped: ``repr`` in Python, a JS literal for JS."""
    return _clip(_js_literal(value) if message_language.get() == "js" else repr(value))


def kind(value: object) -> str:
    """What ``value`` is called in messages: its type's name in Python; in JS, "null",
    "a string", "a number", "a boolean", "an array", "an object", "a Uint8Array"."""
    if message_language.get() != "js":
        return type(value).__name__
    if value is None or type(value).__name__ == "JsNull":
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "a Uint8Array"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def event_shape() -> str:
    """What an event is, in the language of the messages."""
    if message_language.get() == "js":
        return "an object with a string 'type'"
    return "a mapping with a string 'type'"


def describe(value: object) -> str:
    """Return a short description of ``value`` for error messages (what it is, and a clipped
    repr; in JS terms when the messages speak JS: ``a string "x"``, ``null``)."""
    if message_language.get() == "js":
        what = kind(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return f"a Uint8Array of {len(bytes(value))} bytes"
        return what if what == "null" else f"{what} {shown(value)}"
    return f"{type(value).__name__} {_clip(repr(value))}"


def event_type_of(value: object, *, step: str | None = None) -> str:
    """Return the ``type`` of ``value`` or raise :class:`InvalidEventError`.

    Args:
        value: What a step produced.
        step: Name of the producing step, for the message.
    """
    where = f" from step {step!r}" if step is not None else ""
    if not isinstance(value, Mapping):
        raise InvalidEventError(
            f"expected an event ({event_shape()}){where}, got {describe(value)}",
            step=step,
        )
    etype = value.get("type")
    if type(etype) is not str or not etype:
        raise InvalidEventError(
            f"event{where} has no string 'type' (got {describe(etype)}): {describe(value)}",
            step=step,
        )
    return etype


# CheckedEvent and its subclasses. The dispatcher tests ``type(x) in CHECKED_EVENT_TYPES``:
# isinstance() of a Mapping subclass goes through ABCMeta's Python-level __instancecheck__.
CHECKED_EVENT_TYPES: set[type] = set()


class CheckedEvent(Mapping[str, Any]):
    """Base of events whose type and number rule were already checked where they were made
    (the JS bridge's lazy events): the dispatcher produces them as they are, without
    reading their fields. Subclasses set :attr:`etype` and answer ``["type"]`` with it."""

    __slots__ = ("etype",)

    etype: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        CHECKED_EVENT_TYPES.add(cls)
