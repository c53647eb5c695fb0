"""The dispatcher: one :class:`Run` per workflow run.

A run owns a FIFO queue of events and a dict from event type to the steps that accept
it. Routing an event calls each accepting step *inline*: a sync handler runs to
completion, and a coroutine is driven with ``send(None)`` until it first suspends. Only
a step that really suspends gets an asyncio Task (which continues the same coroutine),
so the common case schedules nothing at all: in Pyodide every scheduled callback is a
JS task. The queue is drained in a loop, not by recursion, and the loop hands control
back to the event loop once a stretch has run :data:`TIME_BUDGET` seconds (its clock read
every :data:`YIELD_EVERY` events) so that timers, ``abort()`` and ``pause()`` get in during
long synchronous chains.

Note:
    The part of a step that runs before its first ``await`` that suspends runs inside
    the dispatcher, where ``asyncio.current_task()`` is not the step's own task. A step
    that needs a task of its own from its first line (``asyncio.timeout()`` at the top)
    can be declared with ``inline=False``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Generator, Iterator, Mapping
from contextlib import contextmanager
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from .cancel import CancelSignal
from .collect import Collected
from .context import Context, RetryingContext
from .deadline import Deadline
from .errors import (
    ActiveStep,
    InvalidEventError,
    StepError,
    StepTimeoutError,
    UnknownStepError,
    WaitTimeoutError,
    WorkflowAbortedError,
    WorkflowError,
    WorkflowStallError,
    WorkflowTimeoutError,
)
from .events import (
    CHECKED_EVENT_TYPES,
    INPUT_REQUEST_EVENT,
    INPUT_RESPONSE_EVENT,
    STEP_FAILED_EVENT,
    STOP_EVENT,
    describe,
    event_shape,
    event_type_of,
    message_language,
)
from .journal import Journal
from .replay import Replays
from .requests import ANSWER_PREFIX, InputRequests, PausedForInput, ended_error
from .retry import error_message, error_name
from .state import bad_number, copy_state_value, flat_scalars
from .stream import ERROR, INPUT_ANSWERED, STEP_FINISHED, STEP_RETRYING, STEP_STARTED, StreamEvent
from .waiters import Waiters

if TYPE_CHECKING:
    from .definition import Definition
    from .step import Step

__all__ = ["YIELD_EVERY", "Attempt", "Deferred", "Run", "WorkflowResult", "run_hooks"]

logger = logging.getLogger("blazen_py")

YIELD_EVERY = 1000
"""Events routed between two readings of the clock; the dispatcher yields to the event
loop at the first reading TIME_BUDGET seconds or more after its stretch began."""

HOP_BUDGET = 1000
"""Parked flights continued in one loop callback before the dispatcher yields."""
TIME_BUDGET = 0.004
"""Seconds one loop callback may spend routing events, or continuing parked flights,
before it yields (the parked flights also after HOP_BUDGET hops)."""

# Private switch for bench/ (the previous design, side by side in one process): one loop
# callback per parked flight instead of the batch. Read when a Run is made.
_BATCHED = True
# Private switch for bench/ likewise: the pump's inlined fast path for an event routed to a
# single plain step (see Run.pump); off, every event goes through _invoke/_deliver/produce.
# Read when a Run is made.
_INLINED = True

RUNNING, PAUSED, COMPLETED, FAILED = 0, 1, 2, 3
STATUS_NAMES = ("running", "paused", "completed", "failed")

Listener = Callable[[StreamEvent], None]

run_hooks: list[Callable[[Run], None]] = []
"""Called with every run as it starts (or resumes), after its stream listener is set.

For instrumentation that must see runs it did not start (the notebook's ``trace()``, the
playground's cells); a hook typically calls :meth:`Run.trace`. An exception in a hook is
reported to the event loop's exception handler, never to the run."""


class WorkflowResult:
    """The outcome of a completed run.

    Attributes:
        data: The StopEvent's ``result``.
        run_id: The run's id.
        event: The StopEvent itself.
    """

    __slots__ = ("data", "event", "run_id")

    def __init__(self, data: Any, run_id: str, event: Mapping[str, Any]) -> None:
        self.data = data
        self.run_id = run_id
        self.event = event

    def __repr__(self) -> str:
        return f"WorkflowResult(data={self.data!r}, run_id={self.run_id!r})"


class _Resumed(Coroutine[Any, Any, Any]):
    """A coroutine that was started inline, handed to a Task at its first suspension.

    The first ``send`` gives the Task what the coroutine yielded when it suspended, so
    the Task waits on the same future; everything after goes to the coroutine itself.
    """

    __slots__ = ("_coro", "_first", "_flight", "_inv", "_run")

    def __init__(
        self, coro: Coroutine[Any, Any, Any], first: Any, run: Run, inv: int, flight: _Flight
    ) -> None:
        self._coro = coro
        self._first: Any = first
        self._run = run
        self._inv = inv
        self._flight: _Flight | None = flight

    def send(self, value: Any) -> Any:
        first = self._first
        if first is not _NOTHING:
            self._first = _NOTHING
            return first
        run = self._run
        run.current = self._inv  # state writes from here on belong to this invocation
        try:
            return self._coro.send(value)
        except StopIteration as stop:
            # Land now, not when the Task's done-callback runs a loop turn later: until it
            # lands the invocation counts as unfinished, and a snapshot taken meanwhile
            # would undo its writes and run it again.
            run.current = 0
            flight = self._flight
            if flight is not None:
                self._flight = None
                run._land(flight, stop.value, None)
            raise
        finally:
            run.current = 0

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._first = _NOTHING
        run = self._run
        run.current = self._inv
        try:
            if val is None and tb is None:
                return self._coro.throw(typ)
            return self._coro.throw(typ, val, tb)  # pragma: no cover - legacy signature
        finally:
            run.current = 0

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:  # pragma: no cover - Tasks use send()
        return self._coro.__await__()


_NOTHING = object()
_MISSING = object()
_ABANDONED = -1  # the invocation number of a given-up attempt still running (see Deferred.running)

_REASONS: dict[type[BaseException], str] = {
    WorkflowAbortedError: "aborted",
    WorkflowTimeoutError: "timeout",
    StepTimeoutError: "timeout",
}
"""``ctx.signal.reason`` by the error that ended the run (otherwise ``"failed"``)."""


# Python 3.12+ can start a Task eagerly: the continuation then waits on the step's future
# at once instead of one loop iteration later.
_EAGER = sys.version_info >= (3, 12)


class Attempt:
    """A retried step input: which attempt runs next (or runs now), and why.

    Attributes:
        step: The step's name.
        event: The event it handles.
        attempt: The attempt's number (2 for the first retry).
        error_name: The previous attempt's error: class name (or a JS error's name).
        error_message: Its message.
        due: While it waits: when it runs, in seconds since the epoch (``time.time()``);
            absolute, so that a snapshot resumed later waits only what is left.
    """

    __slots__ = ("attempt", "due", "error_message", "error_name", "event", "step", "timer")

    def __init__(
        self,
        step: Step,
        event: Mapping[str, Any],
        attempt: int,
        error_name: str,
        error_message: str,
        due: float | None = None,
    ) -> None:
        self.step = step
        self.event = event
        self.attempt = attempt
        self.error_name = error_name
        self.error_message = error_message
        self.due = due
        self.timer: asyncio.TimerHandle | None = None

    def describe(self) -> dict[str, Any]:
        """The JSON form a snapshot keeps (next to the step input)."""
        out: dict[str, Any] = {
            "attempt": self.attempt,
            "last_error": {"name": self.error_name, "message": self.error_message},
        }
        if self.due is not None:
            out["not_before"] = self.due
        return out


if TYPE_CHECKING:
    # A step input as snapshots see it: (step, event, invocation or 0, its retry Attempt).
    _StepInput = tuple[Step, Mapping[str, Any], int, Attempt | None]


class _Flight:
    """A step invocation that suspended, until it lands."""

    __slots__ = ("coro", "event", "inv", "run", "running", "step", "task", "timer")

    def __init__(
        self, run: Run, step: Step, event: Mapping[str, Any], coro: Coroutine[Any, Any, Any] | None, inv: int
    ) -> None:
        self.run = run
        self.inv = inv
        self.step = step
        self.event = event
        self.coro = coro
        self.task: asyncio.Task[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.running = False

    def task_done(self, task: asyncio.Task[Any]) -> None:
        self.run._task_done(self, task)


class _Parking:
    """The flights of every run on one loop that parked on a bare yield, in FIFO order.

    ``await asyncio.sleep(0)`` asks for one loop turn. Giving each parked flight a loop
    callback of its own costs a JS task per hop in Pyodide (~50 µs in Chromium), so the
    flights wait here instead and one callback continues them in order, flights parked
    meanwhile included, until the queue is empty or the budget (HOP_BUDGET hops or
    TIME_BUDGET seconds) is spent; then it yields through ``_compat.yield_to_host``.
    Ordering kept: FIFO among the flights (of all runs on the loop); a foreign callback
    waits at most one budget.
    """

    __slots__ = ("__weakref__", "flights", "loop", "scheduled", "yield_to_host")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.flights: deque[_Flight] = deque()
        self.scheduled = False
        self.yield_to_host = _yield_hook

    def park(self, flight: _Flight) -> None:
        self.flights.append(flight)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.drain)

    def drain(self) -> None:
        flights = self.flights
        popleft = flights.popleft
        hops = 0
        started = time.perf_counter()
        try:
            while flights:
                flight = popleft()
                flight.run._unpark(flight)
                hops += 1
                # The clock is read every 64 hops only: a hop is ~1 µs on CPython.
                if hops >= HOP_BUDGET or (not hops & 63 and time.perf_counter() - started >= TIME_BUDGET):
                    break
        finally:
            if flights:  # budget spent (or a hop raised): the rest after the host's turn
                self.yield_to_host(self.loop, self.drain)
            else:
                self.scheduled = False


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    loop.call_soon(callback)


# How a budget's yield reaches the host: ``call_soon`` until the platform seam installs its
# own (_compat does on import: setTimeout in a page). Installed from above, not imported
# here: _compat imports the snapshot package, which imports this module.
_yield_hook: Callable[[asyncio.AbstractEventLoop, Callable[[], object]], None] = _call_soon


def set_yield_to_host(hook: Callable[[asyncio.AbstractEventLoop, Callable[[], object]], None]) -> None:
    """Install the platform's yield (``_compat.yield_to_host``) for every loop's parking."""
    global _yield_hook
    _yield_hook = hook
    for parking in list(_parkings.values()):
        parking.yield_to_host = hook


_parkings: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Parking] = weakref.WeakKeyDictionary()


def _parking_of(loop: asyncio.AbstractEventLoop) -> _Parking:
    parking = _parkings.get(loop)
    if parking is None:
        parking = _parkings[loop] = _Parking(loop)
    return parking


def _running(active: list[ActiveStep]) -> str:
    """The end of a timeout's or abort's message: what was running."""
    if not active:
        return "; no step was running"
    return "; running: " + ", ".join(f"{a.step!r} (handling {a.event_type!r})" for a in active)


def _cancel_coroutine(coro: Coroutine[Any, Any, Any]) -> None:
    """Cancel a coroutine that no Task drives, as a Task would: CancelledError at its await."""
    try:
        coro.throw(asyncio.CancelledError())
    except BaseException:
        return
    coro.close()


class Deferred:
    """A step's result that arrives later, without a coroutine or a Task.

    A handler may return a ``Deferred`` and later call :meth:`resolve` with what it would
    have returned (an event, a list of events or None) or :meth:`reject` with an
    exception. Bridges to callback-based code (JS promises in the browser) use it so a
    completion costs one call, not an asyncio Task. Calls after the run ended, or after
    the first settlement, are ignored.
    """

    __slots__ = ("_flight", "_settled")

    def __init__(self) -> None:
        self._flight: _Flight | None = None
        self._settled = False

    @contextmanager
    def running(self) -> Iterator[None]:
        """Attribute the state writes made inside the block to this step invocation.

        A bridge wraps the callbacks of a step that runs outside Python (JS) with it, so
        that snapshots taken while the step is unfinished leave its writes out.
        """
        flight = self._flight
        if flight is None:
            yield
            return
        run = flight.run
        if flight not in run._flights:
            # Its attempt was given up (it timed out): what it writes or sends now is
            # journaled apart and undone at once, so it never reaches the next attempt.
            previous, run.current = run.current, _ABANDONED
            try:
                yield
            finally:
                run.current = previous
                run.journal.rollback(_ABANDONED, run.state)
                run.withheld.pop(_ABANDONED, None)
            return
        previous, run.current = run.current, flight.inv
        try:
            yield
        finally:
            run.current = previous

    @property
    def run(self) -> Run | None:
        """The run whose step waits for this result, or ``None`` once it is settled."""
        flight = self._flight
        return None if flight is None else flight.run

    def resolve(self, value: Any = None) -> None:
        """Complete the step with ``value``."""
        self._settle(value, None)

    def reject(self, error: BaseException) -> None:
        """Fail the step with ``error``."""
        self._settle(None, error)

    def _settle(self, value: Any, error: BaseException | None) -> None:
        if self._settled:
            return
        self._settled = True
        flight = self._flight
        if flight is not None:
            self._flight = None
            flight.run._land(flight, value, error)


async def _await(awaitable: Any) -> Any:
    return await awaitable


class Run:
    """The state of one run and the dispatcher that drives it.

    Created by :class:`~blazen_py.workflow.Workflow` (or rebuilt from a snapshot by
    :mod:`blazen_py.snapshot`); users see it through
    :class:`~blazen_py.handler.WorkflowHandler`. A documented internal: bridges and
    runtimes built on blazen_py may use its public attributes and methods.
    """

    def __init__(self, definition: Definition, *, run_id: str | None = None) -> None:
        self.definition = definition
        self.workflow_name = definition.name
        self.run_id = run_id or str(uuid.uuid4())
        steps = self.steps = definition.steps
        self.steps_by_name = definition.steps_by_name
        self.routes = definition.routes
        self.session_pause_policy = definition.session_pause_policy
        self.timeout = definition.timeout
        self.state: dict[str, Any] = {}
        self.session: dict[str, Any] = {}
        self.has_meta = False
        self.status = RUNNING
        self.listener: Listener | None = None
        self.on_step_done: Callable[[], None] | None = None
        self.loop = asyncio.get_running_loop()
        self.requests = InputRequests(self.run_id, self.loop, self._announce)
        self.unrouted: dict[str, list[str]] = {}
        self.queue: deque[Mapping[str, Any]] = deque()
        self.pending: list[tuple[Step, Mapping[str, Any]]] = []
        # A plain Future, not loop.create_future(): Pyodide's adds a done-callback of its
        # own (its count of pending futures), one more loop turn per run (two JS tasks in
        # Chromium) although nothing but a bridge's when_done may be waiting for the result.
        self.done: asyncio.Future[WorkflowResult] = asyncio.Future(loop=self.loop)
        self._when_done: list[Callable[[Run], None]] = []
        self._flights: dict[_Flight, None] = {}
        self._active = [0] * len(steps)
        self._backlog: dict[int, deque[Mapping[str, Any]]] = {}
        self._ctxs = [
            Context(self, s.name) if s.retry is None else RetryingContext(self, s.name) for s in steps
        ]
        self._pumping = False
        self._scheduled = False
        self._budget = YIELD_EVERY
        self._stretch_began = 0.0  # when _budget was last filled by a loop callback
        # Where a flight parked by a bare yield waits for its next hop (see _Parking).
        self._parking = _parking_of(self.loop)
        self._park: Callable[[_Flight], None] = self._parking.park if _BATCHED else self._park_alone
        # Whether pump() may take its fast path (off while traced: see trace()).
        self._inlined = _INLINED
        self._interrupted: dict[int, int] = {}
        # The invocation whose code runs right now (0: none), and what unfinished
        # invocations wrote (see journal.py).
        self.current = 0
        self.journal = Journal()
        self.collected = Collected()  # the buffers of ctx.collect_events (run state)
        self.replays = Replays()  # what interrupted invocations' durable calls did
        self.waiters = Waiters(self)  # steps in ctx.wait_for_event / ctx.sleep
        self.signal = CancelSignal()  # ctx.signal: fires when the run stops its steps
        self._direct: tuple[Step, Mapping[str, Any]] | None = None
        self._inv = 0
        self._steps_now: tuple[Step, ...] = ()
        self._event_now: Mapping[str, Any] = {}
        self._batch: list[tuple[Step, Mapping[str, Any]]] = []
        self._at = 0
        self._deadline = None if self.timeout is None else Deadline(self.loop, self.timeout, self._timed_out)
        self._idle: asyncio.Future[None] | None = None
        # The StopEvent a step produced while the run was paused: it ends the run on
        # resume. (A restored run may also hold the failure of the run it was taken of.)
        self.held_stop: Mapping[str, Any] | None = None
        self.held_failure: WorkflowError | None = None
        # Tracing (see trace()): tracers, the open spans (span id -> step name) and the
        # span whose code is running right now.
        self.tracer: Listener | None = None
        self._spans: dict[int, str] = {}
        self._span_now = 0
        # Retries (cold unless a step fails): inputs waiting for their next attempt, the
        # attempt of each running retried invocation, attempts carried to invocations
        # not started yet (keyed by step index and event identity), and the events
        # retried invocations sent, held back until they succeed.
        self.backoffs: dict[Attempt, None] = {}
        self.attempts: dict[int, Attempt] = {}
        self.carried: dict[tuple[int, int], Attempt] = {}
        self.withheld: dict[int, list[tuple[Mapping[str, Any], Step | None]]] = {}

    # -- life cycle ----------------------------------------------------------------------

    def start(self, start_event: Mapping[str, Any] | None, *, now: bool = False) -> None:
        """Begin (or continue, after a restore) dispatching, on the next loop turn.

        ``now``: dispatch the first events right away, in a copy of the caller's context
        (what a loop callback would run them in). Only for a caller with no step of any
        run below it on the stack: a bridge called from the host's own code, where every
        loop turn costs a JS task or two (see ``_jsbridge.workflow_run``).
        """
        for hook in run_hooks:
            try:
                hook(self)
            except Exception as exc:  # instrumentation must not break the run
                self.loop.call_exception_handler({"message": "error in a run hook", "exception": exc})
        if self._deadline is not None:
            self._deadline.start()
        if self.requests:  # restored from a snapshot: its durable requests are open again
            self.requests.announce_open()
        if self.held_failure is not None:  # restored from the snapshot of a failed run
            self.fail(self.held_failure)
            return
        if self.held_stop is not None:  # a StopEvent held by a pause, or a completed run
            self.complete(self.held_stop)
            return
        if start_event is not None:
            self.produce(start_event, None)
        if self.backoffs:  # restored mid-backoff: wait only what is left
            self._arm_backoffs()
        if now and not self._scheduled:
            contextvars.copy_context().run(self._scheduled_pump)
        else:
            self._schedule()

    def schedule(self) -> None:
        """Dispatch on the next loop turn (after something put an event in from outside)."""
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._scheduled_pump)

    def _scheduled_pump(self) -> None:
        self._scheduled = False
        self._budget = YIELD_EVERY
        self._stretch_began = time.perf_counter()
        self.pump()

    def _timed_out(self) -> None:
        active = self.active_steps()
        self.fail(
            WorkflowTimeoutError(
                f"workflow {self.workflow_name!r} timed out after {self.timeout:g} s{_running(active)}",
                run_id=self.run_id,
                active_steps=active,
            )
        )

    def active_steps(self) -> list[ActiveStep]:
        """The step invocations running right now (suspended, or running inline)."""
        active = [ActiveStep(f.step.name, f.event["type"]) for f in self._flights]
        if self.current and not any(f.running for f in self._flights):
            if self._steps_now:  # a step called inline from the queue
                active.append(ActiveStep(self._steps_now[self._at].name, self._event_now["type"]))
            elif self._at < len(self._batch):  # a step input handed out again after resume
                step, event = self._batch[self._at]
                active.append(ActiveStep(step.name, event["type"]))
        return active

    @property
    def finished(self) -> bool:
        """Whether the run has completed or failed."""
        return self.status >= COMPLETED

    @property
    def in_flight(self) -> int:
        """How many step invocations are suspended right now."""
        return len(self._flights)

    def context(self, step: str) -> Context:
        """The context of step ``step`` in this run."""
        return self._ctxs[self.steps_by_name[step].index]

    def record(self, key: str) -> None:
        """Note ``key``'s value before the running step invocation changes it."""
        if self.current:
            self.journal.record(self.current, key, self.state)

    def record_for(self, inv: int, key: str) -> None:
        """Note ``key``'s value before invocation ``inv`` changes it (from code that runs
        for an invocation after its own stretch: ``ctx.run_agent``)."""
        if inv:
            self.journal.record(inv, key, self.state)

    def checkpoint_now(self) -> None:
        """Ask a durable run to save a checkpoint soon, as after a step completes (a
        durable agent calls it after each turn it records)."""
        if self.on_step_done is not None:
            self.on_step_done()

    async def wait_bound(self, request_id: str, prompt: Any, metadata: Any, step: str | None) -> Any:
        """Wait on a bound durable input request (see :meth:`InputRequests.wait_bound`)."""
        if self.status >= COMPLETED:
            raise ended_error(self.run_id, step)
        return await self.requests.wait_bound(request_id, prompt, metadata, step, self.state)

    def committed_state(self) -> dict[str, Any]:
        """The state without the writes of step invocations that have not finished.

        A snapshot holds this state plus the inputs of those invocations; resuming runs
        them again from the state they started from, so their writes are not doubled.
        """
        return self.journal.committed(self.state)

    def step_inputs(self) -> list[tuple[str, Mapping[str, Any]]]:
        """The events that steps are handling or will handle next, as ``(step, event)``.

        Steps in flight, steps held back by ``max_concurrency``, and steps to run again
        after a pause; a resumed run calls them again (at-least-once).
        """
        return [(step.name, event) for step, event, _, _ in self.step_inputs_full()]

    def step_inputs_full(self) -> list[_StepInput]:
        """:meth:`step_inputs` as ``(step, event, invocation, attempt)``, then the inputs
        waiting out a backoff (their ``due`` set). ``invocation`` is 0 for inputs not
        started yet (a snapshot attaches the call records of the others); ``attempt`` is
        the input's :class:`Attempt` when it is a retry."""
        carried = self.carried
        attempts = self.attempts
        items: list[_StepInput] = [
            (f.step, f.event, f.inv, attempts.get(f.inv) if attempts else None) for f in self._flights
        ]

        def later(step: Step, event: Mapping[str, Any], inv: int) -> _StepInput:
            return step, event, inv, carried.get((step.index, id(event))) if carried else None

        # The first input not done of a batch is the invocation running now, unless a
        # flight is the one running.
        inline = 0 if any(f.running for f in self._flights) else self.current
        if self._steps_now:  # a snapshot taken while an event is handed out
            for i, s in enumerate(self._steps_now[self._at :]):
                items.append(later(s, self._event_now, inline if i == 0 else 0))
            inline = 0
        for i, (step, event) in enumerate(self._batch[self._at :]):
            items.append(later(step, event, inline if i == 0 else 0))
        for index, backlog in self._backlog.items():
            items.extend(later(self.steps[index], event, 0) for event in backlog)
        items.extend(later(step, event, 0) for step, event in self.pending)
        items.extend((b.step, b.event, 0, b) for b in self.backoffs)
        return items

    def current_input(self) -> tuple[Step, Mapping[str, Any]] | None:
        """The step and event of the invocation whose code runs now, or ``None``."""
        inv = self.current
        if not inv:
            return None
        for flight in self._flights:
            if flight.inv == inv:
                return flight.step, flight.event
        if self._direct is not None:
            return self._direct
        if self._steps_now:
            return self._steps_now[self._at], self._event_now
        if self._at < len(self._batch):
            return self._batch[self._at]
        return None

    def _announce(self, item: StreamEvent) -> None:
        listener = self.listener
        if listener is not None:
            listener(item)

    # -- producing -----------------------------------------------------------------------

    def produce(self, event: Mapping[str, Any], producer: str | None) -> None:
        """Take an event a step produced (its type already checked): stream, then route."""
        if self.status >= COMPLETED:
            return
        etype = event["type"]
        listener = self.listener
        if listener is not None:
            listener(StreamEvent(event, etype, event))
        if self.waiters and self.waiters.offer(event):
            return  # a step waiting for it took it
        if etype in self.routes:
            self.queue.append(event)
        elif etype == STOP_EVENT:
            if self.status == PAUSED:
                self._hold_stop(event)
            else:
                self.complete(event)
        elif etype == INPUT_REQUEST_EVENT:
            self._open_durable_request(event, producer)
        else:
            producers = self.unrouted.setdefault(etype, [])
            if producer is not None and producer not in producers:
                producers.append(producer)

    def send_to(self, name: object, event: Mapping[str, Any], producer: str | None) -> None:
        """Deliver ``event`` (its type already checked) to step ``name`` only.

        Streamed like any event, then kept as that step's next input (with the inputs a
        resumed run hands out first), so snapshots hold it and no other step or waiter
        sees it. The routing loop is untouched: a targeted event costs nothing there.

        Raises:
            UnknownStepError: the workflow has no step ``name``, or it does not accept
                the event's type.
        """
        self._deliver_to(self.target_step(name, event), event)

    def target_step(self, name: object, event: Mapping[str, Any]) -> Step:
        """The step ``name`` a targeted ``event`` goes to, checked.

        Raises:
            UnknownStepError: the workflow has no step ``name``, or it does not accept
                the event's type.
        """
        etype = event["type"]
        step = self.steps_by_name.get(name) if type(name) is str else None
        if step is None:
            known = ", ".join(repr(s.name) for s in self.steps)
            raise UnknownStepError(
                f"send_event: workflow {self.workflow_name!r} has no step {name!r} (its steps: {known})",
                step=name if type(name) is str else None,
                event_type=etype,
                run_id=self.run_id,
            )
        if etype not in step.accepts:
            raise UnknownStepError(
                f"send_event: step {step.name!r} does not accept {etype!r} events "
                f"(it accepts {', '.join(repr(t) for t in step.accepts)})",
                step=step.name,
                event_type=etype,
                run_id=self.run_id,
            )
        return step

    def _deliver_to(self, step: Step, event: Mapping[str, Any]) -> None:
        if self.status >= COMPLETED:
            return
        listener = self.listener
        if listener is not None:
            listener(StreamEvent(event, event["type"], event))
        self.pending.append((step, event))
        if self.status == RUNNING:
            self._schedule()

    def _open_durable_request(self, event: Mapping[str, Any], producer: str | None) -> None:
        # The step may choose the request id (``request_id``, or ``requestId`` from JS).
        chosen = event.get("request_id", event.get("requestId"))
        if chosen is not None:
            problem = None
            if type(chosen) is not str or not chosen:
                problem = f"request_id must be a non-empty string, got {describe(chosen)}"
            elif chosen in self.requests or chosen in self.requests.answered:
                state = "already open" if chosen in self.requests else "already answered"
                problem = f"input request {chosen!r} is {state} in this run"
            if problem is not None:
                self.fail(
                    InvalidEventError(
                        f"{INPUT_REQUEST_EVENT!r} from step {producer!r}: {problem}",
                        step=producer,
                        event_type=INPUT_REQUEST_EVENT,
                        run_id=self.run_id,
                    )
                )
                return
        self.requests.open(event.get("prompt"), event.get("metadata"), producer, request_id=chosen)

    def spend_budget(self, events: int) -> None:
        """Count ``events`` dispatched outside the pump (a chain of pure JS steps) against
        the budget before the next yield, so a long run yields as often as without it."""
        self._budget -= events

    def publish(self, etype: str, event: Mapping[str, Any]) -> None:
        """Put an item on the stream only (``write_event_to_stream``)."""
        listener = self.listener
        if listener is not None and self.status < COMPLETED:
            listener(StreamEvent(event, etype, event))

    def _deliver(self, step: Step, event: Mapping[str, Any], out: Any) -> None:
        if type(out) is dict:
            etype = out.get("type")
            if type(etype) is str and etype:
                bad = bad_number(out)
                if bad is not None:
                    self._bad_output(step, event, _number_problem(etype, bad))
                    return
                self.produce(out, step.name)
            else:
                try:
                    event_type_of(out, step=step.name)
                except InvalidEventError as exc:
                    self._bad_output(step, event, str(exc))
            return
        elif out is None:
            return
        elif type(out) in CHECKED_EVENT_TYPES:  # checked where it was made (a lazy JS event)
            self.produce(out, step.name)
            return
        elif type(out) is list or type(out) is tuple:
            try:
                for item in out:
                    event_type_of(item, step=step.name)
            except InvalidEventError as exc:
                self._bad_output(step, event, f"returned a list holding a non-event: {exc}")
                return
            for item in out:
                bad = bad_number(item)
                if bad is not None:
                    self._bad_output(step, event, _number_problem(item["type"], bad))
                    return
            for item in out:
                self.produce(item, step.name)
            return
        elif isinstance(out, Mapping):
            try:
                event_type_of(out, step=step.name)
            except InvalidEventError as exc:
                self._bad_output(step, event, str(exc))
                return
            bad = bad_number(dict(out))
            if bad is not None:
                self._bad_output(step, event, _number_problem(out["type"], bad))
                return
            self.produce(out, step.name)
            return
        js = message_language.get() == "js"
        others = "an array of events, or undefined" if js else "a list of events, or None"
        self._bad_output(
            step, event, f"returned {describe(out)}; a step returns an event ({event_shape()}), {others}"
        )

    def _bad_output(self, step: Step, event: Mapping[str, Any], what: str) -> None:
        self.fail(
            InvalidEventError(
                f"step {step.name!r} handling {event['type']!r}: {what}",
                step=step.name,
                event_type=event["type"],
                run_id=self.run_id,
            )
        )

    # -- dispatching ---------------------------------------------------------------------

    def pump(self) -> None:
        """Route queued events until the queue is empty, the run stops, or it is time to yield."""
        if self._pumping:
            return
        self._pumping = True
        queue = self.queue
        routes = self.routes
        invoke = self._invoke
        fast = self._inlined
        ctxs = self._ctxs
        waiters = self.waiters
        checked = CHECKED_EVENT_TYPES
        # While a batch is handed out, (_batch, _at) say which step inputs are not done
        # yet, so that a snapshot taken meanwhile (even by a step) loses none of them.
        try:
            if self.pending and self.status == RUNNING:
                self._batch, self.pending = self.pending, []
                for i, (step, event) in enumerate(self._batch):
                    self._at = i
                    if self.status != RUNNING:
                        break
                    invoke(step, event)
                else:
                    self._at = len(self._batch)
                self._hold()
            while queue and self.status == RUNNING:
                # The budget spans calls: steps that complete from microtasks (JS promises)
                # re-enter pump() without the event loop ever running a macrotask.
                self._budget -= 1
                if self._budget < 0:
                    # Time to read the clock. A stretch younger than TIME_BUDGET carries
                    # on: a yield costs two or three JS tasks in a page, and 1,000 cheap
                    # events (a pure JS chain; CPython's ~1 µs ones) take a fraction of a ms.
                    if time.perf_counter() - self._stretch_began < TIME_BUDGET:
                        self._budget = YIELD_EVERY
                        continue
                    # A long chain yields to the host (a timer, a frame, abort()) and
                    # carries on in a later callback.
                    if not self._scheduled:
                        self._scheduled = True
                        self._parking.yield_to_host(self.loop, self._scheduled_pump)
                    return
                event = queue.popleft()
                # A checked event's type is a slot; its ["type"] would be a Python call.
                # (`checked` is empty, so falsy, where no kind of checked event exists:
                # on CPython, routing a dict then costs one more test, not three.)
                if checked and type(event) is not dict and type(event) in checked:
                    steps = self._steps_now = routes[event.etype]  # type: ignore[attr-defined]
                else:
                    steps = self._steps_now = routes[event["type"]]
                self._event_now = event
                if fast and len(steps) == 1 and not (step := steps[0]).guarded:
                    # The fast path: _invoke, _deliver and produce of the common case in
                    # this frame (a Python call each is a third of an event's cost on
                    # CPython). One plain step on the route; its handler returns a dict,
                    # or a coroutine that completes on its first send. Every other turn
                    # hands over to the general code at the point it stands, so what
                    # happens is exactly what _invoke would do (the _INLINED switch).
                    self._at = 0
                    self._inv = inv = self._inv + 1
                    previous, self.current = self.current, inv
                    try:
                        out = step.handler(event, ctxs[step.index])
                        if type(out) is CoroutineType:
                            try:
                                first = out.send(None)
                            except StopIteration as stop:
                                out = stop.value
                            else:
                                self._take_off(step, event, out, first, inv)
                                out = _NOTHING  # a flight now
                        elif out is not None and type(out) is not dict and type(out) not in checked:
                            # A Deferred or another awaitable makes it a flight.
                            out = _NOTHING if self._suspended(step, event, out, inv) else out
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except BaseException as exc:
                        self._step_failed(step, event, exc, inv)
                        out = _NOTHING
                    finally:
                        self.current = previous
                    if out is not _NOTHING:  # the invocation finished
                        if self.journal:
                            self.journal.pop(inv, None)  # its writes are committed
                        # produce() of a routed event with flat fields (nothing for
                        # bad_number to report), no waiter to offer it to: stream, queue.
                        # A checked event was checked where it was made.
                        if type(out) is dict and self.status < COMPLETED and not waiters.by_type:
                            etype = out.get("type")
                            if type(etype) is str and etype in routes and flat_scalars(out):
                                listener = self.listener
                                if listener is not None:
                                    listener(StreamEvent(out, etype, out))
                                queue.append(out)
                                out = None
                        elif (
                            checked
                            and type(out) in checked
                            and out.etype in routes
                            and self.status < COMPLETED
                            and not waiters.by_type
                        ):  # the same for a checked event (its fields are not read)
                            listener = self.listener
                            if listener is not None:
                                listener(StreamEvent(out, out.etype, out))
                            queue.append(out)
                            out = None
                        if out is not None:  # anything else: checked and produced as usual
                            self._deliver(step, event, out)
                        if self.on_step_done is not None:
                            self.on_step_done()
                    self._steps_now = ()
                    continue
                for i, step in enumerate(steps):
                    self._at = i
                    if self.status != RUNNING:
                        self._batch = [(s, event) for s in steps]
                        self._hold()
                        break
                    invoke(step, event)
                self._steps_now = ()
        finally:
            self._steps_now = ()
            self._batch = []
            self._pumping = False
        self._check_idle()

    def _hold(self) -> None:
        # A pause arrived in the middle of a batch: keep the rest for resume.
        rest = self._batch[self._at :]
        self._batch = []
        if rest and self.status == PAUSED:
            self.pending[:0] = rest

    def _invoke(self, step: Step, event: Mapping[str, Any]) -> None:
        if step.guarded:
            self._invoke_guarded(step, event)
            return
        self._inv = inv = self._inv + 1
        previous, self.current = self.current, inv
        try:
            out = step.handler(event, self._ctxs[step.index])
            if type(out) is CoroutineType:
                try:
                    first = out.send(None)
                except StopIteration as stop:
                    out = stop.value
                else:
                    self._take_off(step, event, out, first, inv)
                    return
            elif type(out) is not dict and out is not None and self._suspended(step, event, out, inv):
                return
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self._step_failed(step, event, exc, inv)
            return
        finally:
            self.current = previous
        if self.journal:
            self.journal.pop(inv, None)  # finished: its writes are committed
        if out is not None:
            self._deliver(step, event, out)
        if self.on_step_done is not None:
            self.on_step_done()

    def _suspended(self, step: Step, event: Mapping[str, Any], out: Any, inv: int) -> bool:
        """Whether ``out`` (a handler's result, neither a coroutine nor a dict) makes the
        invocation a flight: a :class:`Deferred`, or another awaitable."""
        if type(out) is Deferred:
            self._defer(step, event, out, inv)
            return True
        if hasattr(out, "__await__"):
            self._take_off(step, event, _await(out), _NOTHING, inv)
            return True
        return False

    def _invoke_guarded(self, step: Step, event: Mapping[str, Any]) -> None:
        limit = step.max_concurrency
        if limit is not None and self._active[step.index] >= limit:
            self._backlog.setdefault(step.index, deque()).append(event)
            return
        started = time.perf_counter()
        self._inv = inv = self._inv + 1
        if self.carried:  # a retry: this invocation is attempt n
            carried = self.carried.pop((step.index, id(event)), None)
            if carried is not None:
                carried.due = None
                self.attempts[inv] = carried
        previous, self.current = self.current, inv
        try:
            out = step.handler(event, self._ctxs[step.index])
            if type(out) is CoroutineType:
                if not step.inline:
                    self._take_off(step, event, out, _NOTHING, inv)
                    return
                try:
                    first = out.send(None)
                except StopIteration as stop:
                    out = stop.value
                else:
                    self._take_off(step, event, out, first, inv)
                    return
            elif type(out) is not dict and out is not None and self._suspended(step, event, out, inv):
                return
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self._step_failed(step, event, exc, inv)
            return
        finally:
            self.current = previous
        if step.timeout is not None and time.perf_counter() - started > step.timeout:
            self._step_timed_out(step, event, inv)
            return
        if self.journal:
            self.journal.pop(inv, None)
        if step.retry is not None:
            self._succeeded(step, inv)
        self._deliver(step, event, out)
        if self.on_step_done is not None:
            self.on_step_done()

    # A step that suspends becomes a _Flight until it lands (returns or raises). A bare
    # yield (``await asyncio.sleep(0)``) only parks it until the next loop iteration, where
    # it continues inline; the first real future it awaits moves it into an asyncio Task.

    def _take_off(
        self, step: Step, event: Mapping[str, Any], coro: Coroutine[Any, Any, Any], first: Any, inv: int
    ) -> None:
        flight = _Flight(self, step, event, coro, inv)
        self._flights[flight] = None
        self._active[step.index] += 1
        if step.timeout is not None:
            flight.timer = self.loop.call_later(step.timeout, self._flight_timed_out, flight)
        self._continue(flight, first)

    def _defer(self, step: Step, event: Mapping[str, Any], deferred: Deferred, inv: int) -> None:
        if deferred._flight is not None or deferred._settled:
            error = RuntimeError("a Deferred can be returned by one step invocation only")
            self._step_failed(step, event, error, inv)
            return
        flight = _Flight(self, step, event, None, inv)
        deferred._flight = flight
        self._flights[flight] = None
        self._active[step.index] += 1
        if step.timeout is not None:
            flight.timer = self.loop.call_later(step.timeout, self._flight_timed_out, flight)

    def _continue(self, flight: _Flight, yielded: Any) -> None:
        if yielded is None:
            self._park(flight)
        else:  # a future (or _NOTHING: not started yet, for inline=False steps)
            self._to_task(flight, _Resumed(flight.coro, yielded, self, flight.inv, flight))  # type: ignore[arg-type]

    def _park_alone(self, flight: _Flight) -> None:
        # The previous design (``_BATCHED`` off): a loop callback for every hop.
        self.loop.call_soon(self._unpark, flight)

    def _to_task(self, flight: _Flight, coro: Coroutine[Any, Any, Any]) -> None:
        task = (
            asyncio.Task(coro, loop=self.loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
            if _EAGER
            else self.loop.create_task(coro)
        )
        flight.task = task
        if task.done():
            self._task_done(flight, task)
        else:
            task.add_done_callback(flight.task_done)

    def _unpark(self, flight: _Flight) -> None:
        if flight not in self._flights:
            return
        flight.running = True
        self.current = flight.inv
        try:
            yielded = flight.coro.send(None)  # type: ignore[union-attr]
        except StopIteration as stop:
            flight.running = False
            self.current = 0
            self._land(flight, stop.value, None)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            flight.running = False
            self.current = 0
            self._land(flight, None, exc)
        else:
            flight.running = False
            self.current = 0
            if flight in self._flights:
                self._continue(flight, yielded)
            else:
                _cancel_coroutine(flight.coro)  # type: ignore[arg-type]  # the run ended while it ran

    def _task_done(self, flight: _Flight, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self._land(flight, None, asyncio.CancelledError())
        else:
            exc = task.exception()
            self._land(flight, None if exc is not None else task.result(), exc)

    def _land(self, flight: _Flight, value: Any, exc: BaseException | None) -> None:
        if self._flights.pop(flight, _NOTHING) is _NOTHING:
            return
        step, event = flight.step, flight.event
        if flight.timer is not None:
            flight.timer.cancel()
        self._active[step.index] -= 1
        if self.status >= COMPLETED:
            return
        traced = self.tracer is not None
        if traced:
            self._span_now = flight.inv
        if exc is None:
            if self.journal:
                self.journal.pop(flight.inv, None)
            if step.retry is not None:
                self._succeeded(step, flight.inv)
            self._deliver(step, event, value)
            if self.on_step_done is not None:
                self.on_step_done()
            if traced:
                self._end_span(flight.inv, "completed")
        elif isinstance(exc, PausedForInput) or self._interrupted.get(step.index):
            # pause() interrupted it while it waited for input: run it again on resume,
            # from the state it started from. (A JS step sees the interruption as its own
            # rejection, hence the per-step count.)
            if self._interrupted.get(step.index):
                self._interrupted[step.index] -= 1
            self.journal.rollback(flight.inv, self.state)
            self.pending.append((step, event))
            if step.retry is not None:  # the same attempt runs again on resume
                self.withheld.pop(flight.inv, None)
                attempt = self.attempts.pop(flight.inv, None)
                if attempt is not None:
                    self.carried[(step.index, id(event))] = attempt
            if traced:
                self._end_span(flight.inv, "interrupted")
        else:
            self._step_failed(step, event, exc, flight.inv)
        if traced:
            self._span_now = 0
        backlog = self._backlog.get(step.index)
        if backlog and self.status == RUNNING:
            held = backlog.popleft()
            self._direct = (step, held)  # for current_input(): neither queue nor batch
            try:
                self._invoke(step, held)
            finally:
                self._direct = None
        self.pump()

    def _flight_timed_out(self, flight: _Flight) -> None:
        if flight in self._flights:
            self._span_now = flight.inv  # the span that failed, for a traced run
            step = flight.step
            if step.retry is not None or STEP_FAILED_EVENT in self.routes:
                self._drop_flight(flight)  # this attempt is over; another may follow
            self._step_timed_out(step, flight.event, flight.inv)
            self._span_now = 0
            if self.status == RUNNING:
                backlog = self._backlog.get(step.index)
                if backlog:
                    self._invoke(step, backlog.popleft())
                self.pump()

    def _drop_flight(self, flight: _Flight) -> None:
        # Stop one suspended invocation: its Task is cancelled (its landing is ignored,
        # as it is no longer a flight), a parked coroutine closed, a Deferred forgotten.
        self._flights.pop(flight, None)
        self._active[flight.step.index] -= 1
        if flight.timer is not None:
            flight.timer.cancel()
        if flight.task is not None:
            flight.task.cancel()
        elif not flight.running and flight.coro is not None:
            _cancel_coroutine(flight.coro)

    def _step_timed_out(self, step: Step, event: Mapping[str, Any], inv: int = 0) -> None:
        error = StepTimeoutError(
            f"step {step.name!r} handling {event['type']!r} timed out after {step.timeout:g} s",
            step=step.name,
            event_type=event["type"],
            run_id=self.run_id,
        )
        if step.retry is not None or STEP_FAILED_EVENT in self.routes:
            self._attempt_failed(step, event, error, inv)
            return
        self.fail(error)

    def _step_failed(self, step: Step, event: Mapping[str, Any], exc: BaseException, inv: int = 0) -> None:
        retried = step.retry is not None or STEP_FAILED_EVENT in self.routes
        # A wait_for_event timeout is the step's own failure: under a retry policy it is
        # retried like any other (issue 19); without one it ends the run as itself.
        if isinstance(exc, WorkflowError) and exc.run_id == self.run_id and not (
            retried and isinstance(exc, WaitTimeoutError)
        ):
            self.fail(exc)  # already ours (e.g. raised by a nested engine call)
            return
        if retried:
            self._attempt_failed(step, event, exc, inv)
            return
        self.fail(self._step_error(step, event, exc, 1))

    def _step_error(
        self, step: Step, event: Mapping[str, Any], exc: BaseException, attempts: int
    ) -> WorkflowError:
        if isinstance(exc, StepTimeoutError):
            exc.attempts = attempts
            if attempts > 1:
                exc.args = (f"{exc} (attempt {attempts} of {attempts})",)
            return exc
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        # An error that names its own kind (a JS step's: "SyntaxError: ...") is not wrapped
        # in its Python class name.
        said = str(exc) if getattr(exc, "names_its_kind", False) else f"{type(exc).__name__}: {exc}"
        error = StepError(
            f"step {step.name!r} failed handling {event['type']!r}{tries}: {said}",
            step=step.name,
            event_type=event["type"],
            run_id=self.run_id,
            attempts=attempts,
        )
        error.__cause__ = exc
        return error

    # -- retries (only ever reached when a step fails) --------------------------------------

    def withhold(self, event: Mapping[str, Any], producer: str | None, target: object = None) -> None:
        """``send_event`` from a step with a retry policy: held until the attempt succeeds
        (``target``: the one step it goes to, checked now, or None for routing)."""
        step = None if target is None else self.target_step(target, event)
        inv = self.current
        if not inv:
            if step is None:
                self.produce(event, producer)
            else:
                self._deliver_to(step, event)
            return
        held = self.withheld.get(inv)
        if held is None:
            held = self.withheld[inv] = []
        held.append((event, step))

    def _succeeded(self, step: Step, inv: int) -> None:
        # A retried step's attempt succeeded: what it sent goes out now, before what it
        # returned, in the order it was sent.
        if self.attempts:
            self.attempts.pop(inv, None)
        held = self.withheld.pop(inv, None) if self.withheld else None
        if held:
            for event, target in held:
                if target is None:
                    self.produce(event, step.name)
                else:
                    self._deliver_to(target, event)

    def attempt_of(self, inv: int) -> int:
        """The attempt number of invocation ``inv`` (1 unless it is a retry)."""
        attempt = self.attempts.get(inv) if self.attempts else None
        return 1 if attempt is None else attempt.attempt

    def retry_info(self, step: str | None) -> dict[str, Any]:
        """What :meth:`Context.retry_info` returns, for the invocation running now."""
        attempt = self.attempts.get(self.current) if self.attempts else None
        found = self.steps_by_name.get(step or "")
        policy = None if found is None else found.retry
        number = 1 if attempt is None else attempt.attempt
        most = 1 if policy is None else policy.max_attempts
        return {
            "attempt": number,
            "max_attempts": most,
            "last_error": None
            if attempt is None
            else {"name": attempt.error_name, "message": attempt.error_message},
            "next_delay": policy.base_delay(number) if policy is not None and number < most else None,
        }

    def _forget_expired_wait(self, step: Step, event: Mapping[str, Any]) -> None:
        # The attempt's last durable call is the wait that timed out: the retry waits
        # afresh (a new deadline), the calls before it replay as usual.
        records = self.replays.claim(step.index, event)
        if records and records[-1].get("kind") == "wait" and records[-1].get("event") is None:
            records.pop()
        self.replays.park(step.index, event, records)

    def _attempt_failed(self, step: Step, event: Mapping[str, Any], exc: BaseException, inv: int) -> None:
        # Undo the attempt (its writes, its held-back events), then try again later, hand
        # the failure to an error handler, or fail the run.
        if self.status >= COMPLETED:
            return
        previous = self.attempts.pop(inv, None) if self.attempts else None
        number = 1 if previous is None else previous.attempt
        if self.journal:
            self.journal.rollback(inv, self.state)
        if self.withheld:
            self.withheld.pop(inv, None)
        traced = self.tracer is not None and inv in self._spans
        if traced:
            self._end_span(inv, "failed", exc)
        policy = step.retry
        name = error_name(exc)
        message = error_message(exc)
        try:
            again = policy is not None and number < policy.max_attempts and policy.retries(exc)
        except Exception as broken:  # a retry_on predicate that raises fails the step
            again = False
            wrapped = RuntimeError(f"retry_on raised {type(broken).__name__}: {broken}")
            wrapped.__cause__ = exc
            exc = wrapped
            name, message = error_name(exc), str(exc)
        if again:
            assert policy is not None
            if isinstance(exc, WaitTimeoutError) and self.replays:
                self._forget_expired_wait(step, event)
            delay = policy.delay(number, exc)
            waiting = Attempt(step, event, number + 1, name, message, time.time() + delay)
            self.backoffs[waiting] = None
            listener = self.listener
            if listener is not None:
                fields = {
                    "step": step.name,
                    "attempt": number,
                    "max_attempts": policy.max_attempts,
                    "delay": delay,
                    "error_name": name,
                    "error": message,
                    "span": inv if traced else None,
                    "at": time.perf_counter(),
                }
                listener(StreamEvent(fields, STEP_RETRYING))
            if self.status == RUNNING:
                self._arm(waiting, delay)
            if self.on_step_done is not None:
                self.on_step_done()  # a durable run saves the failed attempt and its backoff
            return
        if STEP_FAILED_EVENT in self.routes and STEP_FAILED_EVENT not in step.accepts:
            self.produce(
                {
                    "type": STEP_FAILED_EVENT,
                    "step": step.name,
                    "event": dict(event),
                    "error": {"name": name, "message": message},
                    "attempts": number,
                },
                step.name,
            )
            if self.on_step_done is not None:
                self.on_step_done()
            return
        if traced:
            self._span_now = 0  # its span already ended as failed
        self.fail(self._step_error(step, event, exc, number))

    def _arm(self, waiting: Attempt, delay: float) -> None:
        waiting.timer = self.loop.call_later(max(delay, 0.0), self._backoff_over, waiting)

    def _arm_backoffs(self) -> None:
        # (Re)start the backoff timers with what is left of each delay: the time of the
        # next attempt is absolute, so a pause or a restore elsewhere does not reset it.
        now = time.time()
        for waiting in self.backoffs:
            if waiting.timer is None:
                policy = waiting.step.retry
                most = policy.max_delay if policy is not None else 0.0
                due = waiting.due if waiting.due is not None else now
                self._arm(waiting, min(due - now, most))

    def _disarm_backoffs(self) -> None:
        for waiting in self.backoffs:
            if waiting.timer is not None:
                waiting.timer.cancel()
                waiting.timer = None

    def _backoff_over(self, waiting: Attempt) -> None:
        waiting.timer = None
        if self.status != RUNNING or self.backoffs.pop(waiting, _NOTHING) is _NOTHING:
            return
        self.carried[(waiting.step.index, id(waiting.event))] = waiting
        self.pending.append((waiting.step, waiting.event))
        self._budget = YIELD_EVERY
        self._stretch_began = time.perf_counter()
        self.pump()

    def _check_idle(self) -> None:
        if self._flights or self._scheduled or self._pumping:
            return
        if self.status == PAUSED:
            idle = self._idle
            if idle is not None and not idle.done():
                idle.set_result(None)
        elif (
            self.status == RUNNING
            and not self.queue
            and not self.pending
            and not self.requests
            and not self.backoffs
        ):
            self.fail(self._stall_error())

    def _stall_error(self) -> WorkflowStallError:
        message = (
            f"workflow {self.workflow_name!r} stalled: nothing is queued or running, no input is "
            f"awaited, and no {STOP_EVENT!r} was produced"
        )
        if self.unrouted:
            parts = []
            for etype, producers in self.unrouted.items():
                origin = ", ".join(repr(p) for p in producers) or "the start"
                parts.append(f"{etype!r} (from {origin})")
            message += "; events that no step accepts: " + "; ".join(parts)
        return WorkflowStallError(
            message, unrouted={k: list(v) for k, v in self.unrouted.items()}, run_id=self.run_id
        )

    # -- ending --------------------------------------------------------------------------

    def complete(self, stop_event: Mapping[str, Any]) -> None:
        """End the run with ``stop_event`` (the first StopEvent wins)."""
        if self.status >= COMPLETED:
            return
        if self._span_now in self._spans:  # traced: the step that produced it is done
            self._end_span(self._span_now, "completed")
        self.status = COMPLETED
        self.signal.fire("stopped")
        self._teardown()
        if not self.done.done():
            self.done.set_result(WorkflowResult(stop_event.get("result"), self.run_id, stop_event))
        self._ended()

    def fail(self, error: WorkflowError) -> None:
        """End the run with ``error``; later failures are ignored."""
        if self.status >= COMPLETED:
            return
        if error.run_id is None:
            error.run_id = self.run_id
        if self._span_now in self._spans:  # traced: it failed while this step ran
            outcome = "cancelled" if isinstance(error, WorkflowAbortedError) else "failed"
            self._end_span(self._span_now, outcome, error)
        listener = self.listener
        if listener is not None:
            active = getattr(error, "active_steps", ())
            fields = {
                "error": str(error),
                "error_type": type(error).__name__,
                "step": error.step,
                "active_steps": [{"step": a.step, "event_type": a.event_type} for a in active],
            }
            listener(StreamEvent(fields, ERROR))
        self.status = FAILED
        self.signal.fire(_REASONS.get(type(error), "failed"))
        self._teardown()
        if not self.done.done():
            self.done.set_exception(error)
            # A failed run whose result nobody awaits must not log "exception never retrieved".
            self.done.exception()
        self._ended()

    def when_done(self, fn: Callable[[Run], None]) -> None:
        """Call ``fn(run)`` as soon as the run ends (now if it has ended).

        Unlike a done-callback of :attr:`done`, no event-loop turn comes in between: in
        Pyodide every turn is a JS task.
        """
        if self.status >= COMPLETED:
            fn(self)
        else:
            self._when_done.append(fn)

    def _ended(self) -> None:
        hooks, self._when_done = self._when_done, []
        for fn in hooks:
            try:
                fn(self)
            except Exception as exc:  # a hook must not break the dispatcher that ended the run
                self.loop.call_exception_handler(
                    {"message": f"error in a when_done hook of run {self.run_id}", "exception": exc}
                )

    def abort(self) -> None:
        """Cancel the run: it ends with :class:`WorkflowAbortedError`."""
        active = self.active_steps()
        self.fail(
            WorkflowAbortedError(
                f"run {self.run_id} of workflow {self.workflow_name!r} was aborted{_running(active)}",
                active_steps=active,
            )
        )

    def _hold_stop(self, stop_event: Mapping[str, Any]) -> None:
        # A StopEvent produced while paused: the run ends with it on resume. As in a run
        # never paused, the first one wins and the steps still running are cancelled.
        if self.held_stop is None:
            self.held_stop = stop_event
            self.signal.fire("stopped")
            self._cancel_flights()
            if self._spans:  # traced: what was cancelled ends here
                self._cancel_spans()

    def _teardown(self) -> None:
        if self._spans:
            self._cancel_spans()
        if self._deadline is not None:
            self._deadline.cancel()
        self._cancel_flights()
        self.requests.cancel_all()
        self.waiters.cancel_all()
        self.queue.clear()
        self.pending.clear()
        self._backlog.clear()
        if self.backoffs:
            self._disarm_backoffs()
            self.backoffs.clear()
        idle = self._idle
        if idle is not None and not idle.done():
            idle.set_result(None)

    def _cancel_flights(self) -> None:
        flights = list(self._flights)
        self._flights.clear()
        for flight in flights:
            if flight.timer is not None:
                flight.timer.cancel()
            if flight.task is not None:
                flight.task.cancel()
            elif not flight.running and flight.coro is not None:
                _cancel_coroutine(flight.coro)

    # -- pause / resume ------------------------------------------------------------------

    def begin_pause(self) -> None:
        """Stop dispatching now; steps already running go on until they finish.

        Steps waiting in ``ctx.request_input`` are stopped and will run again on resume.
        """
        if self.status == RUNNING:
            self.status = PAUSED
            if self._deadline is not None:
                self._deadline.pause()
            if self.backoffs:  # their times are absolute: resume waits only what is left
                self._disarm_backoffs()
        for name in self.requests.interrupt_waiters() + self.waiters.interrupt():
            step = self.steps_by_name.get(name or "")
            if step is not None:
                self._interrupted[step.index] = self._interrupted.get(step.index, 0) + 1

    async def settle(self) -> None:
        """Wait, after :meth:`begin_pause`, until no step is running."""
        while self.status == PAUSED and (self._flights or self._pumping or self._scheduled):
            self._idle = self.loop.create_future()
            await self._idle
            self._idle = None

    def resume(self) -> None:
        """Start dispatching again after :meth:`pause` (or end with the StopEvent held)."""
        if self.status != PAUSED:
            return
        self.status = RUNNING
        if self.held_stop is not None:
            self.complete(self.held_stop)
            return
        if self._deadline is not None:
            self._deadline.start()
        if self.backoffs:
            self._arm_backoffs()
        self._schedule()

    # -- input ---------------------------------------------------------------------------

    async def request_input(self, prompt: Any, metadata: Mapping[str, Any] | None, step: str | None) -> Any:
        """The awaiter form of human input (see :meth:`Context.request_input`)."""
        if self.status >= COMPLETED:
            raise ended_error(self.run_id, step)
        return await self.requests.wait(prompt, metadata, step)

    def respond(self, request_id: str, value: Any) -> None:
        """Answer an open input request.

        Raises:
            InputRequestError: the id is unknown or was already answered, or the run ended.
            StateError: the answer to a durable request is not a StateValue.
        """
        request = self.requests.lookup(request_id, ended=self.status >= COMPLETED)
        if request.future is not None:
            self.requests.close(request)
            if self.tracer is not None:
                self._trace(INPUT_ANSWERED, request_id=request_id, step=request.step)
            request.future.set_result(value)
            return
        response = copy_state_value(value, key="response")  # before anything changes
        self.requests.close(request)
        if self.tracer is not None:
            self._trace(INPUT_ANSWERED, request_id=request_id, step=request.step)
        if request.bound:  # no step waits on it now: kept for the step that will
            self.state[ANSWER_PREFIX + request_id] = response
            self.checkpoint_now()
            return
        self.produce({"type": INPUT_RESPONSE_EVENT, "request_id": request_id, "response": response}, None)
        if self.status == RUNNING:
            self._schedule()

    # -- tracing ---------------------------------------------------------------------------

    def trace(self, tracer: Listener) -> None:
        """Send ``tracer`` every stream item from now on, plus the run's span items.

        Span items (:data:`~blazen_py.stream.STEP_STARTED`, ``STEP_FINISHED``,
        ``INPUT_ANSWERED``) go to tracers only; the stream listener sees them only when it
        is the tracer itself (``spans=True``). Tracing switches this run to a slower
        dispatch path per step; a run never traced pays nothing, because the switch is an
        instance attribute that shadows :meth:`_invoke`.
        """
        previous = self.tracer
        self.tracer = tracer if previous is None else _Tee(previous, tracer)
        listener = self.listener
        self.listener = tracer if listener is None or listener == tracer else _Tee(listener, tracer)
        self._invoke = self._invoke_traced  # type: ignore[method-assign]
        self._inlined = False  # the fast path does not trace

    def _trace(self, kind: str, **fields: Any) -> None:
        tracer = self.tracer
        if tracer is not None:
            fields["at"] = time.perf_counter()
            tracer(StreamEvent(fields, kind))

    def _invoke_traced(self, step: Step, event: Mapping[str, Any]) -> None:
        limit = step.max_concurrency
        if limit is not None and self._active[step.index] >= limit:
            Run._invoke(self, step, event)  # held in the backlog: its span begins when it runs
            return
        span = self._inv + 1  # the invocation number Run._invoke is about to take
        self._spans[span] = step.name
        carried = self.carried.get((step.index, id(event))) if self.carried else None
        if carried is None:
            self._trace(STEP_STARTED, step=step.name, span=span, handling=event["type"])
        else:  # a retry says which attempt it is
            self._trace(
                STEP_STARTED, step=step.name, span=span, handling=event["type"], attempt=carried.attempt
            )
        active = self._active[step.index]
        previous, self._span_now = self._span_now, span
        try:
            Run._invoke(self, step, event)
        finally:
            self._span_now = previous
        if span in self._spans:  # neither failed nor landed already
            if self._active[step.index] > active and any(f.inv == span for f in reversed(self._flights)):
                return  # suspended: it ends when it lands
            self._end_span(span, "cancelled" if self.status == FAILED else "completed")

    def _end_span(self, span: int, outcome: str, error: BaseException | None = None) -> None:
        name = self._spans.pop(span, None)
        if name is None:
            return
        if error is None:
            self._trace(STEP_FINISHED, step=name, span=span, outcome=outcome)
        else:
            self._trace(
                STEP_FINISHED,
                step=name,
                span=span,
                outcome=outcome,
                error=str(error),
                error_type=type(error).__name__,
            )

    def _cancel_spans(self) -> None:
        # The run ended: what still runs is cancelled, except the span whose code is
        # running right now (it ends on its own path, e.g. the step that returned the stop).
        for span in [s for s in self._spans if s != self._span_now]:
            self._end_span(span, "cancelled")


class _Tee:
    """Two listeners as one: the stream's listener and a tracer, or two tracers."""

    __slots__ = ("first", "second")

    def __init__(self, first: Listener, second: Listener) -> None:
        self.first = first
        self.second = second

    def __call__(self, item: StreamEvent) -> None:
        self.first(item)
        self.second(item)


def _number_problem(etype: str, bad: str) -> str:
    """The message for an event that breaks the number rule (see :mod:`blazen_py.state`)."""
    return (
        f"produced a {etype!r} event whose field {bad.lstrip('.')}; events carry finite numbers and "
        "integers of at most 4300 digits, and no cycles"
    )
