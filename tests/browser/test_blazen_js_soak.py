"""blazen.js over long use: memory stays flat, the page stays responsive, timers fire.

A 3-step JS workflow runs 10,000 times; WebAssembly memory and the JS heap (after
garbage collection on both sides) may grow by less than 5 MB. This needs Chromium flags
the shared browser does not have, so this module launches its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from blazen_build.chromium import CHROMIUM_ARGS

RUNS = 10_000
LIMIT = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def page(playwright: Any, chromium_path: str, origin: str) -> Iterator[Any]:
    args = [*CHROMIUM_ARGS, "--enable-precise-memory-info", "--js-flags=--expose-gc"]
    browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=args)
    page = browser.new_page()
    page.set_default_timeout(300_000)
    page.goto(origin + "_test/blank.html")
    page.evaluate(
        "async () => { const m = await import('/blazen.js'); window.blazen = m; window.py = await m.default(); }"
    )
    yield page
    browser.close()


MEASURE = """
async () => {
  window.py.runPython('import gc; gc.collect()');
  await new Promise((r) => setTimeout(r, 0));
  gc(); gc();
  return [window.py._module.HEAP8.buffer.byteLength, performance.memory.usedJSHeapSize];
}
"""


def test_10000_runs_of_a_3_step_js_workflow_leak_less_than_5_mb(page: Any) -> None:
    page.evaluate("""async () => {
        const { Workflow } = window.blazen;
        const wf = new Workflow('soak');
        wf.addStep('a', ['blazen::StartEvent'], (e, ctx) => { ctx.set('n', e.n); return { type: 'B', n: e.n }; });
        wf.addStep('b', ['B'], async (e, ctx) => { ctx.session.set('live', { n: e.n }); return { type: 'C', n: e.n + 1 }; });
        wf.addStep('c', ['C'], (e, ctx) => ({ type: 'blazen::StopEvent', result: e.n + ctx.get('n') }));
        window.soak = async (count) => {
          let total = 0;
          for (let i = 0; i < count; i++) total += (await wf.run({ n: i })).data;
          return total;
        };
    }""")
    assert page.evaluate("() => window.soak(500)") == sum(2 * i + 1 for i in range(500))  # warm up
    wasm_before, heap_before = page.evaluate(MEASURE)
    assert page.evaluate(f"() => window.soak({RUNS})") == sum(2 * i + 1 for i in range(RUNS))
    wasm_after, heap_after = page.evaluate(MEASURE)
    growth = {"wasm": wasm_after - wasm_before, "js heap": heap_after - heap_before}
    print(f"memory growth over {RUNS} runs: {growth}")
    assert growth["wasm"] < LIMIT, growth
    assert growth["js heap"] < LIMIT, growth


def test_timers_fire_during_a_long_run_of_sync_js_steps(page: Any) -> None:
    fired_during_run, result = page.evaluate("""async () => {
        const { Workflow } = window.blazen;
        const wf = new Workflow('long');
        wf.addStep('loop', ['blazen::StartEvent', 'Again'], (e) =>
          (e.n ?? 0) >= 50000 ? { type: 'blazen::StopEvent', result: e.n } : { type: 'Again', n: (e.n ?? 0) + 1 });
        let running = true, firedWhileRunning = false;
        setTimeout(() => { firedWhileRunning = running; }, 5);
        const result = (await wf.run({})).data;
        running = false;
        return [firedWhileRunning, result];
    }""")
    assert result == 50000
    assert fired_during_run


def test_workflow_timeout_fires_during_an_endless_async_loop(page: Any) -> None:
    name = page.evaluate("""async () => {
        const { Workflow } = window.blazen;
        const wf = new Workflow('endless');
        wf.setTimeout(0.2);
        wf.addStep('loop', ['blazen::StartEvent', 'Again'], async () => ({ type: 'Again' }));
        try { await wf.run({}); return 'finished?'; } catch (e) { return e.name; }
    }""")
    assert name == "WorkflowTimeoutError"
