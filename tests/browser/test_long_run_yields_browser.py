"""A long run lets the page in: a ``setTimeout(0)`` callback and an animation frame
scheduled while a long run is under way get their turn before it finishes (issue 24),
with Pyodide's event loop as it is and with the fast loop installed.

The dispatcher yields every budget (YIELD_EVERY events, or HOP_BUDGET parked hops /
TIME_BUDGET) through ``_compat.yield_to_host``: a ``setTimeout(0)`` at most every ~10 ms
in a page, else ``call_soon``. With the budgets made endless in the page, both tests
fail (the callbacks fire only after the last step). Measured on Chromium 156 here: with
the hook replaced by ``call_soon`` alone (a MessageChannel task), timers and frames got
in as well, so these tests do not tell the hook from ``call_soon``; bench/'s
responsiveness row measures how long the gaps are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jspage import JsPage, booted_js_page

# Python in the page: the ping-pong loop of bench/workloads.py, whose step ARM_AT arms a
# timer and a frame (so both are armed with the run well under way: armed at its first
# step, they could fire before the run's first loop callback), each noting how many
# steps had run when it fired.
SETUP = """
import asyncio
import js
from pyodide.ffi import create_once_callable
from blazen_py import START_EVENT, STOP_EVENT, Workflow

steps = [0]
fired = {}

def note(name):
    def fire(*_):
        fired[name] = steps[0]
    return create_once_callable(fire)

def arm():
    js.setTimeout(note("timer"), 0)
    js.requestAnimationFrame(note("frame"))

def loop_workflow(n, suspend, arm_at):
    wf = Workflow("long-run")

    async def step(event, ctx):
        i = event.get("i", 0)
        if i == arm_at:
            arm()
        steps[0] = i + 1
        if suspend:
            await asyncio.sleep(0)
        i += 1
        return {"type": STOP_EVENT, "result": i} if i >= n else {"type": "Ping" if i % 2 else "Pong", "i": i}

    wf.add_step("ping", [START_EVENT, "Pong"], step)
    wf.add_step("pong", ["Ping"], step)
    return wf

async def long_run(n, suspend, arm_at):
    steps[0] = 0
    fired.clear()
    result = (await loop_workflow(n, suspend, arm_at).run()).data
    # the callbacks armed during the run have had every chance by now
    for _ in range(100):
        if len(fired) == 2:
            break
        await asyncio.sleep(0.01)
    return {"result": result, "steps": steps[0], **fired}
"""


@pytest.fixture(scope="module")
def js(browser: Any, origin: str) -> Iterator[JsPage]:
    with booted_js_page(browser, origin) as page:
        page.value(f"const py = await init(); py.runPython({SETUP!r});")
        yield page


@pytest.mark.parametrize("fast", [False, True], ids=["webloop", "fast-loop"])
@pytest.mark.parametrize("events, suspend", [(100_000, False), (20_000, True)])
def test_a_timer_and_a_frame_get_in_during_a_long_run(
    js: JsPage, events: int, suspend: bool, fast: bool
) -> None:
    # With the fast loop (blazen_py.install_fast_loop) every asyncio callback of the page
    # runs from one ready queue: its own budget and yield must let the page in as well.
    py_fast = "blazen_py.install_fast_loop()" if fast else "blazen_py.uninstall_fast_loop()"
    out = js.value(
        f"""const py = await init();
        py.runPython('import blazen_py; {py_fast}');
        const longRun = py.globals.get('long_run');
        const got = await longRun({events}, {'true' if suspend else 'false'}, {events // 10});
        const value = got.toJs({{ dict_converter: Object.fromEntries }});
        got.destroy();
        longRun.destroy();
        return value;"""
    )["value"]
    assert out["result"] == events
    assert out["steps"] == events
    # Both fired while the run was under way: after the step that armed them, before its last.
    armed = events // 10
    assert armed < out["timer"] < events, out
    assert armed < out["frame"] < events, out
