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
        assert out["tries"]["http://[::1"].startswith(
            'BlazenError: init: indexURL "http://[::1" is not a URL'
        )
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
        "(c) => c.querySelectorAll('svg.timeline rect.span').length === 1",
        arg=cell.element_handle(),
        timeout=30_000,
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
        page.wait_for_function(
            "(c) => c.dataset.status !== 'running'", arg=cell.element_handle(), timeout=20_000
        )
        assert cell.get_attribute("data-status") == "stopped"
        assert "longer than the time limit of 2 s" in cell.locator("pre.output").inner_text()
    finally:
        limit.fill("120")
        limit.dispatch_event("change")


# -- what JS users read ----------------------------------------------------------------------

# (what a JS user does by mistake, a message it must contain, a Python word it must not)
JS_MISTAKES = [
    ("() => 'hello'", 'returned a string "hello"', "str 'hello'"),
    ("() => 'hello'", "an array of events, or undefined", "or None"),
    ("() => ({ kind: 1 })", 'an object {"kind": 1}', "JsEvent"),
    ("() => ({ type: null })", "(got null)", "NoneType"),
    ("(e, ctx) => { ctx.set(null, 1); }", "state keys are strings, got null", "jsnull"),
    ("(e, ctx) => { ctx.session.set(undefined, 1); }", "keys are strings, got null", "None"),
    ("(e, ctx) => { ctx.sendEvent('x'); }", "(an object with a string 'type')", "a mapping"),
    ("() => { JSON.parse('{'); }", "failed handling 'blazen::StartEvent': SyntaxError: ", "JsStepError"),
]


@pytest.fixture(scope="module")
def js(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(BOOT_TIMEOUT_MS)
    page.goto(base_url.rstrip("/") + "/_test/blank.html")
    page.evaluate(
        "async () => { window.blazen = await import('/blazen.js'); await window.blazen.default(); }"
    )
    yield page
    context.close()


def _message(page: Any, body: str) -> str:
    return str(
        page.evaluate(
            f"""async () => {{
                const {{ Workflow }} = window.blazen;
                try {{ {body}; return 'no error'; }} catch (error) {{ return `${{error.name}}: ${{error.message}}`; }}
            }}"""
        )
    )


@pytest.mark.parametrize("step, said, not_said", JS_MISTAKES)
def test_js_messages_speak_js(js: Any, step: str, said: str, not_said: str) -> None:
    message = _message(
        js,
        f"const wf = new Workflow('w'); wf.addStep('s', ['blazen::StartEvent'], {step}); await wf.run({{}})",
    )
    assert said in message
    assert not_said not in message


def test_js_definition_and_input_messages_speak_js(js: Any) -> None:
    assert _message(js, "new Workflow(null)").endswith("a workflow name must be a non-empty string, got null")
    assert _message(js, "new Workflow('w').setTimeout(-1)").endswith("seconds or null, got -1")
    assert _message(js, "await new Workflow('w').run('x')").endswith(
        'run() input must be an object (merged onto the start event), got a string "x"'
    )
    assert _message(js, "await new Workflow('w').resume('[1]')") == (
        "SnapshotError: a snapshot is a JSON object, got an array"
    )


def test_a_js_step_error_says_what_it_is_once(js: Any) -> None:
    """Was: "... JsStepError: SyntaxError: ... in step 'parse' handling ..." (the playground
    added the step again)."""
    message = _message(
        js,
        "const wf = new Workflow('w'); wf.addStep('parse', ['blazen::StartEvent'], () => JSON.parse('{')); await wf.run({})",
    )
    assert message.startswith("StepError: step 'parse' failed handling 'blazen::StartEvent': SyntaxError: ")
    assert message.count("parse'") == 1


def test_a_stop_event_without_result_gives_null(js: Any) -> None:
    """Was: "AttributeError: result"."""
    out = js.evaluate(
        """async () => {
            const wf = new window.blazen.Workflow('w');
            wf.addStep('s', ['blazen::StartEvent'], () => ({ type: 'blazen::StopEvent' }));
            const result = await wf.run({});
            return { data: result.data, type: result.type };
        }"""
    )
    assert out == {"data": None, "type": "blazen::StopEvent"}


def test_python_messages_in_the_same_page_speak_python(js: Any) -> None:
    """The words follow the caller: Python code run by the page reads Python's."""
    text = js.evaluate(
        """async () => {
            const pyodide = await window.blazen.default();
            return await pyodide.runPythonAsync(`
from blazen_py import START_EVENT, Workflow
wf = Workflow("w")
wf.add_step("s", [START_EVENT], lambda e, ctx: "hello")
try:
    await wf.run({})
except Exception as exc:
    message = str(exc)
message`);
        }"""
    )
    assert "returned str 'hello'" in text
    assert "a list of events, or None" in text


# -- what the playground shows of an error ---------------------------------------------------

FAILING_STEP = """from blazen_py import START_EVENT, STOP_EVENT, Workflow

def parse(event, ctx):
    return {"type": STOP_EVENT, "result": int(event["text"])}

wf = Workflow("parse")
wf.add_step("parse", [START_EVENT], parse)
await wf.run({"text": "seven"})
"""


def test_a_python_traceback_shows_the_line_of_the_step_that_failed(playground: Any) -> None:
    """Was: only line 8 (the cell's await), never line 4 where int("seven") failed."""
    cell = _add_cell(playground, "python", FAILING_STEP)
    cell.locator("button.run").click()
    playground.wait_for_function(
        "(c) => c.dataset.status !== 'running'", arg=cell.element_handle(), timeout=30_000
    )
    out = cell.locator("pre.output").inner_text()
    assert 'line 4, in parse\n    return {"type": STOP_EVENT, "result": int(event["text"])}' in out
    assert "ValueError: invalid literal for int() with base 10: 'seven'" in out
    assert "line 8, in <module>" in out
    assert out.rstrip().endswith(
        "StepError: step 'parse' failed handling 'blazen::StartEvent': "
        "ValueError: invalid literal for int() with base 10: 'seven'"
    )
    assert out.index("line 4") < out.index("line 8")


def test_a_js_syntax_error_has_its_line(playground: Any) -> None:
    cell = _add_cell(playground, "js", "const a = 1;\nconst b = 2;\nthis is not javascript\n")
    cell.locator("button.run").click()
    playground.wait_for_function(
        "(c) => c.dataset.status !== 'running'", arg=cell.element_handle(), timeout=30_000
    )
    out = cell.locator("pre.output").inner_text()
    assert out.startswith("SyntaxError: ")
    assert "(line 3)" in out
    # code that closes the function and parses is not run by the line lookup
    sneaky = _add_cell(playground, "js", "}); window.__ran = 1; (async function () {")
    sneaky.locator("button.run").click()
    playground.wait_for_function(
        "(c) => c.dataset.status !== 'running'", arg=sneaky.element_handle(), timeout=30_000
    )
    assert sneaky.locator("pre.output").inner_text().startswith("SyntaxError: ")
    assert playground.evaluate("window.__ran") is None


def test_a_js_step_error_is_said_once_in_the_cell(playground: Any) -> None:
    cell = _add_cell(
        playground,
        "js",
        "const wf = new Workflow('w');\n"
        "wf.addStep('parse', ['blazen::StartEvent'], () => JSON.parse('{'));\n"
        "await wf.run({});\n",
    )
    cell.locator("button.run").click()
    playground.wait_for_function(
        "(c) => c.dataset.status !== 'running'", arg=cell.element_handle(), timeout=30_000
    )
    out = cell.locator("pre.output").inner_text()
    assert out.startswith("StepError: step 'parse' failed handling 'blazen::StartEvent': SyntaxError: ")
    assert out.count("parse'") == 1
    assert "JsStepError" not in out


# -- rough edges -------------------------------------------------------------------------------


def test_tab_indents_and_esc_then_tab_leaves_the_editor(playground: Any) -> None:
    cell = _add_cell(playground, "python", "def f():\nreturn 1")
    code = cell.locator("textarea")
    code.focus()
    code.evaluate("t => { t.selectionStart = t.selectionEnd = t.value.length; }")  # end of line 2
    code.press("Home")
    code.press("Tab")
    assert code.input_value() == "def f():\n    return 1"
    assert playground.evaluate("document.activeElement.tagName") == "TEXTAREA"
    code.evaluate("t => { t.selectionStart = 0; t.selectionEnd = t.value.length; }")
    code.press("Tab")
    assert code.input_value() == "    def f():\n        return 1"
    code.press("Shift+Tab")
    code.press("Shift+Tab")
    assert code.input_value() == "def f():\nreturn 1"
    code.press("Escape")
    code.press("Tab")  # leaves: the field keeps its text, focus moves on
    assert code.input_value() == "def f():\nreturn 1"
    assert playground.evaluate("document.activeElement.tagName") != "TEXTAREA"
    js = _add_cell(playground, "js", "")
    js.locator("textarea").focus()
    js.locator("textarea").press("Tab")
    assert js.locator("textarea").input_value() == "  "  # two spaces in JS


def test_the_editor_keeps_its_first_lines_in_view_as_it_grows(playground: Any) -> None:
    cell = _add_cell(playground, "python", "# first line\nx = 1")
    code = cell.locator("textarea")
    code.focus()
    code.evaluate("t => { t.selectionStart = t.selectionEnd = t.value.length; }")
    for i in range(30):
        code.press("Enter")
        # one input event per line (typing it key by key took 45 s for the 30 lines)
        playground.keyboard.insert_text(f"y{i} = {i}  # a line long enough " + "to scroll sideways " * 8)
    assert code.evaluate("t => t.scrollTop") == 0
    assert code.evaluate("t => t.rows") == 32
    assert code.evaluate("t => t.scrollHeight <= t.clientHeight + 1")


def test_the_example_that_needs_a_model_server_says_so_before_the_first_click(playground: Any) -> None:
    note = playground.locator("#cell-summarizer .needs")
    assert note.is_visible()
    # Since the shipped cassettes: it says it replays a recording, and how to use a server.
    text = note.inner_text()
    assert "replays a recording" in text
    assert "Set Base URL" in text
    notes = playground.locator("article.cell .needs")
    assert notes.count() == 2  # the two model examples: the summarizer and the agent
    assert playground.locator("#cell-agent .needs").inner_text() == text


def test_the_lab_link_is_known_from_the_build_with_no_probe(playground: Any, base_url: str) -> None:
    """Was: a HEAD of lab/jupyter-lite.json, a red 404 when the lab is not built."""
    fetched = playground.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert not [url for url in fetched if "jupyter-lite.json" in url]
    info = playground.evaluate("fetch('./build-info.json').then(r => r.json())")
    assert isinstance(info["lab"], bool)
    assert playground.locator("#lab-link").is_hidden() is (not info["lab"])
    assert info["lab"] is (DIST / "lab" / "jupyter-lite.json").is_file()


def test_touch_screens_get_no_keyboard_hint_and_the_desktop_does(
    browser: Any, base_url: str, playground: Any
) -> None:
    assert playground.locator("#cell-fanout .hint").is_visible()
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(base_url, wait_until="domcontentloaded")
        page.locator("#cell-fanout .hint").wait_for(state="attached", timeout=BOOT_TIMEOUT_MS)
        assert page.locator("#cell-fanout .hint").is_hidden()
    finally:
        context.close()


def test_the_page_follows_a_dark_system_theme(browser: Any, base_url: str, playground: Any) -> None:
    light = playground.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert light == "rgb(244, 245, 248)"
    context = browser.new_context(color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(base_url, wait_until="domcontentloaded")
        page.locator("#cell-fanout textarea").wait_for(timeout=BOOT_TIMEOUT_MS)
        colors = page.evaluate(
            """() => {
                const css = (el, p) => getComputedStyle(el)[p];
                const cell = document.querySelector('#cell-fanout');
                return { page: css(document.documentElement, 'backgroundColor'), cell: css(cell, 'backgroundColor'),
                         text: css(cell, 'color'), code: css(cell.querySelector('textarea'), 'backgroundColor') };
            }"""
        )
        assert colors == {
            "page": "rgb(18, 21, 27)",
            "cell": "rgb(27, 31, 39)",
            "text": "rgb(230, 232, 238)",
            "code": "rgb(28, 26, 20)",
        }
    finally:
        context.close()
