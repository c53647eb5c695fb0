"""The dispatcher: routing, ordering, stopping, failures, limits."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from blazen_py import (
    START_EVENT,
    STOP_EVENT,
    InvalidEventError,
    StepError,
    StepTimeoutError,
    Workflow,
    WorkflowError,
    WorkflowStallError,
    WorkflowTimeoutError,
    runtime,
)
from blazen_py.runtime import YIELD_EVERY

PORTABLE = True


def stop(result=None):
    return {"type": STOP_EVENT, "result": result}


async def test_every_accepting_step_receives_the_event() -> None:
    wf = Workflow("multi")
    got = []
    wf.add_step("a", [START_EVENT], lambda e, c: got.append("a"))
    wf.add_step("b", [START_EVENT, "Other"], lambda e, c: got.append("b") or {"type": "Done"})
    wf.add_step("c", ["Done"], lambda e, c: stop(got[:]))
    result = await wf.run()
    assert result.data == ["a", "b"]


async def test_input_is_merged_onto_start_event_and_type_wins() -> None:
    wf = Workflow("merge")
    wf.add_step("s", [START_EVENT], lambda e, c: stop(dict(e)))
    result = await wf.run({"x": 1, "type": "Sneaky"})
    assert result.data == {"x": 1, "type": START_EVENT}


async def test_sync_and_async_steps_mix() -> None:
    wf = Workflow("mix")

    async def a(event, ctx):
        await asyncio.sleep(0)
        return {"type": "B", "n": 1}

    def b(event, ctx):
        return {"type": "C", "n": event["n"] + 1}

    async def c(event, ctx):
        return stop(event["n"] + 1)

    wf.add_step("a", [START_EVENT], a)
    wf.add_step("b", ["B"], b)
    wf.add_step("c", ["C"], c)
    assert (await wf.run()).data == 3


async def test_stream_order_is_production_order_sent_before_returned() -> None:
    wf = Workflow("order")

    async def first(event, ctx):
        ctx.send_event({"type": "X", "i": 1})
        await asyncio.sleep(0)
        ctx.send_event({"type": "X", "i": 2})
        return [{"type": "X", "i": 3}, {"type": "Y"}]

    def xs(event, ctx):
        ctx.state.set("xs", (ctx.get("xs") or []) + [event["i"]])

    def y(event, ctx):
        return stop(ctx.get("xs"))

    wf.add_step("first", [START_EVENT], first)
    wf.add_step("xs", ["X"], xs)
    wf.add_step("y", ["Y"], y)
    seen = []
    result = await wf.run_streaming({}, lambda ev: seen.append((ev["event_type"], ev.get("i"))))
    assert result.data == [1, 2, 3]
    assert seen == [(START_EVENT, None), ("X", 1), ("X", 2), ("X", 3), ("Y", None), (STOP_EVENT, None)]


async def test_first_stop_wins_and_running_steps_are_cancelled() -> None:
    wf = Workflow("race")
    cancelled = []
    late = []

    def fan(event, ctx):
        return [{"type": "Slow"}, {"type": "Fast"}, {"type": "Later"}]

    async def slow(event, ctx):
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append("slow")
            raise
        return stop("slow")

    def fast(event, ctx):
        return [stop("fast"), stop("second")]

    def later(event, ctx):
        late.append(1)

    wf.add_step("fan", [START_EVENT], fan)
    wf.add_step("slow", ["Slow"], slow)
    wf.add_step("fast", ["Fast"], fast)
    wf.add_step("later", ["Later"], later)
    result = await wf.run()
    assert result.data == "fast"
    await asyncio.sleep(0)
    assert cancelled == ["slow"]
    assert late == []


async def test_unrouted_event_goes_to_stream_only() -> None:
    wf = Workflow("unrouted")

    def process(event, ctx):
        for i in range(5):
            ctx.send_event({"type": "Progress", "step": i})
        return stop({"done": True})

    wf.add_step("process", [START_EVENT], process)
    seen = []
    result = await wf.run_streaming({}, lambda ev: seen.append(ev.event_type))
    assert result.data == {"done": True}
    assert seen == [START_EVENT] + ["Progress"] * 5 + [STOP_EVENT]


async def test_step_exception_is_chained_and_names_step_and_event() -> None:
    wf = Workflow("boom")

    def explode(event, ctx):
        raise KeyError("missing")

    wf.add_step("go", [START_EVENT], lambda e, c: {"type": "Work"})
    wf.add_step("explode", ["Work"], explode)
    with pytest.raises(StepError, match=r"step 'explode' failed handling 'Work': KeyError") as info:
        await wf.run()
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.step == "explode"
    assert info.value.event_type == "Work"


async def test_async_step_exception_after_suspending() -> None:
    wf = Workflow("boom-async")

    async def explode(event, ctx):
        await asyncio.sleep(0)
        raise ValueError("late")

    wf.add_step("explode", [START_EVENT], explode)
    with pytest.raises(StepError, match="late") as info:
        await wf.run()
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize(
    "bad",
    [42, "StopEvent", {"no": "type"}, {"type": 7}, {"type": ""}, [{"type": "A"}, 3], object()],
)
async def test_bad_return_value_is_invalid_event_error(bad) -> None:
    wf = Workflow("bad-return")
    wf.add_step("bad", [START_EVENT], lambda e, c: bad)
    wf.add_step("a", ["A"], lambda e, c: None)
    with pytest.raises(InvalidEventError, match=r"step 'bad' handling 'blazen::StartEvent'") as info:
        await wf.run()
    assert info.value.step == "bad"
    assert info.value.event_type == START_EVENT


async def test_send_event_rejects_non_events_inside_the_step() -> None:
    wf = Workflow("bad-send")
    caught = []

    def send(event, ctx):
        try:
            ctx.send_event({"payload": 1})
        except InvalidEventError as exc:
            caught.append(str(exc))
        return stop("ok")

    wf.add_step("send", [START_EVENT], send)
    assert (await wf.run()).data == "ok"
    assert "has no string 'type'" in caught[0]


async def test_stall_fails_at_once_naming_unrouted_events_and_producers() -> None:
    wf = Workflow("stall")
    wf.add_step("a", [START_EVENT], lambda e, c: {"type": "Nobody"})
    started = time.monotonic()
    with pytest.raises(WorkflowStallError, match=r"'Nobody' \(from 'a'\)") as info:
        await wf.run()
    assert time.monotonic() - started < 1
    assert info.value.unrouted == {"Nobody": ["a"]}


async def test_stall_when_a_step_returns_nothing() -> None:
    wf = Workflow("stall-none")
    wf.add_step("a", [START_EVENT], lambda e, c: None)
    with pytest.raises(WorkflowStallError, match="no 'blazen::StopEvent' was produced"):
        await wf.run()


async def test_stall_without_start_step() -> None:
    wf = Workflow("no-start")
    wf.add_step("a", ["X"], lambda e, c: None)
    with pytest.raises(WorkflowStallError, match=r"'blazen::StartEvent' \(from the start\)"):
        await wf.run()


async def test_step_timeout() -> None:
    wf = Workflow("step-timeout")

    async def slow(event, ctx):
        await asyncio.sleep(10)

    wf.add_step("slow", [START_EVENT], slow, timeout=0.05)
    with pytest.raises(
        StepTimeoutError, match=r"step 'slow' handling 'blazen::StartEvent' timed out after 0\.05 s"
    ) as info:
        await wf.run()
    assert isinstance(info.value, WorkflowTimeoutError)
    assert info.value.step == "slow"


async def test_step_timeout_applies_to_sync_steps_too() -> None:
    wf = Workflow("sync-timeout")

    def busy(event, ctx):
        time.sleep(0.06)
        return stop(1)

    wf.add_step("busy", [START_EVENT], busy, timeout=0.01)
    with pytest.raises(StepTimeoutError):
        await wf.run()


async def test_workflow_timeout_interrupts_a_long_synchronous_loop() -> None:
    wf = Workflow("spin")
    wf.set_timeout(0.2)
    wf.add_step("spin", [START_EVENT, "Again"], lambda e, c: {"type": "Again"})
    with pytest.raises(WorkflowTimeoutError):
        await wf.run()


async def test_workflow_runs_again_cleanly_after_each_failure() -> None:
    wf = Workflow("again")
    mode = {"value": "raise"}

    async def step(event, ctx):
        if mode["value"] == "raise":
            raise RuntimeError("x")
        if mode["value"] == "bad":
            return 5
        if mode["value"] == "stall":
            return None
        if mode["value"] == "slow":
            await asyncio.sleep(1)
        return stop(ctx.get("k"))

    wf.add_step("step", [START_EVENT], step)
    for m, error in [("raise", StepError), ("bad", InvalidEventError), ("stall", WorkflowStallError)]:
        mode["value"] = m
        with pytest.raises(error):
            await wf.run()
    mode["value"] = "slow"
    wf.set_timeout(0.02)
    with pytest.raises(WorkflowTimeoutError):
        await wf.run()
    wf.set_timeout(None)
    mode["value"] = "ok"
    assert (await wf.run()).data is None


async def test_chain_of_20000_sync_steps_overflows_no_stack() -> None:
    wf = Workflow("chain")

    def step(event, ctx):
        n = event.get("n", 0)
        if n == 20000:
            return stop(n)
        return {"type": "Next", "n": n + 1}

    wf.add_step("step", [START_EVENT, "Next"], step)
    assert (await wf.run()).data == 20000


async def test_fan_out_then_join_scales_linearly() -> None:
    wf = Workflow("fanout")

    def fan(event, ctx):
        return [{"type": "Item", "i": i} for i in range(event["n"])]

    def work(event, ctx):
        return {"type": "Done", "i": event["i"]}

    def join(event, ctx):
        count = (ctx.get("count") or 0) + 1
        ctx.set("count", count)
        if count == ctx.get("n"):
            return stop(count)
        return None

    def begin(event, ctx):
        ctx.set("n", event["n"])

    wf.add_step("begin", [START_EVENT], begin)
    wf.add_step("fan", [START_EVENT], fan)
    wf.add_step("work", ["Item"], work)
    wf.add_step("join", ["Done"], join)
    assert (await wf.run({"n": 10000})).data == 10000


async def test_max_concurrency_limits_suspended_invocations() -> None:
    wf = Workflow("limit")
    active = {"now": 0, "peak": 0, "done": 0}

    def fan(event, ctx):
        return [{"type": "Job", "i": i} for i in range(6)]

    async def job(event, ctx):
        active["now"] += 1
        active["peak"] = max(active["peak"], active["now"])
        await asyncio.sleep(0.001)
        active["now"] -= 1
        active["done"] += 1
        if active["done"] == 6:
            return stop(active["peak"])
        return None

    wf.add_step("fan", [START_EVENT], fan)
    wf.add_step("job", ["Job"], job, max_concurrency=2)
    assert (await wf.run()).data == 2


async def test_inline_false_step_gets_its_own_task() -> None:
    wf = Workflow("own-task")

    async def timed(event, ctx):
        async with asyncio.timeout(5) if hasattr(asyncio, "timeout") else _null():
            await asyncio.sleep(0)
        return stop(asyncio.current_task() is not None)

    wf.add_step("timed", [START_EVENT], timed, inline=False)
    assert (await wf.run()).data is True


class _null:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


async def test_step_awaiting_a_plain_future() -> None:
    wf = Workflow("future")

    def step(event, ctx):
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.set_result, stop("from future"))
        return fut

    wf.add_step("step", [START_EVENT], step)
    assert (await wf.run()).data == "from future"


async def test_concurrent_runs_of_one_workflow_are_isolated() -> None:
    wf = Workflow("parallel")

    async def step(event, ctx):
        ctx.set("x", event["x"])
        await asyncio.sleep(0.001 * (event["x"] % 3))
        return stop(ctx.get("x"))

    wf.add_step("step", [START_EVENT], step)
    results = await asyncio.gather(*(wf.run({"x": i}) for i in range(50)))
    assert [r.data for r in results] == list(range(50))


async def test_cancelling_the_caller_aborts_the_run() -> None:
    wf = Workflow("cancel")
    cancelled = []

    async def slow(event, ctx):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    wf.add_step("slow", [START_EVENT], slow)
    with pytest.raises((asyncio.TimeoutError, TimeoutError)):
        await asyncio.wait_for(wf.run(), 0.05)
    await asyncio.sleep(0)
    assert cancelled == [True]


async def test_errors_are_workflow_errors() -> None:
    for cls in (StepError, InvalidEventError, WorkflowStallError, WorkflowTimeoutError, StepTimeoutError):
        assert issubclass(cls, WorkflowError)


async def test_step_spinning_on_bare_yields_is_cancelled_when_the_run_stops() -> None:
    wf = Workflow("spinner")
    seen = []

    async def spinner(event, ctx):
        try:
            while True:  # noqa: ASYNC110 - spinning on bare yields is the point
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def stopper(event, ctx):
        for _ in range(3):
            await asyncio.sleep(0)
        return stop("stopped")

    wf.add_step("spinner", [START_EVENT], spinner)
    wf.add_step("stopper", [START_EVENT], stopper)
    assert (await wf.run()).data == "stopped"
    assert seen == ["cancelled"]


async def test_step_timeout_interrupts_a_step_spinning_on_bare_yields() -> None:
    wf = Workflow("spin-timeout")

    async def spinner(event, ctx):
        while True:  # noqa: ASYNC110 - spinning on bare yields is the point
            await asyncio.sleep(0)

    wf.add_step("spinner", [START_EVENT], spinner, timeout=0.05)
    with pytest.raises(StepTimeoutError, match="'spinner'"):
        await wf.run()


async def test_step_that_yields_then_awaits_a_future_then_fails() -> None:
    wf = Workflow("mixed-suspend")

    async def step(event, ctx):
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        await asyncio.sleep(0)
        raise LookupError("after three suspensions")

    wf.add_step("step", [START_EVENT], step)
    with pytest.raises(StepError, match="after three suspensions"):
        await wf.run()


async def test_deferred_results_resolve_and_reject_later() -> None:
    from blazen_py.runtime import Deferred

    wf = Workflow("deferred")
    loop = asyncio.get_running_loop()

    def later(event, ctx):
        deferred = Deferred()
        loop.call_soon(deferred.resolve, {"type": "Then", "v": 1})
        return deferred

    def then(event, ctx):
        deferred = Deferred()
        loop.call_soon(deferred.reject, ValueError("rejected later"))
        return deferred

    wf.add_step("later", [START_EVENT], later)
    wf.add_step("then", ["Then"], then)
    with pytest.raises(StepError, match="rejected later") as info:
        await wf.run()
    assert info.value.step == "then"


async def test_deferred_that_never_settles_times_out_and_late_settlement_is_ignored() -> None:
    from blazen_py.runtime import Deferred

    wf = Workflow("deferred-timeout")
    kept = []

    def never(event, ctx):
        kept.append(Deferred())
        return kept[-1]

    wf.add_step("never", [START_EVENT], never, timeout=0.02)
    with pytest.raises(StepTimeoutError):
        await wf.run()
    kept[0].resolve({"type": STOP_EVENT})  # after the run ended: ignored


async def test_deferred_returned_twice_fails_the_step() -> None:
    from blazen_py.runtime import Deferred

    wf = Workflow("deferred-twice")
    shared = Deferred()
    wf.add_step("a", [START_EVENT], lambda e, c: [{"type": "X"}, {"type": "X"}])
    wf.add_step("b", ["X"], lambda e, c: shared)
    with pytest.raises(StepError, match="one step invocation only"):
        await wf.run()


# -- when_done: what runs the moment a run ends ---------------------------------------------


@contextmanager
def loop_exceptions():
    """Collect what reaches the running loop's exception handler meanwhile."""
    loop = asyncio.get_running_loop()
    reported = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        yield reported
    finally:
        loop.set_exception_handler(previous)


async def test_when_done_hooks_run_as_the_run_ends_without_a_loop_turn() -> None:
    wf = Workflow("hooks")
    wf.add_step("s", [START_EVENT], lambda e, c: stop(7))
    run = wf.start(None)
    seen = []
    run.when_done(lambda r: seen.append(("first", r.done.result().data)))
    run.when_done(lambda r: seen.append(("second", r.done.result().data)))
    await asyncio.wait([run.done])
    # Future done-callbacks would need one more loop turn: these have already run.
    assert seen == [("first", 7), ("second", 7)]
    run.when_done(lambda r: seen.append(("late", r.status)))  # already ended: called now
    assert seen[-1][0] == "late"


async def test_a_failing_when_done_hook_is_reported_and_spares_the_others() -> None:
    wf = Workflow("bad-hook")
    wf.add_step("s", [START_EVENT], lambda e, c: stop(1))
    with loop_exceptions() as reported:
        run = wf.start(None)
        seen = []
        run.when_done(lambda r: 1 / 0)
        run.when_done(lambda r: seen.append(r.done.result().data))
        await asyncio.wait([run.done])
    assert seen == [1]
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], ZeroDivisionError)
    assert "when_done hook" in reported[0]["message"]


async def test_a_failed_run_nobody_awaits_logs_no_unretrieved_exception() -> None:
    wf = Workflow("unawaited")

    def boom(event, ctx):
        raise ValueError("boom")

    wf.add_step("s", [START_EVENT], boom)
    with loop_exceptions() as reported:
        run = wf.start(None)
        await asyncio.wait([run.done])
        del run
        gc.collect()
        await asyncio.sleep(0)
    assert reported == []


# -- start(now=True): what a bridge called from the host's own code does (issue 24) --------


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """The dispatcher's TIME_BUDGET set to ``seconds`` for the block."""
    saved, runtime.TIME_BUDGET = runtime.TIME_BUDGET, seconds
    try:
        yield
    finally:
        runtime.TIME_BUDGET = saved


def chain_of(n: int) -> Workflow:
    """Start -> E1 -> ... -> E(n-1) -> stop(n): n steps, each routed one event."""
    wf = Workflow(f"chain-{n}")
    wf.add_step("first", [START_EVENT], lambda e, c: {"type": "E", "i": 1})

    def next_one(event, ctx):
        i = event["i"] + 1
        return stop(i) if i >= n else {"type": "E", "i": i}

    wf.add_step("next", ["E"], next_one)
    return wf


async def test_a_run_started_now_has_run_its_first_steps_when_start_returns() -> None:
    later, now = chain_of(3).start(None), chain_of(3).start(None, now=True)
    assert later.done.done() is False  # the default: on the next loop turn
    assert now.done.result().data == 3
    assert (await asyncio.wait_for(later.done, 5)).data == 3


async def test_a_run_started_now_costs_no_loop_turn() -> None:
    loop = asyncio.get_running_loop()
    scheduled = []
    soon = loop.call_soon
    loop.call_soon = lambda cb, *a, **k: scheduled.append(cb) or soon(cb, *a, **k)  # type: ignore[method-assign]
    try:
        run = chain_of(2).start(None, now=True)
        # Nothing awaits the result, and its future adds no done-callback of its own (a
        # loop's create_future may: Pyodide's counts pending futures, a JS task each).
        assert run.done.result().data == 2
        assert scheduled == []
        later = chain_of(2).start(None)
        assert len(scheduled) == 1
    finally:
        del loop.call_soon
    assert (await asyncio.wait_for(later.done, 5)).data == 2


async def test_steps_started_now_run_in_a_copy_of_the_callers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="caller's")
    wf = Workflow("context")

    def first(event, ctx):
        var.set("the step's")
        return {"type": "Next"}

    wf.add_step("first", [START_EVENT], first)
    wf.add_step("second", ["Next"], lambda e, c: stop(var.get()))
    run = wf.start(None, now=True)
    assert run.done.result().data == "the step's"
    assert var.get() == "caller's"


async def test_a_long_run_started_now_still_yields_at_its_budget() -> None:
    n = 3 * YIELD_EVERY
    with time_budget(0.0):  # a yield at every reading of the clock
        run = chain_of(n).start(None, now=True)
    assert not run.done.done()  # the first stretch ran, the rest waits for the loop
    ticked = []
    asyncio.get_running_loop().call_soon(ticked.append, True)
    assert (await asyncio.wait_for(run.done, 30)).data == n
    assert ticked == [True]


async def test_a_stretch_within_its_time_budget_does_not_yield() -> None:
    # The clock is read every YIELD_EVERY events; a stretch younger than TIME_BUDGET goes
    # on, since each yield costs the page two or three JS tasks.
    loop = asyncio.get_running_loop()
    scheduled = []
    soon = loop.call_soon
    loop.call_soon = lambda cb, *a, **k: scheduled.append(cb) or soon(cb, *a, **k)  # type: ignore[method-assign]
    try:
        with time_budget(60.0):
            run = chain_of(5 * YIELD_EVERY).start(None, now=True)
    finally:
        del loop.call_soon
    assert run.done.result().data == 5 * YIELD_EVERY
    assert scheduled == []


async def test_a_first_step_failing_now_fails_the_run_not_the_caller() -> None:
    wf = Workflow("fails-now")

    def boom(event, ctx):
        raise ValueError("boom at once")

    wf.add_step("s", [START_EVENT], boom)
    with loop_exceptions() as reported:
        run = wf.start(None, now=True)  # does not raise
        assert run.done.done()
        with pytest.raises(StepError, match="boom at once"):
            run.done.result()
        del run
        gc.collect()
        await asyncio.sleep(0)
    assert reported == []
