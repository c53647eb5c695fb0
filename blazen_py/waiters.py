"""Steps that wait inside the run: ``ctx.wait_for_event`` and the durable ``ctx.sleep``.

A waiter is registered by event type; :meth:`Waiters.offer` is consulted for every
produced event (the dispatcher checks ``if run.waiters`` first, so a run with no waiter
pays one truth test). The first waiter whose type and ``where`` fields match takes the
event: it is consumed, no step gets it.

Both calls are durable through the step's call log (:mod:`.replay`): the record of each
call holds its absolute deadline (wall-clock seconds), and for a waiter the event that
arrived while the run was paused. A pause interrupts every waiting step (it runs again on
resume, like a step waiting for input); its waiters stay registered, *dormant*, so an
event sent while paused is kept in the record, and the repeat of the step gets it at
once, or waits again only for the rest of its deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from .errors import InvalidEventError, WaitTimeoutError, WorkflowDefinitionError
from .events import describe
from .replay import call_log
from .state import copy_state_value

__all__ = ["Interrupted", "Waiter", "Waiters"]


class Interrupted(BaseException):
    """Thrown into a step waiting in ``wait_for_event`` or ``sleep`` when its run pauses."""


class Waiter:
    """One ``wait_for_event`` (or ``sleep``: ``etype`` None) call; dormant while paused."""

    __slots__ = ("etype", "future", "record", "step", "timer", "where")

    def __init__(
        self, etype: str | None, where: dict[str, Any] | None, record: dict[str, Any], step: str | None
    ) -> None:
        self.etype = etype
        self.where = where
        self.record = record
        self.step = step
        self.future: asyncio.Future[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None

    def matches(self, event: Mapping[str, Any]) -> bool:
        where = self.where
        if not where:
            return True
        missing = object()
        return all(event.get(k, missing) == v for k, v in where.items())


def _check_seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise WorkflowDefinitionError(
            f"{what} must be a finite number of seconds >= 0 or None, got {value!r}"
        )
    return float(value)


class Waiters:
    """The waiting steps of one run, by the event type they wait for."""

    __slots__ = ("by_type", "children", "loop", "run", "sleeping")

    def __init__(self, run: Any) -> None:
        self.run = run
        self.loop: asyncio.AbstractEventLoop = run.loop
        self.by_type: dict[str, list[Waiter]] = {}
        self.sleeping: dict[Waiter, None] = {}
        # Child runs of sub-workflow steps (objects with .step and .interrupt()).
        self.children: dict[Any, None] = {}

    def __bool__(self) -> bool:
        return bool(self.by_type)

    # -- waiting for an event --------------------------------------------------------------

    def wait(self, step: str | None, etype: Any, where: Any, timeout: Any) -> asyncio.Future[Any]:
        """Register a waiter; the future gets the event, or :class:`WaitTimeoutError`."""
        if type(etype) is not str or not etype:
            raise InvalidEventError(
                f"wait_for_event: the event type must be a non-empty string, got {describe(etype)}"
            )
        if where is not None:
            if not isinstance(where, Mapping):
                raise InvalidEventError(
                    f"wait_for_event: where must be a mapping of fields, got {describe(where)}"
                )
            where = copy_state_value(dict(where), key="where")
        seconds = _check_seconds(timeout, "wait_for_event: timeout")
        run = self.run
        log = call_log(run)
        saved = log.next("wait")[1] if log is not None else None
        if saved is not None and (saved.get("type") != etype or saved.get("where") != where):
            saved = None  # the repeat waits for something else: start afresh
        if saved is not None:
            record = saved
            self._drop_dormant(record)
        else:
            deadline = None if seconds is None else time.time() + seconds
            record = {"kind": "wait", "type": etype, "where": where, "deadline": deadline}
        if log is not None:
            log.records.append(record)
        future: asyncio.Future[Any] = self.loop.create_future()
        arrived = record.get("event")
        if arrived is not None:  # it came while the run was paused
            future.set_result(arrived)
            return future
        waiter = Waiter(etype, where, record, step)
        waiter.future = future
        self.by_type.setdefault(etype, []).append(waiter)
        self._arm(waiter)
        return future

    def offer(self, event: Mapping[str, Any]) -> bool:
        """Give a produced event to the first waiter that wants it; True when taken."""
        waiting = self.by_type.get(event["type"])
        if not waiting:
            return False
        for i, waiter in enumerate(waiting):
            if waiter.matches(event):
                del waiting[i]
                if not waiting:
                    del self.by_type[event["type"]]
                if waiter.timer is not None:
                    waiter.timer.cancel()
                future = waiter.future
                if future is not None and not future.done():
                    future.set_result(event)
                else:  # dormant (paused): the repeat of the step gets it
                    waiter.record["event"] = event
                return True
        return False

    def restore(self, record: dict[str, Any], step: str | None) -> None:
        """A waiter of a restored snapshot, dormant until its step runs again."""
        if record.get("kind") == "wait" and record.get("event") is None:
            waiter = Waiter(record["type"], record.get("where"), record, step)
            self.by_type.setdefault(record["type"], []).append(waiter)

    def _drop_dormant(self, record: dict[str, Any]) -> None:
        etype = record.get("type")
        waiting = self.by_type.get(etype) if isinstance(etype, str) else None
        if not waiting:
            return
        for i, waiter in enumerate(waiting):
            if waiter.record is record:
                del waiting[i]
                if not waiting:
                    del self.by_type[etype]  # type: ignore[arg-type]
                return

    # -- sleeping ----------------------------------------------------------------------------

    def sleep(self, step: str | None, seconds: Any) -> asyncio.Future[Any]:
        """A durable sleep: its deadline is saved, a repeat sleeps only for the rest."""
        value = _check_seconds(seconds, "sleep: seconds")
        if value is None:
            raise WorkflowDefinitionError("sleep: seconds must be a number, got None")
        log = call_log(self.run)
        saved = log.next("sleep")[1] if log is not None else None
        record = saved if saved is not None else {"kind": "sleep", "deadline": time.time() + value}
        if log is not None:
            log.records.append(record)
        waiter = Waiter(None, None, record, step)
        waiter.future = self.loop.create_future()
        self.sleeping[waiter] = None
        self._arm(waiter)
        return waiter.future

    # -- timers, pause, end ----------------------------------------------------------------

    def _arm(self, waiter: Waiter) -> None:
        deadline = waiter.record.get("deadline")
        if deadline is None:
            return
        remaining = deadline - time.time()
        if remaining <= 0:
            self._expire(waiter)
        else:
            waiter.timer = self.loop.call_later(remaining, self._expire, waiter)

    def _expire(self, waiter: Waiter) -> None:
        waiter.timer = None
        future = waiter.future
        if waiter.etype is None:
            self.sleeping.pop(waiter, None)
            if future is not None and not future.done():
                future.set_result(None)
            return
        self._drop_dormant(waiter.record)
        if future is not None and not future.done():
            run = self.run
            future.set_exception(
                WaitTimeoutError(
                    f"step {waiter.step!r} waited for a {waiter.etype!r} event"
                    + (f" with {waiter.where!r}" if waiter.where else "")
                    + " past its timeout",
                    step=waiter.step,
                    event_type=waiter.etype,
                    run_id=run.run_id,
                )
            )

    def interrupt(self) -> list[str | None]:
        """A pause: stop every waiting and sleeping step (each runs again on resume) and
        return their step names. Waiters stay registered, dormant, with no timer."""
        steps: list[str | None] = []
        for waiter in [w for ws in self.by_type.values() for w in ws] + list(self.sleeping):
            future = waiter.future
            if waiter.timer is not None:
                waiter.timer.cancel()
                waiter.timer = None
            if future is not None and not future.done():
                steps.append(waiter.step)
                future.set_exception(Interrupted())
            waiter.future = None
        self.sleeping.clear()
        for child in list(self.children):
            steps.append(child.step)
            child.interrupt()  # pauses the child; its step is stopped once it settled
        return steps

    def cancel_all(self) -> None:
        """The run ended: cancel every waiting step and forget every waiter."""
        for waiter in [w for ws in self.by_type.values() for w in ws] + list(self.sleeping):
            if waiter.timer is not None:
                waiter.timer.cancel()
            if waiter.future is not None and not waiter.future.done():
                waiter.future.cancel()
        self.by_type.clear()
        self.sleeping.clear()
