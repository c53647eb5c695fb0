"""run_in_blazen, the plugin's decorator that runs a test body inside Pyodide (Chromium and
Node), as its users run it: a user's test file in a fresh folder outside the repository,
pytest in its own process, the plugin from its entry point. A passing body passes; a
failing assertion, an exception and a hanging body (async or blocking) each turn the run red
with the traceback from inside Pyodide."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from blazen_build.paths import DIST

TIMEOUT_S = 900


def run_pytest(
    folder: Path, source: str, *args: str, timeout: float = TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """pytest on a user's test file in `folder`, in its own process, the plugin from its entry point."""
    (folder / "test_user.py").write_text(textwrap.dedent(source))
    # A user's pytest has no hypothesis; its plugin is half of pytest's start-up here.
    command = [sys.executable, "-m", "pytest", "test_user.py", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
               f"--blazen-dist={DIST}", *args]
    # Without CI/BUILD_NUMBER: under them pytest prints each failure's whole message in the
    # short summary too, so the counts below would differ between CI and a terminal.
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "BUILD_NUMBER")}
    return subprocess.run(command, cwd=folder, env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)

GREEN = '''
from blazen_py.testing import run_in_blazen

@run_in_blazen
async def test_workflow_runs_in_pyodide():
    import sys
    from blazen_py import START_EVENT, STOP_EVENT, Workflow
    assert sys.platform == "emscripten"
    wf = Workflow("double")
    wf.add_step("double", [START_EVENT], lambda ev, ctx: {"type": STOP_EVENT, "result": ev["n"] * 2})
    assert (await wf.run({"n": 21})).data == 42

@run_in_blazen(runtimes=("node",), timeout=30)
def test_sync_body():
    import blazen_py
    assert blazen_py.Workflow.__name__ == "Workflow"
'''


def _outcomes(stdout: str) -> dict[str, str]:
    """test id -> PASSED/FAILED from `-rA` short summary lines."""
    return {m.group(2): m.group(1) for m in re.finditer(r"^(PASSED|FAILED) test_user.py::(\S+)", stdout, re.M)}


def test_bodies_pass_in_chromium_and_node(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, GREEN, "-rA")
    assert out.returncode == 0, out.stdout + out.stderr
    assert _outcomes(out.stdout) == {
        "test_workflow_runs_in_pyodide[chromium]": "PASSED",
        "test_workflow_runs_in_pyodide[node]": "PASSED",
        "test_sync_body[node]": "PASSED",
    }, out.stdout


RED = '''
from blazen_py.testing import run_in_blazen

@run_in_blazen
def test_assertion():
    import sys
    platform = sys.platform
    assert platform == "linux", "wrong-platform-marker"

@run_in_blazen
async def test_exception():
    def deep_inside():
        raise ValueError("boom-in-pyodide")
    deep_inside()

@run_in_blazen(timeout=3)
async def test_async_hang():
    import asyncio
    await asyncio.Event().wait()

@run_in_blazen(timeout=2)
def test_blocking_hang():
    while True:
        pass
'''


def test_failures_inside_pyodide_turn_the_run_red(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, RED, "-rA")
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    expected = [f"{name}[{runtime}]" for name in ("test_assertion", "test_exception", "test_async_hang")
                for runtime in ("chromium", "node")] + ["test_blocking_hang[chromium]", "test_blocking_hang[node]"]
    assert _outcomes(out.stdout) == dict.fromkeys(expected, "FAILED"), text
    assert "8 failed" in out.stdout, text
    # The traceback is Pyodide's: emscripten's platform in the assertion, the user's own
    # line from the user's file, the inner frame of the exception.
    assert text.count("AssertionError: wrong-platform-marker") == 2, text
    assert text.count('assert platform == "linux", "wrong-platform-marker"') == 2, text
    assert text.count('raise ValueError("boom-in-pyodide")') == 2, text
    assert text.count("in deep_inside") == 2, text
    assert "test_user.py\", line 13, in deep_inside" in text, text
    assert text.count("the body hung inside Pyodide") == 4, text
    assert text.count("did not finish within 3 s") == 2, text
    assert "Node gave no result within 12 s of booting" in text, text
    assert "the page did not answer within 12 s" in text, text


def test_a_page_blocked_by_a_body_answers_again_after_the_timeout(tmp_path: Path) -> None:
    """The blocking body's script is stopped when its time is up: the page answers again,
    and nothing after the failure (the next test, the context's close) waits on it. Whether
    the page blocks before the host's wait has reached it or after."""
    source = '''
    from blazen_py.testing._inpyodide import run_in_chromium

    def answers(blazen_page):
        blazen_page.page.wait_for_function("() => true", timeout=5000)
        return blazen_page.js("return 1 + 1") == 2

    def test_blocked_at_once(blazen_page):
        outcome = run_in_chromium(blazen_page, "while True: pass", 0.5)
        assert outcome["kind"] == "timeout", outcome
        assert answers(blazen_page)

    def test_blocked_once_the_wait_is_in_the_page(blazen_page):
        # Playwright's wait_for_function hung here for good: its timeout calls into the page.
        blazen_page.reload()  # the page's DevTools session, attached before, still stops it
        code = "import asyncio\\nawait asyncio.sleep(2)\\nwhile True: pass"
        outcome = run_in_chromium(blazen_page, code, 0.5)
        assert outcome["kind"] == "timeout", outcome
        assert "did not answer within 10.5 s" in outcome["traceback"], outcome
        assert answers(blazen_page)
    '''
    # Without the stop the page never answers (Playwright's waits need the page): bounded here.
    out = run_pytest(tmp_path, source, "-rA", timeout=300)
    assert _outcomes(out.stdout) == dict.fromkeys(
        ["test_blocked_at_once", "test_blocked_once_the_wait_is_in_the_page"], "PASSED"), out.stdout + out.stderr


def test_bad_use_is_an_error(tmp_path: Path) -> None:
    source = '''
    from blazen_py.testing import run_in_blazen

    @run_in_blazen
    def test_with_fixture(tmp_path):
        pass
    '''
    out = run_pytest(tmp_path, source)
    assert out.returncode != 0, out.stdout
    assert "must be a function without parameters" in out.stdout + out.stderr, out.stdout


def test_documented_examples_pass(tmp_path: Path) -> None:
    """The run_in_blazen blocks of README.md and docs/testing.md, run as the test file they are."""
    root = DIST.parent
    blocks = [code for doc in ("README.md", "docs/testing.md")
              for code in re.findall(r"^```python\n(.*?)^```", (root / doc).read_text(), re.M | re.S)
              if "@run_in_blazen" in code]
    assert len(blocks) == 2, blocks
    out = run_pytest(tmp_path, "\n\n".join(blocks), "-rA")
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(_outcomes(out.stdout)) == [
        "test_double_in_pyodide[chromium]", "test_double_in_pyodide[node]",
        "test_in_pyodide[chromium]", "test_in_pyodide[node]",
    ], out.stdout
