"""Run every benchmark and write bench/RESULTS.md; ``python build.py bench`` calls this.

    python -m bench.run [--quick] [--out FILE] [--bench-python PY] [--only PART ...]
    python -m bench.run --only cold      (only the browser part's cold starts)
    python -m bench.run --from-json .cache/bench/last-results.json   (re-render only)

Parts, each measured in this one run:

- ``cpython``: blazen_py against llama-index-workflows (``bench/cpython.py``, run by the
  bench virtualenv's Python, which has the peer installed);
- ``node``: blazen_py's Python-step workloads in Pyodide on Node (``bench/node_pyodide.mjs``);
- ``browser``: in headless Chromium, on the bench server (dist/ at ``/``, ``bench/`` at
  ``/bench/``, @llama-flow/core's browser build at ``/bench/vendor/``): Python-step
  workloads, JS-step workloads on blazen.js and @llama-flow/core in the same page,
  snapshots with IndexedDB, the memory soak, and cold starts in fresh contexts;
- ``cold``: only those cold starts (not a part of its own: ``browser`` includes them).

Needs Playwright (the test virtualenv has it) and a Chromium (``BLAZEN_CHROMIUM`` or one
on PATH). Everything is served on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import blazen_build.chromium
from blazen_build.chromium import find_chromium
from blazen_build.common import BuildError
from blazen_build.npm import ensure_node
from blazen_build.paths import CACHE, DIST, DIST_PYODIDE, NODE_MODULES, ROOT
from blazen_build.server import make_server, serving
from blazen_build.wheel import version

BENCH = ROOT / "bench"
RESULTS = BENCH / "RESULTS.md"
LAST_JSON = CACHE / "bench" / "last-results.json"
VENDOR = CACHE / "bench" / "vendor"
LLAMA_FLOW = NODE_MODULES / "@llama-flow" / "core"
PARTS = ("cpython", "node", "browser", "server")
# `--only cold`: the browser part's cold starts alone (a full run never names it).
COLD_ONLY = "cold"

SIZES_FULL = {"loop": 1000, "fanout_small": 1000, "fanout_large": 10_000, "chain": 1000}
SIZES_QUICK = {"loop": 50, "fanout_small": 20, "fanout_large": 200, "chain": 20}
COMPOSITION_FULL = {"collect_small": 1000, "collect_large": 10_000, "map_small": 1000, "map_large": 10_000}
COMPOSITION_QUICK = {"collect_small": 20, "collect_large": 200, "map_small": 10, "map_large": 100}
FULL: dict[str, Any] = {
    "sizes": SIZES_FULL,
    "composition": COMPOSITION_FULL,
    "runs": 9,
    # Chromium's timings of a few ms are the noisiest (timer at 0.1 ms, the browser's own
    # processes on 2 cores): more runs there, where they cost little.
    "browser_runs": 15,
    # Section 1b's CPython pair, measured once more on its own (see bench/cpython.py).
    "design_runs": 51,
    "warmup": 1,
    "profile": ["loop", "loop_suspend"],
    # llama-index-workflows' fan-out is quadratic: one run at 10,000 would take minutes.
    "peer_max_events": 5000,
    "snapshot_sizes": [1_000, 100_000, 1_000_000],
    "soak": {"runs": 10_000, "warmup": 200},
    "cold_starts": 7,
    "server": {"runs": 1000, "clients": 16, "concurrency": 16},
    "responsiveness": {"events": 100_000, "suspensions": 20_000},
}
QUICK: dict[str, Any] = {
    "sizes": SIZES_QUICK,
    "composition": COMPOSITION_QUICK,
    "runs": 3,
    "warmup": 1,
    "profile": ["loop"],
    "peer_max_events": 5000,
    "snapshot_sizes": [1_000, 10_000],
    "soak": {"runs": 100, "warmup": 10},
    "cold_starts": 1,
    "server": {"runs": 20, "clients": 4, "concurrency": 4},
    "responsiveness": {"events": 5_000, "suspensions": 1_000},
}
# The soak needs gc() and exact JS heap sizes on top of the usual quiet flags.
CHROMIUM_ARGS = [
    *blazen_build.chromium.CHROMIUM_ARGS,
    "--enable-precise-memory-info",
    "--js-flags=--expose-gc",
]
PAGE_TIMEOUT_MS = 600_000


class BenchError(RuntimeError):
    """A benchmark part failed; the message says which and why."""


def log(message: str) -> None:
    """One progress line on stderr."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- machine and versions


def machine_info() -> dict[str, str]:
    """CPU model, core count, memory and OS of this machine."""
    cpu = platform.processor() or platform.machine()
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": memory, "os": os_name}


def git_state() -> str:
    """The commit measured, and whether the engine's or the bridge's files differed from it."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "blazen_py", "web")
    return f"git {commit}" + (" plus uncommitted changes in blazen_py/ or web/" if dirty else "")


def llama_flow_version() -> str:
    """Version of the installed @llama-flow/core."""
    return str(json.loads((LLAMA_FLOW / "package.json").read_text())["version"])


def prepare_vendor() -> Path:
    """Copy @llama-flow/core's browser build into the bench-only folder served at
    /bench/vendor/ (never into dist/)."""
    source = LLAMA_FLOW / "dist" / "browser"
    if not (source / "index.js").is_file():
        raise BenchError(f"{source}/index.js is missing: run `npm ci` (package.json lists @llama-flow/core)")
    target = VENDOR / "llama-flow-core"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("index.js", "index.js.map"):
        shutil.copy2(source / name, target / name)
    shutil.copy2(LLAMA_FLOW / "LICENSE", target / "LICENSE")
    return VENDOR


# --------------------------------------------------------------------------- the parts


def last_json_line(text: str, what: str) -> Any:
    """The JSON object on the last line of a child's stdout."""
    lines = [line for line in text.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"{what} printed no JSON result")
    return json.loads(lines[-1])


def run_child(cmd: Sequence[str], what: str, env: Mapping[str, str] | None = None) -> Any:
    """Run a benchmark child process; return its JSON result."""
    process = subprocess.run(
        list(cmd), cwd=ROOT, capture_output=True, text=True, env=dict(env or os.environ), check=False
    )
    if process.returncode != 0:
        raise BenchError(f"{what} failed (exit {process.returncode}):\n{process.stderr[-4000:]}")
    return last_json_line(process.stdout, what)


def run_cpython(config: Mapping[str, Any], python: str) -> dict[str, Any]:
    """blazen_py and llama-index-workflows on CPython, in ``python`` (the bench venv's)."""
    log(f"CPython: {python}")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(CACHE / "pycache")}
    result: dict[str, Any] = run_child(
        [python, "-m", "bench.cpython", json.dumps(config)], "bench/cpython.py", env
    )
    return result


def run_server(config: Mapping[str, Any]) -> dict[str, Any]:
    """Short runs through blazen_py.server's HTTP service (DBOS on SQLite) and in-process,
    in this Python (.venv has the server extra)."""
    log("blazen_py.server on SQLite")
    sizes = config["server"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(CACHE / "pycache")}
    args = ["--runs", str(sizes["runs"]), "--clients", str(sizes["clients"])]
    args += ["--concurrency", str(sizes["concurrency"])]
    result: dict[str, Any] = run_child(
        [sys.executable, "-m", "bench.server_load", *args], "bench/server_load.py", env
    )
    return result


def run_node(config: Mapping[str, Any]) -> dict[str, Any]:
    """blazen_py's Python-step workloads in Pyodide on Node, booted from dist/."""
    log("Pyodide on Node")
    node = ensure_node()
    script = BENCH / "node_pyodide.mjs"
    result: dict[str, Any] = run_child(
        [node, str(script), str(DIST_PYODIDE), json.dumps(config)], "bench/node_pyodide.mjs"
    )
    return result


@contextmanager
def bench_server() -> Iterator[str]:
    """dist/ at /, bench/ at /bench/, the vendored peer at /bench/vendor/, the hinted cold
    page at /bench/cold/, on 127.0.0.1."""
    mounts = {"/bench/vendor/": prepare_vendor(), "/bench/cold/": prepare_cold_page(), "/bench/": BENCH}
    with serving(make_server(DIST, 0, mounts=mounts, precompressed=True)) as url:  # as `serve` sends it
        yield url


# The cold-start pages: bare Pyodide, and blazen.js booting without / with the memory snapshot.
# The snapshot's page carries the build's preload hints, as a page of one's own would (the
# docs tell users to include dist/preload-hints.html); the page without the snapshot does not
# (its hints would preload the snapshot's files for nothing). "snapshot_plain" is the
# snapshot's page without the hints: what they gain, side by side.
COLD_PAGES = {
    "pyodide": "web/cold_pyodide.html",
    "blazen": "web/cold_blazen.html?snapshot=0",
    "snapshot": "cold/cold_blazen.html",
    "snapshot_plain": "web/cold_blazen.html",
}
SNAPSHOT_PAGES = ("snapshot", "snapshot_plain")
SNAPSHOT_CACHE = "blazen-py-snapshot"
HINTS_PLACE = "<!-- preload hints -->"


def prepare_cold_page() -> Path:
    """bench/web/cold_blazen.html with dist/preload-hints.html in its head (URLs from the
    site's root), in a bench-only folder; the folder."""
    hints = DIST / "preload-hints.html"
    if not hints.is_file():
        raise BenchError(f"{hints} is missing: run `python build.py`")
    page = (BENCH / "web" / "cold_blazen.html").read_text()
    if HINTS_PLACE not in page:
        raise BenchError(f"bench/web/cold_blazen.html has no {HINTS_PLACE} line")
    lines = hints.read_text().replace('href="./', 'href="/')
    target = CACHE / "bench" / "cold"
    target.mkdir(parents=True, exist_ok=True)
    (target / "cold_blazen.html").write_text(page.replace(HINTS_PLACE, lines.rstrip("\n")))
    return target


def cold_start(browser: Any, url: str, variant: str) -> dict[str, dict[str, Any]]:
    """Open ``url`` in a fresh browser context (first visit), then reload it; return the
    page's marks of both (ms since navigation start)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(url)
        first = cold_outcome(page, url, variant)
        if variant in SNAPSHOT_PAGES:
            # A real reload comes seconds later: let the decoded copy reach the Cache API first.
            page.wait_for_function(
                f"caches.open('{SNAPSHOT_CACHE}').then((c) => c.keys()).then((k) => k.length > 0)",
                timeout=30_000,
            )
        page.reload()
        again = cold_outcome(page, url, variant)
    finally:
        context.close()
    return {"first": first, "reload": again}


def cold_outcome(page: Any, url: str, variant: str) -> dict[str, Any]:
    """The marks one cold-start page left, checked: it worked, and booted the way asked."""
    page.wait_for_function("window.__cold !== undefined", timeout=PAGE_TIMEOUT_MS)
    outcome: dict[str, Any] = page.evaluate("window.__cold")
    if not outcome.get("ok"):
        raise BenchError(f"cold start of {url} failed: {outcome}")
    stages = [report["stage"] for report in outcome.get("stages", [])]
    if "fallback" in stages:
        raise BenchError(f"cold start of {url} did not use the memory snapshot: {outcome['stages']}")
    if variant != "pyodide" and ("snapshot" in stages) != (variant in SNAPSHOT_PAGES):
        raise BenchError(f"cold start of {url} booted the wrong way: {stages}")
    marks: dict[str, Any] = outcome["marks"]
    return marks


BROWSER_PARTS = ("page", "cold")


def browser_suite(
    browser: Any, config: Mapping[str, Any], parts: Sequence[str] = BROWSER_PARTS
) -> dict[str, Any]:
    """The Chromium ``parts`` in ``browser`` (a Playwright Browser): "page", the bench
    page's Python steps, JS steps, JS-step profile, snapshots and soak; then "cold", the
    cold starts in fresh contexts."""
    result: dict[str, Any] = {"chromium": browser.version}
    config = {**config, "runs": config.get("browser_runs", config["runs"])}
    with bench_server() as origin:
        if "page" in parts:
            result |= page_suite(browser, config, origin)
        if "cold" in parts:
            result["cold"] = cold_starts(browser, config, origin)
    return result


def page_suite(browser: Any, config: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """The parts measured in one bench page: everything but the cold starts."""
    result: dict[str, Any] = {}
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(origin + "bench/web/bench.html")
        page.wait_for_function("window.benchLoaded === true")
        log("Chromium: booting blazen.js")
        result["boot"] = page.evaluate("() => window.bench.boot()")
        log("Chromium: Python steps")
        result["python"] = page.evaluate("c => window.bench.pythonSuite(c)", dict(config))
        log("Chromium: responsiveness during long runs")
        result["responsiveness"] = page.evaluate(
            "c => window.bench.responsiveness(c)", dict(config["responsiveness"])
        )
        log("Chromium: JS steps (blazen.js, @llama-flow/core)")
        result["js"] = page.evaluate("c => window.bench.jsSuite(c)", dict(config))
        result["js_profiles"] = page.evaluate("c => window.bench.jsProfile(c)", dict(config))
        log("Chromium: snapshots")
        result["snapshots"] = page.evaluate("c => window.bench.snapshotSuite(c)", dict(config))
        log("Chromium: memory soak")
        result["soak"] = page.evaluate("c => window.bench.soak(c)", dict(config["soak"]))
    finally:
        context.close()
    if errors:
        raise BenchError(f"uncaught errors in the bench page: {errors}")
    return result


def cold_starts(browser: Any, config: Mapping[str, Any], origin: str) -> dict[str, list[dict[str, Any]]]:
    """Each cold-start page ``config["cold_starts"]`` times, the pages taking turns going first."""
    log("Chromium: cold starts (first visit, then reload)")
    cold: dict[str, list[dict[str, Any]]] = {variant: [] for variant in COLD_PAGES}
    variants = list(COLD_PAGES)
    for index in range(int(config["cold_starts"])):
        turn = index % len(variants)  # rotate which page goes first
        for variant in variants[turn:] + variants[:turn]:
            url = f"{origin}bench/{COLD_PAGES[variant]}"
            cold[variant].append(cold_start(browser, url, variant))
    return cold


def run_browser(config: Mapping[str, Any], chromium: str, cold_only: bool = False) -> dict[str, Any]:
    """:func:`browser_suite` in headless Chromium launched with ``gc()`` exposed and precise
    memory figures. The cold starts get a browser of their own, launched once the page
    suite's has closed: a first visit does not meet a browser that has just run minutes of
    benchmarks (in one that had, reloads measured ~50 ms slower on this machine)."""
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {}
    with sync_playwright() as playwright:
        for part in ("cold",) if cold_only else BROWSER_PARTS:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            try:
                result |= browser_suite(browser, config, (part,))
            finally:
                browser.close()
    return result


# --------------------------------------------------------------------------- numbers


def median(samples: Sequence[float]) -> float:
    """Median of the samples."""
    return float(statistics.median(samples))


def rate(record: Mapping[str, Any] | None) -> float | None:
    """Events per second of a record (median run), or None when there is none or no samples."""
    samples = (record or {}).get("samples") or []
    if not samples or record is None:
        return None
    middle = median(samples)
    if middle <= 0:  # under the timer's resolution (Chromium: 0.1 ms), as quick runs can be
        return None
    return float(record["events"]) / middle


def fmt_rate(value: float | None) -> str:
    """Events/s, rounded for reading."""
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def fmt_ms(seconds: float | None) -> str:
    """Milliseconds with a sensible number of digits."""
    if seconds is None:
        return "-"
    ms = seconds * 1000
    if ms >= 100:
        return f"{ms:,.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def fmt_ratio(ours: float | None, theirs: float | None) -> str:
    """ours / theirs as ``12.3x``."""
    if ours is None or theirs is None or theirs == 0:
        return "-"
    value = ours / theirs
    return f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x"


def fmt_bytes(count: float) -> str:
    """Bytes as KB/MB (powers of 1,000 for state sizes, MiB for memory)."""
    if abs(count) >= 1 << 20:
        return f"{count / (1 << 20):.1f} MiB"
    if abs(count) >= 1 << 10:
        return f"{count / (1 << 10):.1f} KiB"
    return f"{count:.0f} B"


def ms_stats(values: Sequence[float]) -> str:
    """``median | min | max`` of millisecond values, as table cells."""
    return f"{median(values):,.0f} | {min(values):,.0f} | {max(values):,.0f}"


def by_key(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """Records indexed by (name, engine)."""
    return {(str(r["name"]), str(r["engine"])): r for r in records}


def spread(record: Mapping[str, Any] | None) -> str:
    """``median (min-max)`` of a record's run times."""
    if not record or not record.get("samples"):
        return "-"
    samples = record["samples"]
    return f"{fmt_ms(median(samples))} ({fmt_ms(min(samples))}-{fmt_ms(max(samples))})"


# --------------------------------------------------------------------------- RESULTS.md

WORKLOAD_TITLES = {
    "loop": "ping-pong loop, steps not suspending",
    "loop_suspend": "ping-pong loop, each step awaits `asyncio.sleep(0)` once",
    "fanout_small": "fan-out then join",
    "fanout_large": "fan-out then join",
    "chain": "chain of distinct steps",
    "loop_suspend_old": "the same, previous design (a loop callback per suspension)",
    "loop_not_inlined": "the same, design before the pump's fast path (`runtime._INLINED` off)",
    "fanout_suspend": "fan-out then join, each worker awaits `asyncio.sleep(0)` once",
    "fanout_suspend_old": "the same, previous design (a loop callback per suspension)",
    "loop_suspend_fast": "the same, with `blazen_py.install_fast_loop()` (a no-op on CPython)",
}
SIZE_KEYS = {
    "loop_not_inlined": "loop",
    "loop_suspend": "loop",
    "loop_suspend_old": "loop",
    "loop_suspend_fast": "loop",
    "fanout_suspend": "fanout_small",
    "fanout_suspend_old": "fanout_small",
}
# Rows of Python steps, in table order; the "_old" rows run the previous design in the
# same process (blazen_py.runtime._BATCHED off), beside the rows they compare with, and
# "loop_not_inlined" the design before the pump's fast path (runtime._INLINED off).
PY_ROWS = (
    "loop",
    "loop_not_inlined",
    "loop_suspend",
    "loop_suspend_old",
    "loop_suspend_fast",
    "fanout_small",
    "fanout_large",
    "fanout_suspend",
    "fanout_suspend_old",
    "chain",
)


def per_event_us(record: Mapping[str, Any] | None) -> float | None:
    """Median microseconds per event of a record (None without samples)."""
    if not record or not record.get("samples"):
        return None
    return 1e6 * median(record["samples"]) / max(1, int(record["events"]))


def workload_label(name: str, sizes: Mapping[str, int]) -> str:
    """Human name of a workload with its size."""
    base = name.removesuffix("_sync").removesuffix("_async")
    size = sizes.get(SIZE_KEYS.get(base, base), 0)
    unit = "steps" if base == "chain" else "events"
    return f"{WORKLOAD_TITLES[base]} ({size:,} {unit})"


def profile_table(profile: Mapping[str, Any], limit: int = 10) -> list[str]:
    """A cProfile top as markdown lines."""
    per_event_us = 1e6 * float(profile["total_s"]) / max(1, int(profile["events"]))
    lines = [
        f"cProfile of `{profile['name']}` ({profile['events']:,} events under the profiler, "
        f"{per_event_us:.1f} µs of profiled time per event):",
        "",
        "| function | calls | own time | cumulative |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in profile["top"][:limit]:
        own, cumulative = fmt_ms(row["tottime"]), fmt_ms(row["cumtime"])
        lines.append(f"| `{row['function']}` | {row['calls']:,} | {own} | {cumulative} |")
    return lines


FLOOR = ("sleep_floor", "asyncio alone")
FAST_FLOOR = ("sleep_floor_fast", "asyncio alone")


def floor_row(label: str, records: Sequence[Mapping[tuple[str, str], Any]], columns: int) -> str:
    """A table row for the no-engine floor of the suspending loop, one pair of cells per
    runtime in ``records``, padded with ``columns`` empty cells."""
    cells = []
    for runtime in records:
        record = runtime.get(FLOOR)
        cells += [spread(record), fmt_rate(rate(record))]
    return f"| {label} | {' | '.join(cells + ['-'] * columns)} |"


def floor_note(record: Mapping[str, Any] | None, loop: Mapping[str, Any] | None) -> list[str]:
    """Why a suspending loop is bounded by the event loop: the floor measured alongside."""
    floor, ours = rate(record), rate(loop)
    if floor is None or ours is None:
        return []
    return [
        f"Each suspension is one trip through the event loop. With no engine at all, "
        f"`await asyncio.sleep(0)` alone runs at {fmt_rate(floor)} per second in this runtime "
        f"(same run), so a loop whose every step suspends once cannot exceed that; blazen_py "
        f"reaches {ours / floor:.0%} of it. In Pyodide each trip is a JS task scheduled through "
        "a one-shot proxy (`webloop.call_later` + `create_once_callable` below).",
        "",
    ]


class Report:
    """Builds RESULTS.md from the parts' results and records each target's verdict."""

    def __init__(self, results: Mapping[str, Any], config: Mapping[str, Any], quick: bool) -> None:
        self.results = results
        self.config = config
        self.quick = quick
        self.sizes: Mapping[str, int] = config["sizes"]
        self.lines: list[str] = []
        self.targets: list[tuple[str, str, bool | None, list[str]]] = []

    def composition_rows(self, records: Mapping[Any, Any]) -> None:
        """Fan-in (collect_events) and map bookkeeping: per-event cost at two sizes; O(N)
        means the larger size costs within 20% per event of the smaller."""
        pairs = [("fan-in via `ctx.collect_events`", "collect"), ("map step bookkeeping", "map")]
        rows = []
        for title, key in pairs:
            small = records.get((f"{key}_small", "blazen_py"))
            large = records.get((f"{key}_large", "blazen_py"))
            a, b = per_event_us(small), per_event_us(large)
            if a is None or b is None or small is None or large is None:
                continue
            ratio = b / a
            verdict = "O(N): yes" if ratio <= 1.2 else "O(N): NO (over 20%)"
            rows.append(
                f"| {title} | {small['events']:,}: {a:,.1f} µs | {large['events']:,}: {b:,.1f} µs "
                f"| {ratio:.2f} | {verdict} |"
            )
        if rows:
            self.add(
                "",
                "Composition bookkeeping, per event (median run; events: fan-in of N = 1 split + N joins, "
                "map of N = 2 steps + N child runs):",
                "",
                "| workload | small | large | large/small | |",
                "| --- | ---: | ---: | ---: | --- |",
                *rows,
                "",
            )

    def add(self, *lines: str) -> None:
        """Append markdown lines."""
        self.lines.extend(lines)

    def target(self, name: str, measured: str, met: bool | None, why: Sequence[str] = ()) -> None:
        """Record a target: None means it could not be judged in this run (or a quick run)."""
        if self.quick:
            met, why = None, ()
        self.targets.append((name, measured, met, list(why)))

    # -- sections -----------------------------------------------------------------------------

    def header(self) -> None:
        machine = machine_info()
        results = self.results
        cpython = results.get("cpython", {})
        node = results.get("node", {})
        browser = results.get("browser", {})
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        mode = "quick (tiny sizes: numbers are not meaningful)" if self.quick else "full"
        self.add(
            "# blazen_py benchmarks",
            "",
            f"Written by `python build.py bench{' --quick' if self.quick else ''}` on {now} ({mode}); "
            "do not edit by hand.",
            "",
            "## Machine",
            "",
            "| cpu | cores | memory | OS |",
            "| --- | --- | --- | --- |",
            f"| {machine['cpu']} | {machine['cores']} | {machine['memory']} | {machine['os']} |",
            "",
            "## Versions",
            "",
            "| component | version |",
            "| --- | --- |",
            f"| blazen_py | {version()} ({results.get('git', 'git state not recorded')}) |",
            f"| CPython (bench virtualenv) | {cpython.get('python', '-')} |",
            f"| Pyodide | {node.get('pyodide') or browser.get('boot', {}).get('pyodide', '-')} "
            f"(Python {node.get('python') or browser.get('boot', {}).get('python', '-')}) |",
            f"| Node.js | {node.get('node', '-')} |",
            f"| Chromium (headless) | {browser.get('chromium', '-')} |",
            f"| llama-index-workflows | {cpython.get('peers', {}).get('llama-index-workflows') or '-'} |",
            f"| @llama-flow/core | {llama_flow_version()} |",
            "",
            "## Method",
            "",
            "- One *event* is one step invocation: a loop of N events runs N steps, a fan-out of N "
            "runs 1 split + N workers + N joins (2N + 1), a chain of N steps runs N.",
            f"- Each cell is the median of {self.config['runs']} timed runs (in Chromium "
            f"{self.config.get('browser_runs', self.config['runs'])}) after {self.config['warmup']} "
            "warm-up run(s), with (min-max); the engines of one row run interleaved, run by run, "
            "in the same process or page, so machine noise hits them alike, and the rows of a table "
            "take turns, run by run, so a burst of noise spreads over all of them. A garbage "
            "collection precedes every timed run.",
            "- *ratio* = blazen events/s ÷ peer events/s, from the same run.",
            "- Steps are `async` functions that return at once (unless the row says they suspend); "
            "joins count the answers in the run's state (blazen_py `ctx.set`, llama-index "
            "`ctx.store`) or, for JS steps, in a closure reset per run (both JS engines alike).",
            "- Timers: `time.perf_counter` (Python) and `performance.now` (JS; Chromium coarsens it to "
            "0.1 ms). The machine is shared with other work, so expect noise of 10-30%.",
            "",
        )

    def cpython(self) -> None:
        data = self.results.get("cpython")
        if not data:
            return
        peer = "llama-index-workflows"
        records = by_key(data["records"])
        skipped = {s["name"] for s in data.get("skipped", [])}
        self.add(
            "## 1. CPython, Python steps: blazen_py vs llama-index-workflows",
            "",
            f"| workload | blazen_py | events/s | {peer} | events/s | ratio |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        )
        for name in PY_ROWS:
            ours, theirs = records.get((name, "blazen_py")), records.get((name, peer))
            if name in skipped:
                small = records.get(("fanout_small", peer))
                guess = ""
                if small and small.get("samples"):
                    factor = (self.sizes[name] / self.sizes["fanout_small"]) ** 2
                    minutes = median(small["samples"]) * factor / 60
                    guess = f" (~{minutes:,.0f} min per run extrapolated, quadratic)"
                peer_cell, peer_rate = f"not run{guess}", "-"
            else:
                peer_cell, peer_rate = spread(theirs), fmt_rate(rate(theirs))
            self.add(
                f"| {workload_label(name, self.sizes)} | {spread(ours)} | {fmt_rate(rate(ours))} "
                f"| {peer_cell} | {peer_rate} | {fmt_ratio(rate(ours), rate(theirs))} |"
            )
        if FLOOR in records:
            label = f"floor: {self.sizes['loop']:,} bare `await asyncio.sleep(0)`, no engine"
            self.add(floor_row(label, [records], 3))
        self.add("")
        self.composition_rows(records)
        loop, suspend = records.get(("loop", "blazen_py")), records.get(("loop_suspend", "blazen_py"))
        profiles = {p["name"]: p for p in data.get("profiles", [])}
        for record, floor, label in (
            (loop, 400_000, "not suspending"),
            (suspend, 120_000, "suspending once"),
        ):
            if record is None:
                continue
            value = rate(record) or 0.0
            why: list[str] = []
            if value < floor:
                if record["name"] == "loop_suspend":
                    why += floor_note(records.get(FLOOR), record)
                if record["name"] in profiles:
                    why += profile_table(profiles[record["name"]])
            self.target(
                f"CPython loop, {label}: >= {floor:,} events/s",
                f"{fmt_rate(value)} events/s",
                value >= floor,
                why,
            )
            theirs = records.get((record["name"], peer))
            if theirs is not None:
                peer_rate = rate(theirs) or 1.0
                ratio = value / peer_rate
                why = []
                if ratio < 100 and record["name"] == "loop_suspend":
                    floor_rate = rate(records.get(FLOOR))
                    if floor_rate is not None:
                        why.append(
                            f"With every step suspending once, even a zero-cost engine could reach at most "
                            f"{floor_rate / peer_rate:,.0f}x here: bare `asyncio.sleep(0)` alone runs at "
                            f"{fmt_rate(floor_rate)} per second. blazen_py reaches "
                            f"{value / floor_rate:.0%} of that floor."
                        )
                        why.append("")
                    if record["name"] in profiles:
                        why += profile_table(profiles[record["name"]])
                self.target(
                    f"CPython loop, {label}: >= 100x llama-index-workflows",
                    f"{ratio:,.0f}x ({fmt_rate(rate(theirs))} events/s)",
                    ratio >= 100,
                    why,
                )
        self.linearity("CPython, Python steps", records, "blazen_py")

    def linearity(
        self, where: str, records: Mapping[tuple[str, str], Any], engine: str, suffix: str = ""
    ) -> None:
        """The fan-out linearity target for one runtime."""
        small, large = (
            records.get(("fanout_small" + suffix, engine)),
            records.get(("fanout_large" + suffix, engine)),
        )
        if not small or not large or not small.get("samples") or not large.get("samples"):
            return
        a, b = rate(small) or 0.0, rate(large) or 0.0
        gap = abs(a - b) / max(a, b)
        best_a = float(small["events"]) / min(small["samples"])
        best_b = float(large["events"]) / min(large["samples"])
        best_gap = abs(best_a - best_b) / max(best_a, best_b)
        n1, n2 = float(small["events"]), float(large["events"])
        t1, t2 = median(small["samples"]), median(large["samples"])
        per_event = (t2 - t1) / (n2 - n1)
        fixed = t1 - n1 * per_event
        if b > a:
            verdict = (
                f" The larger run is the cheaper one per event: fitting time = fixed + N x per-event "
                f"to the two medians gives {fmt_ms(fixed)} fixed per run and {1e6 * per_event:.1f} µs "
                "per event: a cost that does not grow with N weighs more on the smaller run. Nothing "
                "here grows faster than N."
            )
        elif best_gap <= 0.20:
            verdict = (
                " The work per event is the same at both sizes; the medians drifted apart with the "
                "machine's load during this run (see the min-max spread in the table)."
            )
        else:
            verdict = " The cost per event grows with the number of events."
        why = [
            f"Fastest runs: {fmt_rate(best_a)} vs {fmt_rate(best_b)} events/s ({best_gap:.0%} apart)."
            + verdict
        ]
        self.target(
            f"fan-out linear ({where}): {self.sizes['fanout_small']:,} vs {self.sizes['fanout_large']:,} "
            "within 20%",
            f"{fmt_rate(a)} vs {fmt_rate(b)} events/s ({gap:.0%} apart)",
            gap <= 0.20,
            why,
        )

    def inlining(self) -> None:
        """The non-suspending loop with the pump's fast path against the design before it,
        measured in the same process run by run interleaved, in every runtime."""
        runtimes = (
            ("CPython", self.results.get("cpython")),
            ("Pyodide, Node", self.results.get("node")),
            ("Pyodide, Chromium", self.results.get("browser", {}).get("python")),
        )
        present = [(where, by_key(data.get("design") or data["records"])) for where, data in runtimes if data]
        if not present:
            return
        rounds = self.config.get("design_runs", self.config["runs"])  # as bench/cpython.py
        self.add(
            "## 1b. CPython ping-pong loop: inlined vs current design, same process",
            "",
            f"The {self.sizes['loop']:,}-event loop of steps not suspending. `inlined`: an event "
            "routed to one plain step is invoked, checked and produced in the pump's own frame; "
            "`current design`: every event through `_invoke`/`_deliver`/`produce` "
            "(`blazen_py.runtime._INLINED` off), run by run interleaved with it. On CPython the "
            f"pair is measured again on its own before the suite, {rounds} "
            "rounds (its ~2 ms samples, nine among the suite's, moved the ratio 0.95-1.32x from "
            "run to run on this machine, and after the suite 1.23-1.38x: each run's "
            "collection then sweeps the suite's heap); the Pyodide rows are those of section 2a.",
            "",
            "| runtime | inlined | events/s | current design | events/s | ratio |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        )
        for where, records in present:
            new, old = records.get(("loop", "blazen_py")), records.get(("loop_not_inlined", "blazen_py"))
            self.add(
                f"| {where} | {spread(new)} | {fmt_rate(rate(new))} | {spread(old)} "
                f"| {fmt_rate(rate(old))} | {fmt_ratio(rate(new), rate(old))} |"
            )
        self.add("")
        cpython = dict(present).get("CPython")
        if cpython is None:
            return
        new = rate(cpython.get(("loop", "blazen_py")))
        old = rate(cpython.get(("loop_not_inlined", "blazen_py")))
        self.target(
            "CPython loop, not suspending: >= 1.3x the current design in the same process",
            f"{fmt_ratio(new, old)} ({fmt_rate(new)} vs {fmt_rate(old)} events/s)",
            new is not None and old is not None and new >= 1.3 * old,
        )

    def pyodide_python(self) -> None:
        node = self.results.get("node")
        page = self.results.get("browser", {}).get("python")
        if not node and not page:
            return
        node_records = by_key(node["records"]) if node else {}
        page_records = by_key(page["records"]) if page else {}
        self.add(
            "## 2a. Pyodide, Python steps: blazen_py in Node and in Chromium",
            "",
            "| workload | Node | events/s | Chromium | events/s |",
            "| --- | ---: | ---: | ---: | ---: |",
        )
        for name in PY_ROWS:
            a, b = node_records.get((name, "blazen_py")), page_records.get((name, "blazen_py"))
            self.add(
                f"| {workload_label(name, self.sizes)} | {spread(a)} | {fmt_rate(rate(a))} "
                f"| {spread(b)} | {fmt_rate(rate(b))} |"
            )
        if FLOOR in node_records or FLOOR in page_records:
            label = f"floor: {self.sizes['loop']:,} bare `await asyncio.sleep(0)`, no engine"
            self.add(floor_row(label, [node_records, page_records], 0))
        self.add(
            "",
            "llama-index-workflows inside Pyodide is not measured here (it needs pydantic-core "
            "built for Pyodide); `shared/notes/pyodide-offline.md` measured it on this kind of "
            "machine at ~960 events/s for the 1,000-event loop on Node.",
            "",
        )
        for runtime, data, records in (("Node", node, node_records), ("Chromium", page, page_records)):
            if not data:
                continue
            profiles = {p["name"]: p for p in data.get("profiles", [])}
            for name, floor, label in (
                ("loop", 150_000, "not suspending"),
                ("loop_suspend", 25_000, "suspending once"),
            ):
                record = records.get((name, "blazen_py"))
                if record is None:
                    continue
                value = rate(record) or 0.0
                why: list[str] = []
                if value < floor:
                    if name == "loop_suspend":
                        why += floor_note(records.get(FLOOR), record)
                    if name in profiles:
                        why += profile_table(profiles[name])
                self.target(
                    f"Pyodide ({runtime}) loop, {label}: >= {floor:,} events/s",
                    f"{fmt_rate(value)} events/s",
                    value >= floor,
                    why,
                )
            self.linearity(f"Pyodide {runtime}, Python steps", records, "blazen_py")

    def batching(self) -> None:
        """Suspending rows against the previous design and the bare `sleep(0)` floor of the
        same run, in every runtime."""
        runtimes = (
            ("CPython", self.results.get("cpython")),
            ("Pyodide, Node", self.results.get("node")),
            ("Pyodide, Chromium", self.results.get("browser", {}).get("python")),
        )
        present = [(where, by_key(data.get("design") or data["records"])) for where, data in runtimes if data]
        if not present:
            return
        fan = self.sizes["fanout_small"]
        self.add(
            "## 2c. Suspending steps: parked flights continued in one batch",
            "",
            "Each row is measured in the same process as its peers: `previous` runs the dispatcher "
            "with one loop callback per suspension (`blazen_py.runtime._BATCHED` off); the floor is "
            f"{self.sizes['loop']:,} bare `await asyncio.sleep(0)` with no engine.",
            "",
            f"| runtime | loop, suspending | previous | new/previous | `sleep(0)` floor | loop/floor "
            f"| fan-out of {fan:,} suspending workers | previous | new/previous |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        )
        for where, records in present:
            new, old = (
                records.get(("loop_suspend", "blazen_py")),
                records.get(("loop_suspend_old", "blazen_py")),
            )
            fnew, fold = (
                records.get(("fanout_suspend", "blazen_py")),
                records.get(("fanout_suspend_old", "blazen_py")),
            )
            floor = records.get(FLOOR)
            self.add(
                f"| {where} | {fmt_rate(rate(new))} | {fmt_rate(rate(old))} "
                f"| {fmt_ratio(rate(new), rate(old))} "
                f"| {fmt_rate(rate(floor))} | {fmt_ratio(rate(new), rate(floor))} | {fmt_rate(rate(fnew))} "
                f"| {fmt_rate(rate(fold))} | {fmt_ratio(rate(fnew), rate(fold))} |"
            )
        self.add("")
        self.fast_loop(present)
        chromium = dict(present).get("Pyodide, Chromium")
        if chromium is None:
            return
        value = rate(chromium.get(("loop_suspend", "blazen_py"))) or 0.0
        floor = rate(chromium.get(FLOOR)) or 0.0
        self.target(
            "Chromium loop, suspending once: >= 100,000 events/s",
            f"{fmt_rate(value)} events/s",
            value >= 100_000,
        )
        self.target(
            "Chromium loop, suspending once: >= 5x bare `sleep(0)` of the same run",
            f"{fmt_ratio(value, floor)} ({fmt_rate(floor)} `sleep(0)`/s)",
            floor > 0 and value >= 5 * floor,
        )

    def fast_loop(self, present: Sequence[tuple[str, Mapping[tuple[str, str], Any]]]) -> None:
        """The suspending loop and the bare `sleep(0)` floor with and without the loop-level
        ready queue (`install_fast_loop()`), interleaved run by run in the same process."""
        self.add(
            "With the fast loop: the same two workloads with `blazen_py.install_fast_loop()` "
            "installed around each run (every asyncio callback of the page from one ready queue, "
            "many per JS task; a no-op on CPython), interleaved with the rows above.",
            "",
            "| runtime | loop, suspending | with the fast loop | fast/default | `sleep(0)` floor "
            "| floor, fast loop | fast/default |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        )
        for where, records in present:
            loop = rate(records.get(("loop_suspend", "blazen_py")))
            fast = rate(records.get(("loop_suspend_fast", "blazen_py")))
            floor, fast_floor = rate(records.get(FLOOR)), rate(records.get(FAST_FLOOR))
            self.add(
                f"| {where} | {fmt_rate(loop)} | {fmt_rate(fast)} | {fmt_ratio(fast, loop)} "
                f"| {fmt_rate(floor)} | {fmt_rate(fast_floor)} | {fmt_ratio(fast_floor, floor)} |"
            )
        self.add("")

    def responsiveness(self) -> None:
        """Longest gaps between animation frames and timer ticks during long runs (Chromium)."""
        data = self.results.get("browser", {}).get("responsiveness")
        if not data:
            return
        titles = {
            "loop": "steps not suspending",
            "loop_suspend": "each step awaits `asyncio.sleep(0)`",
            "loop_suspend_fast": "each step awaits `asyncio.sleep(0)`, with the fast loop",
        }
        self.add(
            "## 2d. Responsiveness: the page during long runs (Chromium)",
            "",
            "During one run of each kind the page stamps every `requestAnimationFrame` and every tick "
            "of a `setTimeout(0)` chain; the table gives the longest gap between two (the run's start "
            "and end included). The dispatcher yields through `setTimeout(0)` at most every ~10 ms "
            "(`blazen_py._compat.yield_to_host`): a MessageChannel task lets neither in.",
            "",
            "| run | events | time | events/s | longest frame gap | longest timer gap | frames |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        )
        for record in data["records"]:
            seconds = float(record["seconds"])
            self.add(
                f"| ping-pong loop, {titles[record['name']]} | {record['events']:,} | {fmt_ms(seconds)} "
                f"| {fmt_rate(record['events'] / seconds if seconds else None)} "
                f"| {record['frame_gap_ms']:.1f} ms | {record['tick_gap_ms']:.1f} ms | {record['frames']:,} |"
            )
        self.add("")
        for record in data["records"]:
            if record["name"] == "loop_suspend_fast":
                continue  # an opt-in, not one of issue 24's targets
            gap = float(record["frame_gap_ms"])
            self.target(
                f"frames never more than 25 ms apart during {record['events']:,} events "
                f"({titles[record['name']]})",
                f"{gap:.1f} ms",
                gap <= 25,
            )

    def js_steps(self) -> None:
        data = self.results.get("browser", {}).get("js")
        if not data:
            return
        records = by_key(data["records"])
        peer = "@llama-flow/core"
        self.add(
            "## 2b. Chromium, JS steps: blazen.js vs @llama-flow/core in the same page",
            "",
            f"| workload | handlers | blazen.js | events/s | {peer} | events/s | ratio |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        )
        for mode in ("sync", "async"):
            for base in ("loop", "loop_short", "fanout_small", "fanout_large", "chain"):
                name = f"{base}_{mode}"
                ours, theirs = records.get((name, "blazen.js")), records.get((name, peer))
                if ours is None and theirs is None:
                    continue
                cells = []
                for record in (ours, theirs):
                    if record is None:
                        cells += ["-", "-"]
                    elif record.get("error"):
                        cells += [f"failed: {record['error'].splitlines()[0][:80]}", "-"]
                    else:
                        cells += [spread(record), fmt_rate(rate(record))]
                if base == "loop_short":
                    events = int((ours or theirs or {}).get("events", 0))
                    label = f"{WORKLOAD_TITLES['loop']} ({events:,} events, within the peer's sync limit)"
                else:
                    label = workload_label(base, self.sizes)
                self.add(
                    f"| {label} | {mode} | {cells[0]} | {cells[1]} | {cells[2]} "
                    f"| {cells[3]} | {fmt_ratio(rate(ours), rate(theirs))} |"
                )
        self.add(
            "",
            "A *failed* peer cell is the peer's own error: @llama-flow/core dispatches the events of "
            "sync handlers by recursion, so long chains overflow the JS stack. blazen.js's "
            "dispatcher is a loop: its sync handlers run any length.",
            "",
        )
        self.lazy_events(records)
        for mode in ("sync", "async"):
            self.js_loop_target(records, mode)
        for mode in ("sync", "async"):
            self.linearity(f"Chromium, JS steps, {mode}", records, "blazen.js", f"_{mode}")

    def lazy_events(self, records: Mapping[tuple[str, str], Any]) -> None:
        """blazen.js beside itself with lazy JS events off (the eager design), same page."""
        old = "blazen.js (eager events)"
        self.add(
            "### Lazy JS events vs the eager design (same page, runs interleaved)",
            "",
            "*lazy*: a flat event a step returns stays in blazen.js under a number, only its type "
            "crosses to Python, and the pump routes it on its fast path; *eager*: every returned "
            "object is converted whole to Python data (`blazen_py._jsbridge._set_lazy_events(False)`).",
            "",
            "| workload | handlers | lazy | events/s | eager | events/s | ratio |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        )
        for mode in ("sync", "async"):
            for base in ("loop", "fanout_large", "chain"):
                key = f"{base}_{mode}"
                ours, theirs = records.get((key, "blazen.js")), records.get((key, old))
                if ours is None or theirs is None:
                    continue
                self.add(
                    f"| {workload_label(base, self.sizes)} | {mode} | {spread(ours)} "
                    f"| {fmt_rate(rate(ours))} | {spread(theirs)} | {fmt_rate(rate(theirs))} "
                    f"| {fmt_ratio(rate(ours), rate(theirs))} |"
                )
        self.add("")
        self.pure_steps(records)
        a, b = rate(records.get(("loop_sync", "blazen.js"))), rate(records.get(("loop_sync", old)))
        if a is not None and b is not None:
            self.target(
                "JS-step loop in Chromium, sync handlers: >= 1.8x the eager design (same run)",
                f"{fmt_rate(a)} vs {fmt_rate(b)} events/s ({a / b:.2f}x)",
                a >= 1.8 * b,
            )

    def pure_steps(self, records: Mapping[tuple[str, str], Any]) -> None:
        """The ping-pong loop with {pure: true} steps, the same steps not pure, and the
        floor (the handlers called in a plain JS loop), same page, runs interleaved."""
        engines = ("blazen.js (pure steps)", "blazen.js", "bare JS calls (floor)")
        sizes = (self.sizes["loop"], self.sizes["fanout_large"])
        if not any((f"pure_loop_{n}", engines[0]) in records for n in sizes):
            return
        self.add(
            "### Pure JS steps ({pure: true}): ping-pong loop, sync handlers",
            "",
            "| events | " + " | ".join(f"{e} | events/s" for e in engines) + " | pure / not pure |",
            "| ---: | " + " | ".join("---: | ---:" for _ in engines) + " | ---: |",
        )
        for n in sizes:
            row = [records.get((f"pure_loop_{n}", e)) for e in engines]
            cells = []
            for record in row:
                if record is None or record.get("error"):
                    cells += [f"failed: {(record or {}).get('error', '-')[:60]}", "-"]
                else:
                    cells += [spread(record), fmt_rate(rate(record))]
            self.add(f"| {n:,} | " + " | ".join(cells) + f" | {fmt_ratio(rate(row[0]), rate(row[1]))} |")
        self.add("")
        n = self.sizes["loop"]
        value = rate(records.get((f"pure_loop_{n}", engines[0])))
        floor = rate(records.get((f"pure_loop_{n}", engines[2])))
        if value is not None:
            beside = f" (floor {fmt_rate(floor)})" if floor is not None else ""
            self.target(
                f"Pure JS steps in Chromium at {n:,} events: >= 500,000 events/s",
                f"{fmt_rate(value)} events/s{beside}",
                value >= 500_000,
                self.pure_fixed_cost(records, n, self.sizes["fanout_large"]),
            )

    @staticmethod
    def pure_fixed_cost(records: Mapping[tuple[str, str], Any], small: int, large: int) -> list[str]:
        """Why the 1,000-event pure row can miss: its two sizes split into a cost per run and
        one per event (t = a + b * n from the two medians)."""
        times = [records.get((f"pure_loop_{n}", "blazen.js (pure steps)")) for n in (small, large)]
        if any(t is None or t.get("error") or not t.get("samples") for t in times):
            return []
        t_small, t_large = (median(t["samples"]) for t in times)  # type: ignore[index]
        per_event = (t_large - t_small) / (large - small)
        per_run = t_small - small * per_event
        return [
            f"From this run's two pure rows (t = a + b n): a = {per_run * 1e3:.2f} ms per run, "
            f"b = {per_event * 1e9:.0f} ns per event. The per-run part is what a 1,000-event run "
            "cannot spread. A run called from page code takes no JS task of its own now (its first "
            "steps run within run(), and the dispatcher yields only after ~4 ms), so what is left is "
            "the bridge's work done cold: each timed run follows a gc(), which leaves the CPU caches "
            "cold (a probe: a one-step run 0.3-0.4 ms back to back, ~1.0 ms after a gc() or after "
            "sweeping 64 MB of memory)."
        ]

    def js_loop_target(self, records: Mapping[tuple[str, str], Any], mode: str) -> None:
        """blazen.js's JS-step loop against the peer's; where the peer cannot run the full
        loop (sync dispatch overflows), the short loop gives the ratio."""
        peer = "@llama-flow/core"
        name = f"JS-step loop in Chromium, {mode} handlers: >= @llama-flow/core"
        ours, theirs = records.get((f"loop_{mode}", "blazen.js")), records.get((f"loop_{mode}", peer))
        if ours is None or theirs is None:
            return
        a, b = rate(ours), rate(theirs)
        if a is None:
            self.target(name, "blazen.js failed", False)
            return
        if b is not None:
            why = self.js_profile(mode) if a < b else []
            self.target(name, f"{fmt_rate(a)} vs {fmt_rate(b)} events/s ({a / b:.2f}x)", a >= b, why)
            return
        error = str(theirs.get("error", ""))[:45]
        failed = f"{fmt_rate(a)} events/s at {ours['events']:,}; the peer fails there ({error})"
        short_ours = records.get((f"loop_short_{mode}", "blazen.js"))
        short_theirs = records.get((f"loop_short_{mode}", peer))
        c, d = rate(short_ours), rate(short_theirs)
        if c is None or d is None or short_ours is None:
            self.target(name, failed, True)
            return
        why = self.js_profile(mode) if c < d else []
        self.target(
            name,
            f"{failed}; at {short_ours['events']:,} events: {fmt_rate(c)} vs {fmt_rate(d)} ({c / d:.2f}x)",
            c >= d,
            why,
        )

    def js_profile(self, mode: str) -> list[str]:
        """The Python side of the JS-step loop (cProfile inside the page), when measured."""
        profiles = self.results.get("browser", {}).get("js_profiles") or {}
        profile = profiles.get(mode)
        return profile_table(profile) if profile else []

    def cold(self) -> None:
        data = self.results.get("browser", {}).get("cold")
        if not data:
            return
        first = {v: [run["first"]["result"] for run in runs] for v, runs in data.items()}
        again = {v: [run["reload"]["result"] for run in runs] for v, runs in data.items()}
        labels = {
            "pyodide": "bare `loadPyodide` + one Python expression",
            "blazen": "blazen.js `init({snapshot: false})` + first workflow result",
            "snapshot": "blazen.js `init()` from the memory snapshot + first workflow result",
            "snapshot_plain": "the same page without the build's preload hints",
        }
        self.add(
            "## 3. Cold start in headless Chromium: time to first result",
            "",
            "Milliseconds from navigation start to the first result. *First visit*: a fresh "
            "browser context (empty HTTP cache and Cache API); *reload*: the same page reloaded "
            "in that context. Medians over the runs, the pages taking turns going first, in a "
            "browser launched for them after the one of the sections above has closed.",
            "",
            "| page | runs | first visit: median | min | max | reload: median | min | max |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *(
                f"| {labels[v]} | {len(first[v])} | {ms_stats(first[v])} | {ms_stats(again[v])} |"
                for v in labels
                if first.get(v)
            ),
            "",
            "Where the time goes on a first visit (median ms of each stage):",
            "",
            "| stage | bare page | blazen.js, no snapshot | blazen.js, snapshot |",
            "| --- | ---: | ---: | ---: |",
        )
        stages = {
            "pyodide": {"import the module": ("", "module"), "loadPyodide": ("module", "ready")},
            "blazen": {
                "import the module": ("", "module"),
                "loadPyodide": ("runtime", "package"),
                "loadPackage('blazen-py')": ("package", "bridge"),
            },
            "snapshot": {
                "import the module": ("", "module"),
                "fetch + gunzip the snapshot (or read the cached copy)": ("snapshot", "restore"),
                "loadPyodide from the snapshot, write the package's files": ("restore", "package"),
            },
        }
        for variant in ("blazen", "snapshot"):
            stages[variant] |= {"bridge set-up": ("bridge", "ready"), "first result": ("ready", "result")}
        stages["pyodide"]["first result"] = ("ready", "result")
        pieces: dict[str, float] = {}
        order = [*list(stages["blazen"])[:3], *list(stages["snapshot"])[1:]]
        for stage in order:
            cells = []
            for variant in ("pyodide", "blazen", "snapshot"):
                if stage not in stages[variant] or not data.get(variant):
                    cells.append("-")
                    continue
                start, end = stages[variant][stage]
                runs = [run["first"] for run in data[variant]]
                value = median([m[end] - (m[start] if start else 0.0) for m in runs])
                cells.append(f"{value:,.0f}")
                if variant == "blazen":
                    pieces[stage] = value
            self.add(f"| {stage} | {' | '.join(cells)} |")
        self.add(
            "",
            "Marks are `performance.now()` in the page (ms since navigation start); blazen.js's come "
            "from its `onProgress` callback. The snapshot is made by `python build.py` in headless "
            "Chromium: Pyodide with blazen_py imported, 30 MB; its non-zero blocks and the "
            "wheel's files are served in one compressed container (~6 MB). The snapshot's page "
            "carries the build's preload hints "
            "(dist/preload-hints.html); a reload reads blazen.js's decoded copy from the Cache "
            "API: the hints name the manifest, not the snapshot file, so a reload does not request it.",
            "",
        )
        self.cold_targets(first, again, pieces)

    def cold_targets(
        self, first: Mapping[str, list[float]], again: Mapping[str, list[float]], pieces: Mapping[str, float]
    ) -> None:
        """Verdicts of the cold-start targets (issue 8) and the fast-boot targets (issue 11)."""
        if not first.get("blazen") or not first.get("pyodide"):
            return
        ours, bare = median(first["blazen"]), median(first["pyodide"])
        added_names = ("loadPackage('blazen-py')", "bridge set-up", "first result")
        added = sum(pieces.get(name, 0.0) for name in added_names)
        fast = median(first["snapshot"]) if first.get("snapshot") else None
        why = [
            "Stages blazen.js adds on top of `loadPyodide` when it boots without the snapshot "
            "(medians): "
            + ", ".join(f"{name} {pieces[name]:,.0f} ms" for name in added_names if name in pieces)
            + ". The verdict uses their sum: the difference of the two pages' medians mostly shows "
            "`loadPyodide` itself varying by hundreds of ms between fresh contexts.",
            "",
            "`loadPackage('blazen-py')` is the page's first package load, so it also pays for "
            "Pyodide's loader importing its own modules (tarfile, email, importlib.metadata); "
            "the wheel itself is small. The bridge set-up is mostly importing blazen_py, which "
            "compiles its sources to bytecode in the page: the wheel ships no `.pyc` files. "
            "The memory snapshot (the default boot) skips all of it: see the next target.",
        ]
        measured = (
            f"without the snapshot its own stages add {added:,.0f} ms (pages: {ours:,.0f} vs "
            f"{bare:,.0f} ms); with it (the default) the first result comes at {fast:,.0f} ms, "
            f"{bare - fast:,.0f} ms before bare Pyodide's"
            if fast is not None
            else f"its own stages add {added:,.0f} ms (pages: {ours:,.0f} vs {bare:,.0f} ms)"
        )
        self.target(
            "Cold start: blazen.js adds <= 150 ms to bare Pyodide boot",
            measured,
            added <= 150 or (fast is not None and fast <= bare + 150),
            why,
        )
        if fast is None or not again.get("snapshot"):
            return
        reload = median(again["snapshot"])
        self.target(
            "Fast boot (issue 11): first visit to first result < 1.5 s, reload < 1.0 s",
            f"first visit {fast:,.0f} ms, reload {reload:,.0f} ms (without the snapshot: "
            f"{ours:,.0f} / {median(again['blazen']):,.0f} ms)",
            fast < 1500 and reload < 1000,
        )
        self.target(
            "Faster first visit (issue 24): first visit <= 850 ms and reload <= 450 ms "
            "(headless Chromium, medians)",
            f"first visit {fast:,.0f} ms (min {min(first['snapshot']):,.0f}, max "
            f"{max(first['snapshot']):,.0f}), reload {reload:,.0f} ms, over {len(first['snapshot'])} "
            "runs of blazen.js `init()` from the memory snapshot"
            + (
                f" (the page without preload hints: {median(first['snapshot_plain']):,.0f} / "
                f"{median(again['snapshot_plain']):,.0f} ms)"
                if first.get("snapshot_plain") and again.get("snapshot_plain")
                else ""
            ),
            fast <= 850 and reload <= 450,
            [
                "The medians of the cold-start rows above (the snapshot page, with the build's "
                "preload hints); the machine's floor is ~600-750 / ~420 ms (issue 24). See the "
                "stage table above for where the first visit's time goes."
            ],
        )

    def snapshots(self) -> None:
        data = self.results.get("browser", {}).get("snapshots")
        if not data:
            return
        self.add(
            "## 4. Snapshots in Chromium (Python API, IndexedDBStore)",
            "",
            "A run stores the state, then a step waits; `handler.snapshot()` is taken while it is "
            "in flight. *JSON* = `snapshot.dumps`; *IDB save* = `IndexedDBStore.save` (its own "
            "JSON text plus one readwrite transaction); *IDB load* = `load` (transaction plus "
            "`json.loads`); *resume* = a fresh workflow's `resume(loaded)` through its result "
            "(the step in flight runs again).",
            "",
            "| state | JSON text | snapshot | JSON | IDB save | IDB load | resume |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        )
        save_100k = None
        for record in data["records"]:
            stages = record["stages"]
            cells = [
                fmt_ms(median(stages[s])) for s in ("snapshot", "json", "idb_save", "idb_load", "resume")
            ]
            self.add(
                f"| {fmt_bytes(record['size'])} | {fmt_bytes(record['json_bytes'])} | {' | '.join(cells)} |"
            )
            if record["size"] == 100_000:
                save_100k = (median(stages["idb_save"]), median(stages["json"]))
        self.add("")
        if save_100k is not None:
            seconds, json_seconds = save_100k
            self.target(
                "100 KB snapshot saved to IndexedDB in <= 10 ms",
                f"{fmt_ms(seconds)} (of which JSON text ~{fmt_ms(json_seconds)})",
                seconds <= 0.010,
            )

    def server(self) -> None:
        data = self.results.get("server")
        if not data:
            return
        http, local = data["http_sqlite"], data["in_process"]
        self.add(
            f"## 6. blazen_py.server: {http['runs']:,} short runs through the HTTP service (SQLite)",
            "",
            f"A 3-step workflow (`bench/server_app.py`). HTTP: a real `python -m blazen_py.server` "
            f"process (DBOS {data['dbos']}, Starlette {data['starlette']}, Uvicorn {data['uvicorn']}) "
            f"on a fresh SQLite file, queue concurrency {http['concurrency']}; {http['clients']} client "
            "threads each start a run (`POST /runs`) and wait for its outcome (`GET /runs/{id}?wait=`); "
            "latency is from the start request to the outcome, every result checked. In-process: the "
            f"same runs with `Workflow.run`, {http['clients']} at a time, no DBOS, no database. "
            f"Completed over HTTP: {http['completed']:,} of {http['runs']:,} (none lost).",
            "",
            "| | runs/s | p50 | p90 | p99 | max |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        )
        for label, row in (("HTTP + DBOS on SQLite", http), ("in-process, no DBOS", local)):
            self.add(
                f"| {label} | {row['runs_per_s']:,.1f} | {row['p50_ms']:.2f} ms | {row['p90_ms']:.2f} ms "
                f"| {row['p99_ms']:.2f} ms | {row['max_ms']:.2f} ms |"
            )
        self.add(
            "",
            "Each durable run costs database transactions the in-process run does not: the enqueue, "
            "the dequeue, the two DBOS steps and the workflow's outcome, a checkpoint after each "
            "completed step, one stream write per stream item; SQLite serializes all writers.",
            "",
        )

    def soak(self) -> None:
        data = self.results.get("browser", {}).get("soak")
        if not data:
            return
        before, after = data["before"], data["after"]
        self.add(
            f"## 5. Memory soak in Chromium: {data['runs']:,} runs of a 3-step JS workflow",
            "",
            "Steps: a sync step that sets state, an async step, a sync step that reads it back. "
            "Measured after warm-up runs and again after the soak, each time after `gc()` (Chromium "
            "runs with `--js-flags=--expose-gc --enable-precise-memory-info`) and a Python "
            f"`gc.collect()`. The soak took {data['seconds']:.1f} s "
            f"({1000 * data['seconds'] / data['runs']:.2f} ms per run).",
            "",
            "| metric | before | after | growth |",
            "| --- | ---: | ---: | ---: |",
        )
        rows = (
            ("WebAssembly memory (`HEAP8.buffer.byteLength`)", "wasm_bytes", True),
            ("JS heap (`performance.memory.usedJSHeapSize`)", "js_heap_bytes", True),
            ("live Python objects (`len(gc.get_objects())`)", "py_objects", False),
        )
        for label, key, is_bytes in rows:
            a, b = before.get(key), after.get(key)
            if a is None or b is None:
                self.add(f"| {label} | - | - | - |")
                continue
            if is_bytes:
                self.add(f"| {label} | {fmt_bytes(a)} | {fmt_bytes(b)} | {fmt_bytes(b - a)} |")
            else:
                self.add(f"| {label} | {a:,} | {b:,} | {b - a:+,} |")
        self.add("")
        growth_wasm = after["wasm_bytes"] - before["wasm_bytes"]
        growth_js = (after["js_heap_bytes"] or 0) - (before["js_heap_bytes"] or 0)
        limit = 5 * 1024 * 1024
        self.target(
            "Soak growth under 5 MB (WebAssembly memory and JS heap)",
            f"wasm {fmt_bytes(growth_wasm)}, JS heap {fmt_bytes(growth_js)}",
            growth_wasm < limit and growth_js < limit,
        )

    def verdicts(self) -> None:
        self.add(
            "## Targets of issues 8, 11 and 24", "", "| target | measured | met |", "| --- | --- | --- |"
        )
        for name, measured, met, _ in self.targets:
            verdict = "n/a" if met is None else "**yes**" if met else "**no**"
            self.add(f"| {name} | {measured} | {verdict} |")
        self.add("")
        missed = [(name, why) for name, _, met, why in self.targets if met is False]
        if missed:
            self.add("### Where a target is missed, and why", "")
            for name, why in missed:
                self.add(f"**{name}**", "")
                self.add(*(why or ["(no profile recorded for this target)"]), "")
        notes = self.results.get("notes") or []
        if notes:
            self.add("### Notes", "", *[f"- {note}" for note in notes], "")

    def render(self) -> str:
        """The whole of RESULTS.md."""
        self.header()
        self.cpython()
        self.inlining()
        self.pyodide_python()
        self.js_steps()
        self.batching()
        self.responsiveness()
        self.cold()
        self.snapshots()
        self.soak()
        self.server()
        self.verdicts()
        return "\n".join(self.lines).rstrip() + "\n"


# --------------------------------------------------------------------------- command line


def run_all(
    config: Mapping[str, Any], parts: Sequence[str], bench_python: str, chromium: str | None
) -> dict[str, Any]:
    """Run the selected parts; return their results by part name."""
    results: dict[str, Any] = {}
    if "cpython" in parts:
        results["cpython"] = run_cpython(config, bench_python)
    if "node" in parts:
        results["node"] = run_node(config)
    if "browser" in parts or COLD_ONLY in parts:
        if chromium is None:
            raise BenchError("no Chromium: set BLAZEN_CHROMIUM or run through `python build.py bench`")
        results["browser"] = run_browser(config, chromium, cold_only="browser" not in parts)
    if "server" in parts:
        results["server"] = run_server(config)
    return results


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command line of bench/run.py."""
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few runs (a smoke run)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="markdown file to write (default bench/RESULTS.md)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results as JSON here")
    parser.add_argument(
        "--bench-python", default=sys.executable, help="Python with llama-index-workflows (the bench venv's)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=(*PARTS, COLD_ONLY),
        help=f"run only this part (repeatable; {COLD_ONLY!r}: only the browser part's cold starts)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help=f"measure nothing: render the raw results saved by an earlier run (e.g. {LAST_JSON})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run, write RESULTS.md, print where it went."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    quick = args.quick
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
        quick = results.get("mode") == "quick"
    else:
        try:
            config = QUICK if quick else FULL
            results = run_all(config, args.only or PARTS, args.bench_python, find_chromium())
            results["mode"] = "quick" if quick else "full"
            results["git"] = git_state()
        except (BenchError, BuildError) as exc:
            print(f"bench: error: {exc}", file=sys.stderr)
            return 2
        for path in (LAST_JSON, args.json):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(results, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(Report(results, QUICK if quick else FULL, quick).render())
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
