"""Every JavaScript block of README.md and docs/ runs in Chromium through blazen.js, as the
module script of a page beside blazen.js (a block whose first line is ``// name.js`` is
that file, served beside it: a worker's module). The durable-run and Web Worker examples
of docs/js-api.md are then checked for what they say they do."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
import docblocks

BOOT_TIMEOUT_MS = 120_000
JS = [b for b in docblocks.blocks() if b.kind == "module"]
FILES = {m.group(1): b for b in JS if (m := re.match(r"// ([\w-]+\.js)\n", b.code))}
PAGES = [b for b in JS if b not in FILES.values()]
DONE = "\n;window.__docDone = true;\n"
FAILED = "addEventListener('error', () => { window.__docDone = 'failed'; });"
WAIT = "() => window.__docDone !== undefined"


class DocPage:
    """A browser context where each block is served beside blazen.js."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.context = browser.new_context()
        self.errors: list[str] = []
        self.logs: list[str] = []
        for name, block in FILES.items():
            self.serve(name, block.code, "text/javascript")

    def serve(self, name: str, body: str, content_type: str) -> str:
        url = f"{self.base}/{name}"
        self.context.route(url, lambda route: route.fulfill(body=body, content_type=content_type))
        return url

    def open(self, block: docblocks.Block) -> Any:
        html = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
            f"<title>{block.id}</title></head><body>\n<script>{FAILED}</script>\n"
            f'<script type="module">\n{block.code}{DONE}</script></body></html>'
        )
        url = self.serve(f"doc-example-{block.line}.html", html, "text/html")
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda msg: (self.errors if msg.type == "error" else self.logs).append(msg.text))
        page.goto(url)
        return page


@pytest.fixture
def docs(browser: Any, base_url: str) -> Iterator[DocPage]:
    doc = DocPage(browser, base_url)
    yield doc
    doc.context.close()


def test_the_docs_have_javascript_examples() -> None:
    names = {b.path.name for b in PAGES}
    assert "js-api.md" in names
    assert "worker.js" in FILES
    assert any("unfinishedRuns" in b.code for b in PAGES)


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in PAGES])
def test_javascript_blocks_run(docs: DocPage, block: docblocks.Block) -> None:
    page = docs.open(block)
    if "unfinishedRuns" in block.code:  # waits for a click: run to the end in the next test
        page.locator("button").wait_for(timeout=BOOT_TIMEOUT_MS)
        page.locator("button").click()
    page.wait_for_function(WAIT, timeout=BOOT_TIMEOUT_MS)
    assert docs.errors == []
    assert page.evaluate("window.__docDone") is True
    # what the comments say is logged or shown, is
    for said in re.findall(r"console\.log\(.*\); // (.+)$", block.code, flags=re.M):
        assert said in docs.logs, (said, docs.logs)
    for said in re.findall(r"document\.body\.append\(.*\); // (.+)$", block.code, flags=re.M):
        assert said in page.inner_text("body")


def test_a_durable_run_resumes_after_a_reload(docs: DocPage) -> None:
    block = next(b for b in PAGES if "unfinishedRuns" in b.code)
    page = docs.open(block)
    button = page.locator("button")
    button.wait_for(timeout=BOOT_TIMEOUT_MS)
    assert button.inner_text() == "Publish Notes?"
    assert page.inner_text("p") == "Started a run: reload the page, or answer."
    # the checkpoint follows the step that asked: wait for it, then look at createdAt
    runs = page.evaluate(
        """async () => {
            const { Workflow } = await import('/blazen.js');
            const wf = new Workflow('review');
            for (let i = 0; i < 100; i++) {
                const runs = await wf.unfinishedRuns();
                if (runs.length) return { runs, now: Date.now() };
                await new Promise((r) => setTimeout(r, 50));
            }
            return { runs: [], now: Date.now() };
        }"""
    )
    assert len(runs["runs"]) == 1
    created = runs["runs"][0]["createdAt"]
    assert isinstance(created, int)
    assert 0 <= runs["now"] - created < 120_000  # milliseconds, as JS times are (was: seconds)
    assert abs(created / 1000 - time.time()) < 300

    page.reload()
    button.wait_for(timeout=BOOT_TIMEOUT_MS)
    assert page.inner_text("p").startswith("Resumed the run started at ")
    assert "1970" not in page.inner_text("p")
    button.click()
    page.wait_for_function(WAIT, timeout=60_000)
    assert page.inner_text("p") == "Result: published"
    assert docs.errors == []


def test_blazen_js_in_a_module_worker(docs: DocPage) -> None:
    block = next(b for b in PAGES if "new Worker(" in b.code)
    page = docs.open(block)
    page.wait_for_function(WAIT, timeout=BOOT_TIMEOUT_MS)
    assert "5 words" in page.inner_text("body")
    assert docs.errors == []


def test_a_classic_worker_is_told_to_be_a_module_worker(docs: DocPage) -> None:
    """Was: Pyodide's bare "Classic web workers are not supported"."""
    classic = (
        "import('./blazen.js').then((blazen) => blazen.default()).then("
        "() => postMessage('booted'), (error) => postMessage(`${error.name}: ${error.message}`));"
    )
    url = docs.serve("classic-worker.js", classic, "text/javascript")
    page = docs.context.new_page()
    page.goto(f"{docs.base}/build-info.json")
    message = page.evaluate(
        """(url) => new Promise((resolve) => {
            const worker = new Worker(url);
            worker.onmessage = (event) => resolve(event.data);
            worker.onerror = (event) => resolve(`onerror: ${event.message}`);
        })""",
        url,
    )
    assert message.startswith("BlazenError: blazen.js runs in a module Web Worker, not a classic one")
    assert "{ type: 'module' }" in message
