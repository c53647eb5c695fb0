"""Semantics that users of the peer engines rely on (issue 17), written as such users
would write them: pause a one-step run, defaults on get, a request id of one's own,
state as a mapping, dead ends found by validate(), loud decorator misuse."""

from __future__ import annotations

import asyncio
import json

import pytest

from blazen_py import (
    INPUT_REQUEST_EVENT,
    START_EVENT,
    STOP_EVENT,
    ActiveStep,
    HandlerStateError,
    InvalidEventError,
    SnapshotError,
    StateError,
    StepError,
    Workflow,
    WorkflowAbortedError,
    WorkflowBuilder,
    WorkflowError,
    WorkflowTimeoutError,
)

PORTABLE = True


def stop(result=None):
    return {"type": STOP_EVENT, "result": result}


# -- pause lets the running step finish, even with the StopEvent --------------------------


def one_step(name="one-step", ran=None):
    wf = Workflow(name)

    async def only(event, ctx):
        if ran is not None:
            ran.append(event.get("n"))
        await asyncio.sleep(0.01)
        ctx.set("seen", event["n"])
        return stop({"n": event["n"] * 2})

    wf.add_step("only", [START_EVENT], only)
    return wf


async def test_pause_a_one_step_run_then_resume_in_place():
    handler = await one_step().run_with_handler({"n": 21})
    await asyncio.sleep(0)  # the step is running
    snapshot = await handler.pause()
    assert snapshot["status"] == "paused"
    assert handler.status == "paused"
    assert snapshot["queue"][0]["type"] == STOP_EVENT
    assert snapshot["state"] == {"seen": 21}
    await handler.resume_in_place()
    assert (await handler.result()).data == {"n": 42}


async def test_pause_a_one_step_run_then_resume_its_snapshot_in_a_fresh_workflow():
    ran: list[int] = []
    handler = await one_step(ran=ran).run_with_handler({"n": 5})
    await asyncio.sleep(0)
    text = json.dumps(await handler.pause())
    resumed = await one_step(ran=ran).resume(text)
    result = await resumed.result()
    assert result.data == {"n": 10}
    assert result.run_id == handler.run_id
    assert ran == [5]  # the finished step did not run again


async def test_pausing_the_last_step_of_a_chain_holds_its_stop_event():
    calls = []
    wf = Workflow("chain")
    wf.add_step("a", [START_EVENT], lambda e, c: {"type": "B"})

    async def last(event, ctx):
        calls.append("last")
        await asyncio.sleep(0.01)
        return stop("done")

    wf.add_step("b", ["B"], last)
    handler = await wf.run_with_handler()
    await asyncio.sleep(0.001)  # 'b' is running
    assert calls == ["last"]
    snapshot = await handler.pause()
    assert [e["type"] for e in snapshot["queue"]] == [STOP_EVENT]
    assert snapshot["step_inputs"] == []
    handler2 = await wf.resume(snapshot)
    assert (await handler2.result()).data == "done"
    assert calls == ["last"]


async def test_a_stop_event_held_by_a_pause_cancels_the_other_running_steps():
    cancelled = []
    wf = Workflow("race")

    def fan(event, ctx):
        return [{"type": "Fast"}, {"type": "Slow"}]

    async def fast(event, ctx):
        await asyncio.sleep(0.01)
        return stop("fast")

    async def slow(event, ctx):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append("slow")
            raise
        return stop("slow")

    wf.add_step("fan", [START_EVENT], fan)
    wf.add_step("fast", ["Fast"], fast)
    wf.add_step("slow", ["Slow"], slow)
    handler = await wf.run_with_handler()
    await asyncio.sleep(0.001)
    snapshot = await asyncio.wait_for(handler.pause(), 5)  # does not wait 10 s for 'slow'
    await asyncio.sleep(0)
    assert cancelled == ["slow"]
    assert snapshot["queue"][0]["result"] == "fast"
    await handler.resume_in_place()
    assert (await handler.result()).data == "fast"


async def test_abort_while_a_stop_event_is_held():
    handler = await one_step().run_with_handler({"n": 1})
    await asyncio.sleep(0)
    await handler.pause()
    handler.abort()
    with pytest.raises(WorkflowAbortedError):
        await handler.result()


# -- the snapshot of a finished run keeps its outcome -------------------------------------


async def test_the_snapshot_of_a_completed_run_resumes_to_the_same_result():
    wf = one_step()
    handler = await wf.run_with_handler({"n": 4})
    first = await handler.result()
    snapshot = await handler.snapshot()
    assert snapshot["status"] == "completed"
    resumed = await one_step().resume(json.dumps(snapshot))
    again = await resumed.result()
    assert (again.data, again.run_id) == (first.data, first.run_id)
    assert resumed.status == "completed"


async def test_the_snapshot_of_a_failed_run_resumes_to_the_same_error():
    wf = Workflow("boom")

    def explode(event, ctx):
        raise ValueError("bad input")

    wf.add_step("explode", [START_EVENT], explode)
    handler = await wf.run_with_handler()
    with pytest.raises(StepError) as first:
        await handler.result()
    snapshot = await handler.snapshot()
    assert snapshot["status"] == "failed"
    resumed = await wf.resume(json.loads(json.dumps(snapshot)))
    with pytest.raises(StepError, match="bad input") as again:
        await resumed.result()
    assert (again.value.step, again.value.event_type) == ("explode", START_EVENT)
    assert str(again.value) == str(first.value)


async def test_the_snapshot_of_an_aborted_run_keeps_what_was_running():
    handler = await one_step().run_with_handler({"n": 1})
    await asyncio.sleep(0)
    handler.abort()
    snapshot = await handler.snapshot()
    resumed = await one_step().resume(snapshot)
    with pytest.raises(WorkflowAbortedError) as caught:
        await resumed.result()
    assert caught.value.active_steps == [ActiveStep("only", START_EVENT)]


def finished_snapshot(status, outcome):
    return {
        "format": "blazen_py/snapshot",
        "version": 1,
        "workflow": "one-step",
        "run_id": "r1",
        "status": status,
        "state": {},
        "queue": [],
        "step_inputs": [],
        "input_requests": [],
        "outcome": outcome,
    }


@pytest.mark.parametrize(
    "status, outcome, message",
    [
        ("completed", None, "needs an 'outcome'"),
        ("completed", {"event": {"type": "Other"}}, "must be a 'blazen::StopEvent'"),
        ("completed", {"event": "stop"}, "not an event"),
        ("failed", {}, "outcome.error"),
        ("failed", {"error": {"type": "StepError", "message": 3}}, "'message' must be a string"),
        ("failed", {"error": {"type": "StepError", "message": "m", "step": 1}}, "'step' must be"),
        ("failed", {"error": {"type": "X", "message": "m", "active_steps": [1]}}, "active_steps"),
        ("done", {}, "'status' must be one of"),
    ],
)
async def test_a_bad_outcome_is_a_snapshot_error(status, outcome, message):
    with pytest.raises(SnapshotError, match=message):
        await one_step().resume(finished_snapshot(status, outcome))


async def test_an_outcome_naming_an_unknown_error_class_is_a_plain_workflow_error():
    snap = finished_snapshot("failed", {"error": {"type": "SystemExit", "message": "bye"}})
    handler = await one_step().resume(snap)
    with pytest.raises(WorkflowError, match="bye") as caught:
        await handler.result()
    assert type(caught.value) is WorkflowError


async def test_a_stop_event_queued_behind_other_events_is_refused():
    wf = Workflow("q")
    wf.add_step("a", [START_EVENT], lambda e, c: stop(1))
    snap = finished_snapshot("running", None)
    snap.update(workflow="q", queue=[{"type": START_EVENT}, {"type": STOP_EVENT, "result": 1}])
    with pytest.raises(SnapshotError, match="no step of 'q' accepts"):
        await wf.resume(snap)


# -- timeouts and aborts say what was running ---------------------------------------------


async def test_a_timeout_names_the_steps_in_flight():
    wf = Workflow("slow", timeout=0.05)

    async def wait(event, ctx):
        await asyncio.sleep(5)

    wf.add_step("split", [START_EVENT], lambda e, c: [{"type": "A"}, {"type": "B"}])
    wf.add_step("wait_a", ["A"], wait)
    wf.add_step("wait_b", ["B"], wait)
    items = []
    with pytest.raises(WorkflowTimeoutError) as caught:
        await wf.run_streaming(None, items.append)
    error = caught.value
    assert error.active_steps == [ActiveStep("wait_a", "A"), ActiveStep("wait_b", "B")]
    assert "'wait_a' (handling 'A')" in str(error)
    assert "'wait_b' (handling 'B')" in str(error)
    assert error.step is None  # two were running
    last = items[-1]
    assert last.event_type == "Error"
    assert last["active_steps"] == [
        {"step": "wait_a", "event_type": "A"},
        {"step": "wait_b", "event_type": "B"},
    ]


async def test_an_abort_from_outside_names_the_one_running_step():
    handler = await one_step().run_with_handler({"n": 1})
    await asyncio.sleep(0)
    handler.abort()
    with pytest.raises(WorkflowAbortedError) as caught:
        await handler.result()
    assert (caught.value.step, caught.value.event_type) == ("only", START_EVENT)
    assert "running: 'only' (handling 'blazen::StartEvent')" in str(caught.value)


async def test_an_abort_from_inside_a_sync_step_names_it():
    holder = {}
    wf = Workflow("self-abort")

    def quit_(event, ctx):
        holder["handler"].abort()

    wf.add_step("quit", [START_EVENT], quit_)
    handler = holder["handler"] = await wf.run_with_handler()
    with pytest.raises(WorkflowAbortedError) as caught:
        await handler.result()
    assert caught.value.active_steps == [ActiveStep("quit", START_EVENT)]


async def test_a_timeout_with_nothing_running_says_so():
    wf = Workflow("idle", timeout=0.02)
    wf.add_step("ask", [START_EVENT], lambda e, c: {"type": INPUT_REQUEST_EVENT, "prompt": "?"})
    wf.add_step("done", ["blazen::InputResponseEvent"], lambda e, c: stop())
    with pytest.raises(WorkflowTimeoutError, match="no step was running"):
        await wf.run()


# -- stream items never alter the user's fields -------------------------------------------


async def test_user_fields_named_like_engine_keys_reach_the_stream_unchanged():
    wf = Workflow("fields")

    def start(event, ctx):
        ctx.write_event_to_stream({"type": "Mid", "request_id": "r", "event_type": "mine", "error_type": "x"})
        return stop({"ok": True})

    wf.add_step("start", [START_EVENT], start)
    items = []
    await wf.run_streaming(None, items.append)
    (mid,) = [i for i in items if i.get("type") == "Mid"]
    assert dict(mid) == {"type": "Mid", "request_id": "r", "event_type": "mine", "error_type": "x"}
    assert mid.event_type == "Mid"
    assert mid.event is not None
    assert not mid.engine
    start_item = items[0]
    assert start_item["event_type"] == START_EVENT  # added when the event has no such field


# -- get with a default, has, and mappings ------------------------------------------------


async def test_get_returns_the_default_when_missing_or_null():
    seen = {}
    wf = Workflow("defaults")

    def step(event, ctx):
        ctx.set("nil", None)
        ctx.set("zero", 0)
        ctx.set_bytes("blob", b"\x00")
        ctx.session.set("live", None)
        seen.update(
            missing=ctx.get("missing", 5),
            nil=ctx.get("nil", "d"),
            zero=ctx.get("zero", 9),
            state=ctx.state.get("missing", []),
            no_default=ctx.get("missing"),
            has_nil=ctx.state.has("nil"),
            has_missing=ctx.state.has("missing"),
            bytes_missing=ctx.get_bytes("nope", b"dflt"),
            bytes_there=ctx.state.get_bytes("blob", b"dflt"),
            session=ctx.session.get("live", "fallback"),
            session_missing=ctx.session.get("absent", 7),
            session_has=ctx.session.has("live"),
        )
        return stop()

    wf.add_step("s", [START_EVENT], step)
    await wf.run()
    assert seen == {
        "missing": 5,
        "nil": "d",
        "zero": 0,
        "state": [],
        "no_default": None,
        "has_nil": True,
        "has_missing": False,
        "bytes_missing": b"dflt",
        "bytes_there": b"\x00",
        "session": "fallback",
        "session_missing": 7,
        "session_has": True,
    }


async def test_state_and_session_are_mappings():
    seen = {}
    wf = Workflow("mapping")

    def step(event, ctx):
        ctx.state["x"] = 1
        ctx.state["y"] = {"a": [1, 2]}
        with pytest.raises(KeyError):
            ctx.state["missing"]
        with pytest.raises(KeyError):
            del ctx.state["missing"]
        seen["x"] = ctx.state["x"]
        seen["in"] = ("x" in ctx.state, "missing" in ctx.state, 42 in ctx.state)
        seen["len"] = len(ctx.state)
        seen["keys"] = sorted(ctx.state)
        del ctx.state["x"]
        seen["after"] = dict(ctx.state)
        ctx.session["conn"] = obj = object()
        seen["session"] = (ctx.session["conn"] is obj, len(ctx.session), list(ctx.session))
        del ctx.session["conn"]
        seen["session_after"] = "conn" in ctx.session
        return stop()

    wf.add_step("s", [START_EVENT], step)
    await wf.run()
    assert seen == {
        "x": 1,
        "in": (True, False, False),
        "len": 2,
        "keys": ["x", "y"],
        "after": {"y": {"a": [1, 2]}},
        "session": (True, 1, ["conn"]),
        "session_after": False,
    }


async def test_keys_that_look_like_paths_are_flat():
    seen = {}
    wf = Workflow("flat")

    def step(event, ctx):
        ctx.set("user", {"name": "Ada"})
        ctx.set("user.name", "Grace")
        seen["both"] = (ctx.get("user"), ctx.get("user.name"))
        return stop()

    wf.add_step("s", [START_EVENT], step)
    await wf.run()
    assert seen["both"] == ({"name": "Ada"}, "Grace")


@pytest.mark.parametrize("call", ["get", "has", "get_bytes", "delete", "session_get", "session_set"])
async def test_a_key_that_is_not_a_string_is_one_clear_state_error(call):
    wf = Workflow("keys")

    def step(event, ctx):
        {
            "get": lambda: ctx.get(42),
            "has": lambda: ctx.state.has(42),
            "get_bytes": lambda: ctx.get_bytes(42),
            "delete": lambda: ctx.state.delete(42),
            "session_get": lambda: ctx.session.get(42),
            "session_set": lambda: ctx.session.set(42, 1),
        }[call]()

    wf.add_step("s", [START_EVENT], step)
    with pytest.raises(StepError) as caught:
        await wf.run()
    assert isinstance(caught.value.__cause__, StateError)
    assert "keys are strings, got 42" in str(caught.value.__cause__)


# -- a request id chosen by the step ------------------------------------------------------


def approval(request_id="req-1"):
    wf = Workflow("approval")
    wf.add_step(
        "ask",
        [START_EVENT],
        lambda e, c: {"type": INPUT_REQUEST_EVENT, "request_id": request_id, "prompt": "ok?"},
    )
    wf.add_step("decide", ["blazen::InputResponseEvent"], lambda e, c: stop([e["request_id"], e["response"]]))
    return wf


async def test_a_chosen_request_id_is_answered_without_reading_the_stream():
    handler = await approval().run_with_handler()
    await asyncio.sleep(0.01)
    handler.respond_to_input("req-1", "yes")
    assert (await handler.result()).data == ["req-1", "yes"]


async def test_a_chosen_request_id_survives_a_snapshot():
    handler = await approval().run_with_handler()
    await asyncio.sleep(0.01)
    snapshot = await handler.pause()
    assert [r["request_id"] for r in snapshot["input_requests"]] == ["req-1"]
    resumed = await approval().resume(json.dumps(snapshot))
    resumed.respond_to_input("req-1", "later")
    assert (await resumed.result()).data == ["req-1", "later"]


@pytest.mark.parametrize("bad", ["", 7, ["x"]])
async def test_a_chosen_request_id_that_is_not_a_non_empty_string_fails_the_run(bad):
    with pytest.raises(InvalidEventError, match="request_id must be a non-empty string"):
        await approval(bad).run()


async def test_a_chosen_request_id_already_open_fails_the_run():
    wf = Workflow("twice")
    ask = {"type": INPUT_REQUEST_EVENT, "request_id": "same", "prompt": "?"}
    wf.add_step("ask", [START_EVENT], lambda e, c: [ask, ask])
    wf.add_step("decide", ["blazen::InputResponseEvent"], lambda e, c: stop())
    with pytest.raises(InvalidEventError, match="'same' is already open"):
        await wf.run()


async def test_a_chosen_request_id_already_answered_fails_the_run():
    wf = Workflow("again")
    ask = {"type": INPUT_REQUEST_EVENT, "request_id": "one", "prompt": "?"}
    wf.add_step("ask", [START_EVENT], lambda e, c: ask)
    wf.add_step("again", ["blazen::InputResponseEvent"], lambda e, c: ask)
    handler = await wf.run_with_handler()
    await asyncio.sleep(0.01)
    handler.respond_to_input("one", 1)
    with pytest.raises(InvalidEventError, match="'one' is already answered"):
        await handler.result()


# -- validate() finds dead ends -----------------------------------------------------------


def test_validate_reports_a_dead_end_cycle_even_when_another_branch_stops():
    wf = Workflow("cycle")
    wf.add_step("entry", [START_EVENT], lambda e, c: None, emits=["A", STOP_EVENT])
    wf.add_step("b", ["A"], lambda e, c: None, emits=["B"])
    wf.add_step("c", ["B"], lambda e, c: None, emits=["A"])
    (problem,) = wf.validate()
    assert problem.kind == "dead-end"
    assert problem.steps == ("b", "c")
    assert "'b', 'c'" in problem.message


def test_validate_passes_a_cycle_with_an_exit():
    wf = Workflow("exit")
    wf.add_step("a", [START_EVENT], lambda e, c: None, emits=["A", STOP_EVENT])
    wf.add_step("b", ["A"], lambda e, c: None, emits=["B", STOP_EVENT])
    wf.add_step("c", ["B"], lambda e, c: None, emits=["A"])
    assert wf.validate() == []


def test_validate_reports_every_problem_at_once():
    wf = Workflow("many")
    wf.add_step("a", [START_EVENT], lambda e, c: None, emits=["A", "L", STOP_EVENT])
    wf.add_step("b", ["A"], lambda e, c: None, emits=["B"])
    wf.add_step("c", ["B"], lambda e, c: None, emits=["A"])
    wf.add_step("loop", ["L"], lambda e, c: None, emits=["L"])
    wf.add_step("island", ["Nobody"], lambda e, c: None, emits=[STOP_EVENT])
    kinds = sorted((p.kind, p.steps) for p in wf.validate())
    assert kinds == [("dead-end", ("b", "c")), ("dead-end", ("loop",)), ("unreachable-step", ("island",))]


def test_sinks_and_undeclared_steps_are_not_dead_ends():
    wf = Workflow("sinks")
    wf.add_step("a", [START_EVENT], lambda e, c: None, emits=["Log", "Any", STOP_EVENT])
    wf.add_step("log", ["Log"], lambda e, c: None, emits=["Progress"])  # stream only
    wf.add_step("any", ["Any"], lambda e, c: None)  # may emit anything
    problems = [p.kind for p in wf.validate()]
    assert "dead-end" not in problems


def test_a_dead_end_through_an_input_request_is_found():
    wf = Workflow("hitl")
    wf.add_step("a", [START_EVENT], lambda e, c: None, emits=[INPUT_REQUEST_EVENT, STOP_EVENT])
    wf.add_step("answer", ["blazen::InputResponseEvent"], lambda e, c: None, emits=["Again"])
    wf.add_step("again", ["Again"], lambda e, c: None, emits=[INPUT_REQUEST_EVENT])
    (problem,) = wf.validate()
    assert (problem.kind, problem.steps) == ("dead-end", ("answer", "again"))


# -- misuse is caught where it happens ----------------------------------------------------


def test_step_decorator_without_parentheses_is_a_type_error():
    wf = Workflow("oops")
    with pytest.raises(TypeError, match=r"@wf.step\(accepts=\[\.\.\.\]\)"):

        @wf.step
        def greet(event, ctx):
            return stop()

    assert wf.steps == ()
    builder = WorkflowBuilder("oops")
    with pytest.raises(TypeError, match=r"@builder.step\(accepts"):

        @builder.step
        def other(event, ctx):
            return stop()


async def test_run_streaming_awaits_an_async_callback_item_by_item():
    seen = []
    wf = Workflow("async-cb")

    def step(event, ctx):
        for i in range(3):
            ctx.send_event({"type": "Progress", "i": i})
        return stop("done")

    wf.add_step("s", [START_EVENT], step)

    async def callback(item):
        await asyncio.sleep(0.001)
        seen.append(item.event_type if item.event_type != "Progress" else item["i"])

    result = await wf.run_streaming(None, callback)
    assert result.data == "done"
    assert seen == [START_EVENT, 0, 1, 2, STOP_EVENT]


async def test_an_async_callback_that_raises_fails_the_run():
    wf = Workflow("async-cb-fail")
    wf.add_step("s", [START_EVENT], lambda e, c: {"type": "Mid"})

    async def late(event, ctx):
        await asyncio.sleep(0.05)
        return stop()

    wf.add_step("late", ["Mid"], late)

    async def callback(item):
        if item.event_type == "Mid":
            raise RuntimeError("listener broke")

    with pytest.raises(WorkflowError, match="stream callback raised RuntimeError: listener broke"):
        await wf.run_streaming(None, callback)


async def test_pausing_a_finished_run_is_still_a_handler_state_error():
    handler = await one_step().run_with_handler({"n": 1})
    await handler.result()
    with pytest.raises(HandlerStateError, match="already completed"):
        handler.pause()
