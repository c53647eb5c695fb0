"""Snapshot stores."""

from __future__ import annotations

import pytest

from blazen_py import MemoryStore, SnapshotStore, StoreError

PORTABLE = True


async def test_memory_store_save_load_list_delete() -> None:
    store = MemoryStore()
    assert isinstance(store, SnapshotStore)
    assert await store.load("a") is None
    await store.save("b", {"x": [1, 2]})
    await store.save("a", {"y": None})
    assert await store.list() == ["a", "b"]
    loaded = await store.load("b")
    assert loaded == {"x": [1, 2]}
    loaded["x"].append(3)
    assert await store.load("b") == {"x": [1, 2]}
    await store.save("b", {"x": "replaced"})
    assert await store.load("b") == {"x": "replaced"}
    await store.delete("b")
    await store.delete("b")
    assert await store.list() == ["a"]


async def test_memory_store_rejects_bad_keys_and_non_json() -> None:
    store = MemoryStore()
    with pytest.raises(StoreError, match="non-empty string"):
        await store.save("", {})
    with pytest.raises(StoreError, match="not JSON data"):
        await store.save("k", {"x": object()})
    with pytest.raises(StoreError, match="not JSON data"):
        await store.save("k", {"x": float("nan")})
    assert await store.list() == []
