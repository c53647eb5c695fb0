"""Composition primitives under step retries: targeted sends held back until the attempt
succeeds, fan-in undone with a failed attempt, and snapshots of a retried attempt that
sleeps holding both its retry fields and its call records (and resuming with both).

PORTABLE: run on CPython and, by tests/pyodide, inside Pyodide in Node and Chromium.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from blazen_py import START_EVENT, STOP_EVENT, UnknownStepError, Workflow

PORTABLE = True

RETRY = {"max_attempts": 3, "initial_delay": 0, "backoff": "fixed"}


async def until(predicate: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def test_a_targeted_send_of_a_failed_attempt_is_dropped() -> None:
    wf = Workflow("targeted-retry")
    seen: dict[str, list[int]] = {"b": [], "c": []}

    async def send(event: Any, ctx: Any) -> Any:
        ctx.send_event({"type": "Ping", "attempt": ctx.attempt}, step="b")
        if ctx.attempt < 3:
            raise ConnectionError("again")
        return None

    def receiver(name: str) -> Any:
        def step(event: Any, ctx: Any) -> Any:
            seen[name].append(event["attempt"])
            return {"type": STOP_EVENT, "result": name}

        return step

    wf.add_step("send", [START_EVENT], send, retry=RETRY)
    wf.add_step("b", ["Ping"], receiver("b"))
    wf.add_step("c", ["Ping"], receiver("c"))
    result = await wf.run()
    assert result.data == "b"
    assert seen == {"b": [3], "c": []}  # only the successful attempt's, only to b


async def test_a_targeted_send_to_an_unknown_step_fails_at_the_call_under_retries() -> None:
    wf = Workflow("targeted-unknown")
    calls: list[int] = []

    def send(event: Any, ctx: Any) -> Any:
        calls.append(ctx.attempt)
        ctx.send_event({"type": "Ping"}, step="nope")
        return {"type": STOP_EVENT, "result": "sent"}

    wf.add_step("send", [START_EVENT], send, retry={**RETRY, "retry_on": ["ConnectionError"]})
    wf.add_step("b", ["Ping"], lambda e, c: None)
    with pytest.raises(Exception, match="no step 'nope'") as info:
        await wf.run()
    assert isinstance(info.value, UnknownStepError) or isinstance(info.value.__cause__, UnknownStepError)
    assert calls == [1]  # not retried: the error is not in retry_on


async def test_what_a_failed_attempt_collected_is_undone() -> None:
    wf = Workflow("collect-retry")
    attempts: list[tuple[int, Any]] = []

    def fan(event: Any, ctx: Any) -> Any:
        return [{"type": "A", "v": 1}, {"type": "B", "v": 2}]

    def join(event: Any, ctx: Any) -> Any:
        got = ctx.collect_events(event, ["A", "B"])
        attempts.append((ctx.attempt, None if got is None else [e["v"] for e in got]))
        if got is not None and ctx.attempt < 2:
            raise ConnectionError("after taking both")  # the take must be rolled back
        if got is None:
            return None
        return {"type": STOP_EVENT, "result": [e["v"] for e in got]}

    wf.add_step("fan", [START_EVENT], fan)
    wf.add_step("join", ["A", "B"], join, retry=RETRY)
    result = await wf.run()
    assert result.data == [1, 2]
    assert attempts == [(1, None), (1, [1, 2]), (2, [1, 2])]


def sleepy(log: list[tuple[int, float]], seconds: float) -> Workflow:
    """Attempt 1 fails at once; attempt 2 sleeps ``seconds`` (durably), then succeeds."""
    wf = Workflow("sleepy-retry")

    async def nap(event: Any, ctx: Any) -> Any:
        log.append((ctx.attempt, time.time()))
        if ctx.attempt == 1:
            raise ConnectionError("down")
        await ctx.sleep(seconds)
        return {"type": STOP_EVENT, "result": ctx.retry_info()}

    wf.add_step("nap", [START_EVENT], nap, retry=RETRY)
    return wf


async def test_a_snapshot_of_a_retried_attempt_holds_its_attempt_and_its_calls() -> None:
    log: list[tuple[int, float]] = []
    handler = await sleepy(log, 0.8).run_with_handler()
    await until(lambda: len(log) == 2 and bool(handler.run.waiters.sleeping))
    snap = await handler.pause()
    handler.abort()
    (item,) = snap["step_inputs"]
    assert item["attempt"] == 2
    assert item["last_error"] == {"name": "ConnectionError", "message": "down"}
    assert "not_before" not in item  # running, not waiting out a backoff
    (record,) = item["calls"]
    assert record["kind"] == "sleep"
    deadline = record["deadline"]
    assert log[1][1] + 0.7 < deadline < log[1][1] + 0.8 + 5
    await asyncio.sleep(0.4)  # part of the sleep passes while nothing runs
    log2: list[tuple[int, float]] = []
    started = time.monotonic()
    resumed = await sleepy(log2, 0.8).resume(json.dumps(snap))  # a fresh workflow, from text
    result = await resumed.result()
    assert [a for a, _ in log2] == [2]  # the count goes on: attempt 1 does not run again
    assert result.data["attempt"] == 2
    assert result.data["last_error"] == {"name": "ConnectionError", "message": "down"}
    assert time.time() >= deadline - 0.01  # the sleep is not cut short
    assert time.monotonic() - started < 0.8  # only the rest of it, not 0.8 s again
