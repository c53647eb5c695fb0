"""The playground (dist/index.html) clicked through in headless Chromium.

One page is opened once for the module and booted once; the tests then run every example
cell in order (the summarizer against the local OpenAI-compatible test server, approval
with its buttons, fan-out, snapshot to IndexedDB then reload then resume), add cells of
their own (a script-injection payload, failing runs), and check what the page requested
and logged over the whole visit. Screenshots of the main views go to the artifacts folder.
No assertion depends on timing.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from blazen_build.snapshot import SNAPSHOT_MANIFEST

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from llm_server import ARTICLE, LLMTestServer

BOOT_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 60_000
FAKE_KEY = "sk-playground-0123456789abcdef0123456789abcdef"
PAYLOAD = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass
class Visit:
    """The page, and everything it requested and logged."""

    page: Any
    shots: Path
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def wait_ready(self) -> None:
        self.page.wait_for_function(
            "() => ['ready', 'error'].includes(document.body.dataset.state)", timeout=BOOT_TIMEOUT_MS
        )
        assert self.page.evaluate("document.body.dataset.state") == "ready", self.page.inner_text("#status")

    def cell(self, cell_id: str) -> Any:
        return self.page.locator(f"#cell-{cell_id}")

    def wait_cell(self, cell_id: str) -> str:
        """Wait for a cell's run to end; its status ('done' or 'error')."""
        self.page.wait_for_function(
            "(id) => document.getElementById(id).dataset.status !== 'running'",
            arg=f"cell-{cell_id}",
            timeout=RUN_TIMEOUT_MS,
        )
        return str(self.cell(cell_id).get_attribute("data-status"))

    def run_cell(self, cell_id: str) -> str:
        self.cell(cell_id).locator("button.run").click()
        return self.wait_cell(cell_id)

    def output(self, cell_id: str) -> str:
        return str(self.cell(cell_id).locator("pre.output").text_content())

    def items(self, cell_id: str) -> list[str]:
        """Event types of the cell's timeline items, in order."""
        return [str(t) for t in self.cell(cell_id).locator("ol.items .type").all_text_contents()]

    def wait_drawn(self, cell_id: str) -> None:
        """Wait for the timeline's drawing of the ended run: the cell's status changes at
        once, the drawing follows at the next animation frame."""
        self.page.wait_for_function(
            """(id) => {
              const summary = document.querySelector(`#${id} svg.timeline text.summary`);
              return summary !== null && !summary.textContent.startsWith('running for');
            }""",
            arg=f"cell-{cell_id}",
            timeout=RUN_TIMEOUT_MS,
        )

    def spans(self, cell_id: str) -> list[tuple[str, str]]:
        """(step, outcome) of every span drawn in the cell's timeline, once it is drawn."""
        self.wait_drawn(cell_id)
        return [
            (str(step), str(outcome))
            for step, outcome in self.cell(cell_id)
            .locator("svg.timeline rect.span")
            .evaluate_all("rs => rs.map(r => [r.dataset.step, r.getAttribute('class').split(' ').pop()])")
        ]

    def timeline_summary(self, cell_id: str) -> str:
        """The summary line of the cell's timeline, once it is drawn."""
        summary = self.cell(cell_id).locator("svg.timeline text.summary")
        summary.wait_for(timeout=RUN_TIMEOUT_MS)
        return str(summary.text_content())

    def graph_steps(self, cell_id: str) -> list[str]:
        return [
            str(s)
            for s in self.cell(cell_id)
            .locator("svg.graph g.node.step")
            .evaluate_all("nodes => nodes.map(n => n.dataset.step)")
        ]

    def shot(self, name: str, cell_id: str | None = None) -> None:
        target = self.cell(cell_id) if cell_id else self.page
        target.screenshot(path=str(self.shots / f"playground-{name}.png"))

    def add_cell(self, lang: str, code: str) -> str:
        """Add a cell with the + button, type `code` into it; returns its id."""
        self.page.click("#add-python" if lang == "python" else "#add-js")
        cell_id = str(self.page.locator("article.cell").last.get_attribute("id"))[len("cell-") :]
        self.cell(cell_id).locator("textarea").fill(code)
        return cell_id


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMTestServer]:
    with LLMTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def visit(browser: Any, base_url: str, artifacts: Path) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    v = Visit(page, artifacts)
    page.on("request", lambda request: v.requests.append(request.url))
    page.on("console", lambda msg: v.console.append(msg.text))
    page.on("console", lambda msg: msg.type == "error" and v.console_errors.append(msg.text))
    page.on("pageerror", lambda error: v.console_errors.append(f"uncaught: {error}"))
    page.on("dialog", lambda dialog: v.console_errors.append(f"dialog: {dialog.message}"))
    page.goto(base_url, wait_until="domcontentloaded")
    yield v
    context.close()


def test_boot_shows_progress_then_enables_every_cell(visit: Visit) -> None:
    page = visit.page
    assert page.locator("#progress").is_visible()
    visit.shot("boot")
    visit.wait_ready()
    assert page.inner_text("#status").startswith("Ready in")
    ids = page.locator("article.cell").evaluate_all("cells => cells.map(c => c.id)")
    assert ids == ["cell-summarizer", "cell-agent", "cell-approval", "cell-fanout", "cell-snapshot"]
    langs = page.locator("article.cell").evaluate_all("cells => cells.map(c => c.dataset.lang)")
    assert langs == ["python", "js", "js", "js", "python"]
    assert page.locator("article.cell button.run:disabled").count() == 0
    # Every cell's code area has a label.
    for cell_id in ("summarizer", "agent", "approval", "fanout", "snapshot"):
        label = page.locator(f"label[for='cell-{cell_id}-code']")
        assert label.count() == 1
        assert label.text_content()
    visit.shot("ready")


def test_summarizer_calls_the_configured_endpoint_with_the_key_from_env(
    visit: Visit, llm: LLMTestServer
) -> None:
    page = visit.page
    page.fill("#base-url", llm.base_url)
    page.fill("#model", "echo-model")
    page.fill("#api-key", FAKE_KEY)
    assert visit.run_cell("summarizer") == "done", visit.output("summarizer")
    output = visit.output("summarizer")
    assert f"Echo: {ARTICLE}" in output
    assert visit.graph_steps("summarizer") == ["fetch_text", "summarize"]
    assert visit.items("summarizer") == ["StartEvent", "SummarizeEvent", "StopEvent"]
    # a Python cell's run is traced like a JS cell's: a span per step
    assert visit.spans("summarizer") == [("fetch_text", "completed"), ("summarize", "completed")]
    chats = [r for r in llm.requests if r.method == "POST"]
    assert chats, "the model server got no request"
    assert chats[-1].json["model"] == "echo-model"
    assert chats[-1].headers.get("authorization") == f"Bearer {FAKE_KEY}"
    # The key went to the engine only: not on the page, not stored, not logged.
    assert FAKE_KEY not in page.inner_text("body")
    assert FAKE_KEY not in page.evaluate(
        "JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
    )
    assert not [line for line in visit.console if FAKE_KEY in line]
    visit.shot("summarizer", "summarizer")


def test_approval_waits_for_the_buttons(visit: Visit) -> None:
    page = visit.page
    cell = visit.cell("approval")
    cell.locator("button.run").click()
    ask = cell.locator(".ask")
    ask.wait_for(timeout=RUN_TIMEOUT_MS)
    assert ask.locator(".prompt").text_content() == "Refund 42 EUR to Ada Lovelace?"
    assert cell.get_attribute("data-status") == "running"  # the run waits for the answer
    assert visit.graph_steps("approval") == ["draft", "decide"]
    assert cell.locator("svg.graph g.edges path.edge.human").count() == 1
    visit.shot("approval-asking", "approval")
    ask.get_by_role("button", name="Approve").click()
    assert visit.wait_cell("approval") == "done"
    assert "Approved." in visit.output("approval")
    assert '"approved": true' in visit.output("approval")
    assert visit.items("approval")[-1] == "StopEvent"
    assert "InputRequested" in visit.items("approval")

    # Again, with the keyboard only: the first button has focus; Tab moves to Reject.
    cell.locator("button.run").click()
    ask.wait_for(timeout=RUN_TIMEOUT_MS)
    assert page.evaluate("document.activeElement.textContent") == "Approve"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert visit.wait_cell("approval") == "done"
    assert "Rejected." in visit.output("approval")
    assert '"approved": false' in visit.output("approval")


def test_fan_out_runs_every_branch_and_joins(visit: Visit) -> None:
    cell = visit.cell("fanout")
    cell.locator("textarea").press("Control+Enter")  # the keyboard shortcut runs the cell
    assert visit.wait_cell("fanout") == "done", visit.output("fanout")
    output = visit.output("fanout")
    assert "longest word: workflow" in output
    assert output.count('"word":') == 6
    items = visit.items("fanout")
    assert items.count("Measure") == 6
    assert items.count("Measured") == 6
    assert items[0] == "StartEvent"
    assert items[-1] == "StopEvent"
    assert visit.graph_steps("fanout") == ["split", "measure", "collect"]
    lanes = cell.locator("svg.timeline .lane-label").all_text_contents()
    assert lanes == ["split", "measure", "collect"]
    assert cell.locator("svg.timeline circle.dot").count() == len(items)
    assert cell.locator("svg.graph g.node.seen").count() == 3 + 4  # every step, every event type
    spans = visit.spans("fanout")
    assert spans == [("split", "completed")] + [("measure", "completed")] * 6 + [("collect", "completed")] * 6
    # the six measures ran side by side: they are drawn in rows of their own
    rows = cell.locator("svg.timeline rect.span[data-step=measure]").evaluate_all(
        "rs => rs.map(r => r.getAttribute('y'))"
    )
    assert len(set(rows)) > 1
    assert visit.timeline_summary("fanout").startswith("completed in ")
    assert "13 step runs" in visit.timeline_summary("fanout")
    assert cell.locator("svg.timeline g.legend").count() == 1
    visit.shot("fanout", "fanout")


NESTED_PY = """from blazen_py import START_EVENT, STOP_EVENT, Workflow

def leaf(name, step):
    w = Workflow(name)
    w.add_step(step, [START_EVENT], lambda e, ctx: {"type": STOP_EVENT, "result": step},
               emits=[STOP_EVENT])
    return w

review = Workflow("review")
review.add_step("read", [START_EVENT], lambda e, ctx: {"type": "Read"}, emits=["Read"])
review.add_step("judge", ["Read"], lambda e, ctx: {"type": STOP_EVENT, "result": "ok"},
                emits=[STOP_EVENT])
wf = Workflow("nested")
wf.add_step("prepare", [START_EVENT], lambda e, ctx: {"type": "Ready", "items": [1, 2]},
            emits=["Ready"])
wf.add_subworkflow_step("<b>check</b>", ["Ready"], review,
                        output=lambda r, e: {"type": "Checked", "items": e["items"]})
wf.add_map_step("each", ["Checked"], leaf("one_item", "measure"), items=lambda e: e["items"],
                output=lambda rs, e: {"type": "Measured"})
wf.add_parallel_subworkflows("both", ["Measured"], [leaf("left", "alpha"), leaf("right", "beta")],
                             output=lambda rs, e: {"type": STOP_EVENT, "result": [r.data for r in rs]})
graph(wf)
(await wf.run({})).data
"""

NESTED_JS = """const S = 'blazen::StartEvent', E = 'blazen::StopEvent';
const leaf = (name, step) => {
  const w = new Workflow(name);
  w.addStep(step, [S], () => ({ type: E, result: step }), { emits: [E] });
  return w;
};
const wf = new Workflow('js_nested');
wf.addStep('prepare', [S], () => ({ type: 'Ready', items: [1, 2] }), { emits: ['Ready'] });
wf.addMapStep('each', ['Ready'], leaf('js_item', 'measure'), {
  items: (e) => e.items, output: () => ({ type: 'Measured' }) });
wf.addParallelSubworkflows('both', ['Measured'], [leaf('js_left', 'alpha'), wf], {
  output: () => ({ type: E, result: 'done' }) });
return 'declared';
"""


def _nested_steps(cell: Any) -> list[tuple[str, str]]:
    """(data-path, data-step) of the steps drawn inside boxes of a cell's graph."""
    return [
        (str(p), str(s))
        for p, s in cell.locator("svg.graph g.node.step[data-path]").evaluate_all(
            "ns => ns.map(n => [n.dataset.path, n.dataset.step])"
        )
    ]


def _inside_boxes(cell: Any) -> bool:
    """Every nested node's screen box is inside its sub-workflow step's box."""
    return bool(
        cell.locator("svg.graph").evaluate(
            """svg => [...svg.querySelectorAll('g.node[data-path]')].every((n) => {
                 const box = n.parentElement.closest('g.node.box').querySelector(':scope > rect');
                 const a = box.getBoundingClientRect(), b = n.querySelector('rect').getBoundingClientRect();
                 return b.left >= a.left && b.top >= a.top && b.right <= a.right + 1 && b.bottom <= a.bottom + 1;
               })"""
        )
    )


def test_a_python_sub_workflow_step_is_drawn_as_a_box(visit: Visit) -> None:
    cell_id = visit.add_cell("python", NESTED_PY)
    assert visit.run_cell(cell_id) == "done", visit.output(cell_id)
    assert "['alpha', 'beta']" in visit.output(cell_id)
    cell = visit.cell(cell_id)
    assert visit.graph_steps(cell_id)[:2] == ["prepare", "<b>check</b>"]
    assert cell.locator("svg.graph b").count() == 0  # the step name stayed text
    labels = cell.locator("svg.graph g.node.box > text").all_text_contents()
    assert labels == ["<b>check</b>", "each \u00b7 map", "both \u00b7 parallel"]
    assert _nested_steps(cell) == [
        ('["<b>check</b>"]', "read"),
        ('["<b>check</b>"]', "judge"),
        ('["each"]', "measure"),
        ('["both"]', "alpha"),
        ('["both"]', "beta"),
    ], cell.locator("svg.graph").evaluate("s => s.outerHTML")[:6000]
    assert _inside_boxes(cell)
    # the children's stream items (their path) mark the children's nodes, not the parent's
    assert cell.locator("svg.graph g.node.step[data-path].seen").count() == 5
    visit.shot("nested-1280x900", cell_id)
    visit.page.emulate_media(color_scheme="dark")
    visit.shot("nested-1280x900-dark", cell_id)
    visit.page.emulate_media(color_scheme="light")


def test_a_js_sub_workflow_step_is_drawn_as_a_box(visit: Visit) -> None:
    cell_id = visit.add_cell("js", NESTED_JS)
    assert visit.run_cell(cell_id) == "done", visit.output(cell_id)
    cell = visit.cell(cell_id)
    labels = cell.locator("svg.graph g.node.box > text").all_text_contents()
    assert labels == ["each \u00b7 map", "both \u00b7 parallel"]
    assert _nested_steps(cell) == [('["each"]', "measure"), ('["both"]', "alpha")]
    # the workflow nested in itself is drawn by name only
    refs = cell.locator("svg.graph g.subgraph.ref text").all_text_contents()
    assert refs == ["\u21bb js_nested"]
    assert _inside_boxes(cell)
    visit.shot("nested-js-1280x900", cell_id)


def test_a_nested_graph_fits_a_phone(browser: Any, base_url: str, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(base_url, wait_until="domcontentloaded")
        phone = Visit(page, artifacts)
        phone.wait_ready()
        cell_id = phone.add_cell("python", NESTED_PY)
        assert phone.run_cell(cell_id) == "done", phone.output(cell_id)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        box = phone.cell(cell_id).locator(".graph-box").bounding_box()
        assert box is not None
        assert box["width"] <= 390
        # labels stay readable: the graph keeps its minimum width and scrolls in its box
        font = phone.cell(cell_id).locator("svg.graph g.node.step[data-path] text").first.bounding_box()
        assert font is not None
        assert font["height"] >= 9
        phone.cell(cell_id).scroll_into_view_if_needed()
        phone.cell(cell_id).screenshot(path=str(artifacts / "playground-nested-390x844.png"))
        page.screenshot(path=str(artifacts / "playground-nested-390x844-page.png"))
        assert errors == []
    finally:
        context.close()


def test_snapshot_to_indexeddb_reload_and_resume(visit: Visit) -> None:
    page = visit.page
    assert visit.run_cell("snapshot") == "done", visit.output("snapshot")
    saved = re.search(rf"Saved run ({UUID}) to IndexedDB", visit.output("snapshot"))
    assert saved, visit.output("snapshot")
    assert "reload the page" in visit.output("snapshot")
    assert visit.items("snapshot") == ["StartEvent", "Drafted", "InputRequestEvent", "InputRequested"]

    page.reload(wait_until="domcontentloaded")
    visit.wait_ready()
    cell = visit.cell("snapshot")
    cell.locator("button.run").click()
    ask = cell.locator(".ask")
    ask.wait_for(timeout=RUN_TIMEOUT_MS)
    assert ask.locator(".prompt").text_content() == "Publish 'Notes on Pyodide' (5 words)?"
    ask.get_by_role("button", name="Publish").click()
    assert visit.wait_cell("snapshot") == "done", visit.output("snapshot")
    assert f"Resumed run {saved.group(1)}: 'Notes on Pyodide' was published." in visit.output("snapshot")
    visit.shot("snapshot-resumed", "snapshot")

    # The resumed run deleted its snapshot: the next run starts afresh.
    assert visit.run_cell("snapshot") == "done"
    again = re.search(rf"Saved run ({UUID})", visit.output("snapshot"))
    assert again
    assert again.group(1) != saved.group(1)


def test_workflow_output_is_text_never_html(visit: Visit) -> None:
    page = visit.page
    js = visit.add_cell(
        "js",
        f"""
        const payload = {PAYLOAD!r};
        const wf = new Workflow('inject');
        wf.addStep(payload, ['blazen::StartEvent'], (event, ctx) => {{
          ctx.sendEvent({{ type: payload, html: payload }});
          return {{ type: 'blazen::StopEvent', result: {{ html: event.html }} }};
        }}, {{ emits: [payload, 'blazen::StopEvent'] }});
        const result = await wf.run({{ html: payload }});
        print(result.data.html);
        await ask(payload, [payload]);
        return result.data;
        """,
    )
    cell = visit.cell(js)
    cell.locator("button.run").click()
    cell.locator(".ask").wait_for(timeout=RUN_TIMEOUT_MS)
    assert cell.locator(".ask .prompt").text_content() == PAYLOAD
    cell.locator(".ask button").click()
    assert visit.wait_cell(js) == "done", visit.output(js)
    assert PAYLOAD in visit.output(js)
    assert PAYLOAD in cell.locator("ol.items").text_content()
    assert PAYLOAD in visit.graph_steps(js)

    py = visit.add_cell(
        "python",
        f"""
from blazen_py import START_EVENT, STOP_EVENT, Workflow
payload = {PAYLOAD!r}
wf = Workflow("inject")
wf.add_step(payload, [START_EVENT], lambda e, ctx: {{"type": STOP_EVENT, "result": e["html"]}})
result = await wf.run({{"html": payload}})
print(result.data)
result.data
""",
    )
    assert visit.run_cell(py) == "done", visit.output(py)
    assert visit.output(py).count(PAYLOAD) == 2  # printed, and the last line's value
    assert PAYLOAD in visit.graph_steps(py)  # drawn from the workflow of the cell's run
    assert visit.spans(py) == [(PAYLOAD, "completed")]
    lane = visit.cell(py).locator("svg.timeline .lane-label")
    assert lane.get_attribute("data-lane") == PAYLOAD
    assert lane.text_content() == PAYLOAD[:23] + "\u2026"  # clipped, as text
    visit.shot("injection", js)

    assert page.evaluate("window.__pwned") is None
    assert page.locator("#cells img, #cells script, #cells iframe").count() == 0


def test_failures_are_shown_in_the_cell(visit: Visit) -> None:
    js = visit.add_cell(
        "js",
        """
        const wf = new Workflow('broken');
        wf.addStep('explode', ['blazen::StartEvent'], () => { throw new Error('boom'); });
        await wf.run({});
        """,
    )
    assert visit.run_cell(js) == "error"
    assert "StepError" in visit.output(js)
    assert "boom" in visit.output(js)
    assert "step 'explode' failed handling" in visit.output(js)  # said once, not again below
    assert visit.items(js)[-1] == "Error"
    assert visit.spans(js) == [("explode", "failed")]
    failed = visit.cell(js).locator("svg.timeline rect.span.failed")
    assert failed.evaluate("r => getComputedStyle(r).fill") == "rgb(180, 35, 24)"  # red
    assert visit.timeline_summary(js).startswith("failed after ")
    visit.shot("failed-step", js)

    py = visit.add_cell("python", "x = 1\nraise ValueError('not a workflow')\n")
    assert visit.run_cell(py) == "error"
    assert "ValueError: not a workflow" in visit.output(py)

    syntax = visit.add_cell("js", "this is not javascript")
    assert visit.run_cell(syntax) == "error"
    assert "SyntaxError" in visit.output(syntax)
    # The page stays usable: an example still runs afterwards.
    assert visit.run_cell("fanout") == "done"


def test_nothing_is_requested_from_another_origin(visit: Visit, base_url: str, llm: LLMTestServer) -> None:
    origin = urlsplit(base_url)[:2]
    model_origin = urlsplit(llm.base_url)[:2]
    fetched = [url for url in visit.requests if not url.startswith(("data:", "blob:"))]
    foreign = [url for url in fetched if urlsplit(url)[:2] not in (origin, model_origin)]
    assert foreign == []
    assert [url for url in fetched if urlsplit(url)[:2] == model_origin], "the model server was not called"
    assert any(url.endswith(".wasm") for url in fetched)
    # blazen_py came from this origin: in the snapshot's container when the build made one
    # (the page then never fetches the wheel), else as the wheel.
    snapshot = SNAPSHOT_MANIFEST.is_file()
    assert any(("blazen-snapshot-" if snapshot else ".whl") in url for url in fetched)
    assert snapshot != any(url.endswith(".whl") for url in fetched)


def test_no_console_error(visit: Visit) -> None:
    assert visit.console_errors == []


def test_the_drawings_fit_a_phone(browser: Any, base_url: str, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(base_url, wait_until="domcontentloaded")
        phone = Visit(page, artifacts)
        phone.wait_ready()
        assert phone.run_cell("fanout") == "done"
        assert phone.timeline_summary("fanout").startswith("completed in ")
        # The page does not scroll sideways: the timeline is drawn for the cell's width,
        # and the graph, kept readable, scrolls inside its own box.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for selector in ("svg.timeline", ".graph-box"):
            box = phone.cell("fanout").locator(selector).bounding_box()
            assert box is not None
            assert box["width"] <= 390
        graph = phone.cell("fanout").locator("svg.graph").bounding_box()
        assert graph is not None
        assert graph["width"] > 390
        phone.cell("fanout").screenshot(path=str(artifacts / "playground-phone-fanout.png"))
        assert errors == []
    finally:
        context.close()
