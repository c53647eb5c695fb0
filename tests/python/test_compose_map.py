"""Map steps: one child per item with a concurrency limit, results in item order, the
snapshot holding done items and running children (resume runs only the rest), abort in
the middle of a map, a failing item, and hostile map records."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from blazen_py import START_EVENT, STOP_EVENT, SnapshotError, StepError, Workflow, WorkflowAbortedError

PORTABLE = True


def item_child(log: dict[str, Any], nap: float = 0.0) -> Workflow:
    c = Workflow("item")

    async def work(event: Any, ctx: Any) -> Any:
        key = event.get("item", event.get("k"))
        log.setdefault("started", []).append(key)
        log["running"] = log.get("running", 0) + 1
        log["peak"] = max(log.get("peak", 0), log["running"])
        try:
            if nap:
                await ctx.sleep(nap)
            if key == "bad":
                raise ValueError("bad item")
        finally:
            log["running"] -= 1
        log.setdefault("finished", []).append(key)
        ctx.set("blob", b"\x00\x01")
        return {"type": STOP_EVENT, "result": {"v": key, "bytes": ctx.get_bytes("blob")}}

    c.add_step("work", [START_EVENT], work)
    return c


def mapper(c: Workflow, concurrency: int = 3) -> Workflow:
    wf = Workflow("mapper")
    wf.add_step("start", [START_EVENT], lambda e, ctx: {"type": "Items", "items": e["items"]})
    wf.add_map_step(
        "each",
        ["Items"],
        c,
        items=lambda e: e["items"],
        output=lambda results, e: {
            "type": STOP_EVENT,
            "result": [[r.data["v"], r.data["bytes"] == b"\x00\x01", bool(r.run_id)] for r in results],
        },
        concurrency=concurrency,
    )
    return wf


async def test_every_item_runs_once_in_item_order_with_the_limit() -> None:
    log: dict[str, Any] = {}
    items = [5, {"k": "m"}, 7, 8, 9, 10]
    data = (await mapper(item_child(log, nap=0.01), concurrency=2).run({"items": items})).data
    assert data == [[k, True, True] for k in [5, "m", 7, 8, 9, 10]]
    assert log["peak"] == 2
    assert sorted(map(str, log["started"])) == sorted(map(str, [5, "m", 7, 8, 9, 10]))


async def test_an_empty_map_and_the_default_output() -> None:
    wf = Workflow("empty")
    wf.add_step("start", [START_EVENT], lambda e, ctx: {"type": "Items"})
    wf.add_map_step("each", ["Items"], item_child({}), items=lambda e: [])
    assert (await wf.run()).data == []


async def test_a_failing_item_fails_the_step_and_aborts_the_others() -> None:
    log: dict[str, Any] = {}
    with pytest.raises(StepError, match="'each'"):
        await mapper(item_child(log, nap=0.05), concurrency=3).run({"items": [1, "bad", 3]})
    await asyncio.sleep(0.1)
    assert "bad" not in log.get("finished", [])
    assert log["running"] == 0


async def test_abort_in_the_middle_of_a_map_stops_the_children() -> None:
    log: dict[str, Any] = {}
    handler = await mapper(item_child(log, nap=5), concurrency=2).run_with_handler({"items": list(range(6))})
    for _ in range(200):
        if len(log.get("started", [])) == 2:
            break
        await asyncio.sleep(0.005)
    handler.abort()
    with pytest.raises(WorkflowAbortedError):
        await handler.result()
    await asyncio.sleep(0.05)
    assert (log["running"], len(log["started"]), log.get("finished")) == (0, 2, None)


async def test_a_paused_map_holds_done_items_and_running_children_and_resume_runs_only_the_rest() -> None:
    log: dict[str, Any] = {}
    items = list(range(8))
    c = item_child(log, nap=0.15)
    handler = await mapper(c, concurrency=3).run_with_handler({"items": items})
    for _ in range(400):
        if len(log.get("finished", [])) >= 3:
            break
        await asyncio.sleep(0.005)
    snap = await handler.pause()
    handler.abort()
    (record,) = snap["step_inputs"][0]["calls"]
    done = set(record["results"])
    running = set(record["children"])
    assert record["kind"] == "map"
    assert record["count"] == 8
    assert len(done) >= 3
    assert running
    assert not done & running
    finished_before = list(log["finished"])
    resumed = await mapper(c, concurrency=3).resume(json.loads(json.dumps(snap)))
    data = (await resumed.result()).data
    assert [row[0] for row in data] == items
    assert all(row[1] for row in data)  # bytes in the children's state survived the nesting
    again = log["finished"][len(finished_before) :]
    assert not set(again) & {int(i) for i in done}  # no finished item ran twice
    assert sorted(finished_before + again) == items


@pytest.mark.parametrize(
    "change, match",
    [
        ({"count": "8"}, "count is of the wrong type"),
        ({"results": {"99": {"data": 1, "run_id": "r"}}}, "not an index below"),
        ({"results": {"0": {"data": 1}}}, "must be {data, run_id}"),
        ({"results": {"x": {"data": 1, "run_id": "r"}}}, "not an index below"),
        ({"children": {"0": {"format": "nope"}}}, "not a blazen_py snapshot"),
        ({"children": []}, "must be objects"),
    ],
)
async def test_hostile_map_records_are_refused(change: dict[str, Any], match: str) -> None:
    log: dict[str, Any] = {}
    handler = await mapper(item_child(log, nap=5), concurrency=2).run_with_handler({"items": [1, 2, 3]})
    for _ in range(200):
        if len(log.get("started", [])) == 2:
            break
        await asyncio.sleep(0.005)
    snap = await handler.pause()
    handler.abort()
    snap["step_inputs"][0]["calls"][0].update(change)
    with pytest.raises(SnapshotError, match=match):
        await mapper(item_child({})).resume(json.dumps(snap))


async def test_a_durable_map_checkpoints_each_finished_item_and_a_resume_skips_them() -> None:
    from blazen_py import MemoryStore

    log: dict[str, Any] = {}
    store = MemoryStore()
    items = list(range(12))
    c = item_child(log, nap=0.03)
    handler = await mapper(c, concurrency=3).run_with_handler({"items": items}, checkpoint=store)
    for _ in range(400):
        saved = await store.load(handler.run_id)
        calls = saved["step_inputs"][0].get("calls") if saved and saved["step_inputs"] else None
        if calls and len(calls[0]["results"]) >= 4:
            break
        await asyncio.sleep(0.005)
    # the process "dies" here: only the checkpoint's text is left
    saved = json.loads(json.dumps(await store.load(handler.run_id)))
    handler.abort()
    with pytest.raises(WorkflowAbortedError):
        await handler.result()
    record = saved["step_inputs"][0]["calls"][0]
    done = {int(i) for i in record["results"]}
    assert len(done) >= 4
    before = len(log["started"])
    resumed = await mapper(c, concurrency=3).resume(saved)
    data = (await resumed.result()).data
    assert [row[0] for row in data] == items
    rerun = log["started"][before:]
    assert not set(rerun) & done  # no item whose result was saved ran again
    assert sorted(set(log["started"])) == items
