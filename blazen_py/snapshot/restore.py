"""Restore: a run rebuilt from snapshot data, ready to start (see :mod:`.format`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..blazen_state import META_SUFFIX
from ..definition import Definition
from ..errors import SnapshotError
from ..runtime import Run
from .format import ParsedSnapshot, parse

__all__ = ["Deserializer", "restore"]

logger = logging.getLogger("blazen_py")

Deserializer = Callable[[bytes], Any]


def restore(
    definition: Definition, snapshot: object, deserializers: Mapping[str, Deserializer] | None = None
) -> Run:
    """Validate ``snapshot`` against ``definition`` and rebuild its run (not started).

    Args:
        definition: The workflow the run belongs to.
        snapshot: A snapshot (a mapping, or its JSON text).
        deserializers: Session-ref type tag -> bytes -> live value. Refs of other tags are
            skipped with a logged warning.

    Raises:
        SnapshotError: the snapshot is corrupt, truncated, newer than this version, or
            does not fit ``definition``.
    """
    parsed = parse(snapshot)
    _check_fits(definition, parsed)
    run = Run(definition, run_id=parsed.run_id)
    run.state.update(parsed.state)
    run.has_meta = any(k.endswith(META_SUFFIX) for k in parsed.state)
    run.unrouted.update(parsed.unrouted)
    run.queue.extend(parsed.queue)
    steps = definition.steps_by_name
    run.pending.extend((steps[name], event) for name, event in parsed.step_inputs)
    _restore_session(run, parsed, deserializers or {})
    for request_id, prompt, metadata, step in parsed.input_requests:
        run.requests.restore(request_id, prompt, metadata, step)
    return run


def _check_fits(definition: Definition, parsed: ParsedSnapshot) -> None:
    name = definition.name
    if parsed.workflow != name:
        raise SnapshotError(f"snapshot is of workflow {parsed.workflow!r}, not {name!r}")
    for step, _ in parsed.step_inputs:
        if step not in definition.steps_by_name:
            raise SnapshotError(f"snapshot names step {step!r}, which workflow {name!r} does not have")
    for event in parsed.queue:
        if event["type"] not in definition.routes:
            raise SnapshotError(
                f"snapshot queues a {event['type']!r} event, which no step of {name!r} accepts"
            )


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
