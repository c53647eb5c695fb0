"""The JupyterLite site (dist/lab/, written by `python build.py lab`) in headless Chromium.

Each test opens one of the ready notebooks in JupyterLite's Notebook app, as a user would,
in a fresh browser context: it waits for the Pyodide kernel (our own runtime from
dist/pyodide/, blazen_py loaded from its lock on import), runs all cells from the Run
menu, and checks the text of every cell's output. Every request of the page and of the
kernel's worker is recorded: none may leave dist/'s origin, except those of the
summarizer to the local OpenAI-compatible test server (tests/python/llm_server.py), on its
own port of 127.0.0.1.

A kernel boots in ~10-20 s (Pyodide, with ipykernel, ipython and blazen_py loaded from the
lab's own lock, dist/lab/pyodide-lock.json), so the waits are generous; nothing here
asserts on timing (bench/lab_timing.py measures it).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blazen_build.paths import DIST_LAB

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from llm_server import ARTICLE, LLMTestServer

KERNEL_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 90_000
NOTEBOOKS = (
    "spec_examples.ipynb",
    "drawing.ipynb",
    "js_steps.ipynb",
    "snapshot_indexeddb.ipynb",
    "summarizer.ipynb",
)

KERNEL_READY_JS = """() =>
    document.querySelector('.jp-KernelStatus-success') !== null &&
    document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'"""
# Run All marks every cell [*] at once; it has settled when the first cell has a number and
# no cell is [*]. (A failing cell stops Run All: the cells after it go back to [ ], and the
# notebook's execution indicator then stays "busy", so it is no signal.)
RUN_SETTLED_JS = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map((p) => p.textContent);
    return prompts.length > 0 && /\\[\\d+\\]/.test(prompts[0]) && !prompts.some((p) => p.includes('*'));
}"""
PROMPTS_JS = "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map((p) => p.textContent)"
# textContent, not innerText: the Notebook app does not render cells outside the viewport.
OUTPUTS_JS = """() => [...document.querySelectorAll('.jp-CodeCell')].map((cell) =>
    [...cell.querySelectorAll('.jp-OutputArea-output')].map((o) => o.textContent).join(''))"""
ERRORS_JS = """() => [...document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"],' +
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map((o) => o.textContent)"""


@pytest.fixture(scope="module")
def lab_url(base_url: str) -> str:
    if not (DIST_LAB / "jupyter-lite.json").is_file():
        pytest.fail("dist/lab/ is not built: run `python build.py lab` (or `python build.py test`)")
    return base_url + "lab/"


class Lab:
    """One fresh browser context on the lab, with every request and page error recorded."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.base_url = base_url
        self.context = browser.new_context()
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("websocket", lambda ws: self.requests.append(ws.url))

    def open_notebook(self, name: str) -> None:
        """Open a notebook in the Notebook app and wait until its kernel is idle."""
        self.page.goto(f"{self.base_url}lab/notebooks/index.html?path={name}")
        self.page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=KERNEL_TIMEOUT_MS)
        self.page.wait_for_function(KERNEL_READY_JS, timeout=KERNEL_TIMEOUT_MS)

    def set_first_cell(self, source: str) -> None:
        """Replace the text of the first code cell, as a user editing it would."""
        self.page.locator(".jp-CodeCell .cm-content").first.click()
        self.page.keyboard.press("Control+a")
        self.page.keyboard.insert_text(source)
        self.page.keyboard.press("Escape")

    def assert_kernel_preloaded(self) -> None:
        """The kernel booted from the lab's own lock (dist/lab/pyodide-lock.json): its
        packages and blazen_py were loaded with Pyodide, from this site, before it was
        idle; piplite's index (pypi/all.json) was never asked, nor the runtime's own lock."""
        lab = self.base_url + "lab/"
        assert lab + "pyodide-lock.json" in self.requests, "the kernel did not use the lab's lock"
        assert self.base_url + "pyodide/pyodide-lock.json" not in self.requests
        assert not [url for url in self.requests if "/pypi/all.json" in url], "piplite resolved packages"
        kernel_pypi = "lab/extensions/@jupyterlite/pyodide-kernel-extension/static/pypi/"
        for path in ("pyodide/blazen_py-", "lab/pypi/ipython-", kernel_pypi + "piplite-"):
            assert any(url.startswith(self.base_url + path) for url in self.requests), path

    def start_run_all(self) -> None:
        """Run → Run All Cells, without waiting."""
        self.page.get_by_role("menuitem", name="Run", exact=True).click()
        self.page.locator('[data-command="runmenu:run-all"]').click()

    def run_all(self) -> list[str]:
        """Run → Run All Cells; wait for every cell to run; return each code cell's output text."""
        self.start_run_all()
        return self.settled()

    def settled(self) -> list[str]:
        """Wait for every cell to have run; return each code cell's output text."""
        self.page.wait_for_function(RUN_SETTLED_JS, timeout=RUN_TIMEOUT_MS)
        errors = self.page.evaluate(ERRORS_JS)
        assert not errors, "a cell failed or wrote to stderr:\n" + "\n".join(errors)
        prompts = self.page.evaluate(PROMPTS_JS)
        assert all(re.search(r"\[\d+\]", p) for p in prompts), f"not every cell ran: {prompts}"
        return list(self.page.evaluate(OUTPUTS_JS))

    def assert_only_origins(self, *origins: str) -> None:
        """No request left the allowed origins; the kernel's own fetches were seen too."""
        allowed = (self.base_url, *origins)
        elsewhere = sorted({url for url in self.requests if not url.startswith(allowed)})
        assert not elsewhere, f"requests left the origin: {elsewhere}"
        # proof that the worker's requests are recorded, and that all came from this site
        for path in ("pyodide/pyodide.asm.wasm", "lab/pypi/ipython-", "pyodide/blazen_py-"):
            assert any(url.startswith(self.base_url + path) for url in self.requests), path
        assert not self.problems, self.problems

    def close(self, artifacts: Path, name: str) -> None:
        self.page.screenshot(path=str(artifacts / f"lab-{name}.png"), full_page=True)
        self.context.close()


@pytest.fixture
def lab(browser: Any, lab_url: str, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Lab]:
    session = Lab(browser, lab_url.removesuffix("lab/"))
    yield session
    session.close(artifacts, re.sub(r"\W+", "-", request.node.name))


def outputs_text(outputs: list[str]) -> str:
    return "\n".join(outputs)


def test_lab_lists_the_notebooks(lab: Lab) -> None:
    lab.page.goto(lab.base_url + "lab/")  # redirects to the JupyterLab app
    listing = lab.page.locator(".jp-DirListing-content")
    for name in NOTEBOOKS:
        listing.get_by_text(name, exact=True).wait_for(timeout=KERNEL_TIMEOUT_MS)
    assert not lab.problems, lab.problems


def test_spec_examples_notebook(lab: Lab) -> None:
    lab.open_notebook("spec_examples.ipynb")
    outputs = lab.run_all()
    text = outputs_text(outputs)
    assert outputs[0].startswith("blazen_py 0.1.0 ready"), outputs[0]
    for expected in (
        "greeter: {'greeting': 'Hello, Ada'}",
        "store/read: {'user': 'Alice', 'count': 42, 'missing': None}",
        "same object: True\nlive count: 1",
        "binary: {'via_set': b'Hello', 'via_explicit': b'Hello'}",
        "run id is a UUID4: True workflow: kickoff",
        "side task got: extra work\nkickoff: main task done",
        "stored keys: ['session.__blazen_meta__', 'session.request_count', 'session.token', 'session.url']",
        "restored: https://db.local | conn recreated: True\nblazen-state: {'requests': 3}",
        "streamed: ['blazen::StartEvent', 'Progress', 'Progress', 'Progress', 'Progress', 'Progress', 'blazen::StopEvent']",
        "progress: {'done': True}",
        "asked: Approve the refund? {'amount': 30}\napprove: {'amount': 30, 'answer': 'yes'}",
        "paused: paused | state: {'n': 1} | queued: [{'type': 'Tick'}]",
        "resumed in place: {'ticks': 3}",
        "resumed from JSON: {'ticks': 3}",
        "branching: ['negative', 'positive']",
        "timeout: WorkflowTimeoutError",
    ):
        assert expected in text
    # every example shows its workflow's graph and the timeline of each of its runs (13
    # runs: the counter is paused twice, resumed in place once, from JSON once)
    assert lab.page.locator(".jp-OutputArea-output .blazen-graph svg.graph").count() == 11
    timelines = lab.page.locator(".jp-OutputArea-output .blazen-timeline svg.timeline")
    assert timelines.count() == 13
    states = timelines.evaluate_all("svgs => svgs.map(s => s.dataset.state)")
    assert states == ["finished"] * 13
    summaries = timelines.locator("text.summary").all_text_contents()
    assert summaries[0].startswith("completed in ")
    assert summaries[-1].startswith("failed after ")  # the timeout
    lab.assert_only_origins()


def test_js_steps_notebook(lab: Lab) -> None:
    lab.open_notebook("js_steps.ipynb")
    lab.assert_kernel_preloaded()  # before any cell ran: blazen_py is there already
    outputs = lab.run_all()
    assert outputs[0] == "JS ready: HELLO! | worker: DedicatedWorkerGlobalScope\n"
    # sha256("workflows in the browser"), computed by the worker's Web Crypto
    assert outputs[1] == (
        "js-steps: {'text': 'WORKFLOWS IN THE BROWSER!', 'words': 4, 'sha256': '0523c9f72d89eb1d'}\n"
    )
    assert outputs[2] == "js-values: {'best': 'alan', 'scores': [6, 5, 12]}\n"
    lab.assert_only_origins()


def test_snapshot_indexeddb_notebook(lab: Lab) -> None:
    lab.open_notebook("snapshot_indexeddb.ipynb")
    outputs = lab.run_all()
    assert outputs == [
        "store: blazen-notebooks\n",
        "waiting for: Approve the refund? {'amount': 120}\nsaved: True\n",
        "loaded metadata: {'reason': 'waiting for approval'}\n"
        "resumed result: {'amount': 120, 'approved': True, 'receipt_bytes': 12}\n"
        "deleted: True\n",
    ]
    lab.assert_only_origins()


@pytest.fixture
def llm() -> Iterator[LLMTestServer]:
    with LLMTestServer() as server:
        yield server


def test_summarizer_notebook_against_a_local_server(lab: Lab, llm: LLMTestServer) -> None:
    lab.open_notebook("summarizer.ipynb")
    lab.set_first_cell(
        f'BASE_URL = "{llm.base_url}"\nMODEL = "test-model"\nAPI_KEY_ENV = None\n'
        f'ARTICLE_URL = "{llm.url}/article"\nARTICLE = ""\n'
    )
    outputs = lab.run_all()
    assert outputs[1] == f"summarizer ready for {llm.base_url}\n"
    assert outputs[2].startswith(f"source: {llm.url}/article\nsummary: Echo: {ARTICLE[:40]}"), outputs[2]
    assert ("GET", "/article") in [(r.method, r.path) for r in llm.requests]
    [chat] = llm.chat_requests()
    assert chat.json["model"] == "test-model"
    assert chat.json["messages"][1] == {"role": "user", "content": ARTICLE}
    lab.assert_only_origins(llm.url + "/")


# The first live timeline of drawing.ipynb: its state, how many spans, its summary line.
TIMELINE_JS = """() => {
    const svg = document.querySelector('.jp-OutputArea-output .blazen-timeline svg.timeline');
    if (!svg) return null;
    const summary = svg.querySelector('text.summary');
    return [svg.dataset.state, Number(svg.dataset.spans), summary ? summary.textContent : ''];
}"""


def test_drawing_notebook_draws_the_graph_and_a_live_timeline(lab: Lab, artifacts: Path) -> None:
    lab.open_notebook("drawing.ipynb")
    lab.start_run_all()
    # Watch the first timeline while its run goes: it is updated in place (one output,
    # replaced through update_display_data), so several states show up one after another.
    seen: list[tuple[str, int, str]] = []
    for _ in range(1200):
        state = lab.page.evaluate(TIMELINE_JS)
        if state is not None and (not seen or tuple(state) != seen[-1]):
            seen.append(tuple(state))
        if state is not None and state[0] == "finished":
            break
        lab.page.wait_for_timeout(25)
    outputs = lab.settled()
    running = [s for s in seen if s[0] == "running"]
    assert len({spans for _, spans, _ in running}) > 1, seen  # more than one state while it ran
    assert seen[-1][0] == "finished", seen
    assert seen[-1][1] == 1 + 4 + 4  # split, four counts, four totals
    # which step was slowest is the machine's business (split sleeps 0.3 s, count up to 0.55 s)
    assert re.match(
        r"completed in [\d.]+ m?s · \d+ events · 9 step runs · slowest: (split|count|total) \(", seen[-1][2]
    ), seen[-1]
    # there is one output per timeline: the updates replaced it
    assert lab.page.locator(".jp-OutputArea-output .blazen-timeline").count() == 4

    text = outputs_text(outputs)
    assert "word-count: {'parts': 4, 'words': 15}" in text
    assert "failed: StepError in step parse" in text
    assert "approval: {'customer': 'Ada', 'amount': 30, 'answer': 'approved'}" in text
    assert "flowchart LR" in text

    graph = lab.page.locator(".jp-OutputArea-output .blazen-graph svg.graph").first
    steps = graph.locator("g.node.step").evaluate_all("nodes => nodes.map(n => n.dataset.step)")
    assert steps == ["split", "count", "total"]
    events = graph.locator("g.node.event").evaluate_all("nodes => nodes.map(n => n.dataset.event)")
    assert set(events) == {"blazen::StartEvent", "Part", "Counted", "blazen::StopEvent"}

    failed = lab.page.locator(".blazen-timeline svg.timeline").nth(1)
    assert failed.locator("rect.span.failed").count() == 1
    assert failed.locator("text.summary").text_content().startswith("failed after")
    approval = lab.page.locator(".blazen-timeline svg.timeline").nth(2)
    assert approval.get_attribute("data-state") == "finished"
    assert approval.locator(".dot.input").count() == 1
    assert approval.locator(".dot.answer").count() == 1
    summary = lab.page.locator(".jp-OutputArea-output .blazen-snapshot")
    assert "Open input requests: 1" in summary.text_content()

    # The last run waits for an answer from the cell: a text box and a button (ipywidgets,
    # installed in the notebook from this site; the earlier request came before it was).
    assert lab.page.locator(".jp-CodeCell").nth(5).locator(".widget-text").count() == 0
    last = lab.page.locator(".jp-CodeCell").last
    box = last.locator(".widget-text input")
    box.wait_for(timeout=RUN_TIMEOUT_MS)
    assert last.locator(".widget-label").first.text_content() == "Publish 'Notes on <Pyodide>'?"
    waiting = last.locator(".blazen-timeline svg.timeline")
    assert waiting.get_attribute("data-state") == "running"
    box.fill("yes, publish")
    last.get_by_role("button", name="Answer").click()
    last.locator(".blazen-timeline svg.timeline[data-state=finished]").wait_for(timeout=RUN_TIMEOUT_MS)
    assert last.locator(".widget-label", has_text="answered").count() == 1
    assert waiting.locator(".dot.answer").count() == 1
    last.screenshot(path=str(artifacts / "lab-drawing-answered.png"))

    graph.scroll_into_view_if_needed()
    graph.screenshot(path=str(artifacts / "lab-drawing-graph.png"))
    first = lab.page.locator(".jp-OutputArea-output .blazen-timeline").first
    first.scroll_into_view_if_needed()
    first.screenshot(path=str(artifacts / "lab-drawing-timeline.png"))
    for index, name in ((3, "timeline-cell"), (4, "failed-cell"), (6, "snapshot-cell")):
        cell = lab.page.locator(".jp-CodeCell").nth(index)
        cell.scroll_into_view_if_needed()
        cell.screenshot(path=str(artifacts / f"lab-drawing-{name}.png"))
    lab.assert_only_origins()
