"""Durable runs: the latest snapshot of a run kept in a snapshot store while it runs.

A run started or resumed with ``checkpoint=store`` saves a snapshot under its run id
after steps complete, and deletes it when the run ends (completed, failed or aborted).
If the page or process goes away meanwhile, the snapshot stays, and
:meth:`Workflow.resume_checkpoint` continues the run: steps whose completion the last
saved snapshot records are not run again; steps that were running, or that completed
after that snapshot, run again (at-least-once, as with any resume).

Saves never overlap: while one is being written, further completions only mark the run
as changed, and the next save takes the snapshot of that moment. A snapshot is taken
between event-loop callbacks, so it is always consistent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .errors import CheckpointError
from .snapshot import capture

if TYPE_CHECKING:
    from .runtime import Run
    from .stores import SnapshotStore

__all__ = ["Checkpointer", "list_checkpoints"]

logger = logging.getLogger("blazen_py")


class Checkpointer:
    """Keeps ``run``'s latest snapshot in ``store`` under its run id until the run ends."""

    __slots__ = ("_closed", "_dirty", "_run", "_store", "_writer")

    def __init__(self, run: Run, store: SnapshotStore) -> None:
        self._run = run
        self._store = store
        self._dirty = False
        self._writer: asyncio.Task[None] | None = None
        self._closed: asyncio.Task[None] | None = None
        run.on_step_done = self.mark
        run.done.add_done_callback(self._on_done)

    @property
    def key(self) -> str:
        """The store key: the run id."""
        return self._run.run_id

    def mark(self) -> None:
        """Note that a step completed: a save follows (coalesced with others)."""
        if not self._dirty:
            self._dirty = True
            if self._writer is None:
                self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        run = self._run
        try:
            while self._dirty and not run.finished:
                self._dirty = False
                await self._store.save(self.key, capture(run, {"checkpoint": True}))
        except Exception as exc:
            error = CheckpointError(
                f"could not save the checkpoint of run {run.run_id}: {exc}", run_id=run.run_id
            )
            error.__cause__ = exc
            run.fail(error)
        finally:
            self._writer = None

    def _on_done(self, _: object) -> None:
        self._closed = asyncio.ensure_future(self._delete())

    async def _delete(self) -> None:
        writer = self._writer
        if writer is not None:
            await asyncio.gather(writer, return_exceptions=True)
        try:
            await self._store.delete(self.key)
        except Exception:
            logger.exception("could not delete the checkpoint of run %s", self.key)

    async def discard(self) -> None:
        """Delete the checkpoint now (the run went on elsewhere: ``hand_off``); a save
        still being written is let finish first, and the run saves nothing more."""
        self._run.on_step_done = None
        writer = self._writer
        if writer is not None:
            await asyncio.gather(writer, return_exceptions=True)
        await self._store.delete(self.key)

    async def closed(self) -> None:
        """Wait until the run has ended and its checkpoint is deleted."""
        done = self._run.done
        if not done.done():
            await asyncio.wait([done])
        while self._closed is None:  # noqa: ASYNC110 - _on_done runs one iteration after `done`
            await asyncio.sleep(0)
        await asyncio.shield(self._closed)


async def list_checkpoints(store: SnapshotStore, workflow: str) -> list[dict[str, Any]]:
    """The unfinished durable runs of ``workflow`` saved in ``store``, oldest first.

    Each is ``{"run_id", "workflow", "created_at", "status"}``. Entries that cannot be
    read are skipped with a logged warning.
    """
    found = []
    for key in await store.list():
        try:
            snapshot = await store.load(key)
        except Exception as exc:
            logger.warning("skipping checkpoint %r: %s", key, exc)
            continue
        if isinstance(snapshot, dict) and snapshot.get("workflow") == workflow:
            found.append(_summary(snapshot))
    return sorted(found, key=lambda c: c.get("created_at") or 0)


def _summary(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": snapshot.get("run_id"),
        "workflow": snapshot.get("workflow"),
        "created_at": snapshot.get("created_at"),
        "status": snapshot.get("status"),
    }
