"""A workflow's graph: steps and event types from the declared accepts / emits.

:func:`describe` turns a workflow into a plain description (also what the playground
sends for JavaScript workflows), :func:`check_description` validates one that came from
elsewhere, :func:`layout` places its nodes, and :func:`graph_tree` draws it as an SVG
element tree (see :mod:`.tree`). Columns follow the distance from the start event;
nodes keep declaration order within a column.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from ..events import INPUT_REQUEST_EVENT, INPUT_RESPONSE_EVENT, START_EVENT, STOP_EVENT
from .tree import Node, clip, el, text_width, to_markup

__all__ = [
    "Description",
    "check_description",
    "describe",
    "graph_bundle",
    "graph_tree",
    "layout",
    "short_type",
]

Description = dict[str, Any]
"""``{"name": str, "steps": [{"name": str, "accepts": [str], "emits": [str] | None}]}``."""

MAX_STEPS = 2000
MAX_TYPES_PER_STEP = 500
MAX_NAME = 10_000
LABEL_CHARS = 28
MAX_DEPTH = 8
MAX_CHILDREN = 200
SUB_KINDS = frozenset({"subworkflow", "map", "parallel"})

# Colours are presentation attributes, so the drawing looks the same in a notebook (no
# page CSS) and on a page, where CSS may still override them (the playground's "seen").
INK = "#1c1f26"
MUTED = "#5d6474"
STEP_FILL, STEP_STROKE = "#eef2fb", "#2f6db5"
BOX_FILL = "#f8faff"
EVENT_FILL, EVENT_STROKE = "#ffffff", "#a3abbb"
START_FILL, START_STROKE = "#eef1f5", "#64748b"
STOP_FILL, STOP_STROKE = "#e7f4ec", "#23774a"
EDGE = "#98a1b3"
HUMAN = "#c2410c"
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
MONO = "ui-monospace, Menlo, Consolas, monospace"

_ids = itertools.count(1)


def short_type(etype: str) -> str:
    """A short label for an event type: ``'blazen::StopEvent'`` -> ``'StopEvent'``."""
    return etype[8:] if etype.startswith("blazen::") else etype


def describe(workflow: Any) -> Description:
    """The description of a :class:`~blazen_py.Workflow` (anything with ``name`` and ``steps``).

    A sub-workflow, map or parallel step also gets ``"sub": {"kind", "children"}``: the
    children's own descriptions, nested. A workflow met again on its own path (nested in
    itself), past :data:`MAX_DEPTH` or past :data:`MAX_STEPS` steps in all is described by
    name only: ``{"name", "steps": [], "ref": True}``.
    """
    return _describe(workflow, (), [MAX_STEPS])


def _describe(workflow: Any, path: tuple[int, ...], budget: list[int]) -> Description:
    path = (*path, id(workflow))
    steps = []
    for step in workflow.steps:
        budget[0] -= 1
        item: dict[str, Any] = {
            "name": step.name,
            "accepts": list(step.accepts),
            "emits": None if step.emits is None else list(step.emits),
        }
        handler = getattr(step, "handler", None)
        children = getattr(handler, "children", None)
        if children:
            kind = getattr(handler, "compose", "subworkflow")
            item["sub"] = {
                "kind": kind if kind in SUB_KINDS else "subworkflow",
                "children": [_child(child, path, budget) for child in children],
            }
        steps.append(item)
    return {"name": workflow.name, "steps": steps}


def _child(child: Any, path: tuple[int, ...], budget: list[int]) -> Description:
    if id(child) in path or len(path) >= MAX_DEPTH or budget[0] <= len(child.steps):
        return {"name": child.name, "steps": [], "ref": True}
    return _describe(child, path, budget)


def check_description(data: Any) -> Description:
    """Validate a description that came from outside (JSON from a page); return a clean copy.

    Nested children (``"sub"``) are checked too: at most :data:`MAX_DEPTH` deep and
    :data:`MAX_STEPS` steps in all.

    Raises:
        ValueError: not a description, or larger than the bounds above.
    """
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    return _check(data, 0, [MAX_STEPS])


def _check(data: Any, depth: int, budget: list[int]) -> Description:
    if not isinstance(data, Mapping):
        raise ValueError("a workflow description is an object with 'name' and 'steps'")
    name, steps = data.get("name"), data.get("steps")
    if not isinstance(name, str) or not isinstance(steps, list):
        raise ValueError("a workflow description needs a string 'name' and a list 'steps'")
    budget[0] -= len(steps)
    if budget[0] < 0:
        raise ValueError(f"a workflow description holds at most {MAX_STEPS} steps, got more")
    clean = []
    for step in steps:
        if not isinstance(step, Mapping) or not isinstance(step.get("name"), str):
            raise ValueError("each step is an object with a string 'name'")
        emits = step.get("emits")
        item: dict[str, Any] = {
            "name": step["name"][:MAX_NAME],
            "accepts": _types(step.get("accepts"), "accepts"),
            "emits": None if emits is None else _types(emits, "emits"),
        }
        if step.get("sub") is not None:
            item["sub"] = _check_sub(step["sub"], depth, budget)
        clean.append(item)
    out: Description = {"name": name[:MAX_NAME], "steps": clean}
    if data.get("ref") is True:
        out["ref"] = True
    return out


def _check_sub(sub: Any, depth: int, budget: list[int]) -> dict[str, Any]:
    if not isinstance(sub, Mapping) or sub.get("kind") not in SUB_KINDS:
        raise ValueError(f"a step's 'sub' is an object with 'kind' one of {sorted(SUB_KINDS)}")
    children = sub.get("children")
    if not isinstance(children, list) or not children or len(children) > MAX_CHILDREN:
        raise ValueError(f"a step's 'sub' has a list of 1 to {MAX_CHILDREN} 'children'")
    if depth + 1 > MAX_DEPTH:
        raise ValueError(f"sub-workflows nest at most {MAX_DEPTH} deep")
    return {"kind": sub["kind"], "children": [_check(c, depth + 1, budget) for c in children]}


def _types(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_TYPES_PER_STEP:
        raise ValueError(f"a step's {what!r} is a list of at most {MAX_TYPES_PER_STEP} event types")
    if not all(isinstance(t, str) for t in value):
        raise ValueError(f"a step's {what!r} holds strings only")
    return [t[:MAX_NAME] for t in value]


class _Node:
    __slots__ = ("accepts", "emits", "h", "kind", "label", "name", "rank", "sub", "w", "x", "y")

    def __init__(self, kind: str, name: str, accepts: list[str] | None = None, emits: Any = None) -> None:
        self.kind = kind
        self.name = name
        self.accepts = accepts or []
        self.emits = emits
        self.label = clip(name if kind == "step" else short_type(name), LABEL_CHARS)
        self.rank = 0
        self.sub: tuple[str, list[Layout]] | None = None
        self.x = self.y = self.w = self.h = 0.0


class Layout:
    """Placed nodes and edges of one description (``ref``: drawn by name only)."""

    __slots__ = ("edges", "height", "name", "nodes", "ref", "width")

    def __init__(
        self,
        nodes: list[_Node],
        edges: list[tuple[_Node, _Node, str]],
        width: float,
        height: float,
        name: str = "",
        ref: bool = False,
    ):
        self.nodes = nodes
        self.edges = edges
        self.width = width
        self.height = height
        self.name = name
        self.ref = ref


NODE_H, GAP_Y, GAP_X, PAD = 30, 14, 34, 12
# A sub-workflow box: its label row, the padding around its children, the gap between
# them (a parallel step's side by side) and each child's caption (its workflow's name).
BOX_HEAD, BOX_PAD, BOX_GAP, CAPTION = 24, 8, 12, 16
SUB_NOTE = {"subworkflow": "", "map": " \u00b7 map", "parallel": " \u00b7 parallel"}


def layout(desc: Description) -> Layout:
    """Place the nodes of ``desc``: columns by breadth-first distance from the start event.

    A step with ``"sub"`` is a box holding its children's own layouts side by side."""
    placed = _place(desc)
    placed.width = max(placed.width, 470)
    placed.height += 30  # the legend
    return placed


def _place(desc: Description) -> Layout:
    if desc.get("ref"):
        label = clip("\u21bb " + desc["name"], LABEL_CHARS)
        return Layout([], [], text_width(label, 11) + 22, NODE_H, desc["name"], ref=True)
    steps = []
    for s in desc["steps"]:
        node = _Node("step", s["name"], list(s["accepts"]), s["emits"])
        sub = s.get("sub")
        if sub:
            node.sub = (sub["kind"], [_place(c) for c in sub["children"]])
            node.label = clip(s["name"], LABEL_CHARS) + SUB_NOTE.get(sub["kind"], "")
        steps.append(node)
    events: dict[str, _Node] = {}

    def event(etype: str) -> _Node:
        node = events.get(etype)
        if node is None:
            node = events[etype] = _Node("event", etype)
        return node

    event(START_EVENT)
    for step in steps:
        for etype in step.accepts:
            event(etype)
        for etype in step.emits or ():
            event(etype)
    edges: list[tuple[_Node, _Node, str]] = []
    for step in steps:
        edges.extend((events[t], step, "accepts") for t in step.accepts)
        edges.extend((step, events[t], "emits") for t in step.emits or ())
    if INPUT_REQUEST_EVENT in events and INPUT_RESPONSE_EVENT in events:
        edges.append((events[INPUT_REQUEST_EVENT], events[INPUT_RESPONSE_EVENT], "human"))

    nodes = [*events.values(), *steps]
    _rank(nodes, edges, events[START_EVENT])
    columns: dict[int, list[_Node]] = {}
    for node in nodes:
        columns.setdefault(node.rank, []).append(node)
    x, height = float(PAD), 0.0
    placed = [columns[r] for r in sorted(columns)]
    for column in placed:
        for node in column:
            _size(node)
        col_w = max(n.w for n in column)
        for node in column:
            node.x = x + (col_w - node.w) / 2
        x += col_w + GAP_X
        height = max(height, _column_height(column))
    for column in placed:
        y = PAD + (height - _column_height(column)) / 2
        for node in column:
            node.y = y
            y += node.h + GAP_Y
    loops = 26 if any(b.rank <= a.rank for a, b, _ in edges) else 0
    return Layout(nodes, edges, x - GAP_X + PAD, height + 2 * PAD + loops, desc["name"])


def _rank(nodes: list[_Node], edges: list[tuple[_Node, _Node, str]], start: _Node) -> None:
    outgoing: dict[int, list[_Node]] = {}
    incoming: dict[int, list[_Node]] = {}
    for a, b, _ in edges:
        outgoing.setdefault(id(a), []).append(b)
        incoming.setdefault(id(b), []).append(a)
    rank: dict[int, int] = {id(start): 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in outgoing.get(id(node), ()):
            if id(nxt) not in rank:
                rank[id(nxt)] = rank[id(node)] + 1
                queue.append(nxt)
    # What the start does not reach (undeclared emits): after its highest ranked source.
    for _ in range(3):
        for node in nodes:
            if id(node) not in rank:
                before = [rank[id(a)] for a in incoming.get(id(node), ()) if id(a) in rank]
                if before:
                    rank[id(node)] = max(before) + 1
    for node in nodes:
        node.rank = rank.get(id(node), 1 if node.kind == "step" else 0)


def _size(node: _Node) -> None:
    size = 12 if node.kind == "step" else 11
    node.w = max(text_width(node.label, size) + 22, 64)
    node.h = NODE_H
    if node.sub is not None:
        blocks = [_block_size(child) for child in node.sub[1]]
        inner = sum(w for w, _ in blocks) + BOX_GAP * (len(blocks) - 1) + 2 * BOX_PAD
        node.w = max(node.w, inner)
        node.h = BOX_HEAD + max(h for _, h in blocks) + BOX_PAD


def _block_size(child: Layout) -> tuple[float, float]:
    """A child in a box: its caption (its workflow's name) over its graph."""
    if child.ref:
        return child.width, child.height
    return max(child.width, text_width(clip(child.name, LABEL_CHARS), 10)), CAPTION + child.height


def _column_height(column: list[_Node]) -> float:
    return sum(n.h for n in column) + GAP_Y * (len(column) - 1)


def _edge_path(a: _Node, b: _Node) -> str:
    if b.rank > a.rank:
        x1, y1 = a.x + a.w, a.y + a.h / 2
        x2, y2 = b.x, b.y + b.h / 2
        mid = (x1 + x2) / 2
        return f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2 - 1:.1f},{y2:.1f}"
    # A loop back (or a link within a column): below the nodes.
    x1, y1 = a.x + a.w / 2, a.y + a.h
    x2, y2 = b.x + b.w / 2, b.y + b.h
    low = max(y1, y2) + 24
    return f"M{x1:.1f},{y1:.1f} C{x1:.1f},{low:.1f} {x2:.1f},{low:.1f} {x2:.1f},{y2 + 1:.1f}"


def _summary(steps: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for s in steps:
        emits = s["emits"]
        said = "undeclared" if emits is None else ", ".join(emits) or "nothing"
        runs = ""
        if s.get("sub"):
            runs = f"; runs {s['sub']['kind']} of {', '.join(c['name'] for c in s['sub']['children'])}"
        parts.append(f"{s['name']} accepts {', '.join(s['accepts'])}; emits {said}{runs}")
    return ". ".join(parts)


def graph_tree(desc: Description, *, api: str = "python") -> Node:
    """Draw ``desc`` as an ``<svg class="graph">`` tree.

    ``api`` names the answer call in the legend: ``"python"`` (``respond_to_input``) or
    ``"js"`` (``respondToInput``). Undeclared emits (None) show as a dashed step border.
    """
    placed = layout(desc)
    width, height = placed.width, placed.height
    arrow = f"blazen-arrow-{next(_ids)}"
    human_arrow = arrow + "-h"
    steps = desc["steps"]
    svg = el(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {width:.0f} {height:.0f}",
            "width": f"{width:.0f}",
            "height": f"{height:.0f}",
            "role": "img",
            "class": "graph",
            "font-family": FONT,
            # shrink to fit, but not past what stays readable: a box around it then scrolls
            "style": f"max-width:100%;min-width:{width * 0.8:.0f}px;height:auto",
        },
        el("title", {}, f"Workflow {desc['name']}: {len(steps)} step{'' if len(steps) == 1 else 's'}"),
        el("desc", {}, _summary(steps)),
        el(
            "defs",
            {},
            _marker(arrow, EDGE),
            _marker(human_arrow, HUMAN),
        ),
        el("rect", {"width": f"{width:.0f}", "height": f"{height:.0f}", "rx": 8, "fill": "#ffffff"}),
    )
    svg.extend(_body(placed, (arrow, human_arrow), []))
    svg.append(_legend(height, any(kind == "human" for _, _, kind in placed.edges), api))
    return svg


def _marker(marker_id: str, colour: str) -> Node:
    return el(
        "marker",
        {
            "id": marker_id,
            "viewBox": "0 0 10 10",
            "refX": 9,
            "refY": 5,
            "markerWidth": 7,
            "markerHeight": 7,
            "orient": "auto-start-reverse",
        },
        el("path", {"d": "M0,0 L10,5 L0,10 z", "class": "arrowhead", "fill": colour}),
    )


def _body(placed: Layout, arrows: tuple[str, str], path: list[str]) -> list[Node]:
    """The edges and nodes of one (possibly nested) layout; ``path``: the sub-workflow
    steps down to it, so the page marks a child's stream items on the child's nodes only."""
    arrow, human_arrow = arrows
    edges = el("g", {"class": "edges", "fill": "none"})
    for a, b, kind in placed.edges:
        human = kind == "human"
        attrs = {
            "d": _edge_path(a, b),
            "class": f"edge {kind}",
            "stroke": HUMAN if human else EDGE,
            "stroke-width": 1.4,
            "marker-end": f"url(#{human_arrow if human else arrow})",
        }
        if human:
            attrs["stroke-dasharray"] = "5 4"
        edges.append(el("path", attrs))
    nodes = el("g", {"class": "nodes"})
    for node in placed.nodes:
        nodes.append(_node(node, arrows, path))
    return [edges, nodes]


def _node(node: _Node, arrows: tuple[str, str], path: list[str]) -> Node:
    classes = ["node", node.kind]
    attrs: dict[str, Any] = {"transform": f"translate({node.x:.1f},{node.y:.1f})"}
    if path:
        attrs["data-path"] = json.dumps(path)
    if node.kind == "step":
        fill, stroke, rx, size, family = STEP_FILL, STEP_STROKE, 6.0, 12, FONT
        attrs["data-step"] = node.name
        attrs["data-accepts"] = json.dumps(node.accepts)
        if node.emits is None:
            classes.append("undeclared")
        title = f"step {node.name}"
        if node.sub is not None:
            classes += ["box", node.sub[0]]
            fill = BOX_FILL
            title += f" ({node.sub[0]} of {', '.join(c.name for c in node.sub[1])})"
    else:
        fill, stroke, rx, size, family = EVENT_FILL, EVENT_STROKE, node.h / 2, 11, MONO
        attrs["data-event"] = node.name
        if node.name == START_EVENT:
            classes += ["builtin", "start"]
            fill, stroke = START_FILL, START_STROKE
        elif node.name == STOP_EVENT:
            classes += ["builtin", "stop"]
            fill, stroke = STOP_FILL, STOP_STROKE
        title = f"event type {node.name}"
    attrs["class"] = " ".join(classes)
    rect: dict[str, Any] = {
        "width": f"{node.w:.0f}",
        "height": f"{node.h:.0f}",
        "rx": rx,
        "fill": fill,
        "stroke": stroke,
        "stroke-width": 2 if "builtin" in classes else 1.4,
    }
    if "undeclared" in classes:
        rect["stroke-dasharray"] = "4 3"
    label = {"font-size": size, "font-family": family, "fill": INK}
    if node.sub is None:
        centre = {"x": f"{node.w / 2:.1f}", "y": node.h / 2 + 4, "text-anchor": "middle"}
        text = el("text", {**centre, **label}, node.label)
        return el("g", attrs, el("title", {}, title), el("rect", rect), text)
    group = el("g", attrs, el("title", {}, title), el("rect", rect))
    group.append(el("text", {"x": BOX_PAD + 2, "y": 16, "class": "box-label", **label}, node.label))
    group.extend(_children(node, arrows, [*path, node.name]))
    return group


def _children(node: _Node, arrows: tuple[str, str], path: list[str]) -> list[Node]:
    """A box's children side by side, under its label row, centred in its width."""
    assert node.sub is not None
    kids = node.sub[1]
    blocks = [_block_size(child) for child in kids]
    used = sum(w for w, _ in blocks) + BOX_GAP * (len(blocks) - 1)
    x = (node.w - used) / 2
    out = []
    for child, (w, _) in zip(kids, blocks, strict=False):
        at = {"transform": f"translate({x:.1f},{BOX_HEAD})", "data-workflow": child.name}
        if child.ref:
            label = clip("\u21bb " + child.name, LABEL_CHARS)
            out.append(
                el(
                    "g",
                    {**at, "class": "subgraph ref"},
                    el("title", {}, f"workflow {child.name} (drawn above)"),
                    el(
                        "rect",
                        {
                            "width": f"{w:.0f}",
                            "height": NODE_H,
                            "rx": 6,
                            "fill": EVENT_FILL,
                            "stroke": STEP_STROKE,
                            "stroke-dasharray": "2 3",
                        },
                    ),
                    el(
                        "text",
                        {
                            "x": f"{w / 2:.1f}",
                            "y": NODE_H / 2 + 4,
                            "text-anchor": "middle",
                            "font-size": 11,
                            "fill": MUTED,
                        },
                        label,
                    ),
                )
            )
        else:
            caption = el(
                "text",
                {"x": 2, "y": 11, "class": "caption", "font-size": 10, "fill": MUTED},
                clip(child.name, LABEL_CHARS),
            )
            inner = el("g", {"transform": f"translate(0,{CAPTION})"}, *_body(child, arrows, path))
            out.append(el("g", {**at, "class": "subgraph"}, caption, inner))
        x += w + BOX_GAP
    return out


def _legend(height: float, human: bool, api: str) -> Node:
    text = {"font-size": 10, "fill": MUTED}
    legend = el(
        "g",
        {"class": "legend", "transform": f"translate(12,{height - 16:.0f})"},
        el(
            "rect",
            {
                "width": 16,
                "height": 10,
                "rx": 2,
                "class": "key step",
                "fill": STEP_FILL,
                "stroke": STEP_STROKE,
            },
        ),
        el("text", {"x": 21, "y": 9, **text}, "step"),
        el(
            "rect",
            {
                "x": 52,
                "width": 20,
                "height": 10,
                "rx": 5,
                "class": "key event",
                "fill": EVENT_FILL,
                "stroke": EVENT_STROKE,
            },
        ),
        el("text", {"x": 77, "y": 9, **text}, "event type"),
        el(
            "rect",
            {
                "x": 136,
                "width": 20,
                "height": 10,
                "rx": 5,
                "class": "key start",
                "fill": START_FILL,
                "stroke": START_STROKE,
            },
        ),
        el(
            "rect",
            {
                "x": 160,
                "width": 20,
                "height": 10,
                "rx": 5,
                "class": "key stop",
                "fill": STOP_FILL,
                "stroke": STOP_STROKE,
            },
        ),
        el("text", {"x": 185, "y": 9, **text}, "start / stop"),
        el("path", {"d": "M250,5 h22", "class": "edge", "stroke": EDGE, "fill": "none"}),
        el("text", {"x": 277, "y": 9, **text}, "accepts / emits"),
    )
    if human:
        call = "respondToInput" if api == "js" else "respond_to_input"
        legend.append(
            el(
                "path",
                {
                    "d": "M360,5 h22",
                    "class": "edge human",
                    "stroke": HUMAN,
                    "stroke-dasharray": "5 4",
                    "fill": "none",
                },
            )
        )
        legend.append(el("text", {"x": 387, "y": 9, **text}, f"answered with {call}"))
    return legend


def graph_bundle(desc: Description) -> dict[str, str]:
    """The graph for a notebook's display: HTML (the SVG inline) and SVG."""
    svg = to_markup(graph_tree(desc))
    html = f'<div class="blazen-graph" style="max-width:100%;overflow-x:auto">{svg}</div>'
    return {"text/html": html, "image/svg+xml": svg}
