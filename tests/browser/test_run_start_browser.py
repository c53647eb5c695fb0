"""When a JS-called run starts its steps, and what it costs the page (issue 24).

``wf.run()`` called from the page's own code runs the first steps within the call (a loop
turn is a JS task or two in Chromium); called from inside a step (or a stream callback),
the new run waits for the loop as before, so no run's steps run inside another's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jspage import JsPage, booted_js_page

STOP = "blazen::StopEvent"
START = "blazen::StartEvent"

# `tasks(fn)`: how many JS tasks awaiting fn() scheduled (MessageChannel posts, which
# Pyodide's loop uses for call_soon, and timers), and fn()'s value.
TASKS = """
const tasks = async (fn) => {
  let n = 0;
  const post = MessagePort.prototype.postMessage, timer = globalThis.setTimeout;
  MessagePort.prototype.postMessage = function (...a) { n++; return post.apply(this, a); };
  globalThis.setTimeout = function (...a) { n++; return timer.apply(this, a); };
  try { const value = await fn(); return { n, value }; }
  finally { MessagePort.prototype.postMessage = post; globalThis.setTimeout = timer; }
};
"""


@pytest.fixture(scope="module")
def js(browser: Any, origin: str) -> Iterator[JsPage]:
    with booted_js_page(browser, origin) as page:
        yield page


@pytest.mark.parametrize("pure", [True, False])
def test_a_run_called_from_page_code_runs_its_first_steps_within_the_call(js: JsPage, pure: bool) -> None:
    out = js.value(
        f"""
        let ran = 0;
        const wf = new Workflow('at-once');
        wf.addStep('a', ['{START}'], (e) => {{ ran++; return {{ type: 'B', k: e.k }}; }}, {{ pure: {str(pure).lower()} }});
        wf.addStep('b', ['B'], (e) => {{ ran++; return {{ type: '{STOP}', result: e.k * 2 }}; }}, {{ pure: {str(pure).lower()} }});
        const promise = wf.run({{ k: 21 }});
        const during = ran;
        return {{ during, isPromise: promise instanceof Promise, data: (await promise).data }};
        """
    )["value"]
    assert out == {"during": 2, "isPromise": True, "data": 42}


@pytest.mark.parametrize(
    "step",
    [
        "(e) => ({ type: STOP, result: 1 })",
        "(e, ctx) => { ctx.set('k', 1); return { type: STOP, result: ctx.get('k') }; }",
    ],
    ids=["pure", "with-ctx"],
)
def test_a_one_step_run_costs_the_page_no_js_task(js: JsPage, step: str) -> None:
    pure = "{ pure: true }" if "ctx" not in step else "null"
    out = js.value(
        TASKS
        + f"""
        const STOP = '{STOP}';
        const wf = new Workflow('one-step');
        wf.addStep('only', ['{START}'], {step}, {pure});
        await wf.run({{}});  // warm
        return await tasks(async () => (await wf.run({{}})).data);
        """
    )["value"]
    # Before: the first pump (call_soon) and Pyodide's count of pending futures (a
    # done-callback of the run's future), each two JS tasks in Chromium.
    assert out == {"n": 0, "value": 1}


def test_a_run_started_inside_a_step_waits_for_the_loop(js: JsPage) -> None:
    out = js.value(
        f"""
        let innerRan = false;
        const inner = new Workflow('inner');
        inner.addStep('only', ['{START}'], (e) => {{ innerRan = true; return {{ type: '{STOP}', result: 'in' }}; }});
        const outer = new Workflow('outer');
        outer.addStep('only', ['{START}'], async (e) => {{
          const promise = inner.run({{}});
          const during = innerRan;  // the outer step is still running: inner must not be
          return {{ type: '{STOP}', result: {{ during, inner: (await promise).data }} }};
        }});
        return (await outer.run({{}})).data;
        """
    )["value"]
    assert out == {"during": False, "inner": "in"}


def test_a_run_started_from_a_stream_callback_waits_for_the_loop(js: JsPage) -> None:
    out = js.value(
        f"""
        let innerRan = false;
        const started = [];
        const inner = new Workflow('inner');
        inner.addStep('only', ['{START}'], (e) => {{ innerRan = true; return {{ type: '{STOP}', result: 'in' }}; }});
        const outer = new Workflow('outer');
        outer.addStep('a', ['{START}'], (e) => ({{ type: 'B' }}));
        outer.addStep('b', ['B'], (e) => ({{ type: '{STOP}', result: 'out' }}));
        const seen = [];
        const result = await outer.runStreaming({{}}, (item) => {{
          if (item.eventType === 'B') {{ started.push(inner.run({{}})); seen.push(innerRan); }}
        }});
        return {{ seen, outer: result.data, inner: (await started[0]).data }};
        """
    )["value"]
    assert out == {"seen": [False], "outer": "out", "inner": "in"}


def test_a_first_step_that_throws_rejects_the_promise_not_the_call(js: JsPage) -> None:
    out = js.value(
        f"""
        const wf = new Workflow('throws-at-once');
        wf.addStep('only', ['{START}'], (e) => {{ throw new RangeError('no: ' + e.k); }}, {{ pure: true }});
        let promise, threw = null;
        try {{ promise = wf.run({{ k: 7 }}); }} catch (error) {{ threw = String(error); }}
        try {{ await promise; return {{ threw, settled: 'resolved' }}; }}
        catch (error) {{ return {{ threw, name: error.name, step: error.step, message: error.message }}; }}
        """
    )["value"]
    assert out["threw"] is None
    assert out["step"] == "only"
    assert "no: 7" in out["message"]


def test_a_long_run_called_from_page_code_returns_at_its_first_yield(js: JsPage) -> None:
    out = js.value(
        f"""
        let steps = 0;
        const wf = new Workflow('long');
        wf.addStep('ping', ['{START}', 'Pong'], (e) => {{ steps++; return {{ type: 'Ping', i: (e.i ?? 0) + 1 }}; }});
        wf.addStep('pong', ['Ping'], (e) => {{ steps++; return e.i >= 5000 ? {{ type: '{STOP}', result: e.i }} : {{ type: 'Pong', i: e.i }}; }});
        let ticks = 0;
        const tick = () => {{ ticks++; if (!done) setTimeout(tick, 0); }};
        let done = false;
        setTimeout(tick, 0);
        const promise = wf.run({{}});
        const during = steps;
        const data = (await promise).data;
        done = true;
        return {{ during, data, ticks, steps }};
        """
    )["value"]
    # The first stretch (at most the dispatcher's budget of events) ran within the call;
    # the rest came in later tasks, letting the page's timers in.
    assert 0 < out["during"] < 10_000
    assert out["data"] == 5000
    assert out["steps"] == 10_000
    assert out["ticks"] >= 1


def test_back_to_back_runs_from_page_code_each_get_their_own_result(js: JsPage) -> None:
    out = js.value(
        f"""
        const wf = new Workflow('many');
        wf.addStep('only', ['{START}'], (e) => ({{ type: '{STOP}', result: e.k }}), {{ pure: true }});
        const slow = new Workflow('slow');
        slow.addStep('only', ['{START}'], async (e) => {{
          await new Promise((r) => setTimeout(r, 5));
          return {{ type: '{STOP}', result: 'slow ' + e.k }};
        }});
        const promises = [];
        for (let k = 0; k < 50; k++) promises.push(k % 10 === 0 ? slow.run({{ k }}) : wf.run({{ k }}));
        return (await Promise.all(promises)).map((r) => r.data);
        """
    )["value"]
    assert out == [f"slow {k}" if k % 10 == 0 else k for k in range(50)]
