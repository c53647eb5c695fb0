"""A ClaimingStore on SQLite, as a server store would implement the protocol: the claim
is one compare-and-set statement, saves and deletes check the owner in the same
transaction. Used by tests/python/test_checkpoint_processes.py across real processes."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Mapping
from contextlib import closing
from typing import Any

from blazen_py import RunOwnedError
from blazen_py.snapshot.format import dumps, loads

SCHEMA = """
create table if not exists snapshots (key text primary key, body text not null);
create table if not exists claims (key text primary key, owner text not null, expires real not null);
create table if not exists executions (worker text not null, step integer not null, at real not null);
"""


class SqliteStore:
    """Snapshots and claims in one SQLite file shared by several processes."""

    def __init__(self, path: str, *, lease: float = 30.0) -> None:
        self.path = path
        self.lease: float | None = lease
        with closing(self._connect()) as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def _transaction(self, work: Any) -> Any:
        db = self._connect()
        try:
            db.execute("begin immediate")
            try:
                out = work(db)
            except BaseException:
                db.execute("rollback")
                raise
            db.execute("commit")
            return out
        finally:
            db.close()

    def _check_owner(self, db: sqlite3.Connection, key: str, owner: str, *, missing_ok: bool) -> None:
        row = db.execute("select owner from claims where key = ?", (key,)).fetchone()
        if row is None and missing_ok:
            return
        if row is None or row[0] != owner:
            raise RunOwnedError(f"run {key!r} is no longer owned by this process", run_id=key)

    async def save(self, key: str, snapshot: Mapping[str, Any], *, owner: str | None = None) -> None:
        body = dumps(snapshot)

        def work(db: sqlite3.Connection) -> None:
            if owner is not None:
                self._check_owner(db, key, owner, missing_ok=False)
                expires = time.time() + (self.lease or 0)
                db.execute("update claims set expires = ? where key = ?", (expires, key))
            db.execute("insert or replace into snapshots values (?, ?)", (key, body))

        self._transaction(work)

    async def load(self, key: str) -> dict[str, Any] | None:
        with closing(self._connect()) as db:
            row = db.execute("select body from snapshots where key = ?", (key,)).fetchone()
        return None if row is None else loads(row[0])

    async def list(self) -> list[str]:
        with closing(self._connect()) as db:
            return sorted(r[0] for r in db.execute("select key from snapshots"))

    async def delete(self, key: str, *, owner: str | None = None) -> None:
        def work(db: sqlite3.Connection) -> None:
            if owner is not None:
                self._check_owner(db, key, owner, missing_ok=True)
            db.execute("delete from snapshots where key = ?", (key,))

        self._transaction(work)

    async def claim(self, key: str, owner: str, *, wait: float = 0.0) -> bool:
        deadline = time.monotonic() + wait
        while True:
            now = time.time()

            def work(db: sqlite3.Connection, now: float = now) -> int:
                # The compare-and-set: take the key if free, expired, or already ours.
                cursor = db.execute(
                    "insert into claims values (?, ?, ?) on conflict(key) do update"
                    " set owner = excluded.owner, expires = excluded.expires"
                    " where claims.owner = excluded.owner or claims.expires <= ?",
                    (key, owner, now + (self.lease or 0), now),
                )
                return cursor.rowcount

            if self._transaction(work) == 1:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)

    async def release(self, key: str, owner: str) -> None:
        query = "delete from claims where key = ? and owner = ?"
        self._transaction(lambda db: db.execute(query, (key, owner)))

    def executions(self) -> list[tuple[str, int]]:
        return [(w, s) for w, s, _ in self.executions_at()]

    def executions_at(self) -> list[tuple[str, int, float]]:
        """(worker, step, wall-clock time) of every step execution, in order."""
        with closing(self._connect()) as db:
            return list(db.execute("select worker, step, at from executions order by at, rowid"))
