"""Workflows in notebooks: graphs, live timelines of runs, snapshot summaries.

Nothing here is imported by ``import blazen_py``; it loads when first used, and needs no
package of its own (IPython, when present, is what shows things; ipywidgets, when
present, answers input requests from the cell). It works in CPython Jupyter and in
JupyterLite's Pyodide kernel alike: everything is drawn as SVG text by blazen_py itself
(:mod:`blazen_py._draw`), the same drawing the playground page shows.

* A :class:`~blazen_py.Workflow` displays as its graph (also ``wf.to_svg()``,
  ``wf.to_mermaid()``, ``wf.to_dot()``).
* :func:`trace` shows a live timeline for every run started afterwards, in the cell that
  starts it: one span per step invocation, updated in place as the run goes, and a
  summary at the end. A :class:`~blazen_py.WorkflowHandler` displayed in a cell shows the
  same for its run.
* :func:`snapshot_summary` shows a snapshot (``await handler.snapshot()``, or one loaded
  from storage) as a readable summary.

Example (a notebook cell)::

    import blazen_py.notebook
    from blazen_py import START_EVENT, STOP_EVENT, Workflow

    wf = Workflow("greeter")
    wf.add_step("greet", [START_EVENT], lambda event, ctx: {"type": STOP_EVENT, "result": "Hi"})

    blazen_py.notebook.trace()          # from now on, every run draws its timeline
    result = await wf.run({"name": "Ada"})

    with blazen_py.notebook.trace():    # or only for the runs inside the block
        result = await wf.run({"name": "Ada"})
    blazen_py.notebook.trace(False)     # and off again
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from . import runtime
from ._draw.graph import Description, describe
from ._draw.timeline import Timeline
from ._draw.tree import clip, el, to_markup
from .errors import InputRequestError
from .events import INPUT_REQUESTED
from .snapshot.summary import snapshot_lines, snapshot_tree

if TYPE_CHECKING:
    from types import TracebackType

    from .stream import StreamEvent

__all__ = [
    "Display",
    "IPythonDisplay",
    "LiveTimeline",
    "SnapshotSummary",
    "live_timeline",
    "respond",
    "snapshot_summary",
    "trace",
]

Bundle = dict[str, str]
"""A display's data by MIME type (``text/html``, ``text/plain``)."""


class Display(Protocol):
    """Where a live timeline shows itself: one output, shown once and then updated."""

    def show(self, bundle: Bundle) -> None:
        """Show ``bundle`` (the first state)."""

    def update(self, bundle: Bundle, final: bool) -> None:
        """Replace what :meth:`show` showed with ``bundle`` (``final``: the run has ended)."""


class IPythonDisplay:
    """A display in the running cell, through IPython's ``display(..., display_id=True)``
    and the handle's ``update`` (Jupyter's ``update_display_data``). JupyterLite's kernel
    has the same API."""

    __slots__ = ("_handle",)

    def __init__(self) -> None:
        self._handle: Any = None

    def show(self, bundle: Bundle) -> None:
        from IPython.display import display  # type: ignore[import-not-found,unused-ignore]

        self._handle = display(bundle, raw=True, display_id=True)

    def update(self, bundle: Bundle, final: bool) -> None:
        if self._handle is not None:
            self._handle.update(bundle, raw=True)


class TextDisplay:
    """Outside IPython: print the timeline's summary line once the run has ended."""

    __slots__ = ("_printed",)

    def __init__(self) -> None:
        self._printed = False

    def show(self, bundle: Bundle) -> None:
        pass

    def update(self, bundle: Bundle, final: bool) -> None:
        if not self._printed and final:
            self._printed = True
            print(bundle["text/plain"])


def default_display() -> Display:
    """An :class:`IPythonDisplay` inside an IPython kernel, else a :class:`TextDisplay`."""
    try:
        from IPython import get_ipython  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return TextDisplay()
    return IPythonDisplay() if get_ipython() is not None else TextDisplay()


# The live timelines by run, so a handler displayed again reuses its run's timeline and
# respond() finds an open request.
_live: weakref.WeakKeyDictionary[runtime.Run, LiveTimeline] = weakref.WeakKeyDictionary()


class LiveTimeline:
    """The live timeline of one run, in one or more displays.

    Fed by the run's tracer (:meth:`blazen_py.runtime.Run.trace`): stream items and span
    items go into a :class:`~blazen_py._draw.timeline.Timeline`, and the displays are
    updated at most every ``interval`` seconds while the run goes, then once more when it
    ends. Input requests get a text box and a button when ipywidgets is importable
    (``widgets=False`` turns that off), else the call that answers them is shown.
    """

    def __init__(
        self,
        run: runtime.Run,
        *,
        interval: float = 0.1,
        width: int = 760,
        widgets: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.run = run
        self.interval = interval
        self.width = width
        self.widgets = widgets
        self.clock = clock
        steps = {"name": run.workflow_name, "steps": [_step_description(s) for s in run.steps]}
        self.model = Timeline(steps, clock=clock)
        self._displays: list[Display] = []
        self._timer: asyncio.TimerHandle | None = None
        self._beat: asyncio.TimerHandle | None = None
        self._quiet = 0  # redraws since the last item (a waiting run: they come slower)
        self._last = float("-inf")
        self._asked: dict[str, Any] = {}
        self._attached = False

    def attach(self, replay: list[StreamEvent] | None = None) -> LiveTimeline:
        """Start following the run (``replay``: items it streamed before now)."""
        if self._attached:
            return self
        self._attached = True
        _live[self.run] = self
        for item in replay or ():
            self.model.add(item)
        if self.run.finished:
            self._done(self.run)
        else:
            self.run.trace(self._item)
            self.run.when_done(self._done)
        return self

    def show(self, display: Display | None = None) -> Display:
        """Show the timeline in ``display`` (default: the running cell) and keep it updated."""
        target = display if display is not None else default_display()
        self._displays.append(target)
        target.show(self.bundle())
        return target

    # -- the run's items -------------------------------------------------------------------

    def _item(self, item: StreamEvent) -> None:
        try:
            self._quiet = 0
            self.model.add(item)
            if item.event_type == INPUT_REQUESTED and isinstance(item.get("request_id"), str):
                self._ask(item)
            self._changed()
        except Exception as exc:  # drawing must never break the run
            self._report(exc)

    def _done(self, run: runtime.Run) -> None:
        try:
            error = run.done.exception() if run.done.done() and not run.done.cancelled() else None
            self.model.end(
                runtime.STATUS_NAMES[run.status], f"{type(error).__name__}: {error}" if error else ""
            )
            for box in self._asked.values():
                _close_widget(box)
            self._asked.clear()
            for handle in (self._timer, self._beat):
                if handle is not None:
                    handle.cancel()
            self._timer = self._beat = None
            self._flush()
        except Exception as exc:
            self._report(exc)

    def _changed(self) -> None:
        # Never drawn inside the dispatcher: the items of one burst (a fan-out) keep their
        # times, and the run does not wait for the drawing.
        if self._timer is not None:
            return
        wait = self._last + self.interval - self.clock()
        self._timer = self.run.loop.call_later(max(wait, 0.0), self._flush)

    def _flush(self) -> None:
        self._timer = None
        self._last = self.clock()
        try:
            bundle = self.bundle()
            for display in self._displays:
                display.update(bundle, self.model.finished)
        except Exception as exc:
            self._report(exc)
        # While the run goes on without items (a long step, a request waiting for its
        # answer), running spans still grow: redraw now and then, less and less often.
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None
        if not self.model.finished and not self.run.finished:
            delay = max(self.interval, min(0.5 * 2**self._quiet, 5.0))
            self._beat = self.run.loop.call_later(delay, self._heartbeat)

    def _heartbeat(self) -> None:
        self._beat = None
        self._quiet = min(self._quiet + 1, 10)
        if self._timer is None:
            self._flush()

    def _report(self, exc: Exception) -> None:
        self.run.loop.call_exception_handler({"message": "blazen_py live timeline failed", "exception": exc})

    # -- input requests --------------------------------------------------------------------

    def _ask(self, item: StreamEvent) -> None:
        if not self.widgets or item["request_id"] in self._asked:
            return
        box = _answer_widget(self.run, item["request_id"], item.get("prompt"))
        if box is not None:
            self._asked[item["request_id"]] = box

    # -- drawing ---------------------------------------------------------------------------

    def html(self) -> str:
        """The timeline as HTML: the SVG, then the open input requests and how to answer them."""
        box = el(
            "div",
            {
                "class": "blazen-timeline",
                "data-state": "finished" if self.model.finished else "running",
                "style": "max-width:100%;overflow-x:auto",
            },
            self.model.tree(self.width),
        )
        waiting = [(rid, r) for rid, r in self.model.requests.items() if rid not in self._asked]
        if waiting and not self.model.finished:
            notes = el(
                "div",
                {
                    "class": "blazen-requests",
                    "style": "font-family:system-ui,sans-serif;font-size:13px;margin:4px 0",
                },
            )
            for rid, request in waiting[:20]:
                notes.append(
                    el(
                        "p",
                        {"style": "margin:2px 0"},
                        f"Input requested by {request['step'] or 'the run'}: {request['prompt']} \u2014 "
                        "answer with ",
                        el("code", {}, f"handler.respond_to_input({rid!r}, answer)"),
                        " (or ",
                        el("code", {}, f"blazen_py.notebook.respond({rid!r}, answer)"),
                        " from any cell)",
                    )
                )
            box.append(notes)
        return to_markup(box)

    def bundle(self) -> Bundle:
        """What a display shows: ``text/html`` and ``text/plain`` (the summary line)."""
        return {
            "text/html": self.html(),
            "text/plain": f"timeline of {self.run.workflow_name!r}: {self.model.summary_text()}",
        }

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Bundle:
        return self.bundle()


def _step_description(step: Any) -> dict[str, Any]:
    return {
        "name": step.name,
        "accepts": list(step.accepts),
        "emits": None if step.emits is None else list(step.emits),
    }


def _answer_widget(run: runtime.Run, request_id: str, prompt: Any) -> Any:
    """A text box and a button that answer ``request_id``; None without ipywidgets."""
    try:
        import ipywidgets as widgets  # type: ignore[import-not-found,unused-ignore]
        from IPython.display import display  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    label = widgets.Label(value=clip(prompt if isinstance(prompt, str) else repr(prompt), 200))
    text = widgets.Text(placeholder="answer (sent as text)")
    button = widgets.Button(description="Answer", button_style="primary")
    status = widgets.Label(value="")

    def send(_: Any) -> None:
        try:
            run.respond(request_id, text.value)
        except InputRequestError as exc:
            status.value = str(exc)
            return
        text.disabled = button.disabled = True
        status.value = "answered"

    button.on_click(send)
    text.on_submit(send)
    box = widgets.VBox([label, widgets.HBox([text, button]), status])
    display(box)
    return box


def _close_widget(box: Any) -> None:
    for child in getattr(box, "children", ()):
        _close_widget(child)
    if hasattr(box, "disabled"):
        box.disabled = True


def live_timeline(
    target: runtime.Run | Any, *, display: Display | None = None, **options: Any
) -> LiveTimeline:
    """Show the live timeline of a run, or of a :class:`~blazen_py.WorkflowHandler`'s run,
    in ``display`` (default: the running cell).

    A run already followed keeps its timeline (it is shown once more). A handler's items
    so far are replayed; steps that started before this call have no span (their events
    are shown), unless the run was started with ``spans=True``.
    """
    run: runtime.Run = target if isinstance(target, runtime.Run) else target.run
    timeline = _live.get(run)
    if timeline is None:
        replay = list(getattr(target, "_items", ()))  # what the handler recorded so far
        timeline = LiveTimeline(run, **options).attach(replay)
    timeline.show(display)
    return timeline


def respond(request_id: str, response: Any) -> None:
    """Answer an open input request of any run this module follows (see :func:`trace`).

    Raises:
        InputRequestError: no followed run has that request open.
    """
    for run in list(_live):
        if request_id in run.requests:
            run.respond(request_id, response)
            return
    raise InputRequestError(f"no run shown here has an open input request {request_id!r}")


# -- trace(): every run gets a live timeline -----------------------------------------------

_tracing: list[Callable[[], Display]] = []


def _on_run(run: runtime.Run) -> None:
    if _tracing and run not in _live:
        LiveTimeline(run).attach().show(_tracing[-1]())


class trace:
    """Show a live timeline for every run started from now on, in the cell that starts it.

    ``trace()`` turns it on for the kernel, ``trace(False)`` off; ``with trace():`` turns
    it on for the block only. ``display`` makes each timeline's display (default: the
    running cell's, see :func:`default_display`).
    """

    def __init__(self, enabled: bool = True, *, display: Callable[[], Display] | None = None) -> None:
        self._before = list(_tracing)
        _tracing.clear()
        if enabled:
            _tracing.append(display or default_display)
            if _on_run not in runtime.run_hooks:
                runtime.run_hooks.append(_on_run)
        elif _on_run in runtime.run_hooks:
            runtime.run_hooks.remove(_on_run)

    def __enter__(self) -> trace:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        _tracing[:] = self._before
        if not _tracing and _on_run in runtime.run_hooks:
            runtime.run_hooks.remove(_on_run)

    def __repr__(self) -> str:
        return f"<blazen_py.notebook.trace {'on' if _tracing else 'off'}>"


# -- graphs and snapshots --------------------------------------------------------------------


class SnapshotSummary:
    """A snapshot (dict or JSON text) that displays as a readable summary; ``str()`` gives
    the plain-text form."""

    __slots__ = ("snapshot",)

    def __init__(self, snapshot: Mapping[str, Any] | str | bytes) -> None:
        self.snapshot = snapshot

    def _repr_html_(self) -> str:
        return to_markup(snapshot_tree(self.snapshot))

    def __str__(self) -> str:
        return "\n".join(snapshot_lines(self.snapshot))

    def __repr__(self) -> str:
        return str(self)


def snapshot_summary(snapshot: Mapping[str, Any] | str | bytes) -> SnapshotSummary:
    """A displayable summary of ``snapshot`` (for one loaded from a store or a file; those
    from ``handler.snapshot()`` display as one already). It is validated first: an invalid
    snapshot shows why."""
    return SnapshotSummary(snapshot)


def describe_workflow(workflow: Any) -> Description:
    """The description the drawings use: name, steps with declared accepts / emits."""
    return describe(workflow)
