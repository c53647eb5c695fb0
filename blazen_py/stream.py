"""Items of a run's stream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ERROR",
    "INPUT_ANSWERED",
    "SPAN_OUTCOMES",
    "STEP_FINISHED",
    "STEP_RETRYING",
    "STEP_STARTED",
    "StreamEvent",
]

ERROR = "Error"
"""``event_type`` of the stream item that reports a failed run."""

STEP_RETRYING = "blazen::StepRetrying"
"""A step attempt failed and the step will be tried again (every stream sees it):
``step``, ``attempt`` (the attempt that failed, 1-based), ``max_attempts``, ``delay``
(seconds until the next attempt), ``error_name``, ``error`` (the message), ``span`` (the
failed attempt's span in a traced run, else ``None``) and ``at``."""

# Span items: only a traced run makes them, and only its tracers (or a stream that asked
# for ``spans=True``) receive them. Each carries ``at``: time.perf_counter() seconds.
STEP_STARTED = "blazen::StepStarted"
"""A step invocation began: ``step``, ``span`` (its id, unique in the run), ``handling``
(the type of the event it was given), ``at``, and for a retry ``attempt`` (2, 3...)."""

STEP_FINISHED = "blazen::StepFinished"
"""A step invocation ended: ``step``, ``span``, ``outcome`` (one of :data:`SPAN_OUTCOMES`),
``at``, and for a failure ``error`` and ``error_type``."""

INPUT_ANSWERED = "blazen::InputAnswered"
"""An input request was answered: ``request_id``, ``step`` (that asked) and ``at``."""

SPAN_OUTCOMES = ("completed", "failed", "interrupted", "cancelled")
"""How a step invocation can end: it returned; it raised, timed out or returned a non-event;
a pause stopped it while it waited for input (it runs again on resume); the run ended
(a StopEvent elsewhere, an abort, a run timeout) while it was running."""


class StreamEvent(dict[str, Any]):
    """One item of a run's stream: a plain ``dict`` (it prints and serializes as one).

    :attr:`event_type` says what it is: an event's ``type`` for routed, sent and
    stream-only events (the start and stop events included), ``"InputRequested"`` for an
    input request, ``"Error"`` when the run fails.

    * For an event, the mapping holds the event's own fields, unchanged, plus the key
      ``event_type``, unless the event has a field of that name: a user field is never
      overwritten (:attr:`event_type` and ``["type"]`` still give the type).
      :attr:`event` is the event itself.
    * For the engine's own items the mapping holds the engine's fields: ``request_id``,
      ``prompt``, ``metadata`` and ``step`` for an input request; ``error``,
      ``error_type``, ``step`` and ``active_steps`` for an error; and ``event_type``.
      :attr:`event` is ``None``.

    A traced run also has span items (:data:`STEP_STARTED`, :data:`STEP_FINISHED`,
    :data:`INPUT_ANSWERED`): engine items, with the fields their docs name.
    """

    __slots__ = ("event", "event_type")

    event_type: str
    event: Mapping[str, Any] | None

    def __init__(
        self, fields: Mapping[str, Any], event_type: str, event: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(fields)
        self.event_type = event_type
        self.event = event
        if "event_type" not in self:
            self["event_type"] = event_type

    @classmethod
    def of_event(cls, event: Mapping[str, Any], event_type: str) -> StreamEvent:
        """The item of ``event`` (of type ``event_type``)."""
        return cls(event, event_type, event)

    @property
    def engine(self) -> bool:
        """Whether the engine made this item (an input request or an error), not an event."""
        return self.event is None

    def __reduce__(self) -> Any:
        return (StreamEvent, (dict(self), self.event_type, self.event))
