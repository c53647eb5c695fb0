"""Parallel sub-workflow steps: children at once with their own state and run ids,
results in children order (``join="all"``) or the first one (``join="first"``, the others
aborted through their signals), a child's failure as the step's (retries apply), abort and
timeout reaching every child, the children inside the parent's snapshot (pause, resume
from JSON runs only the unfinished ones), hostile records and bad declarations.

PORTABLE: run on CPython and, by tests/pyodide, inside Pyodide in Node and Chromium.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from blazen_py import (
    START_EVENT,
    STOP_EVENT,
    SnapshotError,
    StepError,
    StepTimeoutError,
    Workflow,
    WorkflowAbortedError,
    WorkflowDefinitionError,
)

PORTABLE = True


async def until(predicate: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def kid(name: str, log: dict[str, Any], *, nap: float = 0.0, factor: int = 1, fail: int = 0) -> Workflow:
    """A child that records its run, sleeps ``nap`` and fails its first ``fail`` runs."""
    c = Workflow(name)

    async def work(event: Any, ctx: Any) -> Any:
        log.setdefault("started", []).append(name)
        log.setdefault("runs", {}).setdefault(name, []).append(ctx.run_id())
        log.setdefault("signals", {})[name] = ctx.signal
        ctx.set("mine", name)
        event["n"] = -1  # a child mutating its input must not reach its siblings
        if nap:
            await ctx.sleep(nap)
        if len(log["runs"][name]) <= fail:
            raise ValueError(f"{name} fell over")
        log.setdefault("finished", []).append(name)
        return {"type": STOP_EVENT, "result": {"who": ctx.get("mine"), "v": ctx.get("mine") and factor}}

    c.add_step("work", [START_EVENT], work)
    return c


def group(children: list[Workflow], join: str = "all", **options: Any) -> Workflow:
    wf = Workflow("group")
    wf.add_step("start", [START_EVENT], lambda e, ctx: {"type": "Go", "n": e.get("n", 1)})

    def out(results: Any, event: Any) -> Any:
        rows = [results] if join == "first" else results
        return {
            "type": STOP_EVENT,
            "result": {"rows": [[r.data["who"], r.data["v"], r.run_id] for r in rows], "n": event["n"]},
        }

    wf.add_parallel_subworkflows(
        "fan", ["Go"], children, input=lambda e: {"n": e["n"]}, output=out, join=join, **options
    )
    return wf


async def test_all_children_run_at_once_with_their_own_run_ids_in_children_order() -> None:
    log: dict[str, Any] = {}
    kids = [
        kid("slow", log, nap=0.08, factor=1),
        kid("fast", log, factor=2),
        kid("mid", log, nap=0.02, factor=3),
    ]
    handler = await group(kids).run_with_handler({"n": 4})
    result = await handler.result()
    rows = result.data["rows"]
    assert [r[:2] for r in rows] == [["slow", 1], ["fast", 2], ["mid", 3]]
    ids = [r[2] for r in rows]
    assert len(set(ids)) == 3
    assert handler.run_id not in ids
    assert ids == [log["runs"][n][0] for n in ("slow", "fast", "mid")]
    assert log["finished"][0] == "fast"  # they ran at once, not one after another
    assert result.data["n"] == 4
    assert "mine" not in (await handler.snapshot())["state"]  # each child's state stays its own


async def test_the_default_output_is_the_list_of_data_or_the_first_data() -> None:
    log: dict[str, Any] = {}
    wf = Workflow("defaults")
    wf.add_step("start", [START_EVENT], lambda e, ctx: {"type": "Go", "n": 1})
    wf.add_parallel_subworkflows("fan", ["Go"], [kid("a", log), kid("b", log, factor=5)])
    assert (await wf.run()).data == [{"who": "a", "v": 1}, {"who": "b", "v": 5}]
    first = Workflow("defaults-first")
    first.add_step("start", [START_EVENT], lambda e, ctx: {"type": "Go", "n": 1})
    first.add_parallel_subworkflows("fan", ["Go"], [kid("x", log, nap=5), kid("y", log)], join="first")
    assert (await first.run()).data == {"who": "y", "v": 1}


async def test_join_first_takes_the_first_result_and_aborts_the_others() -> None:
    log: dict[str, Any] = {}
    kids = [kid("slow", log, nap=30), kid("quick", log, nap=0.01, factor=7), kid("slower", log, nap=30)]
    result = await group(kids, join="first").run()
    assert [r[:2] for r in result.data["rows"]] == [["quick", 7]]
    await until(lambda: log["signals"]["slow"].aborted and log["signals"]["slower"].aborted)
    assert log["finished"] == ["quick"]


async def test_a_child_failure_is_the_steps_failure_and_aborts_its_siblings() -> None:
    log: dict[str, Any] = {}
    kids = [kid("ok", log, nap=30), kid("bad", log, nap=0.01, fail=99)]
    with pytest.raises(StepError, match="'fan'") as info:
        await group(kids).run()
    assert "bad fell over" in str(info.value.__cause__)
    await until(lambda: log["signals"]["ok"].aborted)
    assert "ok" not in log.get("finished", [])


async def test_a_child_failure_is_retried_under_the_retry_policy() -> None:
    log: dict[str, Any] = {}
    wf = group([kid("ok", log), kid("flaky", log, fail=1, factor=9)])
    wf.set_retry_policy({"max_attempts": 3, "initial_delay": 0, "backoff": "fixed"})
    result = await wf.run()
    assert [r[:2] for r in result.data["rows"]] == [["ok", 1], ["flaky", 9]]
    assert len(log["runs"]["flaky"]) == 2  # failed once, then the retried step ran it again
    assert result.data["rows"][1][2] == log["runs"]["flaky"][1]


async def test_abort_and_timeout_reach_every_child() -> None:
    log: dict[str, Any] = {}
    handler = await group([kid("a", log, nap=30), kid("b", log, nap=30)]).run_with_handler()
    await until(lambda: len(log.get("signals", {})) == 2)
    handler.abort()
    with pytest.raises(WorkflowAbortedError):
        await handler.result()
    await until(lambda: all(s.aborted for s in log["signals"].values()))
    log.clear()
    with pytest.raises(StepTimeoutError, match="'fan'"):
        await group([kid("c", log, nap=30), kid("d", log, nap=30)], timeout=0.1).run()
    await until(lambda: all(s.aborted for s in log["signals"].values()))
    assert log.get("finished") is None


async def test_a_pause_holds_each_child_and_resume_runs_only_the_unfinished_ones() -> None:
    log: dict[str, Any] = {}

    def kids() -> list[Workflow]:
        return [
            kid("done", log, factor=1),
            kid("napping", log, nap=0.3, factor=2),
            kid("late", log, nap=0.3, factor=3),
        ]

    handler = await group(kids()).run_with_handler({"n": 2})
    await until(lambda: "done" in log.get("finished", []) and len(log["started"]) == 3)
    snap = await handler.pause()
    handler.abort()
    (record,) = snap["step_inputs"][0]["calls"]
    assert (record["kind"], record["count"]) == ("parallel", 3)
    assert set(record["results"]) == {"0"}
    assert set(record["children"]) == {"1", "2"}
    nested = record["children"]["1"]
    assert (nested["workflow"], nested["status"]) == ("napping", "paused")
    paused_ids = {k: v["run_id"] for k, v in record["children"].items()}
    resumed = await group(kids()).resume(json.loads(json.dumps(snap)))
    rows = (await resumed.result()).data["rows"]
    assert [r[:2] for r in rows] == [["done", 1], ["napping", 2], ["late", 3]]
    assert log["started"].count("done") == 1  # the finished child did not run again
    assert [rows[1][2], rows[2][2]] == [paused_ids["1"], paused_ids["2"]]  # the same runs, continued
    assert rows[0][2] == record["results"]["0"]["run_id"]


async def test_a_snapshot_without_pause_of_join_first_resumes_to_one_winner() -> None:
    log: dict[str, Any] = {}

    def kids() -> list[Workflow]:
        return [kid("a", log, nap=0.25, factor=1), kid("b", log, nap=0.6, factor=2)]

    handler = await group(kids(), join="first").run_with_handler()
    await until(lambda: len(log.get("started", [])) == 2)
    snap = await handler.snapshot()
    assert set(snap["step_inputs"][0]["calls"][0]["children"]) == {"0", "1"}
    assert [r[:2] for r in (await handler.result()).data["rows"]] == [["a", 1]]
    resumed = await group(kids(), join="first").resume(json.dumps(snap))
    assert [r[:2] for r in (await resumed.result()).data["rows"]] == [["a", 1]]


async def test_a_durable_parent_checkpoints_each_finished_child() -> None:
    from blazen_py import MemoryStore

    log: dict[str, Any] = {}
    store = MemoryStore()

    def kids() -> list[Workflow]:
        return [kid("quick", log, factor=1), kid("long", log, nap=0.4, factor=2)]

    handler = await group(kids()).run_with_handler(checkpoint=store)

    async def saved_results() -> int:
        saved = await store.load(handler.run_id)
        calls = saved["step_inputs"][0].get("calls") if saved and saved["step_inputs"] else None
        return len(calls[0]["results"]) if calls else 0

    deadline = time.monotonic() + 20
    while await saved_results() < 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    saved = json.loads(json.dumps(await store.load(handler.run_id)))  # the process "dies"
    handler.abort()
    with pytest.raises(WorkflowAbortedError):
        await handler.result()
    resumed = await group(kids()).resume(saved)
    assert [r[:2] for r in (await resumed.result()).data["rows"]] == [["quick", 1], ["long", 2]]
    assert log["started"].count("quick") == 1


@pytest.mark.parametrize(
    "change, match",
    [
        ({"count": True}, "count is of the wrong type"),
        ({"results": {"5": {"data": 1, "run_id": "r"}}}, "not an index below"),
        ({"results": {"0": {"data": 1, "run_id": 3}}}, "must be {data, run_id}"),
        ({"children": {"1": "text"}}, "unfinished item's snapshot"),
        ({"children": {"1": {"format": "nope"}}}, "not a blazen_py snapshot"),
        ({"surprise": 1}, "not allowed in a 'parallel' record"),
    ],
)
async def test_hostile_parallel_records_are_refused(change: dict[str, Any], match: str) -> None:
    log: dict[str, Any] = {}
    handler = await group([kid("a", log, nap=5), kid("b", log, nap=5)]).run_with_handler()
    await until(lambda: len(log.get("started", [])) == 2)
    snap = await handler.pause()
    handler.abort()
    snap["step_inputs"][0]["calls"][0].update(change)
    with pytest.raises(SnapshotError, match=match):
        await group([kid("a", {}), kid("b", {})]).resume(json.dumps(snap))


async def test_a_changed_number_of_children_starts_the_step_afresh() -> None:
    log: dict[str, Any] = {}
    handler = await group([kid("a", log, nap=5), kid("b", log, nap=5)]).run_with_handler()
    await until(lambda: len(log.get("started", [])) == 2)
    snap = await handler.pause()
    handler.abort()
    fresh: dict[str, Any] = {}
    wf = group([kid("a", fresh), kid("b", fresh), kid("c", fresh)])
    resumed = await wf.resume(json.dumps(snap), allow_definition_change=True)
    rows = (await resumed.result()).data["rows"]
    assert [r[0] for r in rows] == ["a", "b", "c"]
    assert sorted(fresh["started"]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "children, join, match",
    [
        ([], "all", "must not be empty"),
        ("abc", "all", "must be a list of Workflows"),
        ([object()], "all", r"children\[0\] must be a Workflow"),
        (None, "all", "must be a list of Workflows"),
        ([Workflow("k")], "any", "join must be 'all' or 'first'"),
    ],
)
def test_bad_declarations_are_refused(children: Any, join: str, match: str) -> None:
    wf = Workflow("bad")
    with pytest.raises(WorkflowDefinitionError, match=match):
        wf.add_parallel_subworkflows("fan", ["Go"], children, join=join)


async def test_the_builder_declares_the_same_step() -> None:
    log: dict[str, Any] = {}
    b = Workflow.builder("built")
    b.add_step("start", [START_EVENT], lambda e, ctx: {"type": "Go", "n": 1})
    b.add_parallel_subworkflows("fan", ["Go"], [kid("a", log), kid("b", log, factor=2)])
    assert [d["v"] for d in (await b.build().run()).data] == [1, 2]
