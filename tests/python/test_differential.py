"""Differential test: pausing at every step boundary and resuming in a fresh workflow,
from the snapshot's JSON text, ends exactly like the uninterrupted run.

The boundaries include each model call of the generated agent steps (ctx.run_agent): a
pause or snapshot taken while one is under way. Over the run cut there and the resumed
run, no completed model turn and no tool call runs twice (see :func:`check_agents`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections import Counter

from workflow_gen import AGENT_KINDS, WANT, Generated, answer, send_wanted

import blazen_py
from blazen_py import START_EVENT, HandlerStateError, MemoryStore, Workflow, runtime

PORTABLE = True

# Waiting, sleeping and child steps use real timers, which Pyodide turns into JS timers
# (clamped in a browser): fewer workflows there keep the module inside the test deadline.
WORKFLOWS = 36 if sys.platform == "emscripten" else 200
# Workflows with agent steps: tests of their own (the others are near their time limit).
AGENT_WORKFLOWS = 8 if sys.platform == "emscripten" else 40


async def drive(handler) -> dict:
    """Answer every input request until the run ends; return its result data."""
    async for item in handler.events():
        answer(handler, item)
    return (await handler.result()).data


def cut(gen: Generated) -> tuple:
    """What the agents had done when a run was cut (its snapshot taken)."""
    return Counter(gen.model_calls), Counter(gen.tool_calls), Counter(gen.agents_running)


async def ended(gen: Generated, handler) -> None:
    """Wait for an aborted run to wind down: what it still does is not the resumed run's.

    (Measured: a step invocation dispatched before the abort may still make its first
    model call a few loop turns after ``result()`` has raised; it is counted, then
    forgotten with the rest of the abandoned run.)"""
    if not gen.has_agents:
        return  # nothing of the abandoned run is counted
    with contextlib.suppress(Exception):
        await handler.result()
    for _ in range(50):
        await asyncio.sleep(0)


def forget_agents(gen: Generated) -> None:
    gen.model_calls.clear()
    gen.tool_calls.clear()
    gen.agents_running.clear()


def check_agents(gen: Generated, expected: tuple, at: tuple, where: str) -> None:
    """Over the run cut at ``at`` and the resumed run (``gen``'s counters now), compared
    with the uninterrupted run: each tool call ran as often (no tool ran twice); each
    model turn was asked as often, but an agent invocation running at the cut may ask
    the one turn it had under way again (that turn had not completed)."""
    model, tools = expected
    done_model, done_tools, running = at
    assert set(done_tools) | set(gen.tool_calls) <= set(tools), where
    for call, times in tools.items():
        ran = done_tools[call] + gen.tool_calls[call]
        assert ran == times, (where, call, done_tools[call], gen.tool_calls[call])
    assert set(done_model) | set(gen.model_calls) <= set(model), where
    extras = 0
    for (key, turn), times in model.items():
        extra = done_model[(key, turn)] + gen.model_calls[(key, turn)] - times
        assert 0 <= extra <= running[key], (where, key, turn, extra, running[key])
        extras += extra
    assert extras <= sum(running.values()), where


async def uninterrupted(gen: Generated) -> tuple[dict, int]:
    count = {"n": 0}

    def hook() -> None:
        count["n"] += 1

    forget_agents(gen)
    gen.hook = hook
    data = await drive(await gen.builder().build().run_with_handler({}))
    gen.hook = None
    gen.expected_agents = (Counter(gen.model_calls), Counter(gen.tool_calls))
    return data, count["n"]


async def paused_at(gen: Generated, boundary: int) -> dict:
    """Pause after the ``boundary``-th step invocation, resume from JSON in a fresh workflow."""
    holder: dict = {"n": 0, "pause": None}

    def hook() -> None:
        holder["n"] += 1
        if holder["n"] == boundary:
            holder["pause"] = holder["handler"].pause()

    forget_agents(gen)
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
    at = cut(gen)  # paused: nothing runs until the snapshot is taken
    snap = await handler.snapshot()
    handler.abort()
    await ended(gen, handler)
    text = json.dumps(snap)
    forget_agents(gen)
    resumed = await Workflow.from_builder(gen.builder()).resume(json.loads(text))
    data = await drive(resumed)
    check_agents(gen, gen.expected_agents, at, f"seed {gen.seed}, paused at step {boundary}")
    return data


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
            holder["at"] = cut(gen)  # the run goes on meanwhile: what it does later is lost

    forget_agents(gen)
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
    await ended(gen, handler)
    forget_agents(gen)
    resumed = await Workflow.from_builder(gen.builder()).resume(json.loads(json.dumps(snap)))
    data = await drive(resumed)
    check_agents(gen, gen.expected_agents, holder["at"], f"seed {gen.seed}, snapshot in step {boundary}")
    return data


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


def with_agents(count: int) -> list[Generated]:
    """Generated workflows that have at least one agent step."""
    found = (Generated(seed, AGENT_KINDS) for seed in range(10 * count))
    return [g for g in found if g.has_agents][:count]


async def test_agents_paused_at_every_boundary_resume_with_no_completed_call_again() -> None:
    checked = agents = 0
    for gen in with_agents(AGENT_WORKFLOWS):
        expected, boundaries = await uninterrupted(gen)
        assert expected["sinks"] == gen.expected_sinks
        agents += len({k for k, _ in gen.expected_agents[1]})
        for boundary in range(1, boundaries + 1):
            got = await paused_at(gen, boundary)
            assert got == expected, f"seed {gen.seed}, paused at step {boundary}"
            checked += 1
    assert agents >= AGENT_WORKFLOWS
    assert checked > AGENT_WORKFLOWS


async def test_agents_snapshot_inside_every_step_resume_with_no_completed_call_again() -> None:
    checked = 0
    for gen in with_agents(AGENT_WORKFLOWS // 3):
        expected, boundaries = await uninterrupted(gen)
        for boundary in range(1, boundaries + 1):
            got = await snapshot_at(gen, boundary)
            assert got == expected, f"seed {gen.seed}, snapshot in step {boundary}"
            checked += 1
    assert checked > AGENT_WORKFLOWS // 3


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


@contextlib.contextmanager
def inlined(on: bool):
    """Runs made meanwhile take the pump's fast path or not (``runtime._INLINED``, the
    switch bench/ compares both designs with)."""
    previous, runtime._INLINED = runtime._INLINED, on
    try:
        yield
    finally:
        runtime._INLINED = previous


async def test_the_general_dispatch_path_resumes_alike() -> None:
    """With the pump's fast path off every event goes through the general code: the same
    result, and pausing at every boundary resumes to it (a quarter of the workflows
    above; test_inlined_pump.py compares streams and snapshots of both paths)."""
    checked = 0
    for seed in range(0, WORKFLOWS, 4):
        with inlined(True):
            fast, _ = await uninterrupted(Generated(seed))
        with inlined(False):
            gen = Generated(seed)
            expected, boundaries = await uninterrupted(gen)
            assert expected == fast, f"seed {seed}"
            for boundary in range(1, boundaries + 1):
                got = await paused_at(gen, boundary)
                assert got == expected, f"seed {seed}, paused at step {boundary}, not inlined"
                checked += 1
    assert checked > WORKFLOWS // 4


@contextlib.contextmanager
def fast_loop():
    """The page's loop with ``blazen_py.install_fast_loop()`` (a no-op on CPython), left as
    it was found (the pyodide tier may run with it installed throughout)."""
    mine = blazen_py.install_fast_loop()
    try:
        yield
    finally:
        if mine:
            blazen_py.uninstall_fast_loop()


async def test_pausing_at_every_boundary_resumes_alike_on_the_fast_loop() -> None:
    """With every asyncio callback from the loop-level ready queue (install_fast_loop),
    a quarter of the workflows above: the result of the uninterrupted run is the same,
    and pausing at every boundary resumes to it."""
    checked = 0
    for seed in range(1, WORKFLOWS, 4):
        gen = Generated(seed)
        with fast_loop():
            expected, boundaries = await uninterrupted(gen)
            assert expected["sinks"] == gen.expected_sinks, f"seed {seed}"
            for boundary in range(1, boundaries + 1):
                got = await paused_at(gen, boundary)
                assert got == expected, f"seed {seed}, paused at step {boundary}, fast loop"
                checked += 1
    assert checked > WORKFLOWS // 4
