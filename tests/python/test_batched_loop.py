"""Batched continuation of parked flights: order, and what a long run lets in.

Portable: runs on CPython, in Pyodide on Node and in Pyodide in Chromium, where a timer
getting in during a long run proves the dispatcher's yield goes through ``setTimeout``
(a MessageChannel task that posts its own continuation runs before due timers).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from blazen_py import START_EVENT, STOP_EVENT, Workflow, WorkflowAbortedError, runtime

PORTABLE = True


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """The dispatcher's TIME_BUDGET set to ``seconds`` for the block."""
    saved, runtime.TIME_BUDGET = runtime.TIME_BUDGET, seconds
    try:
        yield
    finally:
        runtime.TIME_BUDGET = saved


def set_timeout(callback) -> None:
    """A real timer: ``setTimeout(callback, 0)`` in Pyodide (Pyodide's ``call_later(0)``
    is a MessageChannel task, not a timer), ``call_later(0)`` on CPython."""
    if sys.platform == "emscripten":
        import js
        from pyodide.ffi import create_once_callable

        js.setTimeout(create_once_callable(callback), 0)
    else:
        asyncio.get_running_loop().call_later(0, callback)


@contextmanager
def batched(on: bool):
    previous, runtime._BATCHED = runtime._BATCHED, on
    try:
        yield
    finally:
        runtime._BATCHED = previous


def suspending_loop(n: int, at_hop=None) -> Workflow:
    """Ping-pong of ``n`` steps, each awaiting ``asyncio.sleep(0)`` once; ``at_hop(i)`` is
    called by every step with its number."""
    wf = Workflow("suspending-loop")

    async def ping(event, ctx):
        i = event.get("i", 0)
        if at_hop is not None:
            at_hop(i)
        await asyncio.sleep(0)
        i += 1
        return {"type": STOP_EVENT, "result": i} if i >= n else {"type": "Ping", "i": i}

    wf.add_step("ping", [START_EVENT, "Ping"], ping)
    return wf


@pytest.mark.parametrize("on", [True, False])
async def test_parked_flights_continue_in_fifo_order(on: bool) -> None:
    # Five workers, each yielding three times: every round continues them in the order
    # they parked, as one loop callback per hop did (the previous design, off).
    order = []
    wf = Workflow("fifo")

    def split(event, ctx):
        return [{"type": "W", "i": i} for i in range(5)]

    async def work(event, ctx):
        for r in range(3):
            order.append((r, event["i"]))
            await asyncio.sleep(0)
        order.append((3, event["i"]))
        return {"type": "Done"}

    def join(event, ctx):
        n = (ctx.get("n") or 0) + 1
        ctx.state.set("n", n)
        return {"type": STOP_EVENT, "result": n} if n == 5 else None

    wf.add_step("split", [START_EVENT], split)
    wf.add_step("work", ["W"], work)
    wf.add_step("join", ["Done"], join)
    with batched(on):
        assert (await wf.run()).data == 5
    assert order == [(r, i) for r in range(4) for i in range(5)]


async def test_flights_of_two_runs_interleave_fifo() -> None:
    # One queue for all runs on the loop: two runs started together take turns hop by hop.
    seen = []

    def workflow(name: str) -> Workflow:
        wf = Workflow(name)

        async def step(event, ctx):
            for k in range(4):
                seen.append((name, k))
                await asyncio.sleep(0)
            return {"type": STOP_EVENT, "result": name}

        wf.add_step("s", [START_EVENT], step)
        return wf

    a, b = workflow("a"), workflow("b")
    results = await asyncio.gather(a.run(), b.run())
    assert [r.data for r in results] == ["a", "b"]
    assert seen == [(name, k) for k in range(4) for name in ("a", "b")]


async def test_a_foreign_callback_runs_within_one_budget() -> None:
    # A callback scheduled by another part of the program while a suspending run goes on
    # waits at most one budget of hops.
    loop = asyncio.get_running_loop()
    hops = [0]
    waited = []
    scheduled_at = 5

    def at_hop(i):
        hops[0] = i
        if i == scheduled_at:
            loop.call_soon(lambda: waited.append(hops[0] - scheduled_at))

    n = 3 * runtime.HOP_BUDGET
    result = await suspending_loop(n, at_hop).run()
    assert result.data == n
    assert len(waited) == 1
    assert 0 <= waited[0] <= runtime.HOP_BUDGET + 1


async def test_a_foreign_task_keeps_running_during_a_long_suspending_run() -> None:
    # A task of its own that yields on every turn advances all through the run.
    n = 4 * runtime.HOP_BUDGET
    ticks = [0]
    during = []
    stop = False

    async def other():
        while not stop:
            ticks[0] += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(other())
    result = await suspending_loop(n, lambda i: i % runtime.HOP_BUDGET or during.append(ticks[0])).run()
    stop = True
    await task
    assert result.data == n
    assert during[-1] > during[0], during


async def test_a_timer_fires_during_a_long_suspending_run() -> None:
    # In Chromium a setTimeout callback gets in only if the batch yields with setTimeout
    # now and then: a MessageChannel task posting its own continuation runs first.
    fired_at = []
    hops = [0]

    def at_hop(i):
        hops[0] = i
        if i == 1:
            set_timeout(lambda: fired_at.append(hops[0]))

    n = 20_000
    result = await suspending_loop(n, at_hop).run()
    assert result.data == n
    assert fired_at, "the timer never fired"
    # Due at once, it waits at most a budget and (in a page) ~10 ms until the next
    # setTimeout yield: a few thousand hops at full speed, fewer under load.
    assert fired_at[0] <= 4 * runtime.HOP_BUDGET, fired_at


@pytest.mark.parametrize("budget", ["none", "default"])
async def test_a_timer_fires_during_a_long_non_suspending_run(budget: str) -> None:
    # The periodic yield of a run that never suspends goes through the same hook. With no
    # time budget it comes every YIELD_EVERY events (each reading of the clock), else at
    # the first reading TIME_BUDGET after the stretch began.
    fired_at = []
    hops = [0]
    n = 100_000
    wf = Workflow("sync-loop")

    def ping(event, ctx):
        i = hops[0] = event.get("i", 0)
        if i == 1:
            set_timeout(lambda: fired_at.append(hops[0]))
        i += 1
        return {"type": STOP_EVENT, "result": i} if i >= n else {"type": "Ping", "i": i}

    wf.add_step("ping", [START_EVENT, "Ping"], ping)
    with time_budget(0.0 if budget == "none" else runtime.TIME_BUDGET):
        result = await wf.run()
    assert result.data == n
    assert fired_at, "the timer never fired"
    if budget == "none":
        assert fired_at[0] <= 4 * runtime.YIELD_EVERY, fired_at
    else:  # a few ms of events: thousands on CPython, fewer in Pyodide or under load
        assert fired_at[0] < n // 4, fired_at


async def test_abort_during_a_batch_stops_the_parked_flights() -> None:
    # abort() from a timer lands between hops: no flight of the run continues after it.
    loop = asyncio.get_running_loop()
    after = []
    aborted = [False]
    wf = Workflow("abortable")

    async def work(event, ctx):
        for _ in range(100_000):
            if aborted[0]:
                after.append(1)
            await asyncio.sleep(0)
        return {"type": STOP_EVENT}

    wf.add_step("work", [START_EVENT], lambda e, c: [{"type": "W"} for _ in range(3)])
    wf.add_step("w", ["W"], work)
    handler = await wf.run_with_handler()

    def stop_it():
        aborted[0] = True
        handler.abort()

    loop.call_later(0.002, stop_it)
    with pytest.raises(WorkflowAbortedError):
        await handler.result()
    assert after == []


async def test_the_previous_design_still_runs() -> None:
    with batched(False):
        assert (await suspending_loop(50).run()).data == 50
