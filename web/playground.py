"""The playground's Python side (loaded into Pyodide by app.js as `_playground`).

Python cells: each runs in its own namespace holding a few helpers: `print` (to the cell's
output), `graph(wf)` (draws a workflow from its declared accepts/emits), `ask(prompt,
choices)` (buttons in the cell, awaitable) and `settings()` (the endpoint fields of the
page: base URL and model, never the key). Every run a Python cell starts is traced into
that cell's timeline, as JS cells' runs are.

Drawings, for cells of both languages: the graph and the timeline are drawn here by
blazen_py's renderer (blazen_py._draw, the one notebooks use) and handed to the page as
element trees in JSON, which graph.js turns into DOM nodes. A JS cell's stream items come
in as JSON through `timeline_add`. Everything crosses to JS as JSON text, so no Python
object is handed to the page.
"""

from __future__ import annotations

import asyncio
import json
import linecache
import traceback
from contextvars import ContextVar
from typing import Any

from pyodide.code import eval_code_async

from blazen_py import runtime
from blazen_py._draw.graph import check_description, describe, graph_tree
from blazen_py._draw.timeline import Timeline
from blazen_py.stream import INPUT_ANSWERED, STEP_FINISHED, STEP_STARTED

# The cell whose code is running: runs started there are traced into its timeline.
_cell: ContextVar[tuple[str, Any] | None] = ContextVar("playground_cell", default=None)
# The cell whose JS code is starting a run right now (set around blazen.js's start calls):
# such runs can be stopped with the cell, as a Python cell's runs are.
_js_cell: ContextVar[str | None] = ContextVar("playground_js_cell", default=None)
_js_tokens: list[Any] = []
_timelines: dict[str, Timeline] = {}
_cell_runs: dict[str, list[runtime.Run]] = {}  # a cell's runs not known to be finished
_cell_tasks: dict[str, asyncio.Task[Any]] = {}  # a Python cell's code, while it runs
_SPAN_ITEMS = (STEP_STARTED, STEP_FINISHED, INPUT_ANSWERED)
# JS stream items name the engine's keys in camelCase (blazen.js); the renderer reads Python's.
_PY_KEYS = {
    "eventType": "event_type",
    "requestId": "request_id",
    "errorType": "error_type",
    "activeSteps": "active_steps",
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": len(bytes(value))}
    return repr(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_jsonable)


def make_namespace(hooks: Any) -> dict[str, Any]:
    """A fresh namespace for one cell run; `hooks` is the cell's JS object."""

    def print_(*args: Any, sep: str = " ", end: str = "\n", **_: Any) -> None:
        hooks.out(sep.join(str(a) for a in args) + end)

    def graph(wf: Any) -> None:
        hooks.graph(_dumps(describe(wf)))

    async def ask(prompt: Any, choices: Any = ("Approve", "Reject")) -> str:
        return str(await hooks.ask(str(prompt), _dumps([str(c) for c in choices])))

    def settings() -> dict[str, str]:
        return dict(json.loads(hooks.settings()))

    return {
        "__name__": "__main__",
        "print": print_,
        "graph": graph,
        "ask": ask,
        "settings": settings,
    }


async def run_cell(code: str, hooks: Any, filename: str, cell: str = "") -> str:
    """Run a cell; JSON of {value: repr of the last expression or null, error: text or null}."""
    namespace = make_namespace(hooks)
    # The cell's source, for its tracebacks' lines (steps defined in the cell fail later).
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    token = _cell.set((cell, hooks))
    try:
        # Its own Task (with the cell in its context), so that stop_cell can cancel it.
        task = asyncio.ensure_future(eval_code_async(code, namespace, filename=filename))
        _cell_tasks[cell] = task
        value = await task
    except asyncio.CancelledError:
        return _dumps({"value": None, "error": None, "stopped": True, "graph": _auto_graph(namespace)})
    except Exception as exc:  # shown to the user, whatever it is
        return _dumps(
            {"value": None, "error": cell_traceback(exc, filename), "graph": _auto_graph(namespace)}
        )
    finally:
        _cell.reset(token)
        if _cell_tasks.get(cell) is task:
            del _cell_tasks[cell]
    shown = None if value is None else repr(value)
    return _dumps({"value": shown, "error": None, "graph": _auto_graph(namespace)})


def cell_traceback(exc: BaseException, filename: str) -> str:
    """The traceback of a cell's error, its frames in the cell only; first the errors that
    caused it and have frames in the cell (a step's own error: the line of the step that
    failed), as Python prints a chain."""
    chain: list[BaseException] = [exc]
    while len(chain) < 20:
        last = chain[-1]
        cause = last.__cause__
        if cause is None and not last.__suppress_context__:
            cause = last.__context__
        if cause is None or cause in chain:
            break
        chain.append(cause)
    parts: list[str] = []
    for error in reversed(chain):
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
        if error is not exc and not frames:
            continue  # nothing of the cell's code in it; the message above quotes it
        if parts:
            parts.append("\nThe above exception was the direct cause of:\n\n")
        parts += traceback.format_list(frames)
        parts += traceback.format_exception_only(type(error), error)
    return "".join(parts).rstrip()


def _auto_graph(namespace: dict[str, Any]) -> Any:
    """The last Workflow bound in the namespace, described (for cells that never call graph)."""
    from blazen_py import Workflow

    found = [v for v in namespace.values() if isinstance(v, Workflow)]
    return describe(found[-1]) if found else None


# -- tracing Python cells' runs -------------------------------------------------------------


def _trace_cell_runs(run: runtime.Run) -> None:
    """A run hook: a run started by a cell's code is the cell's (stop_cell aborts it); one
    started by a Python cell's code feeds that cell's timeline."""
    current = _cell.get()
    owner = current[0] if current is not None else _js_cell.get()
    if owner is not None:
        runs = [r for r in _cell_runs.get(owner, ()) if not r.finished]
        runs.append(run)
        _cell_runs[owner] = runs
    if current is None:
        return
    cell, hooks = current
    timeline = _timelines.get(cell)
    if timeline is None:
        return
    if not timeline.lanes:
        hooks.graph(_dumps(describe(_StepsOf(run))))

    def item(event: Any) -> None:
        timeline.add(event)
        if event.event_type in _SPAN_ITEMS:
            hooks.redraw()
        else:
            hooks.event(_dumps(dict(event)))

    run.trace(item)


class _StepsOf:
    """A run seen as a workflow, for describe()."""

    def __init__(self, run: runtime.Run) -> None:
        self.name = run.workflow_name
        self.steps = run.steps


if _trace_cell_runs not in runtime.run_hooks:
    runtime.run_hooks.append(_trace_cell_runs)


# -- stopping a cell --------------------------------------------------------------------------


def js_cell_enter(cell: str) -> None:
    """blazen.js is about to start a run for a JS cell: the run is that cell's."""
    _js_tokens.append(_js_cell.set(cell))


def js_cell_exit() -> None:
    """The start call of js_cell_enter returned."""
    if _js_tokens:
        _js_cell.reset(_js_tokens.pop())


def stop_cell(cell: str) -> int:
    """Stop a cell: abort its unfinished runs and cancel its Python code; how many runs."""
    aborted = 0
    for run in _cell_runs.pop(cell, []):
        if not run.finished:
            run.abort()
            aborted += 1
    task = _cell_tasks.get(cell)
    if task is not None and not task.done():
        task.cancel()
    return aborted


# -- drawings for the page ------------------------------------------------------------------


def draw_graph(desc_json: str, api: str) -> str:
    """The graph of a workflow description, as a drawing tree in JSON."""
    return json.dumps(graph_tree(check_description(desc_json), api="js" if api == "js" else "python"))


def timeline_begin(cell: str) -> None:
    """A cell starts running: its timeline starts afresh."""
    _timelines[cell] = Timeline()


def timeline_declare(cell: str, desc_json: str) -> None:
    """The cell's workflow: lanes for its steps."""
    timeline = _timelines.get(cell)
    if timeline is not None:
        timeline.declare(check_description(desc_json))


def timeline_add(cell: str, item_json: str) -> None:
    """A stream item of a JS cell's run (JSON of what blazen.js gave the stream callback)."""
    timeline = _timelines.get(cell)
    item = json.loads(item_json)
    if timeline is not None and isinstance(item, dict):
        timeline.add({_PY_KEYS.get(k, k): v for k, v in item.items()})


def timeline_end(cell: str, status: str) -> None:
    """The cell's code has finished (``completed`` or ``failed``)."""
    timeline = _timelines.get(cell)
    if timeline is not None and not timeline.finished:
        timeline.end("failed" if status == "failed" else "completed")


def timeline_draw(cell: str, width: float) -> str:
    """The cell's timeline as a drawing tree in JSON (``null`` before any item)."""
    timeline = _timelines.get(cell)
    if timeline is None or timeline.t0 is None:
        return "null"
    return json.dumps(timeline.tree(float(width)))
