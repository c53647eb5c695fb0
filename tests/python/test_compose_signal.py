"""``ctx.signal``: fires once when the run stops its steps (abort, timeout, failure, the
first StopEvent, a StopEvent held by a pause), with the reason, for awaiters and callbacks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from blazen_py import START_EVENT, STOP_EVENT, CancelSignal, Workflow, WorkflowError

PORTABLE = True


def watched(seen: dict[str, Any], *, stop_after: float | None = None, fail: bool = False) -> Workflow:
    wf = Workflow("watched")

    async def start(event: Any, ctx: Any) -> Any:
        return [{"type": "Long"}, {"type": "Other"}]

    async def long(event: Any, ctx: Any) -> Any:
        seen["signal"] = ctx.signal
        ctx.signal.add_callback(lambda reason: seen.setdefault("callback", reason))
        seen["awaited"] = asyncio.ensure_future(ctx.signal.wait())
        await asyncio.sleep(30)

    async def other(event: Any, ctx: Any) -> Any:
        if stop_after is not None:
            await asyncio.sleep(stop_after)
            if fail:
                raise ValueError("boom")
            return {"type": STOP_EVENT, "result": "done"}
        return None

    wf.add_step("start", [START_EVENT], start)
    wf.add_step("long", ["Long"], long)
    wf.add_step("other", ["Other"], other)
    return wf


async def reached(seen: dict[str, Any]) -> None:
    for _ in range(200):
        if "signal" in seen:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the step never ran")


async def test_abort_fires_the_signal_with_its_reason() -> None:
    seen: dict[str, Any] = {}
    handler = await watched(seen).run_with_handler()
    await reached(seen)
    assert not seen["signal"].aborted
    handler.abort()
    assert seen["signal"].aborted
    assert seen["signal"].reason == "aborted"
    assert seen["callback"] == "aborted"
    assert await asyncio.wait_for(seen["awaited"], 2) == "aborted"
    with pytest.raises(WorkflowError):
        await handler.result()


@pytest.mark.parametrize("fail, reason", [(False, "stopped"), (True, "failed")])
async def test_the_first_stop_event_or_a_failure_fires_it(fail: bool, reason: str) -> None:
    seen: dict[str, Any] = {}
    handler = await watched(seen, stop_after=0.05, fail=fail).run_with_handler()
    await reached(seen)
    try:
        await handler.result()
    except WorkflowError:
        assert fail
    assert (seen["signal"].reason, seen["callback"]) == (reason, reason)
    assert await asyncio.wait_for(seen["awaited"], 2) == reason


async def test_a_run_timeout_fires_it() -> None:
    seen: dict[str, Any] = {}
    wf = watched(seen)
    wf.set_timeout(0.1)
    with pytest.raises(WorkflowError):
        await wf.run()
    assert seen["signal"].reason == "timeout"


async def test_a_stop_held_by_a_pause_fires_it_for_the_steps_it_cancels() -> None:
    seen: dict[str, Any] = {}
    handler = await watched(seen, stop_after=0.05).run_with_handler()
    await reached(seen)
    snap = handler.pause()
    await asyncio.sleep(0.2)
    assert seen["signal"].reason == "stopped"
    await snap
    await handler.resume_in_place()
    assert (await handler.result()).data == "done"


async def test_a_callback_added_after_it_fired_runs_at_once_and_awaiting_returns() -> None:
    signal = CancelSignal()
    got: list[str] = []
    signal.fire("aborted")
    signal.fire("again")  # once only
    signal.add_callback(got.append)
    assert got == ["aborted"]
    assert await signal == "aborted"
    assert repr(signal) == "<CancelSignal aborted=True reason='aborted'>"
