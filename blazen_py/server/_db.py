"""blazen_py's own two tables, in the DBOS system database (SQLite file or Postgres).

* ``blazen_checkpoints``: the latest snapshot of each durable run, by run id
  (:class:`DatabaseStore`, a :class:`~blazen_py.stores.SnapshotStore`).
* ``blazen_inbox``: what callers sent to a run (input answers, an abort), one row per
  (run id, key). The primary key makes each answer exactly-once: a second answer to the
  same request is refused by the database, whichever worker or front end receives it.

DBOS keeps its own tables (workflows, steps, queues, streams) in the same database; ours
sit beside them so one URL is the whole deployment. Calls are blocking (SQLAlchemy); the
async methods run them in a thread so a run's event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ..errors import StoreError
from ..snapshot import dumps, loads

__all__ = ["Database", "DatabaseStore", "engine_url"]

_METADATA = sa.MetaData()
CHECKPOINTS = sa.Table(
    "blazen_checkpoints",
    _METADATA,
    sa.Column("run_id", sa.String(200), primary_key=True),
    sa.Column("workflow", sa.String(200), nullable=False),
    sa.Column("snapshot", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
INBOX = sa.Table(
    "blazen_inbox",
    _METADATA,
    sa.Column("run_id", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for a DBOS database URL (Postgres through psycopg 3, as DBOS)."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """The engine and the two tables (created if missing, on any of the two databases)."""

    __slots__ = ("engine", "is_sqlite")

    def __init__(self, url: str) -> None:
        target = engine_url(url)
        self.is_sqlite = target.startswith("sqlite")
        if self.is_sqlite:
            self.engine = sa.create_engine(target, connect_args={"timeout": 30, "check_same_thread": False})
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            with self.engine.connect() as conn:
                # WAL (a property of the file, so DBOS's connections use it too): readers
                # (status, streams) no longer wait for writers, and a commit syncs once.
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        else:
            self.engine = sa.create_engine(target, pool_size=5, max_overflow=5, pool_pre_ping=True)
        _METADATA.create_all(self.engine, checkfirst=True)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # -- checkpoints -------------------------------------------------------------------------

    def save_checkpoint(self, run_id: str, workflow: str, text: str) -> None:
        """Insert or replace the checkpoint of ``run_id`` (one transaction)."""
        with self.engine.begin() as conn:
            updated = conn.execute(
                CHECKPOINTS.update()
                .where(CHECKPOINTS.c.run_id == run_id)
                .values(snapshot=text, workflow=workflow, updated_at=time.time())
            )
            if updated.rowcount == 0:
                conn.execute(
                    CHECKPOINTS.insert().values(
                        run_id=run_id, workflow=workflow, snapshot=text, updated_at=time.time()
                    )
                )

    def load_checkpoint(self, run_id: str) -> str | None:
        """The checkpoint text of ``run_id``, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(CHECKPOINTS.c.snapshot).where(CHECKPOINTS.c.run_id == run_id)
            ).first()
        return None if row is None else str(row[0])

    def checkpoint_keys(self) -> list[str]:
        """Every run id with a checkpoint, sorted."""
        with self.engine.connect() as conn:
            return sorted(str(r[0]) for r in conn.execute(sa.select(CHECKPOINTS.c.run_id)))

    def forget(self, run_id: str) -> None:
        """Delete the checkpoint of ``run_id`` (its outcome is recorded). Its inbox rows
        stay: their keys are what refuses a second answer, even one racing the end."""
        with self.engine.begin() as conn:
            conn.execute(CHECKPOINTS.delete().where(CHECKPOINTS.c.run_id == run_id))

    # -- inbox -------------------------------------------------------------------------------

    def post(self, run_id: str, key: str, payload: str) -> bool:
        """Add a message for ``run_id`` under ``key``; False when that key was already posted."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    INBOX.insert().values(run_id=run_id, key=key, payload=payload, created_at=time.time())
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def inbox(self, run_ids: Iterable[str]) -> list[tuple[str, str, str]]:
        """The (run id, key, payload) messages of ``run_ids``, oldest first."""
        ids = list(run_ids)
        if not ids:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(INBOX.c.run_id, INBOX.c.key, INBOX.c.payload)
                .where(INBOX.c.run_id.in_(ids))
                .order_by(INBOX.c.created_at)
            )
            return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def _sqlite_pragmas(dbapi_conn: Any, _: object) -> None:
    # Several processes (workers, the test) share one file: wait for a lock rather than fail.
    dbapi_conn.execute("PRAGMA busy_timeout=30000")


class DatabaseStore:
    """A :class:`~blazen_py.stores.SnapshotStore` on the ``blazen_checkpoints`` table.

    ``delete`` does nothing on purpose: a run's checkpointer deletes its checkpoint the
    moment the run ends, before DBOS has recorded the outcome; a crash in between would
    then restart the run from nothing. The server's DBOS workflow deletes the row in a
    step of its own (:meth:`Database.forget`) once the outcome is recorded.
    """

    __slots__ = ("_db", "_workflow")

    def __init__(self, db: Database, workflow: str) -> None:
        self._db = db
        self._workflow = workflow

    async def save(self, key: str, snapshot: Mapping[str, Any]) -> None:
        """Store ``snapshot`` under ``key`` (one transaction)."""
        try:
            text = dumps(snapshot)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"snapshot for {key!r} is not JSON data: {exc}") from exc
        await asyncio.to_thread(self._db.save_checkpoint, key, self._workflow, text)

    async def load(self, key: str) -> dict[str, Any] | None:
        """The snapshot under ``key``, or ``None``."""
        text = await asyncio.to_thread(self._db.load_checkpoint, key)
        if text is None:
            return None
        data = loads(text)
        return data if isinstance(data, dict) else None

    async def list(self) -> list[str]:
        """Every key with a checkpoint, sorted."""
        return await asyncio.to_thread(self._db.checkpoint_keys)

    async def delete(self, key: str) -> None:
        """Kept until the run's outcome is recorded (see the class docstring)."""
