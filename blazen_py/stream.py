"""Items of a run's stream."""

from __future__ import annotations

from typing import Any

__all__ = ["ERROR", "StreamEvent"]

ERROR = "Error"
"""``event_type`` of the stream item that reports a failed run."""


class StreamEvent(dict[str, Any]):
    """One item of a run's stream: the event's fields plus ``event_type``.

    A plain ``dict`` (so it prints and serializes as one) whose ``event_type`` key says
    what it is: an event's ``type`` for routed, sent and stream-only events (including
    the start and stop events), ``"InputRequested"`` for input requests (with
    ``request_id``, ``prompt`` and ``metadata``), and ``"Error"`` when the run fails
    (with ``error``, ``error_type`` and ``step``).
    """

    __slots__ = ()

    @property
    def event_type(self) -> str:
        """What this item is (see the class docstring)."""
        return str(self["event_type"])
