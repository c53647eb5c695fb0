"""Differential test: pausing at every step boundary and resuming in a fresh workflow,
from the snapshot's JSON text, ends exactly like the uninterrupted run."""

from __future__ import annotations

import json
import sys

from workflow_gen import WANT, Generated, answer, send_wanted

from blazen_py import START_EVENT, HandlerStateError, MemoryStore, Workflow

PORTABLE = True

# Waiting, sleeping and child steps use real timers, which Pyodide turns into JS timers
# (clamped in a browser): fewer workflows there keep the module inside the test deadline.
WORKFLOWS = 36 if sys.platform == "emscripten" else 200


async def drive(handler) -> dict:
    """Answer every input request until the run ends; return its result data."""
    async for item in handler.events():
        answer(handler, item)
    return (await handler.result()).data


async def uninterrupted(gen: Generated) -> tuple[dict, int]:
    count = {"n": 0}

    def hook() -> None:
        count["n"] += 1

    gen.hook = hook
    data = await drive(await gen.builder().build().run_with_handler({}))
    gen.hook = None
    return data, count["n"]


async def paused_at(gen: Generated, boundary: int) -> dict:
    """Pause after the ``boundary``-th step invocation, resume from JSON in a fresh workflow."""
    holder: dict = {"n": 0, "pause": None}

    def hook() -> None:
        holder["n"] += 1
        if holder["n"] == boundary:
            holder["pause"] = holder["handler"].pause()

    gen.hook = hook
    handler = await gen.builder().build().run_with_handler({})
    holder["handler"] = handler
    wanted = []
    async for item in handler.events():
        if holder["pause"] is not None:
            break
        answer(handler, item)
        if item.event_type == WANT:
            wanted.append(item)
    gen.hook = None
    if holder["pause"] is None:
        return (await handler.result()).data
    try:
        snap = await holder["pause"]
    except HandlerStateError:
        return (await handler.result()).data  # the step that paused also stopped the run
    for item in handler._items:
        if item.event_type == WANT and item not in wanted:
            send_wanted(handler, item)  # sent while paused: kept for its waiter
    snap = await handler.snapshot()
    handler.abort()
    text = json.dumps(snap)
    resumed = await Workflow.from_builder(gen.builder()).resume(json.loads(text))
    return await drive(resumed)


async def snapshot_at(gen: Generated, boundary: int) -> dict:
    """Snapshot (without pausing) inside the ``boundary``-th step invocation, stop the run,
    resume from JSON in a fresh workflow: the unfinished invocations run again.

    (Generated steps write state only after their last suspension: a snapshot leaves out
    the writes of unfinished invocations by their keys' old values, which is exact only
    when no finished invocation wrote the same key after them.)"""
    holder: dict = {"n": 0, "snap": None}

    def hook() -> None:
        holder["n"] += 1
        if holder["n"] == boundary:
            holder["snap"] = holder["handler"].snapshot()

    gen.hook = hook
    handler = await gen.builder().build().run_with_handler({})
    holder["handler"] = handler
    async for item in handler.events():
        if holder["snap"] is not None:
            break
        answer(handler, item)
    gen.hook = None
    if holder["snap"] is None:
        return (await handler.result()).data
    snap = await holder["snap"]
    handler.abort()
    resumed = await Workflow.from_builder(gen.builder()).resume(json.loads(json.dumps(snap)))
    return await drive(resumed)


async def test_snapshot_inside_every_step_resumes_to_the_same_result() -> None:
    checked = 0
    for seed in range(WORKFLOWS // 2):
        gen = Generated(seed)
        expected, boundaries = await uninterrupted(gen)
        for boundary in range(1, boundaries + 1):
            got = await snapshot_at(gen, boundary)
            assert got == expected, f"seed {seed}, snapshot in step {boundary}"
            checked += 1
    assert checked > WORKFLOWS // 2


async def test_pause_at_every_boundary_resumes_to_the_same_result() -> None:
    checked = 0
    for seed in range(WORKFLOWS):
        gen = Generated(seed)
        expected, boundaries = await uninterrupted(gen)
        assert expected["sinks"] == gen.expected_sinks
        assert "kept_a_failed_write" not in expected["state"]  # failed attempts leave no trace
        for boundary in range(1, boundaries + 1):
            got = await paused_at(gen, boundary)
            assert got == expected, f"seed {seed}, paused at step {boundary}"
            checked += 1
    assert checked > WORKFLOWS


class RecordingStore(MemoryStore):
    """A MemoryStore that keeps the JSON text of every checkpoint saved, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[str] = []

    async def save(self, key, snapshot, *, owner=None):
        await super().save(key, snapshot, owner=owner)
        self.saved.append(json.dumps(snapshot))


async def test_resuming_from_every_saved_checkpoint_ends_like_the_uninterrupted_run() -> None:
    """A durable run may be cut after any save (a reload, a killed process): resumed from
    each checkpoint it saved, the first one (saved before any step ran) included, in a
    fresh workflow and store, it ends exactly like the run that was not cut."""
    checked = 0
    for seed in range(WORKFLOWS):
        gen = Generated(seed)
        store = RecordingStore()
        handler = await gen.builder().build().run_with_handler({}, checkpoint=store)
        assert len(store.saved) == 1  # saved before its first step, before this returned
        first = json.loads(store.saved[0])
        assert [e["type"] for e in first["queue"]] == [START_EVENT]
        assert first["state"] == {}
        expected = await drive(handler)
        assert expected["sinks"] == gen.expected_sinks
        assert await store.list() == []
        for i, text in enumerate(store.saved):
            survivor = MemoryStore()
            snap = json.loads(text)
            await survivor.save(snap["run_id"], snap)
            wf = Workflow.from_builder(gen.builder())
            assert [c["run_id"] for c in await wf.checkpoints(survivor)] == [snap["run_id"]]
            got = await drive(await wf.resume_checkpoint(survivor, snap["run_id"]))
            assert got == expected, f"seed {seed}, resumed from checkpoint {i}"
            assert await survivor.list() == []
            checked += 1
    assert checked > 2 * WORKFLOWS
