"""IndexedDB snapshot store, for Pyodide in a browser.

Each snapshot is kept as its JSON text under its key in one object store; every save is
one ``readwrite`` transaction, so a snapshot is either wholly there or not at all. The
small JS helper that wraps IndexedDB's request/event API in Promises is created on first
use (not at import: a memory snapshot of the interpreter may not hold JS objects other
than the ``js`` globals), and ``js.indexedDB`` is looked up only then.

A connection closed under the store (site data cleared: the browser closes it; another
tab deleting or upgrading the database: ``versionchange``, on which the store closes it
so that tab is not blocked) is noticed and opened again by the next operation.

One owner per run across tabs: :meth:`IndexedDBStore.claim` takes the Web Lock
``blazen_py:<database>:<key>`` (``navigator.locks``); it is held by the JS helper until
:meth:`~IndexedDBStore.release`, or until the tab closes or crashes (the browser
releases it). Saves and deletes given an owner token are refused unless it holds the lock.

Proxy ownership: no Python object is handed to JS, so no PyProxy is made. The store holds
JsProxies of its database handle and the helper and drops them in :meth:`close`; every
other JS value it receives is a string, a boolean or null.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pyodide.code import run_js  # type: ignore[import-not-found]
from pyodide.ffi import JsProxy, jsnull  # type: ignore[import-not-found,attr-defined,unused-ignore]

from ..errors import RunOwnedError, StoreError
from ..snapshot.format import dumps, loads

__all__ = ["IndexedDBStore"]

logger = logging.getLogger("blazen_py")

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
    let gaveUp = false;
    let blocked = null;
    request.onupgradeneeded = () => request.result.createObjectStore('snapshots');
    request.onsuccess = () => {
      clearTimeout(blocked);
      const db = request.result;
      if (gaveUp) { db.close(); return; }  // too late: the caller was told it failed
      // Another tab deleting or upgrading the database: close, so it is not blocked
      // forever; site data cleared: the browser closes it. Either way the next
      // operation opens it again.
      db.onversionchange = () => { db.close(); closed.add(db); };
      db.onclose = () => closed.add(db);
      resolve(db);
    };
    request.onerror = () => {
      clearTimeout(blocked);
      reject(request.error || new Error('indexedDB.open failed'));
    };
    // Blocked by a connection another tab keeps open: it may close soon (ours close on
    // versionchange), so wait a while before failing.
    request.onblocked = () => {
      blocked = setTimeout(() => {
        gaveUp = true;
        reject({ name: 'Blocked', message: 'database upgrade blocked by another tab for 10 s' });
      }, 10000);
    };
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
  const closed = new WeakSet();
  // Web Locks held by this store: lock name -> [owner token, release function]. The
  // browser releases a closed or crashed tab's locks by itself.
  const held = new Map();
  const claim = (name, owner, waitMs) => new Promise((resolve, reject) => {
    const mine = held.get(name);
    if (mine !== undefined) { resolve(mine[0] === owner); return; }
    const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
    if (!locks) { resolve('unavailable'); return; }
    const options = { mode: 'exclusive' };
    if (waitMs <= 0) options.ifAvailable = true;
    else if (Number.isFinite(waitMs)) options.signal = AbortSignal.timeout(waitMs);
    locks.request(name, options, (lock) => {
      if (lock === null) { resolve(false); return undefined; }
      if (held.has(name)) { resolve(held.get(name)[0] === owner); return undefined; }
      return new Promise((release) => { held.set(name, [owner, release]); resolve(true); });
    }).catch((error) => {
      if (error && (error.name === 'TimeoutError' || error.name === 'AbortError')) resolve(false);
      else reject(error);
    });
  });
  const release = (name, owner) => {
    const mine = held.get(name);
    if (mine !== undefined && mine[0] === owner) { held.delete(name); mine[1](); }
    return null;
  };
  const holds = (name, owner) => {
    const mine = held.get(name);
    return mine !== undefined && mine[0] === owner;
  };
  return {
    open: guarded(open),
    isClosed: (db) => closed.has(db),
    claim: guarded(claim),
    release: guarded(release),
    holds,
    put: guarded((db, key, text) => run(db, 'readwrite', (s) => s.put(text, key))),
    get: guarded((db, key) => run(db, 'readonly', (s) => s.get(key))),
    keys: guarded((db) => run(db, 'readonly', (s) => s.getAllKeys()).then((k) => JSON.stringify(k || []))),
    del: guarded((db, key) => run(db, 'readwrite', (s) => s.delete(key))),
    close: (db) => { if (db !== null) { db.close(); closed.add(db); } },
    releaseAll: () => { for (const [, release] of held.values()) release(); held.clear(); },
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

    __slots__ = ("_db", "_helper", "_name", "_unlocked")

    lease: float | None = None
    """Claims are Web Locks: held until released, or until the tab closes or crashes."""

    def __init__(self, name: str = "blazen_py") -> None:
        if not isinstance(name, str) or not name:
            raise StoreError(f"an IndexedDB store name must be a non-empty string, got {name!r}")
        self._name = name
        self._helper: Any = None
        self._db: Any = None
        self._unlocked: set[str] = set()  # keys claimed where Web Locks do not exist

    @property
    def name(self) -> str:
        """The database name."""
        return self._name

    def _js(self) -> Any:
        if self._helper is None:
            self._helper = run_js(_HELPER_SOURCE)
        return self._helper

    async def _open(self) -> Any:
        helper = self._js()
        if self._db is not None and helper.isClosed(self._db):
            self._db = None  # closed under us (site data cleared, another tab's upgrade)
        if self._db is None:
            self._db = await self._call("open", self._name)
        return self._db

    async def _on_db(self, method: str, *args: Any) -> Any:
        """``method`` on the open database; once more on a fresh connection if the old
        one turned out to be closing (closed between the check and the transaction)."""
        db = await self._open()
        try:
            return await self._call(method, db, *args)
        except StoreError as exc:
            if "InvalidStateError" not in str(exc) and not self._js().isClosed(db):
                raise
        self._db = None
        return await self._call(method, await self._open(), *args)

    async def _call(self, method: str, *args: Any) -> Any:
        outcome = await getattr(self._js(), method)(*args)
        error, value = outcome[0], outcome[1]
        if error is not None and error is not jsnull:
            raise StoreError(_describe(str(error), str(value), method, self._name))
        return value

    async def save(self, key: str, snapshot: Mapping[str, Any], *, owner: str | None = None) -> None:
        """Store ``snapshot`` under ``key`` in one transaction, replacing any previous one
        (with ``owner``: only while ``owner`` holds the key's Web Lock)."""
        _check_key(key)
        try:
            text = dumps(snapshot)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"snapshot for {key!r} is not JSON data: {exc}") from exc
        if owner is not None and not self._holds(key, owner):
            raise RunOwnedError(f"run {key!r} is no longer owned by this tab: not saved", run_id=key)
        await self._on_db("put", key, text)

    async def load(self, key: str) -> dict[str, Any] | None:
        """Return the snapshot stored under ``key``, or ``None``."""
        _check_key(key)
        text = await self._on_db("get", key)
        if text is None or text is jsnull:  # IndexedDB answers a missing key with null
            return None
        if isinstance(text, JsProxy):  # something other than our JSON text was stored there
            raise StoreError(f"IndexedDB {self._name!r} holds a non-text value under {key!r}")
        data = loads(text)
        return data if isinstance(data, dict) else None

    async def list(self) -> list[str]:
        """Return the stored keys, sorted."""
        text = await self._on_db("keys")
        keys = loads(text)
        return sorted(k for k in keys if isinstance(k, str))

    async def delete(self, key: str, *, owner: str | None = None) -> None:
        """Remove ``key``; a missing key is not an error (with ``owner``: only while
        ``owner`` holds the key's Web Lock)."""
        _check_key(key)
        if owner is not None and not self._holds(key, owner):
            raise RunOwnedError(f"run {key!r} is not owned by this tab: not deleted", run_id=key)
        await self._on_db("del", key)

    def _lock_name(self, key: str) -> str:
        return f"blazen_py:{self._name}:{key}"

    def _holds(self, key: str, owner: str) -> bool:
        return key in self._unlocked or bool(self._js().holds(self._lock_name(key), owner))

    async def claim(self, key: str, owner: str, *, wait: float = 0.0) -> bool:
        """Take the Web Lock of ``key`` (``navigator.locks``) for ``owner``, waiting up to
        ``wait`` seconds. Without Web Locks (not a secure context) the claim always
        succeeds and guards nothing beyond this page."""
        _check_key(key)
        wait_ms = wait * 1000 if wait != float("inf") else float("inf")
        got = await self._call("claim", self._lock_name(key), owner, wait_ms)
        if got == "unavailable":
            if not self._unlocked:
                logger.warning(
                    "no Web Locks here (not a secure context?): durable runs in IndexedDB %r are "
                    "guarded against a second owner within this page only",
                    self._name,
                )
            self._unlocked.add(key)
            return True
        return got is True

    async def release(self, key: str, owner: str) -> None:
        """Release ``owner``'s Web Lock of ``key``."""
        self._unlocked.discard(key)
        await self._call("release", self._lock_name(key), owner)

    def close(self) -> None:
        """Close the database, release its Web Locks and the JS objects this store holds
        (a later operation opens the database again)."""
        # Dropping a JsProxy releases its JS object; there is nothing to destroy by hand.
        if self._helper is not None:
            self._helper.releaseAll()  # the Web Locks this store holds: their runs end here
            if self._db is not None:
                self._helper.close(self._db)
        self._db = None
        self._helper = None
        self._unlocked.clear()

    def __repr__(self) -> str:
        return f"IndexedDBStore({self._name!r})"


_ACTIONS = {
    "open": "open",
    "put": "save to",
    "get": "load from",
    "keys": "list",
    "del": "delete from",
    "claim": "lock a run in",
    "release": "unlock a run in",
}


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
