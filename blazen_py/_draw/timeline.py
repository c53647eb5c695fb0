"""A run's timeline: one span per step invocation, built from stream items, and its drawing.

:class:`Timeline` takes stream items as they come (:meth:`Timeline.add`): the span items
of a traced run (``blazen::StepStarted`` / ``blazen::StepFinished``, see
:mod:`blazen_py.stream`) open and close spans; ``blazen::StepRetrying`` (retries) marks
the attempt it ends; input requests, answers, events and the run's error become marks on
the lanes. Items may carry ``path`` (a list of names: the step that runs a sub-workflow,
and so on down): their lanes are nested under that step's lane. :meth:`Timeline.tree`
draws it as an SVG element tree (see :mod:`.tree`), ending with a summary once the run
has ended.

Items can come from a page (the playground hands JS runs' items over as JSON): every
field is checked, text is clipped, and what is kept is bounded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..events import INPUT_REQUESTED, START_EVENT, STOP_EVENT
from ..stream import ERROR, INPUT_ANSWERED, STEP_FINISHED, STEP_STARTED, StreamEvent
from .graph import Description, short_type
from .tree import Node, clip, el, text_width

__all__ = ["STEP_RETRYING", "Span", "Timeline", "format_ms"]

STEP_RETRYING = "blazen::StepRetrying"
"""A failed attempt of a step that will be tried again (items of retry policies)."""

MAX_SPANS = 20_000
MAX_MARKS = 5_000
MAX_LANES = 200
MAX_DRAWN_PER_LANE = 400  # more spans than this in one lane are merged per pixel column

OUTCOME_FILL = {
    "running": "#9cc3ee",
    "completed": "#2f6db5",
    "failed": "#b42318",
    "retried": "#d97706",
    "interrupted": "#8d96a8",
    "cancelled": "#c9ced8",
}
MARK_FILL = {
    "start": "#64748b",
    "stop": "#23774a",
    "event": "#5b7fb0",
    "input": "#c2410c",
    "answer": "#23774a",
    "error": "#b42318",
    "retry": "#d97706",
}
INK, MUTED, LANE, LANE_ODD = "#1c1f26", "#5d6474", "#fafbfc", "#f1f3f7"
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
SEP = " \u203a "  # between the parts of a nested lane's name


def format_ms(seconds: float) -> str:
    """A duration for people: ``'0.4 ms'``, ``'12 ms'``, ``'1.25 s'``."""
    ms = seconds * 1000
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


class Span:
    """One step invocation: when it started, when and how it ended."""

    __slots__ = ("end", "error", "handling", "key", "outcome", "span", "start")

    def __init__(self, key: tuple[str, ...], span: Any, start: float, handling: str) -> None:
        self.key = key
        self.span = span
        self.start = start
        self.end: float | None = None
        self.outcome = "running"
        self.handling = handling
        self.error = ""

    @property
    def step(self) -> str:
        """The step's name (the last part of its lane)."""
        return self.key[-1]


class _Mark:
    __slots__ = ("at", "key", "kind", "label")

    def __init__(self, key: tuple[str, ...], at: float, kind: str, label: str) -> None:
        self.key = key
        self.at = at
        self.kind = kind
        self.label = label


def _text(value: Any, limit: int = 200) -> str:
    return clip(value if isinstance(value, str) else repr(value), limit)


def _span_id(item: Mapping[str, Any]) -> int | str | None:
    span = item.get("span")
    if isinstance(span, bool) or not isinstance(span, (int, str)):
        return None
    return span if isinstance(span, int) else span[:100]


def _path(item: Mapping[str, Any]) -> tuple[str, ...]:
    path = item.get("path")
    if isinstance(path, (list, tuple)):
        return tuple(_text(p, 100) for p in path[:8])
    return ()


class Timeline:
    """The spans and marks of one run, from its stream items.

    Args:
        desc: The workflow's description (lanes in step order; which steps accept and
            emit what). Optional: lanes are also made as items name steps.
        clock: Seconds, the clock of the span items' ``at`` (``time.perf_counter``);
            items without ``at`` are stamped with it when they arrive.
    """

    def __init__(
        self, desc: Description | None = None, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.clock = clock
        self.name = ""
        self.lanes: list[tuple[str, ...]] = []
        self._accepts: dict[str, list[str]] = {}
        self._emits: dict[str, list[str]] = {}
        self.spans: list[Span] = []
        self.marks: list[_Mark] = []
        self._open: dict[tuple[tuple[str, ...], Any], Span] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        self.t0: float | None = None
        self.last = 0.0
        self._anchor: tuple[float, float] | None = None  # (engine time, clock) of the last span item
        self._early: list[_Mark] = []
        self.events = 0
        self.invocations = 0
        self.dropped = 0
        self.status = "running"
        self.error = ""
        self.ended_at: float | None = None
        self.version = 0
        if desc:
            self.declare(desc)

    # -- taking items ----------------------------------------------------------------------

    def declare(self, desc: Description) -> None:
        """Take a workflow's steps: a lane each, in order, and who accepts / emits what."""
        self.name = self.name or desc["name"]
        for step in desc["steps"][:MAX_LANES]:
            self._lane((step["name"],))
            for etype in step["accepts"]:
                names = self._accepts.setdefault(etype, [])
                if step["name"] not in names:
                    names.append(step["name"])
            for etype in step["emits"] or ():
                names = self._emits.setdefault(etype, [])
                if step["name"] not in names:
                    names.append(step["name"])
        self.version += 1

    def _lane(self, key: tuple[str, ...]) -> tuple[str, ...]:
        if key in self.lanes:
            return key
        if len(self.lanes) >= MAX_LANES:
            return self.lanes[-1]
        # A nested lane goes after its parent's lane and the parent's other children.
        at = len(self.lanes)
        for i, lane in enumerate(self.lanes):
            if (len(key) > 1 and lane[: len(key) - 1] == key[:-1]) or lane == key[:-1]:
                at = i + 1
        self.lanes.insert(at, key)
        return key

    def _time(self, item: Mapping[str, Any]) -> float:
        # Span items carry the engine's time; others are stamped from the clock, relative
        # to the last span item seen, so that items replayed later (a handler displayed
        # after it started, a batch from a page) keep their place between the spans.
        at = item.get("at")
        now = self.clock()
        if isinstance(at, (int, float)) and not isinstance(at, bool) and math.isfinite(at):
            at = float(at)
            if self._anchor is None:
                for mark in self._early:  # stamped before any engine time was known
                    mark.at = min(mark.at, at)
                self._early = []
                if self.t0 is not None:
                    self.t0 = min(self.t0, at)
            self._anchor = (at, now)
        elif self._anchor is not None:
            at = self._anchor[0] + max(now - self._anchor[1], 0.0)
        else:
            at = now
        if self.t0 is None:
            self.t0 = at
        at = max(at, self.t0)
        self.last = max(self.last, at)
        if self.ended_at is not None:  # a late item (a page's stream lags a little)
            self.ended_at = max(self.ended_at, at)
        return at

    def add(self, item: Mapping[str, Any]) -> None:
        """Take one stream item (a :class:`~blazen_py.StreamEvent` or its JSON form)."""
        # A stream item says what it is in .event_type (its "event_type" key may be a
        # field of the user's own event); the JSON form of one has only the key.
        kind = item.event_type if isinstance(item, StreamEvent) else item.get("event_type")
        if not isinstance(kind, str):
            return
        at = self._time(item)
        path = _path(item)
        step = item.get("step")
        step_key = (*path, _text(step, 100)) if isinstance(step, str) else None
        self.version += 1
        if kind == STEP_STARTED and step_key is not None:
            self.invocations += 1
            span = Span(self._lane(step_key), _span_id(item), at, _text(item.get("handling", ""), 100))
            if len(self.spans) < MAX_SPANS:
                self.spans.append(span)
                self._open[(step_key, span.span)] = span
            else:
                self.dropped += 1
        elif kind == STEP_FINISHED and step_key is not None:
            ended = self._open.pop((step_key, _span_id(item)), None)
            if ended is not None:
                ended.end = at
                outcome = item.get("outcome")
                ended.outcome = outcome if outcome in OUTCOME_FILL and outcome != "running" else "completed"
                ended.error = _text(item.get("error", ""), 300) if item.get("error") else ""
        elif kind == STEP_RETRYING and step_key is not None:
            self._retried(step_key, item, at)
        elif kind == INPUT_REQUESTED:
            request_id = _text(item.get("request_id", ""), 100)
            prompt = _text(item.get("prompt"), 300)
            if len(self.requests) < MAX_MARKS:
                self.requests[request_id] = {
                    "prompt": prompt,
                    "step": step if isinstance(step, str) else None,
                }
            self._mark(step_key or self._producer(INPUT_REQUESTED), at, "input", f"input requested: {prompt}")
        elif kind == INPUT_ANSWERED:
            self._answered(item, step_key, at)
        elif kind == ERROR:
            self.error = _text(item.get("error", ""), 500)
            self._mark(step_key or self._producer(ERROR), at, "error", f"error: {self.error}")
        else:
            self.events += 1
            if item.get("type") == "blazen::InputResponseEvent" and item.get("request_id") in self.requests:
                self._answered(item, None, at)
            mark = "start" if kind == START_EVENT else "stop" if kind == STOP_EVENT else "event"
            label = short_type(_text(kind, 100))
            for lane in self._arrivals(kind):
                self._mark(lane, at, mark, label)

    def _retried(self, key: tuple[str, ...], item: Mapping[str, Any], at: float) -> None:
        # The attempt that failed: the span named, else the latest of that step.
        named = self._open.pop((key, _span_id(item)), None)
        candidates = [named] if named else [s for s in reversed(self.spans) if s.key == key][:1]
        for span in candidates:
            if span.end is None:
                span.end = at
                self._open = {k: v for k, v in self._open.items() if v is not span}
            span.outcome = "retried"
            span.error = _text(item.get("error", ""), 300) if item.get("error") else span.error
        attempt = item.get("attempt")
        self._mark(key, at, "retry", f"retrying (attempt {attempt})" if attempt is not None else "retrying")

    def _answered(self, item: Mapping[str, Any], key: tuple[str, ...] | None, at: float) -> None:
        request = self.requests.pop(_text(item.get("request_id", ""), 100), None)
        if request is None:
            return
        if key is None:
            key = (request["step"],) if request["step"] else self._producer(INPUT_ANSWERED)
        self._mark(key, at, "answer", f"answered: {request['prompt']}")

    def _mark(self, key: tuple[str, ...], at: float, kind: str, label: str) -> None:
        if len(self.marks) < MAX_MARKS:
            mark = _Mark(self._lane(key), at, kind, label)
            self.marks.append(mark)
            if self._anchor is None and len(self._early) < 100:
                self._early.append(mark)
        else:
            self.dropped += 1

    def _arrivals(self, etype: str) -> list[tuple[str, ...]]:
        accepting = self._accepts.get(etype)
        if accepting:
            return [(name,) for name in accepting]
        return [self._producer(etype)]

    def _producer(self, etype: str) -> tuple[str, ...]:
        # No step receives it: the lane of the step running now (the latest open span),
        # else of a step declaring it emits it, else the stream's own lane.
        if self._open:
            return next(reversed(self._open.values())).key
        emitting = self._emits.get(etype)
        return (emitting[0],) if emitting else ("stream",)

    def end(self, status: str, error: str = "") -> None:
        """The run ended (``'completed'``, ``'failed'``, ``'paused'``...). What is still open
        is drawn as cancelled (interrupted, for a pause) unless its own end arrives late."""
        at = self.clock()
        if self._anchor is not None:
            at = self._anchor[0] + max(at - self._anchor[1], 0.0)
        if self.t0 is None:
            self.t0 = at
        self.ended_at = max(at, self.last)
        self.last = self.ended_at
        self.status = status
        if error:
            self.error = _text(error, 500)
        self.version += 1

    def _shown(self, span: Span) -> str:
        """How ``span`` is drawn: its outcome, or for one still open once the run ended,
        cancelled (interrupted, if the run paused)."""
        if span.outcome != "running" or self.ended_at is None:
            return span.outcome
        return "interrupted" if self.status == "paused" else "cancelled"

    @property
    def finished(self) -> bool:
        """Whether :meth:`end` was called."""
        return self.ended_at is not None

    # -- reading ---------------------------------------------------------------------------

    def summary(self, now: float | None = None) -> dict[str, Any]:
        """Wall time, events, step invocations, the slowest step, status, error."""
        ended = [s for s in self.spans if s.end is not None]
        slowest = max(ended, key=lambda s: s.end - s.start, default=None)  # type: ignore[operator]
        # a run still going has lasted until now (a step may be running, no item coming)
        until = self.last if self.finished else max(self.last, self._now() if now is None else now)
        wall = (until - self.t0) if self.t0 is not None else 0.0
        return {
            "status": self.status,
            "seconds": wall,
            "events": self.events,
            "steps": self.invocations,
            "slowest": None
            if slowest is None
            else {"step": SEP.join(slowest.key), "seconds": slowest.end - slowest.start},  # type: ignore[operator]
            "failed": sum(1 for s in self.spans if s.outcome == "failed"),
            "retried": sum(1 for s in self.spans if s.outcome == "retried"),
            "open_requests": len(self.requests),
            "error": self.error,
        }

    def _now(self) -> float:
        """The clock's now, on the span items' time line."""
        now = self.clock()
        return self._anchor[0] + max(now - self._anchor[1], 0.0) if self._anchor is not None else now

    def summary_text(self, now: float | None = None) -> str:
        """The summary in one line: ``completed in 1.20 s · 9 events · 5 step runs · slowest: b (0.90 s)``."""
        s = self.summary(now)
        runs = f"{s['steps']} step run{'' if s['steps'] == 1 else 's'}"
        events = f"{s['events']} event{'' if s['events'] == 1 else 's'}"
        if not self.finished:
            head = f"running for {format_ms(s['seconds'])}"
        elif s["status"] == "failed":
            head = f"failed after {format_ms(s['seconds'])}"
        else:
            head = f"{s['status']} in {format_ms(s['seconds'])}"
        parts = [head, events, runs]
        if s["retried"]:
            parts.append(f"{s['retried']} retried")
        if s["slowest"] is not None:
            parts.append(f"slowest: {clip(s['slowest']['step'], 40)} ({format_ms(s['slowest']['seconds'])})")
        if s["open_requests"]:
            parts.append(f"{s['open_requests']} input request{'' if s['open_requests'] == 1 else 's'} open")
        if self.finished and s["status"] == "failed" and s["error"]:
            parts.append(clip(s["error"], 160))
        return " \u00b7 ".join(parts)

    # -- drawing ---------------------------------------------------------------------------

    def tree(self, width: float = 760, *, now: float | None = None) -> Node:
        """Draw the timeline as an ``<svg class="timeline">`` tree ``width`` px wide."""
        width = max(float(width), 300.0)
        now = self.ended_at if self.ended_at is not None else (self._now() if now is None else now)
        t0 = self.t0 if self.t0 is not None else now
        total = max(now - t0, self.last - t0, 1e-3)
        lanes = self.lanes or [("stream",)]
        labels = [("\u2003" * (len(k) - 1)) + clip(k[-1], 24) for k in lanes]
        label_w = min(180.0, max(text_width(t, 11) for t in labels) + 12)
        plot_x = label_w + 6
        plot_w = width - plot_x - 12
        top = 6

        def x_of(t: float) -> float:
            return plot_x + (t - t0) / total * plot_w

        # Invocations of one step that overlap get rows of their own within its lane.
        by_lane: dict[tuple[str, ...], list[Span]] = {}
        for span in self.spans:
            by_lane.setdefault(span.key, []).append(span)
        rows: dict[int, int] = {}
        counts: dict[tuple[str, ...], int] = {}
        heights: dict[tuple[str, ...], float] = {}
        for key, spans in by_lane.items():
            counts[key] = 1 if len(spans) > MAX_DRAWN_PER_LANE else _rows(spans, now, rows)
            heights[key] = max(24.0, 8 + counts[key] * 10.0)
        lane_y: dict[tuple[str, ...], float] = {}
        y = float(top)
        for key in lanes:
            lane_y[key] = y
            y += heights.get(key, 24.0)
        axis_y = y

        def lane_mid(key: tuple[str, ...]) -> float:
            return lane_y.get(key, top) + heights.get(key, 24.0) / 2

        legend, legend_h = _legend(width, self._kinds())
        summary_text = self.summary_text(now)
        if self.dropped:
            summary_text += f" \u00b7 {self.dropped} items not drawn"
        summary_lines = _wrap(summary_text, width - 20, 12)
        height = axis_y + 20 + legend_h + 8 + 16 * len(summary_lines) + 6
        state = "finished" if self.finished else "running"
        svg = el(
            "svg",
            {
                "xmlns": "http://www.w3.org/2000/svg",
                "viewBox": f"0 0 {width:.0f} {height:.0f}",
                "width": f"{width:.0f}",
                "height": f"{height:.0f}",
                "role": "img",
                "class": "timeline",
                "data-state": state,
                "data-spans": len(self.spans),
                "font-family": FONT,
                "style": "max-width:100%;height:auto",
            },
            el("title", {}, f"Timeline of {self.name or 'a run'}: {summary_text}"),
            el("rect", {"width": f"{width:.0f}", "height": f"{height:.0f}", "rx": 8, "fill": "#ffffff"}),
        )
        for i, (key, label) in enumerate(zip(lanes, labels, strict=True)):
            y, h = lane_y[key], heights.get(key, 24.0)
            svg.append(
                el(
                    "rect",
                    {
                        "x": 0,
                        "y": f"{y:.0f}",
                        "width": f"{width:.0f}",
                        "height": f"{h:.0f}",
                        "class": "lane odd" if i % 2 else "lane",
                        "fill": LANE_ODD if i % 2 else LANE,
                    },
                )
            )
            label_text = el(
                "text",
                {
                    "x": f"{label_w - 4:.0f}",
                    "y": f"{y + h / 2 + 4:.0f}",
                    "text-anchor": "end",
                    "class": "lane-label",
                    "data-lane": SEP.join(key),
                    "font-size": 11,
                    "fill": INK,
                },
                label,
            )
            svg.append(el("g", {}, el("title", {}, SEP.join(key)), label_text))
        spans_layer = el("g", {"class": "spans"})
        for key, spans in by_lane.items():
            y, h = lane_y.get(key, top) + 4, heights.get(key, 24.0) - 8
            if len(spans) > MAX_DRAWN_PER_LANE:
                spans_layer.extend(_merged(spans, x_of, now, y, h, key, self._shown))
                continue
            count = counts[key]
            row_h = h / count
            for span in spans:
                row = rows.get(id(span), 0)
                top_y, span_h = y + row * row_h, max(row_h - 2, 4) if count > 1 else h
                spans_layer.append(_span(span, x_of, now, top_y, span_h, self._shown(span)))
        svg.append(spans_layer)
        marks_layer = el("g", {"class": "marks"})
        for mark in self.marks:
            title = el("title", {}, f"{mark.label} at +{format_ms(mark.at - t0)}")
            marks_layer.append(_mark(mark.kind, x_of(mark.at), lane_mid(mark.key), title))
        svg.append(marks_layer)
        svg.append(_axis(plot_x, plot_w, axis_y, total, width))
        svg.append(el("g", {"class": "legend", "transform": f"translate(10,{axis_y + 22:.0f})"}, *legend))
        summary = el(
            "text",
            {
                "x": 10,
                "y": f"{axis_y + 20 + legend_h + 18:.0f}",
                "class": "summary " + state,
                "font-size": 12,
                "fill": "#b42318" if self.status == "failed" else INK,
                "font-weight": "600" if self.finished else "400",
            },
        )
        for i, line in enumerate(summary_lines):
            summary.append(el("tspan", {"x": 10, "dy": 0 if i == 0 else 16}, line))
        svg.append(summary)
        return svg

    def _kinds(self) -> set[str]:
        """What the drawing shows (for its legend): span outcomes and mark kinds."""
        kinds = {self._shown(s) for s in self.spans}
        kinds.update(m.kind for m in self.marks)
        return kinds


MAX_ROWS = 6


def _rows(spans: Sequence[Span], now: float, rows: dict[int, int]) -> int:
    """Give each span a row so that spans in a row do not overlap (greedy by start; past
    :data:`MAX_ROWS` rows, the row that frees first is shared). Returns the row count."""
    ends: list[float] = []
    for span in sorted(spans, key=lambda s: s.start):
        end = span.end if span.end is not None else now
        for i, free_at in enumerate(ends):
            if free_at <= span.start:
                ends[i] = end
                rows[id(span)] = i
                break
        else:
            if len(ends) < MAX_ROWS:
                ends.append(end)
                rows[id(span)] = len(ends) - 1
            else:
                i = min(range(len(ends)), key=ends.__getitem__)
                ends[i] = max(ends[i], end)
                rows[id(span)] = i
    return max(len(ends), 1)


def _span(span: Span, x_of: Callable[[float], float], now: float, y: float, h: float, outcome: str) -> Node:
    end = span.end if span.end is not None else now
    x1, x2 = x_of(span.start), x_of(end)
    attrs: dict[str, Any] = {
        "x": f"{x1:.1f}",
        "y": f"{y:.0f}",
        "width": f"{max(x2 - x1, 2.5):.1f}",
        "height": f"{h:.0f}",
        "rx": 2,
        "class": f"span {outcome}",
        "data-step": span.step,
        "fill": OUTCOME_FILL[outcome],
    }
    if outcome == "running":
        attrs.update({"stroke": "#2f6db5", "stroke-dasharray": "3 2"})
    what = f"{SEP.join(span.key)} #{span.span}: {format_ms(end - span.start)}, {outcome}"
    if span.handling:
        what += f" (handling {short_type(span.handling)})"
    if span.error:
        what += f": {span.error}"
    return el("rect", attrs, el("title", {}, what))


def _merged(
    spans: Sequence[Span],
    x_of: Callable[[float], float],
    now: float,
    y: float,
    h: float,
    key: tuple[str, ...],
    shown: Callable[[Span], str],
) -> Iterable[Node]:
    """Many spans of one lane as runs of busy pixels (the worst outcome colours a run)."""
    order = {"failed": 4, "retried": 3, "running": 2, "cancelled": 1, "interrupted": 1, "completed": 0}
    runs: list[list[Any]] = []
    for span in sorted(spans, key=lambda s: s.start):
        x1 = x_of(span.start)
        x2 = max(x_of(span.end if span.end is not None else now), x1 + 1)
        if runs and x1 <= runs[-1][1] + 1:
            run = runs[-1]
            run[1] = max(run[1], x2)
            run[2] += 1
            if order[shown(span)] > order[run[3]]:
                run[3] = shown(span)
        else:
            runs.append([x1, x2, 1, shown(span)])
    for x1, x2, count, outcome in runs:
        yield el(
            "rect",
            {
                "x": f"{x1:.1f}",
                "y": f"{y:.0f}",
                "width": f"{x2 - x1:.1f}",
                "height": f"{h:.0f}",
                "class": f"span merged {outcome}",
                "data-step": key[-1],
                "fill": OUTCOME_FILL[outcome],
            },
            el("title", {}, f"{SEP.join(key)}: {count} runs"),
        )


def _axis(plot_x: float, plot_w: float, y: float, total: float, width: float) -> Node:
    axis = el("g", {"class": "axis", "font-size": 10, "fill": MUTED})
    step = _nice(total / max(plot_w / 90, 1))
    t = 0.0
    while t <= total * 1.0001:
        x = plot_x + t / total * plot_w
        anchor = "start" if t == 0 else "end" if x > width - 40 else "middle"
        axis.append(el("path", {"d": f"M{x:.1f},{y:.0f} v4", "stroke": "#a3abbb"}))
        axis.append(
            el(
                "text",
                {"x": f"{x:.1f}", "y": f"{y + 14:.0f}", "text-anchor": anchor},
                format_ms(t) if t else "0",
            )
        )
        t += step
    return axis


def _nice(raw: float) -> float:
    """A round tick interval (1, 2 or 5 times a power of ten) near ``raw`` seconds."""
    if raw <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


_KEYS = (
    ("span", "completed", "step ran"),
    ("span", "running", "running"),
    ("span", "failed", "failed"),
    ("span", "retried", "retried"),
    ("span", "interrupted", "interrupted"),
    ("span", "cancelled", "cancelled"),
    ("dot", "start", "start"),
    ("dot", "event", "event"),
    ("dot", "stop", "stop"),
    ("dot", "input", "input request"),
    ("dot", "answer", "answer"),
    ("dot", "retry", "retry"),
    ("dot", "error", "error"),
)


def _mark(kind: str, cx: float, cy: float, *children: Node, role: str = "dot") -> Node:
    """A point on a lane (``role`` ``"key"``: in the legend): a circle for events and
    answers, a diamond for an input request, a cross for an error."""
    fill, cls = MARK_FILL[kind], f"{role} {kind}"
    if kind == "input":
        d = f"M{cx:.1f},{cy - 5.5:.1f} l5.5,5.5 l-5.5,5.5 l-5.5,-5.5 z"
        return el("path", {"d": d, "class": cls, "fill": fill, "stroke": "#ffffff"}, *children)
    if kind == "error":
        d = f"M{cx - 4:.1f},{cy - 4:.1f} l8,8 M{cx + 4:.1f},{cy - 4:.1f} l-8,8"
        return el(
            "path", {"d": d, "class": cls, "stroke": fill, "stroke-width": 2.5, "fill": "none"}, *children
        )
    attrs = {"cx": f"{cx:.1f}", "cy": f"{cy:.1f}", "r": 4.5, "class": cls, "fill": fill}
    return el("circle", {**attrs, "stroke": "#ffffff", "stroke-width": 1.5}, *children)


def _wrap(text: str, width: float, size: float) -> list[str]:
    """``text`` in lines that fit ``width`` px at font ``size`` (at most 4; the rest clipped)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if line and text_width(candidate, size * 1.05) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    lines.append(line)
    if len(lines) > 4:
        lines = [*lines[:3], clip(" ".join(lines[3:]), int(width / (size * 0.63)))]
    return [clip(one, max(int(width / (size * 0.63)), 8)) for one in lines]


def _legend(width: float, shown: set[str]) -> tuple[list[Node], int]:
    items: list[Node] = []
    x, y = 0.0, 0
    for shape, kind, label in _KEYS:
        if kind not in shown:
            continue
        w = 18 + text_width(label, 10) + 10
        if x + w > width - 20:
            x, y = 0.0, y + 16
        if shape == "span":
            attrs: dict[str, Any] = {
                "x": f"{x:.0f}",
                "y": y,
                "width": 14,
                "height": 10,
                "rx": 2,
                "class": f"key {kind}",
                "fill": OUTCOME_FILL[kind],
            }
            if kind == "running":
                attrs.update({"stroke": "#2f6db5", "stroke-dasharray": "3 2"})
            items.append(el("rect", attrs))
        else:
            items.append(_mark(kind, x + 7, y + 5, role="key"))
        items.append(el("text", {"x": f"{x + 18:.0f}", "y": y + 9, "font-size": 10, "fill": MUTED}, label))
        x += w
    return items, (y + 12 if items else 0)
