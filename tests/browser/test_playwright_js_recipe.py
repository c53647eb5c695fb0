"""The @playwright/test recipe (dist/testing/blazen-playwright.mjs), run as its users run it:
`npx playwright test` in examples/playwright-js (green: all its tests pass; `-c red`: its
deliberately failing test fails with the page's own message), and the shortest example of
docs/testing.md written out as the files it names in a project folder of its own, beside a
dist/, and run there. Real Chromium (the one build.py found), real Pyodide, no download."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blazen_build.chromium import find_chromium
from blazen_build.paths import DIST, NODE_MODULES, ROOT, WEB
from blazen_py.testing._chromium import CHROMIUM_ARGS, CHROMIUM_NAMES
from blazen_py.testing._server import MIME_TYPES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
import docblocks

EXAMPLE = ROOT / "examples" / "playwright-js"
TIMEOUT_S = 300
GREEN_TESTS = 4


@pytest.fixture(scope="module")
def npx() -> str:
    if find_chromium() is None:
        pytest.skip("no Chromium: set BLAZEN_CHROMIUM or install one (apt-get install chromium)")
    assert (DIST / "testing" / "blazen-playwright.mjs").is_file(), "dist/ is not built"
    assert (NODE_MODULES / "@playwright" / "test").is_dir(), "node_modules/ lacks @playwright/test"
    path = shutil.which("npx")
    if path is None:
        pytest.skip("no npx on PATH (Debian: apt-get install npm)")
    return path


def playwright_test(npx: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`npx playwright test` as a user types it, one worker, the line reporter."""
    env = {**os.environ, "FORCE_COLOR": "0"}  # plain text: the messages are matched as such
    return subprocess.run([npx, "playwright", "test", "--reporter=line", "--workers=1", *args],
                          cwd=cwd, env=env, text=True, capture_output=True, timeout=TIMEOUT_S, check=False)


def test_the_example_passes(npx: str) -> None:
    out = playwright_test(npx, EXAMPLE)
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    assert re.search(rf"\b{GREEN_TESTS} passed\b", out.stdout), report
    assert not re.search(r"\b\d+ (failed|skipped|flaky)\b", out.stdout), report
    assert "red:" not in out.stdout, "the red test is not part of the normal run"


def test_the_red_examples_fail_with_the_page_messages(npx: str) -> None:
    out = playwright_test(npx, EXAMPLE, "-c", "red")
    report = out.stdout + out.stderr
    assert out.returncode == 1, report
    assert re.search(r"\b2 failed\b", out.stdout), report
    assert "BlazenPageError: run " in out.stdout, report  # the run's failure, with its message
    assert 'the approval must be {approved: boolean}, got "sure"' in out.stdout, report
    assert "BlazenPageError: uncaught error(s) in the page:\n    Error: boom, uncaught in the page" in out.stdout, report


def test_the_shortest_example_of_the_docs_runs_as_written(npx: str, tmp_path: Path) -> None:
    blocks = [b for b in docblocks.blocks((ROOT / "docs" / "testing.md",)) if b.kind == "playwright"]
    assert len(blocks) == 2, [b.id for b in blocks]
    project = tmp_path / "my-project"
    for block in blocks:  # each names its file on its first line: `// playwright.config.mjs`
        name = re.match(r"// ([\w./-]+\.mjs)\n", block.code)
        assert name, f"{block.id}: the first line names the file"
        (project / name.group(1)).parent.mkdir(parents=True, exist_ok=True)
        (project / name.group(1)).write_text(block.code)
    # the project's own copies of what it installs and builds: its node_modules, its dist/
    (project / "node_modules").symlink_to(NODE_MODULES)
    (project / "dist").symlink_to(DIST)
    out = playwright_test(npx, project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"\b1 passed\b", out.stdout), out.stdout


def test_the_helper_repeats_the_plugins_chromium_lookup_and_mime_types() -> None:
    """The JS copies of what the pytest plugin has in Python stay the same (they cannot be
    imported across): the Chromium names and flags, and the MIME types Pyodide needs."""
    source = (WEB / "testing" / "blazen-playwright.mjs").read_text()

    def strings(name: str) -> list[str]:
        found = re.search(rf"const {name} = \[(.*?)\];", source, re.S)
        assert found, name
        return re.findall(r"'([^']*)'", found.group(1))

    assert strings("CHROMIUM_NAMES") == list(CHROMIUM_NAMES)
    assert strings("CHROMIUM_ARGS") == CHROMIUM_ARGS
    table = re.search(r"const MIME_TYPES = \{(.*?)\};", source, re.S)
    assert table
    js_types = dict(re.findall(r"'(\.\w+)': '([^']+)'", table.group(1)))
    assert {ext: js_types.get(ext) for ext in MIME_TYPES} == MIME_TYPES
