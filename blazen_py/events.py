"""Built-in event types and the checks every produced event goes through.

An event is a mapping with a string ``type``. blazen_py keeps the mapping a step produced
and hands the same object to every step that accepts its type, so events are cheap to
route; treat them as read-only once produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import InvalidEventError

__all__ = [
    "INPUT_REQUESTED",
    "INPUT_REQUEST_EVENT",
    "INPUT_RESPONSE_EVENT",
    "START_EVENT",
    "STEP_FAILED_EVENT",
    "STOP_EVENT",
    "Event",
    "describe",
    "event_type_of",
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


def describe(value: object) -> str:
    """Return a short description of ``value`` for error messages (type and a clipped repr)."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


def event_type_of(value: object, *, step: str | None = None) -> str:
    """Return the ``type`` of ``value`` or raise :class:`InvalidEventError`.

    Args:
        value: What a step produced.
        step: Name of the producing step, for the message.
    """
    where = f" from step {step!r}" if step is not None else ""
    if not isinstance(value, Mapping):
        raise InvalidEventError(
            f"expected an event (a mapping with a string 'type'){where}, got {describe(value)}",
            step=step,
        )
    etype = value.get("type")
    if type(etype) is not str or not etype:
        raise InvalidEventError(
            f"event{where} has no string 'type' (got {describe(etype)}): {describe(value)}",
            step=step,
        )
    return etype
