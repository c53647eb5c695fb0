"""Step span items of traced runs: one start and one finish per step invocation, with the
right outcome whatever ends it, only for those who asked, and nothing for the others."""

from __future__ import annotations

import asyncio

import pytest

from blazen_py import (
    INPUT_ANSWERED,
    INPUT_REQUEST_EVENT,
    INPUT_RESPONSE_EVENT,
    SPAN_OUTCOMES,
    START_EVENT,
    STEP_FINISHED,
    STEP_STARTED,
    STOP_EVENT,
    StepError,
    StepTimeoutError,
    Workflow,
    WorkflowAbortedError,
)
from blazen_py.runtime import Deferred, run_hooks

PORTABLE = True

SPAN_KINDS = (STEP_STARTED, STEP_FINISHED, INPUT_ANSWERED)


def stop(result=None):
    return {"type": STOP_EVENT, "result": result}


def spans_of(items):
    """(kind, step, outcome or handling) of the span items, in order."""
    out = []
    for item in items:
        if item["event_type"] == STEP_STARTED:
            out.append(("start", item["step"], item["handling"]))
        elif item["event_type"] == STEP_FINISHED:
            out.append(("end", item["step"], item["outcome"]))
    return out


def pipeline() -> Workflow:
    wf = Workflow("pipeline")
    wf.add_step("first", [START_EVENT], lambda e, c: {"type": "Middle"})

    async def second(event, ctx):
        await asyncio.sleep(0.001)
        return {"type": "Last"}

    wf.add_step("second", ["Middle"], second)
    wf.add_step("third", ["Last"], lambda e, c: stop("done"))
    return wf


async def test_each_invocation_starts_then_finishes_in_order() -> None:
    items = []
    result = await pipeline().run_streaming({}, items.append, spans=True)
    assert result.data == "done"
    assert spans_of(items) == [
        ("start", "first", START_EVENT),
        ("end", "first", "completed"),
        ("start", "second", "Middle"),
        ("end", "second", "completed"),
        ("start", "third", "Last"),
        ("end", "third", "completed"),
    ]
    # the stop event is streamed before the step that returned it finishes
    kinds = [i["event_type"] for i in items]
    assert kinds.index(STOP_EVENT) < len(kinds) - 1
    starts = [i for i in items if i["event_type"] == STEP_STARTED]
    assert len({i["span"] for i in starts}) == 3
    times = [i["at"] for i in items if i["event_type"] in SPAN_KINDS]
    assert times == sorted(times)


async def test_untraced_streams_carry_no_span_items() -> None:
    items = []
    await pipeline().run_streaming({}, items.append)
    assert [i["event_type"] for i in items] == [START_EVENT, "Middle", "Last", STOP_EVENT]
    handler = await pipeline().run_with_handler({})
    await handler.result()
    assert [i["event_type"] async for i in handler.events()] == [START_EVENT, "Middle", "Last", STOP_EVENT]


async def test_a_handler_with_spans_streams_them() -> None:
    handler = await pipeline().run_with_handler({}, spans=True)
    await handler.result()
    items = [i async for i in handler.events()]
    assert [s[0] for s in spans_of(items)] == ["start", "end"] * 3


async def test_concurrent_invocations_of_one_step_have_their_own_spans() -> None:
    wf = Workflow("fan")
    wf.add_step("split", [START_EVENT], lambda e, c: [{"type": "Work", "i": i} for i in range(10)])
    seen = []

    async def work(event, ctx):
        seen.append(event["i"])
        await asyncio.sleep(0.001 * (10 - event["i"]))
        return {"type": "Done"}

    def join(event, ctx):
        n = (ctx.get("n") or 0) + 1
        ctx.set("n", n)
        return stop(n) if n == 10 else None

    wf.add_step("work", ["Work"], work)
    wf.add_step("join", ["Done"], join)
    items = []
    assert (await wf.run_streaming({}, items.append, spans=True)).data == 10
    started = [i["span"] for i in items if i["event_type"] == STEP_STARTED and i["step"] == "work"]
    finished = [i["span"] for i in items if i["event_type"] == STEP_FINISHED and i["step"] == "work"]
    assert len(set(started)) == 10
    assert sorted(finished) == sorted(started)
    assert finished != started  # they end in another order than they began
    # all ten were running at once before the first one finished
    first_end = next(
        n for n, i in enumerate(items) if i["event_type"] == STEP_FINISHED and i["step"] == "work"
    )
    assert sum(1 for i in items[:first_end] if i["event_type"] == STEP_STARTED and i["step"] == "work") == 10


async def test_a_failed_step_is_failed_and_the_others_cancelled() -> None:
    wf = Workflow("boom")
    wf.add_step("split", [START_EVENT], lambda e, c: [{"type": "Slow"}, {"type": "Bad"}])

    async def slow(event, ctx):
        await asyncio.sleep(10)

    async def bad(event, ctx):
        await asyncio.sleep(0.001)
        raise ValueError("nope")

    wf.add_step("slow", ["Slow"], slow)
    wf.add_step("bad", ["Bad"], bad)
    items = []
    with pytest.raises(StepError, match="nope"):
        await wf.run_streaming({}, items.append, spans=True)
    ends = {i["step"]: i for i in items if i["event_type"] == STEP_FINISHED}
    assert ends["split"]["outcome"] == "completed"
    assert ends["bad"]["outcome"] == "failed"
    assert ends["bad"]["error_type"] == "StepError"
    assert "ValueError: nope" in ends["bad"]["error"]
    assert ends["slow"]["outcome"] == "cancelled"
    kinds = [(i["event_type"], i.get("step")) for i in items]
    assert (
        kinds.index((STEP_FINISHED, "bad"))
        < kinds.index(("Error", "bad"))
        < kinds.index((STEP_FINISHED, "slow"))
    )


async def test_an_inline_exception_and_a_non_event_fail_their_span() -> None:
    for handler in (lambda e, c: 1 / 0, lambda e, c: "not an event"):
        wf = Workflow("inline")
        wf.add_step("s", [START_EVENT], handler)
        items = []
        with pytest.raises(Exception, match="step 's'"):
            await wf.run_streaming({}, items.append, spans=True)
        assert spans_of(items) == [("start", "s", START_EVENT), ("end", "s", "failed")]


async def test_a_step_timeout_fails_that_span() -> None:
    wf = Workflow("slow")

    async def sleepy(event, ctx):
        await asyncio.sleep(5)

    wf.add_step("sleepy", [START_EVENT], sleepy, timeout=0.01)
    items = []
    with pytest.raises(StepTimeoutError):
        await wf.run_streaming({}, items.append, spans=True)
    [end] = [i for i in items if i["event_type"] == STEP_FINISHED]
    assert (end["outcome"], end["error_type"]) == ("failed", "StepTimeoutError")


async def test_a_stop_elsewhere_cancels_what_still_runs() -> None:
    wf = Workflow("race")
    wf.add_step("split", [START_EVENT], lambda e, c: [{"type": "Fast"}, {"type": "Slow"}])

    async def slow(event, ctx):
        await asyncio.sleep(10)

    async def fast(event, ctx):
        await asyncio.sleep(0.005)
        return stop("fast")

    wf.add_step("fast", ["Fast"], fast)
    wf.add_step("slow", ["Slow"], slow)
    items = []
    assert (await wf.run_streaming({}, items.append, spans=True)).data == "fast"
    ends = {i["step"]: i["outcome"] for i in items if i["event_type"] == STEP_FINISHED}
    assert ends == {"split": "completed", "fast": "completed", "slow": "cancelled"}


async def test_an_abort_cancels_running_spans() -> None:
    wf = Workflow("abort")

    async def wait(event, ctx):
        await asyncio.sleep(10)

    wf.add_step("wait", [START_EVENT], wait)
    handler = await wf.run_with_handler({}, spans=True)
    await asyncio.sleep(0.01)
    handler.abort()
    with pytest.raises(WorkflowAbortedError):
        await handler.result()
    items = [i async for i in handler.events()]
    assert spans_of(items) == [("start", "wait", START_EVENT), ("end", "wait", "cancelled")]


async def test_a_pause_interrupts_an_awaiting_step_and_resume_starts_a_new_span() -> None:
    wf = Workflow("ask")

    async def ask(event, ctx):
        answer = await ctx.request_input("ok?")
        return stop(answer)

    wf.add_step("ask", [START_EVENT], ask)
    handler = await wf.run_with_handler({}, spans=True)
    await asyncio.sleep(0.01)
    await handler.pause()
    await handler.resume_in_place()
    await asyncio.sleep(0.01)
    # asked again by the new invocation
    request = [i for i in handler._items if i["event_type"] == "InputRequested"][-1]["request_id"]
    handler.respond_to_input(request, "yes")
    assert (await handler.result()).data == "yes"
    items = [i async for i in handler.events()]
    assert spans_of(items) == [
        ("start", "ask", START_EVENT),
        ("end", "ask", "interrupted"),
        ("start", "ask", START_EVENT),
        ("end", "ask", "completed"),
    ]
    answered = [i for i in items if i["event_type"] == INPUT_ANSWERED]
    assert [(a["request_id"], a["step"]) for a in answered] == [(request, "ask")]


async def test_a_durable_request_and_its_answer() -> None:
    wf = Workflow("durable")
    wf.add_step("draft", [START_EVENT], lambda e, c: {"type": INPUT_REQUEST_EVENT, "prompt": "publish?"})
    wf.add_step("decide", [INPUT_RESPONSE_EVENT], lambda e, c: stop(e["response"]))
    handler = await wf.run_with_handler({}, spans=True)
    await asyncio.sleep(0.01)
    [request] = [i for i in handler._items if i["event_type"] == "InputRequested"]
    handler.respond_to_input(request["request_id"], "ok")
    assert (await handler.result()).data == "ok"
    items = [i async for i in handler.events()]
    kinds = [i["event_type"] for i in items]
    assert kinds.index(INPUT_ANSWERED) < kinds.index(INPUT_RESPONSE_EVENT)
    assert spans_of(items)[-2:] == [("start", "decide", INPUT_RESPONSE_EVENT), ("end", "decide", "completed")]


async def test_a_held_back_invocation_starts_its_span_when_it_runs() -> None:
    wf = Workflow("limited")
    wf.add_step("split", [START_EVENT], lambda e, c: [{"type": "Job"} for _ in range(4)])
    running = []
    peak = []

    async def job(event, ctx):
        running.append(1)
        peak.append(len(running))
        await asyncio.sleep(0.002)
        running.pop()
        return {"type": "Done"}

    def join(event, ctx):
        n = (ctx.get("n") or 0) + 1
        ctx.set("n", n)
        return stop(n) if n == 4 else None

    wf.add_step("job", ["Job"], job, max_concurrency=2)
    wf.add_step("join", ["Done"], join)
    items = []
    await wf.run_streaming({}, items.append, spans=True)
    open_now, most = 0, 0
    for item in items:
        if item.get("step") == "job" and item["event_type"] == STEP_STARTED:
            open_now += 1
            most = max(most, open_now)
        elif item.get("step") == "job" and item["event_type"] == STEP_FINISHED:
            open_now -= 1
    assert most == max(peak) == 2
    assert sum(1 for i in items if i.get("step") == "job" and i["event_type"] == STEP_FINISHED) == 4


async def test_a_deferred_step_finishes_when_it_is_settled() -> None:
    wf = Workflow("deferred")
    pending = []

    def later(event, ctx):
        deferred = Deferred()
        pending.append(deferred)
        return deferred

    wf.add_step("later", [START_EVENT], later)
    wf.add_step("end", ["Done"], lambda e, c: stop("ok"))
    handler = await wf.run_with_handler({}, spans=True)
    await asyncio.sleep(0.01)
    assert spans_of(handler._items) == [("start", "later", START_EVENT)]
    pending[0].resolve({"type": "Done"})
    assert (await handler.result()).data == "ok"
    assert spans_of(handler._items)[1] == ("end", "later", "completed")


async def test_a_tracer_sees_spans_the_stream_listener_does_not() -> None:
    traced = []

    def hook(run):
        run.trace(traced.append)

    run_hooks.append(hook)
    try:
        handler = await pipeline().run_with_handler({})
        await handler.result()
    finally:
        run_hooks.remove(hook)
    own = [i["event_type"] async for i in handler.events()]
    assert own == [START_EVENT, "Middle", "Last", STOP_EVENT]
    assert [s[0] for s in spans_of(traced)] == ["start", "end"] * 3
    assert [i["event_type"] for i in traced if i["event_type"] not in SPAN_KINDS] == own


async def test_run_hooks_see_resumed_runs_and_cannot_break_a_run() -> None:
    seen = []

    def broken(run):
        seen.append(run.run_id)
        raise RuntimeError("instrumentation bug")

    loop = asyncio.get_running_loop()
    reported = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
    run_hooks.append(broken)
    try:
        wf = Workflow("hooked")
        wf.add_step("ask", [START_EVENT], lambda e, c: {"type": INPUT_REQUEST_EVENT, "prompt": "?"})
        wf.add_step("done", [INPUT_RESPONSE_EVENT], lambda e, c: stop(e["response"]))
        handler = await wf.run_with_handler({})
        await asyncio.sleep(0.01)
        snapshot = await handler.pause()
        resumed = await wf.resume(snapshot)
        [request] = [i for i in resumed._items if i["event_type"] == "InputRequested"]
        resumed.respond_to_input(request["request_id"], 7)
        assert (await resumed.result()).data == 7
    finally:
        run_hooks.remove(broken)
    assert seen == [handler.run_id, handler.run_id]
    assert reported == ["error in a run hook", "error in a run hook"]


def test_outcomes_are_named() -> None:
    assert SPAN_OUTCOMES == ("completed", "failed", "interrupted", "cancelled")


async def test_a_tracer_of_a_resumed_run_sees_its_open_requests_again() -> None:
    wf = Workflow("resumed")
    wf.add_step("ask", [START_EVENT], lambda e, c: {"type": INPUT_REQUEST_EVENT, "prompt": "go?"})
    wf.add_step("done", [INPUT_RESPONSE_EVENT], lambda e, c: stop(e["response"]))
    handler = await wf.run_with_handler({})
    await asyncio.sleep(0.01)
    snapshot = await handler.pause()
    traced = []

    def hook(run):
        run.trace(traced.append)

    run_hooks.append(hook)
    try:
        resumed = await wf.resume(snapshot)
    finally:
        run_hooks.remove(hook)
    assert [(i["event_type"], i["prompt"]) for i in traced] == [("InputRequested", "go?")]
    resumed.respond_to_input(traced[0]["request_id"], "yes")
    assert (await resumed.result()).data == "yes"
    assert [i["event_type"] for i in traced][-2:] == [STOP_EVENT, STEP_FINISHED]


async def test_a_stop_held_by_a_pause_cancels_the_other_running_spans() -> None:
    wf = Workflow("held")
    wf.add_step("split", [START_EVENT], lambda e, c: [{"type": "Fast"}, {"type": "Slow"}])

    async def fast(event, ctx):
        await asyncio.sleep(0.02)
        return stop("fast")

    async def slow(event, ctx):
        await asyncio.sleep(10)

    wf.add_step("fast", ["Fast"], fast)
    wf.add_step("slow", ["Slow"], slow)
    handler = await wf.run_with_handler({}, spans=True)
    await asyncio.sleep(0.005)
    await handler.pause()  # fast finishes while pausing: its stop is held
    ends = {i["step"]: i["outcome"] for i in handler._items if i.event_type == STEP_FINISHED}
    assert ends == {"split": "completed", "fast": "completed", "slow": "cancelled"}
    await handler.resume_in_place()
    assert (await handler.result()).data == "fast"
