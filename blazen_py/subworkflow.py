"""Sub-workflows: a workflow run as one step of another.

The step's handler starts a child run (its own state and run id) from the parent event,
awaits it, and maps its result to the parent's next event(s). The child lives inside the
parent as that step invocation's durable call (a ``"child"`` record of its call log, see
:mod:`.replay`): a snapshot of the parent holds the child's own snapshot there, and the
repeat of the step after resume continues the child from it instead of starting again.

* stream items of the child reach the parent's stream with ``path``: the chain of step
  names from the parent down;
* a pause of the parent pauses the child, and its snapshot goes into the record;
* the parent's abort, timeout or first StopEvent cancels the step, which aborts the child;
* a child's failure is the step's failure (``StepError`` with the child's error as cause).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .errors import WorkflowDefinitionError
from .events import START_EVENT, STOP_EVENT
from .replay import call_log
from .runtime import Run, WorkflowResult
from .snapshot import capture, restore
from .stream import StreamEvent
from .waiters import Interrupted


class ChildWorkflow(Protocol):
    """What a sub-workflow step needs of its child (a :class:`~blazen_py.workflow.Workflow`)."""

    def definition(self) -> Any: ...

__all__ = ["map_handler", "parallel_handler", "subworkflow_handler"]

_settling: set[asyncio.Future[None]] = set()

InputMap = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
OutputMap = Callable[[WorkflowResult, Mapping[str, Any]], Any]


def _default_input(event: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "type"}


def _default_output(result: WorkflowResult, event: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": STOP_EVENT, "result": result.data}


class _Child:
    """One child run of a sub-workflow step invocation, as its waiters entry."""

    __slots__ = ("future", "record", "run", "step")

    def __init__(self, run: Run, record: dict[str, Any], step: str) -> None:
        self.run = run
        self.record = record
        self.step = step
        self.future: asyncio.Future[Any] = run.loop.create_future()

    def interrupt(self) -> None:
        """The parent pauses: pause the child, keep its snapshot, stop the step."""
        child = self.run
        if child.finished or self.future.done():
            return
        child.begin_pause()

        async def settle() -> None:
            await child.settle()
            if not child.finished:
                self.record["snapshot"] = capture(child)
                self.record.pop("run", None)
            if not self.future.done():
                self.future.set_exception(Interrupted())

        task = asyncio.ensure_future(settle())
        _settling.add(task)  # a Task nobody references may be collected mid-flight
        task.add_done_callback(_settling.discard)


def subworkflow_handler(
    name: str, child: ChildWorkflow, input: InputMap | None, output: OutputMap | None
) -> Callable[[Any, Any], Any]:
    """The handler of :meth:`Workflow.add_subworkflow_step`."""
    if not hasattr(child, "definition"):
        raise WorkflowDefinitionError(f"step {name!r}: child must be a Workflow, got {child!r}")
    map_in = input or _default_input
    map_out = output or _default_output

    async def handler(event: Any, ctx: Any) -> Any:
        parent = ctx.run
        log = call_log(parent)
        saved = log.next("child")[1] if log is not None else None
        if saved is not None and isinstance(saved.get("snapshot"), dict):
            run = restore(child.definition(), saved["snapshot"])
            record = saved
            started = None
        else:
            given = map_in(event)
            start = dict(given or {})
            start["type"] = START_EVENT
            run = Run(child.definition())
            record = {"kind": "child"}
            started = start
        record["run"] = run  # live while it runs; a snapshot of the parent captures it
        record.pop("snapshot", None)
        if log is not None:
            log.records.append(record)
        entry = _Child(run, record, name)
        listener = parent.listener
        if listener is not None:
            run.listener = _Forward(listener, name)
        run.when_done(lambda r: _settle(entry.future, r))
        parent.waiters.children[entry] = None
        run.start(started)
        try:
            result = await entry.future
        except asyncio.CancelledError:
            if not run.finished:
                run.abort()  # the parent stopped this step: stop the child too
            raise
        finally:
            parent.waiters.children.pop(entry, None)
        record.pop("run", None)
        return map_out(result, event)

    handler.children = (child,)  # type: ignore[attr-defined]  # for Workflow.validate()
    handler.compose = "subworkflow"  # type: ignore[attr-defined]  # for the graph drawing
    return handler


def _retrieve(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()


def _settle(future: asyncio.Future[Any], run: Run) -> None:
    if future.done():
        return
    done = run.done
    if done.exception() is not None:
        future.set_exception(done.exception())  # type: ignore[arg-type]
    else:
        future.set_result(done.result())


class _Forward:
    """The child's stream items on the parent's stream, with ``path`` prefixed."""

    __slots__ = ("listener", "name")

    def __init__(self, listener: Callable[[StreamEvent], None], name: str) -> None:
        self.listener = listener
        self.name = name

    def __call__(self, item: StreamEvent) -> None:
        fields = dict(item)
        path = fields.get("path")
        fields["path"] = [self.name, *(path if isinstance(path, list) else [])]
        self.listener(StreamEvent(fields, item.event_type, None if item.event is None else fields))


ItemsMap = Callable[[Mapping[str, Any]], Any]
MapOutput = Callable[[list[WorkflowResult], Mapping[str, Any]], Any]


def _result(data: Any, run_id: str) -> WorkflowResult:
    return WorkflowResult(data, run_id, {"type": STOP_EVENT, "result": data})


class _Map:
    """The children of one map (or parallel) step invocation: at most ``concurrency``
    running at once.

    Its call record holds ``count``, the ``results`` of finished items (``{index: {data,
    run_id}}``) and, once captured or paused, the ``children`` still running as their
    snapshots; while it runs, ``live`` holds their runs (a snapshot captures them).
    ``children`` is the workflow of each index (one for a map, one per child for a
    parallel step); with ``first`` the first result ends the invocation and aborts the rest.
    """

    __slots__ = (
        "children", "concurrency", "first", "future", "inputs",
        "listener", "next", "parent", "record", "step",
    )

    def __init__(
        self,
        children: list[ChildWorkflow],
        record: dict[str, Any],
        inputs: list[dict[str, Any]],
        concurrency: int,
        step: str,
        first: bool = False,
    ) -> None:
        self.children = children
        self.first = first
        self.record = record
        self.inputs = inputs
        self.concurrency = concurrency
        self.step = step
        self.next = 0
        self.parent: Any = None
        self.listener: Callable[[StreamEvent], None] | None = None
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def start(self, listener: Callable[[StreamEvent], None] | None) -> None:
        self.listener = listener
        saved = self.record.pop("children", {})
        for index, snap in saved.items():  # the children a snapshot held: continued
            self._launch(int(index), restore(self._workflow(int(index)).definition(), snap), None)
        self._fill()
        self._check()

    def _fill(self) -> None:
        record = self.record
        if self.future.done():
            return  # join="first" already won (perhaps by a restored child): start no more
        while len(record["live"]) < self.concurrency and self.next < len(self.inputs):
            index = self.next
            self.next += 1
            key = str(index)
            if key in record["results"] or key in record["live"]:
                continue
            start = dict(self.inputs[index])
            start["type"] = START_EVENT
            self._launch(index, Run(self._workflow(index).definition()), start)

    def _workflow(self, index: int) -> ChildWorkflow:
        children = self.children
        return children[index] if len(children) > 1 else children[0]

    def _launch(self, index: int, run: Run, start: dict[str, Any] | None) -> None:
        self.record["live"][str(index)] = run
        listener = self.listener
        if listener is not None:
            run.listener = _Forward(listener, self.step)
        run.when_done(lambda r: self._landed(index, r))
        run.start(start)

    def _landed(self, index: int, run: Run) -> None:
        record = self.record
        live = record.get("live")  # gone once the invocation ended: a late landing is stale
        if live is None or live.pop(str(index), None) is None or self.future.done():
            return
        error = run.done.exception()
        if error is not None:
            self.future.set_exception(error)  # first: the siblings' abort lands on a done future
            self.abort()
            return
        record["results"][str(index)] = {"data": run.done.result().data, "run_id": run.run_id}
        if self.first:
            self.future.set_result(None)
            self.abort()  # join="first": the others are no longer wanted
            return
        self._fill()
        done = self.parent.on_step_done if self.parent is not None else None
        if done is not None:
            done()  # a durable parent saves its checkpoint: this item's result is in it
        self._check()

    def _check(self) -> None:
        wanted = min(1, len(self.inputs)) if self.first else len(self.inputs)
        if len(self.record["results"]) >= wanted and not self.future.done():
            self.future.set_result(None)

    def abort(self) -> None:
        for run in list(self.record["live"].values()):
            if not run.finished:
                run.abort()
            run.done.add_done_callback(_retrieve)  # nobody awaits an aborted sibling's result
        self.record["live"].clear()

    def interrupt(self) -> None:
        """The parent pauses: pause every running child, keep their snapshots."""
        live = dict(self.record["live"])
        for run in live.values():
            run.begin_pause()

        async def settle() -> None:
            children = {}
            for index, run in live.items():
                await run.settle()
                if not run.finished:
                    children[index] = capture(run)
            self.record["children"] = children
            self.record["live"] = {}
            if not self.future.done():
                self.future.set_exception(Interrupted())

        task = asyncio.ensure_future(settle())
        _settling.add(task)
        task.add_done_callback(_settling.discard)


def map_handler(
    name: str, child: ChildWorkflow, items: ItemsMap, output: MapOutput | None, concurrency: int
) -> Callable[[Any, Any], Any]:
    """The handler of :meth:`Workflow.add_map_step`."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise WorkflowDefinitionError(
            f"step {name!r}: concurrency must be a positive int, got {concurrency!r}"
        )
    map_out = output or (lambda results, event: {"type": STOP_EVENT, "result": [r.data for r in results]})

    async def handler(event: Any, ctx: Any) -> Any:
        parent = ctx.run
        values = list(items(event))
        inputs = [dict(v) if isinstance(v, Mapping) else {"item": v} for v in values]
        log = call_log(parent)
        saved = log.next("map")[1] if log is not None else None
        if saved is not None and saved.get("count") == len(inputs):
            record = saved
        else:
            record = {"kind": "map", "count": len(inputs), "results": {}}
        record["live"] = {}
        if log is not None:
            log.records.append(record)
        mapping = _Map([child], record, inputs, concurrency, name)
        mapping.parent = parent
        parent.waiters.children[mapping] = None
        try:
            mapping.start(parent.listener)
            await mapping.future
        except asyncio.CancelledError:
            mapping.abort()
            raise
        finally:
            parent.waiters.children.pop(mapping, None)
        record.pop("live", None)
        results = [record["results"][str(i)] for i in range(len(inputs))]
        return map_out([_result(r["data"], r["run_id"]) for r in results], event)

    handler.children = (child,)  # type: ignore[attr-defined]  # for Workflow.validate()
    handler.compose = "map"  # type: ignore[attr-defined]  # for the graph drawing
    return handler


ParallelOutput = Callable[[Any, Mapping[str, Any]], Any]


def parallel_handler(
    name: str,
    children: Any,
    input: InputMap | None,
    output: ParallelOutput | None,
    join: str,
) -> Callable[[Any, Any], Any]:
    """The handler of :meth:`Workflow.add_parallel_subworkflows`.

    The children run at once, each with its own state and run id, all from the same start
    input; the record (kind ``"parallel"``) is a map's: resume continues only the children
    that had not finished. With ``join="first"`` the first result wins and the others are
    aborted (their step signals fire).
    """
    if join not in ("all", "first"):
        raise WorkflowDefinitionError(f"step {name!r}: join must be 'all' or 'first', got {join!r}")
    if isinstance(children, (str, bytes, Mapping)) or not hasattr(children, "__iter__"):
        raise WorkflowDefinitionError(
            f"step {name!r}: children must be a list of Workflows, got {children!r}"
        )
    kids = list(children)
    if not kids:
        raise WorkflowDefinitionError(f"step {name!r}: children must not be empty")
    for i, kid in enumerate(kids):
        if not hasattr(kid, "definition"):
            raise WorkflowDefinitionError(f"step {name!r}: children[{i}] must be a Workflow, got {kid!r}")
    first = join == "first"
    map_in = input or _default_input

    def default_out(results: Any, event: Mapping[str, Any]) -> dict[str, Any]:
        data = results.data if first else [r.data for r in results]
        return {"type": STOP_EVENT, "result": data}

    map_out = output or default_out

    async def handler(event: Any, ctx: Any) -> Any:
        parent = ctx.run
        log = call_log(parent)
        saved = log.next("parallel")[1] if log is not None else None
        given = dict(map_in(event) or {})
        inputs = [dict(given) for _ in kids]  # each child its own copy: no shared state
        if saved is not None and saved.get("count") == len(kids):
            record = saved
        else:
            record = {"kind": "parallel", "count": len(kids), "results": {}}
        record["live"] = {}
        if log is not None:
            log.records.append(record)
        group = _Map(kids, record, inputs, len(kids), name, first)
        group.parent = parent
        parent.waiters.children[group] = None
        try:
            group.start(parent.listener)
            await group.future
        except asyncio.CancelledError:
            group.abort()
            raise
        finally:
            parent.waiters.children.pop(group, None)
        record.pop("live", None)
        done = record["results"]
        if first:
            key = min(done, key=int)  # only one lands: the others were aborted
            return map_out(_result(done[key]["data"], done[key]["run_id"]), event)
        rows = [done[str(i)] for i in range(len(kids))]
        return map_out([_result(r["data"], r["run_id"]) for r in rows], event)

    handler.children = tuple(kids)  # type: ignore[attr-defined]  # for Workflow.validate()
    handler.compose = "parallel"  # type: ignore[attr-defined]  # for the graph drawing
    return handler
