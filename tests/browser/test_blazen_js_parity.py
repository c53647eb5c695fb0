"""Issue 17's semantics through blazen.js in Chromium, as a user of the JS peer engines
would write them: pause a one-step run, defaults on get, a request id of one's own, user
fields untouched in the stream, the result's stop event, dead ends, typed key errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jspage import BOOT_TIMEOUT_MS, JsPage


@pytest.fixture(scope="module")
def js(browser: Any, origin: str) -> Iterator[JsPage]:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(BOOT_TIMEOUT_MS)
    page.goto(origin + "_test/blank.html")
    page.evaluate("async () => { await (await import('/blazen.js')).default(); }")
    yield JsPage(page)
    context.close()
    assert errors == []


ONE_STEP = """
const oneStep = () => {
  const wf = new Workflow('one-step');
  wf.addStep('only', ['blazen::StartEvent'], async (e, ctx) => {
    await new Promise((r) => setTimeout(r, 20));
    ctx.set('seen', e.n);
    return { type: 'blazen::StopEvent', result: { n: e.n * 2 } };
  });
  return wf;
};
"""


def test_pause_a_one_step_run_then_resume_in_place(js: JsPage) -> None:
    out = js.value(
        ONE_STEP
        + """
        const handler = await oneStep().runWithHandler({ n: 21 });
        await new Promise((r) => setTimeout(r, 5));
        const snap = await handler.pause();
        const paused = handler.status;
        await handler.resumeInPlace();
        const result = await handler.result();
        return { status: snap.status, paused, queued: snap.queue.map((e) => e.type), state: snap.state, data: result.data };
    """
    )["value"]
    assert out == {
        "status": "paused",
        "paused": "paused",
        "queued": ["blazen::StopEvent"],
        "state": {"seen": 21},
        "data": {"n": 42},
    }


def test_pause_a_one_step_run_then_resume_its_snapshot_in_a_fresh_workflow(js: JsPage) -> None:
    out = js.value(
        ONE_STEP
        + """
        const handler = await oneStep().runWithHandler({ n: 5 });
        await new Promise((r) => setTimeout(r, 5));
        const text = JSON.stringify(await handler.pause());
        const resumed = await oneStep().resume(text);
        const result = await resumed.result();
        return [result.data, result.runId === handler.runId];
    """
    )["value"]
    assert out == [{"n": 10}, True]


def test_the_snapshot_of_a_finished_run_resumes_to_the_same_outcome(js: JsPage) -> None:
    out = js.value(
        ONE_STEP
        + """
        const ok = await oneStep().runWithHandler({ n: 3 });
        await ok.result();
        const okSnap = await ok.snapshot();
        const okAgain = await (await oneStep().resume(okSnap)).result();
        const bad = new Workflow('bad');
        bad.addStep('explode', ['blazen::StartEvent'], () => { throw new TypeError('nope'); });
        const failing = await bad.runWithHandler({});
        await failing.result().catch(() => null);
        const badSnap = await failing.snapshot();
        const again = await (await bad.resume(badSnap)).result().catch((e) => [e.name, e.step, e.message.includes('nope')]);
        return [okSnap.status, okAgain.data, badSnap.status, again];
    """
    )["value"]
    assert out == ["completed", {"n": 6}, "failed", ["StepError", "explode", True]]


def test_timeout_and_abort_errors_name_the_running_steps(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('slow');
        wf.setTimeout(0.05);
        wf.addStep('split', ['blazen::StartEvent'], () => [{ type: 'A' }, { type: 'B' }]);
        wf.addStep('wait_a', ['A'], () => new Promise(() => {}));
        wf.addStep('wait_b', ['B'], () => new Promise(() => {}));
        const items = [];
        const timeout = await wf.runStreaming({}, (item) => items.push(item)).catch((e) => e);
        const one = new Workflow('one');
        one.addStep('hang', ['blazen::StartEvent'], () => new Promise(() => {}));
        const handler = await one.runWithHandler({});
        await new Promise((r) => setTimeout(r, 5));
        handler.abort();
        const aborted = await handler.result().catch((e) => e);
        const last = items[items.length - 1];
        return {
            timeout: [timeout.name, timeout.activeSteps, timeout.message.includes("'wait_b' (handling 'B')")],
            item: [last.eventType, last.activeSteps],
            aborted: [aborted.name, aborted.step, aborted.eventType, aborted.activeSteps],
        };
    """)["value"]
    steps = [{"step": "wait_a", "eventType": "A"}, {"step": "wait_b", "eventType": "B"}]
    assert out["timeout"] == ["WorkflowTimeoutError", steps, True]
    assert out["item"] == ["Error", steps]
    assert out["aborted"] == [
        "WorkflowAbortedError",
        "hang",
        "blazen::StartEvent",
        [{"step": "hang", "eventType": "blazen::StartEvent"}],
    ]


def test_user_fields_reach_the_stream_unchanged(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('fields');
        wf.addStep('s', ['blazen::StartEvent'], (e, ctx) => {
            ctx.writeEventToStream({ type: 'Mid', request_id: 'r', event_type: 'x', error_type: 'y', eventType: 'mine' });
            ctx.sendEvent({ type: 'Plain', request_id: 'q' });
            return { type: 'blazen::StopEvent', result: 1 };
        });
        const items = [];
        await wf.runStreaming({}, (item) => items.push(item));
        return items.filter((i) => i.type === 'Mid' || i.type === 'Plain');
    """)["value"]
    assert out == [
        {"type": "Mid", "request_id": "r", "event_type": "x", "error_type": "y", "eventType": "mine"},
        {"type": "Plain", "request_id": "q", "eventType": "Plain"},
    ]


def test_get_with_a_default_in_js(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('defaults');
        wf.addStep('s', ['blazen::StartEvent'], (e, ctx) => {
            ctx.set('nil', null);
            ctx.set('zero', 0);
            ctx.session.set('live', null);
            return { type: 'blazen::StopEvent', result: {
                missing: ctx.get('missing', 5), nil: ctx.get('nil', 'd'), zero: ctx.get('zero', 9),
                state: ctx.state.get('missing', []), none: ctx.get('missing'),
                hasNil: ctx.state.has('nil'), hasMissing: ctx.state.has('missing'),
                bytes: Array.from(ctx.getBytes('nope', new Uint8Array([7]))),
                stateBytes: ctx.state.getBytes('nope', null),
                session: ctx.session.get('live', 'fallback'), sessionMissing: ctx.session.get('absent', 7),
            } };
        });
        return (await wf.run({})).data;
    """)["value"]
    assert out == {
        "missing": 5,
        "nil": "d",
        "zero": 0,
        "state": [],
        "none": None,
        "hasNil": True,
        "hasMissing": False,
        "bytes": [7],
        "stateBytes": None,
        "session": "fallback",
        "sessionMissing": 7,
    }


def test_a_key_that_is_not_a_string_is_a_state_error_in_js(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('keys');
        const seen = [];
        wf.addStep('s', ['blazen::StartEvent'], (e, ctx) => {
            for (const probe of [() => ctx.get(42), () => ctx.state.has(42), () => ctx.getBytes(42), () => ctx.set(42, 1)]) {
                try { probe(); seen.push('no error'); } catch (err) { seen.push([err.name, err.message]); }
            }
            return { type: 'blazen::StopEvent', result: seen };
        });
        return (await wf.run({})).data;
    """)["value"]
    assert [name for name, _ in out] == ["StateError"] * 4
    assert all("unsupported operand" not in message for _, message in out)


def test_a_chosen_request_id_is_answered_without_reading_the_stream(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('approval');
        wf.addStep('ask', ['blazen::StartEvent'], () => ({ type: 'blazen::InputRequestEvent', requestId: 'req-1', prompt: 'ok?' }));
        wf.addStep('decide', ['blazen::InputResponseEvent'], (e) => ({ type: 'blazen::StopEvent', result: [e.requestId, e.response] }));
        const handler = await wf.runWithHandler({});
        await new Promise((r) => setTimeout(r, 10));
        handler.respondToInput('req-1', 'yes');
        const taken = new Workflow('taken');
        taken.addStep('ask', ['blazen::StartEvent'], () => [
            { type: 'blazen::InputRequestEvent', requestId: 'same', prompt: '?' },
            { type: 'blazen::InputRequestEvent', requestId: 'same', prompt: '?' },
        ]);
        taken.addStep('decide', ['blazen::InputResponseEvent'], () => null);
        const dup = await taken.run({}).catch((e) => [e.name, e.message.includes("'same' is already open")]);
        return [(await handler.result()).data, dup];
    """)["value"]
    assert out == [["req-1", "yes"], ["InvalidEventError", True]]


def test_the_run_result_carries_the_stop_event(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('result');
        wf.addStep('s', ['blazen::StartEvent'], () => ({ type: 'blazen::StopEvent', result: { a: 1 }, extra: 'x' }));
        const r = await wf.run({});
        const h = await wf.runWithHandler({});
        const r2 = await h.result();
        return [r.type, r.event, r.data, r2.type, r2.event.extra];
    """)["value"]
    assert out == [
        "blazen::StopEvent",
        {"type": "blazen::StopEvent", "result": {"a": 1}, "extra": "x"},
        {"a": 1},
        "blazen::StopEvent",
        "x",
    ]


def test_validate_reports_a_dead_end_cycle_in_js(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('cycle');
        wf.addStep('entry', ['blazen::StartEvent'], () => null, { emits: ['A', 'blazen::StopEvent'] });
        wf.addStep('b', ['A'], () => null, { emits: ['B'] });
        wf.addStep('c', ['B'], () => null, { emits: ['A'] });
        return wf.validate().map((p) => [p.kind, p.steps]);
    """)["value"]
    assert out == [["dead-end", ["b", "c"]]]
