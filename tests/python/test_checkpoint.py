"""Durable runs: checkpoints after steps, deleted at the end, resumed after a 'crash'."""

from __future__ import annotations

import asyncio

import pytest

from blazen_py import (
    START_EVENT,
    STOP_EVENT,
    CheckpointError,
    MemoryStore,
    SnapshotError,
    StoreError,
    Workflow,
    WorkflowBuilder,
)

PORTABLE = True


def chain(gate: asyncio.Event | None = None) -> WorkflowBuilder:
    """Five steps, each appending to a trace in state; step 3 waits for ``gate``."""
    b = WorkflowBuilder("durable-chain")

    async def step(event, ctx):
        n = event.get("n", 0)
        ctx.set("trace", (ctx.get("trace") or []) + [n])
        if n == 3 and gate is not None:
            await gate.wait()
        if n == 5:
            return {"type": STOP_EVENT, "result": ctx.get("trace")}
        return {"type": "Next", "n": n + 1}

    b.add_step("step", [START_EVENT, "Next"], step)
    return b


async def wait_for_checkpoint(store: MemoryStore, predicate) -> dict:
    for _ in range(200):
        for key in await store.list():
            snap = await store.load(key)
            if snap is not None and predicate(snap):
                return snap
        await asyncio.sleep(0.001)
    raise AssertionError("no matching checkpoint was saved")


async def test_durable_run_checkpoints_then_deletes_when_done() -> None:
    store = MemoryStore()
    gate = asyncio.Event()
    handler = await chain(gate).build().run_with_handler(checkpoint=store)
    snap = await wait_for_checkpoint(store, lambda s: s["state"].get("trace") == [0, 1, 2])
    # Step 3 is unfinished: its input is kept, its write to the trace is not.
    assert [(i["step"], i["event"]["n"]) for i in snap["step_inputs"]] == [("step", 3)]
    assert snap["run_id"] == handler.run_id
    assert snap["metadata"] == {"checkpoint": True}
    gate.set()
    assert (await handler.result()).data == [0, 1, 2, 3, 4, 5]
    assert await store.list() == []


async def test_run_with_checkpoint_returns_after_cleanup() -> None:
    store = MemoryStore()
    result = await chain().build().run({}, checkpoint=store)
    assert result.data == [0, 1, 2, 3, 4, 5]
    assert await store.list() == []


async def test_resume_after_a_crash_does_not_rerun_completed_steps() -> None:
    store, survivor = MemoryStore(), MemoryStore()
    gate = asyncio.Event()
    handler = await chain(gate).build().run_with_handler(checkpoint=store)
    snap = await wait_for_checkpoint(
        store, lambda s: s["state"].get("trace") == [0, 1, 2] and s["step_inputs"]
    )
    await survivor.save(handler.run_id, snap)  # what a reloaded page finds in IndexedDB
    handler.abort()
    gate.set()

    wf = chain(gate).build()
    listed = await wf.checkpoints(survivor)
    assert [c["run_id"] for c in listed] == [handler.run_id]
    assert listed[0]["workflow"] == "durable-chain"
    resumed = await wf.resume_checkpoint(survivor, handler.run_id)
    # Step 3 was unfinished: it runs again, from the state it started from.
    assert (await resumed.result()).data == [0, 1, 2, 3, 4, 5]
    assert await survivor.list() == []


async def test_checkpoints_lists_only_this_workflows_runs() -> None:
    store = MemoryStore()
    await store.save("other", {"workflow": "someone-else", "run_id": "other"})
    await store.save("junk", {"not": "a snapshot"})
    assert await chain().build().checkpoints(store) == []


async def test_resume_checkpoint_of_unknown_run() -> None:
    with pytest.raises(SnapshotError, match="no checkpoint of run 'nope'"):
        await chain().build().resume_checkpoint(MemoryStore(), "nope")


class FullStore(MemoryStore):
    async def save(self, key, snapshot):
        raise StoreError("IndexedDB 'x' is over its storage quota; could not save to it")


async def test_a_failing_store_fails_the_run_with_checkpoint_error() -> None:
    gate = asyncio.Event()
    handler = await chain(gate).build().run_with_handler(checkpoint=FullStore())
    with pytest.raises(CheckpointError, match="over its storage quota") as info:
        await handler.result()
    assert isinstance(info.value.__cause__, StoreError)
    wf = Workflow("after")
    wf.add_step("s", [START_EVENT], lambda e, c: {"type": STOP_EVENT, "result": 1})
    assert (await wf.run()).data == 1
