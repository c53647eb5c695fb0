"""Restore: a run rebuilt from snapshot data, ready to start (see :mod:`.format`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..blazen_state import META_SUFFIX
from ..definition import Definition
from ..errors import (
    ActiveStep,
    SnapshotError,
    WorkflowAbortedError,
    WorkflowError,
    WorkflowStallError,
    WorkflowTimeoutError,
)
from ..events import STOP_EVENT
from ..runtime import Attempt, Run
from .format import ParsedSnapshot, parse

__all__ = ["Deserializer", "restore"]

logger = logging.getLogger("blazen_py")

Deserializer = Callable[[bytes], Any]


def restore(
    definition: Definition,
    snapshot: object,
    deserializers: Mapping[str, Deserializer] | None = None,
    *,
    allow_definition_change: bool = False,
) -> Run:
    """Validate ``snapshot`` against ``definition`` and rebuild its run (not started).

    Args:
        definition: The workflow the run belongs to.
        snapshot: A snapshot (a mapping, or its JSON text).
        deserializers: Session-ref type tag -> bytes -> live value. Refs of other tags are
            skipped with a logged warning.
        allow_definition_change: Resume even though the snapshot's definition fingerprint
            (its steps and their accepted types) differs from ``definition``'s. What the
            snapshot holds must still fit: every step it names exists and accepts the
            events it would be given, and every queued event has a step.

    Raises:
        SnapshotError: the snapshot is corrupt, truncated, newer than this version, or
            does not fit ``definition``.
    """
    parsed = parse(snapshot)
    if parsed.definition is not None and not allow_definition_change:
        _check_same_steps(definition, parsed.definition)
    _check_fits(definition, parsed)
    run = Run(definition, run_id=parsed.run_id)
    run.state.update(parsed.state)
    run.has_meta = any(k.endswith(META_SUFFIX) for k in parsed.state)
    run.unrouted.update(parsed.unrouted)
    queue = parsed.queue
    if queue and queue[0]["type"] == STOP_EVENT:  # held by a pause: it ends the run on start
        run.held_stop, queue = queue[0], queue[1:]
    run.queue.extend(queue)
    steps = definition.steps_by_name
    for i, ((name, event), calls) in enumerate(zip(parsed.step_inputs, parsed.calls, strict=True)):
        target = steps[name]
        run.replays.park(target.index, event, calls)
        for record in calls:
            run.waiters.restore(record, name)
        retried = parsed.retries.get(i)
        if retried is None or target.retry is None:  # (a step that lost its policy starts over)
            run.pending.append((target, event))
            continue
        attempt, error_name, message, due = retried
        # The policy may have changed since: never more attempts than it allows now.
        waiting = Attempt(target, event, min(attempt, target.retry.max_attempts), error_name, message, due)
        if due is not None:
            run.backoffs[waiting] = None
        else:
            run.carried[(target.index, id(event))] = waiting
            run.pending.append((target, event))
    run.collected.restore(parsed.collected)
    _restore_session(run, parsed, deserializers or {})
    for request_id, prompt, metadata, step in parsed.input_requests:
        run.requests.restore(request_id, prompt, metadata, step)
    if parsed.outcome_event is not None:  # the snapshot of a completed run
        run.held_stop = parsed.outcome_event
    elif parsed.outcome_error is not None:  # of a failed one
        run.held_failure = _rebuild_error(parsed.outcome_error, run.run_id)
    return run


def _check_fits(definition: Definition, parsed: ParsedSnapshot) -> None:
    name = definition.name
    if parsed.workflow != name:
        raise SnapshotError(f"snapshot is of workflow {parsed.workflow!r}, not {name!r}")
    for step, event in parsed.step_inputs:
        found = definition.steps_by_name.get(step)
        if found is None:
            raise SnapshotError(f"snapshot names step {step!r}, which workflow {name!r} does not have")
        if event["type"] not in found.accepts:
            raise SnapshotError(
                f"snapshot gives step {step!r} a {event['type']!r} event, which it does not accept "
                f"(it accepts {list(found.accepts)!r})"
            )
    for _, _, _, asker in parsed.input_requests:
        if asker is not None and asker not in definition.steps_by_name:
            raise SnapshotError(
                f"snapshot has an input request of step {asker!r}, which workflow {name!r} does not have"
            )
    for step in parsed.collected:
        if step not in definition.steps_by_name:
            raise SnapshotError(
                f"snapshot holds events collected by step {step!r}, which workflow {name!r} does not have"
            )
    for i, event in enumerate(parsed.queue):
        if i == 0 and event["type"] == STOP_EVENT:
            continue
        if event["type"] not in definition.routes:
            raise SnapshotError(
                f"snapshot queues a {event['type']!r} event, which no step of {name!r} accepts"
            )


def _check_same_steps(definition: Definition, recorded: Mapping[str, tuple[str, ...]]) -> None:
    """Refuse a snapshot taken by a workflow of this name with other steps, naming the
    differences (a snapshot's events and state mean what its own steps made of them)."""
    here = {step.name: step.accepts for step in definition.steps}
    differences = []
    for step in recorded:
        if step not in here:
            differences.append(f"step {step!r} is in the snapshot but not in this workflow")
    for step, accepts in here.items():
        if step not in recorded:
            differences.append(f"step {step!r} is in this workflow but not in the snapshot")
        elif sorted(recorded[step]) != sorted(accepts):
            was = sorted(recorded[step])
            differences.append(f"step {step!r} accepts {sorted(accepts)!r} here but {was!r} in the snapshot")
    if differences:
        raise SnapshotError(
            f"snapshot was taken by a different definition of workflow {definition.name!r}: "
            + "; ".join(differences)
            + " (resume with allow_definition_change=True to resume it anyway)"
        )


def _error_classes() -> dict[str, type[WorkflowError]]:
    """The run-ending error classes of blazen_py, by name: the only ones a snapshot of a
    failed run can name (anything else is rebuilt as a plain WorkflowError)."""
    found: dict[str, type[WorkflowError]] = {}
    todo: list[type[WorkflowError]] = [WorkflowError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("blazen_py.") and not cls.__name__.startswith("_"):
            found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found


def _rebuild_error(described: Mapping[str, Any], run_id: str) -> WorkflowError:
    cls = _error_classes().get(described["type"], WorkflowError)
    error = cls.__new__(cls)  # no __init__: every class takes its fields differently
    Exception.__init__(error, described["message"])
    error.step = described["step"]
    error.event_type = described["event_type"]
    error.run_id = run_id
    if isinstance(error, (WorkflowTimeoutError, WorkflowAbortedError)):
        error.active_steps = [ActiveStep(step, etype) for step, etype in described["active_steps"]]
    if isinstance(error, WorkflowStallError):
        error.unrouted = {}
    return error


def _restore_session(run: Run, parsed: ParsedSnapshot, deserializers: Mapping[str, Deserializer]) -> None:
    for key, tag, payload in parsed.session_refs:
        deserialize = deserializers.get(tag)
        if deserialize is None:
            logger.warning(
                "resuming run %s: skipping session ref %r of unknown type tag %r", run.run_id, key, tag
            )
            continue
        try:
            run.session[key] = deserialize(payload)
        except Exception as exc:
            raise SnapshotError(
                f"deserializer for type tag {tag!r} failed on session ref {key!r}: {exc}"
            ) from exc
