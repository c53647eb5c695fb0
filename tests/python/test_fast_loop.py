"""``install_fast_loop()``: the page's asyncio callbacks run FIFO from one ready queue.

Portable: the same tests run on CPython (where it is a no-op, so they state asyncio's own
semantics), in Pyodide on Node and in Pyodide in Chromium (where each test runs with the
ready queue installed). So the fast loop is checked against CPython's loop: the same order
of callbacks, exceptions reported the same way, cancellation, timers, JS promises, and
the host (a ``setTimeout`` callback, an animation frame) getting in during a long run.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import blazen_py
from blazen_py import START_EVENT, STOP_EVENT, Workflow

PORTABLE = True
IN_PYODIDE = sys.platform == "emscripten"
only_in_pyodide = pytest.mark.skipif(not IN_PYODIDE, reason="the fast loop is a no-op on CPython")


def installed() -> bool:
    if not IN_PYODIDE:
        return False
    from blazen_py._compat import _fast_loop

    return _fast_loop.installed()


@contextmanager
def fast_loop() -> Iterator[None]:
    """The ready queue installed for the block; left as it was found (the tier may run
    with it installed throughout, see BLAZEN_FAST_LOOP in docs)."""
    mine = blazen_py.install_fast_loop()
    try:
        assert installed() == IN_PYODIDE
        yield
    finally:
        if mine:
            blazen_py.uninstall_fast_loop()


def set_timeout(callback) -> None:
    """A host timer: ``setTimeout(callback, 0)`` in Pyodide, ``call_later(0)`` on CPython."""
    if IN_PYODIDE:
        import js
        from pyodide.ffi import create_once_callable

        js.setTimeout(create_once_callable(callback), 0)
    else:
        asyncio.get_running_loop().call_later(0, callback)


def js_later(value: object, ms: int):
    """A JS Promise that a JS timer resolves with ``value`` after ``ms`` milliseconds."""
    import js
    from pyodide.ffi import create_once_callable

    def executor(resolve, reject) -> None:
        js.setTimeout(create_once_callable(lambda: resolve(value)), ms)

    return js.Promise.new(create_once_callable(executor))


async def until(condition, seconds: float = 5.0) -> None:
    """Poll ``condition`` (set by plain callbacks, which have no Event to set) until true."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


def test_install_is_idempotent_and_uninstall_restores() -> None:
    was = installed()
    blazen_py.uninstall_fast_loop()
    try:
        assert blazen_py.install_fast_loop() is IN_PYODIDE
        assert blazen_py.install_fast_loop() is False  # a second call is a no-op and says so
        assert installed() is IN_PYODIDE
        assert blazen_py.uninstall_fast_loop() is IN_PYODIDE
        assert blazen_py.uninstall_fast_loop() is False
        assert installed() is False
    finally:
        if was:
            blazen_py.install_fast_loop()


async def test_callbacks_run_fifo_those_scheduled_meanwhile_after() -> None:
    loop = asyncio.get_running_loop()
    order: list[str] = []

    def first() -> None:
        order.append("a")
        loop.call_soon(order.append, "d")  # scheduled during the batch: after b and c

    with fast_loop():
        loop.call_soon(first)
        loop.call_soon(order.append, "b")
        loop.call_soon_threadsafe(order.append, "c")
        await until(lambda: len(order) == 4)
    assert order == ["a", "b", "c", "d"]


async def test_tasks_take_turns_as_on_cpython() -> None:
    # Three tasks each yielding three times: round-robin, the order asyncio gives.
    seen: list[tuple[int, str]] = []

    async def worker(name: str) -> None:
        for k in range(3):
            seen.append((k, name))
            await asyncio.sleep(0)

    with fast_loop():
        await asyncio.gather(worker("x"), worker("y"), worker("z"))
    assert seen == [(k, n) for k in range(3) for n in "xyz"]


async def test_an_exception_in_a_callback_is_reported_and_the_loop_goes_on() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict] = []
    after: list[int] = []

    def boom() -> None:
        raise ValueError("boom in a callback")

    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        with fast_loop():
            loop.call_soon(boom)
            loop.call_soon(after.append, 1)
            await until(lambda: after == [1])
            for i in range(50):  # and later batches run too
                await asyncio.sleep(0)
                after.append(i)
    finally:
        loop.set_exception_handler(previous)
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], ValueError)
    assert str(reported[0]["exception"]) == "boom in a callback"
    assert reported[0]["message"].startswith("Exception in callback")
    assert isinstance(reported[0]["handle"], asyncio.Handle)
    assert after == [1, *range(50)]


async def test_a_cancelled_handle_is_skipped() -> None:
    loop = asyncio.get_running_loop()
    ran: list[str] = []
    with fast_loop():
        loop.call_soon(ran.append, "kept")
        loop.call_soon(ran.append, "cancelled").cancel()
        loop.call_soon(ran.append, "last")
        await until(lambda: "last" in ran)
        await asyncio.sleep(0)
    assert ran == ["kept", "last"]


async def test_a_cancelled_task_stops_where_it_waits() -> None:
    hops = [0]
    cleaned: list[str] = []

    async def spinner() -> None:
        try:
            while True:
                hops[0] += 1
                await asyncio.sleep(0)
        finally:
            cleaned.append("spinner")

    async def sleeper() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append("sleeper")

    with fast_loop():
        spin, sleep = asyncio.ensure_future(spinner()), asyncio.ensure_future(sleeper())
        await until(lambda: hops[0] > 100)
        spin.cancel()
        sleep.cancel()
        with pytest.raises(asyncio.CancelledError):
            await spin
        with pytest.raises(asyncio.CancelledError):
            await sleep
        stopped_at = hops[0]
        for _ in range(20):
            await asyncio.sleep(0)
    assert hops[0] == stopped_at
    assert sorted(cleaned) == ["sleeper", "spinner"]
    assert spin.cancelled()
    assert sleep.cancelled()


async def test_call_later_fires_on_time_during_a_long_run_of_sleeps() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    with fast_loop():
        started = loop.time()
        loop.call_later(0.05, lambda: fired.append(loop.time() - started))
        while loop.time() - started < 0.4 and not fired:  # noqa: ASYNC110 - spinning on purpose
            await asyncio.sleep(0)
        await asyncio.sleep(0.06)  # asyncio.sleep(t) is a timer too
    assert fired, "call_later(0.05) never fired during 0.4 s of sleep(0)s"
    assert 0.045 <= fired[0] < 0.3, fired


async def test_a_host_timer_gets_in_during_a_long_run_of_sleeps() -> None:
    # 20,000 bare sleep(0)s: with the whole run in one JS task (no budget, no yield),
    # the setTimeout callback armed at hop 1,000 would fire only after the last one.
    fired: list[int] = []
    hops = 20_000
    hops_done = [0]
    with fast_loop():
        for i in range(hops):
            if i == 1000:
                set_timeout(lambda at=hops_done: fired.append(at[0]))
            hops_done[0] = i
            await asyncio.sleep(0)
    assert fired, "the timer armed at hop 1000 did not fire before the run ended"
    assert 1000 <= fired[0] < hops, fired


@pytest.mark.skipif(not IN_PYODIDE, reason="animation frames exist in a page only")
async def test_a_frame_gets_in_during_a_long_run_of_sleeps() -> None:
    import js
    from pyodide.ffi import create_once_callable

    if not hasattr(js, "requestAnimationFrame") or js.document.hidden:
        pytest.skip("no animation frames here (Node, or a hidden page)")
    hops = [0]
    framed: list[int] = []
    with fast_loop():
        started = time.monotonic()
        # Long enough for several frames (60 per second), whatever the machine's speed.
        while time.monotonic() - started < 0.5 or hops[0] < 2000:
            hops[0] += 1
            if hops[0] == 100:  # armed mid-run: armed before the first hop, it could fire
                # in the gap before the run's first batch
                js.requestAnimationFrame(create_once_callable(lambda *_: framed.append(hops[0])))
            await asyncio.sleep(0)
    assert framed, "no animation frame during 0.5 s of sleep(0)s"
    assert 100 <= framed[0] < hops[0], (framed, hops)


@only_in_pyodide
async def test_js_promises_are_awaited() -> None:
    import js

    with fast_loop():
        assert await js.Promise.resolve(7) == 7
        promises = [js_later(1, 20), js_later(2, 0), js.Promise.resolve(3)]
        assert await asyncio.gather(*map(asyncio.ensure_future, promises)) == [1, 2, 3]
        with pytest.raises(Exception, match="refused on purpose"):
            await js.Promise.reject(js.Error.new("refused on purpose"))


@only_in_pyodide
async def test_callbacks_queued_before_uninstall_still_run_in_order() -> None:
    loop = asyncio.get_running_loop()
    order: list[int] = []
    was = installed()
    blazen_py.install_fast_loop()
    try:
        for i in range(5):
            loop.call_soon(order.append, i)
        blazen_py.uninstall_fast_loop()
        loop.call_soon(order.append, 5)  # Pyodide's own: a JS task of its own, after the batch
        await until(lambda: len(order) == 6)
    finally:
        if was:
            blazen_py.install_fast_loop()
    assert order == [0, 1, 2, 3, 4, 5]


@only_in_pyodide
async def test_run_until_complete_inside_a_task_where_pyodide_supports_it() -> None:
    from pyodide.ffi import can_run_sync, run_sync

    loop = asyncio.get_running_loop()

    async def needs_other_callbacks() -> int:
        for _ in range(10):
            await asyncio.sleep(0)
        return 42

    with fast_loop():
        if not can_run_sync():
            pytest.skip("run_until_complete cannot block here (no JS promise integration: Node 20)")
        # Blocks this task (its batch) until the coroutine ends: the queue carries on in
        # the batch scheduled ahead, or this would never return.
        assert loop.run_until_complete(needs_other_callbacks()) == 42
        # A callback that blocks on a future which the next callback in the queue settles:
        # that one must run while the first is suspended.
        future = loop.create_future()
        got: list[int] = []
        loop.call_soon(lambda: got.append(loop.run_until_complete(future)))
        loop.call_soon(future.set_result, 7)
        await until(lambda: got == [7])
        # A callback blocked on a JS promise (run_sync) does not hold up the queue behind it,
        # as it did not when each callback was a JS task of its own.
        order: list[str] = []

        def blocks() -> None:
            order.append("blocks")
            run_sync(js_later("done", 50))
            order.append("resumed")

        loop.call_soon(blocks)
        loop.call_soon(order.append, "next")
        await until(lambda: "resumed" in order)
    assert order == ["blocks", "next", "resumed"]


def ping_pong(n: int) -> Workflow:
    wf = Workflow("fast-loop-pingpong")

    async def ping(event, ctx):
        i = event.get("i", 0)
        await asyncio.sleep(0)
        i += 1
        return {"type": STOP_EVENT, "result": i} if i >= n else {"type": "Ping", "i": i}

    wf.add_step("ping", [START_EVENT, "Ping"], ping)
    return wf


async def test_the_engine_runs_alike_with_the_fast_loop() -> None:
    # A suspending loop, a fan-out of tasks, and a step with its own Task (inline=False).
    wf = Workflow("fan")

    def split(event, ctx):
        return [{"type": "W", "i": i} for i in range(50)]

    async def work(event, ctx):
        for _ in range(3):
            await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        return {"type": "Done", "i": event["i"]}

    def join(event, ctx):
        got = [*(ctx.get("got") or []), event["i"]]
        ctx.set("got", got)
        return {"type": STOP_EVENT, "result": sorted(got)} if len(got) == 50 else None

    wf.add_step("split", [START_EVENT], split)
    wf.add_step("work", ["W"], work, inline=False)
    wf.add_step("join", ["Done"], join)
    with fast_loop():
        assert (await ping_pong(5000).run()).data == 5000
        assert (await wf.run()).data == list(range(50))
        handler = await ping_pong(10**9).run_with_handler()
        asyncio.get_running_loop().call_later(0.02, handler.abort)  # a timer lands mid-run
        with pytest.raises(blazen_py.WorkflowAbortedError):
            await handler.result()
