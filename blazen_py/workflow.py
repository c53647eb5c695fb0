"""Workflow and WorkflowBuilder: declaring steps and starting runs."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from .checkpoint import Checkpointer, check_entry, list_checkpoints
from .definition import Definition, RefType, Serializer
from .errors import (
    BadCheckpointError,
    InvalidEventError,
    SnapshotError,
    WorkflowDefinitionError,
    WorkflowError,
)
from .events import START_EVENT, describe, message_language, shown
from .handler import WorkflowHandler, await_result
from .retry import RetryPolicy
from .runtime import Run, WorkflowResult
from .snapshot import Deserializer, restore
from .state import bad_number
from .step import Handler, Step
from .stores import SnapshotStore
from .stream import ERROR, StreamEvent
from .validation import ValidationProblem, validate_nested

__all__ = ["SessionPausePolicy", "Workflow", "WorkflowBuilder"]

logger = logging.getLogger("blazen_py")

SessionPausePolicy = str
"""``'continue'`` (session refs dropped on pause) or ``'pause'`` (kept until resume)."""
_POLICIES = ("continue", "pause")

F = TypeVar("F", bound=Handler)


def _check_timeout(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise WorkflowDefinitionError(
            f"timeout must be a positive number of seconds or {shown(None)}, got {shown(seconds)}"
        )
    return float(seconds)


def _not_an_input(value: object) -> str:
    shape = "an object" if message_language.get() == "js" else "a mapping"
    return f"run() input must be {shape} (merged onto the start event), got {describe(value)}"


def _check_policy(policy: str) -> str:
    if policy not in _POLICIES:
        raise WorkflowDefinitionError(f"session pause policy must be 'continue' or 'pause', got {policy!r}")
    return policy


class Workflow:
    """A named set of steps that react to events.

    Example (top-level ``await``, as in Pyodide or a notebook cell)::

        from blazen_py import START_EVENT, STOP_EVENT, Workflow

        wf = Workflow("greeter")

        @wf.step(accepts=[START_EVENT])
        async def greet(event, ctx):
            return {"type": STOP_EVENT, "result": f"Hello, {event['name']}"}

        result = await wf.run({"name": "Ada"})
        assert result.data == "Hello, Ada"
    """

    def __init__(
        self, name: str, *, timeout: float | None = None, session_pause_policy: str = "continue"
    ) -> None:
        if not isinstance(name, str) or not name:
            raise WorkflowDefinitionError(f"a workflow name must be a non-empty string, got {shown(name)}")
        self._name = name
        self._steps: list[Step] = []
        self._timeout = _check_timeout(timeout)
        self._policy = _check_policy(session_pause_policy)
        self._ref_types: list[RefType] = []
        self._retry: RetryPolicy | None = None
        self._definition: Definition | None = None

    # -- construction --------------------------------------------------------------------

    @classmethod
    def builder(cls, name: str) -> WorkflowBuilder:
        """Return a new :class:`WorkflowBuilder` named ``name``."""
        return WorkflowBuilder(name)

    @classmethod
    def from_builder(cls, builder: WorkflowBuilder) -> Workflow:
        """Return a fresh Workflow built from ``builder`` (same as ``builder.build()``)."""
        return builder.build()

    @property
    def name(self) -> str:
        """The workflow's name."""
        return self._name

    @property
    def steps(self) -> tuple[Step, ...]:
        """The declared steps, in declaration order."""
        return tuple(self._steps)

    @property
    def timeout(self) -> float | None:
        """The run timeout in seconds, or ``None``."""
        return self._timeout

    @property
    def session_pause_policy(self) -> str:
        """``'continue'`` or ``'pause'``."""
        return self._policy

    def add_step(
        self,
        name: str,
        accepts: list[str] | tuple[str, ...],
        handler: Handler,
        *,
        emits: list[str] | tuple[str, ...] | None = None,
        timeout: float | None = None,
        max_concurrency: int | None = None,
        inline: bool = True,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
    ) -> Step:
        """Declare a step.

        Args:
            name: Unique step name.
            accepts: Event types routed to this step.
            handler: ``(event, ctx)``, sync or async, returning an event, a list of events
                (fan-out) or None.
            emits: Event types the step may produce; used by :meth:`validate` only.
            timeout: Seconds one invocation may take; exceeding it fails the run with
                :class:`StepTimeoutError`.
            max_concurrency: At most this many invocations suspended at once; further
                events wait for this step in order.
            inline: ``True`` (default) runs the handler inside the dispatcher until it
                first suspends (fast). ``False`` gives every invocation its own asyncio
                Task from the start (needed for ``asyncio.timeout()`` at its top).
            retry: A :class:`RetryPolicy` (or a dict of its options): a failed invocation
                is tried again after a backoff; ``timeout`` then counts per attempt. Each
                attempt starts from the state the first one started from, and events it
                sends are held back until it succeeds. Overrides the workflow's
                :meth:`set_retry_policy`.

        Raises:
            WorkflowDefinitionError: a bad argument or a duplicate name.
        """
        if any(s.name == name for s in self._steps):
            raise WorkflowDefinitionError(f"workflow {self._name!r} already has a step named {name!r}")
        step = Step(
            name,
            accepts,
            handler,
            emits=emits,
            timeout=timeout,
            max_concurrency=max_concurrency,
            inline=inline,
            index=len(self._steps),
            retry=retry,
        )
        self._steps.append(step)
        self._definition = None
        return step

    def add_subworkflow_step(
        self,
        name: str,
        accepts: list[str] | tuple[str, ...],
        child: Workflow,
        *,
        input: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None,
        output: Callable[[WorkflowResult, Mapping[str, Any]], Any] | None = None,
        timeout: float | None = None,
    ) -> Step:
        """Declare a step that runs the workflow ``child`` (its own state and run id).

        Args:
            name: Unique step name.
            accepts: Event types routed to this step.
            child: The workflow to run.
            input: Maps the parent event to the child's start input (default: the event's
                fields without ``type``).
            output: ``(result, event)`` -> the parent's next event(s), from the child's
                :class:`WorkflowResult` and the parent event (default: a StopEvent with
                the child's result data).
            timeout: Seconds the child may take (a :class:`StepTimeoutError`); ``None``:
                no limit.

        The child's stream items reach the parent's stream with ``path`` (the chain of
        step names). A pause or snapshot of the parent holds the child's snapshot; resume
        continues both. The parent's abort, timeout or StopEvent aborts the child; the
        child's failure is this step's failure.

        Example::

            from blazen_py import START_EVENT, STOP_EVENT, Workflow

            reviewer = Workflow("reviewer")
            reviewer.add_step("judge", [START_EVENT], lambda e, ctx: {
                "type": STOP_EVENT, "result": "ok" if len(e["text"]) < 100 else "too long"})

            parent = Workflow("publish")
            parent.add_step("draft", [START_EVENT], lambda e, ctx: {"type": "Draft", "text": e["text"]})
            parent.add_subworkflow_step(
                "review", ["Draft"], reviewer,
                input=lambda e: {"text": e["text"]},
                output=lambda result, e: {"type": "Reviewed", "verdict": result.data},
            )
            parent.add_step("done", ["Reviewed"], lambda e, ctx: {"type": STOP_EVENT, "result": e["verdict"]})
            result = await parent.run({"text": "Short and sweet."})
            assert result.data == "ok"
        """
        from .subworkflow import subworkflow_handler

        return self.add_step(
            name, accepts, subworkflow_handler(name, child, input, output), timeout=timeout, inline=True
        )

    def add_parallel_subworkflows(
        self,
        name: str,
        accepts: list[str] | tuple[str, ...],
        children: list[Workflow] | tuple[Workflow, ...],
        *,
        input: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None,
        output: Callable[[Any, Mapping[str, Any]], Any] | None = None,
        join: str = "all",
        timeout: float | None = None,
    ) -> Step:
        """Declare a step that runs the workflows ``children`` at once, each with its own
        state and run id, all from the same start input.

        Args:
            name: Unique step name.
            accepts: Event types routed to this step.
            children: The workflows to run (at least one).
            input: Maps the parent event to the children's start input (default: the
                event's fields without ``type``); each child gets its own copy.
            output: ``(results, event)`` -> the parent's next event(s). With
                ``join="all"`` ``results`` is the list of the children's
                :class:`WorkflowResult` in ``children`` order; with ``join="first"`` it is
                the first one to finish (default: a StopEvent with the data).
            join: ``"all"`` waits for every child; ``"first"`` takes the first result and
                aborts the others (their ``ctx.signal`` fires).
            timeout: Seconds the children may take together (a
                :class:`StepTimeoutError`); ``None``: no limit.

        A snapshot holds each finished child's result and each running child's snapshot:
        resume runs only the unfinished ones. A child's failure aborts the others and is
        this step's failure (its retry policy applies: a retry runs every child again).

        Example::

            from blazen_py import START_EVENT, STOP_EVENT, Workflow

            def scorer(name, factor):
                wf = Workflow(name)
                wf.add_step("score", [START_EVENT],
                            lambda e, ctx: {"type": STOP_EVENT, "result": len(e["text"]) * factor})
                return wf

            wf = Workflow("judge")
            wf.add_step("start", [START_EVENT], lambda e, ctx: {"type": "Draft", "text": e["text"]})
            wf.add_parallel_subworkflows(
                "score", ["Draft"], [scorer("short", 1), scorer("long", 10)],
                input=lambda e: {"text": e["text"]},
                output=lambda results, e: {"type": STOP_EVENT, "result": [r.data for r in results]},
            )
            result = await wf.run({"text": "abc"})
            assert result.data == [3, 30]
        """
        from .subworkflow import parallel_handler

        return self.add_step(
            name,
            accepts,
            parallel_handler(name, children, input, output, join),
            timeout=timeout,
            inline=True,
        )

    def add_map_step(
        self,
        name: str,
        accepts: list[str] | tuple[str, ...],
        child: Workflow,
        *,
        items: Callable[[Mapping[str, Any]], Any],
        output: Callable[[list[WorkflowResult], Mapping[str, Any]], Any] | None = None,
        concurrency: int = 8,
    ) -> Step:
        """Declare a step that runs ``child`` once per item, at most ``concurrency`` at once.

        Args:
            name: Unique step name.
            accepts: Event types routed to this step.
            child: The workflow to run per item.
            items: The parent event -> the items (a mapping item is the child's start
                input; any other value arrives as ``{"item": value}``).
            output: ``(results, event)`` -> the parent's next event(s); ``results`` are
                the children's :class:`WorkflowResult`, in item order (default: a
                StopEvent with the list of their data).
            concurrency: At most this many children at once.

        A snapshot holds which items are done, with their results, and the snapshots of
        the children still running: resume runs only the rest. A child's failure aborts
        the others and is this step's failure.

        Example::

            from blazen_py import START_EVENT, STOP_EVENT, Workflow

            fetch_one = Workflow("fetch_one")  # stands in for a fetch: the URL's length
            fetch_one.add_step("get", [START_EVENT],
                               lambda e, ctx: {"type": STOP_EVENT, "result": len(e["item"])})

            wf = Workflow("crawl")
            wf.add_step("start", [START_EVENT], lambda e, ctx: {"type": "Urls", "urls": e["urls"]})
            wf.add_map_step("pages", ["Urls"], fetch_one, items=lambda e: e["urls"],
                            output=lambda results, e: {"type": STOP_EVENT,
                                                       "result": [r.data for r in results]},
                            concurrency=5)
            result = await wf.run({"urls": ["a.example", "bb.example", "ccc.example"]})
            assert result.data == [9, 10, 11]
        """
        from .subworkflow import map_handler

        return self.add_step(name, accepts, map_handler(name, child, items, output, concurrency))

    def step(
        self,
        accepts: list[str] | tuple[str, ...],
        *,
        name: str | None = None,
        emits: list[str] | tuple[str, ...] | None = None,
        timeout: float | None = None,
        max_concurrency: int | None = None,
        inline: bool = True,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
    ) -> Callable[[F], F]:
        """Decorator form of :meth:`add_step`; the step is named after the function by default.

        Raises:
            TypeError: used without parentheses (``@wf.step`` instead of
                ``@wf.step(accepts=[...])``).
        """
        _check_decorator_use(accepts, "wf")

        def decorate(fn: F) -> F:
            self.add_step(
                name or fn.__name__,
                accepts,
                fn,
                emits=emits,
                timeout=timeout,
                max_concurrency=max_concurrency,
                inline=inline,
                retry=retry,
            )
            return fn

        return decorate

    def set_timeout(self, seconds: float | None) -> None:
        """Limit each run to ``seconds`` (``None``: no limit). Exceeding it fails the run with
        :class:`WorkflowTimeoutError`. Time spent paused does not count."""
        self._timeout = _check_timeout(seconds)
        self._definition = None

    def set_retry_policy(self, policy: RetryPolicy | Mapping[str, Any] | None) -> None:
        """Give every step without a policy of its own this :class:`RetryPolicy` (or a dict
        of its options; ``None`` removes it). Runs already started keep theirs.

        Raises:
            WorkflowDefinitionError: a bad policy.
        """
        self._retry = RetryPolicy.coerce(policy)
        self._definition = None

    @property
    def retry_policy(self) -> RetryPolicy | None:
        """The default retry policy (:meth:`set_retry_policy`), or ``None``."""
        return self._retry

    def set_session_pause_policy(self, policy: str) -> None:
        """Set what happens to ``ctx.session`` on pause: ``'continue'`` (default, dropped)
        or ``'pause'`` (kept until the run resumes in this process)."""
        self._policy = _check_policy(policy)
        self._definition = None

    def register_serializable_ref(
        self, type_tag: str, match: type | Callable[[Any], bool], serialize: Serializer
    ) -> None:
        """Let session values of a type go into snapshots as ``{type_tag, bytes}``.

        Args:
            type_tag: Tag recorded in the snapshot; the resuming side maps it to a
                deserializer in :meth:`resume_with_serializable_refs`.
            match: A class (values that are instances of it) or a predicate.
            serialize: Turns the live value into ``bytes``.
        """
        if not isinstance(type_tag, str) or not type_tag:
            raise WorkflowDefinitionError(f"type_tag must be a non-empty string, got {type_tag!r}")
        if isinstance(match, type):
            cls = match

            def is_instance(value: Any) -> bool:
                return isinstance(value, cls)

            self._ref_types.append(RefType(type_tag, is_instance, serialize))
        else:
            self._ref_types.append(RefType(type_tag, match, serialize))
        self._definition = None

    def validate(self) -> list[ValidationProblem]:
        """Check the step graph using the declared ``emits``; return the problems found.

        Reports steps unreachable from the start event, declared event types that no step
        accepts, a missing start step, and the lack of any declared path to a StopEvent.
        The children of sub-workflow, map and parallel steps are checked too: their
        problems carry the ``path`` of step names down to the child and say it in their
        message. An empty list means no problem was found.
        """
        return validate_nested(tuple(self._steps), frozenset({id(self)}))

    # -- running -------------------------------------------------------------------------

    def definition(self) -> Definition:
        """The workflow as runs see it, frozen: a step added later changes only later runs."""
        definition = self._definition
        if definition is None:
            definition = self._definition = Definition(
                self._name,
                tuple(self._steps),
                timeout=self._timeout,
                session_pause_policy=self._policy,
                ref_types=tuple(self._ref_types),
                retry=self._retry,
            )
        return definition

    def _start_event(self, input: Mapping[str, Any] | None) -> dict[str, Any]:
        if input is None:
            return {"type": START_EVENT}
        if not isinstance(input, Mapping):
            raise InvalidEventError(_not_an_input(input))
        event = dict(input)
        event["type"] = START_EVENT
        bad = bad_number(event)
        if bad is not None:
            raise InvalidEventError(
                f"run() input: field {bad.lstrip('.')}; events carry finite numbers and integers "
                "of at most 4300 digits, and no cycles",
                event_type=START_EVENT,
            )
        return event

    async def run(
        self, input: Mapping[str, Any] | None = None, *, checkpoint: SnapshotStore | None = None
    ) -> WorkflowResult:
        """Run the workflow to its end.

        Args:
            input: Fields merged onto the ``blazen::StartEvent``.
            checkpoint: A snapshot store: makes the run durable (see
                :meth:`run_with_handler`).

        Returns:
            The result: ``.data`` is the StopEvent's ``result``, ``.run_id`` the run's id.

        Raises:
            WorkflowError: the run failed; the subclass says how.
        """
        if checkpoint is not None:
            handler = await self.run_with_handler(input, checkpoint=checkpoint)
            return await await_result(handler.run, handler)
        return await await_result(self.start(input))

    def start(self, input: Mapping[str, Any] | None = None, *, now: bool = False) -> Run:
        """Start a run and return its dispatcher; its first steps run on the next loop turn
        (``now``: before this returns, see :meth:`Run.start`; the run may have ended then).

        A documented internal, for bridges and runtimes that settle results from
        :meth:`Run.when_done` (most code wants :meth:`run` or :meth:`run_with_handler`).

        Raises:
            InvalidEventError: ``input`` is not a mapping.
        """
        start = self._start_event(input)
        run = Run(self.definition())
        run.start(start, now=now)
        return run

    async def run_streaming(
        self, input: Mapping[str, Any] | None, callback: Callable[[StreamEvent], Any], *, spans: bool = False
    ) -> WorkflowResult:
        """Run the workflow, calling ``callback`` synchronously with every stream item.

        Items are routed and stream-only events, input requests, the error of a failed
        run and the stop event, each with ``event_type``. An exception raised by the
        callback fails the run. An async ``callback`` (one that returns an awaitable) is
        awaited, item after item in order; this returns once it has seen the last one.
        ``spans=True`` adds the span items of every step invocation (``blazen::StepStarted`` /
        ``blazen::StepFinished``, see :mod:`blazen_py.stream`), as a timeline needs; the run
        then dispatches a little slower.

        Returns:
            The same result as :meth:`run`.
        """
        start = self._start_event(input)
        run = Run(self.definition())
        awaited = _AwaitedCallbacks(run)

        def listener(item: StreamEvent) -> None:
            try:
                out = callback(item)
            except Exception as exc:
                awaited.failed(item, exc)
                return
            if inspect.isawaitable(out):
                awaited.add(item, out)

        run.listener = listener
        if spans:
            run.trace(listener)
        run.start(start)
        try:
            result = await await_result(run)
        finally:
            await awaited.drained()
        awaited.raise_late_failure()
        return result

    async def run_with_handler(
        self,
        input: Mapping[str, Any] | None = None,
        *,
        checkpoint: SnapshotStore | None = None,
        spans: bool = False,
        run_id: str | None = None,
    ) -> WorkflowHandler:
        """Start a run in the background and return its :class:`WorkflowHandler`.

        Args:
            input: Fields merged onto the ``blazen::StartEvent``.
            checkpoint: A snapshot store (``IndexedDBStore(name)`` in the browser,
                ``MemoryStore()`` or your own): the run saves a snapshot under its run id
                before its first step runs (this returns after that save), again after
                steps complete, and deletes it when it ends. After a reload, list
                unfinished runs with :meth:`checkpoints` and continue one with
                :meth:`resume_checkpoint`; steps that were running (or whose completion
                was not saved yet) run again: at-least-once. The run is owned by this
                process (and claimed in a :class:`ClaimingStore`) until its checkpoint is
                deleted.
            spans: Put the span items of every step invocation on the handler's stream
                (see :meth:`run_streaming`).
            run_id: The run's id (a new UUID v4 when omitted): a runtime that makes a run
                durable elsewhere (``blazen_py.server``) gives the run the id it is known by.

        Raises:
            InvalidEventError: ``input`` is not a mapping.
            WorkflowDefinitionError: ``run_id`` is not a non-empty string of at most 200
                characters.
        """
        start = self._start_event(input)
        if run_id is not None and not (isinstance(run_id, str) and 0 < len(run_id) <= 200):
            raise WorkflowDefinitionError(
                f"run_id must be a non-empty string of at most 200 characters, got {run_id!r}"
            )
        run = Run(self.definition(), run_id=run_id)
        return await _start(run, start, checkpoint, spans)

    async def resume(
        self,
        snapshot: Mapping[str, Any] | str | bytes,
        *,
        checkpoint: SnapshotStore | None = None,
        spans: bool = False,
        allow_definition_change: bool = False,
    ) -> WorkflowHandler:
        """Resume a run from a snapshot (a dict or its JSON text) in this process.

        Session refs in the snapshot are skipped (with a logged warning); use
        :meth:`resume_with_serializable_refs` to bring them back.

        Args:
            snapshot: From :meth:`WorkflowHandler.snapshot` / ``pause``.
            checkpoint: Keep the resumed run durable in this store.
            spans: Put step span items on the handler's stream.
            allow_definition_change: Resume a snapshot taken by this workflow with other
                steps (see docs/snapshot-format.md); refused by default.

        Raises:
            SnapshotError: the snapshot is corrupt, truncated, newer than this version, was
                taken by a different definition of this workflow, or does not fit it.
        """
        return await self.resume_with_serializable_refs(
            snapshot, {}, checkpoint=checkpoint, spans=spans, allow_definition_change=allow_definition_change
        )

    async def resume_with_serializable_refs(
        self,
        snapshot: Mapping[str, Any] | str | bytes,
        deserializers: Mapping[str, Deserializer],
        *,
        checkpoint: SnapshotStore | None = None,
        spans: bool = False,
        allow_definition_change: bool = False,
        wait: float = 0.0,
    ) -> WorkflowHandler:
        """Resume a run from a snapshot, rebuilding session refs with ``deserializers``.

        Args:
            snapshot: From :meth:`WorkflowHandler.snapshot` / ``pause`` (dict or JSON text).
            deserializers: Maps each session-ref type tag to a function from the captured
                bytes to the live value. Unknown tags are skipped with a logged warning.
            checkpoint: Keep the resumed run durable in this store (see
                :meth:`run_with_handler`); the run is owned first (see
                :meth:`resume_checkpoint`).
            spans: Put step span items on the handler's stream (see :meth:`run_streaming`).
            allow_definition_change: See :meth:`resume`.
            wait: With ``checkpoint``: seconds to wait for the run's current owner.

        Raises:
            SnapshotError: see :meth:`resume`.
            RunOwnedError: with ``checkpoint``, the run is owned elsewhere.
        """
        run = restore(
            self.definition(), snapshot, deserializers, allow_definition_change=allow_definition_change
        )
        return await _start(run, None, checkpoint, spans, wait=wait)

    async def checkpoints(
        self, store: SnapshotStore, *, on_bad: Callable[[BadCheckpointError], Any] | None = None
    ) -> list[dict[str, Any]]:
        """List this workflow's unfinished durable runs saved in ``store``.

        Args:
            on_bad: Called with a :class:`BadCheckpointError` (its ``key`` names the entry)
                for every entry that is skipped because it cannot be resumed: unreadable,
                not a valid snapshot, stored under a key other than its run id, or with a
                ``created_at`` that is not a number. Default: a logged warning.

        Returns:
            One ``{"run_id", "workflow", "created_at", "status"}`` per checkpoint,
            oldest first. A bad entry never hides the others.
        """
        return await list_checkpoints(store, self._name, on_bad)

    async def resume_checkpoint(
        self,
        store: SnapshotStore,
        run_id: str,
        *,
        spans: bool = False,
        wait: float = 0.0,
        allow_definition_change: bool = False,
    ) -> WorkflowHandler:
        """Continue the durable run ``run_id`` from its checkpoint in ``store``.

        The run gets one owner first: a second resume of a run that is running in this
        process, or whose claim another process or tab holds (a :class:`ClaimingStore`:
        Web Locks for the IndexedDB store), raises :class:`RunOwnedError` and runs
        nothing. The run is saved again before its first step (which also checks the
        claim), and owned until its checkpoint is deleted.

        Args:
            wait: Seconds to wait for the current owner to finish or release the run
                (``math.inf``: no limit). After an owner finished it, its checkpoint is
                gone and this raises :class:`SnapshotError`.
            allow_definition_change: See :meth:`resume`.

        Raises:
            RunOwnedError: the run is owned elsewhere (after ``wait``).
            SnapshotError: there is no such checkpoint, or it is not a valid snapshot.
            BadCheckpointError: the checkpoint under ``run_id`` holds another run id.
        """
        owner = await Checkpointer.own(store, run_id, wait=wait)
        try:
            snapshot = await store.load(run_id)
            if snapshot is None:
                raise SnapshotError(f"no checkpoint of run {run_id!r} in the store (ended, or never saved)")
            if not isinstance(snapshot, dict) or snapshot.get("run_id") != run_id:
                check_entry(run_id, snapshot if isinstance(snapshot, dict) else {})
            run = restore(self.definition(), snapshot, {}, allow_definition_change=allow_definition_change)
        except BaseException:
            await owner.abandon()
            raise
        return await _start(run, None, owner, spans)

    def __repr__(self) -> str:
        return f"<Workflow {self._name!r} steps={[s.name for s in self._steps]!r}>"

    # -- drawings (blazen_py._draw, imported on first use) ----------------------------------

    def to_svg(self) -> str:
        """The graph of steps and event types (from the declared accepts / emits) as an SVG
        document. A notebook shows it when the workflow is a cell's value."""
        from ._draw.graph import describe, graph_tree
        from ._draw.tree import to_markup

        return to_markup(graph_tree(describe(self)))

    def to_mermaid(self) -> str:
        """The graph as a Mermaid flowchart (names escaped as Mermaid entities)."""
        from ._draw.export import to_mermaid
        from ._draw.graph import describe

        return to_mermaid(describe(self))

    def to_dot(self) -> str:
        """The graph as a Graphviz DOT digraph (names escaped as DOT strings)."""
        from ._draw.export import to_dot
        from ._draw.graph import describe

        return to_dot(describe(self))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from ._draw.graph import describe, graph_bundle

        return graph_bundle(describe(self))


def _check_decorator_use(accepts: object, owner: str) -> None:
    if callable(accepts):
        name = getattr(accepts, "__name__", "the function")
        raise TypeError(
            f"@{owner}.step needs its accepted event types: write @{owner}.step(accepts=[...]) "
            f"above {name}, with parentheses (without them, no step is declared)"
        )


async def _start(
    run: Run,
    start: Mapping[str, Any] | None,
    checkpoint: SnapshotStore | Checkpointer | None,
    spans: bool,
    *,
    wait: float = 0.0,
) -> WorkflowHandler:
    """Start ``run`` under a handler; a durable run is owned and saved first."""
    owner: Checkpointer | None = None
    if isinstance(checkpoint, Checkpointer):
        owner = checkpoint
    elif checkpoint is not None:
        owner = await Checkpointer.own(checkpoint, run.run_id, wait=wait)
    if owner is not None:
        owner.attach(run)
        await owner.begin(start)
    handler = WorkflowHandler(run, owner)
    if spans:
        run.trace(run.listener)  # type: ignore[arg-type]  # the handler's recorder
    run.start(start)
    return handler


class _AwaitedCallbacks:
    """What the async callback of :meth:`Workflow.run_streaming` returned, awaited in order."""

    __slots__ = ("_failure", "_pending", "_run", "_task")

    def __init__(self, run: Run) -> None:
        self._run = run
        self._pending: deque[tuple[StreamEvent, Awaitable[Any]]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._failure: WorkflowError | None = None

    def add(self, item: StreamEvent, awaitable: Awaitable[Any]) -> None:
        self._pending.append((item, awaitable))
        if self._task is None:
            self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._pending:
            item, awaitable = self._pending.popleft()
            try:
                await awaitable
            except Exception as exc:
                self.failed(item, exc)
        self._task = None

    def failed(self, item: StreamEvent, exc: Exception) -> None:
        if item.engine and item.event_type == ERROR:
            logger.exception("stream callback raised on the error item")
            return
        error = _callback_error(exc, self._run.run_id)
        if self._run.finished:
            self._failure = self._failure or error
        else:
            self._run.listener = None
            self._run.fail(error)

    async def drained(self) -> None:
        while self._task is not None:
            await asyncio.shield(self._task)

    def raise_late_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


def _callback_error(exc: Exception, run_id: str) -> WorkflowError:
    error = WorkflowError(f"stream callback raised {type(exc).__name__}: {exc}", run_id=run_id)
    error.__cause__ = exc
    return error


class WorkflowBuilder:
    """Collects steps and settings; every :meth:`build` gives a fresh :class:`Workflow`."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise WorkflowDefinitionError(f"a workflow name must be a non-empty string, got {shown(name)}")
        self._name = name
        self._steps: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self._timeout: float | None = None
        self._policy = "continue"
        self._refs: list[tuple[str, Any, Serializer]] = []
        self._retry: RetryPolicy | None = None

    @property
    def name(self) -> str:
        """The name given to the workflows built."""
        return self._name

    def add_step(
        self, name: str, accepts: list[str] | tuple[str, ...], handler: Handler, **options: Any
    ) -> WorkflowBuilder:
        """Add a step (same arguments as :meth:`Workflow.add_step`); returns the builder."""
        Step(name, accepts, handler, **options)  # check the declaration now, not at build()
        if any(args[0] == name for args, _ in self._steps):
            raise WorkflowDefinitionError(f"builder {self._name!r} already has a step named {name!r}")
        self._steps.append(((name, accepts, handler), options))
        return self

    def add_subworkflow_step(
        self,
        name: str,
        accepts: list[str] | tuple[str, ...],
        child: Workflow,
        *,
        input: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None,
        output: Callable[[WorkflowResult, Mapping[str, Any]], Any] | None = None,
        timeout: float | None = None,
    ) -> WorkflowBuilder:
        """Add a sub-workflow step (same arguments as :meth:`Workflow.add_subworkflow_step`)."""
        from .subworkflow import subworkflow_handler

        return self.add_step(name, accepts, subworkflow_handler(name, child, input, output), timeout=timeout)

    def add_parallel_subworkflows(
        self,
        name: str,
        accepts: list[str] | tuple[str, ...],
        children: list[Workflow] | tuple[Workflow, ...],
        *,
        input: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None,
        output: Callable[[Any, Mapping[str, Any]], Any] | None = None,
        join: str = "all",
        timeout: float | None = None,
    ) -> WorkflowBuilder:
        """Add a parallel sub-workflows step (same arguments as
        :meth:`Workflow.add_parallel_subworkflows`)."""
        from .subworkflow import parallel_handler

        return self.add_step(
            name, accepts, parallel_handler(name, children, input, output, join), timeout=timeout
        )

    def add_map_step(
        self,
        name: str,
        accepts: list[str] | tuple[str, ...],
        child: Workflow,
        *,
        items: Callable[[Mapping[str, Any]], Any],
        output: Callable[[list[WorkflowResult], Mapping[str, Any]], Any] | None = None,
        concurrency: int = 8,
    ) -> WorkflowBuilder:
        """Add a map step (same arguments as :meth:`Workflow.add_map_step`)."""
        from .subworkflow import map_handler

        return self.add_step(name, accepts, map_handler(name, child, items, output, concurrency))

    def step(
        self, accepts: list[str] | tuple[str, ...], *, name: str | None = None, **options: Any
    ) -> Callable[[F], F]:
        """Decorator form of :meth:`add_step`.

        Raises:
            TypeError: used without parentheses.
        """
        _check_decorator_use(accepts, "builder")

        def decorate(fn: F) -> F:
            self.add_step(name or fn.__name__, accepts, fn, **options)
            return fn

        return decorate

    def set_timeout(self, seconds: float | None) -> WorkflowBuilder:
        """Set the run timeout of built workflows; returns the builder."""
        self._timeout = _check_timeout(seconds)
        return self

    def set_retry_policy(self, policy: RetryPolicy | Mapping[str, Any] | None) -> WorkflowBuilder:
        """Set the default retry policy of built workflows; returns the builder."""
        self._retry = RetryPolicy.coerce(policy)
        return self

    def set_session_pause_policy(self, policy: str) -> WorkflowBuilder:
        """Set the session pause policy of built workflows; returns the builder."""
        self._policy = _check_policy(policy)
        return self

    def register_serializable_ref(
        self, type_tag: str, match: type | Callable[[Any], bool], serialize: Serializer
    ) -> WorkflowBuilder:
        """See :meth:`Workflow.register_serializable_ref`; returns the builder."""
        self._refs.append((type_tag, match, serialize))
        return self

    def build(self) -> Workflow:
        """Return a new :class:`Workflow` with the collected steps and settings."""
        wf = Workflow(self._name, timeout=self._timeout, session_pause_policy=self._policy)
        for args, options in self._steps:
            wf.add_step(*args, **options)
        for ref in self._refs:
            wf.register_serializable_ref(*ref)
        wf.set_retry_policy(self._retry)
        return wf
