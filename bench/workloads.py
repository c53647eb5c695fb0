"""blazen_py's benchmark workloads with Python steps, and the measuring loop.

Portable: imports only the standard library and blazen_py, so the same file runs on
CPython (``bench/cpython.py``), in Pyodide on Node (``bench/node_pyodide.mjs``) and in
Pyodide in Chromium (``bench/web/bench_page.mjs``), which copy it into Pyodide's file
system and call :func:`run_suite_json` / :func:`snapshot_suite_json`.

Counting: one *event* is one step invocation. A ping-pong loop of N events runs N steps;
a fan-out of N runs 1 split + N workers + N joins = 2N + 1; a chain of N steps runs N.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from blazen_py import START_EVENT, STOP_EVENT, Workflow

RunOnce = Callable[[], Awaitable[Any]]
FLOOR_ENGINE = "asyncio alone"


@dataclass
class Workload:
    """One benchmark case of one engine: how many events a run handles and how to run it."""

    name: str
    engine: str
    events: int
    run_once: RunOnce
    expected: Any


# --------------------------------------------------------------------------- blazen_py workloads


def loop_workflow(n: int, suspend: bool) -> Workflow:
    """Ping-pong between two steps until ``n`` steps have run; each awaits
    ``asyncio.sleep(0)`` once when ``suspend``."""
    wf = Workflow("bench-loop")

    if suspend:

        async def ping(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
            await asyncio.sleep(0)
            return {"type": "Ping", "i": event.get("i", 0) + 1}

        async def pong(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
            await asyncio.sleep(0)
            i = event["i"] + 1
            return {"type": STOP_EVENT, "result": i} if i >= n else {"type": "Pong", "i": i}

    else:

        async def ping(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
            return {"type": "Ping", "i": event.get("i", 0) + 1}

        async def pong(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
            i = event["i"] + 1
            return {"type": STOP_EVENT, "result": i} if i >= n else {"type": "Pong", "i": i}

    wf.add_step("ping", [START_EVENT, "Pong"], ping)
    wf.add_step("pong", ["Ping"], pong)
    return wf


def fanout_workflow(n: int) -> Workflow:
    """A split step fans out ``n`` events, a worker answers each, a join step counts the
    answers in the run's state and stops at ``n``."""
    wf = Workflow("bench-fanout")

    async def split(event: dict[str, Any], ctx: Any) -> list[dict[str, Any]]:
        return [{"type": "Work", "i": i} for i in range(n)]

    async def work(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {"type": "Done", "i": event["i"]}

    async def join(event: dict[str, Any], ctx: Any) -> dict[str, Any] | None:
        done = (ctx.get("done") or 0) + 1
        ctx.set("done", done)
        return {"type": STOP_EVENT, "result": done} if done == n else None

    wf.add_step("split", [START_EVENT], split)
    wf.add_step("work", ["Work"], work)
    wf.add_step("join", ["Done"], join)
    return wf


def fanout_suspend_workflow(n: int) -> Workflow:
    """A fan-out of ``n`` workers that each await ``asyncio.sleep(0)`` once, then a join."""
    wf = Workflow("bench-fanout-suspend")

    async def split(event: dict[str, Any], ctx: Any) -> list[dict[str, Any]]:
        return [{"type": "Work", "i": i} for i in range(n)]

    async def work(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"type": "Done", "i": event["i"]}

    async def join(event: dict[str, Any], ctx: Any) -> dict[str, Any] | None:
        done = (ctx.get("done") or 0) + 1
        ctx.set("done", done)
        return {"type": STOP_EVENT, "result": done} if done == n else None

    wf.add_step("split", [START_EVENT], split)
    wf.add_step("work", ["Work"], work)
    wf.add_step("join", ["Done"], join)
    return wf


def chain_workflow(n: int) -> Workflow:
    """``n`` distinct steps, step i accepting event type ``E{i}`` and emitting ``E{i+1}``."""
    wf = Workflow("bench-chain")

    def make(i: int) -> Callable[[dict[str, Any], Any], Awaitable[dict[str, Any]]]:
        out = {"type": STOP_EVENT, "result": n} if i == n - 1 else {"type": f"E{i + 1}"}

        async def handler(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
            return dict(out)

        return handler

    for i in range(n):
        wf.add_step(f"s{i}", [START_EVENT if i == 0 else f"E{i}"], make(i))
    return wf


def collect_workflow(n: int) -> Workflow:
    """Fan-in through ``ctx.collect_events``: a split step emits ``n`` ``Part`` events, a
    join collects ``n`` of them (the type listed ``n`` times) and stops with the count."""
    wf = Workflow("bench-collect")
    wanted = ["Part"] * n

    async def split(event: dict[str, Any], ctx: Any) -> list[dict[str, Any]]:
        return [{"type": "Part", "i": i} for i in range(n)]

    async def join(event: dict[str, Any], ctx: Any) -> dict[str, Any] | None:
        got = ctx.collect_events(event, wanted)
        return None if got is None else {"type": STOP_EVENT, "result": len(got)}

    wf.add_step("split", [START_EVENT], split)
    wf.add_step("join", ["Part"], join)
    return wf


def map_workflow(n: int) -> Workflow:
    """A map step over ``n`` items (concurrency 8) of a one-step child: the map's
    bookkeeping (launch, land, results in item order) per item."""
    child = Workflow("bench-item")
    child.add_step("one", [START_EVENT], lambda e, ctx: {"type": STOP_EVENT, "result": e["item"]})
    wf = Workflow("bench-map")
    wf.add_step("start", [START_EVENT], lambda e, ctx: {"type": "Items"})
    wf.add_map_step(
        "each",
        ["Items"],
        child,
        items=lambda e: range(n),
        output=lambda results, e: {"type": STOP_EVENT, "result": len(results)},
    )
    return wf


def composition_workloads(sizes: Mapping[str, int]) -> list[Workload]:
    """Fan-in (collect_events) and map bookkeeping at two sizes each (keys collect_small,
    collect_large, map_small, map_large; absent keys: no workload). Events: a fan-in of N
    runs 1 split + N joins; a map of N runs 1 start + 1 map step + N children."""
    out = []
    for key in ("collect_small", "collect_large"):
        if key in sizes:
            n = sizes[key]
            out.append(Workload(key, "blazen_py", n + 1, _runner(collect_workflow(n)), n))
    for key in ("map_small", "map_large"):
        if key in sizes:
            n = sizes[key]
            out.append(Workload(key, "blazen_py", n + 2, _runner(map_workflow(n)), n))
    return out


def _runner(wf: Workflow) -> RunOnce:
    async def run_once() -> Any:
        return (await wf.run()).data

    return run_once


def _previous_design(run_once: RunOnce) -> RunOnce:
    """``run_once`` with the dispatcher's previous design (a loop callback per parked
    flight): the private switch is read when a run starts, so flipping it around one run
    compares both designs in the same process."""
    from blazen_py import runtime

    async def run_old() -> Any:
        runtime._BATCHED = False
        try:
            return await run_once()
        finally:
            runtime._BATCHED = True

    return run_old


def _not_inlined(run_once: RunOnce) -> RunOnce:
    """``run_once`` with the pump's fast path off (``runtime._INLINED``, read when a run
    starts): every event through the general ``_invoke``/``_deliver``/``produce``, the
    design before the fast path, in the same process."""
    from blazen_py import runtime

    async def run_general() -> Any:
        runtime._INLINED = False
        try:
            return await run_once()
        finally:
            runtime._INLINED = True

    return run_general


def _with_fast_loop(run_once: RunOnce) -> RunOnce:
    """``run_once`` with ``blazen_py.install_fast_loop()`` installed around it (a no-op on
    CPython), the loop left as it was found: both loops compared in the same process."""
    import blazen_py

    async def run_fast() -> Any:
        mine = blazen_py.install_fast_loop()
        try:
            return await run_once()
        finally:
            if mine:
                blazen_py.uninstall_fast_loop()

    return run_fast


def blazen_workloads(sizes: Mapping[str, int]) -> list[Workload]:
    """The Python-step workloads of blazen_py for ``sizes`` (keys: loop, fanout_small,
    fanout_large, chain)."""
    loop, chain = sizes["loop"], sizes["chain"]
    small, large = sizes["fanout_small"], sizes["fanout_large"]
    return [
        Workload("loop", "blazen_py", loop, _runner(loop_workflow(loop, False)), loop),
        Workload(
            "loop_not_inlined", "blazen_py", loop, _not_inlined(_runner(loop_workflow(loop, False))), loop
        ),
        Workload("loop_suspend", "blazen_py", loop, _runner(loop_workflow(loop, True)), loop),
        Workload(
            "loop_suspend_old", "blazen_py", loop, _previous_design(_runner(loop_workflow(loop, True))), loop
        ),
        Workload(
            "loop_suspend_fast", "blazen_py", loop, _with_fast_loop(_runner(loop_workflow(loop, True))), loop
        ),
        Workload(
            "fanout_suspend", "blazen_py", 2 * small + 1, _runner(fanout_suspend_workflow(small)), small
        ),
        Workload(
            "fanout_suspend_old",
            "blazen_py",
            2 * small + 1,
            _previous_design(_runner(fanout_suspend_workflow(small))),
            small,
        ),
        Workload("fanout_small", "blazen_py", 2 * small + 1, _runner(fanout_workflow(small)), small),
        Workload("fanout_large", "blazen_py", 2 * large + 1, _runner(fanout_workflow(large)), large),
        Workload("chain", "blazen_py", chain, _runner(chain_workflow(chain)), chain),
    ]


def floor_workloads(sizes: Mapping[str, int]) -> list[Workload]:
    """The floor of the suspending loop: ``loop`` bare ``await asyncio.sleep(0)`` with no
    engine at all (each is one trip through the event loop; in Pyodide, one JS task), and
    the same with the fast loop installed (in Pyodide, many trips per JS task)."""
    n = sizes["loop"]

    async def hops() -> int:
        for _ in range(n):
            await asyncio.sleep(0)
        return n

    return [
        Workload("sleep_floor", FLOOR_ENGINE, n, hops, n),
        Workload("sleep_floor_fast", FLOOR_ENGINE, n, _with_fast_loop(hops), n),
    ]


# --------------------------------------------------------------------------- measuring

DESIGN_SUFFIXES = ("_not_inlined", "_old", "_fast")


def design_groups(workloads: Sequence[Workload]) -> list[list[Workload]]:
    """One group per workload, with the design variants compared with it ("loop_not_inlined",
    "loop_suspend_old", ...) in its group: measure() then takes each pair of samples next to
    each other. (In groups of their own, a 2 ms loop sample taken after a peer's 20 s chain or a
    10,000-child map, and its twin after something else, turned a 1.3x ratio into 0.95x.)"""
    groups: dict[str, list[Workload]] = {}
    for workload in workloads:
        base = workload.name
        for suffix in DESIGN_SUFFIXES:
            base = base.removesuffix(suffix)
        groups.setdefault(base if base in groups else workload.name, []).append(workload)
    return list(groups.values())


async def time_once(workload: Workload) -> float:
    """Seconds one run of ``workload`` takes (after a collection, so garbage of the
    previous run is not charged to this one); checks the run's result."""
    gc.collect()
    started = time.perf_counter()
    result = await workload.run_once()
    elapsed = time.perf_counter() - started
    if result != workload.expected:
        raise AssertionError(
            f"{workload.engine} {workload.name}: result {result!r}, expected {workload.expected!r}"
        )
    return elapsed


async def measure(groups: list[list[Workload]], runs: int, warmup: int) -> list[dict[str, Any]]:
    """Time every workload of every group ``runs`` times after ``warmup`` runs.

    Workloads of one group (the same case on different engines or designs) are
    interleaved run by run, so machine noise hits each alike, and every other round runs a
    group backwards, so none always goes first (after another group's work); the groups
    take turns, run by run, so a burst of noise spreads over every workload instead of
    filling the few milliseconds in which a short one would take all its samples. Returns
    one record per workload: ``{name, engine, events, samples}`` with the samples in
    seconds."""
    workloads = [workload for group in groups for workload in group]
    for workload in workloads:
        for _ in range(warmup):
            await time_once(workload)
    samples: dict[int, list[float]] = {id(workload): [] for workload in workloads}
    for round_ in range(runs):
        for group in groups:
            for workload in group if round_ % 2 == 0 else reversed(group):
                samples[id(workload)].append(await time_once(workload))
    return [
        {
            "name": workload.name,
            "engine": workload.engine,
            "events": workload.events,
            "samples": samples[id(workload)],
        }
        for workload in workloads
    ]


def profile_top(stats_source: Any, limit: int = 12) -> list[dict[str, Any]]:
    """The ``limit`` functions with the most own time in a ``cProfile.Profile``."""
    import pstats

    stats = pstats.Stats(stats_source)
    rows = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = filename.replace("\\", "/").rsplit("/", 2)
        where = "/".join(short[-2:]) if len(short) > 1 else filename
        rows.append(
            {"function": f"{where}:{line}({func})", "calls": ncalls, "tottime": tottime, "cumtime": cumtime}
        )
    rows.sort(key=lambda row: row["tottime"], reverse=True)
    return rows[:limit]


def profile_report(profiler: Any, name: str, engine: str, events: int) -> dict[str, Any]:
    """A stopped ``cProfile.Profile`` as ``{name, engine, events, total_s, top}``."""
    total = sum(row["tottime"] for row in profile_top(profiler, limit=1 << 30))
    return {"name": name, "engine": engine, "events": events, "total_s": total, "top": profile_top(profiler)}


def start_profiler() -> Any:
    """A running ``cProfile.Profile`` (the JS driver stops it with :func:`stop_profiler_json`)."""
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def stop_profiler_json(profiler: Any, name: str, engine: str, events: int) -> str:
    """Stop ``profiler``; its :func:`profile_report` as JSON text."""
    profiler.disable()
    return json.dumps(profile_report(profiler, name, engine, events))


async def profile_workload(workload: Workload, repeat: int = 5) -> dict[str, Any]:
    """cProfile ``repeat`` runs of ``workload`` (after one unprofiled run)."""
    await workload.run_once()
    profiler = start_profiler()
    for _ in range(repeat):
        await workload.run_once()
    profiler.disable()
    return profile_report(profiler, workload.name, workload.engine, workload.events * repeat)


# --------------------------------------------------------------------------- entry points


async def run_suite(config: Mapping[str, Any]) -> dict[str, Any]:
    """Measure blazen_py's Python-step workloads; ``config``: sizes, runs, warmup,
    profile (names of workloads to profile)."""
    workloads = blazen_workloads(config["sizes"]) + floor_workloads(config["sizes"])
    records = await measure(design_groups(workloads), int(config["runs"]), int(config["warmup"]))
    wanted = set(config.get("profile", ()))
    profiles = [await profile_workload(w) for w in workloads if w.name in wanted]
    return {"records": records, "profiles": profiles}


async def run_suite_json(config_json: str) -> str:
    """:func:`run_suite` with JSON text in and out (for the JS drivers)."""
    return json.dumps(await run_suite(json.loads(config_json)))


async def long_run(name: str, n: int) -> int:
    """One run of ``n`` events of the ping-pong loop (``loop``: steps not suspending;
    ``loop_suspend``: each awaits ``asyncio.sleep(0)``; ``loop_suspend_fast``: the same with
    the fast loop installed), for the page's responsiveness row, which watches frames and
    timers meanwhile. Returns the run's result (``n``)."""
    run_once = _runner(loop_workflow(n, name != "loop"))
    if name == "loop_suspend_fast":
        run_once = _with_fast_loop(run_once)
    result = await run_once()
    if result != n:
        raise AssertionError(f"long run {name}: result {result!r}, expected {n}")
    return int(result)


# --------------------------------------------------------------------------- snapshots (browser)


def state_of_size(size: int) -> dict[str, str]:
    """A dict of ~100-byte string records adding up to about ``size`` bytes of JSON."""
    count = max(1, size // 100)
    return {f"k{i:06d}": "v" * 88 for i in range(count)}


def snapshot_workflow(size: int, gate: dict[str, Any]) -> Workflow:
    """Step ``fill`` stores ``size`` bytes of state; step ``hold`` then waits on
    ``gate['open']`` (an asyncio.Event) so a snapshot can be taken while it is in flight."""
    wf = Workflow("bench-snapshot")
    payload = state_of_size(size)

    async def fill(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        ctx.set("payload", payload)
        return {"type": "Filled"}

    async def hold(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        gate["reached"].set()
        await gate["open"].wait()
        return {"type": STOP_EVENT, "result": len(ctx.get("payload"))}

    wf.add_step("fill", [START_EVENT], fill)
    wf.add_step("hold", ["Filled"], hold)
    return wf


async def snapshot_suite(config: Mapping[str, Any]) -> dict[str, Any]:
    """Per state size: snapshot, JSON text, IndexedDB save, IndexedDB load, resume (a
    fresh workflow resumes the loaded snapshot and runs to its result). Pyodide in a page
    only (IndexedDB). Returns ``{records: [{size, json_bytes, stage: [seconds...]}]}``."""
    from blazen_py import IndexedDBStore
    from blazen_py.snapshot import dumps

    store = IndexedDBStore("blazen-bench")
    records = []
    runs, warmup = int(config["runs"]), int(config["warmup"])
    for size in config["snapshot_sizes"]:
        stages: dict[str, list[float]] = {
            "snapshot": [],
            "json": [],
            "idb_save": [],
            "idb_load": [],
            "resume": [],
        }
        json_bytes = 0
        for index in range(warmup + runs):
            gate = {"reached": asyncio.Event(), "open": asyncio.Event()}
            wf = snapshot_workflow(size, gate)
            handler = await wf.run_with_handler()
            await gate["reached"].wait()
            gc.collect()
            t0 = time.perf_counter()
            snap = await handler.snapshot()
            t1 = time.perf_counter()
            text = dumps(snap)
            t2 = time.perf_counter()
            await store.save("bench", snap)
            t3 = time.perf_counter()
            loaded = await store.load("bench")
            t4 = time.perf_counter()
            gate["open"].set()
            await handler.result()
            resumed = snapshot_workflow(size, {"reached": asyncio.Event(), "open": gate["open"]})
            t5 = time.perf_counter()
            result = await (await resumed.resume(loaded or {})).result()
            t6 = time.perf_counter()
            if result.data != len(state_of_size(size)):
                raise AssertionError(f"resumed snapshot of {size} bytes gave {result.data!r}")
            json_bytes = len(text.encode())
            if index >= warmup:
                for stage, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t6 - t5), strict=True):
                    stages[stage].append(seconds)
        records.append({"size": size, "json_bytes": json_bytes, "stages": stages})
    await store.delete("bench")
    store.close()
    return {"records": records}


async def snapshot_suite_json(config_json: str) -> str:
    """:func:`snapshot_suite` with JSON text in and out."""
    return json.dumps(await snapshot_suite(json.loads(config_json)))
