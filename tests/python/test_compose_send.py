"""Events from outside (``handler.send_event``) and targeted delivery
(``send_event(event, step=...)``): running and paused runs, snapshots, and the typed
errors of unknown steps, wrong types, ended runs and values that cannot be persisted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from blazen_py import (
    INPUT_REQUEST_EVENT,
    START_EVENT,
    STOP_EVENT,
    HandlerStateError,
    InvalidEventError,
    StateError,
    UnknownStepError,
    Workflow,
    WorkflowBuilder,
)

PORTABLE = True


def waiting_builder(seen: list[str] | None = None) -> WorkflowBuilder:
    """A run that waits (an open durable input request) until an 'Extra' event comes."""
    b = WorkflowBuilder("outside")
    b.add_step("ask", [START_EVENT], lambda e, ctx: {"type": INPUT_REQUEST_EVENT, "prompt": "?"})

    def extra(event: Any, ctx: Any) -> Any:
        if seen is not None:
            seen.append(f"extra:{event['v']}")
        return {"type": STOP_EVENT, "result": event["v"]}

    b.add_step("extra", ["Extra"], extra)

    def other(event: Any, ctx: Any) -> Any:
        if seen is not None:
            seen.append(f"other:{event['v']}")
        return None

    b.add_step("other", ["Extra"], other)
    return b


async def started(b: WorkflowBuilder) -> Any:
    handler = await b.build().run_with_handler()
    async for item in handler.events():
        if item.event_type == "InputRequested":
            return handler
    raise AssertionError("no input request")


async def test_an_event_from_outside_is_routed_in_a_running_run() -> None:
    seen: list[str] = []
    handler = await started(waiting_builder(seen))
    handler.send_event({"type": "Extra", "v": 7})
    assert (await handler.result()).data == 7
    assert seen == ["extra:7"]  # the stop ended the run before 'other' got it
    assert any(i.event_type == "Extra" for i in handler._items)  # streamed like any event


async def test_an_event_sent_while_paused_is_queued_in_the_snapshot_and_routed_on_resume() -> None:
    handler = await started(waiting_builder())
    snap = await handler.pause()
    handler.send_event({"type": "Extra", "v": 3})
    again = await handler.snapshot()
    handler.abort()
    assert snap["queue"] == []
    assert again["queue"] == [{"type": "Extra", "v": 3}]
    resumed = await waiting_builder().build().resume(json.dumps(again))
    assert (await resumed.result()).data == 3


async def test_an_event_sent_to_a_paused_run_is_routed_by_resume_in_place() -> None:
    handler = await started(waiting_builder())
    await handler.pause()
    handler.send_event({"type": "Extra", "v": 4})
    await asyncio.sleep(0.01)
    assert handler.status == "paused"
    await handler.resume_in_place()
    assert (await handler.result()).data == 4


async def test_a_targeted_event_reaches_only_its_step() -> None:
    seen: list[str] = []
    handler = await started(waiting_builder(seen))
    handler.send_event({"type": "Extra", "v": 1}, step="other")
    handler.send_event({"type": "Extra", "v": 2}, step="extra")
    assert (await handler.result()).data == 2
    assert seen == ["other:1", "extra:2"]


async def test_ctx_send_event_to_a_step_skips_the_others() -> None:
    seen: list[str] = []
    wf = Workflow("target")

    def start(event: Any, ctx: Any) -> Any:
        ctx.send_event({"type": "X", "n": 1}, step="b")
        return None

    def on(name: str) -> Any:
        def step(event: Any, ctx: Any) -> Any:
            seen.append(name)
            if name == "b":
                return {"type": STOP_EVENT, "result": event["n"]}
            return None

        return step

    wf.add_step("start", [START_EVENT], start)
    wf.add_step("a", ["X"], on("a"))
    wf.add_step("b", ["X"], on("b"))
    assert (await wf.run()).data == 1
    assert seen == ["b"]


async def test_a_targeted_event_sent_while_paused_is_a_step_input_of_the_snapshot() -> None:
    seen: list[str] = []
    handler = await started(waiting_builder())
    await handler.pause()
    handler.send_event({"type": "Extra", "v": 9}, step="other")
    snap = await handler.snapshot()
    handler.abort()
    assert snap["queue"] == []
    assert snap["step_inputs"] == [{"step": "other", "event": {"type": "Extra", "v": 9}}]
    resumed = await waiting_builder(seen).build().resume(json.loads(json.dumps(snap)))
    for _ in range(50):
        await asyncio.sleep(0)
        if seen:
            break
    assert seen == ["other:9"]
    resumed.send_event({"type": "Extra", "v": 10}, step="extra")
    assert (await resumed.result()).data == 10


@pytest.mark.parametrize(
    "step, match",
    [
        ("nope", r"has no step 'nope' \(its steps: 'start', 'a'\)"),
        ("a", "step 'a' does not accept 'Y' events"),
        (3, "has no step 3"),
    ],
)
async def test_sending_to_an_unknown_step_fails_the_run_with_a_typed_error(step: Any, match: str) -> None:
    wf = Workflow("target")
    wf.add_step("start", [START_EVENT], lambda e, ctx: ctx.send_event({"type": "Y"}, step=step))
    wf.add_step("a", ["X"], lambda e, ctx: None)
    with pytest.raises(UnknownStepError, match=match) as info:
        await wf.run()
    assert info.value.event_type == "Y"


async def test_the_handler_refuses_unknown_steps_and_bad_events_at_once_and_the_run_goes_on() -> None:
    handler = await started(waiting_builder())
    with pytest.raises(UnknownStepError, match="has no step 'ghost'"):
        handler.send_event({"type": "Extra", "v": 1}, step="ghost")
    with pytest.raises(UnknownStepError, match="does not accept 'Other'"):
        handler.send_event({"type": "Other"}, step="extra")
    with pytest.raises(InvalidEventError, match="string 'type'"):
        handler.send_event({"v": 1})
    with pytest.raises(InvalidEventError):
        handler.send_event("Extra")  # type: ignore[arg-type]
    with pytest.raises(StateError):
        handler.send_event({"type": "Extra", "v": object()})
    handler.send_event({"type": "Extra", "v": 5})
    assert (await handler.result()).data == 5
    with pytest.raises(HandlerStateError, match="takes no more events"):
        handler.send_event({"type": "Extra", "v": 6})


async def test_the_sent_event_is_a_copy() -> None:
    handler = await started(waiting_builder())
    event = {"type": "Extra", "v": [1]}
    await handler.pause()
    handler.send_event(event)
    event["v"].append(2)
    snap = await handler.snapshot()
    handler.abort()
    assert snap["queue"] == [{"type": "Extra", "v": [1]}]
