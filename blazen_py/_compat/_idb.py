"""IndexedDB snapshot store, for Pyodide in a browser.

Each snapshot is kept as its JSON text under its key in one object store; every save is
one ``readwrite`` transaction, so a snapshot is either wholly there or not at all. The
small JS helper that wraps IndexedDB's request/event API in Promises is created on first
use (not at import: a memory snapshot of the interpreter may not hold JS objects other
than the ``js`` globals), and ``js.indexedDB`` is looked up only then.

Proxy ownership: no Python object is handed to JS, so no PyProxy is made. The store holds
JsProxies of its database handle and the helper and drops them in :meth:`close`; every
other JS value it receives is a string or null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyodide.code import run_js
from pyodide.ffi import JsException, JsProxy, jsnull  # type: ignore[attr-defined,unused-ignore]

from ..errors import StoreError
from ..snapshot import dumps, loads

__all__ = ["IndexedDBStore"]

_STORE = "snapshots"

_HELPER_SOURCE = """
({
  open(name) {
    return new Promise((resolve, reject) => {
      if (typeof indexedDB === 'undefined' || indexedDB === null) {
        reject(Object.assign(new Error('IndexedDB is not available in this context'), {name: 'Unavailable'}));
        return;
      }
      let request;
      try { request = indexedDB.open(name, 1); } catch (e) { reject(e); return; }
      request.onupgradeneeded = () => request.result.createObjectStore('snapshots');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
      request.onblocked = () =>
        reject(Object.assign(new Error('database upgrade blocked by another tab'), {name: 'Blocked'}));
    });
  },
  run(db, mode, action) {
    return new Promise((resolve, reject) => {
      let tx, result;
      try {
        tx = db.transaction('snapshots', mode);
        const request = action(tx.objectStore('snapshots'));
        if (request) request.onsuccess = () => { result = request.result; };
      } catch (e) { reject(e); return; }
      tx.oncomplete = () => resolve(result === undefined ? null : result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () =>
        reject(tx.error || Object.assign(new Error('transaction aborted'), {name: 'AbortError'}));
    });
  },
  put(db, key, text) { return this.run(db, 'readwrite', (s) => s.put(text, key)); },
  get(db, key) { return this.run(db, 'readonly', (s) => s.get(key)); },
  keys(db) { return this.run(db, 'readonly', (s) => s.getAllKeys()).then((k) => JSON.stringify(k || [])); },
  del(db, key) { return this.run(db, 'readwrite', (s) => s.delete(key)); },
  close(db) { db.close(); },
})
"""


class IndexedDBStore:
    """A :class:`~blazen_py.SnapshotStore` backed by the browser's IndexedDB.

    Args:
        name: The IndexedDB database name (one database per store name).

    Snapshots survive page reloads and browser restarts with the same profile. Raises
    :class:`StoreError` when IndexedDB is unavailable, over quota, or fails.
    """

    __slots__ = ("_db", "_helper", "_name")

    def __init__(self, name: str = "blazen_py") -> None:
        if not isinstance(name, str) or not name:
            raise StoreError(f"an IndexedDB store name must be a non-empty string, got {name!r}")
        self._name = name
        self._helper: Any = None
        self._db: Any = None

    @property
    def name(self) -> str:
        """The database name."""
        return self._name

    async def _open(self) -> Any:
        if self._db is None:
            if self._helper is None:
                self._helper = run_js(_HELPER_SOURCE)
            self._db = await self._call("open", self._name)
        return self._db

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self._helper, method)(*args)
        except JsException as exc:
            raise StoreError(_describe(exc, method, self._name)) from None

    async def save(self, key: str, snapshot: Mapping[str, Any]) -> None:
        """Store ``snapshot`` under ``key`` in one transaction, replacing any previous one."""
        _check_key(key)
        try:
            text = dumps(snapshot)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"snapshot for {key!r} is not JSON data: {exc}") from exc
        await self._call("put", await self._open(), key, text)

    async def load(self, key: str) -> dict[str, Any] | None:
        """Return the snapshot stored under ``key``, or ``None``."""
        _check_key(key)
        text = await self._call("get", await self._open(), key)
        if text is None or text is jsnull:  # IndexedDB answers a missing key with null
            return None
        if isinstance(text, JsProxy):  # something other than our JSON text was stored there
            raise StoreError(f"IndexedDB {self._name!r} holds a non-text value under {key!r}")
        data = loads(text)
        return data if isinstance(data, dict) else None

    async def list(self) -> list[str]:
        """Return the stored keys, sorted."""
        text = await self._call("keys", await self._open())
        keys = loads(text)
        return sorted(k for k in keys if isinstance(k, str))

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        _check_key(key)
        await self._call("del", await self._open(), key)

    def close(self) -> None:
        """Close the database and release the JS objects this store holds."""
        # Dropping a JsProxy releases its JS object; there is nothing to destroy by hand.
        if self._db is not None:
            self._helper.close(self._db)
            self._db = None
        self._helper = None

    def __repr__(self) -> str:
        return f"IndexedDBStore({self._name!r})"


_ACTIONS = {"open": "open", "put": "save to", "get": "load from", "keys": "list", "del": "delete from"}


def _describe(exc: JsException, method: str, name: str) -> str:
    kind = getattr(exc, "name", "") or type(exc).__name__
    action = _ACTIONS[method]
    if kind == "QuotaExceededError":
        return f"IndexedDB {name!r} is over its storage quota; could not {action} it"
    if kind == "Unavailable":
        return "IndexedDB is not available here (not a browser page, or storage is disabled)"
    return f"could not {action} IndexedDB {name!r}: {kind}: {getattr(exc, 'message', exc)}"


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise StoreError(f"a snapshot key must be a non-empty string, got {key!r}")
