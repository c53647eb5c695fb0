"""One owner per durable run across real processes, through a store that claims (a
SQLite ClaimingStore, tests/python/sqlite_store.py, as a server store would be):
processes resuming the same run execute it once; a killed owner's lease runs out and a
waiting process takes the run over from its last save; a process that lost its claim
cannot overwrite the new owner's checkpoint."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlite_store import SqliteStore

from blazen_py import START_EVENT, STOP_EVENT, MemoryStore, RunOwnedError, WorkflowBuilder

WORKER = Path(__file__).with_name("durable_worker.py")
STEPS = [0, 1, 2, 3, 4, 5]


def chain(gate: asyncio.Event) -> WorkflowBuilder:
    b = WorkflowBuilder("durable-chain")

    async def step(event, ctx):
        n = event.get("n", 0)
        ctx.set("trace", (ctx.get("trace") or []) + [n])
        if n == 3:
            await gate.wait()
        if n == 5:
            return {"type": STOP_EVENT, "result": ctx.get("trace")}
        return {"type": "Next", "n": n + 1}

    b.add_step("step", [START_EVENT, "Next"], step)
    return b


async def crashed_checkpoint(store: SqliteStore) -> str:
    """The checkpoint of a run that crashed during step 3, left in ``store``."""
    scratch, gate = MemoryStore(), asyncio.Event()
    handler = await chain(gate).build().run_with_handler(checkpoint=scratch)
    for _ in range(1000):
        snap = await scratch.load(handler.run_id)
        if snap is not None and snap["state"].get("trace") == [0, 1, 2] and snap["step_inputs"]:
            break
        await asyncio.sleep(0.005)
    else:
        raise AssertionError("no checkpoint with steps 0-2 done")
    await store.save(handler.run_id, snap)
    handler.abort()
    return handler.run_id


def start_worker(db: Path, run_id: str, name: str, *, wait: float, lease: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(db), run_id, name, str(wait), str(lease)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def outcome(process: subprocess.Popen[str]) -> dict:
    out, err = process.communicate(timeout=120)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert lines, err
    return lines[-1]


async def wait_for(predicate, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def wait_for_save(store: SqliteStore, run_id: str, trace: list[int], seconds: float = 60) -> None:
    """Wait until the checkpoint saved in ``store`` records the steps of ``trace`` finished."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        snap = await store.load(run_id)
        if snap is not None and snap["state"].get("trace", [])[: len(trace)] == trace:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for a save of steps {trace}")


async def test_processes_resuming_one_run_execute_it_once(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite"
    store = SqliteStore(str(db))
    run_id = await crashed_checkpoint(store)
    workers = [start_worker(db, run_id, f"w{i}", wait=0, lease=30) for i in range(3)]
    outcomes = [outcome(w) for w in workers]
    winners = [o for o in outcomes if "result" in o]
    assert len(winners) == 1, outcomes
    assert winners[0]["result"] == STEPS
    for o in outcomes:
        if o is not winners[0]:
            assert o["error"] == "RunOwnedError", outcomes
            assert "owned elsewhere" in o["message"]
    executions = store.executions()
    assert executions == [(winners[0]["worker"], n) for n in (3, 4, 5)], executions
    assert await store.list() == []


async def test_a_killed_owners_lease_runs_out_and_a_waiting_process_takes_over(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite"
    store = SqliteStore(str(db), lease=1.5)
    run_id = await crashed_checkpoint(store)
    first = start_worker(db, run_id, "first", wait=0, lease=1.5)
    await wait_for(lambda: ("first", 3) in store.executions(), "the first process to own the run")
    second = start_worker(db, run_id, "second", wait=60, lease=1.5)
    await wait_for(lambda: ("first", 4) in store.executions(), "the first process to run step 4")
    # Step 4 can start before the save that records step 3 as finished lands (saves follow
    # completions, at-least-once): kill only once that save is in the store, so that what
    # the second may run again is exactly what the documented contract allows.
    await wait_for_save(store, run_id, [0, 1, 2, 3])
    os.kill(first.pid, signal.SIGKILL)  # no release, no cleanup: only the lease ends it
    killed = time.time()
    first.communicate(timeout=30)
    got = outcome(second)
    assert got == {"worker": "second", "result": STEPS}
    executions = store.executions()
    first_steps = [n for w, n in executions if w == "first"]
    second_steps = [n for w, n in executions if w == "second"]
    assert first_steps[:2] == [3, 4]
    # The second resumed from the first one's last save: step 4 (running or just finished
    # when it was killed) may run again; step 3, saved as finished, does not.
    assert second_steps in ([4, 5], [5]), executions
    # The second ran nothing while the first held the claim, though it started before.
    assert all(at > killed for w, _, at in store.executions_at() if w == "second")
    assert await store.list() == []


async def test_a_process_that_lost_its_claim_cannot_overwrite_the_new_owner(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "store.sqlite"), lease=0.2)
    assert await store.claim("r", "old")
    await store.save("r", {"v": "old"}, owner="old")
    await asyncio.sleep(0.3)  # the old owner stalls past its lease
    assert await store.claim("r", "new")
    await store.save("r", {"v": "new"}, owner="new")
    with pytest.raises(RunOwnedError):
        await store.save("r", {"v": "stale"}, owner="old")
    with pytest.raises(RunOwnedError):
        await store.delete("r", owner="old")
    assert not await store.claim("r", "old")
    assert await store.load("r") == {"v": "new"}
