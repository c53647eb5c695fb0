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
