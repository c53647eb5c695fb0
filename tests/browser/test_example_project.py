"""examples/playwright-tests, the example project outside the package, run as its users run
it: `pytest` in its folder, in its own process (its pytest.ini serves the bundle and its own
site/ through the plugin). Its tests must all pass; its deliberately red test, run alone,
must fail with the page's own message."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from blazen_build.paths import DIST, ROOT

EXAMPLE = ROOT / "examples" / "playwright-tests"
TIMEOUT_S = 900


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    assert (DIST / "blazen.js").is_file(), "dist/ is not built"
    # A user's pytest has no hypothesis; its plugin is half of pytest's start-up here.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args]
    return subprocess.run(command, cwd=EXAMPLE, env=dict(os.environ), text=True,
                          capture_output=True, timeout=TIMEOUT_S, check=False)


def test_example_project_passes() -> None:
    out = run_example("-rs")
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    passed = re.search(r"(\d+) passed", out.stdout)
    assert passed, report
    assert int(passed.group(1)) >= 10, report
    assert not re.search(r"\d+ (failed|skipped|errors?)\b", out.stdout), report
    assert "test_red" not in out.stdout, "the red test is not collected by the normal run"


def test_example_red_test_fails_with_the_page_message() -> None:
    out = run_example("red/test_red.py")
    report = out.stdout + out.stderr
    assert out.returncode == 1, report
    assert "1 failed" in out.stdout, report
    assert "BlazenPageError" in out.stdout, report
    assert 'the approval must be {approved: boolean}, got "sure"' in out.stdout, report


def test_a_bad_mount_fails_the_session_naming_it() -> None:
    for mount, message in [("app=no-such-folder", "no-such-folder is not a folder"),
                           ("__blazen__=site", "is not PREFIX=DIR with a plain URL prefix"),
                           ("../up=site", "is not PREFIX=DIR with a plain URL prefix"),
                           ("site", "is not PREFIX=DIR")]:
        out = run_example("tests/test_workflow.py", "-k", "rejected", f"--blazen-mount={mount}")
        assert out.returncode == 1, out.stdout + out.stderr
        assert message in out.stdout, (mount, out.stdout)
