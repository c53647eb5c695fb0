"""The IndexedDB snapshot store: real IndexedDB in Chromium (through the Pyodide tier),
a clear error where there is none (CPython, Node)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

import pytest

import blazen_py
from blazen_py import START_EVENT, STOP_EVENT, StoreError, Workflow, WorkflowBuilder

PORTABLE = True


def _has_indexeddb() -> bool:
    if sys.platform != "emscripten":
        return False
    import js  # type: ignore[import-not-found]

    return hasattr(js, "indexedDB") and js.indexedDB is not None


HAS_IDB = _has_indexeddb()
needs_idb = pytest.mark.skipif(not HAS_IDB, reason="IndexedDB exists only in a browser page")


@pytest.mark.skipif(sys.platform == "emscripten", reason="CPython behaviour")
def test_cpython_has_no_indexeddb_and_says_so() -> None:
    with pytest.raises(StoreError, match="needs a browser"):
        blazen_py.IndexedDBStore("x")


@pytest.mark.skipif(sys.platform != "emscripten" or HAS_IDB, reason="Pyodide without IndexedDB (Node)")
async def test_pyodide_without_indexeddb_fails_clearly_on_use() -> None:
    store = blazen_py.IndexedDBStore("x")
    with pytest.raises(StoreError, match="IndexedDB is not available"):
        await store.list()


@needs_idb
async def test_save_load_list_delete_in_real_indexeddb() -> None:
    store = blazen_py.IndexedDBStore(f"test-{uuid.uuid4()}")
    try:
        assert await store.list() == []
        assert await store.load("a") is None
        await store.save("b", {"x": [1, 2], "s": "ü"})
        await store.save("a", {"y": None})
        assert await store.list() == ["a", "b"]
        assert await store.load("b") == {"x": [1, 2], "s": "ü"}
        await store.save("b", {"x": "replaced"})
        assert await store.load("b") == {"x": "replaced"}
        await store.delete("b")
        await store.delete("b")
        assert await store.list() == ["a"]
        with pytest.raises(StoreError, match="not JSON data"):
            await store.save("bad", {"x": object()})
    finally:
        store.close()


def builder() -> WorkflowBuilder:
    b = WorkflowBuilder("idb-resume")

    async def first(event, ctx):
        ctx.set("blob", b"\x01\x02")
        await asyncio.sleep(0.01)
        return {"type": "Second"}

    def second(event, ctx):
        return {"type": STOP_EVENT, "result": {"blob": ctx.get("blob"), "n": 2}}

    b.add_step("first", [START_EVENT], first)
    b.add_step("second", ["Second"], second)
    return b


@needs_idb
async def test_pause_save_to_indexeddb_load_in_new_store_and_resume() -> None:
    name = f"test-{uuid.uuid4()}"
    handler = await builder().build().run_with_handler()
    await asyncio.sleep(0)
    snap = await handler.pause()
    handler.abort()
    store = blazen_py.IndexedDBStore(name)
    await store.save(handler.run_id, snap)
    store.close()
    again = blazen_py.IndexedDBStore(name)
    try:
        loaded = await again.load(handler.run_id)
        assert json.dumps(loaded, sort_keys=True) == json.dumps(snap, sort_keys=True)
        resumed = await Workflow.from_builder(builder()).resume(loaded)
        assert (await resumed.result()).data == {"blob": b"\x01\x02", "n": 2}
    finally:
        await again.delete(handler.run_id)
        again.close()


async def _delete_database(name: str) -> str:
    """Delete database ``name`` from JS, as another tab would: 'deleted' or 'blocked'."""
    from pyodide.code import run_js  # type: ignore[import-not-found]

    remove = run_js(
        """(name) => new Promise((resolve) => {
          const request = indexedDB.deleteDatabase(name);
          request.onsuccess = () => resolve('deleted');
          request.onerror = () => resolve('error');
          request.onblocked = () => setTimeout(() => resolve('blocked'), 2000);
        })"""
    )
    return str(await asyncio.wait_for(remove(name), 10))


@needs_idb
async def test_another_tabs_delete_is_not_blocked_and_the_store_reopens() -> None:
    name = f"test-{uuid.uuid4()}"
    store = blazen_py.IndexedDBStore(name)
    try:
        await store.save("a", {"v": 1})
        # Our open connection gets versionchange and closes, so the delete goes through.
        assert await _delete_database(name) == "deleted"
        assert await store.list() == []  # a fresh database, opened again without a reload
        await store.save("b", {"v": 2})
        assert await store.load("b") == {"v": 2}
        assert await _delete_database(name) == "deleted"
        await store.save("c", {"v": 3})  # the first operation after the delete is a write
        assert await store.list() == ["c"]
    finally:
        store.close()


@needs_idb
async def test_a_durable_run_after_the_database_was_deleted_works_without_a_reload() -> None:
    name = f"test-{uuid.uuid4()}"
    store = blazen_py.IndexedDBStore(name)
    wf = builder().build()
    try:
        assert (await wf.run({}, checkpoint=store)).data["n"] == 2
        assert await _delete_database(name) == "deleted"
        assert (await wf.run({}, checkpoint=store)).data["n"] == 2
        assert await store.list() == []
    finally:
        store.close()


@needs_idb
async def test_web_locks_give_one_owner_per_key() -> None:
    name = f"test-{uuid.uuid4()}"
    mine, theirs = blazen_py.IndexedDBStore(name), blazen_py.IndexedDBStore(name)
    assert isinstance(mine, blazen_py.ClaimingStore)
    assert mine.lease is None
    try:
        assert await mine.claim("r", "a")
        assert await mine.claim("r", "a")  # held already: still ours
        assert not await mine.claim("r", "b")
        assert not await theirs.claim("r", "c")  # another holder of the same lock name: refused
        await mine.save("r", {"v": 1}, owner="a")
        with pytest.raises(blazen_py.RunOwnedError, match="no longer owned"):
            await theirs.save("r", {"v": 2}, owner="c")
        with pytest.raises(blazen_py.RunOwnedError):
            await theirs.delete("r", owner="c")
        waiting = asyncio.ensure_future(theirs.claim("r", "c", wait=5))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await mine.release("r", "a")
        assert await asyncio.wait_for(waiting, 5)
        assert not await mine.claim("r", "a", wait=0.05)  # a bounded wait gives up
        await theirs.save("r", {"v": 3}, owner="c")
        assert await mine.load("r") == {"v": 3}
        theirs.close()  # closing the store releases its locks (the browser does so soon after)
        assert await mine.claim("r", "a", wait=5)
    finally:
        mine.close()
        theirs.close()


@needs_idb
async def test_two_resumes_with_indexeddb_run_the_run_once() -> None:
    name = f"test-{uuid.uuid4()}"
    store = blazen_py.IndexedDBStore(name)
    gate = asyncio.Event()
    executions: list[str] = []

    def gated() -> WorkflowBuilder:
        b = WorkflowBuilder("idb-owned")

        async def first(event, ctx):
            executions.append("first")
            await gate.wait()
            return {"type": STOP_EVENT, "result": "done"}

        b.add_step("first", [START_EVENT], first)
        return b

    try:
        handler = await gated().build().run_with_handler(checkpoint=store)
        assert await store.list() == [handler.run_id]  # saved before its first step
        # The same page's second owner: refused (in-process); another page would get the
        # Web Lock refusal (tests/browser/test_durable_reload.py).
        with pytest.raises(blazen_py.RunOwnedError):
            await gated().build().resume_checkpoint(store, handler.run_id)
        gate.set()
        assert (await handler.result()).data == "done"
        assert executions == ["first"]
        assert await store.list() == []
        assert await store.claim(handler.run_id, "next", wait=5)  # released at the end
    finally:
        store.close()


@needs_idb
async def test_without_web_locks_claims_fall_back_to_this_page() -> None:
    from pyodide.code import run_js  # type: ignore[import-not-found]

    hide = run_js("() => Object.defineProperty(navigator, 'locks', { value: undefined, configurable: true })")
    show = run_js("() => delete navigator.locks")
    store = blazen_py.IndexedDBStore(f"test-{uuid.uuid4()}")
    hide()
    try:
        assert await store.claim("r", "a")  # nothing to lock with: the claim is not refused
        await store.save("r", {"v": 1}, owner="a")
        wf = builder().build()
        assert (await wf.run({}, checkpoint=store)).data["n"] == 2  # durable runs still work
        await store.release("r", "a")
        with pytest.raises(blazen_py.RunOwnedError):
            await store.save("r", {"v": 2}, owner="a")  # released: no longer this owner's
    finally:
        show()
        store.close()
    run_js("() => { if (!navigator.locks) throw new Error('navigator.locks not restored'); }")()
