"""Smoke run of the Chromium benchmarks (bench/) with tiny sizes, in the tier's browser.

Python steps, JS steps on blazen.js and @llama-flow/core, the JS-step profile,
snapshots with IndexedDB, the memory soak and one cold start (first visit and reload)
of each page, with and without the memory snapshot: they run and
give sane numbers. No timing thresholds. (The tier's Chromium has no `gc()`, so the soak
here measures without forcing a collection.)
"""

from __future__ import annotations

from typing import Any

from bench import run

QUICK = run.QUICK


def test_browser_benchmarks_run(browser: Any) -> None:
    result = run.browser_suite(browser, QUICK)

    assert result["boot"]["pyodide"]
    python = result["python"]["records"]
    names = {"loop", "loop_not_inlined", "loop_suspend", "loop_suspend_old", "loop_suspend_fast"}
    names |= {"fanout_suspend", "fanout_suspend_old"}
    names |= {"fanout_small", "fanout_large", "chain", "sleep_floor", "sleep_floor_fast"}
    assert {r["name"] for r in python} == names
    assert all((run.rate(r) or 0) > 0 for r in python)

    long_runs = result["responsiveness"]["records"]
    assert [r["name"] for r in long_runs] == ["loop", "loop_suspend", "loop_suspend_fast"]
    for record in long_runs:
        assert record["seconds"] > 0, record
        assert record["frame_gap_ms"] > 0, record  # some frame gap was measured
        assert record["tick_gap_ms"] > 0, record

    js = result["js"]["records"]
    engines = {"blazen.js", "blazen.js (eager events)", "@llama-flow/core"}
    engines |= {"blazen.js (pure steps)", "bare JS calls (floor)"}
    assert {r["engine"] for r in js} == engines
    pure = {r["name"] for r in js if r["engine"] == "blazen.js (pure steps)"}
    assert pure == {f"pure_loop_{QUICK['sizes']['loop']}", f"pure_loop_{QUICK['sizes']['fanout_large']}"}
    for record in js:
        if not record["engine"].startswith("@") or not record.get("error"):
            assert not record.get("error"), record
            assert len(record["samples"]) == QUICK["runs"]
            # a run can be under the timer's 0.1 ms at quick sizes: no rate then, never <= 0
            assert all(t >= 0 for t in record["samples"]), record
            assert run.rate(record) is None or run.rate(record) > 0, record
    assert set(result["js_profiles"]) == {"sync", "async"}
    assert all(p["top"] for p in result["js_profiles"].values())

    snapshots = result["snapshots"]["records"]
    assert [r["size"] for r in snapshots] == QUICK["snapshot_sizes"]
    for record in snapshots:
        assert record["json_bytes"] >= record["size"]
        for stage, samples in record["stages"].items():
            assert len(samples) == QUICK["runs"], stage
            assert all(s >= 0 for s in samples), stage

    soak = result["soak"]
    assert soak["runs"] == QUICK["soak"]["runs"]
    assert soak["seconds"] > 0
    assert soak["before"]["wasm_bytes"] > 0
    assert soak["after"]["wasm_bytes"] >= soak["before"]["wasm_bytes"]

    cold = result["cold"]
    assert set(cold) == {"pyodide", "blazen", "snapshot", "snapshot_plain"}
    for runs in cold.values():
        assert len(runs) == QUICK["cold_starts"]
        assert all(run[visit]["result"] > 0 for run in runs for visit in ("first", "reload"))
    assert "snapshot" in cold["snapshot"][0]["first"]  # booted from the memory snapshot
    assert "snapshot" in cold["snapshot_plain"][0]["first"]
    assert "snapshot" not in cold["blazen"][0]["first"]

    markdown = run.Report({"browser": result}, QUICK, quick=True).render()
    for heading in ("## 2b. Chromium, JS steps", "## 3. Cold start", "## 4. Snapshots", "## 5. Memory soak"):
        assert heading in markdown
