"""The same workloads on llama-index-workflows (the Python peer), for CPython.

Imported only in the bench virtualenv (``.cache/bench-venv``, see ``build.py bench``),
never in the test one. Each workload mirrors :mod:`bench.workloads`: async steps that do
not suspend (or await ``asyncio.sleep(0)`` once), the join counting answers in the run's
state store, a chain of distinct steps and event classes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent

from .workloads import Workload

NO_TIMEOUT = None


class Ping(Event):
    i: int


class Pong(Event):
    i: int


class LoopFlow(Workflow):
    """Ping-pong, steps not suspending; ``n`` comes on the start event."""

    @step
    async def ping(self, ev: StartEvent | Pong) -> Ping:
        return Ping(i=getattr(ev, "i", 0) + 1)

    @step
    async def pong(self, ctx: Context, ev: Ping) -> Pong | StopEvent:
        i = ev.i + 1
        n = await ctx.store.get("n")
        return StopEvent(result=i) if i >= n else Pong(i=i)


class LoopSuspendFlow(Workflow):
    """Ping-pong, each step awaiting ``asyncio.sleep(0)`` once."""

    @step
    async def ping(self, ev: StartEvent | Pong) -> Ping:
        await asyncio.sleep(0)
        return Ping(i=getattr(ev, "i", 0) + 1)

    @step
    async def pong(self, ctx: Context, ev: Ping) -> Pong | StopEvent:
        await asyncio.sleep(0)
        i = ev.i + 1
        n = await ctx.store.get("n")
        return StopEvent(result=i) if i >= n else Pong(i=i)


class Work(Event):
    i: int


class Done(Event):
    i: int


class FanoutFlow(Workflow):
    """Split sends ``n`` Work events, a worker answers each, join counts in the store."""

    @step
    async def split(self, ctx: Context, ev: StartEvent) -> Work | None:
        n = await ctx.store.get("n")
        for i in range(n):
            ctx.send_event(Work(i=i))
        return None

    @step
    async def work(self, ev: Work) -> Done:
        return Done(i=ev.i)

    @step
    async def join(self, ctx: Context, ev: Done) -> StopEvent | None:
        done = await ctx.store.get("done", default=0) + 1
        await ctx.store.set("done", done)
        return StopEvent(result=done) if done == await ctx.store.get("n") else None


def chain_flow(n: int) -> Workflow:
    """A workflow of ``n`` distinct steps: step i accepts ``E{i}`` and emits ``E{i+1}``."""
    cls: type[Workflow] = type("ChainFlow", (Workflow,), {})
    kinds: list[type[Event]] = [StartEvent, *(type(f"E{i}", (Event,), {}) for i in range(1, n))]

    def make(i: int) -> Any:
        out = StopEvent if i == n - 1 else kinds[i + 1]

        async def handler(ev: Any) -> Any:
            return StopEvent(result=n) if i == n - 1 else out()

        handler.__name__ = f"s{i}"
        handler.__annotations__ = {"ev": kinds[i], "return": out}
        return handler

    for i in range(n):
        step(workflow=cls)(make(i))
    return cls(timeout=NO_TIMEOUT)


def _runner(wf: Workflow, n: int) -> Any:
    async def run_once() -> Any:
        ctx = Context(wf)
        await ctx.store.set("n", n)
        return await wf.run(ctx=ctx)

    return run_once


def llama_workloads(sizes: Mapping[str, int]) -> list[Workload]:
    """The peer's workloads for ``sizes`` (same keys and order as blazen_workloads)."""
    loop, chain = sizes["loop"], sizes["chain"]
    small, large = sizes["fanout_small"], sizes["fanout_large"]
    engine = "llama-index-workflows"
    return [
        Workload("loop", engine, loop, _runner(LoopFlow(timeout=NO_TIMEOUT), loop), loop),
        Workload("loop_suspend", engine, loop, _runner(LoopSuspendFlow(timeout=NO_TIMEOUT), loop), loop),
        Workload(
            "fanout_small", engine, 2 * small + 1, _runner(FanoutFlow(timeout=NO_TIMEOUT), small), small
        ),
        Workload(
            "fanout_large", engine, 2 * large + 1, _runner(FanoutFlow(timeout=NO_TIMEOUT), large), large
        ),
        Workload("chain", engine, chain, _runner(chain_flow(chain), chain), chain),
    ]
