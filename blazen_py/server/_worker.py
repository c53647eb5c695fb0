"""The worker: blazen_py runs executed as DBOS workflows, through a DBOS queue.

One DBOS workflow, ``blazen_py.run``, is registered for every blazen_py workflow; its
DBOS workflow id *is* the run id. It takes two DBOS steps:

1. ``blazen_py.execute`` runs the blazen_py run to its end in this process, with
   ``checkpoint=`` a :class:`DatabaseStore` (the latest snapshot, saved after steps
   complete, in the same database). If the worker dies, DBOS recovers the workflow when a
   worker with the same executor id starts again; the step runs again, finds the
   checkpoint and resumes the run from it. Steps whose completion the checkpoint records
   are not run again; the steps in flight are (at-least-once, as in the browser).
   Stream items go to a DBOS stream (``events``); input answers and aborts arrive
   through the ``blazen_inbox`` table, polled while runs are local.
2. ``blazen_py.forget`` deletes the checkpoint once DBOS has recorded the
   outcome of step 1 (so no crash window restarts a run from nothing).

The outcome is JSON text: ``{"status": "completed", "result": ...}`` or
``{"status": "failed", "error", "error_type", "step"}``; it is also the last item of
the stream (``event_type`` ``"blazen::RunEnded"``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from dbos import DBOS, SetWorkflowID

from ..errors import InputRequestError, SnapshotError, WorkflowError
from ..handler import WorkflowHandler
from ..snapshot import loads, restore
from ..state import decode_state_value, encode_state_value
from ..workflow import Workflow
from ._db import Database, DatabaseStore

__all__ = ["QUEUE", "RUN_ENDED", "RunExistsError", "RunNotFoundError", "Worker"]

logger = logging.getLogger("blazen_py.server")

QUEUE = "blazen_py.runs"
STREAM = "events"
RUN_ENDED = "blazen::RunEnded"
"""``event_type`` of the last stream item of a run: its outcome."""
MAX_RUN_ID = 200

_current: Worker | None = None


class RunExistsError(Exception):
    """A run with this id was already started (a run id starts at most one run)."""


class RunNotFoundError(Exception):
    """No run has this id."""


def _worker() -> Worker:
    if _current is None:
        raise RuntimeError("no blazen_py.server Worker is launched in this process")
    return _current


@DBOS.step(name="blazen_py.execute")
async def _execute(workflow: str, run_id: str, start: str | None, snapshot: str | None) -> str:
    return await _worker().execute(workflow, run_id, start, snapshot)


@DBOS.step(name="blazen_py.forget")
async def _forget(run_id: str) -> None:
    worker = _worker()
    assert worker.db is not None
    await asyncio.to_thread(worker.db.forget, run_id)


@DBOS.workflow(name="blazen_py.run")
async def _run(workflow: str, start: str | None, snapshot: str | None) -> str:
    run_id = DBOS.workflow_id
    assert run_id is not None
    outcome = await _execute(workflow, run_id, start, snapshot)
    await _forget(run_id)
    await DBOS.write_stream_async(STREAM, json.dumps({**json.loads(outcome), "event_type": RUN_ENDED}))
    await DBOS.close_stream_async(STREAM)
    return outcome


class Worker:
    """Runs blazen_py workflows durably on DBOS, in this process.

    Args:
        workflows: The workflows it can run, by name (each ``Workflow``'s own name).
        db: The database URL: ``sqlite:///path`` (the default, ``blazen_server.sqlite``
            in the working directory) or ``postgresql://user:pass@host:port/db``.
        concurrency: At most this many runs at once in this worker (the DBOS queue's
            worker concurrency; the rest wait, queued, in the database).
        worker_id: The DBOS executor id. Every worker sharing a database needs its own;
            a worker that restarts with the same id recovers the runs it had.
        poll_interval: Seconds between two looks at the queue and the inbox.
    """

    def __init__(
        self,
        workflows: Mapping[str, Workflow] | list[Workflow],
        *,
        db: str | None = None,
        concurrency: int = 8,
        worker_id: str = "local",
        poll_interval: float = 0.05,
        app_name: str = "blazen_py",
    ) -> None:
        items = list(workflows.values()) if isinstance(workflows, Mapping) else list(workflows)
        self.workflows: dict[str, Workflow] = {}
        for wf in items:
            if not isinstance(wf, Workflow):
                raise TypeError(f"workflows must be blazen_py Workflow objects, got {type(wf).__name__}")
            if wf.name in self.workflows:
                raise ValueError(f"two workflows are named {wf.name!r}")
            self.workflows[wf.name] = wf
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
        self.url = db or "sqlite:///blazen_server.sqlite"
        self.concurrency = concurrency
        self.worker_id = worker_id
        self.poll_interval = poll_interval
        self.app_name = app_name
        self.db: Database | None = None
        self._local: dict[str, WorkflowHandler] = {}
        self._applied: dict[str, set[str]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._queue: Any = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def launch(self) -> None:
        """Open the database, launch DBOS (recovering this worker's interrupted runs) and
        start taking runs from the queue. Call it in the event loop that will run them."""
        global _current
        if _current is not None:
            raise RuntimeError("a blazen_py.server Worker is already launched in this process")
        self.db = await asyncio.to_thread(Database, self.url)
        _current = self
        DBOS(
            config={
                "name": self.app_name,
                "system_database_url": self.url,
                "executor_id": self.worker_id,
                "notification_listener_polling_interval_sec": self.poll_interval,
                "log_level": "WARNING",
            }
        )
        # Launched from this loop's thread on purpose: DBOS then runs the queued (async)
        # workflows on this loop, where the poller and the HTTP front end live too.
        DBOS.launch()
        self._queue = await DBOS.register_queue_async(
            QUEUE,
            worker_concurrency=self.concurrency,
            polling_interval_sec=self.poll_interval,
            on_conflict="always_update",
        )
        self._poller = asyncio.ensure_future(self._poll_inbox())

    async def shutdown(self) -> None:
        """Stop the poller and DBOS; runs still going stay recorded for recovery."""
        global _current
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await asyncio.to_thread(DBOS.destroy)
        if self.db is not None:
            self.db.close()
        _current = None

    # -- starting ----------------------------------------------------------------------------

    def workflow(self, name: object) -> Workflow:
        """The workflow named ``name``.

        Raises:
            KeyError: no workflow has that name.
        """
        if not isinstance(name, str) or name not in self.workflows:
            raise KeyError(f"no workflow named {name!r}; known: {sorted(self.workflows)}")
        return self.workflows[name]

    async def start(
        self, workflow: str, input: Mapping[str, Any] | None = None, run_id: str | None = None
    ) -> str:
        """Queue a new run of ``workflow``; return its run id.

        Raises:
            KeyError: unknown workflow. RunExistsError: ``run_id`` was already used.
            StateError: ``input`` is not made of StateValues.
        """
        self.workflow(workflow)
        run_id = check_run_id(run_id) if run_id is not None else str(uuid.uuid4())
        encoded = json.dumps(encode_state_value(dict(input or {})), allow_nan=False)
        await self._enqueue(run_id, workflow, encoded, None)
        return run_id

    async def continue_from(self, snapshot: Mapping[str, Any] | str) -> str:
        """Queue the run a snapshot holds (validated exactly as a resume in the browser
        validates it); return its run id, the snapshot's.

        Raises:
            SnapshotError: the snapshot is corrupt, tampered with, or fits no workflow.
            RunExistsError: a run with its id was already started here.
        """
        if isinstance(snapshot, Mapping):
            name = snapshot.get("workflow")
        else:
            raise SnapshotError("a snapshot must be a JSON object")
        if not isinstance(name, str) or name not in self.workflows:
            raise SnapshotError(f"the snapshot is of workflow {name!r}, which this server does not run")
        run = restore(self.workflows[name].definition(), snapshot)  # raises SnapshotError
        run_id = check_run_id(run.run_id, SnapshotError)
        text = json.dumps(snapshot, separators=(",", ":"), allow_nan=False)
        await self._enqueue(run_id, name, None, text)
        return run_id

    async def _enqueue(self, run_id: str, workflow: str, start: str | None, snapshot: str | None) -> None:
        if await DBOS.get_workflow_status_async(run_id) is not None:
            raise RunExistsError(f"run {run_id!r} was already started; a run id starts one run")
        with SetWorkflowID(run_id):
            await self._queue.enqueue_async(_run, workflow, start, snapshot)

    # -- observing and controlling -----------------------------------------------------------

    async def status(self, run_id: str) -> dict[str, Any]:
        """``{"run_id", "workflow", "status", ...}``: status is ``queued``, ``running``,
        ``completed``, ``failed`` or ``cancelled``; an ended run adds its outcome.

        Raises:
            RunNotFoundError: no such run.
        """
        found = await DBOS.get_workflow_status_async(run_id)
        if found is None or found.name != "blazen_py.run":
            raise RunNotFoundError(f"no run {run_id!r}")
        inputs = found.input
        workflow = inputs["args"][0] if inputs and inputs.get("args") else None
        info: dict[str, Any] = {"run_id": run_id, "workflow": workflow}
        state = found.status
        if state == "SUCCESS":
            handle: Any = await DBOS.retrieve_workflow_async(run_id)
            info.update(json.loads(await handle.get_result()))
        elif state in ("ENQUEUED", "DELAYED"):
            info["status"] = "queued"
        elif state == "PENDING":
            info["status"] = "running"
        elif state == "CANCELLED":
            info["status"] = "cancelled"
        else:
            info.update(
                status="failed", error=f"the DBOS workflow ended as {state}", error_type="ServerError"
            )
        return info

    async def events(self, run_id: str, offset: int = 0) -> Any:
        """The run's stream items from ``offset`` on, as (offset, JSON text), until it ends."""
        index = offset
        async for value in DBOS.read_stream_async(run_id, STREAM, offset=offset, polling_interval_sec=0.05):
            yield index, value
            index += 1

    async def post(self, run_id: str, key: str, payload: Any) -> bool:
        """Leave a message for a run; False when ``key`` was already posted to it."""
        assert self.db is not None
        text = json.dumps(payload, allow_nan=False)
        return await asyncio.to_thread(self.db.post, run_id, key, text)

    async def checkpoint(self, run_id: str) -> dict[str, Any] | None:
        """The run's latest checkpoint (a snapshot), or ``None``."""
        assert self.db is not None
        return await DatabaseStore(self.db, "").load(run_id)

    # -- inside the DBOS step ----------------------------------------------------------------

    async def execute(self, name: str, run_id: str, start: str | None, snapshot: str | None) -> str:
        """Run (or resume) the run ``run_id`` here to its end; return its outcome as JSON."""
        assert self.db is not None
        wf = self.workflows.get(name)
        if wf is None:
            return _failed(f"this worker has no workflow named {name!r}", "ServerError")
        store = DatabaseStore(self.db, name)
        pending = await asyncio.to_thread(self.db.inbox, [run_id])
        if any(key == "abort" for _, key, _ in pending):  # aborted while queued: run no step
            return _failed(
                f"run {run_id} of workflow {name!r} was aborted before it started", "WorkflowAbortedError"
            )
        try:
            saved = await store.load(run_id)
            if saved is None and snapshot is not None:
                # The page's snapshot is the run's first checkpoint (its open input
                # requests are answerable at once, and a crash resumes from it).
                first = loads(snapshot)
                if restore(wf.definition(), first).run_id != run_id:
                    return _failed("the snapshot's run id changed", "SnapshotError")
                await store.save(run_id, first)
                saved = first
            if saved is not None:
                handler = await wf.resume(saved, checkpoint=store)
            else:
                data = decode_state_value(json.loads(start or "{}"))
                handler = await wf.run_with_handler(data, checkpoint=store, run_id=run_id)
        except SnapshotError as exc:
            return _failed(str(exc), "SnapshotError")
        writer = asyncio.ensure_future(_write_stream(handler))
        self._local[run_id] = handler
        self._applied.setdefault(run_id, set())
        try:
            await self._deliver([run_id])
            try:
                result = await handler.result()
                outcome: dict[str, Any] = {"status": "completed", "result": encode_state_value(result.data)}
            except WorkflowError as exc:
                outcome = {
                    "status": "failed",
                    "error": str(exc),
                    "error_type": type(exc).__name__,
                    "step": exc.step,
                }
            await writer
        finally:
            self._local.pop(run_id, None)
            self._applied.pop(run_id, None)
            writer.cancel()
        return json.dumps(outcome, allow_nan=False)

    async def _poll_inbox(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            if self._local:
                try:
                    await self._deliver(list(self._local))
                except Exception:
                    logger.exception("could not read the inbox")

    async def _deliver(self, run_ids: list[str]) -> None:
        assert self.db is not None
        for run_id, key, payload in await asyncio.to_thread(self.db.inbox, run_ids):
            handler = self._local.get(run_id)
            applied = self._applied.get(run_id)
            if handler is None or applied is None or key in applied:
                continue
            applied.add(key)
            try:
                if key == "abort":
                    handler.abort()
                elif key.startswith("input:"):
                    handler.respond_to_input(key[6:], decode_state_value(json.loads(payload)))
            except InputRequestError as exc:  # answered before the checkpoint, or unknown
                logger.info("input for run %s not delivered: %s", run_id, exc)
            except Exception as exc:
                logger.warning("message %r for run %s refused: %s", key, run_id, exc)


async def _write_stream(handler: WorkflowHandler) -> None:
    async for item in handler.events():
        try:
            text = json.dumps(encode_state_value(dict(item)), allow_nan=False)
        except Exception as exc:  # a value the codec cannot hold: say so, keep the order
            text = json.dumps({"event_type": item.event_type, "unencodable": str(exc)})
        await DBOS.write_stream_async(STREAM, text)


def _failed(message: str, error_type: str) -> str:
    return json.dumps({"status": "failed", "error": message, "error_type": error_type, "step": None})


def check_run_id(run_id: object, error: type[Exception] = ValueError) -> str:
    """A run id: a non-empty string of at most 200 printable characters."""
    if not isinstance(run_id, str) or not 0 < len(run_id) <= MAX_RUN_ID or not run_id.isprintable():
        raise error(f"a run id must be a non-empty printable string of at most {MAX_RUN_ID} characters")
    return run_id
