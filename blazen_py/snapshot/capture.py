"""Capture: a run as it is at this moment, as snapshot data (see :mod:`.format`)."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any

from ..collect import COLLECTED
from ..errors import SnapshotError, StateError
from ..replay import CONSUMED, log_of
from ..runtime import COMPLETED, FAILED, PAUSED, RUNNING, Run
from ..state import encode_state_value
from .format import SNAPSHOT_FORMAT, SNAPSHOT_VERSION, encode_event

__all__ = ["Snapshot", "capture", "serialize_session"]


class Snapshot(dict[str, Any]):
    """What :func:`capture` returns: a plain ``dict`` (JSON, equality and state values all
    treat it as one) that a notebook displays as a readable summary (see :mod:`.summary`,
    imported only then)."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        from .._draw.tree import to_markup
        from .summary import snapshot_tree

        return to_markup(snapshot_tree(self))


def capture(run: Run, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Describe ``run`` as it is at this moment, as JSON-compatible data (a :class:`Snapshot`:
    a ``dict`` that notebooks show as a summary).

    Taken between event-loop callbacks, it is consistent: every event is queued, the input
    of a step still to finish, or fully handled. What unfinished steps wrote is left out.

    Args:
        run: The run.
        metadata: The caller's own JSON-compatible data, kept as is.

    Raises:
        SnapshotError: an event or value cannot be encoded, or a session-ref serializer
            failed.
    """
    copies = _unfinished_undone(run)
    queue = list(run.queue)
    if run.held_stop is not None:  # the StopEvent a pause holds ends the run on resume
        queue.insert(0, run.held_stop)
    try:
        snapshot = {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "workflow": run.workflow_name,
            "definition": run.definition.fingerprint(),
            "run_id": run.run_id,
            "status": _STATUS[run.status],
            "created_at": time.time(),
            "state": {k: encode_state_value(v) for k, v in run.committed_state().items()},
            "queue": [encode_event(e) for e in queue],
            "step_inputs": _step_inputs(run, copies),
            "input_requests": [
                {
                    **r,
                    "prompt": encode_state_value(r["prompt"]),
                    "metadata": encode_state_value(r["metadata"]),
                }
                for r in run.requests.durable()
            ],
            "collected": {
                step: {etype: [encode_event(e) for e in events] for etype, events in per_step.items()}
                for step, per_step in copies[COLLECTED].items()
            },
            "session_refs": serialize_session(run),
            "unrouted": {k: list(v) for k, v in run.unrouted.items()},
            "metadata": encode_state_value(dict(metadata or {})),
        }
        if run.finished:
            snapshot["outcome"] = _outcome(run)
    except StateError as exc:
        raise SnapshotError(f"cannot snapshot run {run.run_id}: {exc}") from exc
    return Snapshot(snapshot)


def _unfinished_undone(run: Run) -> dict[str, Any]:
    """Copies of the run state kept outside ``state``, without what unfinished step
    invocations did to it (they run again on resume)."""
    copies: dict[str, Any] = {COLLECTED: run.collected.committed() if run.collected else {}, CONSUMED: set()}
    if run.journal:
        run.journal.undo_into(copies)
        copies[COLLECTED] = {step: per for step, per in copies[COLLECTED].items() if per}
    return copies


def _step_inputs(run: Run, copies: dict[str, Any]) -> list[dict[str, Any]]:
    """The step inputs, each with the records of its durable calls when it made some
    (what its repeat on resume must do the same way) and, for a retry, its attempt."""
    out = []
    consumed = copies[CONSUMED]
    for step, event, inv, attempt in run.step_inputs_full():
        item: dict[str, Any] = {"step": step.name, "event": encode_event(event)}
        if attempt is not None:  # a retry: its attempt count (and, mid-backoff, when it runs)
            item.update(attempt.describe())
        log = log_of(run.journal, inv) if inv else None
        if log is not None:
            records = [_live_child(r) for r in log.records]
            for index, record in enumerate(records):
                if (inv, index) in consumed:
                    record[CONSUMED] = True
        else:
            records = [_live_child(r) for r in run.replays.peek(step.index, event)] if run.replays else []
        if records:
            item["calls"] = [encode_state_value(r) for r in records]
        out.append(item)
    return out


def _live_child(record: dict[str, Any]) -> dict[str, Any]:
    """A call record as data: a sub-workflow's live child run becomes its own snapshot."""
    kind = record.get("kind")
    if kind in ("map", "parallel"):
        children = dict(record.get("children") or {})
        children.update({index: capture(run) for index, run in (record.get("live") or {}).items()})
        results = dict(record["results"])
        return {"kind": kind, "count": record["count"], "results": results, "children": children}
    child = record.get("run")
    if child is None:
        return dict(record)
    return {"kind": "child", "snapshot": capture(child)}


_STATUS = {RUNNING: "running", PAUSED: "paused", COMPLETED: "completed", FAILED: "failed"}


def _outcome(run: Run) -> dict[str, Any]:
    """How a finished run ended: its StopEvent, or its error (class name and fields)."""
    if run.status == COMPLETED:
        return {"event": encode_event(run.done.result().event)}
    error = run.done.exception()
    described: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    for name in ("step", "event_type"):
        described[name] = getattr(error, name, None)
    active = getattr(error, "active_steps", None)
    if active:
        described["active_steps"] = [{"step": a.step, "event_type": a.event_type} for a in active]
    return {"error": described}


def serialize_session(run: Run) -> list[dict[str, Any]]:
    """The session values that a registered ref type claims, as ``{key, type_tag, bytes}``.

    Every other session value is left out: live objects never go into a snapshot.

    Raises:
        SnapshotError: a serializer failed.
    """
    ref_types = run.definition.ref_types
    if not ref_types or not run.session:
        return []
    refs = []
    for key, value in run.session.items():
        for ref_type in ref_types:
            if ref_type.match(value):
                try:
                    payload = bytes(ref_type.serialize(value))
                except Exception as exc:
                    raise SnapshotError(
                        f"serializer for type tag {ref_type.tag!r} failed on session key {key!r}: {exc}"
                    ) from exc
                refs.append(
                    {"key": key, "type_tag": ref_type.tag, "bytes": base64.b64encode(payload).decode("ascii")}
                )
                break
    return refs
