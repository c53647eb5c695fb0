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

if TYPE_CHECKING:
    from .handler import WorkflowHandler
    from .stores import SnapshotStore

__all__ = ["Checkpointer"]

logger = logging.getLogger("blazen_py")


class Checkpointer:
    """Keeps a run's latest snapshot in ``store`` under its run id; created by the workflow."""

    __slots__ = ("_closed", "_dirty", "_handler", "_store", "_writer")

    def __init__(self, handler: WorkflowHandler, store: SnapshotStore) -> None:
        self._handler = handler
        self._store = store
        self._dirty = False
        self._writer: asyncio.Task[None] | None = None
        run = handler._run
        self._closed: asyncio.Task[None] | None = None
        run.on_step_done = self.mark
        run.done.add_done_callback(self._on_done)

    @property
    def key(self) -> str:
        """The store key: the run id."""
        return self._handler.run_id

    def mark(self) -> None:
        """Note that a step completed: a save follows (coalesced with others)."""
        if not self._dirty:
            self._dirty = True
            if self._writer is None:
                self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        run = self._handler._run
        try:
            while self._dirty and not run.finished:
                self._dirty = False
                await self._store.save(self.key, self._handler._capture({"checkpoint": True}))
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

    async def closed(self) -> None:
        """Wait until the run has ended and its checkpoint is deleted."""
        done = self._handler._run.done
        if not done.done():
            await asyncio.wait([done])
        while self._closed is None:  # noqa: ASYNC110 - _on_done runs one iteration after `done`
            await asyncio.sleep(0)
        await asyncio.shield(self._closed)


def checkpoint_summary(snapshot: dict[str, Any]) -> dict[str, Any]:
    """What a list of unfinished runs shows of one checkpoint."""
    return {
        "run_id": snapshot.get("run_id"),
        "workflow": snapshot.get("workflow"),
        "created_at": snapshot.get("created_at"),
        "status": snapshot.get("status"),
    }
