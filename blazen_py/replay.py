"""What a step invocation's durable calls did, kept for the run that repeats it.

A step invocation that does not finish (a pause interrupts it, or a snapshot is taken
while it runs) runs again from the start on resume. Its durable calls (``collect_events``,
``wait_for_event``, ``sleep``) must then repeat what the first run did instead of doing it twice: an event the
first run buffered and another, finished, step already took must not be buffered again.

Each invocation that makes a durable call gets a :class:`CallLog`: one record per call,
in call order. The log lives in the run's journal (an undo entry), so it is dropped for
free when the invocation finishes; when the invocation is rolled back its records are
parked under its step input (``Replays``) for the repeat to claim, and a snapshot writes
them beside the step input (``"calls"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CONSUMED", "CallLog", "Replays"]

CONSUMED = "consumed"
"""The key of a snapshot's copy of the marks "this collect's event was taken already"."""


class CallLog:
    """The durable calls of one step invocation (records), and the saved records of the
    run it repeats."""

    __slots__ = ("event", "inv", "records", "replays", "saved", "step")

    def __init__(
        self, replays: Replays, inv: int, step: int, event: Mapping[str, Any], saved: list[dict[str, Any]]
    ) -> None:
        self.replays = replays
        self.inv = inv
        self.step = step
        self.event = event
        self.saved = saved
        self.records: list[dict[str, Any]] = []

    def next(self, kind: str) -> tuple[int, dict[str, Any] | None]:
        """Begin the next durable call: its index, and what the repeated run saved for it
        (``None`` when the saved record is missing or of another kind)."""
        index = len(self.records)
        saved = self.saved[index] if index < len(self.saved) else None
        if saved is not None and saved.get("kind") != kind:
            saved = None
        return index, saved

    def __call__(self, copies: Any) -> None:
        # The journal's undo: rolled back, the records wait for the repeat of this input.
        if copies is None:
            self.replays.park(self.step, self.event, self.records)


class Replays:
    """Step input -> the records its interrupted run saved, until the repeat claims them."""

    __slots__ = ("_parked",)

    def __init__(self) -> None:
        self._parked: dict[tuple[int, int], tuple[Mapping[str, Any], list[dict[str, Any]]]] = {}

    def __bool__(self) -> bool:
        return bool(self._parked)

    def park(self, step: int, event: Mapping[str, Any], records: list[dict[str, Any]]) -> None:
        """Keep ``records`` for the next run of step ``step`` on ``event``."""
        if records:
            # The records themselves: a waiter left dormant fills in the event that comes.
            self._parked[(step, id(event))] = (event, list(records))

    def claim(self, step: int, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The records saved for this step input (once), or ``[]``."""
        key = (step, id(event))
        found = self._parked.get(key)
        if found is None or found[0] is not event:  # the id of an event since collected
            return []
        del self._parked[key]
        return found[1]

    def peek(self, step: int, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The records saved for this step input, left in place (for a snapshot)."""
        found = self._parked.get((step, id(event)))
        return found[1] if found is not None and found[0] is event else []


def call_log(run: Any) -> CallLog | None:
    """The call log of the invocation running now, made on its first durable call
    (``None`` outside a step invocation)."""
    inv = run.current
    if not inv:
        return None
    for _, key, old in run.journal.get(inv, ()):
        if key is None and type(old) is CallLog:
            return old
    found = run.current_input()
    if found is None:
        return None
    step, event = found
    log = CallLog(run.replays, inv, step.index, event, run.replays.claim(step.index, event))
    run.journal.record_undo(inv, log)
    return log


def log_of(journal: Mapping[int, Any], inv: int) -> CallLog | None:
    """The call log invocation ``inv`` has, if any."""
    for _, key, old in journal.get(inv, ()):
        if key is None and type(old) is CallLog:
            return old
    return None
