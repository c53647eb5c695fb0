"""Smoke runs of the benchmarks (bench/) with tiny sizes: they run and give sane numbers.

No timing thresholds: only that every workload ran, checked its result, and produced
positive times. The full suite is `python build.py bench`.
"""

from __future__ import annotations

import pytest

from bench import run
from bench.workloads import FLOOR_ENGINE, Workload, blazen_workloads, design_groups, measure, run_suite
from blazen_build.paths import BENCH_VENV, DIST_PYODIDE, PYODIDE_VERSION
from blazen_build.virtualenvs import BENCH_PEERS

QUICK = run.QUICK


def assert_sane(
    records: list[dict[str, object]], engines: set[str], extra: frozenset[str] = frozenset()
) -> None:
    """Every record has QUICK['runs'] positive samples; every engine and workload is there
    (and the no-engine floor of the suspending loop, and the ``extra`` workloads)."""
    assert {r["engine"] for r in records} == engines | {FLOOR_ENGINE}
    names = {"loop", "loop_not_inlined", "loop_suspend", "loop_suspend_old", "loop_suspend_fast"}
    names |= {"fanout_suspend", "fanout_suspend_old"}
    names |= {"fanout_small", "fanout_large", "chain", "sleep_floor", "sleep_floor_fast", *extra}
    assert {r["name"] for r in records} == names
    for record in records:
        samples = record["samples"]
        assert isinstance(samples, list)
        assert len(samples) == QUICK["runs"], record
        assert all(s > 0 for s in samples), record
        assert (run.rate(record) or 0) > 0


def test_design_variants_are_measured_in_the_group_of_what_they_are_compared_with() -> None:
    sizes = {"loop": 4, "chain": 4, "fanout_small": 2, "fanout_large": 4}
    groups = [[w.name for w in group] for group in design_groups(blazen_workloads(sizes))]
    assert groups == [
        ["loop", "loop_not_inlined"],
        ["loop_suspend", "loop_suspend_old", "loop_suspend_fast"],
        ["fanout_suspend", "fanout_suspend_old"],
        ["fanout_small"],
        ["fanout_large"],
        ["chain"],
    ]


async def test_measure_interleaves_a_group_and_alternates_who_goes_first() -> None:
    order: list[str] = []

    def workload(name: str) -> Workload:
        async def once() -> int:
            order.append(name)
            return 1

        return Workload(name, "e", 1, once, 1)

    records = await measure([[workload("a"), workload("b")], [workload("c")]], runs=3, warmup=0)
    assert order == ["a", "b", "c", "b", "a", "c", "a", "b", "c"]
    assert [(r["name"], len(r["samples"])) for r in records] == [("a", 3), ("b", 3), ("c", 3)]


async def test_blazen_workloads_in_process() -> None:
    result = await run_suite(QUICK)
    assert_sane(result["records"], {"blazen_py"})
    (profile,) = result["profiles"]
    assert profile["name"] == "loop"
    assert profile["top"]
    assert profile["total_s"] > 0


def test_cpython_against_llama_index() -> None:
    python = BENCH_VENV / "bin" / "python"
    if not python.is_file():
        pytest.skip("no bench virtualenv: `python build.py test` (or `bench`) creates .cache/bench-venv")
    result = run.run_cpython(QUICK, str(python))
    assert result["peers"]["llama-index-workflows"] == BENCH_PEERS["llama-index-workflows"]
    assert_sane(result["records"], {"blazen_py", "llama-index-workflows"}, frozenset(QUICK["composition"]))
    assert result["skipped"] == []
    design = {(r["name"], len(r["samples"])) for r in result["design"]}  # section 1b's own pair
    assert design == {("loop", QUICK["runs"]), ("loop_not_inlined", QUICK["runs"])}
    markdown = run.Report({"cpython": result}, QUICK, quick=True).render()
    assert "## 1. CPython" in markdown
    assert "## 1b. CPython ping-pong loop: inlined vs current design, same process" in markdown
    assert "| CPython | " in markdown.split("## 1b.")[1].split("##")[0]
    assert "| fan-in via `ctx.collect_events` | 21: " in markdown  # 1 split + 20 joins
    assert "| map step bookkeeping | 12: " in markdown
    assert "llama-index-workflows | 2.26.1" in markdown


def test_pyodide_on_node() -> None:
    if not (DIST_PYODIDE / "pyodide.mjs").is_file():
        pytest.fail("dist/ is not built: run `python build.py` (or `python build.py test`)")
    result = run.run_node(QUICK)
    assert result["pyodide"] == PYODIDE_VERSION
    assert result["boot_ms"] > 0
    assert_sane(result["records"], {"blazen_py"})
    markdown = run.Report({"node": result}, QUICK, quick=True).render()
    assert "## 2a. Pyodide" in markdown


def test_server_load_smoke() -> None:
    pytest.importorskip("dbos", reason="blazen_py[server] is not installed")
    from bench import server_load

    data = server_load.measure(runs=5, clients=2, concurrency=2)
    for side in ("in_process", "http_sqlite"):
        row = data[side]
        assert row["runs"] == 5
        assert row["runs_per_s"] > 0
        assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert data["http_sqlite"]["completed"] == 5
    report = run.Report({"server": data}, run.QUICK, quick=True)
    report.server()
    text = "\n".join(report.lines)
    assert "HTTP + DBOS on SQLite" in text
    assert "in-process, no DBOS" in text


def test_a_run_under_the_timer_resolution_has_no_rate() -> None:
    """Quick runs in Chromium can measure 0 ms (performance.now is coarsened to 0.1 ms)."""
    assert run.rate({"events": 10, "samples": [0.0, 0.0, 0.0]}) is None
    assert run.rate({"events": 10, "samples": [0.5]}) == 20.0
