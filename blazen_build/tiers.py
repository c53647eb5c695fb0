"""`python build.py test`: set up what the tests need, then run each tier as its own
pytest process and sum up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from blazen_build.chromium import ensure_chromium
from blazen_build.common import log
from blazen_build.lab import build_lab
from blazen_build.npm import ensure_node
from blazen_build.paths import CACHE, ROOT
from blazen_build.postgres import URL_VARIABLE, TestCluster, ensure_postgres
from blazen_build.pypi import ensure_wheels
from blazen_build.virtualenvs import ensure_bench_venv, ensure_pytest_pyodide_venv, ensure_venv

# Each tier is the folder tests/<tier>, run in this order as its own pytest process; a tier
# that fails or collects no test fails the run. A new tier: its folder and its name here.
TIERS = ("python", "pyodide", "browser")
# Pure wheels installed into Pyodide by the test harness only (never part of dist/).
TEST_WHEELS: dict[str, str] = {
    "pytest": "9.1.1",
    "pluggy": "1.7.0",
    "iniconfig": "2.3.1",
    "packaging": "26.3",
    "pygments": "2.21.0",
}
# pytest's last line: "=== 3 passed, 1 skipped in 2.01s ===", or bare with -q.
_OUTCOME = r"passed|failed|skipped|deselected|errors?|xfailed|xpassed|warnings?|no tests ran"
SUMMARY_RE = re.compile(rf"^(?:=+ )?(\d+ (?:{_OUTCOME})\b.*\bin \d[\d.]*s.*?)(?: =+)?$")


def tier_env(chromium: str) -> dict[str, str]:
    """Environment of the pytest processes."""
    env = {**os.environ, "BLAZEN_CHROMIUM": chromium, "PYTHONPYCACHEPREFIX": str(CACHE / "pycache")}
    env.pop("PYTHONPATH", None)
    return env


def named_tests(extra: Sequence[str]) -> list[str]:
    """The test files or directories (``path`` or ``path::test``) named in pytest's ``extra``
    arguments: those that exist under tests/ (an option's value is not taken for one)."""
    tests = (ROOT / "tests").resolve()
    named = []
    for arg in extra:
        if arg.startswith("-"):
            continue
        path = (ROOT / arg.split("::")[0]).resolve()
        if path.exists() and path.is_relative_to(tests):
            named.append(arg)
    return named


def _in_tier(tier: str, arg: str) -> bool:
    return (ROOT / arg.split("::")[0]).resolve().is_relative_to((ROOT / "tests" / tier).resolve())


# The browser tier runs its files on two pytest-xdist workers (one file per worker at a
# time, so a file's module fixtures stay shared): its tests mostly wait on a page, and two
# at once took its 20 min to under 16 on this 2-core machine. The other tiers are CPU-bound.
PARALLEL = {"browser": ["-n", "2", "--dist", "loadfile"]}


def tier_arguments(tier: str, extra: Sequence[str]) -> list[str]:
    """pytest's arguments for ``tier``: its folder (with its ``PARALLEL`` options), unless
    ``extra`` names tests itself (then only those run, in one process, so
    ``-- tests/python/test_x.py`` does not run the whole tier too)."""
    return [*extra] if named_tests(extra) else [f"tests/{tier}", *PARALLEL.get(tier, []), *extra]


def run_tier(python: Path, tier: str, extra: Sequence[str], env: Mapping[str, str]) -> tuple[int, str, float]:
    """Run one tier as its own pytest process; return (exit code, summary line, seconds)."""
    print(f"\n{'=' * 24} tier: {tier} {'=' * 24}", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        [str(python), "-m", "pytest", *tier_arguments(tier, extra)],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    summary = ""
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        match = SUMMARY_RE.match(line.strip())
        if match:
            summary = match.group(1)
    code = process.wait()
    return code, summary or "(no pytest summary line)", time.monotonic() - started


def report(results: Mapping[str, tuple[int, str, float]], setup_seconds: float) -> bool:
    """Print the final summary of all tiers; True when every tier passed."""
    print(f"\n{'=' * 24} blazen_py test summary {'=' * 24}")
    print(f"set-up and build: {setup_seconds:.1f} s")
    ok = True
    for tier, (code, summary, seconds) in results.items():
        verdict = "PASS" if code == 0 else f"FAIL (exit {code})"
        if code == 5:
            verdict = "FAIL (no tests collected)"
        ok = ok and code == 0
        print(f"{tier:>8}: {verdict:<26} {summary}  [{seconds:.1f} s]")
    print("ALL TIERS PASSED" if ok else "SOME TIERS FAILED")
    totals = count_outcomes(summary for _, summary, _ in results.values())
    # a tier that failed without failing a test (no tests, crash) still counts as a failure
    totals["failed"] += sum(
        1 for code, summary, _ in results.values() if code != 0 and not count_outcomes([summary])["failed"]
    )
    print(
        f"total: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped",
        flush=True,
    )
    return ok


def count_outcomes(summaries: Iterable[str]) -> dict[str, int]:
    """Add up passed/failed/skipped over pytest summary lines (errors count as failed)."""
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for summary in summaries:
        for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)\b", summary):
            totals["failed" if word.startswith("error") else word] += int(number)
    return totals


def test(tiers: Sequence[str], extra: Sequence[str]) -> int:
    """Set up everything the tests need, build dist/, run the tiers; return the exit code.

    Each set-up step is cached and logs what it does. A step a new tier needs (a service
    such as a database) goes in here, in its own module like chromium.py, and tells the
    tests what they need to know through tier_env()."""
    started = time.monotonic()
    named = named_tests(extra)
    if named:  # run only the tiers whose folder holds the named tests
        tiers = [t for t in tiers if any(_in_tier(t, arg) for arg in named)] or list(tiers)
    python = ensure_venv()
    ensure_bench_venv()  # the benchmarks' smoke tests run the peers too
    pytest_pyodide = ensure_pytest_pyodide_venv()  # the docs' pytest-pyodide recipe is run
    ensure_node()
    chromium = ensure_chromium()
    build_lab()
    ensure_wheels(TEST_WHEELS)
    setup_seconds = time.monotonic() - started
    log(f"set-up done in {setup_seconds:.1f} s (chromium: {chromium}); running tiers: {', '.join(tiers)}")
    env = tier_env(chromium)
    env["BLAZEN_PYTEST_PYODIDE_PYTHON"] = str(pytest_pyodide)
    # The server tests run on SQLite always, and on this throwaway Postgres as well
    # (they read its URL from the environment and skip, saying why, without it).
    cluster = None
    if "python" in tiers and not env.get(URL_VARIABLE):
        bin_dir = ensure_postgres()
        if bin_dir is not None:
            cluster = TestCluster(bin_dir)
            env[URL_VARIABLE] = cluster.start()
    try:
        results = {tier: run_tier(python, tier, extra, env) for tier in tiers}
    finally:
        if cluster is not None:
            cluster.stop()
    return 0 if report(results, setup_seconds) else 1
