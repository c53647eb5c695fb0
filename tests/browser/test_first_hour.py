"""Issue 23's "stuck" items, as a new user meets them: each test does what got such a user
stuck (open the site as a file, a relative indexURL, a cell that never ends) and checks
that the page now says what is wrong and what to do, or that it simply works."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from blazen_build.chromium import CHROMIUM_ARGS
from blazen_build.paths import DIST

BOOT_TIMEOUT_MS = 120_000
SERVE = "python build.py serve"


def test_playground_opened_as_a_file_says_it_must_be_served(browser: Any) -> None:
    """Was: "Loading…" forever, the reason only in DevTools."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto((DIST / "index.html").as_uri(), wait_until="load")
        page.wait_for_function("() => document.body.dataset.state === 'error'", timeout=10_000)
        status = page.inner_text("#status")
        assert "must be served" in status
        assert SERVE in status
        assert "file://" in status
        assert page.locator("#status.error").is_visible()
    finally:
        context.close()


def test_embed_page_opened_as_a_file_says_it_must_be_served(browser: Any) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto((DIST / "embed.html").as_uri(), wait_until="load")
        out = page.inner_text("#out")
        assert out != "Loading…"
        assert "must be served" in out
        assert SERVE in out
        assert page.locator("#go").is_disabled()
    finally:
        context.close()


@pytest.fixture(scope="module")
def file_browser(playwright: Any, chromium_path: str) -> Iterator[Any]:
    """A Chromium that lets file:// pages load modules (as some browsers' settings do): there
    blazen.js itself loads, and init() must reject with the reason."""
    browser = playwright.chromium.launch(
        executable_path=chromium_path, headless=True, args=[*CHROMIUM_ARGS, "--allow-file-access-from-files"]
    )
    yield browser
    browser.close()


def test_init_rejects_on_a_file_url_with_the_command_that_serves_the_site(file_browser: Any) -> None:
    context = file_browser.new_context()
    try:
        page = context.new_page()
        page.goto((DIST.parent / "tests" / "browser" / "pages" / "blank.html").as_uri())
        blazen = (DIST / "blazen.js").as_uri()
        out = page.evaluate(
            """async (url) => {
                const blazen = await import(url);
                const started = Date.now();
                try { await blazen.default(); return { ok: true }; }
                catch (error) {
                    return { name: error.name, message: error.message, blazen: error instanceof blazen.BlazenError,
                             ms: Date.now() - started };
                }
            }""",
            blazen,
        )
        assert out.get("ok") is not True
        assert out["blazen"] is True, out
        assert "must be served over HTTP" in out["message"]
        assert SERVE in out["message"]
        assert out["ms"] < 5_000  # at once, not after a hang
    finally:
        context.close()


def test_a_relative_index_url_is_resolved_against_the_page(browser: Any, base_url: str) -> None:
    """Was: "Failed to construct 'URL': Invalid base URL"."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(base_url.rstrip("/") + "/_test/blank.html")
        out = page.evaluate(
            """async () => {
                const blazen = await import('/blazen.js');
                const init = blazen.default;
                const tries = {};
                for (const bad of [42, 'http://[::1']) {
                    try { await init({ indexURL: bad }); tries[bad] = 'booted'; }
                    catch (error) { tries[bad] = `${error.name}: ${error.message}`; }
                }
                // The page is /_test/blank.html: '../pyodide' (no slash needed) is dist/pyodide/.
                await init({ indexURL: '../pyodide', snapshot: false });
                const wf = new blazen.Workflow('relative');
                wf.addStep('s', ['blazen::StartEvent'], () => ({ type: 'blazen::StopEvent', result: 'ok' }));
                return { tries, data: (await wf.run({})).data };
            }"""
        )
        assert out["data"] == "ok"
        assert out["tries"]["42"] == "BlazenError: init: indexURL must be a string or a URL, got number"
        assert out["tries"]["http://[::1"].startswith("BlazenError: init: indexURL \"http://[::1\" is not a URL")
    finally:
        context.close()


# -- a cell that never ends ------------------------------------------------------------------

HUNG_PYTHON = """
import asyncio
from blazen_py import START_EVENT, STOP_EVENT, Workflow

async def wait(event, ctx):
    await asyncio.Event().wait()  # never set
    return {"type": STOP_EVENT, "result": "never"}

wf = Workflow("hangs")
wf.add_step("wait", [START_EVENT], wait, emits=[STOP_EVENT])
await wf.run({})
"""

HUNG_JS = """
const wf = new Workflow('hangs');
wf.addStep('wait', ['blazen::StartEvent'], () => new Promise(() => {}), { emits: ['blazen::StopEvent'] });
return await wf.run({});
"""


@pytest.fixture(scope="module")
def playground(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base_url, wait_until="domcontentloaded")
    page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=BOOT_TIMEOUT_MS)
    yield page
    context.close()
    assert errors == []


def _add_cell(page: Any, lang: str, code: str) -> Any:
    page.click("#add-python" if lang == "python" else "#add-js")
    cell = page.locator("article.cell").last
    cell.locator("textarea").fill(code)
    return cell


def _spans(cell: Any) -> list[tuple[str, str]]:
    return [
        (str(step), str(outcome))
        for step, outcome in cell.locator("svg.timeline rect.span").evaluate_all(
            "rs => rs.map(r => [r.dataset.step, r.getAttribute('class').split(' ').pop()])"
        )
    ]


@pytest.mark.parametrize("lang", ["python", "js"])
def test_stop_aborts_a_hung_cell_and_the_cell_runs_again(playground: Any, lang: str) -> None:
    """Was: "Running…" for ever with Run disabled; only a reload recovered."""
    page = playground
    cell = _add_cell(page, lang, HUNG_PYTHON if lang == "python" else HUNG_JS)
    cell.locator("button.run").click()
    page.wait_for_function(
        "(c) => c.querySelectorAll('svg.timeline rect.span').length === 1", arg=cell.element_handle(), timeout=30_000
    )
    assert cell.get_attribute("data-status") == "running"
    assert "stops after 120 s" in cell.locator(".cell-status").inner_text()
    assert cell.locator("button.run").is_hidden()
    cell.locator("button.stop").click()
    page.wait_for_function("(c) => c.dataset.status !== 'running'", arg=cell.element_handle(), timeout=10_000)
    assert cell.get_attribute("data-status") == "stopped"
    assert cell.locator(".cell-status").inner_text().startswith("Stopped after ")
    assert "Stopped: you pressed Stop." in cell.locator("pre.output").inner_text()
    assert cell.locator("button.stop").is_hidden()
    # the run was aborted: its step's span ends, cancelled
    page.wait_for_function(
        "(c) => !c.querySelector('svg.timeline rect.span.running')", arg=cell.element_handle(), timeout=10_000
    )
    assert _spans(cell) == [("wait", "cancelled")]
    # ... and the cell runs again, to the end
    fixed = "print('again')" if lang == "python" else "print('again');"
    cell.locator("textarea").fill(fixed)
    cell.locator("button.run").click()
    page.wait_for_function("(c) => c.dataset.status !== 'running'", arg=cell.element_handle(), timeout=30_000)
    assert cell.get_attribute("data-status") == "done"
    assert cell.locator("pre.output").inner_text() == "again\n"


def test_a_cell_stops_at_the_visible_time_limit(playground: Any) -> None:
    page = playground
    limit = page.locator("#cell-limit")
    assert limit.is_visible()
    assert limit.input_value() == "120"
    assert "stops after" in page.inner_text("#limit")
    limit.fill("2")
    try:
        cell = _add_cell(page, "js", "await new Promise(() => {}); // code that never returns")
        cell.locator("button.run").click()
        assert "stops after 2 s" in cell.locator(".cell-status").inner_text()
        page.wait_for_function("(c) => c.dataset.status !== 'running'", arg=cell.element_handle(), timeout=20_000)
        assert cell.get_attribute("data-status") == "stopped"
        assert "longer than the time limit of 2 s" in cell.locator("pre.output").inner_text()
    finally:
        limit.fill("120")
        limit.dispatch_event("change")
