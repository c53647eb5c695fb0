"""Bad input and load in the browser: JS handlers that misbehave, IndexedDB over its
quota, and 1,000 concurrent runs in one page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def page(browser: Any, origin: str) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(origin + "_test/blank.html")
    page.evaluate(
        "async () => { const m = await import('/blazen.js'); window.blazen = m; window.py = await m.default(); }"
    )
    yield page
    context.close()


def outcome(page: Any, handler_js: str, timeout: float | None = None) -> dict[str, Any]:
    """Run a one-step workflow whose handler is ``handler_js``; then a good run of it."""
    return json.loads(
        page.evaluate(
            """async ([source, timeout]) => {
                const { Workflow } = window.blazen;
                let behave = false;
                const bad = eval(source);
                const wf = new Workflow('bad-js');
                if (timeout !== null) wf.setTimeout(timeout);
                wf.addStep('s', ['blazen::StartEvent'], (e, ctx) =>
                  behave ? { type: 'blazen::StopEvent', result: 'good' } : bad(e, ctx));
                let error = null;
                try { await wf.run({}); } catch (e) {
                  error = { name: e.name, message: e.message, step: e.step, isError: e instanceof Error };
                }
                behave = true;
                const again = (await wf.run({})).data;
                return JSON.stringify({ error, again });
            }""",
            [handler_js, timeout],
        )
    )


@pytest.mark.parametrize(
    "source, name, fragment",
    [
        ("() => { throw 'plain string'; }", "StepError", "a non-Error value was thrown: plain string"),
        ("() => { throw 404; }", "StepError", "a non-Error value was thrown: 404"),
        ("() => { throw null; }", "StepError", "a non-Error value was thrown"),
        ("() => { throw { code: 1 }; }", "StepError", "a non-Error value was thrown"),
        ("async () => { throw new Error('async boom'); }", "StepError", "Error: async boom"),
        ("() => Promise.reject('rejected text')", "StepError", "rejected text"),
        ("() => Promise.reject(new DOMException('gone', 'AbortError'))", "StepError", "AbortError: gone"),
        ("() => undefined", "WorkflowStallError", "stalled"),
        ("async () => undefined", "WorkflowStallError", "stalled"),
        ("() => null", "WorkflowStallError", "stalled"),
        ("() => 'blazen::StopEvent'", "InvalidEventError", "returned a string"),
        ("() => [1, 2]", "InvalidEventError", "non-event"),
        ("() => new Map([['type', 'A']])", "WorkflowStallError", "'A' (from 's')"),  # a Map is a mapping
        ("() => new Date(0)", "InvalidEventError", "returned"),
        ("() => Symbol('x')", "InvalidEventError", "returned"),
        ("() => () => 1", "InvalidEventError", "returned"),
    ],
)
def test_js_handlers_that_misbehave(page: Any, source: str, name: str, fragment: str) -> None:
    out = outcome(page, source)
    assert out["error"]["name"] == name, out
    assert fragment in out["error"]["message"], out
    assert out["error"]["isError"]
    assert out["again"] == "good"


def test_a_js_handler_that_never_settles_times_out(page: Any) -> None:
    out = outcome(page, "() => new Promise(() => {})", timeout=0.1)
    assert out["error"]["name"] == "WorkflowTimeoutError"
    assert out["again"] == "good"


def test_indexeddb_over_quota_is_a_store_error(page: Any) -> None:
    cdp = page.context.new_cdp_session(page)
    origin = page.evaluate("location.origin")
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": 64 * 1024})
    try:
        result = page.evaluate(
            """async () => await window.py.runPythonAsync(`
import json
from blazen_py import IndexedDBStore, StoreError, Workflow, START_EVENT, STOP_EVENT
store = IndexedDBStore("quota-test")
out = {}
try:
    await store.save("big", {"blob": "x" * 2_000_000})
except StoreError as exc:
    out["save"] = str(exc)
wf = Workflow("durable-over-quota")
async def big(event, ctx):
    ctx.set("blob", "y" * 2_000_000)
    return {"type": "Next"}
wf.add_step("big", [START_EVENT], big)
wf.add_step("next", ["Next"], lambda e, c: {"type": STOP_EVENT, "result": 1})
try:
    await wf.run({}, checkpoint=store)
    out["run"] = "completed"
except Exception as exc:
    out["run"] = [type(exc).__name__, str(exc), type(exc.__cause__).__name__]
json.dumps(out)
`)"""
        )
    finally:
        cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin})
    out = json.loads(result)
    assert "over its storage quota" in out["save"]
    # The durable run either finished before its first save, or failed with the cause.
    if out["run"] != "completed":
        name, message, cause = out["run"]
        assert name == "CheckpointError"
        assert "over its storage quota" in message
        assert cause == "StoreError"


def test_a_failing_durable_store_rejects_with_a_checkpoint_error_in_js(page: Any) -> None:
    cdp = page.context.new_cdp_session(page)
    origin = page.evaluate("location.origin")
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": 64 * 1024})
    try:
        out = page.evaluate("""async () => {
            const { Workflow, CheckpointError, WorkflowError, BlazenError, StoreError } = window.blazen;
            const wf = new Workflow('js-durable-over-quota');
            wf.addStep('big', ['blazen::StartEvent'], (e, ctx) => { ctx.set('blob', 'y'.repeat(2000000)); return { type: 'Next' }; });
            // Still running when the save after 'big' fails: the failure ends the run.
            wf.addStep('wait', ['Next'], async () => { await new Promise((r) => setTimeout(r, 2000)); return { type: 'blazen::StopEvent', result: 1 }; });
            try {
                await wf.run({}, { checkpoint: { store: 'quota-js' } });
                return { outcome: 'completed' };
            } catch (err) {
                return {
                    name: err.name, message: err.message, runId: err.runId,
                    checkpoint: err instanceof CheckpointError, workflow: err instanceof WorkflowError,
                    blazen: err instanceof BlazenError, error: err instanceof Error, store: err instanceof StoreError,
                };
            }
        }""")
    finally:
        cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin})
    assert out["name"] == "CheckpointError", out
    assert out["checkpoint"] is True
    assert out["workflow"] is True
    assert out["blazen"] is True
    assert out["error"] is True
    assert out["store"] is False
    assert "over its storage quota" in out["message"]
    assert isinstance(out["runId"], str)


def test_every_js_error_class_extends_its_python_parent(page: Any) -> None:
    import blazen_py._boundary as boundary

    expected = {cls.__name__: boundary.js_parent(cls) for cls in boundary.error_classes()}
    found = page.evaluate(
        """(names) => {
        const m = window.blazen;
        const out = {};
        for (const name of Object.keys(names)) {
            const Kind = m[name];
            if (typeof Kind !== 'function') { out[name] = null; continue; }
            const err = new Kind('x', {});
            const parent = names[name] === 'Error' ? Error : m[names[name]];
            out[name] = [err instanceof Kind, err instanceof parent, err instanceof m.BlazenError, err.name, Object.getPrototypeOf(Kind).name];
        }
        return out;
    }""",
        expected,
    )
    for name, parent in expected.items():
        assert found[name] == [True, True, True, name, parent], name


def test_1000_concurrent_runs_in_one_page(page: Any) -> None:
    out = page.evaluate("""async () => {
        const { Workflow } = window.blazen;
        const wf = new Workflow('load');
        wf.addStep('a', ['blazen::StartEvent'], async (e, ctx) => { ctx.set('n', e.n); return { type: 'B', n: e.n }; });
        wf.addStep('b', ['B'], async (e) => { await new Promise((r) => setTimeout(r, e.n % 7)); return { type: 'C', n: e.n * 2 }; });
        wf.addStep('c', ['C'], (e, ctx) => ({ type: 'blazen::StopEvent', result: [ctx.get('n'), e.n, ctx.runId()] }));
        const results = await Promise.all(Array.from({ length: 1000 }, (_, n) => wf.run({ n })));
        const ok = results.every((r, n) => r.data[0] === n && r.data[1] === 2 * n && r.data[2] === r.runId);
        return [ok, new Set(results.map((r) => r.runId)).size];
    }""")
    assert out == [True, 1000]
