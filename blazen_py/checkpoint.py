"""Durable runs: the latest snapshot of a run kept in a snapshot store while it runs.

A run started or resumed with ``checkpoint=store`` is saved once before its first step
runs, then after steps complete, and its checkpoint is deleted when the run ends
(completed, failed or aborted). If the page or process goes away meanwhile, the snapshot
stays, and :meth:`Workflow.resume_checkpoint` continues the run: steps whose completion
the last saved snapshot records are not run again; steps that were running, or that
completed after that snapshot, run again (at-least-once, as with any resume).

One owner per run. In this process, a run id has at most one live :class:`Checkpointer`
(a second resume of it raises :class:`RunOwnedError`). Across processes and tabs, a
:class:`~blazen_py.stores.ClaimingStore` is claimed with an owner token before the run
starts, the claim is renewed while it runs, every save and the final delete are fenced
by the token, and the claim is released when the checkpoint is gone. A run whose save is
refused because its claim was taken over stops with :class:`RunOwnedError`. A plain
:class:`~blazen_py.SnapshotStore` gets the in-process guard only.

Saves never overlap: while one is being written, further completions only mark the run
as changed, and the next save takes the snapshot of that moment. A snapshot is taken
between event-loop callbacks, so it is always consistent.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import (
    BadCheckpointError,
    CheckpointError,
    RunOwnedError,
    SnapshotError,
    StoreError,
    WorkflowError,
)
from .snapshot import capture
from .snapshot.format import encode_event, parse
from .stores import ClaimingStore

if TYPE_CHECKING:
    from .runtime import Run
    from .stores import SnapshotStore

__all__ = ["Checkpointer", "list_checkpoints"]

logger = logging.getLogger("blazen_py")

_owners: dict[str, Checkpointer] = {}
"""Run id -> the checkpointer that owns that run in this process (until its cleanup ends)."""

CLEANUP_WAIT = 10.0
"""Seconds a new owner waits for a finished in-process owner to delete its checkpoint."""


class Checkpointer:
    """Owns durable run ``run_id`` and keeps its latest snapshot in ``store`` until it ends.

    Made by :meth:`own` (which takes ownership), bound to its run by :meth:`attach`, and
    saves the run once by :meth:`begin` before the run starts.
    """

    __slots__ = (
        "_claiming",
        "_closed",
        "_dirty",
        "_gone",
        "_renewer",
        "_run",
        "_run_id",
        "_store",
        "_writer",
        "token",
    )

    def __init__(self, store: SnapshotStore, run_id: str) -> None:
        self._store = store
        self._run_id = run_id
        self._claiming = isinstance(store, ClaimingStore)
        self.token = f"owner-{uuid.uuid4()}"
        self._run: Run | None = None
        self._dirty = False
        self._writer: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def own(cls, store: SnapshotStore, run_id: str, *, wait: float = 0.0) -> Checkpointer:
        """Take ownership of run ``run_id``: in this process, then in ``store`` if it claims.

        Args:
            wait: Seconds to wait for the current owner to finish or release the run
                (0: fail at once; ``math.inf``: no limit).

        Raises:
            RunOwnedError: the run is owned by another run in this process, or the store's
                claim is held by another owner (another tab or process), after ``wait``.
            StoreError: ``run_id`` is not a non-empty string.
        """
        if not isinstance(run_id, str) or not run_id:
            raise StoreError(f"a run id (a snapshot key) must be a non-empty string, got {run_id!r}")
        wait = _check_wait(wait)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while (holder := _owners.get(run_id)) is not None:
            remaining = deadline - loop.time()
            if not holder.finished and remaining <= 0:
                raise RunOwnedError(f"run {run_id} is already running in this process", run_id=run_id)
            # A finished owner is still deleting its checkpoint: the next owner starts after.
            limit = remaining if not holder.finished else max(remaining, CLEANUP_WAIT)
            try:
                await asyncio.wait_for(asyncio.shield(holder._gone), None if limit == math.inf else limit)
            except TimeoutError:
                raise RunOwnedError(
                    f"run {run_id} is still owned by another run in this process", run_id=run_id
                ) from None
        me = _owners[run_id] = cls(store, run_id)
        try:
            if me._claiming:
                remaining = max(0.0, deadline - loop.time())
                if not await store.claim(run_id, me.token, wait=remaining):  # type: ignore[attr-defined]
                    raise RunOwnedError(
                        f"run {run_id} is owned elsewhere (another tab or process holds its claim)",
                        run_id=run_id,
                    )
        except BaseException:
            me._disown()
            raise
        return me

    @property
    def key(self) -> str:
        """The store key: the run id."""
        return self._run_id

    @property
    def finished(self) -> bool:
        """Whether the run this owns has ended (``False`` before :meth:`attach`)."""
        return self._run is not None and self._run.finished

    def attach(self, run: Run) -> None:
        """Bind to ``run`` (not started yet; its id must be this checkpointer's)."""
        if run.run_id != self._run_id:
            raise CheckpointError(
                f"checkpointer of run {self._run_id} given run {run.run_id}", run_id=run.run_id
            )
        self._run = run
        run.on_step_done = self.mark
        run.done.add_done_callback(self._on_done)

    async def begin(self, start_event: Mapping[str, Any] | None) -> None:
        """Save the run as it will start (``start_event`` queued), before any step runs,
        so that a reload from now on finds it.

        Raises:
            CheckpointError: the save failed (``RunOwnedError`` if the claim was lost); the
                run must not be started, and ownership is given up.
        """
        run = self._require_run()
        try:
            snapshot = capture(run, {"checkpoint": True})
            if start_event is not None:
                snapshot["queue"].insert(0, encode_event(start_event))
            await self._save(snapshot)
        except BaseException as exc:
            await self.abandon()
            if isinstance(exc, CheckpointError):
                raise
            if not isinstance(exc, Exception):
                raise
            raise CheckpointError(
                f"could not save the first checkpoint of run {run.run_id}: {exc}", run_id=run.run_id
            ) from exc
        lease = getattr(self._store, "lease", None) if self._claiming else None
        if isinstance(lease, (int, float)) and 0 < lease < math.inf:
            self._renewer = asyncio.ensure_future(self._renew(float(lease)))

    async def abandon(self) -> None:
        """Give ownership up without running (the run was never started)."""
        self._disown()
        if self._claiming:
            await self._release()

    def mark(self) -> None:
        """Note that a step completed: a save follows (coalesced with others)."""
        if not self._dirty:
            self._dirty = True
            if self._writer is None:
                self._writer = asyncio.ensure_future(self._write())

    async def _save(self, snapshot: Mapping[str, Any]) -> None:
        if self._claiming:
            await self._store.save(self.key, snapshot, owner=self.token)  # type: ignore[call-arg]
        else:
            await self._store.save(self.key, snapshot)

    async def _write(self) -> None:
        run = self._require_run()
        try:
            while self._dirty and not run.finished:
                self._dirty = False
                await self._save(capture(run, {"checkpoint": True}))
        except RunOwnedError as exc:  # another owner took the run over: stop, write nothing more
            exc.run_id = run.run_id
            run.fail(exc)
        except Exception as exc:
            error = CheckpointError(
                f"could not save the checkpoint of run {run.run_id}: {exc}", run_id=run.run_id
            )
            error.__cause__ = exc
            run.fail(error)
        finally:
            self._writer = None

    async def _renew(self, lease: float) -> None:
        run = self._require_run()
        claim: Callable[..., Any] = self._store.claim  # type: ignore[attr-defined]
        while True:
            await asyncio.sleep(lease / 3)
            if run.finished:
                return
            try:
                held = await claim(self.key, self.token)
            except Exception as exc:
                logger.warning("could not renew the claim on run %s: %s", self.key, exc)
                continue
            if not held:
                run.fail(RunOwnedError(f"run {self.key} was taken over by another owner", run_id=self.key))
                return

    def _on_done(self, _: object) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        self._closed = asyncio.ensure_future(self._delete())

    async def _delete(self) -> None:
        try:
            writer = self._writer
            if writer is not None:
                await asyncio.gather(writer, return_exceptions=True)
            try:
                if self._claiming:
                    await self._store.delete(self.key, owner=self.token)  # type: ignore[call-arg]
                else:
                    await self._store.delete(self.key)
            except RunOwnedError:  # taken over: the checkpoint is the new owner's now
                logger.warning("left the checkpoint of run %s to its new owner", self.key)
            except Exception:
                logger.exception("could not delete the checkpoint of run %s", self.key)
            await self._release()
        finally:
            self._disown()

    async def _release(self) -> None:
        try:
            await self._store.release(self.key, self.token)  # type: ignore[attr-defined]
        except Exception:
            logger.exception("could not release the claim on run %s", self.key)

    def _disown(self) -> None:
        if _owners.get(self._run_id) is self:
            del _owners[self._run_id]
        if not self._gone.done():
            self._gone.set_result(None)

    def _require_run(self) -> Run:
        if self._run is None:
            raise CheckpointError(f"checkpointer of run {self._run_id} has no run yet", run_id=self._run_id)
        return self._run

    async def discard(self) -> None:
        """Delete the checkpoint now (the run went on elsewhere: ``hand_off``); a save
        still being written is let finish first, and the run saves nothing more."""
        if self._run is not None:
            self._run.on_step_done = None
        writer = self._writer
        if writer is not None:
            await asyncio.gather(writer, return_exceptions=True)
        await self._store.delete(self.key)

    async def closed(self) -> None:
        """Wait until the run has ended and its checkpoint is deleted (and released)."""
        run = self._require_run()
        done = run.done
        if not done.done():
            await asyncio.wait([done])
        while self._closed is None:  # noqa: ASYNC110 - _on_done runs one iteration after `done`
            await asyncio.sleep(0)
        await asyncio.shield(self._closed)


def _check_wait(wait: object) -> float:
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or math.isnan(wait) or wait < 0:
        raise CheckpointError(f"wait must be a number of seconds >= 0 (math.inf: no limit), got {wait!r}")
    return float(wait)


def owner_of(run_id: str) -> Checkpointer | None:
    """The checkpointer owning ``run_id`` in this process, if any (for tests and tools)."""
    return _owners.get(run_id)


async def list_checkpoints(
    store: SnapshotStore,
    workflow: str,
    on_bad: Callable[[BadCheckpointError], Any] | None = None,
) -> list[dict[str, Any]]:
    """The unfinished durable runs of ``workflow`` saved in ``store``, oldest first.

    Each is ``{"run_id", "workflow", "created_at", "status"}``. An entry that cannot be
    read, is not a valid snapshot, is stored under a key other than its ``run_id``, or
    has a ``created_at`` that is not a number is skipped and reported: passed to
    ``on_bad`` as a :class:`BadCheckpointError` naming its key (default: a logged
    warning). Entries of other workflows are skipped silently. One bad entry never hides
    the others.
    """
    report = on_bad if on_bad is not None else _log_bad
    found = []
    for key in await store.list():
        try:
            summary = await _entry(store, key, workflow)
        except BadCheckpointError as bad:
            report(bad)
            continue
        if summary is not None:
            found.append(summary)
    return sorted(found, key=lambda c: c["created_at"])


async def _entry(store: SnapshotStore, key: str, workflow: str) -> dict[str, Any] | None:
    try:
        snapshot = await store.load(key)
    except Exception as exc:
        raise BadCheckpointError(f"checkpoint {key!r} cannot be read: {exc}", key=key) from exc
    if not isinstance(snapshot, dict):
        raise BadCheckpointError(f"checkpoint {key!r} is not a snapshot object", key=key)
    if snapshot.get("workflow") != workflow:
        if isinstance(snapshot.get("workflow"), str):
            return None  # another workflow's run
        raise BadCheckpointError(f"checkpoint {key!r} names no workflow", key=key)
    check_entry(key, snapshot)
    return {
        "run_id": key,
        "workflow": workflow,
        "created_at": snapshot["created_at"],
        "status": snapshot.get("status", "running"),
    }


def check_entry(key: str, snapshot: Mapping[str, Any]) -> None:
    """Refuse a stored checkpoint that is not a valid snapshot of run ``key``.

    Raises:
        BadCheckpointError: with the reason and the key.
    """
    run_id = snapshot.get("run_id")
    if run_id != key:
        raise BadCheckpointError(
            f"checkpoint {key!r} holds run {run_id!r}: a checkpoint's key must be its run id",
            key=key,
        )
    created = snapshot.get("created_at")
    if isinstance(created, bool) or not isinstance(created, (int, float)) or not math.isfinite(created):
        raise BadCheckpointError(
            f"checkpoint {key!r} has a created_at that is not a time in seconds: {created!r}",
            key=key,
            run_id=key,
        )
    try:
        parse(snapshot)
    except SnapshotError as exc:
        raise BadCheckpointError(
            f"checkpoint {key!r} is not a valid snapshot: {exc}", key=key, run_id=key
        ) from exc


def _log_bad(error: WorkflowError) -> None:
    logger.warning("skipping checkpoint: %s", error)
