"""Step retries through blazen.js in Chromium (issue 18): {retry: {...}} options, retryOn
as names and as a predicate, NonRetryableError / RetryableError from JS, ctx.attempt and
ctx.retryInfo(), held-back sendEvent, per-attempt timeouts, the StepFailedEvent handler,
StepRetrying items, a snapshot taken mid-backoff, and a page reloaded during the backoff
of a durable run (it resumes the count and waits only what is left)."""

from __future__ import annotations

import json
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


FLAKY = """
const { NonRetryableError, RetryableError, StepError } = blazen;
const flaky = (failures, retry, makeError = () => new TypeError('Failed to fetch')) => {
  const wf = new Workflow('flaky');
  const attempts = [];
  wf.addStep('fetch', ['blazen::StartEvent'], async (event, ctx) => {
    attempts.push([ctx.attempt, performance.now()]);
    if (attempts.length <= failures) throw makeError();
    return { type: 'blazen::StopEvent', result: attempts.length };
  }, { retry });
  return [wf, attempts];
};
"""


def test_attempts_until_success_and_stream_items(js: JsPage) -> None:
    out = js.value(
        FLAKY
        + """
        const [wf, attempts] = flaky(2, { maxAttempts: 4, initialDelay: 0.02, backoff: 'exponential' });
        const items = [];
        const result = await wf.runStreaming({}, (item) => items.push(item));
        return {
          data: result.data, attempts: attempts.map((a) => a[0]),
          gaps: attempts.slice(1).map((a, i) => (a[1] - attempts[i][1]) / 1000),
          retrying: items.filter((i) => i.eventType === 'blazen::StepRetrying')
            .map((i) => [i.step, i.attempt, i.maxAttempts, i.delay, i.errorName, i.error]),
        };
        """
    )["value"]
    assert out["data"] == 3
    assert out["attempts"] == [1, 2, 3]
    assert out["retrying"] == [
        ["fetch", 1, 4, 0.02, "TypeError", "Failed to fetch"],
        ["fetch", 2, 4, 0.04, "TypeError", "Failed to fetch"],
    ]
    for gap, want in zip(out["gaps"], [0.02, 0.04], strict=False):
        assert want - 0.005 <= gap < want + 3


def test_retries_run_out_with_step_error_and_attempts(js: JsPage) -> None:
    out = js.value(
        FLAKY
        + """
        const [wf, attempts] = flaky(99, { maxAttempts: 3, initialDelay: 0 });
        try { await wf.run(); return 'no error'; }
        catch (e) { return { name: e.name, isStepError: e instanceof StepError, attempts: e.attempts,
                             message: e.message, count: attempts.length }; }
        """
    )["value"]
    assert out["name"] == "StepError"
    assert out["isStepError"]
    assert out["attempts"] == 3
    assert out["count"] == 3
    assert "after 3 attempts" in out["message"]


def test_non_retryable_and_retryable_false_fail_at_once(js: JsPage) -> None:
    out = js.value(
        FLAKY
        + """
        const counts = [];
        for (const make of [() => new NonRetryableError('bad request'),
                            () => Object.assign(new Error('gone'), { retryable: false })]) {
          const [wf, attempts] = flaky(99, { maxAttempts: 5, initialDelay: 0 }, make);
          try { await wf.run(); } catch (e) { counts.push([attempts.length, e.attempts]); }
        }
        return counts;
        """
    )["value"]
    assert out == [[1, 1], [1, 1]]


def test_retryable_error_chooses_the_delay(js: JsPage) -> None:
    out = js.value(
        FLAKY
        + """
        const [wf, attempts] = flaky(1, { maxAttempts: 2, initialDelay: 30, maxDelay: 60 },
                                     () => new RetryableError('busy', { delay: 0.05 }));
        const result = await wf.run();
        return [result.data, (attempts[1][1] - attempts[0][1]) / 1000];
        """
    )["value"]
    assert out[0] == 2
    assert 0.045 <= out[1] < 10  # the error's 0.05 s, not the policy's 30 s


def test_retry_on_names_and_predicate(js: JsPage) -> None:
    out = js.value(
        FLAKY
        + """
        const results = [];
        let [wf, attempts] = flaky(2, { maxAttempts: 4, initialDelay: 0, retryOn: ['TypeError'] });
        results.push((await wf.run()).data);
        [wf, attempts] = flaky(2, { maxAttempts: 4, initialDelay: 0, retryOn: ['NetworkError'] });
        try { await wf.run(); } catch (e) { results.push(['failed', attempts.length]); }
        [wf, attempts] = flaky(2, { maxAttempts: 4, initialDelay: 0,
                                    retryOn: (error) => error instanceof TypeError && /fetch/.test(error.message) });
        results.push((await wf.run()).data);
        [wf, attempts] = flaky(2, { maxAttempts: 4, initialDelay: 0, retryOn: () => false });
        try { await wf.run(); } catch (e) { results.push(['failed', attempts.length]); }
        return results;
        """
    )["value"]
    assert out == [3, ["failed", 1], 3, ["failed", 1]]


def test_bad_retry_options_are_typed_errors(js: JsPage) -> None:
    out = js.value(
        """
        const { WorkflowDefinitionError } = blazen;
        const bad = [{ maxAttempts: 0 }, { backoff: 'quadratic' }, { initialDelay: -1 }, { retryOn: 5 },
                     { retryOn: [1] }, { tries: 3 }, 'often'];
        return bad.map((retry) => {
          try { new Workflow('w').addStep('s', ['blazen::StartEvent'], () => null, { retry }); return 'accepted'; }
          catch (e) { return [e instanceof WorkflowDefinitionError, e.message]; }
        });
        """
    )["value"]
    assert all(r != "accepted" and r[0] for r in out), out
    assert "maxAttempts" in out[0][1]
    assert "backoff" in out[1][1]
    assert "unknown retry option" in out[5][1]


def test_retry_info_state_rollback_and_held_back_events(js: JsPage) -> None:
    out = js.value(
        """
        const wf = new Workflow('info');
        const infos = [], counted = [];
        wf.addStep('setup', ['blazen::StartEvent'], (e, ctx) => { ctx.set('count', 10); return { type: 'Go' }; });
        wf.addStep('work', ['Go'], async (event, ctx) => {
          infos.push([ctx.attempt, ctx.retryInfo(), ctx.get('count')]);
          ctx.set('count', ctx.get('count') + 1);
          ctx.sendEvent({ type: 'Count', attempt: ctx.attempt });
          await new Promise((r) => setTimeout(r, 1));
          if (ctx.attempt < 3) throw new TypeError(`down ${ctx.attempt}`);
          return { type: 'Done' };
        }, { retry: { maxAttempts: 3, initialDelay: 0.01, maxDelay: 1 } });
        wf.addStep('count', ['Count'], (event) => { counted.push(event.attempt); });
        wf.addStep('done', ['Done'], (e, ctx) => ({ type: 'blazen::StopEvent', result: ctx.get('count') }));
        const result = await wf.run();
        return { data: result.data, infos, counted };
        """
    )["value"]
    assert out["data"] == 11  # one increment, from the state the first attempt started from
    assert [i[2] for i in out["infos"]] == [10, 10, 10]
    assert out["counted"] == [3]  # only the successful attempt's event
    first, second, third = (i[1] for i in out["infos"])
    assert first == {"attempt": 1, "maxAttempts": 3, "lastError": None, "nextDelay": 0.01}
    assert second == {
        "attempt": 2,
        "maxAttempts": 3,
        "lastError": {"name": "TypeError", "message": "down 1"},
        "nextDelay": 0.02,
    }
    assert third["nextDelay"] is None
    assert third["attempt"] == 3


def test_a_targeted_send_is_held_back_until_the_attempt_succeeds(js: JsPage) -> None:
    out = js.value(
        """
        const wf = new Workflow('targeted');
        const seen = { b: [], c: [] };
        wf.addStep('send', ['blazen::StartEvent'], async (event, ctx) => {
          ctx.sendEvent({ type: 'Ping', attempt: ctx.attempt }, { step: 'b' });
          await new Promise((r) => setTimeout(r, 1));
          if (ctx.attempt < 3) throw new TypeError(`down ${ctx.attempt}`);
        }, { retry: { maxAttempts: 3, initialDelay: 0 } });
        for (const name of ['b', 'c']) {
          wf.addStep(name, ['Ping'], (event) => {
            seen[name].push(event.attempt);
            return { type: 'blazen::StopEvent', result: name };
          });
        }
        const result = await wf.run();
        let unknown = null;
        const bad = new Workflow('targeted-unknown');
        bad.addStep('send', ['blazen::StartEvent'], (event, ctx) => {
          ctx.sendEvent({ type: 'Ping' }, { step: 'nope' });
        }, { retry: { maxAttempts: 2, initialDelay: 0, retryOn: ['TypeError'] } });
        bad.addStep('b', ['Ping'], () => null);
        try { await bad.run(); } catch (error) { unknown = [error.name, error.message]; }
        return { data: result.data, seen, unknown };
        """
    )["value"]
    assert out["data"] == "b"
    assert out["seen"] == {"b": [3], "c": []}  # only the successful attempt's, only to b
    assert out["unknown"] is not None
    assert "no step 'nope'" in out["unknown"][1]


def test_per_attempt_timeout_and_workflow_default(js: JsPage) -> None:
    out = js.value(
        """
        const wf = new Workflow('slow');
        const seen = [];
        wf.addStep('slow', ['blazen::StartEvent'], async (event, ctx) => {
          seen.push(ctx.attempt);
          if (ctx.attempt < 3) {
            ctx.set('zombie', ctx.attempt);
            await new Promise((r) => setTimeout(r, 400));
            ctx.set('zombie', 'late write');   // after its attempt was given up: discarded
          }
          return { type: 'blazen::StopEvent', result: [ctx.attempt, ctx.get('zombie')] };
        }, { timeout: 0.05 });
        wf.setRetryPolicy({ maxAttempts: 3, initialDelay: 0 });
        const result = await wf.run();
        await new Promise((r) => setTimeout(r, 500));
        return { data: result.data, seen };
        """
    )["value"]
    assert out["seen"] == [1, 2, 3]
    assert out["data"] == [3, None]


def test_error_handler_gets_the_failed_event(js: JsPage) -> None:
    out = js.value(
        FLAKY
        + """
        const [wf, attempts] = flaky(99, { maxAttempts: 2, initialDelay: 0 });
        wf.addStep('fallback', ['blazen::StepFailedEvent'], (event) =>
          ({ type: 'blazen::StopEvent', result: { step: event.step, attempts: event.attempts,
                                                   error: event.error, handled: event.event.type } }));
        return [(await wf.run({ url: 'u' })).data, wf.validate()];
        """
    )["value"]
    assert out[0] == {
        "step": "fetch",
        "attempts": 2,
        "error": {"name": "TypeError", "message": "Failed to fetch"},
        "handled": "blazen::StartEvent",
    }
    assert out[1] == []


def test_snapshot_mid_backoff_resumes_in_a_fresh_workflow(js: JsPage) -> None:
    out = js.value(
        """
        const make = (log) => {
          const wf = new Workflow('durable-flaky');
          wf.addStep('fetch', ['blazen::StartEvent'], async (event, ctx) => {
            log.push([ctx.attempt, Date.now() / 1000]);
            if (ctx.attempt < 3) throw new TypeError(`down ${ctx.attempt}`);
            return { type: 'blazen::StopEvent', result: ctx.attempt };
          }, { retry: { maxAttempts: 4, initialDelay: 1.5, maxDelay: 1.5, backoff: 'fixed' } });
          return wf;
        };
        const log1 = [], log2 = [];
        const handler = await make(log1).runWithHandler();
        while (log1.length < 1) await new Promise((r) => setTimeout(r, 5));
        const snap = await handler.pause();
        handler.abort();
        await new Promise((r) => setTimeout(r, 500));
        const resumedAt = Date.now() / 1000;
        const resumed = await make(log2).resume(JSON.stringify(snap));
        const result = await resumed.result();
        return { item: snap.step_inputs[0], first: log1[0][1], log2, resumedAt, data: result.data };
        """
    )["value"]
    item = out["item"]
    assert item["attempt"] == 2
    assert item["last_error"] == {"name": "TypeError", "message": "down 1"}
    assert [a for a, _ in out["log2"]] == [2, 3]
    assert out["data"] == 3
    due = item["not_before"]
    assert out["log2"][0][1] >= due - 0.02  # never before the absolute time
    assert out["log2"][0][1] - out["resumedAt"] < max(due - out["resumedAt"], 0) + 1.0  # only the rest


RELOAD_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>retry reload</title></head>
<body data-state="booting"><p id="status">booting</p>
<script type="module">
import init, { Workflow } from "/blazen.js";
const log = (entry) => localStorage.setItem("log", (localStorage.getItem("log") ?? "") + entry + ";");
await init();
const wf = new Workflow("reload-flaky");
wf.addStep("fetch", ["blazen::StartEvent"], async (event, ctx) => {
  log(`attempt ${ctx.attempt} at ${Date.now() / 1000}`);
  if (ctx.attempt < 3) throw new TypeError(`down ${ctx.attempt}`);
  localStorage.setItem("result", JSON.stringify(ctx.attempt));
  return { type: "blazen::StopEvent", result: ctx.attempt };
}, { retry: { maxAttempts: 4, initialDelay: 4, maxDelay: 4, backoff: "fixed" } });
const runs = await wf.unfinishedRuns();
let handler;
if (runs.length > 0) {
  log(`resume at ${Date.now() / 1000}`);
  handler = await wf.resumeCheckpoint(runs[0].runId);
} else if (localStorage.getItem("result") === null) {
  handler = await wf.runWithHandler({}, { checkpoint: "indexeddb" });
}
document.body.dataset.state = "running";
if (handler) await handler.result();
localStorage.setItem("left", JSON.stringify(await wf.unfinishedRuns()));
document.body.dataset.state = "done";
</script></body></html>
"""


def test_reload_during_the_backoff_of_a_durable_run(browser: Any, origin: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    served: dict[str, str] = {"page": RELOAD_PAGE}
    url = origin + "_test/retry-reload.html"
    page.route(url, lambda route: route.fulfill(status=200, content_type="text/html", body=served["page"]))
    try:
        page.goto(origin + "_test/blank.html")
        page.evaluate("() => localStorage.clear()")
        page.goto(url)
        # The first attempt failed: its failure (and the backoff) is checkpointed. Reload
        # in the middle of the 4 s backoff.
        page.wait_for_function("(localStorage.getItem('log') ?? '').includes('attempt 1')")
        saved = page.evaluate(
            """async () => {
              for (let i = 0; i < 400; i++) {
                const snap = await new Promise((resolve, reject) => {
                  const open = indexedDB.open('blazen_py-checkpoints');
                  open.onerror = () => reject(open.error);
                  open.onsuccess = () => {
                    const db = open.result;
                    const names = Array.from(db.objectStoreNames);
                    if (names.length === 0) { db.close(); resolve(null); return; }
                    const tx = db.transaction(names[0], 'readonly');
                    const all = tx.objectStore(names[0]).getAll();
                    all.onsuccess = () => { db.close(); resolve(all.result); };
                    all.onerror = () => { db.close(); reject(all.error); };
                  };
                });
                const text = JSON.stringify(snap ?? []);
                if (text.includes('not_before')) return text;
                await new Promise((r) => setTimeout(r, 5));
              }
              return null;
            }"""
        )
        assert saved is not None, "the failed attempt's backoff was never checkpointed"
        page.wait_for_timeout(2000)
        page.reload()
        page.wait_for_function("document.body.dataset.state === 'done'")
        log = [e for e in page.evaluate("localStorage.getItem('log')").split(";") if e]
        assert json.loads(page.evaluate("localStorage.getItem('result')")) == 3
        assert json.loads(page.evaluate("localStorage.getItem('left')")) == []
        attempts = [e for e in log if e.startswith("attempt")]
        assert [e.split()[1] for e in attempts] == ["1", "2", "3"], log  # no attempt 1 again
        first = float(attempts[0].split()[-1])
        second = float(attempts[1].split()[-1])
        resume = float(next(e for e in log if e.startswith("resume")).split()[-1])
        assert first < resume < second
        assert second >= first + 4 - 0.05  # the backoff was honoured across the reload
        # Only the rest of it was waited (about 4 - 2 s), not 4 s again from the resume.
        assert second - resume < 4 - 0.8, log
    finally:
        context.close()
    assert errors == []
