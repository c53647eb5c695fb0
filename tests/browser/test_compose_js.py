"""Composition primitives through blazen.js in Chromium: ctx.collectEvents (fan-in),
handler.sendEvent / ctx.sendEvent(event, {step}), ctx.waitForEvent and ctx.sleep, with
their failure paths, as a JS user writes them."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jspage import BOOT_TIMEOUT_MS, JsPage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from llm_server import LLMTestServer


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


JOIN = """
const joinWorkflow = (types, events) => {
  const wf = new Workflow('join');
  wf.addStep('split', ['blazen::StartEvent'], () => events);
  wf.addStep('join', ['A', 'B', 'C'], (event, ctx) => {
    const got = ctx.collectEvents(event, types);
    if (got === null) return undefined;
    return { type: 'blazen::StopEvent', result: got.map((e) => `${e.type}${e.v}`) };
  });
  return wf;
};
"""


def test_collect_events_returns_the_listed_order_and_repeats(js: JsPage) -> None:
    out = js.value(
        JOIN
        + """
        const a = await joinWorkflow(['A', 'B'], [{ type: 'B', v: 2 }, { type: 'A', v: 1 }]).run({});
        const b = await joinWorkflow(['A', 'B', 'A'],
          [{ type: 'C', v: 0 }, { type: 'A', v: 1 }, { type: 'B', v: 2 }, { type: 'A', v: 3 }]).run({});
        return [a.data, b.data];
    """
    )["value"]
    assert out == [["A1", "B2"], ["A1", "B2", "A3"]]


def test_collect_events_gives_back_the_very_js_objects(js: JsPage) -> None:
    out = js.value(
        """
        const wf = new Workflow('same');
        const sent = [];
        wf.addStep('split', ['blazen::StartEvent'], () => {
          const evs = [{ type: 'A', when: new Uint8Array([1, 2]) }, { type: 'B' }];
          sent.push(...evs);
          return evs;
        });
        let same = null;
        wf.addStep('join', ['A', 'B'], (event, ctx) => {
          const got = ctx.collectEvents(event, ['A', 'B']);
          if (got === null) return undefined;
          same = got[0] === sent[0] && got[1] === sent[1];
          return { type: 'blazen::StopEvent', result: Array.from(got[0].when) };
        });
        const r = await wf.run({});
        return { same, data: r.data };
    """
    )["value"]
    assert out == {"same": True, "data": [1, 2]}


@pytest.mark.parametrize(
    "types, match",
    [("'AB'", "expected must be a list of event types"), ("['A', 7]", "expected holds a number 7")],
)
def test_bad_type_lists_fail_the_step_with_a_typed_error(js: JsPage, types: str, match: str) -> None:
    out = js.run(
        JOIN.replace("ctx.collectEvents(event, types)", f"ctx.collectEvents(event, {types})")
        + "return (await joinWorkflow(null, [{ type: 'B', v: 1 }]).run({})).data;"
    )
    assert out["error"]["name"] == "StepError", out
    assert out["error"]["blazen"] is True
    assert "InvalidEventError" in out["error"]["message"]
    assert match in out["error"]["message"]


def test_the_buffer_is_in_the_snapshot_and_a_resume_continues_it(js: JsPage) -> None:
    out = js.value(
        """
        let open;
        const gate = new Promise((r) => { open = r; });
        const build = () => {
          const wf = new Workflow('slow-join');
          wf.addStep('split', ['blazen::StartEvent'], () => [{ type: 'A', v: 1 }, { type: 'Go' }]);
          wf.addStep('later', ['Go'], async () => { await gate; return { type: 'B', v: 2 }; });
          wf.addStep('join', ['A', 'B'], (event, ctx) => {
            const got = ctx.collectEvents(event, ['A', 'B']);
            return got === null ? undefined : { type: 'blazen::StopEvent', result: got.map((e) => e.v) };
          });
          return wf;
        };
        const handler = await build().runWithHandler({});
        await new Promise((r) => setTimeout(r, 30));
        const snap = await handler.snapshot();
        handler.abort();
        open();
        const resumed = await build().resume(JSON.stringify(snap));
        return { collected: snap.collected, inputs: snap.step_inputs.map((s) => s.step),
                 data: (await resumed.result()).data };
    """
    )["value"]
    assert out == {"collected": {"join": {"A": [{"type": "A", "v": 1}]}}, "inputs": ["later"], "data": [1, 2]}


WAITING = """
const waiting = (seen) => {
  const wf = new Workflow('outside');
  wf.addStep('ask', ['blazen::StartEvent'], () => ({ type: 'blazen::InputRequestEvent', prompt: '?' }));
  wf.addStep('extra', ['Extra'], (e) => { seen.push(`extra:${e.v}`); return { type: 'blazen::StopEvent', result: e.v }; });
  wf.addStep('other', ['Extra'], (e) => { seen.push(`other:${e.v}`); });
  return wf;
};
const asked = async (handler) => {
  for (let i = 0; i < 100 && handler.status === 'running'; i++) {
    const snap = await handler.snapshot();
    if (snap.input_requests.length) return;
    await new Promise((r) => setTimeout(r, 5));
  }
};
"""


def test_handler_send_event_routes_targets_and_queues_while_paused(js: JsPage) -> None:
    out = js.value(
        WAITING
        + """
        const seen = [];
        const h = await waiting(seen).runWithHandler({});
        await asked(h);
        h.sendEvent({ type: 'Extra', v: 1 }, { step: 'other' });
        await new Promise((r) => setTimeout(r, 10));
        await h.pause();
        h.sendEvent({ type: 'Extra', v: 2 }, { step: 'extra' });
        const snap = await h.snapshot();
        h.abort();
        const seen2 = [];
        const resumed = await waiting(seen2).resume(snap);
        return { seen, seen2, inputs: snap.step_inputs, data: (await resumed.result()).data };
    """
    )["value"]
    assert out == {
        "seen": ["other:1"],
        "seen2": ["extra:2"],
        "inputs": [{"step": "extra", "event": {"type": "Extra", "v": 2}}],
        "data": 2,
    }


def test_send_event_to_an_unknown_step_is_a_typed_error(js: JsPage) -> None:
    out = js.value(
        WAITING
        + """
        const h = await waiting([]).runWithHandler({});
        await asked(h);
        const errors = [];
        for (const [ev, opts] of [[{ type: 'Extra' }, { step: 'ghost' }], [{ type: 'Nope' }, { step: 'extra' }],
                                  [{ v: 1 }, null], [{ type: 'Extra' }, 'extra']]) {
          try { h.sendEvent(ev, opts); errors.push(null); } catch (e) { errors.push([e.name, e instanceof blazen.BlazenError, e.step ?? null]); }
        }
        const wf = new Workflow('inside');
        wf.addStep('start', ['blazen::StartEvent'], (e, ctx) => { ctx.sendEvent({ type: 'X' }, { step: 'nobody' }); });
        wf.addStep('a', ['X'], () => undefined);
        let inside = null;
        try { await wf.run({}); } catch (e) { inside = [e.name, e.step, e.eventType, e.message]; }
        h.abort();
        return { errors, inside };
    """
    )["value"]
    assert out["errors"][0] == ["UnknownStepError", True, "ghost"]
    assert out["errors"][1] == ["UnknownStepError", True, "extra"]
    assert out["errors"][2][0] == "InvalidEventError"
    assert out["errors"][3] is not None  # options that are not an object
    assert out["inside"][0] in ("UnknownStepError", "StepError")
    assert "has no step 'nobody'" in out["inside"][3]


APPROVAL = """
const approval = (timeout) => {
  const wf = new Workflow('approval');
  wf.addStep('wait', ['blazen::StartEvent'], async (e, ctx) => {
    const got = await ctx.waitForEvent('Approval', { where: { id: 3 }, timeout });
    return { type: 'blazen::StopEvent', result: got.ok };
  });
  return wf;
};
const waitingFor = async (handler) => {
  for (let i = 0; i < 200; i++) {
    const snap = await handler.snapshot();
    if (snap.step_inputs.some((s) => (s.calls || []).length)) return snap;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('never waited');
};
"""


def test_wait_for_event_takes_the_matching_event_from_outside(js: JsPage) -> None:
    out = js.value(
        APPROVAL
        + """
        const h = await approval(null).runWithHandler({});
        await waitingFor(h);
        h.sendEvent({ type: 'Approval', id: 4, ok: 'no' });
        h.sendEvent({ type: 'Approval', id: 3, ok: 'yes' });
        return (await h.result()).data;
    """
    )["value"]
    assert out == "yes"


def test_wait_for_event_times_out_with_a_typed_error(js: JsPage) -> None:
    out = js.run(APPROVAL + "const h = await approval(0.05).runWithHandler({}); return (await h.result()).data;")
    assert out["error"]["name"] in ("WaitTimeoutError", "StepError"), out
    assert "WaitTimeoutError" in out["error"]["name"] + out["error"]["message"]
    assert out["error"]["blazen"] is True


def test_an_event_sent_while_paused_reaches_the_waiter_after_a_resume(js: JsPage) -> None:
    out = js.value(
        APPROVAL
        + """
        const h = await approval(30).runWithHandler({});
        await waitingFor(h);
        await h.pause();
        h.sendEvent({ type: 'Approval', id: 3, ok: 'while paused' });
        const snap = await h.snapshot();
        h.abort();
        const resumed = await approval(30).resume(JSON.stringify(snap));
        return { calls: snap.step_inputs[0].calls.map((c) => [c.kind, c.event && c.event.ok]),
                 data: (await resumed.result()).data };
    """
    )["value"]
    assert out == {"calls": [["wait", "while paused"]], "data": "while paused"}


def test_sleep_is_durable_across_a_snapshot(js: JsPage) -> None:
    out = js.value(
        """
        const build = () => {
          const wf = new Workflow('sleeper');
          wf.addStep('nap', ['blazen::StartEvent'], async (e, ctx) => {
            await ctx.sleep(1.2);
            return { type: 'blazen::StopEvent', result: 'awake' };
          });
          return wf;
        };
        const h = await build().runWithHandler({});
        await new Promise((r) => setTimeout(r, 300));
        const snap = await h.pause();
        h.abort();
        const started = performance.now();
        const resumed = await build().resume(snap);
        const data = (await resumed.result()).data;
        return { data, kind: snap.step_inputs[0].calls[0].kind, rest: performance.now() - started,
                 late: Date.now() / 1000 - snap.step_inputs[0].calls[0].deadline };
    """
    )["value"]
    assert out["data"] == "awake"
    assert out["kind"] == "sleep"
    # The rest of the 1.2 s (~0.9 s), not all of it again: that would take 1,200 ms or more
    # however loaded the machine (a bound of 500 ms for a 0.6 s sleep failed under load).
    assert out["rest"] < 1200
    assert out["late"] > -0.05


def test_ctx_signal_aborts_with_the_run_and_stops_a_model_stream(js: JsPage) -> None:
    with LLMTestServer() as llm:
        words = " ".join(f"w{i}" for i in range(25))  # 25 words, 0.15 s apart: about 4 s
        out = js.value(
            f"""
            await init({{ env: {{ OPENROUTER_API_KEY: 'sk-or-v1-js-0123456789abcdef0123456789abcdef' }} }});
            const model = CompletionModel.openaiCompatible({{ baseUrl: {json.dumps(llm.base_url)},
              model: 'slow-stream', apiKeyEnv: 'OPENROUTER_API_KEY', maxRetries: 0 }});
            const seen = {{}};
            const wf = new Workflow('talk');
            wf.addStep('talk', ['blazen::StartEvent'], async (e, ctx) => {{
              seen.signal = ctx.signal;
              seen.before = ctx.signal.aborted;
              ctx.signal.addEventListener('abort', () => {{ seen.abortedAt = performance.now(); }});
              const chunks = [];
              try {{
                await model.stream([ChatMessage.user({json.dumps(words)})], (c) => chunks.push(c.delta),
                                   {{ signal: ctx.signal }});
                seen.model = 'finished';
              }} catch (error) {{
                seen.model = error.name;
                seen.failedAt = performance.now();
              }}
              seen.chunks = chunks.length;
            }});
            const h = await wf.runWithHandler({{}});
            await new Promise((r) => setTimeout(r, 700));
            const abortAt = performance.now();
            h.abort();
            let err = null;
            try {{ await h.result(); }} catch (e) {{ err = e.name; }}
            for (let i = 0; i < 100 && seen.failedAt === undefined; i++) await new Promise((r) => setTimeout(r, 20));
            return {{ before: seen.before, after: seen.signal.aborted, reason: seen.signal.reason && seen.signal.reason.name,
                     err, model: seen.model, chunks: seen.chunks,
                     abortLag: seen.abortedAt - abortAt, modelLag: seen.failedAt - abortAt }};
            """
        )["value"]
        assert out["before"] is False
        assert out["after"] is True
        assert out["reason"] == "WorkflowAbortedError"
        assert out["err"] == "WorkflowAbortedError"
        assert out["model"] != "finished", out
        assert 0 < out["chunks"] < 25
        assert out["abortLag"] < 200
        assert out["modelLag"] < 1500
        time.sleep(4.5)  # longer than the whole stream would have taken
        assert "slow-stream" not in llm.stream_finished_at  # the server saw the connection go


SUB = """
const childWf = (fail) => {
  const c = new Workflow('child');
  c.addStep('work', ['blazen::StartEvent'], async (e, ctx) => {
    ctx.writeEventToStream({ type: 'Progress', n: e.n });
    await ctx.sleep(e.nap);
    if (fail) throw new Error('the child fell over');
    return { type: 'blazen::StopEvent', result: e.n * 2 };
  });
  return c;
};
const parentWf = (fail) => {
  const p = new Workflow('parent');
  p.addStep('start', ['blazen::StartEvent'], (e) => ({ type: 'Go', n: e.n, nap: e.nap }));
  p.addSubworkflowStep('sub', ['Go'], childWf(fail), {
    input: (e) => ({ n: e.n + 1, nap: e.nap }),
    output: (result, e) => ({ type: 'blazen::StopEvent', result: { child: result.data, n: e.n, id: result.runId } }),
  });
  return p;
};
"""


def test_a_subworkflow_step_maps_streams_with_path_and_survives_a_pause(js: JsPage) -> None:
    out = js.value(
        SUB
        + """
        const items = [];
        const h = await parentWf(false).runWithHandler({ n: 2, nap: 0.3 });
        const streaming = h.streamEvents((i) => { if (i.path) items.push([i.eventType, i.path]); });
        await new Promise((r) => setTimeout(r, 100));
        const snap = await h.pause();
        h.abort();
        await streaming;
        const record = snap.step_inputs[0].calls[0];
        const resumed = await parentWf(false).resume(JSON.stringify(snap));
        const result = await resumed.result();
        const plain = await parentWf(false).run({ n: 5, nap: 0 });
        return { kind: record.kind, nested: record.snapshot.workflow, data: result.data.child,
                 sameChild: result.data.id === record.snapshot.run_id, items, plain: plain.data.child };
    """
    )["value"]
    assert out["kind"] == "child"
    assert out["nested"] == "child"
    assert out["data"] == 6
    assert out["sameChild"] is True
    assert ["Progress", ["sub"]] in out["items"]
    assert out["plain"] == 12


def test_a_failing_child_fails_the_step(js: JsPage) -> None:
    out = js.run(SUB + "return (await parentWf(true).run({ n: 1, nap: 0 })).data;")
    assert out["error"]["name"] == "StepError", out
    assert out["error"]["step"] == "sub"
    assert "the child fell over" in out["error"]["message"]


MAP = """
const log = { started: [], finished: [], running: 0, peak: 0 };
const itemWf = () => {
  const c = new Workflow('item');
  c.addStep('work', ['blazen::StartEvent'], async (e, ctx) => {
    log.started.push(e.item); log.running++; log.peak = Math.max(log.peak, log.running);
    try {
      await ctx.sleep(e.item === 'bad' ? 0 : 0.05);
      if (e.item === 'bad') throw new Error('bad item');
    } finally { log.running--; }
    log.finished.push(e.item);
    return { type: 'blazen::StopEvent', result: e.item * 10 };
  });
  return c;
};
const mapWf = (concurrency) => {
  const wf = new Workflow('mapper');
  wf.addStep('start', ['blazen::StartEvent'], (e) => ({ type: 'Items', items: e.items }));
  wf.addMapStep('each', ['Items'], itemWf(), {
    items: (e) => e.items, concurrency,
    output: (results, e) => ({ type: 'blazen::StopEvent', result: results.map((r) => r.data) }),
  });
  return wf;
};
"""


def test_a_map_step_runs_each_item_once_with_the_limit_and_survives_a_pause(js: JsPage) -> None:
    out = js.value(
        MAP
        + """
        const plain = await mapWf(2).run({ items: [1, 2, 3, 4, 5] });
        const peak = log.peak;
        log.started = []; log.finished = [];
        const h = await mapWf(3).runWithHandler({ items: [1, 2, 3, 4, 5, 6, 7, 8] });
        while (log.finished.length < 3) await new Promise((r) => setTimeout(r, 5));
        const snap = await h.pause();
        h.abort();
        const before = [...log.finished];
        const record = snap.step_inputs[0].calls[0];
        const resumed = await mapWf(3).resume(snap);
        const data = (await resumed.result()).data;
        const again = log.finished.slice(before.length);
        return { plain: plain.data, peak, data, kind: record.kind, done: Object.keys(record.results).length,
                 twice: again.filter((i) => before.includes(i)), all: [...before, ...again].sort((a, b) => a - b) };
    """
    )["value"]
    assert out["plain"] == [10, 20, 30, 40, 50]
    assert out["peak"] == 2
    assert out["kind"] == "map"
    assert out["done"] >= 3
    assert out["data"] == [10, 20, 30, 40, 50, 60, 70, 80]
    assert out["twice"] == []
    assert out["all"] == [1, 2, 3, 4, 5, 6, 7, 8]


def test_a_failing_item_fails_the_map_step(js: JsPage) -> None:
    out = js.run(MAP + "return (await mapWf(2).run({ items: [1, 'bad', 3] })).data;")
    assert out["error"]["name"] == "StepError", out
    assert out["error"]["step"] == "each"


PARALLEL = """
const plog = { started: [], finished: [], signals: {} };
const kidWf = (name, nap, factor, fail) => {
  const c = new Workflow(name);
  c.addStep('work', ['blazen::StartEvent'], async (e, ctx) => {
    plog.started.push(name); plog.signals[name] = ctx.signal;
    e.n = -1;  // a child changing its input must not reach its siblings
    await ctx.sleep(nap);
    if (fail) throw new Error(`${name} fell over`);
    plog.finished.push(name);
    return { type: 'blazen::StopEvent', result: { who: name, v: factor } };
  });
  return c;
};
const fanWf = (kids, join) => {
  const wf = new Workflow('fan');
  wf.addStep('start', ['blazen::StartEvent'], (e) => ({ type: 'Go', n: e.n }));
  wf.addParallelSubworkflows('fan', ['Go'], kids, {
    join,
    input: (e) => ({ n: e.n }),
    output: (results, e) => ({ type: 'blazen::StopEvent', result: {
      rows: (join === 'first' ? [results] : results).map((r) => [r.data.who, r.data.v, r.data.n ?? null, r.runId]),
      n: e.n } }),
  });
  return wf;
};
"""


def test_parallel_subworkflows_run_at_once_in_order_and_survive_a_pause(js: JsPage) -> None:
    out = js.value(
        PARALLEL
        + """
        const kids = () => [kidWf('slow', 0.08, 1), kidWf('fast', 0, 2), kidWf('napping', 0.4, 3)];
        const h0 = await fanWf(kids(), 'all').runWithHandler({ n: 4 });
        const all = await h0.result();
        const firstDone = plog.finished[0];
        plog.started = []; plog.finished = [];
        const h = await fanWf(kids(), 'all').runWithHandler({ n: 4 });
        while (plog.finished.length < 2) await new Promise((r) => setTimeout(r, 5));
        const snap = await h.pause();
        h.abort();
        const record = snap.step_inputs[0].calls[0];
        const resumed = await fanWf(kids(), 'all').resume(JSON.stringify(snap));
        const data = (await resumed.result()).data;
        return { rows: all.data.rows.map((r) => r.slice(0, 2)), ids: all.data.rows.map((r) => r[3]),
                 parent: h0.runId, firstDone, kind: record.kind, done: Object.keys(record.results).sort(),
                 running: Object.keys(record.children), resumed: data.rows.map((r) => r.slice(0, 2)),
                 sameChild: data.rows[2][3] === record.children['2'].run_id,
                 startedAgain: plog.started.filter((n) => n !== 'napping').length };
    """
    )["value"]
    assert out["rows"] == [["slow", 1], ["fast", 2], ["napping", 3]]
    assert len(set(out["ids"])) == 3
    assert out["parent"] not in out["ids"]
    assert out["firstDone"] == "fast"
    assert (out["kind"], out["done"], out["running"]) == ("parallel", ["0", "1"], ["2"])
    assert out["resumed"] == out["rows"]
    assert out["sameChild"] is True
    assert out["startedAgain"] == 2  # slow and fast ran once each, before the pause only


def test_parallel_join_first_aborts_the_others_through_their_signals(js: JsPage) -> None:
    out = js.value(
        PARALLEL
        + """
        const result = await fanWf([kidWf('a', 30, 1), kidWf('b', 0.01, 2), kidWf('c', 30, 3)], 'first').run({ n: 1 });
        await new Promise((r) => setTimeout(r, 50));
        return { rows: result.data.rows.map((r) => r.slice(0, 2)),
                 aborted: ['a', 'c'].map((n) => plog.signals[n].aborted), finished: plog.finished };
    """
    )["value"]
    assert out == {"rows": [["b", 2]], "aborted": [True, True], "finished": ["b"]}


def test_parallel_failures_abort_timeout_and_bad_declarations(js: JsPage) -> None:
    out = js.value(
        PARALLEL
        + """
        const errorOf = async (fn) => { try { await fn(); return null; } catch (e) { return [e.name, e.message, e.step ?? null]; } };
        const failing = await errorOf(() => fanWf([kidWf('ok', 30, 1), kidWf('bad', 0.01, 2, true)], 'all').run({ n: 1 }));
        await new Promise((r) => setTimeout(r, 50));
        const okAborted = plog.signals.ok.aborted;
        const h = await fanWf([kidWf('x', 30, 1), kidWf('y', 30, 2)], 'all').runWithHandler({ n: 1 });
        while (!plog.signals.y || !plog.signals.x || plog.signals.x.aborted) await new Promise((r) => setTimeout(r, 5));
        h.abort();
        const aborted = await errorOf(() => h.result());
        await new Promise((r) => setTimeout(r, 50));
        const timed = new Workflow('timed');
        timed.addStep('start', ['blazen::StartEvent'], () => ({ type: 'Go', n: 1 }));
        timed.addParallelSubworkflows('fan', ['Go'], [kidWf('t', 30, 1)], { timeout: 0.1 });
        const timeout = await errorOf(() => timed.run({}));
        const bad = (children, options) => { try { new Workflow('w').addParallelSubworkflows('p', ['Go'], children, options); return null; }
                                               catch (e) { return [e.name, e.message]; } };
        return { failing, okAborted, aborted, xy: [plog.signals.x.aborted, plog.signals.y.aborted], timeout,
                 empty: bad([]), notWf: bad([{}]), notArray: bad('abc'), join: bad([kidWf('j', 0, 1)], { join: 'any' }) };
    """
    )["value"]
    assert out["failing"][0] == "StepError", out
    assert "bad fell over" in out["failing"][1]
    assert out["failing"][2] == "fan"
    assert out["okAborted"] is True
    assert out["aborted"][0] == "WorkflowAbortedError"
    assert out["xy"] == [True, True]
    assert out["timeout"][0] == "StepTimeoutError", out
    assert out["empty"][0] == "WorkflowDefinitionError"
    assert "non-empty array" in out["empty"][1]
    assert out["notWf"] == ["WorkflowDefinitionError", "step 'p': children[0] must be a Workflow"]
    assert out["notArray"][0] == "WorkflowDefinitionError"
    assert out["join"][0] == "WorkflowDefinitionError", out
    assert "join must be 'all' or 'first'" in out["join"][1]
