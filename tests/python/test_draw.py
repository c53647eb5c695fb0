"""The renderer (blazen_py._draw): graph SVG, Mermaid, DOT, timelines and snapshot
summaries, with hostile names and hostile stream items."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import xml.etree.ElementTree as ET

import pydot
import pytest

from blazen_py import (
    INPUT_REQUEST_EVENT,
    INPUT_RESPONSE_EVENT,
    START_EVENT,
    STEP_FINISHED,
    STEP_STARTED,
    STOP_EVENT,
    Workflow,
)
from blazen_py._draw.export import to_dot, to_mermaid
from blazen_py._draw.graph import MAX_DEPTH, check_description, describe, graph_tree, short_type
from blazen_py._draw.timeline import MAX_SPANS, STEP_RETRYING, Timeline
from blazen_py._draw.tree import clean, clip, el, to_markup
from blazen_py.snapshot.capture import Snapshot
from blazen_py.snapshot.summary import snapshot_lines, snapshot_tree

# pydot's grammar still uses pyparsing's old camelCase names
pytestmark = pytest.mark.filterwarnings(r"ignore:'\w+' deprecated")

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = [
    "<script>alert(1)</script>",
    "\"quoted\" & 'single' &amp;",
    "line\nbreak\r\ttab",
    "]]> <![CDATA[ x ]]> <!-- -->",
    "x" * 5000,
    "ünïcødé 名前 😀",
    "nul\x00bell\x07",
    "lone \ud800 surrogate",
    "#quot; %%{init: {}}%% `md` [brackets] {braces} (parens) ;semi |pipe|",
    "end",
    "\\N \\G back\\slash",
    '<img src=x onerror="alert(1)">',
]


def hostile_workflow() -> Workflow:
    wf = Workflow('<b>bad</b> "workflow"\n')
    previous = START_EVENT
    for i, name in enumerate(HOSTILE):
        produced = f"{name}-event" if i < len(HOSTILE) - 1 else STOP_EVENT
        wf.add_step(name, [previous], lambda e, c: None, emits=[produced])
        previous = produced
    return wf


def simple_workflow() -> Workflow:
    wf = Workflow("approval")
    wf.add_step("draft", [START_EVENT], lambda e, c: None, emits=[INPUT_REQUEST_EVENT])
    wf.add_step("decide", [INPUT_RESPONSE_EVENT], lambda e, c: None, emits=[STOP_EVENT, "Again"])
    wf.add_step("loop", ["Again"], lambda e, c: None, emits=None)
    return wf


def parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text)  # well-formed XML or this raises
    assert root.tag == SVG + "svg"
    for node in root.iter():
        assert node.tag.removeprefix(SVG) not in ("script", "foreignObject", "iframe", "image", "a")
        for name in node.attrib:
            assert not name.lower().startswith("on"), name
            assert "href" not in name
    return root


def expected_event_types(wf: Workflow) -> set[str]:
    types = {START_EVENT}
    for step in wf.steps:
        types.update(step.accepts)
        types.update(step.emits or ())
    return types


# -- the graph ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [simple_workflow, hostile_workflow])
def test_graph_svg_is_well_formed_and_has_every_step_and_event_type(make) -> None:
    wf = make()
    root = parse_svg(wf.to_svg())
    steps = [g.get("data-step") for g in root.iter(SVG + "g") if "step" in (g.get("class") or "").split()]
    events = {g.get("data-event") for g in root.iter(SVG + "g") if "event" in (g.get("class") or "").split()}
    assert steps == [clean(s.name) for s in wf.steps]
    assert events == {clean(t) for t in expected_event_types(wf)}
    # start and stop are marked
    classes = {g.get("data-event"): g.get("class") for g in root.iter(SVG + "g") if g.get("data-event")}
    assert "start" in classes[START_EVENT].split()
    if STOP_EVENT in classes:
        assert "stop" in classes[STOP_EVENT].split()


def test_hostile_names_stay_text() -> None:
    wf = hostile_workflow()
    text = wf.to_svg()
    root = parse_svg(text)
    assert "<script" not in text
    assert "<img" not in text
    labels = [t.text for g in root.iter(SVG + "g") if g.get("data-step") for t in g.iter(SVG + "text")]
    assert labels == [clean(clip(s.name, 28)) for s in wf.steps]
    assert "<script>alert(1)</script>" in labels  # shown as itself, as text
    titles = [t.text for g in root.iter(SVG + "g") if g.get("data-step") for t in g.iter(SVG + "title")]
    assert titles == [f"step {clean(s.name)}" for s in wf.steps]  # the full name, newlines kept
    assert len(labels[HOSTILE.index("x" * 5000)]) == 28
    assert root.find(SVG + "title").text == 'Workflow <b>bad</b> "workflow"\n: 12 steps'


def test_graph_edges_follow_accepts_emits_and_the_human_link() -> None:
    root = parse_svg(simple_workflow().to_svg())
    [edges] = [g for g in root.iter(SVG + "g") if g.get("class") == "edges"]
    kinds = [p.get("class") for p in edges.iter(SVG + "path")]
    assert kinds.count("edge accepts") == 3
    assert kinds.count("edge emits") == 3
    assert kinds.count("edge human") == 1
    undeclared = [g.get("data-step") for g in root.iter(SVG + "g") if "undeclared" in (g.get("class") or "")]
    assert undeclared == ["loop"]


# -- sub-workflow steps drawn as boxes ------------------------------------------------------


def _leaf(name: str, *steps: str) -> Workflow:
    wf = Workflow(name)
    previous = START_EVENT
    for i, step in enumerate(steps):
        produced = STOP_EVENT if i == len(steps) - 1 else f"{name}.{step}"
        wf.add_step(step, [previous], lambda e, c: None, emits=[produced])
        previous = produced
    return wf


def _parent(add) -> Workflow:
    wf = Workflow("parent")
    wf.add_step("prepare", [START_EVENT], lambda e, c: None, emits=["Ready"])
    add(wf)
    wf.add_step("finish", ["Done"], lambda e, c: None, emits=[STOP_EVENT])
    return wf


def _placed(node, x=0.0, y=0.0, out=None):
    """Every ``g`` of a drawing tree with its absolute origin (translates summed) and the
    size of its own ``rect``, depth first: ``(g, x, y, w, h, ancestors)``."""
    out = [] if out is None else out

    def walk(n, x, y, ancestors):
        if not isinstance(n, list):
            return
        tag, attrs, *kids = n
        m = re.fullmatch(r"translate\(([-\d.]+),([-\d.]+)\)", str(attrs.get("transform", "")))
        if m:
            x, y = x + float(m[1]), y + float(m[2])
        if tag == "g":
            rect = next((k for k in kids if isinstance(k, list) and k[0] == "rect"), None)
            w = float(rect[1]["width"]) if rect else 0.0
            h = float(rect[1]["height"]) if rect else 0.0
            out.append((n, x, y, w, h, ancestors))
            ancestors = [*ancestors, n]
        for k in kids:
            walk(k, x, y, ancestors)

    walk(node, x, y, [])
    return out


def _texts(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    tag, _, *kids = node
    return [t for k in kids for t in _texts(k)] if tag != "title" else []


def _box(tree, step: str):
    [hit] = [
        p for p in _placed(tree) if p[0][1].get("data-step") == step and "box" in p[0][1]["class"].split()
    ]
    return hit


def _inside(outer, inner) -> bool:
    _, ox, oy, ow, oh, _ = outer
    _, ix, iy, iw, ih, _ = inner
    return ox <= ix and oy <= iy and ix + iw <= ox + ow + 0.5 and iy + ih <= oy + oh + 0.5


def test_a_subworkflow_step_is_a_box_holding_the_childs_graph() -> None:
    child = _leaf("review", "read", "judge")
    wf = _parent(lambda w: w.add_subworkflow_step("check", ["Ready"], child,
                                                   output=lambda r, e: {"type": "Done"}))
    tree = graph_tree(describe(wf))
    box = _box(tree, "check")
    g, *_ = box
    assert g[1]["class"].split()[:4] == ["node", "step", "undeclared", "box"]
    assert "check" in _texts(g)  # the box's label
    inner = [p for p in _placed(g) if p[0] is not g and p[0][1].get("class", "").split()[:1] == ["node"]]
    assert [p[0][1]["data-step"] for p in inner if "data-step" in p[0][1]] == ["read", "judge"]
    assert {p[0][1].get("data-event") for p in inner} >= {START_EVENT, STOP_EVENT, "review.read"}
    # the child's nodes sit inside the box (absolute positions), each marked with its path
    absolute = {id(p[0]): p for p in _placed(tree)}
    for p in inner:
        assert _inside(box, absolute[id(p[0])]), p[0][1]
        assert json.loads(p[0][1]["data-path"]) == ["check"]
    # the child's edges are drawn in the box too, and the parent's edges reach the box
    sub_edges = [e for e in _placed(g) if e[0][1].get("class") == "subgraph"]
    assert len(sub_edges) == 1
    assert sub_edges[0][0][1]["data-workflow"] == "review"
    paths = [k for k in _walk(sub_edges[0][0]) if k[0] == "path"]
    assert sum("accepts" in k[1]["class"] for k in paths) == 2
    # the parent's own nodes are outside the box and do not overlap it
    outer = [p for p in _placed(tree) if p[0][1].get("data-step") in ("prepare", "finish")]
    for p in outer:
        assert not _inside(box, p)
        assert "data-path" not in p[0][1]
    # the box is wide and tall enough for the child's drawing, and the svg for the box
    assert box[4] > 60
    assert box[3] >= max(p[1] + p[3] for p in inner) - box[1]
    assert float(tree[1]["width"]) >= box[1] + box[3]
    assert float(tree[1]["height"]) >= box[2] + box[4]
    svg = parse_svg(to_markup(tree))
    assert "runs subworkflow of review" in svg.find(SVG + "desc").text


def _walk(node):
    if isinstance(node, list):
        yield node
        for k in node[2:]:
            yield from _walk(k)


def test_a_map_step_box_says_map() -> None:
    child = _leaf("fetch_one", "get")
    wf = _parent(lambda w: w.add_map_step("pages", ["Ready"], child, items=lambda e: [1]))
    tree = graph_tree(describe(wf))
    g = _box(tree, "pages")[0]
    assert "map" in g[1]["class"].split()
    assert "pages \u00b7 map" in _texts(g)
    assert "get" in [n[1].get("data-step") for n in _walk(g)]


def test_a_parallel_step_draws_its_children_side_by_side() -> None:
    a, b = _leaf("left_wf", "alpha"), _leaf("right_wf", "beta", "gamma")
    wf = _parent(lambda w: w.add_parallel_subworkflows("both", ["Ready"], [a, b]))
    tree = graph_tree(describe(wf))
    box = _box(tree, "both")
    assert "both \u00b7 parallel" in _texts(box[0])
    blocks = [p for p in _placed(tree) if p[0][1].get("class") == "subgraph"]
    assert [p[0][1]["data-workflow"] for p in blocks] == ["left_wf", "right_wf"]
    steps = {p[0][1]["data-step"]: p for p in _placed(tree) if p[0][1].get("data-path")
             and "data-step" in p[0][1]}
    assert set(steps) == {"alpha", "beta", "gamma"}
    for p in steps.values():
        assert _inside(box, p)
    # side by side: everything of the left child ends before the right child's start node
    right_start = next(p for p in _placed(blocks[1][0]) if p[0][1].get("data-event") == START_EVENT)
    right_x = blocks[1][1] + right_start[1]
    assert steps["alpha"][1] + steps["alpha"][3] < right_x
    assert abs(blocks[0][2] - blocks[1][2]) < 0.01  # same top


def test_a_workflow_nested_in_itself_is_drawn_once_then_by_name() -> None:
    wf = Workflow("loop_wf")
    wf.add_step("go", [START_EVENT], lambda e, c: None, emits=["Again"])
    wf.add_subworkflow_step("again", ["Again"], wf)
    desc = describe(wf)
    assert desc["steps"][1]["sub"]["children"] == [{"name": "loop_wf", "steps": [], "ref": True}]
    assert check_description(json.dumps(desc)) == desc
    tree = graph_tree(desc)
    [ref] = [n for n in _walk(tree) if n[1].get("class") == "subgraph ref"]
    assert "\u21bb loop_wf" in _texts(ref)
    assert [n[1]["data-step"] for n in _walk(tree) if n[1].get("data-step")] == ["go", "again"]
    # mutual nesting: a -> b -> a stops at the second a
    a, b = Workflow("a"), Workflow("b")
    a.add_subworkflow_step("to_b", [START_EVENT], b)
    b.add_subworkflow_step("to_a", [START_EVENT], a)
    d = describe(a)
    assert d["steps"][0]["sub"]["children"][0]["steps"][0]["sub"]["children"] == [
        {"name": "a", "steps": [], "ref": True}]
    # a deep chain is cut at MAX_DEPTH, and a page cannot send a deeper one
    chain = [_leaf("w0", "s")]
    for i in range(1, 20):
        w = Workflow(f"w{i}")
        w.add_subworkflow_step(f"s{i}", [START_EVENT], chain[-1])
        chain.append(w)
    deep, depth = describe(chain[-1]), 0
    while deep["steps"] and deep["steps"][0].get("sub"):
        deep, depth = deep["steps"][0]["sub"]["children"][0], depth + 1
    assert deep.get("ref") is True
    assert depth == MAX_DEPTH
    nested = {"name": "x", "steps": []}
    for _ in range(MAX_DEPTH + 1):
        nested = {"name": "x", "steps": [{"name": "s", "accepts": [START_EVENT], "emits": None,
                                          "sub": {"kind": "subworkflow", "children": [nested]}}]}
    with pytest.raises(ValueError, match="nest at most"):
        check_description(nested)


def test_a_page_cannot_send_a_bad_or_huge_nested_description() -> None:
    step = {"name": "s", "accepts": [START_EVENT], "emits": None}
    for sub in ({"kind": "<b>", "children": [{"name": "c", "steps": []}]}, {"kind": "map", "children": []},
                {"kind": "map", "children": "x"}, "map", {"kind": "map", "children": [7]}):
        with pytest.raises(ValueError, match=r"'sub'|steps'"):
            check_description({"name": "p", "steps": [{**step, "sub": sub}]})
    # the step limit counts nested steps too: a wide fan of children cannot blow it up
    wide = {"name": "c", "steps": [step] * 300}
    fan = {"kind": "parallel", "children": [wide] * 10}
    with pytest.raises(ValueError, match="at most"):
        check_description({"name": "p", "steps": [{**step, "sub": fan}]})
    # a diamond that doubles at each level is described within the step budget
    w = _leaf("base", *[f"s{i}" for i in range(5)])
    for i in range(12):
        top = Workflow(f"d{i}")
        top.add_parallel_subworkflows("fan", [START_EVENT], [w, w])
        w = top
    count = 0
    stack = [describe(w)]
    while stack:
        d = stack.pop()
        count += len(d["steps"])
        stack.extend(c for s in d["steps"] if s.get("sub") for c in s["sub"]["children"])
    assert count <= 2000
    check_description(describe(w))


def test_hostile_names_in_nested_workflows_stay_text() -> None:
    child = hostile_workflow()
    wf = Workflow('<svg onload="x()">')
    wf.add_parallel_subworkflows('<script>alert(1)</script>', [START_EVENT], [child, child])
    text = to_markup(graph_tree(describe(wf)))
    root = parse_svg(text)
    assert "<script" not in text
    assert "<img" not in text
    assert "<svg onload" not in text
    boxes = [g for g in root.iter(SVG + "g") if "box" in (g.get("class") or "").split()]
    assert [g.get("data-step") for g in boxes] == ["<script>alert(1)</script>"]
    assert boxes[0].find(SVG + "text").text == "<script>alert(1)</script> \u00b7 parallel"
    nested = [g.get("data-step") for g in root.iter(SVG + "g") if g.get("data-path")
              and g.get("data-step") is not None]
    assert nested == [clean(s.name) for s in child.steps] * 2
    captions = [t.text for t in root.iter(SVG + "text") if t.get("class") == "caption"]
    assert captions == [clean(clip(child.name, 28))] * 2
    assert all(json.loads(g.get("data-path")) == ["<script>alert(1)</script>"]
               for g in root.iter(SVG + "g") if g.get("data-path"))


def test_two_drawings_do_not_share_marker_ids() -> None:
    wf = simple_workflow()
    ids = [m.get("id") for svg in (wf.to_svg(), wf.to_svg()) for m in parse_svg(svg).iter(SVG + "marker")]
    assert len(ids) == len(set(ids)) == 4


def test_a_notebook_shows_the_graph_as_html_and_svg() -> None:
    bundle = simple_workflow()._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/svg+xml"}
    parse_svg(bundle["image/svg+xml"])
    html = ET.fromstring(bundle["text/html"])
    assert html.tag == "div"
    assert html.find(SVG + "svg") is not None


def test_descriptions_from_a_page_are_checked() -> None:
    good = describe(simple_workflow())
    assert check_description(json.dumps(good)) == good
    for bad in (
        [],
        {"name": 1, "steps": []},
        {"name": "x", "steps": [{"name": "s", "accepts": "A", "emits": None}]},
        {"name": "x", "steps": [{"name": "s", "accepts": [1], "emits": None}]},
        {"name": "x", "steps": [{"accepts": ["A"]}]},
        {"name": "x", "steps": [{"name": "s", "accepts": ["A"]}] * 5000},
        {"name": "x", "steps": [{"name": "s", "accepts": ["A"] * 1000, "emits": None}]},
    ):
        with pytest.raises(ValueError, match=r"description|step"):
            check_description(bad)
    long = check_description(
        {"name": "n" * 50_000, "steps": [{"name": "s" * 50_000, "accepts": ["A"], "emits": []}]}
    )
    assert len(long["name"]) == len(long["steps"][0]["name"]) == 10_000


def test_the_tree_refuses_what_only_a_bug_could_make() -> None:
    with pytest.raises(ValueError, match="bad attribute"):
        to_markup(el("rect", {"onclick": "x"}))
    with pytest.raises(ValueError, match="bad tag"):
        to_markup(el("script x", {}))
    assert (
        to_markup(el("text", {"data-x": 'a"<&\n'}, "<&>"))
        == '<text data-x="a&quot;&lt;&amp;&#10;">&lt;&amp;&gt;</text>'
    )
    assert to_markup(el("div", {})) == "<div></div>"  # never self-closing in HTML


# -- Mermaid -------------------------------------------------------------------------------

NODE = re.compile(r'^  ([es]\d+)(\(\[|\[)"([^"\n]*)"(\]\)|\])$')
EDGE = re.compile(r"^  ([es]\d+) --> ([es]\d+)$")


def mermaid_unescape(label: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)


@pytest.mark.parametrize("make", [simple_workflow, hostile_workflow])
def test_mermaid_labels_are_quoted_and_escaped(make) -> None:
    wf = make()
    text = wf.to_mermaid()
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    labels: dict[str, str] = {}
    edges = 0
    for line in lines[1:]:
        if line.startswith("  %%") or line.startswith("  classDef") or line.startswith("  class "):
            assert "\n" not in line
            continue
        if node := NODE.match(line):
            bare = re.sub(r"#\d+;", "", node.group(3))
            assert not set(bare) & set('"<>`[]{}|;#\\&')  # nothing that could end or mark up a label
            labels[node.group(1)] = mermaid_unescape(node.group(3))
        elif EDGE.match(line):
            edges += 1
        else:
            assert "-. " in line, line
            assert "respond_to_input" in line, line
    steps = [v for k, v in labels.items() if k.startswith("s")]
    events = {v for k, v in labels.items() if k.startswith("e")}
    assert steps == [s.name for s in wf.steps]
    assert events == {short_type(t) for t in expected_event_types(wf)}
    assert edges == sum(len(s.accepts) + len(s.emits or ()) for s in wf.steps)


# -- DOT -----------------------------------------------------------------------------------


def dot_unescape(quoted: str) -> str:
    assert quoted.startswith('"')
    assert quoted.endswith('"')
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), quoted[1:-1])


def expected_dot(name: str) -> str:
    return "".join("\n" if ch in "\r\n" else " " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in name)


@pytest.mark.parametrize("make", [simple_workflow, hostile_workflow])
def test_dot_parses_with_a_real_parser(make) -> None:
    wf = make()
    [graph] = pydot.graph_from_dot_data(wf.to_dot())
    assert dot_unescape(graph.get_name()) == expected_dot(wf.name)
    labels = {n.get_name(): dot_unescape(n.get("label")) for n in graph.get_nodes() if n.get("label")}
    steps = [labels[f"s{i}"] for i in range(len(wf.steps))]
    assert steps == [expected_dot(s.name) for s in wf.steps]
    events = {v for k, v in labels.items() if k.startswith("e")}
    assert events == {expected_dot(short_type(t)) for t in expected_event_types(wf)}
    human = 1 if make is simple_workflow else 0
    assert len(graph.get_edges()) == sum(len(s.accepts) + len(s.emits or ()) for s in wf.steps) + human


def test_mermaid_and_dot_of_the_same_description_agree() -> None:
    desc = describe(simple_workflow())
    assert to_mermaid(desc).count(" --> ") == to_dot(desc).count(" -> ") - 1  # DOT adds the human link


# -- timelines -----------------------------------------------------------------------------


async def traced_items(wf: Workflow) -> list[dict]:
    items: list[dict] = []
    with contextlib.suppress(Exception):
        await wf.run_streaming({}, items.append, spans=True)
    return items


def fan_out() -> Workflow:
    wf = Workflow("fan")
    wf.add_step("split", [START_EVENT], lambda e, c: [{"type": "Work"} for _ in range(3)], emits=["Work"])

    async def work(event, ctx):
        await asyncio.sleep(0.002)
        return {"type": "Done"}

    def join(event, ctx):
        n = (ctx.get("n") or 0) + 1
        ctx.set("n", n)
        return {"type": STOP_EVENT, "result": n} if n == 3 else None

    wf.add_step("work", ["Work"], work, emits=["Done"])
    wf.add_step("join", ["Done"], join, emits=[STOP_EVENT])
    return wf


async def test_a_timeline_has_a_span_per_invocation_and_a_summary() -> None:
    wf = fan_out()
    timeline = Timeline(describe(wf))
    for item in await traced_items(wf):
        timeline.add(item)
    assert [(s.step, s.outcome) for s in timeline.spans] == [("split", "completed")] + [
        ("work", "completed")
    ] * 3 + [("join", "completed")] * 3
    running = parse_svg(to_markup(timeline.tree(600)))
    assert running.get("data-state") == "running"
    timeline.end("completed")
    root = parse_svg(to_markup(timeline.tree(600)))
    assert root.get("data-state") == "finished"
    assert [t.get("data-lane") for t in root.iter(SVG + "text") if t.get("data-lane")] == [
        "split",
        "work",
        "join",
    ]
    rects = [r for r in root.iter(SVG + "rect") if (r.get("class") or "").startswith("span ")]
    assert len(rects) == 7
    # the three concurrent invocations of "work" are drawn in rows of their own
    assert len({r.get("y") for r in rects if r.get("data-step") == "work"}) == 3
    [summary] = [t for t in root.iter(SVG + "text") if (t.get("class") or "").startswith("summary")]
    assert re.match(
        r"completed in [\d.]+ m?s · 8 events · 7 step runs · slowest: work", "".join(summary.itertext())
    )
    assert timeline.summary()["slowest"]["step"] == "work"


async def test_a_failed_step_is_drawn_red_and_the_summary_says_so() -> None:
    wf = Workflow("broken")

    async def explode(event, ctx):
        await asyncio.sleep(0.001)
        raise RuntimeError("<b>boom</b>")

    wf.add_step("explode", [START_EVENT], explode)
    timeline = Timeline(describe(wf))
    for item in await traced_items(wf):
        timeline.add(item)
    timeline.end("failed")
    root = parse_svg(to_markup(timeline.tree()))
    [span] = [r for r in root.iter(SVG + "rect") if (r.get("class") or "").startswith("span ")]
    assert span.get("class") == "span failed"
    assert span.get("fill") == "#b42318"
    assert "<b>boom</b>" in span.find(SVG + "title").text
    # an error mark on the step's lane, and the legend names it
    assert [c.get("class") for c in root.iter() if "error" in (c.get("class") or "")] == [
        "dot error",
        "key error",
    ]
    assert timeline.summary_text().startswith("failed after")


def test_retries_nested_runs_and_input_requests_slot_in() -> None:
    clock = iter(range(100)).__next__
    timeline = Timeline(
        {"name": "w", "steps": [{"name": "outer", "accepts": [START_EVENT], "emits": None}]},
        clock=lambda: 0.0,
    )
    feed = [
        {"event_type": STEP_STARTED, "step": "outer", "span": 1, "handling": START_EVENT, "at": 0.0},
        {
            "event_type": STEP_STARTED,
            "step": "inner",
            "span": 1,
            "path": ["outer"],
            "handling": START_EVENT,
            "at": 0.1,
        },
        {
            "event_type": STEP_RETRYING,
            "step": "inner",
            "path": ["outer"],
            "attempt": 1,
            "error": "flaky",
            "at": 0.2,
        },
        {
            "event_type": STEP_STARTED,
            "step": "inner",
            "span": 2,
            "path": ["outer"],
            "handling": START_EVENT,
            "at": 0.3,
        },
        {
            "event_type": "InputRequested",
            "request_id": "r1",
            "prompt": "ok?",
            "step": "inner",
            "path": ["outer"],
            "at": 0.4,
        },
        {
            "event_type": "blazen::InputAnswered",
            "request_id": "r1",
            "step": "inner",
            "path": ["outer"],
            "at": 0.5,
        },
        {
            "event_type": STEP_FINISHED,
            "step": "inner",
            "span": 2,
            "path": ["outer"],
            "outcome": "completed",
            "at": 0.6,
        },
        {"event_type": STEP_FINISHED, "step": "outer", "span": 1, "outcome": "completed", "at": 0.7},
    ]
    del clock
    for item in feed:
        timeline.add(item)
    timeline.lanes.append(("later",))
    assert timeline.lanes[:2] == [("outer",), ("outer", "inner")]
    assert [(s.key, s.outcome) for s in timeline.spans] == [
        (("outer",), "completed"),
        (("outer", "inner"), "retried"),
        (("outer", "inner"), "completed"),
    ]
    assert [m.kind for m in timeline.marks] == ["retry", "input", "answer"]
    assert timeline.requests == {}
    summary = timeline.summary()
    assert (summary["retried"], summary["steps"]) == (1, 3)
    root = parse_svg(to_markup(timeline.tree()))
    assert "outer \u203a inner" in [t.get("data-lane") for t in root.iter(SVG + "text")]


def test_hostile_items_are_bounded_and_stay_text() -> None:
    timeline = Timeline()
    junk = [
        {"event_type": 5},
        {},
        {"event_type": STEP_STARTED, "step": 7, "span": 1},
        {"event_type": STEP_STARTED, "step": "<script>x</script>" * 100, "span": [1], "at": float("nan")},
        {"event_type": STEP_FINISHED, "step": "<script>x</script>" * 100, "span": [1], "outcome": "<evil>"},
        {"event_type": STEP_STARTED, "step": "s", "span": {"a": 1}, "at": True},
        {"event_type": STEP_STARTED, "step": "t", "span": 2, "at": "yesterday"},
        {"event_type": STEP_STARTED, "step": "u", "span": 3, "at": -1e300},
        {"event_type": STEP_STARTED, "step": "v", "span": 4, "at": math.inf},
        {"event_type": "InputRequested", "request_id": ["x"], "prompt": {"deep": [1] * 10_000}},
        {"event_type": "Error", "error": "\x00" * 10_000, "step": None},
        {"event_type": "x" * 100_000, "type": "x" * 100_000},
    ]
    for item in junk:
        timeline.add(item)
    text = to_markup(timeline.tree())
    root = parse_svg(text)
    assert "<script" not in text
    assert len(text) < 60_000
    assert max(len(t.text or "") for t in root.iter()) <= 520, max(
        (t.text or "" for t in root.iter()), key=len
    )
    assert [s.outcome for s in timeline.spans][:1] == ["completed"]  # the unknown outcome is not taken


def test_a_flood_of_spans_is_bounded() -> None:
    timeline = Timeline(clock=lambda: 0.0)
    for i in range(MAX_SPANS + 500):
        timeline.add({"event_type": STEP_STARTED, "step": f"s{i % 3}", "span": i, "at": i * 1e-4})
        timeline.add(
            {
                "event_type": STEP_FINISHED,
                "step": f"s{i % 3}",
                "span": i,
                "outcome": "completed",
                "at": i * 1e-4 + 5e-5,
            }
        )
    assert len(timeline.spans) == MAX_SPANS
    assert timeline.dropped == 500
    timeline.end("completed")
    root = parse_svg(to_markup(timeline.tree(800)))
    rects = [r for r in root.iter(SVG + "rect") if "merged" in (r.get("class") or "")]
    assert 0 < len(rects) <= 3 * 800
    assert "500 items not drawn" in "".join(root.findall(SVG + "text")[-1].itertext())


# -- snapshot summaries --------------------------------------------------------------------


async def test_a_snapshot_summary_names_what_it_holds() -> None:
    wf = Workflow("approve")

    async def draft(event, ctx):
        ctx.set("refund", {"amount": 30, "who": "<b>Ada</b>"})
        ctx.set_bytes("receipt", b"\x00" * 2000)
        ctx.set("ledger", 2**64)  # tagged {"$int": ...} in the snapshot: still an int
        return {"type": INPUT_REQUEST_EVENT, "prompt": "Refund 30?"}

    wf.add_step("draft", [START_EVENT], draft)
    wf.add_step("decide", [INPUT_RESPONSE_EVENT], lambda e, c: {"type": STOP_EVENT, "result": 1})
    handler = await wf.run_with_handler({})
    await asyncio.sleep(0.01)
    snapshot = await handler.snapshot({"why": "test"})
    handler.abort()
    assert type(snapshot) is Snapshot
    assert isinstance(snapshot, dict)
    assert json.loads(json.dumps(snapshot)) == snapshot
    lines = snapshot_lines(snapshot)
    assert lines[0].startswith("snapshot of 'approve', run ")
    assert "state: 3 keys" in lines[1]
    assert any(line.startswith("  refund: dict,") for line in lines)
    assert any(line.startswith("  ledger: int,") for line in lines)
    assert any(line.startswith("  receipt: bytes, 2.7 kB") for line in lines)
    assert "open input requests: 1" in lines
    assert any("from draft: 'Refund 30?'" in line for line in lines)
    assert "metadata keys: why" in lines
    html = snapshot._repr_html_()
    root = ET.fromstring(html)
    assert root.get("class") == "blazen-snapshot"
    assert "<b>Ada" not in html  # values are not shown, names are text
    assert snapshot_lines(json.dumps(snapshot)) == lines


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "not json",
        "[" * 10_000,
        {"format": "other"},
        {"format": "blazen_py/snapshot", "version": 99},
        {
            "format": "blazen_py/snapshot",
            "version": 1,
            "workflow": "w",
            "run_id": "r",
            "state": [],
            "queue": [],
        },
        {
            "format": "blazen_py/snapshot",
            "version": 1,
            "workflow": "<script>",
            "run_id": "r",
            "state": {},
            "queue": [{"no": "type"}],
        },
    ],
)
def test_an_invalid_snapshot_is_summarized_as_invalid(bad) -> None:
    [line] = snapshot_lines(bad)
    assert line.startswith("not a valid blazen_py snapshot: ")
    root = ET.fromstring(to_markup(snapshot_tree(bad)))
    assert root.find("p").text.startswith("Not a valid blazen_py snapshot")


def test_an_end_that_arrives_after_the_run_ended_still_closes_its_span() -> None:
    # A page's stream can lag: the cell ends first, the last span items come after.
    timeline = Timeline(clock=lambda: 1.0)
    timeline.add({"event_type": STEP_STARTED, "step": "a", "span": 1, "at": 0.0})
    timeline.add({"event_type": STEP_STARTED, "step": "b", "span": 2, "at": 0.1})
    timeline.end("completed")
    root = parse_svg(to_markup(timeline.tree()))
    shown = {r.get("data-step"): r.get("class") for r in root.iter(SVG + "rect") if r.get("data-step")}
    assert shown == {"a": "span cancelled", "b": "span cancelled"}  # still open when the run ended
    timeline.add({"event_type": STEP_FINISHED, "step": "a", "span": 1, "outcome": "completed", "at": 1.5})
    root = parse_svg(to_markup(timeline.tree()))
    shown = {r.get("data-step"): r.get("class") for r in root.iter(SVG + "rect") if r.get("data-step")}
    assert shown == {"a": "span completed", "b": "span cancelled"}
    assert timeline.ended_at == 1.5  # the axis grew to hold it


async def test_a_user_field_named_event_type_does_not_confuse_the_timeline() -> None:
    wf = Workflow("sneaky")
    wf.add_step(
        "s", [START_EVENT], lambda e, c: {"type": "Note", "event_type": STEP_STARTED, "step": "ghost"}
    )
    wf.add_step("t", ["Note"], lambda e, c: {"type": STOP_EVENT, "result": 1})
    timeline = Timeline(describe(wf))
    for item in await traced_items(wf):
        timeline.add(item)
    assert [s.step for s in timeline.spans] == ["s", "t"]
    assert ("ghost",) not in timeline.lanes


async def test_a_snapshot_is_a_state_value_like_any_dict() -> None:
    wf = Workflow("keep")
    wf.add_step("a", [START_EVENT], lambda e, c: {"type": INPUT_REQUEST_EVENT, "prompt": "?"})
    handler = await wf.run_with_handler({})
    await asyncio.sleep(0.01)
    snapshot = await handler.snapshot()
    handler.abort()

    def keep(event, ctx):
        ctx.set("snap", event["snap"])
        kept = ctx.get("snap")
        return {"type": STOP_EVENT, "result": [type(kept).__name__, kept["workflow"]]}

    other = Workflow("other")
    other.add_step("keep", [START_EVENT], keep)
    assert (await other.run({"snap": snapshot})).data == ["dict", "keep"]
