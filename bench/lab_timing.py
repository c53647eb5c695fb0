"""Where the JupyterLite lab's time goes, from opening a notebook to its first output.

    python -m bench.lab_timing [--runs N] [--notebook NAME] [--json FILE]

Opens a notebook of dist/lab/ (``python build.py lab``) in headless Chromium, waits for
its kernel, runs all cells and waits for the first output: in a fresh browser context
(cold) and then once more in the same context (warm: the HTTP cache is filled; the server
sends ``no-cache``, so files are revalidated). Every mark comes from the browser: the
page's own clock for the app's milestones, and the request log of the page and the
kernel's worker (Resource Timing, through Playwright) for the kernel's stages:

- ``app``: navigation to the notebook's first cell on screen (JupyterLab's own bundles);
- ``worker``: to the worker's first request of the runtime (pyodide.mjs);
- ``pyodide``: from there to the end of the stdlib zip's download plus Python's start,
  i.e. up to the first package request after it (the kernel's next step);
- ``kernel_packages``: the kernel's own packages (micropip, piplite, ipykernel, ipython
  and their dependencies), up to the kernel's status turning idle (when the lab's lock
  preloads them, their downloads start while Pyodide boots: then ``pyodide`` is short and
  this stage holds Python's start as well; compare ``open_to_idle``);
- ``run_to_output``: Run All to the first cell's output (it imports blazen_py; with the
  lab's lock that is a loadPackage of our wheel, unless it was preloaded);
- ``wheel``: of that, the download of our wheel, when it was fetched after Run All.

Each open also counts its requests and those that repeat an earlier URL of the same open.
Medians of ``--runs`` runs are printed (and written as JSON with ``--json``). Served on
127.0.0.1 only; a request to any other origin is an error.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from blazen_build.chromium import CHROMIUM_ARGS, find_chromium
from blazen_build.paths import DIST, DIST_LAB
from blazen_build.server import make_server, serving

TIMEOUT_MS = 240_000
KERNEL_IDLE_JS = """() =>
    document.querySelector('.jp-KernelStatus-success') !== null &&
    document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'"""
FIRST_OUTPUT_JS = """() => {
    const cell = document.querySelector('.jp-CodeCell');
    return cell !== null && cell.querySelector('.jp-OutputArea-output') !== null;
}"""
STAGES = ("app", "worker", "pyodide", "kernel_packages", "open_to_idle", "run_to_output", "wheel", "total")
COUNTS = ("requests", "repeated")


class Recorder:
    """Every request of one page and its workers: URL and when it started and ended, in
    ms on the wall clock (Resource Timing's startTime is ms since the epoch)."""

    def __init__(self, context: Any, base_url: str) -> None:
        self.base_url = base_url
        self.events: list[tuple[str, float, float]] = []
        self.foreign: list[str] = []
        context.on("requestfinished", self._finished)
        context.on("request", self._started)

    def _started(self, request: Any) -> None:
        if not request.url.startswith(self.base_url) and not request.url.startswith("data:"):
            self.foreign.append(request.url)

    def _finished(self, request: Any) -> None:
        timing = request.timing
        start = timing["startTime"]
        end = start + max(timing["responseEnd"], 0.0)
        self.events.append((request.url.removeprefix(self.base_url), start, end))

    def first(self, fragment: str) -> tuple[float, float] | None:
        """(start, end) of the first request whose path contains fragment."""
        hits = [(s, e) for url, s, e in self.events if fragment in url]
        return min(hits) if hits else None


def wall_ms() -> float:
    return time.time() * 1000.0


def open_and_run(page: Any, recorder: Recorder, url: str) -> dict[str, float]:
    """One open of the notebook: the stages of STAGES, in seconds."""
    recorder.events.clear()
    opened = wall_ms()
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=TIMEOUT_MS)
    app = wall_ms()
    page.wait_for_function(KERNEL_IDLE_JS, timeout=TIMEOUT_MS, polling=20)
    idle = wall_ms()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator('[data-command="runmenu:run-all"]').click()
    clicked = wall_ms()
    page.wait_for_function(FIRST_OUTPUT_JS, timeout=TIMEOUT_MS, polling=20)
    output = wall_ms()
    page.wait_for_timeout(300)  # let the last requestfinished events arrive
    runtime = recorder.first("pyodide/pyodide.mjs")
    stdlib = recorder.first("pyodide/python_stdlib.zip")
    after_boot = [s for u, s, _ in recorder.events if u.endswith(".whl") and stdlib and s >= stdlib[1]]
    wheel = recorder.first("blazen_py-")
    stages = {
        "app": app - opened,
        "worker": (runtime[0] - opened) if runtime else float("nan"),
        "pyodide": (min(after_boot) - runtime[0]) if runtime and after_boot else float("nan"),
        "kernel_packages": (idle - min(after_boot)) if after_boot else float("nan"),
        "open_to_idle": idle - opened,
        "run_to_output": output - clicked,
        "wheel": (wheel[1] - wheel[0]) if wheel and wheel[0] >= clicked - 50 else 0.0,
        "total": output - opened,
    }
    seconds = {name: value / 1000.0 for name, value in stages.items()}
    urls = [url for url, _, _ in recorder.events]
    # counts, not seconds: how many requests the open made, and how many repeated one
    return {**seconds, "requests": len(urls), "repeated": len(urls) - len(set(urls))}


def measure(browser: Any, base_url: str, notebook: str) -> dict[str, dict[str, float]]:
    """Cold (a fresh context) and warm (a second page in the same context) opens."""
    context = browser.new_context()
    recorder = Recorder(context, base_url)
    url = f"{base_url}lab/notebooks/index.html?path={notebook}"
    try:
        cold = open_and_run(context.new_page(), recorder, url)
        warm = open_and_run(context.new_page(), recorder, url)
    finally:
        context.close()
    if recorder.foreign:
        raise RuntimeError(f"requests left 127.0.0.1: {sorted(set(recorder.foreign))}")
    return {"cold": cold, "warm": warm}


def medians(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per kind of open (cold, warm), the median of every stage and count over the runs."""

    def median(kind: str, stage: str) -> float:
        return round(statistics.median(run[kind][stage] for run in runs), 2)

    return {kind: {stage: median(kind, stage) for stage in STAGES + COUNTS} for kind in ("cold", "warm")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--notebook", default="spec_examples.ipynb")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not (DIST_LAB / "jupyter-lite.json").is_file():
        print("dist/lab/ is not built: run `python build.py lab`", file=sys.stderr)
        return 2
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium: set BLAZEN_CHROMIUM", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    runs: list[dict[str, dict[str, float]]] = []
    with serving(make_server(DIST, 0)) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            for index in range(args.runs):
                runs.append(measure(browser, base_url, args.notebook))
                print(f"[lab-timing] run {index + 1}: {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
        finally:
            browser.close()
    result = {"notebook": args.notebook, "runs": runs, "median": medians(runs)}
    print(f"{'stage (s, median of ' + str(args.runs) + ')':<28}{'cold':>8}{'warm':>8}")
    for stage in STAGES + COUNTS:
        print(f"{stage:<28}{result['median']['cold'][stage]:>8.2f}{result['median']['warm'][stage]:>8.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
