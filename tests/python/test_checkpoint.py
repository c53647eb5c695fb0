"""Durable runs: checkpoints after steps, deleted at the end, resumed after a 'crash'."""

from __future__ import annotations

import asyncio
import logging

import pytest

from blazen_py import (
    START_EVENT,
    STOP_EVENT,
    BadCheckpointError,
    CheckpointError,
    ClaimingStore,
    MemoryStore,
    RunOwnedError,
    SnapshotError,
    StoreError,
    Workflow,
    WorkflowBuilder,
)
from blazen_py.checkpoint import owner_of

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
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline:
        for key in await store.list():
            snap = await store.load(key)
            if snap is not None and predicate(snap):
                return snap
        await asyncio.sleep(0.002)
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
    async def save(self, key, snapshot, *, owner=None):
        raise StoreError("IndexedDB 'x' is over its storage quota; could not save to it")


async def test_a_store_failing_the_first_save_refuses_to_start_the_run() -> None:
    executions: list[int] = []
    with pytest.raises(CheckpointError, match="over its storage quota") as info:
        await counted(executions).build().run_with_handler(checkpoint=FullStore())
    assert isinstance(info.value.__cause__, StoreError)
    await asyncio.sleep(0.01)
    assert executions == []  # nothing ran that could not be saved
    wf = Workflow("after")
    wf.add_step("s", [START_EVENT], lambda e, c: {"type": STOP_EVENT, "result": 1})
    assert (await wf.run()).data == 1


class FailsLater(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.saves = 0

    async def save(self, key, snapshot, *, owner=None):
        self.saves += 1
        if self.saves > 1:
            raise StoreError("IndexedDB 'x' is over its storage quota; could not save to it")
        await super().save(key, snapshot, owner=owner)


async def test_a_failing_store_fails_the_run_with_checkpoint_error() -> None:
    handler = await chain(asyncio.Event()).build().run_with_handler(checkpoint=FailsLater())
    with pytest.raises(CheckpointError, match="over its storage quota") as info:
        await asyncio.wait_for(handler.result(), 5)
    assert isinstance(info.value.__cause__, StoreError)


# -- saved before the first step ---------------------------------------------------------


def counted(executions: list[int], gate: asyncio.Event | None = None, *, pause: float = 0) -> WorkflowBuilder:
    """The chain of :func:`chain`, recording every step execution in ``executions``
    (outside the workflow, so re-runs show) and waiting for ``gate`` at step 3 (and
    ``pause`` seconds in every step)."""
    b = WorkflowBuilder("durable-chain")

    async def step(event, ctx):
        n = event.get("n", 0)
        executions.append(n)
        if pause:
            await asyncio.sleep(pause)
        ctx.set("trace", (ctx.get("trace") or []) + [n])
        if n == 3 and gate is not None:
            await gate.wait()
        if n == 5:
            return {"type": STOP_EVENT, "result": ctx.get("trace")}
        return {"type": "Next", "n": n + 1}

    b.add_step("step", [START_EVENT, "Next"], step)
    return b


async def test_a_durable_run_is_saved_before_its_first_step_runs() -> None:
    store, survivor = MemoryStore(), MemoryStore()
    executions: list[int] = []
    handler = await counted(executions).build().run_with_handler({"who": "ada"}, checkpoint=store)
    # run_with_handler returned: the checkpoint is there, and no step has run yet.
    assert executions == []
    snap = await store.load(handler.run_id)
    assert snap is not None
    assert snap["run_id"] == handler.run_id
    assert [e["type"] for e in snap["queue"]] == [START_EVENT]
    assert snap["queue"][0]["who"] == "ada"
    assert snap["state"] == {}
    assert snap["step_inputs"] == []
    await survivor.save(handler.run_id, snap)  # what a reload at this moment finds
    assert (await handler.result()).data == [0, 1, 2, 3, 4, 5]
    again: list[int] = []
    wf = counted(again).build()
    assert [c["run_id"] for c in await wf.checkpoints(survivor)] == [handler.run_id]
    resumed = await wf.resume_checkpoint(survivor, handler.run_id)
    assert (await resumed.result()).data == [0, 1, 2, 3, 4, 5]
    assert again == [0, 1, 2, 3, 4, 5]
    assert await survivor.list() == []


# -- one owner per run ----------------------------------------------------------------------


async def crashed_run(store: MemoryStore, gate: asyncio.Event) -> str:
    """A checkpoint of a run that 'crashed' during step 3, saved in ``store``."""
    scratch = MemoryStore()
    handler = await chain(gate).build().run_with_handler(checkpoint=scratch)
    snap = await wait_for_checkpoint(
        scratch, lambda s: s["state"].get("trace") == [0, 1, 2] and s["step_inputs"]
    )
    await store.save(handler.run_id, snap)
    handler.abort()
    return handler.run_id


async def test_two_resumes_of_one_run_in_one_process_run_it_once() -> None:
    store, gate = MemoryStore(), asyncio.Event()
    run_id = await crashed_run(store, gate)
    gate.clear()
    executions: list[int] = []
    first = await counted(executions, gate).build().resume_checkpoint(store, run_id)
    with pytest.raises(RunOwnedError, match=f"run {run_id} is already running in this process") as info:
        await counted(executions, gate).build().resume_checkpoint(store, run_id)
    assert isinstance(info.value, CheckpointError)
    assert info.value.run_id == run_id
    gate.set()
    assert (await first.result()).data == [0, 1, 2, 3, 4, 5]
    assert executions == [3, 4, 5]


async def test_concurrent_resumes_of_one_run_one_wins() -> None:
    store, gate = MemoryStore(), asyncio.Event()
    run_id = await crashed_run(store, gate)
    executions: list[int] = []
    outcomes = await asyncio.gather(
        *(counted(executions).build().resume_checkpoint(store, run_id) for _ in range(5)),
        return_exceptions=True,
    )
    handlers = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(handlers) == 1, outcomes
    assert all(isinstance(o, RunOwnedError) for o in outcomes if o is not handlers[0])
    assert (await handlers[0].result()).data == [0, 1, 2, 3, 4, 5]
    assert executions == [3, 4, 5]


async def test_resuming_a_run_this_process_is_running_is_refused() -> None:
    # Recovery must never adopt a run that is still running here (DBOS had this bug).
    store, gate = MemoryStore(), asyncio.Event()
    executions: list[int] = []
    handler = await counted(executions, gate).build().run_with_handler(checkpoint=store)
    await wait_for_checkpoint(store, lambda s: s["state"].get("trace") == [0, 1, 2])
    with pytest.raises(RunOwnedError, match="already running in this process"):
        await counted(executions).build().resume_checkpoint(store, handler.run_id)
    gate.set()
    assert (await handler.result()).data == [0, 1, 2, 3, 4, 5]
    assert executions == [0, 1, 2, 3, 4, 5]


async def test_a_waiting_resume_finds_the_run_finished_by_its_owner() -> None:
    store, gate = MemoryStore(), asyncio.Event()
    run_id = await crashed_run(store, gate)
    gate.clear()
    executions: list[int] = []
    first = await counted(executions, gate).build().resume_checkpoint(store, run_id)
    second = asyncio.ensure_future(counted(executions).build().resume_checkpoint(store, run_id, wait=5))
    await asyncio.sleep(0.05)
    assert not second.done()  # waiting for the owner
    gate.set()
    assert (await first.result()).data == [0, 1, 2, 3, 4, 5]
    with pytest.raises(SnapshotError, match="no checkpoint of run"):
        await asyncio.wait_for(second, 5)
    assert executions == [3, 4, 5]


async def test_a_waiting_resume_gives_up_after_wait() -> None:
    store, gate = MemoryStore(), asyncio.Event()
    run_id = await crashed_run(store, gate)
    gate.clear()
    first = await chain(gate).build().resume_checkpoint(store, run_id)
    with pytest.raises(RunOwnedError, match="still owned by another run in this process"):
        await asyncio.wait_for(chain().build().resume_checkpoint(store, run_id, wait=0.05), 5)
    gate.set()
    await first.result()


async def test_resume_after_the_owner_was_aborted_sees_its_checkpoint_deleted() -> None:
    store, gate = MemoryStore(), asyncio.Event()
    run_id = await crashed_run(store, gate)
    gate.clear()
    first = await chain(gate).build().resume_checkpoint(store, run_id)
    first.abort()  # an ended run deletes its checkpoint; the next owner waits for that
    with pytest.raises(SnapshotError, match="no checkpoint of run"):
        await chain().build().resume_checkpoint(store, run_id)
    assert store.owner(run_id) is None


@pytest.mark.parametrize("wait", [-1, float("nan"), "1", True])
async def test_wait_must_be_seconds(wait) -> None:
    with pytest.raises(CheckpointError, match="wait must be a number of seconds"):
        await chain().build().resume_checkpoint(MemoryStore(), "r", wait=wait)


async def test_a_claim_held_by_another_process_refuses_the_resume() -> None:
    store, gate = MemoryStore(), asyncio.Event()
    run_id = await crashed_run(store, gate)
    assert await store.claim(run_id, "another-process")
    executions: list[int] = []
    with pytest.raises(RunOwnedError, match="owned elsewhere"):
        await counted(executions).build().resume_checkpoint(store, run_id)
    assert executions == []
    assert store.owner(run_id) == "another-process"
    assert await store.list() == [run_id]  # left for its owner
    # The other process goes away without releasing: once its lease runs out, the run is free.
    store._claims[run_id] = ("another-process", 0.0)  # its lease expired
    resumed = await counted(executions).build().resume_checkpoint(store, run_id)
    assert (await resumed.result()).data == [0, 1, 2, 3, 4, 5]
    assert executions == [3, 4, 5]
    assert store.owner(run_id) is None


async def test_a_run_whose_claim_was_taken_over_stops_and_writes_nothing() -> None:
    store, gate = MemoryStore(), asyncio.Event()
    executions: list[int] = []
    handler = await counted(executions, gate, pause=0.02).build().run_with_handler(checkpoint=store)
    await wait_for_checkpoint(store, lambda s: s["state"].get("trace") == [0, 1, 2])
    owner = owner_of(handler.run_id)
    assert owner is not None
    assert store.owner(handler.run_id) == owner.token
    # Another process takes the run over (this one's lease lapsed while it was stalled).
    store._claims[handler.run_id] = (owner.token, 0.0)
    assert await store.claim(handler.run_id, "new-owner")
    theirs = {**(await store.load(handler.run_id)), "metadata": {"theirs": True}}
    await store.save(handler.run_id, theirs, owner="new-owner")
    gate.set()
    with pytest.raises(RunOwnedError, match="no longer owned"):
        await handler.result()
    # Step 3 finished and its save was refused; step 4 may have begun meanwhile (saves are
    # asynchronous), but nothing ran to completion after the refusal.
    assert executions[:4] == [0, 1, 2, 3]
    assert executions[4:] in ([], [4])
    # The stale owner neither overwrote nor deleted the new owner's checkpoint.
    assert (await store.load(handler.run_id))["metadata"] == {"theirs": True}
    assert store.owner(handler.run_id) == "new-owner"


async def test_a_lost_lease_is_noticed_while_a_step_runs() -> None:
    store, gate = MemoryStore(lease=0.15), asyncio.Event()
    handler = await chain(gate).build().run_with_handler(checkpoint=store)
    await wait_for_checkpoint(store, lambda s: s["state"].get("trace") == [0, 1, 2])
    await asyncio.sleep(0.3)  # renewed meanwhile (every lease/3)
    assert not handler.run.finished
    owner = owner_of(handler.run_id)
    store._claims[handler.run_id] = (owner.token, 0.0)
    assert await store.claim(handler.run_id, "new-owner")
    with pytest.raises(RunOwnedError, match="taken over"):
        await asyncio.wait_for(handler.result(), 5)
    gate.set()


class PlainStore:
    """A SnapshotStore without claims: four methods, nothing else."""

    def __init__(self) -> None:
        self.inner = MemoryStore()

    async def save(self, key, snapshot):
        await self.inner.save(key, snapshot)

    async def load(self, key):
        return await self.inner.load(key)

    async def list(self):
        return await self.inner.list()

    async def delete(self, key):
        await self.inner.delete(key)


async def test_a_store_without_claims_keeps_working_with_the_in_process_guard() -> None:
    store, gate = PlainStore(), asyncio.Event()
    assert not isinstance(store, ClaimingStore)
    assert isinstance(MemoryStore(), ClaimingStore)
    run_id = await crashed_run(store.inner, gate)
    gate.clear()
    executions: list[int] = []
    first = await counted(executions, gate).build().resume_checkpoint(store, run_id)
    with pytest.raises(RunOwnedError):
        await counted(executions).build().resume_checkpoint(store, run_id)
    gate.set()
    assert (await first.result()).data == [0, 1, 2, 3, 4, 5]
    assert executions == [3, 4, 5]
    assert await store.list() == []


async def test_memory_store_claims_are_compare_and_set_and_fence_writes() -> None:
    store = MemoryStore(lease=0.05)
    assert await store.claim("r", "a")
    assert await store.claim("r", "a")  # renew
    assert not await store.claim("r", "b")
    await store.save("r", {"v": 1}, owner="a")
    with pytest.raises(RunOwnedError, match="no longer owned"):
        await store.save("r", {"v": 2}, owner="b")
    await asyncio.sleep(0.08)
    assert store.owner("r") is None  # expired
    assert await store.claim("r", "b", wait=0)
    with pytest.raises(RunOwnedError):
        await store.save("r", {"v": 3}, owner="a")  # the stale owner is fenced off
    with pytest.raises(RunOwnedError):
        await store.delete("r", owner="a")
    assert await store.load("r") == {"v": 1}
    await store.release("r", "a")  # not a's: ignored
    assert store.owner("r") == "b"
    await store.release("r", "b")
    assert await store.claim("r", "c")
    with pytest.raises(StoreError, match="lease must be"):
        MemoryStore(lease=0)


async def test_a_claim_waits_for_its_release() -> None:
    store = MemoryStore()
    assert await store.claim("r", "a")

    async def release_soon() -> None:
        await asyncio.sleep(0.05)
        await store.release("r", "a")

    task = asyncio.ensure_future(release_soon())
    assert await asyncio.wait_for(store.claim("r", "b", wait=5), 5)
    await task
    assert not await store.claim("r", "c", wait=0.05)


# -- listing is robust -------------------------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_a_bad_entry_is_reported_with_its_key_and_never_hides_the_others() -> None:
    store, gate = MemoryStore(), asyncio.Event()
    good = await crashed_run(store, gate)
    snap = await store.load(good)
    await store.save("elsewhere", snap)  # stored under a key that is not its run id
    await store.save("bad-time", {**snap, "run_id": "bad-time", "created_at": "yesterday"})
    await store.save("not-a-snapshot", {**snap, "run_id": "not-a-snapshot", "format": "pickle"})
    await store.save("other-workflow", {**snap, "run_id": "other-workflow", "workflow": "someone-else"})
    bad: list[BadCheckpointError] = []
    wf = chain().build()
    listed = await wf.checkpoints(store, on_bad=bad.append)
    assert [c["run_id"] for c in listed] == [good]
    assert sorted(b.key for b in bad) == ["bad-time", "elsewhere", "not-a-snapshot"]
    assert all(isinstance(b, BadCheckpointError) and isinstance(b, CheckpointError) for b in bad)
    reasons = {b.key: str(b) for b in bad}
    assert "must be its run id" in reasons["elsewhere"]
    assert "created_at" in reasons["bad-time"]
    assert "not a valid snapshot" in reasons["not-a-snapshot"]
    records, log = Records(), logging.getLogger("blazen_py")
    log.addHandler(records)
    try:
        assert [c["run_id"] for c in await wf.checkpoints(store)] == [good]
    finally:
        log.removeHandler(records)
    text = "\n".join(records.lines)
    assert "elsewhere" in text
    assert "bad-time" in text
    # A mis-keyed entry is refused by resume too, and runs nothing.
    with pytest.raises(BadCheckpointError, match="must be its run id") as info:
        await wf.resume_checkpoint(store, "elsewhere")
    assert info.value.key == "elsewhere"
    assert owner_of("elsewhere") is None
    assert store.owner("elsewhere") is None


@pytest.mark.parametrize("created_at", [None, True, "1", float("inf"), [1]])
async def test_a_created_at_of_the_wrong_type_is_skipped(created_at) -> None:
    store = MemoryStore()
    base = {
        "format": "blazen_py/snapshot",
        "version": 1,
        "workflow": "durable-chain",
        "state": {},
        "queue": [],
        "step_inputs": [],
        "input_requests": [],
    }
    if created_at == float("inf"):
        store._items["x"] = '{"run_id": "x", "created_at": 1e999, "workflow": "durable-chain"}'
    else:
        await store.save("x", {**base, "run_id": "x", "created_at": created_at})
    await store.save("y", {**base, "run_id": "y", "created_at": 5})
    bad: list[BadCheckpointError] = []
    assert [c["run_id"] for c in await chain().build().checkpoints(store, on_bad=bad.append)] == ["y"]
    assert [b.key for b in bad] == ["x"]


class BrokenLoad(MemoryStore):
    async def load(self, key):
        if key == "broken":
            raise StoreError("disk on fire")
        return await super().load(key)


async def test_an_unreadable_entry_is_reported() -> None:
    store = BrokenLoad()
    await store.save("broken", {})
    bad: list[BadCheckpointError] = []
    assert await chain().build().checkpoints(store, on_bad=bad.append) == []
    assert [b.key for b in bad] == ["broken"]
    assert "disk on fire" in str(bad[0])


@pytest.mark.parametrize("run_id", ["", 5, None, ["r"]])
async def test_a_run_id_must_be_a_string(run_id) -> None:
    with pytest.raises(StoreError, match="must be a non-empty string"):
        await chain().build().resume_checkpoint(MemoryStore(), run_id)
