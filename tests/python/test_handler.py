"""WorkflowHandler: streaming, human input, snapshot, pause, resume, abort."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from blazen_py import (
    INPUT_REQUEST_EVENT,
    INPUT_RESPONSE_EVENT,
    SNAPSHOT_VERSION,
    START_EVENT,
    STOP_EVENT,
    HandlerStateError,
    InputRequestError,
    StepError,
    Workflow,
    WorkflowAbortedError,
    WorkflowBuilder,
    WorkflowStallError,
    WorkflowTimeoutError,
)

PORTABLE = True


def stop(result=None):
    return {"type": STOP_EVENT, "result": result}


async def first_request(handler):
    """Return the first InputRequested item of ``handler``'s stream."""
    async for ev in handler.events():
        if ev.event_type == "InputRequested":
            return ev
    raise AssertionError("the run ended without an input request")


def awaiter_workflow() -> Workflow:
    wf = Workflow("approve")

    async def ask(event, ctx):
        answer = await ctx.request_input("Approve?", {"amount": event["amount"]})
        return stop({"answer": answer})

    wf.add_step("ask", [START_EVENT], ask)
    return wf


def durable_builder() -> WorkflowBuilder:
    builder = WorkflowBuilder("durable")

    def ask(event, ctx):
        ctx.set("amount", event["amount"])
        return {"type": INPUT_REQUEST_EVENT, "prompt": "Approve?", "metadata": {"amount": event["amount"]}}

    def decide(event, ctx):
        return stop(
            {"approved": event["response"] == "yes", "amount": ctx.get("amount"), "id": event["request_id"]}
        )

    builder.add_step("ask", [START_EVENT], ask)
    builder.add_step("decide", [INPUT_RESPONSE_EVENT], decide)
    return builder


async def test_run_streaming_sees_start_custom_and_stop() -> None:
    wf = Workflow("progress")

    def process(event, ctx):
        for i in range(5):
            ctx.send_event({"type": "Progress", "step": i})
        return stop({"done": True})

    wf.add_step("process", [START_EVENT], process)
    seen = []
    result = await wf.run_streaming({}, lambda ev: seen.append((ev.event_type, ev.get("step"))))
    assert result.data == {"done": True}
    assert seen == [(START_EVENT, None)] + [("Progress", i) for i in range(5)] + [(STOP_EVENT, None)]


async def test_run_streaming_reports_errors_then_raises() -> None:
    wf = Workflow("err")

    def bad(event, ctx):
        raise ValueError("nope")

    wf.add_step("bad", [START_EVENT], bad)
    seen = []
    with pytest.raises(StepError):
        await wf.run_streaming({}, seen.append)
    assert seen[-1]["event_type"] == "Error"
    assert seen[-1]["step"] == "bad"
    assert seen[-1]["error_type"] == "StepError"
    assert "nope" in seen[-1]["error"]


async def test_stream_callback_exception_fails_the_run() -> None:
    wf = Workflow("cb")
    wf.add_step("s", [START_EVENT], lambda e, c: stop(1))

    def callback(ev):
        raise RuntimeError("callback broke")

    with pytest.raises(Exception, match="stream callback raised RuntimeError: callback broke"):
        await wf.run_streaming({}, callback)


async def test_handler_result_can_be_awaited_many_times_and_replays_stream() -> None:
    wf = Workflow("h")
    wf.add_step("a", [START_EVENT], lambda e, c: {"type": "B"})
    wf.add_step("b", ["B"], lambda e, c: stop("ok"))
    handler = await wf.run_with_handler({"x": 1})
    first = await handler.result()
    second = await handler.result()
    assert first is second
    assert first.data == "ok"
    assert handler.status == "completed"
    assert handler.done
    seen = []
    await handler.stream_events(lambda ev: seen.append(ev.event_type))
    assert seen == [START_EVENT, "B", STOP_EVENT]
    items = [ev.event_type async for ev in handler.events()]
    assert items == seen


async def test_async_iteration_while_running() -> None:
    wf = Workflow("iter")

    async def slow(event, ctx):
        for i in range(3):
            await asyncio.sleep(0.001)
            ctx.send_event({"type": "Tick", "i": i})
        return stop("end")

    wf.add_step("slow", [START_EVENT], slow)
    handler = await wf.run_with_handler()
    got = [ev.get("i") async for ev in handler.events() if ev.event_type == "Tick"]
    assert got == [0, 1, 2]
    assert (await handler.result()).data == "end"


async def test_hitl_awaiter_form_spec_example() -> None:
    handler = await awaiter_workflow().run_with_handler({"amount": 5})
    requests = []

    def on_event(ev):
        if ev.event_type == "InputRequested":
            requests.append(dict(ev))
            handler.respond_to_input(ev["request_id"], "answer")

    await handler.stream_events(on_event)
    assert (await handler.result()).data == {"answer": "answer"}
    assert requests[0]["prompt"] == "Approve?"
    assert requests[0]["metadata"] == {"amount": 5}
    assert requests[0]["step"] == "ask"


async def test_waiting_for_input_is_not_a_stall() -> None:
    handler = await durable_builder().build().run_with_handler({"amount": 3})
    await asyncio.sleep(0.01)
    assert handler.status == "running"
    request = await first_request(handler)
    handler.respond_to_input(request["request_id"], "yes")
    result = await handler.result()
    assert result.data == {"approved": True, "amount": 3, "id": request["request_id"]}


async def test_unknown_and_answered_request_ids_raise_and_change_nothing() -> None:
    handler = await durable_builder().build().run_with_handler({"amount": 1})
    request = await first_request(handler)
    with pytest.raises(InputRequestError, match="'nope' is unknown"):
        handler.respond_to_input("nope", "yes")
    assert handler.status == "running"
    handler.respond_to_input(request["request_id"], "no")
    with pytest.raises(InputRequestError, match="was already answered"):
        handler.respond_to_input(request["request_id"], "yes")
    assert (await handler.result()).data["approved"] is False


async def test_durable_request_survives_snapshot_and_fresh_workflow() -> None:
    builder = durable_builder()
    handler = await builder.build().run_with_handler({"amount": 7})
    request = await first_request(handler)
    snap = await handler.pause()
    handler.abort()
    text = json.dumps(snap)
    assert snap["input_requests"][0]["request_id"] == request["request_id"]

    resumed = await Workflow.from_builder(builder).resume(json.loads(text))
    again = await first_request(resumed)
    assert again["request_id"] == request["request_id"]
    resumed.respond_to_input(request["request_id"], "yes")
    assert (await resumed.result()).data == {"approved": True, "amount": 7, "id": request["request_id"]}
    assert resumed.run_id == handler.run_id


async def test_snapshot_does_not_stop_the_run() -> None:
    wf = Workflow("snap")
    gate = asyncio.Event()

    async def wait(event, ctx):
        ctx.set("phase", "waiting")
        await gate.wait()
        return stop("done")

    wf.add_step("wait", [START_EVENT], wait)
    handler = await wf.run_with_handler({"n": 1})
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    snap = await handler.snapshot({"note": "mine"})
    assert snap["version"] == SNAPSHOT_VERSION == 2
    assert snap["state"] == {}  # the unfinished step's write is left out: it runs again
    assert handler._run.state == {"phase": "waiting"}
    assert snap["step_inputs"] == [{"step": "wait", "event": {"n": 1, "type": START_EVENT}}]
    assert snap["metadata"] == {"note": "mine"}
    json.dumps(snap)
    assert handler.status == "running"
    gate.set()
    assert (await handler.result()).data == "done"


async def test_pause_lets_running_steps_finish_and_stops_dispatch() -> None:
    wf = Workflow("pause")
    ran = []

    async def first(event, ctx):
        await asyncio.sleep(0.01)
        ran.append("first")
        return {"type": "Second"}

    def second(event, ctx):
        ran.append("second")
        return stop("end")

    wf.add_step("first", [START_EVENT], first)
    wf.add_step("second", ["Second"], second)
    handler = await wf.run_with_handler()
    await asyncio.sleep(0)
    snap = await handler.pause()
    assert ran == ["first"]
    assert handler.status == "paused"
    assert snap["status"] == "paused"
    assert [e["type"] for e in snap["queue"]] == ["Second"]
    await asyncio.sleep(0.02)
    assert ran == ["first"]
    await handler.resume_in_place()
    assert (await handler.result()).data == "end"
    assert ran == ["first", "second"]


async def test_pause_and_resume_with_awaiter_input_reruns_the_step() -> None:
    wf = awaiter_workflow()
    handler = await wf.run_with_handler({"amount": 2})
    first = await first_request(handler)
    snap = await handler.pause()
    assert snap["step_inputs"][0]["step"] == "ask"
    with pytest.raises(InputRequestError):
        handler.respond_to_input(first["request_id"], "late")
    await handler.resume_in_place()
    requests = []
    async for ev in handler.events():
        if ev.event_type == "InputRequested":
            requests.append(ev["request_id"])
            if len(requests) == 2:
                handler.respond_to_input(ev["request_id"], "now")
    assert (await handler.result()).data == {"answer": "now"}


async def test_pause_errors_on_finished_run_and_resume_errors_when_running() -> None:
    wf = Workflow("done")
    wf.add_step("a", [START_EVENT], lambda e, c: stop(1))
    handler = await wf.run_with_handler()
    with pytest.raises(HandlerStateError, match="is running, not paused"):
        await handler.resume_in_place()
    await handler.result()
    with pytest.raises(HandlerStateError, match="has already completed"):
        await handler.pause()
    assert (await handler.result()).data == 1


async def test_abort_ends_with_its_own_error() -> None:
    wf = Workflow("abort")

    async def slow(event, ctx):
        await asyncio.sleep(10)

    wf.add_step("slow", [START_EVENT], slow)
    handler = await wf.run_with_handler()
    await asyncio.sleep(0)
    handler.abort()
    with pytest.raises(WorkflowAbortedError, match="was aborted"):
        await handler.result()
    assert not issubclass(WorkflowAbortedError, (WorkflowTimeoutError, WorkflowStallError))
    handler.abort()  # idempotent
    items = [ev async for ev in handler.events()]
    assert items[-1]["error_type"] == "WorkflowAbortedError"


async def test_abort_while_paused() -> None:
    handler = await awaiter_workflow().run_with_handler({"amount": 1})
    await handler.pause()
    handler.abort()
    with pytest.raises(WorkflowAbortedError):
        await handler.result()


async def test_paused_time_does_not_count_against_timeout() -> None:
    wf = Workflow("paused-timeout")
    wf.set_timeout(0.1)

    async def a(event, ctx):
        await asyncio.sleep(0.01)
        return {"type": "B"}

    wf.add_step("a", [START_EVENT], a)
    wf.add_step("b", ["B"], lambda e, c: stop("ok"))
    handler = await wf.run_with_handler()
    await handler.pause()
    await asyncio.sleep(0.2)
    await handler.resume_in_place()
    assert (await handler.result()).data == "ok"


class Client:
    def __init__(self, name: str) -> None:
        self.name = name


def session_builder(policy: str) -> WorkflowBuilder:
    builder = WorkflowBuilder("sessions").set_session_pause_policy(policy)

    def begin(event, ctx):
        ctx.session.set("client", Client("db"))
        ctx.session.set("plain", object())
        return {"type": INPUT_REQUEST_EVENT, "prompt": "go?"}

    def finish(event, ctx):
        client = ctx.session.get("client")
        return stop(client.name if client else None)

    builder.add_step("begin", [START_EVENT], begin)
    builder.add_step("finish", [INPUT_RESPONSE_EVENT], finish)
    builder.register_serializable_ref("Client", Client, lambda c: c.name.encode())
    return builder


async def _pause_resume_in_place(policy: str):
    handler = await session_builder(policy).build().run_with_handler()
    request = await first_request(handler)
    snap = await handler.pause()
    await handler.resume_in_place()
    handler.respond_to_input(request["request_id"], "go")
    return snap, (await handler.result()).data


async def test_session_pause_policy_continue_drops_session_on_pause() -> None:
    snap, data = await _pause_resume_in_place("continue")
    assert data is None
    assert snap["session_refs"] == [{"key": "client", "type_tag": "Client", "bytes": "ZGI="}]


async def test_session_pause_policy_pause_keeps_session() -> None:
    _, data = await _pause_resume_in_place("pause")
    assert data == "db"


async def test_workflow_level_policy_setter() -> None:
    wf = session_builder("continue").build()
    wf.set_session_pause_policy("pause")
    assert wf.session_pause_policy == "pause"


async def test_resume_with_serializable_refs_rebuilds_session() -> None:
    builder = session_builder("continue")
    handler = await builder.build().run_with_handler()
    request = await first_request(handler)
    snap = await handler.pause()
    handler.abort()
    restored = await Workflow.from_builder(builder).resume_with_serializable_refs(
        json.loads(json.dumps(snap)), {"Client": lambda b: Client(b.decode() + "!")}
    )
    restored.respond_to_input(request["request_id"], "go")
    assert (await restored.result()).data == "db!"


async def test_unknown_session_ref_tags_are_skipped_with_a_warning() -> None:
    builder = session_builder("continue")
    handler = await builder.build().run_with_handler()
    request = await first_request(handler)
    snap = await handler.pause()
    handler.abort()
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    log = logging.getLogger("blazen_py")
    capture = Capture()
    log.addHandler(capture)
    try:
        restored = await Workflow.from_builder(builder).resume(snap)
    finally:
        log.removeHandler(capture)
    assert any("unknown type tag 'Client'" in r for r in records)
    restored.respond_to_input(request["request_id"], "go")
    assert (await restored.result()).data is None


async def test_snapshot_never_holds_live_session_values() -> None:
    wf = Workflow("secret")

    async def step(event, ctx):
        ctx.session.set("api", {"key": "sk-live-SECRET"})
        await asyncio.sleep(0.05)
        return stop(1)

    wf.add_step("step", [START_EVENT], step)
    handler = await wf.run_with_handler()
    await asyncio.sleep(0.01)
    snap = await handler.snapshot()
    assert "SECRET" not in json.dumps(snap)
    await handler.result()


def endless_sync_chain() -> Workflow:
    wf = Workflow("endless")

    def step(event, ctx):
        return {"type": "Next", "n": event.get("n", 0) + 1}

    wf.add_step("step", [START_EVENT, "Next"], step)
    return wf


async def test_abort_gets_in_during_a_long_synchronous_chain() -> None:
    handler = await endless_sync_chain().run_with_handler()
    await asyncio.sleep(0.02)
    handler.abort()
    with pytest.raises(WorkflowAbortedError):
        await handler.result()


async def test_pause_gets_in_during_a_long_synchronous_chain() -> None:
    handler = await endless_sync_chain().run_with_handler()
    await asyncio.sleep(0.02)
    snap = await handler.pause()
    assert handler.status == "paused"
    assert snap["queue"][0]["n"] > 1000
    handler.abort()


async def test_snapshot_taken_inside_a_step_mid_fan_out_loses_nothing() -> None:
    builder = WorkflowBuilder("inside")
    holder: dict = {}

    def start(event, ctx):
        return {"type": "Both"}

    def first(event, ctx):
        ctx.set("first", True)
        if "snap" not in holder:
            holder["snap"] = holder["handler"].snapshot()
        return {"type": "Done", "who": "first"}

    def second(event, ctx):
        return {"type": "Done", "who": "second"}

    def join(event, ctx):
        seen = sorted((ctx.get("seen") or []) + [event["who"]])
        ctx.set("seen", seen)
        return stop(seen) if len(seen) == 2 else None

    builder.add_step("start", [START_EVENT], start)
    builder.add_step("first", ["Both"], first)
    builder.add_step("second", ["Both"], second)
    builder.add_step("join", ["Done"], join)
    handler = await builder.build().run_with_handler()
    holder["handler"] = handler
    assert (await handler.result()).data == ["first", "second"]
    snap = await holder["snap"]
    assert [i["step"] for i in snap["step_inputs"]] == ["first", "second"]
    resumed = await Workflow.from_builder(builder).resume(json.loads(json.dumps(snap)))
    assert (await resumed.result()).data == ["first", "second"]
