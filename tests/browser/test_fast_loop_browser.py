"""``init({fastLoop: true})``: blazen.js installs the fast loop (blazen_py.install_fast_loop),
and workflows of both languages run on it as before (tests/python/test_fast_loop.py tests
the loop itself, in this Chromium too, through the pyodide tier)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from jspage import JsPage, booted_js_page

INSTALLED = "from blazen_py._compat import _fast_loop; _fast_loop.installed()"
# BLAZEN_FAST_LOOP=1 (tests/browser/conftest.py): every page boots with fastLoop: true.
TIER_FAST_LOOP = os.environ.get("BLAZEN_FAST_LOOP", "") == "1"


@pytest.fixture(scope="module")
def js(browser: Any, origin: str) -> Iterator[JsPage]:
    with booted_js_page(browser, origin) as page:
        yield page


def test_init_installs_the_fast_loop_once(js: JsPage) -> None:
    out = js.value(
        f"""const py = await init();
        const before = py.runPython({INSTALLED!r});
        await init({{ fastLoop: true }});
        const after = py.runPython({INSTALLED!r});
        await init({{ fastLoop: true }});  // idempotent
        const again = py.runPython('import blazen_py; blazen_py.install_fast_loop()');
        return [before, after, again];"""
    )["value"]
    assert out == [TIER_FAST_LOOP, True, False]


def test_init_refuses_a_fast_loop_that_is_not_a_boolean(js: JsPage) -> None:
    out = js.run("await init({ fastLoop: 'yes' });")
    assert out["error"]["blazen"] is True
    assert out["error"]["message"] == "init: fastLoop must be true or false, got string"


def test_workflows_of_both_languages_run_on_the_fast_loop(js: JsPage) -> None:
    out = js.value(
        """const py = await init({ fastLoop: true });
        // JS steps, sync and async (Promises settled by JS timers), and a fan-out.
        const wf = new Workflow('js-on-fast-loop');
        wf.addStep('split', ['blazen::StartEvent'], (ev) =>
          Array.from({ length: 20 }, (_, i) => ({ type: 'Work', i })));
        wf.addStep('work', ['Work'], async (ev) => {
          await new Promise((resolve) => setTimeout(resolve, ev.i % 3));
          return { type: 'Done', i: ev.i };
        });
        wf.addStep('join', ['Done'], async (ev, ctx) => {
          const seen = ((await ctx.get('seen')) ?? 0) + 1;
          await ctx.set('seen', seen);
          return seen === 20 ? { type: 'blazen::StopEvent', result: seen } : undefined;
        });
        const jsResult = (await wf.run({})).data;
        // Python steps that suspend, with a Task of their own and a timer.
        const pyResult = await py.runPythonAsync(`
import asyncio
from blazen_py import START_EVENT, STOP_EVENT, Workflow

wf = Workflow("py-on-fast-loop")

async def ping(event, ctx):
    i = event.get("i", 0)
    await asyncio.sleep(0)
    if i % 100 == 0:
        await asyncio.sleep(0.001)
    i += 1
    return {"type": STOP_EVENT, "result": i} if i >= 2000 else {"type": "Ping", "i": i}

wf.add_step("ping", [START_EVENT, "Ping"], ping, inline=False)
(await wf.run()).data
`);
        return [jsResult, pyResult, py.runPython(INSTALLED)];""".replace("INSTALLED", repr(INSTALLED))
    )["value"]
    assert out == [20, 2000, True]
