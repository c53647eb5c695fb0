"""``ctx.wait_for_event`` and the durable ``ctx.sleep``: the waiter takes the event,
``where`` filters, events from outside, timeouts as typed errors, and both across pause,
snapshot and resume (an event sent while paused is not lost; deadlines are absolute)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from blazen_py import (
    START_EVENT,
    STOP_EVENT,
    SnapshotError,
    StepError,
    WaitTimeoutError,
    Workflow,
    WorkflowAbortedError,
    WorkflowBuilder,
    WorkflowDefinitionError,
)

PORTABLE = True


async def until(check: Any, limit: float = 5.0) -> None:
    end = time.monotonic() + limit
    while not check():
        assert time.monotonic() < end, "condition not reached in time"
        await asyncio.sleep(0.005)


def approval_builder(*, timeout: float | None = None, seen: list[str] | None = None) -> WorkflowBuilder:
    b = WorkflowBuilder("approval")

    async def wait(event: Any, ctx: Any) -> Any:
        got = await ctx.wait_for_event("Approval", where={"id": 3}, timeout=timeout)
        return {"type": STOP_EVENT, "result": got["ok"]}

    def approvals(event: Any, ctx: Any) -> Any:
        if seen is not None:
            seen.append(f"routed:{event['id']}")

    b.add_step("wait", [START_EVENT], wait)
    b.add_step("approvals", ["Approval"], approvals)
    return b


async def waiting(b: WorkflowBuilder) -> Any:
    handler = await b.build().run_with_handler()
    await until(lambda: bool(handler.run.waiters))
    return handler


async def test_the_waiter_takes_a_matching_event_from_outside_and_others_are_routed() -> None:
    seen: list[str] = []
    handler = await waiting(approval_builder(seen=seen))
    handler.send_event({"type": "Approval", "id": 4, "ok": False})  # where does not match
    handler.send_event({"type": "Approval", "id": 3, "ok": True})
    assert (await handler.result()).data is True
    assert seen == ["routed:4"]  # the matching one went to the waiter only


async def test_the_waiter_gets_an_event_another_step_produced() -> None:
    wf = Workflow("inside")

    def start(event: Any, ctx: Any) -> Any:
        return [{"type": "Go"}, {"type": "Later"}]

    async def wait(event: Any, ctx: Any) -> Any:
        got = await ctx.wait_for_event("Done")
        return {"type": STOP_EVENT, "result": got["v"]}

    async def later(event: Any, ctx: Any) -> Any:
        await asyncio.sleep(0.01)
        return {"type": "Done", "v": 42}

    wf.add_step("start", [START_EVENT], start)
    wf.add_step("wait", ["Go"], wait)
    wf.add_step("later", ["Later"], later)
    assert (await wf.run()).data == 42


async def test_a_timeout_is_a_typed_error_naming_the_step_and_type() -> None:
    handler = await waiting(approval_builder(timeout=0.05))
    with pytest.raises(WaitTimeoutError, match="'wait' waited for a 'Approval' event with") as info:
        await handler.result()
    assert (info.value.step, info.value.event_type, info.value.run_id) == ("wait", "Approval", handler.run_id)
    assert isinstance(info.value, TimeoutError)


@pytest.mark.parametrize(
    "args, cause, match",
    [
        (("",), "InvalidEventError", "non-empty string"),
        ((3,), "InvalidEventError", "non-empty string"),
        (("A", ["id"]), "InvalidEventError", "where must be a mapping"),
        (("A", None, -1), "WorkflowDefinitionError", "timeout must be a finite number"),
        (("A", None, float("nan")), "WorkflowDefinitionError", "timeout must be"),
        (("A", None, True), "WorkflowDefinitionError", "timeout must be"),
    ],
)
async def test_bad_arguments_fail_the_step(args: tuple[Any, ...], cause: str, match: str) -> None:
    wf = Workflow("bad")

    async def wait(event: Any, ctx: Any) -> Any:
        await ctx.wait_for_event(*args)

    wf.add_step("wait", [START_EVENT], wait)
    with pytest.raises(StepError, match=match) as info:
        await wf.run()
    assert type(info.value.__cause__).__name__ == cause


async def test_an_event_sent_while_paused_is_kept_for_the_waiter_across_a_snapshot() -> None:
    seen: list[str] = []
    handler = await waiting(approval_builder(timeout=30))
    await handler.pause()
    handler.send_event({"type": "Approval", "id": 3, "ok": "yes"})
    snap = await handler.snapshot()
    handler.abort()
    (item,) = snap["step_inputs"]
    (record,) = item["calls"]
    assert (record["kind"], record["type"], record["where"]) == ("wait", "Approval", {"id": 3})
    assert record["event"] == {"type": "Approval", "id": 3, "ok": "yes"}
    assert time.time() + 25 < record["deadline"] <= time.time() + 30
    assert snap["queue"] == []  # taken by the waiter, not queued for 'approvals'
    resumed = await approval_builder(seen=seen).build().resume(json.dumps(snap))
    assert (await resumed.result()).data == "yes"
    assert seen == []


async def test_a_waiter_resumed_from_json_waits_again_and_gets_the_event() -> None:
    handler = await waiting(approval_builder())
    snap = await handler.pause()
    handler.abort()
    resumed = await approval_builder().build().resume(json.loads(json.dumps(snap)))
    resumed.send_event({"type": "Approval", "id": 3, "ok": 1})  # before the step ran again
    assert (await resumed.result()).data == 1


async def test_pause_and_resume_in_place_keep_the_waiter() -> None:
    handler = await waiting(approval_builder())
    await handler.pause()
    handler.send_event({"type": "Approval", "id": 3, "ok": "in place"})
    await handler.resume_in_place()
    assert (await handler.result()).data == "in place"


async def test_the_timeout_deadline_is_absolute_across_a_pause() -> None:
    handler = await waiting(approval_builder(timeout=0.4))
    snap = await handler.pause()
    handler.abort()
    await asyncio.sleep(0.5)  # past the deadline while "reloading"
    started = time.monotonic()
    resumed = await approval_builder(timeout=0.4).build().resume(json.dumps(snap))
    with pytest.raises(WaitTimeoutError):
        await resumed.result()
    assert time.monotonic() - started < 0.3  # not a fresh 0.4 s


async def test_abort_while_waiting_ends_the_run() -> None:
    handler = await waiting(approval_builder())
    handler.abort()
    with pytest.raises(WorkflowAbortedError, match="'wait'"):
        await handler.result()
    assert not handler.run.waiters


def sleeper(seconds: float) -> WorkflowBuilder:
    b = WorkflowBuilder("sleeper")

    async def nap(event: Any, ctx: Any) -> Any:
        await ctx.sleep(seconds)
        return {"type": STOP_EVENT, "result": "awake"}

    b.add_step("nap", [START_EVENT], nap)
    return b


async def test_sleep_waits_and_a_resume_sleeps_only_the_rest() -> None:
    handler = await sleeper(0.6).build().run_with_handler()
    await until(lambda: bool(handler.run.waiters.sleeping))
    began = time.time()
    await asyncio.sleep(0.3)
    snap = await handler.pause()
    handler.abort()
    (record,) = snap["step_inputs"][0]["calls"]
    assert record["kind"] == "sleep"
    deadline = record["deadline"]
    assert began + 0.4 < deadline < began + 0.7
    started = time.monotonic()
    resumed = await sleeper(0.6).build().resume(json.dumps(snap))
    assert (await resumed.result()).data == "awake"
    assert time.time() >= deadline - 0.01
    assert time.monotonic() - started < 0.5  # the rest, not 0.6 s again


async def test_sleep_zero_and_bad_seconds() -> None:
    assert (await sleeper(0).build().run()).data == "awake"
    for bad in (-1, None, "1", float("inf")):
        with pytest.raises(StepError) as info:
            await sleeper(bad).build().run()  # type: ignore[arg-type]
        assert isinstance(info.value.__cause__, WorkflowDefinitionError)


@pytest.mark.parametrize(
    "record, match",
    [
        ({"kind": "wait", "type": "Approval", "event": {"type": "Other"}}, "not an event of type 'Approval'"),
        ({"kind": "wait", "type": "", "deadline": 1.0}, "type is of the wrong type"),
        ({"kind": "wait", "type": "Approval", "where": ["id"]}, "where is of the wrong type"),
        ({"kind": "wait", "type": "Approval", "deadline": True}, "deadline is of the wrong type"),
        ({"kind": "sleep"}, "deadline is of the wrong type"),
        ({"kind": "sleep", "deadline": "soon"}, "deadline is of the wrong type"),
        ({"kind": "sleep", "deadline": 1, "code": "x"}, "code is not allowed"),
    ],
)
async def test_hostile_wait_and_sleep_records_are_refused(record: dict[str, Any], match: str) -> None:
    handler = await waiting(approval_builder())
    snap = await handler.pause()
    handler.abort()
    snap["step_inputs"][0]["calls"] = [record]
    with pytest.raises(SnapshotError, match=match):
        await approval_builder().build().resume(json.dumps(snap))
