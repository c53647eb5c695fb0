"""blazen_py.testing, the shipped pytest plugin, as its users run it: each test writes a
user's test file into a fresh folder outside the repository and runs pytest on it in its own
process, with the plugin loaded from its entry point. Failures inside the page (a JS throw,
a Python exception, an uncaught page error, a run that fails or never asks) must turn the
run red with the page's own stack or traceback; a missing Chromium or dist/ says so."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from blazen_build.paths import DIST

TIMEOUT_S = 600


def run_pytest(folder: Path, source: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    (folder / "test_user.py").write_text(textwrap.dedent(source))
    # A user's pytest has no hypothesis; its plugin is half of pytest's start-up here.
    command = [sys.executable, "-m", "pytest", "test_user.py", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
               f"--blazen-dist={DIST}", *args]
    return subprocess.run(command, cwd=folder, env={**os.environ, **(env or {})}, text=True,
                          capture_output=True, timeout=TIMEOUT_S, check=False)


GREEN = '''
def test_js(blazen_page):
    out = blazen_page.js("""
        const wf = new blazen.Workflow('w');
        wf.addStep('double', ['blazen::StartEvent'], (ev) => ({type: 'blazen::StopEvent', result: ev.n * 2}));
        return (await wf.run({n: arg})).data;
    """, 21)
    assert out == 42

def test_python(blazen_page):
    assert blazen_page.python("import blazen_py, asyncio\\nawait asyncio.sleep(0)\\n{'v': blazen_py.__name__}") == {"v": "blazen_py"}

def test_python_statement_gives_none(blazen_page):
    assert blazen_page.python("x = 1") is None

def test_input_round_trip_and_reload(blazen_page):
    run = blazen_page.start("""
        const wf = new blazen.Workflow('approve');
        wf.addStep('ask', ['blazen::StartEvent'], () => ({type: 'blazen::InputRequestEvent', prompt: 'ok?', requestId: 'r1'}));
        wf.addStep('done', ['blazen::InputResponseEvent'], (ev) => ({type: 'blazen::StopEvent', result: ev.response}));
        return wf;
    """)
    asked = run.wait_for_input()
    assert asked["requestId"] == "r1" and asked["prompt"] == "ok?"
    run.respond("r1", {"approved": True})
    assert run.result() == {"approved": True}
    assert [i["eventType"] for i in run.items()][-1] == "blazen::StopEvent"
    blazen_page.reload()
    assert blazen_page.js("return 1 + 1") == 2
'''


def test_green_tests_pass(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, GREEN)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 passed" in out.stdout, out.stdout


def test_snapshot_off_boots_without_it(tmp_path: Path) -> None:
    source = '''
    def test_boot(blazen_page):
        assert blazen_page.snapshot is False
        assert "fallback" not in blazen_page.boot_stages and "snapshot" not in blazen_page.boot_stages
        assert blazen_page.boot_stages[-1] == "ready"
    '''
    out = run_pytest(tmp_path, source, "--blazen-snapshot=off")
    assert out.returncode == 0, out.stdout + out.stderr


RED = '''
def test_js_throw(blazen_page):
    blazen_page.js("function deepInside() { throw new TypeError('boom-js'); } deepInside();")

def test_python_raise(blazen_page):
    blazen_page.python("def inner():\\n    raise ValueError('boom-py')\\ninner()")

def test_page_error(blazen_page):
    blazen_page.js("setTimeout(() => { throw new Error('boom-uncaught'); }, 0);")
    blazen_page.page.wait_for_timeout(300)

def test_run_fails(blazen_page):
    run = blazen_page.start("""
        const wf = new blazen.Workflow('bad');
        wf.addStep('s', ['blazen::StartEvent'], () => { throw new RangeError('boom-step'); });
        return wf;
    """)
    run.result()

def test_never_asks(blazen_page):
    run = blazen_page.start("""
        const wf = new blazen.Workflow('quiet');
        wf.addStep('s', ['blazen::StartEvent'], () => ({type: 'blazen::StopEvent', result: 1}));
        return wf;
    """)
    run.wait_for_input(timeout=20)

def test_hangs(blazen_page):
    run = blazen_page.start("""
        const wf = new blazen.Workflow('slow');
        wf.addStep('s', ['blazen::StartEvent'], () => new Promise(() => {}));
        return wf;
    """)
    run.result(timeout=2)
'''


def test_failures_in_the_page_fail_the_tests_with_the_pages_stack(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, RED)
    text = out.stdout
    assert out.returncode == 1, text + out.stderr
    # an uncaught error noticed only at the end is the page fixture's teardown error: red too
    assert "5 failed, 1 passed, 1 error" in text, text
    assert "TypeError: boom-js" in text, text  # the JS stack
    assert "deepInside" in text, text
    assert "ValueError: boom-py" in text, text  # the Python traceback
    assert "in inner" in text, text
    assert "boom-uncaught" in text, text
    assert "boom-step" in text, text
    assert "ended without a 'InputRequested' item" in text, text
    assert "gave up waiting for the run's end after 2 s" in text, text


WAITS = '''
import pytest
from blazen_py.testing import BlazenPageError

def test_a_step_that_blocks_the_page_once_the_wait_is_in_it(blazen_page):
    run = blazen_page.start("""
        const wf = new blazen.Workflow('spin');
        wf.addStep('s', ['blazen::StartEvent'], async () => {
            await new Promise((resolve) => setTimeout(resolve, 1500));
            for (;;) {}
        });
        return wf;
    """)
    with pytest.raises(BlazenPageError, match="gave up waiting for the run's end after 4 s"):
        run.result(timeout=4)
    assert blazen_page.js("return 1 + 1") == 2  # its script was stopped

def test_a_predicate_that_throws(blazen_page):
    with pytest.raises(BlazenPageError, match=r"the wait for a sum threw in the page:\\n.*ReferenceError"):
        blazen_page.wait("([a, b]) => a + noSuchName", [2, 3], 5, "a sum")

def test_a_wait_returns_the_first_truthy_value(blazen_page):
    blazen_page.js("window.counter = 0; const t = setInterval(() => { if (++window.counter === 5) clearInterval(t); }, 30);")
    assert blazen_page.wait("(goal) => window.counter >= goal && {seen: window.counter}", 5, 5, "five ticks") == {"seen": 5}
'''


def test_waits_end_on_time_even_when_the_page_blocks(tmp_path: Path) -> None:
    """BlazenPage.wait (behind PageRun.result and wait_for) times out without the page's
    help and stops the page's script: Playwright's wait_for_function hung for good when the
    page blocked after its poller was in."""
    out = run_pytest(tmp_path, WAITS, "-rA")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 passed" in out.stdout, out.stdout


def test_no_chromium_skips_with_a_clear_message(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {"PATH": str(empty), "BLAZEN_CHROMIUM": ""}
    source = "def test_x(blazen_page):\n    raise AssertionError('must not run')\n"
    out = run_pytest(tmp_path, source, "-rs", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 skipped" in out.stdout, out.stdout
    assert "no Chromium found" in out.stdout, out.stdout
    required = run_pytest(tmp_path, source, "--blazen-require-chromium", env=env)
    assert required.returncode == 1, required.stdout
    assert "no Chromium found" in required.stdout, required.stdout
    wrong = run_pytest(tmp_path, source, env={"BLAZEN_CHROMIUM": str(empty / "nope")})
    assert wrong.returncode == 1, wrong.stdout
    assert "is not an executable" in wrong.stdout, wrong.stdout


def test_a_dist_without_blazen_js_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    source = "def test_x(blazen_site):\n    pass\n"
    (tmp_path / "test_user.py").write_text(source)
    out = subprocess.run([sys.executable, "-m", "pytest", "test_user.py", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                          "--blazen-dist=site"], cwd=tmp_path, text=True, capture_output=True,
                         timeout=TIMEOUT_S, check=False)
    assert out.returncode == 1, out.stdout
    assert "has no blazen.js" in out.stdout, out.stdout


def test_importing_blazen_py_does_not_import_the_plugin() -> None:
    code = "import sys, blazen_py; print('blazen_py.testing' in sys.modules, 'pytest' in sys.modules, 'playwright' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], text=True, capture_output=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False", "False"]
