"""WorkflowHandler: control of a run in the background.

Returned by :meth:`Workflow.run_with_handler` and :meth:`Workflow.resume`. It records the
run's stream from the start, so :meth:`WorkflowHandler.stream_events` and
:meth:`WorkflowHandler.events` see every item whenever they are called.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import HandlerStateError, InvalidEventError
from .events import INPUT_RESPONSE_EVENT, event_type_of
from .runtime import COMPLETED, PAUSED, RUNNING, STATUS_NAMES, Run, WorkflowResult
from .snapshot import capture
from .state import bad_number, copy_state_value
from .stream import StreamEvent

if TYPE_CHECKING:
    from .checkpoint import Checkpointer
    from .remote import RemoteHandler

__all__ = ["WorkflowHandler", "await_result"]

StreamCallback = Callable[[StreamEvent], Any]


class WorkflowHandler:
    """A running (or paused, or finished) run.

    Python mirror of the spec's ``WorkflowHandler``: ``stream_events``,
    ``respond_to_input``, ``snapshot``, ``pause``, ``resume_in_place``, ``abort``,
    ``result``.
    """

    __slots__ = ("_checkpointer", "_items", "_run", "_wake")

    def __init__(self, run: Run, checkpointer: Checkpointer | None = None) -> None:
        self._run = run
        self._items: list[StreamEvent] = []
        self._wake: asyncio.Future[None] | None = None
        self._checkpointer = checkpointer
        run.listener = self._record
        run.when_done(self._on_done)

    def _record(self, item: StreamEvent) -> None:
        self._items.append(item)
        self._notify()

    def _on_done(self, _: object) -> None:
        self._notify()

    def _notify(self) -> None:
        wake = self._wake
        if wake is not None:
            self._wake = None
            if not wake.done():
                wake.set_result(None)

    async def _next_batch(self, seen: int) -> bool:
        """Wait until there are items past ``seen`` or the run ended; False when no more will come."""
        while len(self._items) <= seen:
            if self._run.done.done():
                return False
            if self._wake is None:
                self._wake = self._run.loop.create_future()
            await self._wake
        return True

    # -- observing -----------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        """The run's id (UUID v4)."""
        return self._run.run_id

    @property
    def workflow_name(self) -> str:
        """The workflow's name."""
        return self._run.workflow_name

    @property
    def status(self) -> str:
        """``'running'``, ``'paused'``, ``'completed'`` or ``'failed'``."""
        return STATUS_NAMES[self._run.status]

    @property
    def done(self) -> bool:
        """Whether the run has ended."""
        return self._run.status >= COMPLETED

    @property
    def durable(self) -> bool:
        """Whether the run keeps a checkpoint in a snapshot store (``checkpoint=``)."""
        return self._checkpointer is not None

    @property
    def run(self) -> Run:
        """The run's dispatcher (a documented internal, for bridges and runtimes)."""
        return self._run

    async def result(self) -> WorkflowResult:
        """Wait for the run to end and return its result; may be awaited many times.

        Raises:
            WorkflowError: the run failed (a subclass says how: step error, timeout, abort,
                stall, invalid event).
        """
        done = self._run.done
        if not done.done():
            await asyncio.wait([done])  # not `await done`: a cancelled waiter must not cancel it
        if self._checkpointer is not None:  # a durable run: its checkpoint is gone too
            await self._checkpointer.closed()
        return done.result()

    async def stream_events(self, callback: StreamCallback) -> None:
        """Call ``callback`` with every stream item, from the run's start until it ends.

        Returns when the run has ended (completed or failed; the failure is the last item,
        with ``event_type == "Error"``, and :meth:`result` raises it). ``callback`` may be
        sync or async; it may call :meth:`respond_to_input`.
        """
        seen = 0
        while await self._next_batch(seen):
            while seen < len(self._items):
                item = self._items[seen]
                seen += 1
                out = callback(item)
                if inspect.isawaitable(out):
                    await out

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Iterate over every stream item, from the run's start until it ends."""
        seen = 0
        while await self._next_batch(seen):
            while seen < len(self._items):
                seen += 1
                yield self._items[seen - 1]

    # -- controlling ---------------------------------------------------------------------

    def respond_to_input(self, request_id: str, response: Any) -> None:
        """Answer the input request ``request_id``.

        For the awaiter form the waiting step resumes with ``response``; for the durable
        form a ``blazen::InputResponseEvent`` with ``request_id`` and ``response`` is
        routed.

        Raises:
            InputRequestError: the id is unknown or was already answered.
            InvalidEventError: ``response`` breaks the number rule (NaN, an infinity, an
                integer of over 4300 digits) or is cyclic; the request stays open.
        """
        bad = bad_number({"response": response})
        if bad is not None:
            raise InvalidEventError(
                f"the answer to input request {request_id!r} is refused: {bad.lstrip('.')}; a response "
                "carries finite numbers and integers of at most 4300 digits, and no cycles",
                event_type=INPUT_RESPONSE_EVENT,
            )
        self._run.respond(request_id, response)

    def send_event(self, event: Mapping[str, Any], step: str | None = None) -> None:
        """Put an event into the run from outside, as if a step had sent it.

        A running run routes it (a step waiting in ``ctx.wait_for_event`` for it takes it
        first); a paused one keeps it queued until it resumes, and its snapshot holds
        it. With ``step``, only that step gets it. The event is copied first: it must be
        persistable data (a StateValue mapping with a string ``type``).

        Raises:
            InvalidEventError: ``event`` is not a mapping with a string ``type``.
            StateError: a value in it cannot be persisted.
            UnknownStepError: ``step`` is not a step of the workflow, or does not accept
                the event's type.
            HandlerStateError: the run has ended.
        """
        event_type_of(event)
        run = self._run
        if run.status >= COMPLETED:
            raise HandlerStateError(
                f"run {run.run_id} has already {STATUS_NAMES[run.status]}; it takes no more events"
            )
        copied = copy_state_value(dict(event), key="event")
        if step is None:
            run.produce(copied, None)
            if run.status == RUNNING:
                run.schedule()
        else:
            run.send_to(step, copied, None)

    def snapshot(self, metadata: Mapping[str, Any] | None = None) -> Awaitable[dict[str, Any]]:
        """Capture the run as JSON-compatible data, at the moment of the call, without
        stopping it. Await the returned awaitable for the snapshot.

        Args:
            metadata: Your own JSON-compatible data, stored in the snapshot as is.

        Raises:
            SnapshotError: (when awaited) an event or value cannot be encoded.
        """
        future: asyncio.Future[dict[str, Any]] = self._run.loop.create_future()
        try:
            future.set_result(capture(self._run, metadata))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def pause(self, metadata: Mapping[str, Any] | None = None) -> Awaitable[dict[str, Any]]:
        """Stop dispatching at once; await the result for the snapshot, taken once the
        running steps have finished.

        Steps waiting in ``ctx.request_input`` are stopped and run again on resume. Under
        the ``'continue'`` session pause policy the session is cleared once the snapshot
        is taken. Calling it from inside a step pauses after that step.

        Raises:
            HandlerStateError: the run has already ended (or ended while pausing).
        """
        run = self._run
        if run.status >= COMPLETED:
            raise HandlerStateError(
                f"run {run.run_id} has already {STATUS_NAMES[run.status]}; it cannot be paused "
                "(its outcome is available from result())"
            )
        run.begin_pause()
        return asyncio.ensure_future(self._finish_pause(metadata))

    async def _finish_pause(self, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        run = self._run
        await run.settle()
        if run.status >= COMPLETED:
            raise HandlerStateError(
                f"run {run.run_id} {STATUS_NAMES[run.status]} while pausing; see result()"
            )
        snap = capture(run, metadata)
        if run.session_pause_policy == "continue":
            run.session.clear()
        return snap

    async def resume_in_place(self) -> None:
        """Resume a paused run in this process.

        Raises:
            HandlerStateError: the run is not paused.
        """
        if self._run.status != PAUSED:
            raise HandlerStateError(f"run {self._run.run_id} is {self.status}, not paused; nothing to resume")
        self._run.resume()

    async def hand_off(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109 - per request, for the remote handler too
    ) -> RemoteHandler:
        """Pause the run, send its snapshot to a blazen_py.server, and follow it there.

        The server validates the snapshot as a resume does and continues the run (its
        steps must be there, under the same workflow name). The returned handler has
        ``stream_events``, ``respond_to_input``, ``result`` and ``abort``; from another
        process or page, ``RemoteHandler.attach(url, run_id, token=...)`` reattaches.
        A durable run's local checkpoint is deleted once the server has the run. If the
        server refuses or cannot be reached, the run stays paused here (resume it with
        :meth:`resume_in_place`, or try again).

        Args:
            url: The service's base URL, e.g. ``"http://127.0.0.1:8765"``.
            token: Its bearer token, if it has one.
            timeout: Seconds each request may take.

        Raises:
            RemoteError: the server refused the snapshot (``status`` and ``error_type``
                say why: ``SnapshotError``, ``AuthError``, ...) or could not be reached.
            HandlerStateError: the run has already ended.
        """
        from .remote import RemoteHandler, send_snapshot

        remote = RemoteHandler(url, self.run_id, token=token, timeout=timeout)
        snap = await (self.snapshot() if self._run.status == PAUSED else self.pause())
        await send_snapshot(remote, snap)
        await self.discard_checkpoint()
        return remote

    async def discard_checkpoint(self) -> None:
        """Delete a durable run's checkpoint now and save no more (the run goes on
        elsewhere: a hand-off); does nothing for a run without ``checkpoint=``."""
        if self._checkpointer is not None:
            await self._checkpointer.discard()

    def abort(self) -> None:
        """Cancel the run; :meth:`result` then raises :class:`WorkflowAbortedError`.

        Does nothing if the run has already ended.
        """
        self._run.abort()

    def __repr__(self) -> str:
        return f"<WorkflowHandler workflow={self.workflow_name!r} run={self.run_id} status={self.status}>"

    def _ipython_display_(self) -> None:
        # A handler shown in a notebook cell draws its run's live timeline there.
        from .notebook import live_timeline

        live_timeline(self)


async def await_result(run: Run, handler: WorkflowHandler | None = None) -> WorkflowResult:
    """Wait for ``run`` to end (through ``handler`` when given, for a durable run's
    checkpoint to be deleted too); cancelling the waiter aborts the run."""
    try:
        if handler is not None:
            return await handler.result()
        return await asyncio.shield(run.done)
    except asyncio.CancelledError:
        if not run.done.done():
            run.abort()
        raise
