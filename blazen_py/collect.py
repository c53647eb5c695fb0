"""Fan-in: the buffers of ``ctx.collect_events``, part of a run's state.

A step that joins several events calls ``ctx.collect_events(event, ["A", "B"])`` with
each event it receives: the event is buffered (per step, per type) until one of each
listed type (a type listed twice needs two) has arrived, then the events are taken out
of the buffer and returned in the listed order. Each call costs O(len(expected)), so
joining N events costs O(N).

The buffers are run state: snapshots hold them (:meth:`Collected.committed`), and a step
invocation that does not finish (paused, or still running when a snapshot is taken) has
what it buffered or took undone through the run's journal, since it runs again on
resume and would otherwise buffer its event twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidEventError
from .events import describe, event_type_of
from .replay import CONSUMED, CallLog, call_log

__all__ = ["COLLECTED", "Collected"]

COLLECTED = "collected"
"""The key of the buffers' copy in the copies a snapshot undoes unfinished work in."""

Buffers = dict[str, dict[str, deque[Mapping[str, Any]]]]


class Collected:
    """Step name -> event type -> the events buffered for that step, oldest first."""

    __slots__ = ("buffers",)

    def __init__(self) -> None:
        self.buffers: Buffers = {}

    def __bool__(self) -> bool:
        return bool(self.buffers)

    def collect(
        self, run: Any, step: str | None, event: Mapping[str, Any], expected: Any
    ) -> list[Mapping[str, Any]] | None:
        """Buffer ``event`` for ``step``; return the listed events once all are there.

        ``run`` is the dispatcher (its ``current`` invocation and ``journal``).

        Raises:
            InvalidEventError: ``event`` is not an event, or ``expected`` is not a list of
                event type strings.
        """
        etype = event_type_of(event, step=step)
        if type(expected) is not list and type(expected) is not tuple:
            raise InvalidEventError(
                f"collect_events: expected must be a list of event types, got {describe(expected)}",
                step=step,
            )
        if not expected:
            return []
        log = call_log(run)
        record: dict[str, Any] = {"kind": "collect"}
        index = 0
        if log is not None:
            index, saved = log.next("collect")
            log.records.append(record)
            if saved is not None and saved.get(CONSUMED):
                # The run this one repeats buffered the event, and a finished step took it.
                record[CONSUMED] = True
                return None
        # Membership stops at the first match, so a fan-in of N events of one type
        # (expected == ["Item"] * N) costs O(1) per event; the full count below runs only
        # once enough events are buffered.
        if etype not in expected:
            _check_types(expected, step)
            return None  # not one of the listed types: nothing to buffer
        key = step or ""
        per_step = self.buffers.get(key)
        if per_step is None:
            per_step = self.buffers[key] = {}
        buffer = per_step.get(etype)
        if buffer is None:
            buffer = per_step[etype] = deque()
        buffer.append(event)
        inv = run.current
        if inv:
            run.journal.record_undo(inv, _UndoAdd(self, key, etype, event, log, record, index))
        if len(per_step) == 1:
            if len(buffer) < len(expected):
                return None
        elif sum(len(q) for q in per_step.values()) < len(expected):
            return None
        needed = _check_types(expected, step)
        for name, count in needed.items():
            found = per_step.get(name)
            if found is None or len(found) < count:
                return None
        taken = [per_step[name].popleft() for name in expected]
        for name in needed:
            if not per_step[name]:
                del per_step[name]
        if not per_step:
            del self.buffers[key]
        if inv:
            run.journal.record_undo(inv, _UndoTake(self, key, list(expected), taken))
        return taken

    def committed(self) -> dict[str, dict[str, list[Mapping[str, Any]]]]:
        """A copy of the buffers (lists), for a snapshot to undo unfinished work in."""
        return {step: {t: list(q) for t, q in per.items()} for step, per in self.buffers.items()}

    def restore(self, buffers: Mapping[str, Mapping[str, Iterable[Mapping[str, Any]]]]) -> None:
        """Set the buffers read from a (validated) snapshot."""
        self.buffers = {step: {t: deque(q) for t, q in per.items() if q} for step, per in buffers.items()}
        self.buffers = {step: per for step, per in self.buffers.items() if per}


def _check_types(expected: list[str] | tuple[str, ...], step: str | None) -> dict[str, int]:
    """How many of each type ``expected`` lists.

    Raises:
        InvalidEventError: an entry is not a non-empty string.
    """
    needed: dict[str, int] = {}
    for name in expected:
        if type(name) is not str or not name:
            raise InvalidEventError(
                f"collect_events: expected holds {describe(name)}, not an event type string", step=step
            )
        needed[name] = needed.get(name, 0) + 1
    return needed


def _target(owner: Collected, copies: Any) -> Any:
    """The buffers to undo in: the live ones (``copies`` is None) or a snapshot's copy."""
    return owner.buffers if copies is None else copies[COLLECTED]


class _UndoAdd:
    """Undo one buffered event: remove it (by identity) from its buffer.

    When it is no longer there, a finished step took it: the repeat of this invocation
    must not buffer it again, so its call record is marked consumed (in the live log, or
    in the snapshot's marks).
    """

    __slots__ = ("etype", "event", "index", "log", "owner", "record", "step")

    def __init__(
        self,
        owner: Collected,
        step: str,
        etype: str,
        event: Mapping[str, Any],
        log: CallLog | None,
        record: dict[str, Any],
        index: int,
    ) -> None:
        self.index = index
        self.owner = owner
        self.step = step
        self.etype = etype
        self.event = event
        self.log = log
        self.record = record

    def __call__(self, copies: Any) -> None:
        buffers = _target(self.owner, copies)
        per_step = buffers.get(self.step)
        buffer = per_step.get(self.etype) if per_step else None
        if buffer:
            for i in range(len(buffer) - 1, -1, -1):
                if buffer[i] is self.event:
                    del buffer[i]
                    if not buffer:
                        del per_step[self.etype]
                        if not per_step:
                            del buffers[self.step]
                    return
        if copies is None:
            self.record[CONSUMED] = True
        elif self.log is not None:
            copies[CONSUMED].add((self.log.inv, self.index))


class _UndoTake:
    """Undo one completed collection: put the events taken back at the front."""

    __slots__ = ("expected", "owner", "step", "taken")

    def __init__(
        self, owner: Collected, step: str, expected: list[str], taken: list[Mapping[str, Any]]
    ) -> None:
        self.owner = owner
        self.step = step
        self.expected = expected
        self.taken = taken

    def __call__(self, copies: Any) -> None:
        buffers = _target(self.owner, copies)
        per_step = buffers.setdefault(self.step, {})
        for name, event in reversed(list(zip(self.expected, self.taken, strict=True))):
            buffer = per_step.get(name)
            if buffer is None:
                buffer = per_step[name] = deque() if copies is None else []
            buffer.insert(0, event)
