"""Items of a run's stream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ERROR", "StreamEvent"]

ERROR = "Error"
"""``event_type`` of the stream item that reports a failed run."""


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
