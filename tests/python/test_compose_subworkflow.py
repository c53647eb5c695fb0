"""Sub-workflow steps: input/output mapping, child items on the parent's stream with
``path``, the child's failure as the step's, abort and timeout reaching the child, and the
child's run inside the parent's snapshot (pause, resume from JSON, hostile nested data)."""

from __future__ import annotations

import asyncio
import json
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
)

PORTABLE = True


def child(seen: dict[str, Any] | None = None, *, nap: float = 0.0, fail: bool = False) -> Workflow:
    c = Workflow("child")

    async def work(event: Any, ctx: Any) -> Any:
        if seen is not None:
            seen.setdefault("runs", []).append(ctx.run_id())
            seen["signal"] = ctx.signal
        ctx.set("n", event["n"])
        ctx.write_event_to_stream({"type": "Progress", "n": event["n"]})
        if nap:
            await ctx.sleep(nap)
        if fail:
            raise ValueError("the child fell over")
        return {"type": STOP_EVENT, "result": event["n"] * 2}

    c.add_step("work", [START_EVENT], work)
    return c


def parent(c: Workflow, **options: Any) -> Workflow:
    p = Workflow("parent")
    p.add_step("start", [START_EVENT], lambda e, ctx: {"type": "Go", "n": e["n"]})
    p.add_subworkflow_step(
        "sub",
        ["Go"],
        c,
        input=lambda e: {"n": e["n"] + 1},
        output=lambda result, e: {
            "type": STOP_EVENT,
            "result": {"child": result.data, "n": e["n"], "id": result.run_id},
        },
        **options,
    )
    return p


async def test_the_child_runs_with_its_own_run_id_and_state_and_its_result_is_mapped() -> None:
    seen: dict[str, Any] = {}
    handler = await parent(child(seen)).run_with_handler({"n": 3})
    result = await handler.result()
    assert result.data["child"] == 8
    assert result.data["n"] == 3
    assert result.data["id"] == seen["runs"][0] != handler.run_id
    assert "n" not in (await handler.snapshot())["state"]  # the child's state stays the child's
    paths = [(i.event_type, i.get("path")) for i in handler._items if i.get("path")]
    assert ("Progress", ["sub"]) in paths


async def test_the_default_mappings_pass_fields_and_stop_with_the_childs_data() -> None:
    p = Workflow("parent")
    p.add_step("start", [START_EVENT], lambda e, ctx: {"type": "Go", "n": 5})
    p.add_subworkflow_step("sub", ["Go"], child())
    assert (await p.run()).data == 10


async def test_a_child_failure_is_the_steps_failure() -> None:
    with pytest.raises(StepError, match="'sub'") as info:
        await parent(child(fail=True)).run({"n": 1})
    assert isinstance(info.value.__cause__, StepError)
    assert "the child fell over" in str(info.value.__cause__)


async def test_abort_and_timeout_reach_the_child() -> None:
    seen: dict[str, Any] = {}
    handler = await parent(child(seen, nap=30)).run_with_handler({"n": 1})
    for _ in range(200):
        if "signal" in seen:
            break
        await asyncio.sleep(0.005)
    handler.abort()
    with pytest.raises(WorkflowAbortedError):
        await handler.result()
    await asyncio.sleep(0.01)
    assert seen["signal"].reason == "aborted"
    seen.clear()
    with pytest.raises(StepTimeoutError, match="'sub'"):
        await parent(child(seen, nap=30), timeout=0.1).run({"n": 1})
    await asyncio.sleep(0.01)
    assert seen["signal"].aborted


async def test_a_pause_holds_the_childs_snapshot_and_resume_from_json_continues_it() -> None:
    seen: dict[str, Any] = {}
    handler = await parent(child(seen, nap=0.3)).run_with_handler({"n": 2})
    for _ in range(200):
        if "signal" in seen:
            break
        await asyncio.sleep(0.005)
    snap = await handler.pause()
    handler.abort()
    (item,) = snap["step_inputs"]
    (record,) = item["calls"]
    nested = record["snapshot"]
    assert (record["kind"], nested["workflow"], nested["status"]) == ("child", "child", "paused")
    assert nested["step_inputs"][0]["calls"][0]["kind"] == "sleep"
    resumed = await parent(child(seen, nap=0.3)).resume(json.loads(json.dumps(snap)))
    result = await resumed.result()
    assert result.data["child"] == 6
    assert result.data["id"] == nested["run_id"]  # the same child run, continued
    assert len(set(seen["runs"])) == 1


async def test_a_snapshot_without_pause_holds_the_running_child() -> None:
    handler = await parent(child(nap=0.2)).run_with_handler({"n": 2})
    await asyncio.sleep(0.05)
    snap = await handler.snapshot()
    (record,) = snap["step_inputs"][0]["calls"]
    assert record["snapshot"]["status"] == "running"
    assert (await handler.result()).data["child"] == 6
    resumed = await parent(child(nap=0.2)).resume(json.dumps(snap))
    assert (await resumed.result()).data["child"] == 6


@pytest.mark.parametrize(
    "nested, match",
    [
        ("text", "snapshot is of the wrong type"),
        ({"format": "other"}, "not a blazen_py snapshot"),
        ({"format": "blazen_py/snapshot", "version": 99}, "newer than"),
    ],
)
async def test_hostile_nested_snapshots_are_refused(nested: Any, match: str) -> None:
    handler = await parent(child(nap=0.3)).run_with_handler({"n": 2})
    await asyncio.sleep(0.05)
    snap = await handler.pause()
    handler.abort()
    snap["step_inputs"][0]["calls"][0]["snapshot"] = nested
    with pytest.raises(SnapshotError, match=match):
        await parent(child()).resume(json.dumps(snap))
