"""Step retries: policies, backoff, rollback, held-back events, error handlers, durable backoff.

PORTABLE: run on CPython and, by tests/pyodide, inside Pyodide in Node and Chromium.
Delays are short and bounds generous: the machines are loaded; a lower bound (never
earlier than the backoff) is exact, an upper bound only says "not the full delay again".
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest

from blazen_py import (
    START_EVENT,
    STEP_FAILED_EVENT,
    STEP_FINISHED,
    STEP_RETRYING,
    STEP_STARTED,
    STOP_EVENT,
    MemoryStore,
    NonRetryableError,
    RetryableError,
    RetryPolicy,
    SnapshotError,
    StepError,
    StepTimeoutError,
    Workflow,
    WorkflowBuilder,
    WorkflowDefinitionError,
    WorkflowStallError,
)

PORTABLE = True


def flaky(fail_times: int, exc: type[BaseException] | BaseException = ConnectionError, **policy):
    """A one-step workflow whose step fails ``fail_times`` times, recording each attempt."""
    wf = Workflow("flaky")
    calls: list[tuple[int, float]] = []

    async def fetch(event, ctx):
        calls.append((ctx.attempt, time.monotonic()))
        if len(calls) <= fail_times:
            raise exc("down") if isinstance(exc, type) else exc
        return {"type": STOP_EVENT, "result": len(calls)}

    wf.add_step("fetch", [START_EVENT], fetch, retry=policy or {"max_attempts": 4, "initial_delay": 0})
    return wf, calls


# -- the policy on its own -------------------------------------------------------------------


def test_exponential_delays_double_and_are_capped() -> None:
    p = RetryPolicy(max_attempts=10, initial_delay=0.5, max_delay=3, backoff="exponential")
    assert [p.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_linear_and_fixed_delays() -> None:
    assert [RetryPolicy(initial_delay=2, max_delay=5, backoff="linear").delay(n) for n in (1, 2, 3)] == [
        2,
        4,
        5,
    ]
    assert [RetryPolicy(initial_delay=2, backoff="fixed").delay(n) for n in (1, 2, 7)] == [2, 2, 2]


def test_jitter_stays_within_half_and_whole_delay() -> None:
    p = RetryPolicy(max_attempts=10, initial_delay=1, max_delay=8, jitter=True)
    for n in range(1, 6):
        base = p.base_delay(n)
        seen = [p.delay(n) for _ in range(200)]
        assert all(base / 2 <= d <= base for d in seen)
        assert len(set(seen)) > 1  # it does spread


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert RetryPolicy(max_attempts=1000, initial_delay=1, max_delay=30).delay(999) == 30


@pytest.mark.parametrize(
    "options, match",
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"max_attempts": 10**6}, "max_attempts"),
        ({"initial_delay": -1}, "initial_delay"),
        ({"initial_delay": float("nan")}, "initial_delay"),
        ({"max_delay": float("inf")}, "max_delay"),
        ({"backoff": "quadratic"}, "backoff"),
        ({"jitter": "yes"}, "jitter"),
        ({"retry_on": 42}, "retry_on"),
        ({"retry_on": [ValueError, 3]}, "retry_on"),
        ({"retries": 3}, "unknown retry option"),
    ],
)
def test_bad_policies_are_refused(options, match) -> None:
    with pytest.raises(WorkflowDefinitionError, match=match):
        Workflow("w").add_step("s", [START_EVENT], lambda e, c: None, retry=options)


def test_retry_must_be_a_policy_or_a_dict() -> None:
    with pytest.raises(WorkflowDefinitionError, match="RetryPolicy"):
        Workflow("w").add_step("s", [START_EVENT], lambda e, c: None, retry=3)
    with pytest.raises(WorkflowDefinitionError, match="retry"):
        Workflow("w").set_retry_policy("often")


def test_retry_on_matching() -> None:
    by_class = RetryPolicy(retry_on=(ConnectionError,))
    assert by_class.retries(ConnectionRefusedError())  # a subclass
    assert not by_class.retries(ValueError())
    by_name = RetryPolicy(retry_on=["OSError"])
    assert by_name.retries(ConnectionError())  # a base class's name matches
    assert not by_name.retries(KeyError())
    by_predicate = RetryPolicy(retry_on=lambda e: "again" in str(e))
    assert by_predicate.retries(ValueError("try again"))
    assert not by_predicate.retries(ValueError("no"))
    assert not RetryPolicy().retries(NonRetryableError("no"))
    assert RetryPolicy(retry_on=[KeyError]).retries(RetryableError("asked"))  # asking wins


def test_any_error_with_retryable_false_is_not_retried() -> None:
    class Permanent(Exception):
        retryable = False

    assert not RetryPolicy().retries(Permanent())


def test_retryable_error_delay_is_checked() -> None:
    assert RetryableError("x", delay=2).delay == 2.0
    with pytest.raises(ValueError, match="delay"):
        RetryableError("x", delay=-1)


# -- attempts --------------------------------------------------------------------------------


async def test_exact_attempt_count_then_success() -> None:
    wf, calls = flaky(2)
    result = await wf.run()
    assert result.data == 3
    assert [a for a, _ in calls] == [1, 2, 3]


async def test_retries_run_out_with_step_error_carrying_attempts() -> None:
    wf, calls = flaky(10)
    with pytest.raises(StepError, match="after 4 attempts: ConnectionError: down") as info:
        await wf.run()
    assert info.value.attempts == 4
    assert isinstance(info.value.__cause__, ConnectionError)
    assert len(calls) == 4


async def test_a_step_without_policy_fails_at_once_with_one_attempt() -> None:
    wf = Workflow("plain")

    def boom(event, ctx):
        raise ValueError("no")

    wf.add_step("boom", [START_EVENT], boom)
    with pytest.raises(StepError) as info:
        await wf.run()
    assert info.value.attempts == 1


async def test_sync_steps_are_retried_too() -> None:
    wf = Workflow("sync")
    seen = []

    def step(event, ctx):
        seen.append(ctx.attempt)
        if ctx.attempt < 3:
            raise OSError("again")
        return {"type": STOP_EVENT, "result": "ok"}

    wf.add_step("s", [START_EVENT], step, retry=RetryPolicy(max_attempts=3, initial_delay=0))
    assert (await wf.run()).data == "ok"
    assert seen == [1, 2, 3]


async def test_non_retryable_error_fails_at_once() -> None:
    wf, calls = flaky(5, NonRetryableError("bad request"))
    with pytest.raises(StepError, match="NonRetryableError: bad request") as info:
        await wf.run()
    assert len(calls) == 1
    assert info.value.attempts == 1


async def test_retry_on_filters_errors() -> None:
    wf, calls = flaky(5, ValueError, max_attempts=5, initial_delay=0, retry_on=(ConnectionError,))
    with pytest.raises(StepError, match="ValueError"):
        await wf.run()
    assert len(calls) == 1
    wf, calls = flaky(2, ConnectionResetError, max_attempts=5, initial_delay=0, retry_on=["ConnectionError"])
    assert (await wf.run()).data == 3


async def test_a_retry_on_predicate_that_raises_fails_the_step() -> None:
    def predicate(error):
        raise RuntimeError("predicate broke")

    wf, calls = flaky(5, ValueError, max_attempts=5, initial_delay=0, retry_on=predicate)
    with pytest.raises(StepError, match="retry_on raised RuntimeError"):
        await wf.run()
    assert len(calls) == 1


async def test_backoff_delays_are_waited() -> None:
    wf, calls = flaky(3, max_attempts=4, initial_delay=0.05, backoff="exponential", max_delay=0.15)
    assert (await wf.run()).data == 4
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(calls)]
    # 0.05, 0.1, then capped at 0.15: never earlier (a timer may fire a hair early on some
    # platforms, hence the 5 ms slack), and never as late as a second full delay.
    for gap, want in zip(gaps, [0.05, 0.1, 0.15], strict=False):
        assert want - 0.005 <= gap < want + 2.0


async def test_retryable_error_chooses_its_delay_bounded_by_max_delay() -> None:
    wf, calls = flaky(1, RetryableError("busy", delay=0.2), max_attempts=2, initial_delay=30, max_delay=60)
    assert (await wf.run()).data == 2
    assert 0.195 <= calls[1][1] - calls[0][1] < 10  # not the policy's 30 s
    wf, calls = flaky(1, RetryableError("busy", delay=3600), max_attempts=2, initial_delay=0, max_delay=0.05)
    assert (await wf.run()).data == 2
    assert calls[1][1] - calls[0][1] < 10  # capped at max_delay, not an hour


async def test_workflow_default_policy_and_step_override() -> None:
    wf = Workflow("defaults")
    seen: dict[str, list[int]] = {"a": [], "b": []}

    async def a(event, ctx):
        seen["a"].append(ctx.attempt)
        if ctx.attempt < 3:
            raise OSError("a")
        return {"type": "B"}

    async def b(event, ctx):
        seen["b"].append(ctx.attempt)
        if ctx.attempt < 2:
            raise OSError("b")
        return {"type": STOP_EVENT, "result": "done"}

    wf.add_step("a", [START_EVENT], a)
    wf.add_step("b", ["B"], b, retry={"max_attempts": 2, "initial_delay": 0})
    wf.set_retry_policy(RetryPolicy(max_attempts=3, initial_delay=0))
    assert (await wf.run()).data == "done"
    assert seen == {"a": [1, 2, 3], "b": [1, 2]}
    assert wf.steps[0].retry is None  # the declared step is unchanged; runs get the default
    wf.set_retry_policy(None)
    seen = {"a": [], "b": []}
    with pytest.raises(StepError):
        await wf.run()
    assert seen["a"] == [1]


async def test_decorator_and_builder_take_retry() -> None:
    wf = Workflow("deco")
    seen = []

    @wf.step(accepts=[START_EVENT], retry={"max_attempts": 2, "initial_delay": 0})
    def once_more(event, ctx):
        seen.append(ctx.attempt)
        if ctx.attempt == 1:
            raise OSError("x")
        return {"type": STOP_EVENT, "result": ctx.attempt}

    assert (await wf.run()).data == 2
    b = WorkflowBuilder("built").set_retry_policy({"max_attempts": 2, "initial_delay": 0})
    b.add_step("s", [START_EVENT], once_more)
    assert (await b.build().run()).data == 2


# -- per-attempt timeout -----------------------------------------------------------------------


async def test_a_timed_out_attempt_is_retried() -> None:
    wf = Workflow("slow")
    seen = []

    async def slow(event, ctx):
        seen.append(ctx.attempt)
        if ctx.attempt < 3:
            await asyncio.sleep(30)  # cancelled by the per-attempt timeout
        return {"type": STOP_EVENT, "result": ctx.attempt}

    wf.add_step("slow", [START_EVENT], slow, timeout=0.05, retry={"max_attempts": 3, "initial_delay": 0})
    assert (await wf.run()).data == 3
    assert seen == [1, 2, 3]


async def test_timeouts_run_out_as_step_timeout_error_with_attempts() -> None:
    wf = Workflow("slow")

    async def slow(event, ctx):
        await asyncio.sleep(30)

    wf.add_step("slow", [START_EVENT], slow, timeout=0.03, retry={"max_attempts": 2, "initial_delay": 0})
    with pytest.raises(StepTimeoutError, match="attempt 2 of 2") as info:
        await wf.run()
    assert info.value.attempts == 2


async def test_retry_on_can_exclude_timeouts() -> None:
    wf = Workflow("slow")
    seen = []

    async def slow(event, ctx):
        seen.append(ctx.attempt)
        await asyncio.sleep(30)

    wf.add_step(
        "slow",
        [START_EVENT],
        slow,
        timeout=0.03,
        retry={"max_attempts": 5, "initial_delay": 0, "retry_on": [ConnectionError]},
    )
    with pytest.raises(StepTimeoutError):
        await wf.run()
    assert seen == [1]


# -- state and events of failed attempts --------------------------------------------------------


async def test_state_writes_of_a_failed_attempt_are_rolled_back() -> None:
    wf = Workflow("rollback")
    seen = []

    async def step(event, ctx):
        seen.append((ctx.attempt, ctx.get("count"), ctx.state.has("scratch")))
        ctx.set("count", (ctx.get("count") or 0) + 1)
        ctx.set("scratch", ctx.attempt)
        await asyncio.sleep(0)
        if ctx.attempt < 3:
            raise OSError("again")
        return {"type": STOP_EVENT, "result": ctx.get("count")}

    async def setup(event, ctx):
        ctx.set("count", 10)
        return {"type": "Go"}

    wf.add_step("setup", [START_EVENT], setup)
    wf.add_step("step", ["Go"], step, retry={"max_attempts": 3, "initial_delay": 0})
    assert (await wf.run()).data == 11  # one increment, not three
    assert seen == [(1, 10, False), (2, 10, False), (3, 10, False)]


async def test_events_a_failed_attempt_sent_are_withheld() -> None:
    wf = Workflow("withheld")
    counted = []
    streamed = []

    async def step(event, ctx):
        ctx.send_event({"type": "Count", "attempt": ctx.attempt})
        if ctx.attempt < 3:
            raise OSError("again")
        return {"type": "Done"}

    def count(event, ctx):
        counted.append(event["attempt"])

    def done(event, ctx):
        return {"type": STOP_EVENT, "result": list(counted)}

    wf.add_step("step", [START_EVENT], step, retry={"max_attempts": 3, "initial_delay": 0})
    wf.add_step("count", ["Count"], count)
    wf.add_step("done", ["Done"], done)
    result = await wf.run_streaming(None, streamed.append)
    assert result.data == [3]  # only the successful attempt's event, before its return
    assert [i["attempt"] for i in streamed if i.event_type == "Count"] == [3]
    assert [i["attempt"] for i in streamed if i.event_type == STEP_RETRYING] == [1, 2]


# -- ctx.retry_info and the stream ---------------------------------------------------------------


async def test_retry_info_inside_a_step() -> None:
    wf = Workflow("info")
    infos = []

    async def step(event, ctx):
        infos.append(ctx.retry_info())
        if ctx.attempt < 3:
            raise ConnectionError(f"down {ctx.attempt}")
        return {"type": STOP_EVENT}

    wf.add_step("s", [START_EVENT], step, retry={"max_attempts": 3, "initial_delay": 0.01, "max_delay": 1})
    await wf.run()
    assert infos[0] == {"attempt": 1, "max_attempts": 3, "last_error": None, "next_delay": 0.01}
    assert infos[1] == {
        "attempt": 2,
        "max_attempts": 3,
        "last_error": {"name": "ConnectionError", "message": "down 1"},
        "next_delay": 0.02,
    }
    assert infos[2]["attempt"] == 3
    assert infos[2]["next_delay"] is None
    assert infos[2]["last_error"]["message"] == "down 2"


async def test_retry_info_of_a_step_without_policy() -> None:
    wf = Workflow("info")
    infos = []

    def step(event, ctx):
        infos.append((ctx.attempt, ctx.retry_info()))
        return {"type": STOP_EVENT}

    wf.add_step("s", [START_EVENT], step)
    await wf.run()
    assert infos == [(1, {"attempt": 1, "max_attempts": 1, "last_error": None, "next_delay": None})]


async def test_step_retrying_items_on_the_stream() -> None:
    wf, _ = flaky(2, max_attempts=3, initial_delay=0.01)
    items = []
    await wf.run_streaming(None, items.append)
    retrying = [i for i in items if i.event_type == STEP_RETRYING]
    assert [(i["step"], i["attempt"], i["max_attempts"], i["error_name"], i["error"]) for i in retrying] == [
        ("fetch", 1, 3, "ConnectionError", "down"),
        ("fetch", 2, 3, "ConnectionError", "down"),
    ]
    assert [i["delay"] for i in retrying] == [0.01, 0.02]
    assert all(i.engine and i["span"] is None for i in retrying)


async def test_spans_of_retried_attempts() -> None:
    wf, _ = flaky(1, max_attempts=2, initial_delay=0)
    items = []
    await wf.run_streaming(None, items.append, spans=True)
    kinds = [(i.event_type, i.get("outcome")) for i in items if i.event_type != START_EVENT]
    assert kinds[:3] == [(STEP_STARTED, None), (STEP_FINISHED, "failed"), (STEP_RETRYING, None)]
    started = [i for i in items if i.event_type == STEP_STARTED]
    assert [i.get("attempt", 1) for i in started] == [1, 2]
    retry = next(i for i in items if i.event_type == STEP_RETRYING)
    assert retry["span"] == started[0]["span"]
    finished = [i["outcome"] for i in items if i.event_type == STEP_FINISHED]
    assert finished == ["failed", "completed"]


async def test_timeline_marks_retried_attempts() -> None:
    from blazen_py._draw.timeline import Timeline

    wf, _ = flaky(2, max_attempts=3, initial_delay=0)
    items = []
    await wf.run_streaming(None, items.append, spans=True)
    timeline = Timeline()
    for item in items:
        timeline.add(item)
    outcomes = [s.outcome for s in timeline.spans]
    assert outcomes == ["retried", "retried", "completed"]
    assert timeline.summary()["retried"] == 2


# -- error handlers --------------------------------------------------------------------------------


def with_handler(handler_result) -> tuple[Workflow, list]:
    wf = Workflow("handled")
    got = []

    async def fetch(event, ctx):
        ctx.set("half", "done")  # rolled back with the attempt
        raise ConnectionError(f"down for {event['url']}")

    async def fallback(event, ctx):
        got.append((dict(event), ctx.get("half")))
        return handler_result(event)

    wf.add_step("fetch", [START_EVENT], fetch, retry={"max_attempts": 2, "initial_delay": 0})
    wf.add_step("fallback", [STEP_FAILED_EVENT], fallback)
    return wf, got


async def test_failed_event_goes_to_the_handler_which_can_stop_the_run() -> None:
    wf, got = with_handler(lambda e: {"type": STOP_EVENT, "result": f"cached ({e['step']})"})
    assert (await wf.run({"url": "u"})).data == "cached (fetch)"
    ((event, half),) = got
    assert event["type"] == STEP_FAILED_EVENT
    assert event["step"] == "fetch"
    assert event["attempts"] == 2
    assert event["error"] == {"name": "ConnectionError", "message": "down for u"}
    assert event["event"]["type"] == START_EVENT
    assert event["event"]["url"] == "u"
    assert half is None


async def test_handler_can_return_a_fallback_event() -> None:
    wf, _ = with_handler(lambda e: {"type": "Fallback"})
    wf.add_step("finish", ["Fallback"], lambda e, c: {"type": STOP_EVENT, "result": "fallback"})
    assert (await wf.run({"url": "u"})).data == "fallback"
    assert wf.validate() == []


async def test_a_handler_that_fails_fails_the_run_and_is_not_called_again() -> None:
    wf = Workflow("loop")
    calls = []

    def fetch(event, ctx):
        raise ConnectionError("down")

    def handler(event, ctx):
        calls.append(event["step"])
        raise ValueError("handler broke")

    wf.add_step("fetch", [START_EVENT], fetch)
    wf.add_step("handler", [STEP_FAILED_EVENT], handler, retry={"max_attempts": 2, "initial_delay": 0})
    with pytest.raises(StepError, match="handler broke") as info:
        await wf.run()
    assert info.value.step == "handler"
    assert info.value.attempts == 2
    assert calls == ["fetch", "fetch"]  # its own retries, never its own failure routed to it


async def test_handler_is_not_called_when_a_retry_succeeds() -> None:
    wf, _calls = flaky(1, max_attempts=2, initial_delay=0)
    handled = []
    wf.add_step("h", [STEP_FAILED_EVENT], lambda e, c: handled.append(e))
    assert (await wf.run()).data == 2
    assert handled == []


async def test_handler_is_not_called_on_a_run_timeout() -> None:
    wf = Workflow("slow", timeout=0.05)
    handled = []

    async def slow(event, ctx):
        await asyncio.sleep(30)

    wf.add_step("slow", [START_EVENT], slow)
    wf.add_step("h", [STEP_FAILED_EVENT], lambda e, c: handled.append(e))
    with pytest.raises(Exception, match="timed out"):
        await wf.run()
    assert handled == []


async def test_a_step_timeout_without_policy_goes_to_the_handler() -> None:
    wf = Workflow("slow")

    async def slow(event, ctx):
        await asyncio.sleep(30)

    wf.add_step("slow", [START_EVENT], slow, timeout=0.03)
    wf.add_step("h", [STEP_FAILED_EVENT], lambda e, c: {"type": STOP_EVENT, "result": e["error"]["name"]})
    assert (await wf.run()).data == "StepTimeoutError"


def test_validate_knows_error_handlers() -> None:
    wf = Workflow("v")
    wf.add_step("a", [START_EVENT], lambda e, c: None, emits=[STOP_EVENT])
    wf.add_step("h", [STEP_FAILED_EVENT], lambda e, c: None, emits=[STOP_EVENT])
    assert wf.validate() == []
    lonely = Workflow("v2")
    lonely.add_step("h", [STEP_FAILED_EVENT, START_EVENT], lambda e, c: None, emits=[STOP_EVENT])
    assert lonely.validate() == []  # the only step handles failures itself: nothing is unreachable


# -- pause, snapshot, resume mid-backoff ------------------------------------------------------------


def durable(log: list, delay: float, succeed_at: int = 3) -> Workflow:
    """Fails until attempt ``succeed_at``, ``delay`` s apart (``max_delay``: the same)."""
    wf = Workflow("durable-flaky")

    async def fetch(event, ctx):
        log.append((ctx.attempt, time.time()))
        if ctx.attempt < succeed_at:
            raise ConnectionError(f"down {ctx.attempt}")
        return {"type": STOP_EVENT, "result": ctx.attempt}

    policy = {"max_attempts": 4, "initial_delay": delay, "max_delay": delay, "backoff": "fixed"}
    wf.add_step("fetch", [START_EVENT], fetch, retry=policy)
    return wf


async def wait_until(predicate, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def test_snapshot_mid_backoff_resumes_elsewhere_with_the_count_and_only_the_rest() -> None:
    log: list = []
    handler = await durable(log, 1.5).run_with_handler()
    await wait_until(lambda: len(log) == 1)
    snap = await handler.pause()
    paused_at = time.time()
    (item,) = snap["step_inputs"]
    assert item["attempt"] == 2
    assert item["last_error"] == {"name": "ConnectionError", "message": "down 1"}
    due = item["not_before"]
    assert log[0][1] + 1.45 <= due <= log[0][1] + 1.5 + 5
    handler.abort()
    text = json.dumps(snap)
    await asyncio.sleep(0.5)  # part of the backoff passes while nothing runs
    log2: list = []
    resumed = await durable(log2, 1.5).resume(text)  # a fresh workflow, from JSON text
    resumed_at = time.time()
    result = await resumed.result()
    assert [a for a, _ in log2] == [2, 3]  # the count goes on: no attempt 1 again
    assert result.data == 3
    assert log2[0][1] >= due - 0.01  # never before the absolute time
    # Only the rest was waited: well under a full 1.5 s after the resume.
    assert log2[0][1] - resumed_at < max(due - resumed_at, 0) + 1.0
    assert paused_at < resumed_at


async def test_a_backoff_already_over_runs_at_once_on_resume() -> None:
    log: list = []
    handler = await durable(log, 30).run_with_handler()
    await wait_until(lambda: len(log) == 1)
    snap = await handler.pause()
    handler.abort()
    snap["step_inputs"][0]["not_before"] = time.time() - 100  # long past
    log2: list = []
    resumed = await durable(log2, 30).resume(snap)
    await wait_until(lambda: len(log2) == 1, 10)
    assert log2[0][1] - time.time() < 5  # not 30 s later
    resumed.abort()


async def test_a_far_future_backoff_is_capped_at_max_delay() -> None:
    log: list = []
    handler = await durable(log, 0.2).run_with_handler()
    await wait_until(lambda: len(log) == 1)
    snap = await handler.pause()
    handler.abort()
    snap["step_inputs"][0]["not_before"] = time.time() + 10**9  # hostile: wait 30 years
    log2: list = []
    resumed = await durable(log2, 0.2).resume(snap)
    assert (await resumed.result()).data == 3  # waited at most max_delay (0.2 s), not 30 years


async def test_pause_in_place_mid_backoff_keeps_the_absolute_time() -> None:
    log: list = []
    handler = await durable(log, 0.4).run_with_handler()
    await wait_until(lambda: len(log) == 1)
    await handler.pause()
    await asyncio.sleep(0.6)  # longer than the backoff: nothing runs while paused
    assert len(log) == 1
    resumed_at = time.time()
    await handler.resume_in_place()
    assert (await handler.result()).data == 3
    assert log[1][1] - resumed_at < 0.35  # the rest (none) was waited, not 0.4 again


async def test_a_backoff_is_not_a_stall() -> None:
    wf, _calls = flaky(1, max_attempts=2, initial_delay=0.1)
    assert (await wf.run()).data == 2  # nothing queued or running during the backoff, yet no stall


async def test_a_durable_run_saves_after_each_failed_attempt() -> None:
    store = MemoryStore()
    log: list = []
    handler = await durable(log, 0.3).run_with_handler(checkpoint=store)
    saved = []
    for _ in range(4000):
        snap = await store.load(handler.run_id)
        if snap is not None and snap["step_inputs"] and "attempt" in snap["step_inputs"][0]:
            saved.append(snap["step_inputs"][0]["attempt"])
            if saved[-1] == 3:
                break
        await asyncio.sleep(0.005)
    assert 2 in saved
    assert 3 in saved
    assert (await handler.result()).data == 3


async def test_resume_checkpoint_mid_backoff_after_a_crash() -> None:
    store = MemoryStore()
    log: list = []
    handler = await durable(log, 1.0).run_with_handler(checkpoint=store)
    await wait_until(lambda: len(log) == 1)
    for _ in range(400):
        snap = await store.load(handler.run_id)
        if snap is not None and snap["step_inputs"] and snap["step_inputs"][0].get("attempt") == 2:
            break
        await asyncio.sleep(0.005)
    else:
        raise AssertionError("the failed attempt was not saved")
    survivor = MemoryStore()  # what a reloaded page finds in IndexedDB after the "crash"
    await survivor.save(handler.run_id, snap)
    handler.abort()
    log2: list = []
    resumed = await durable(log2, 1.0).resume_checkpoint(survivor, handler.run_id)
    assert (await resumed.result()).data == 3
    assert [a for a, _ in log2] == [2, 3]
    assert await survivor.list() == []


@pytest.mark.parametrize(
    "patch, match",
    [
        ({"attempt": 1}, "attempt"),
        ({"attempt": "2"}, "attempt"),
        ({"attempt": True}, "attempt"),
        ({"attempt": 10**9}, "attempt"),
        ({"last_error": "boom"}, "last_error"),
        ({"last_error": {"name": 1, "message": "m"}}, "last_error"),
        ({"last_error": {"name": "n", "message": "m" * 100_000}}, "longer"),
        ({"not_before": "soon"}, "not_before"),
        ({"not_before": float("inf")}, "not_before"),
        ({"not_before": -5}, "not_before"),
        ({"not_before": True}, "not_before"),
    ],
)
async def test_hostile_retry_fields_in_a_snapshot(patch, match) -> None:
    log: list = []
    handler = await durable(log, 30).run_with_handler()
    await wait_until(lambda: len(log) == 1)
    snap = await handler.pause()
    handler.abort()
    snap["step_inputs"][0].update(patch)
    with pytest.raises(SnapshotError, match=match):
        await durable([], 30).resume(snap)


async def test_an_attempt_over_the_current_policy_is_clamped_to_the_last() -> None:
    log: list = []
    handler = await durable(log, 30).run_with_handler()
    await wait_until(lambda: len(log) == 1)
    snap = await handler.pause()
    handler.abort()
    snap["step_inputs"][0].update(attempt=900, not_before=0)
    log2: list = []
    resumed = await durable(log2, 30, succeed_at=99).resume(snap)  # max_attempts is 4 now
    with pytest.raises(StepError) as info:
        await resumed.result()
    assert info.value.attempts == 4
    assert [a for a, _ in log2] == [4]


async def test_retrying_step_running_at_snapshot_keeps_its_attempt() -> None:
    wf = Workflow("mid-attempt")
    gate = asyncio.Event()
    seen = []

    async def step(event, ctx):
        seen.append(ctx.attempt)
        if ctx.attempt == 1:
            raise OSError("first")
        if not gate.is_set():
            await gate.wait()
        return {"type": STOP_EVENT, "result": ctx.attempt}

    wf.add_step("s", [START_EVENT], step, retry={"max_attempts": 3, "initial_delay": 0})
    handler = await wf.run_with_handler()
    await wait_until(lambda: len(seen) == 2)
    snap = await handler.snapshot()
    assert snap["step_inputs"][0]["attempt"] == 2
    assert "not_before" not in snap["step_inputs"][0]
    handler.abort()
    gate.set()
    resumed = await wf.resume(snap)
    assert (await resumed.result()).data == 2
    assert seen == [1, 2, 2]


async def test_abort_during_backoff_ends_the_run() -> None:
    log: list = []
    handler = await durable(log, 30).run_with_handler()
    await wait_until(lambda: len(log) == 1)
    handler.abort()
    with pytest.raises(Exception, match="aborted"):
        await handler.result()
    assert not handler.run.backoffs


async def test_stall_still_detected_with_policies() -> None:
    wf = Workflow("stall")
    wf.add_step("s", [START_EVENT], lambda e, c: {"type": "Nobody"}, retry={"max_attempts": 2})
    with pytest.raises(WorkflowStallError):
        await wf.run()
