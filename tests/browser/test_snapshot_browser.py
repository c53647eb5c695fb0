"""Snapshots across a page reload and across runtimes.

In headless Chromium: run, pause, save to IndexedDB, reload the page, load, resume, and
get the result of the run that was never interrupted. A snapshot made in Chromium resumes
on CPython, and one made on CPython resumes in Chromium.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

# One workflow, defined once, run by CPython (here) and by Pyodide (in the page).
WORKFLOW = """
import asyncio, json
from blazen_py import INPUT_REQUEST_EVENT, INPUT_RESPONSE_EVENT, START_EVENT, STOP_EVENT, WorkflowBuilder

def make_builder():
    b = WorkflowBuilder("portable")

    async def start(event, ctx):
        ctx.set("blob", bytes(range(8)))
        ctx.set("n", event["n"])
        return [{"type": "Work", "i": i} for i in range(event["n"])]

    async def work(event, ctx):
        await asyncio.sleep(0.02)
        return {"type": "Done", "i": event["i"] * 2}

    def join(event, ctx):
        got = sorted((ctx.get("got") or []) + [event["i"]])
        ctx.set("got", got)
        if len(got) == ctx.get("n"):
            return {"type": INPUT_REQUEST_EVENT, "prompt": "ok?", "metadata": {"sum": sum(got)}}

    def finish(event, ctx):
        got = ctx.get("got")
        return {"type": STOP_EVENT, "result": {"got": got, "answer": event["response"], "blob": list(ctx.get("blob"))}}

    b.add_step("start", [START_EVENT], start)
    b.add_step("work", ["Work"], work)
    b.add_step("join", ["Done"], join)
    b.add_step("finish", [INPUT_RESPONSE_EVENT], finish)
    return b

async def answer_all(handler):
    async for item in handler.events():
        if item.event_type == "InputRequested":
            handler.respond_to_input(item["request_id"], "yes")
    return (await handler.result()).data

async def paused_snapshot():
    handler = await make_builder().build().run_with_handler({"n": 5})
    await asyncio.sleep(0.005)
    snap = await handler.pause()
    handler.abort()
    assert [e["type"] for e in snap["queue"]] == ["Done"] * 5, "expected the pause mid-run"
    return handler.run_id, json.dumps(snap)

async def resume_text(text):
    handler = await make_builder().build().resume(text)
    return await answer_all(handler)
"""

EXPECTED = {"got": [0, 2, 4, 6, 8], "answer": "yes", "blob": [0, 1, 2, 3, 4, 5, 6, 7]}


def cpython_namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(WORKFLOW, "<workflow>", "exec"), namespace)  # test code defined above, not data
    return namespace


def on_cpython(coro: Any) -> Any:
    """Run a coroutine to completion on CPython, in a thread: Playwright's sync API keeps
    an event loop running in this one."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_uninterrupted_result_on_cpython() -> None:
    ns = cpython_namespace()

    async def run() -> Any:
        return await ns["answer_all"](await ns["make_builder"]().build().run_with_handler({"n": 5}))

    assert on_cpython(run()) == EXPECTED


def in_page(page: Any, code: str, **values: str) -> Any:
    """Boot blazen.js (once per page), define the workflow, run ``code`` (async Python)."""
    return page.evaluate(
        """async ([workflow, code, values]) => {
            const { default: init } = await import('/blazen.js');
            const pyodide = await init();
            const globals = pyodide.toPy(values);
            try {
                await pyodide.runPythonAsync(workflow, { globals });
                return await pyodide.runPythonAsync(code, { globals });
            } finally {
                globals.destroy();
            }
        }""",
        [WORKFLOW, code, values],
    )


@pytest.fixture
def page(browser: Any, origin: str) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(origin + "_test/blank.html")
    yield page
    context.close()


def test_pause_save_to_indexeddb_reload_load_resume(page: Any) -> None:
    saved = in_page(
        page,
        """
from blazen_py import IndexedDBStore
run_id, text = await paused_snapshot()
store = IndexedDBStore("reload-test")
await store.save(run_id, json.loads(text))
store.close()
json.dumps([run_id, text])
""",
    )
    run_id, text = json.loads(saved)
    page.reload()
    result = in_page(
        page,
        """
from blazen_py import IndexedDBStore
store = IndexedDBStore("reload-test")
snap = await store.load(RUN_ID)
await store.delete(RUN_ID)
result = await resume_text(json.dumps(snap))
json.dumps([result, await store.list(), json.dumps(snap, sort_keys=True) == json.dumps(json.loads(TEXT), sort_keys=True)])
""",
        RUN_ID=run_id,
        TEXT=text,
    )
    data, left, same = json.loads(result)
    assert data == EXPECTED
    assert run_id not in left
    assert same


def test_snapshot_from_chromium_resumes_on_cpython(page: Any) -> None:
    _, text = json.loads(in_page(page, "json.dumps(await paused_snapshot())"))
    ns = cpython_namespace()
    assert on_cpython(ns["resume_text"](text)) == EXPECTED


def test_snapshot_from_cpython_resumes_in_chromium(page: Any) -> None:
    ns = cpython_namespace()
    _, text = on_cpython(ns["paused_snapshot"]())
    result = in_page(page, "json.dumps(await resume_text(TEXT))", TEXT=text)
    assert json.loads(result) == EXPECTED
