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

from pyodide.code import run_js  # type: ignore[import-not-found]
from pyodide.ffi import JsProxy, jsnull  # type: ignore[import-not-found,attr-defined,unused-ignore]

from ..errors import StoreError
from ..snapshot.format import dumps, loads

__all__ = ["IndexedDBStore"]

_STORE = "snapshots"

_HELPER_SOURCE = """
(() => {
  // Every method resolves to [null, value] or [errorName, message]; it never rejects.
  // (Awaiting, from Python, a promise that IndexedDB rejected with its own DOMException
  // was seen to hang in Chromium when the origin is over quota.)
  const settle = (promise) => promise.then(
    (value) => [null, value === undefined ? null : value],
    (error) => [String((error && error.name) || 'Error'), String((error && error.message) || error)],
  );
  const open = (name) => new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined' || indexedDB === null) {
      reject({ name: 'Unavailable', message: 'IndexedDB is not available in this context' });
      return;
    }
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => request.result.createObjectStore('snapshots');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error || new Error('indexedDB.open failed'));
    request.onblocked = () => reject({ name: 'Blocked', message: 'database upgrade blocked by another tab' });
  });
  const run = (db, mode, action) => new Promise((resolve, reject) => {
    const tx = db.transaction('snapshots', mode);
    let result = null;
    const request = action(tx.objectStore('snapshots'));
    request.onsuccess = () => { result = request.result; };
    tx.oncomplete = () => resolve(result);
    // A failed request aborts the transaction: report once, on abort, with tx.error.
    tx.onabort = () => reject(tx.error || { name: 'AbortError', message: 'transaction aborted' });
  });
  const guarded = (fn) => (...args) => settle(new Promise((resolve) => resolve(fn(...args))));
  return {
    open: guarded(open),
    put: guarded((db, key, text) => run(db, 'readwrite', (s) => s.put(text, key))),
    get: guarded((db, key) => run(db, 'readonly', (s) => s.get(key))),
    keys: guarded((db) => run(db, 'readonly', (s) => s.getAllKeys()).then((k) => JSON.stringify(k || []))),
    del: guarded((db, key) => run(db, 'readwrite', (s) => s.delete(key))),
    close: (db) => db.close(),
  };
})()
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
        outcome = await getattr(self._helper, method)(*args)
        error, value = outcome[0], outcome[1]
        if error is not None and error is not jsnull:
            raise StoreError(_describe(str(error), str(value), method, self._name))
        return value

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


def _describe(kind: str, message: str, method: str, name: str) -> str:
    action = _ACTIONS[method]
    if kind == "QuotaExceededError":
        return f"IndexedDB {name!r} is over its storage quota; could not {action} it"
    if kind == "Unavailable":
        return "IndexedDB is not available here (not a browser page, or storage is disabled)"
    return f"could not {action} IndexedDB {name!r}: {kind}: {message}"


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise StoreError(f"a snapshot key must be a non-empty string, got {key!r}")
