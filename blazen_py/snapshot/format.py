"""The versioned snapshot format: what a run is, as JSON-compatible data.

A snapshot is a ``dict`` of JSON types only::

    {
      "format": "blazen_py/snapshot",
      "version": 2,
      "workflow": "summarizer",
      "definition": {"steps": [{"name": "step", "accepts": ["EventType", ...]}, ...]},
      "run_id": "2b7c...",
      "status": "running" | "paused" | "completed" | "failed",
      "created_at": 1764063000.0,            # seconds since the epoch
      "state": {"key": <encoded StateValue>, ...},
      "queue": [<encoded event>, ...],       # produced, not yet routed
      "step_inputs": [{"step": "name", "event": <encoded event>, "calls": [...]}, ...],
                                             # calls (optional): records of its durable calls;
                                             # a retried input adds "attempt" (2, 3...),
                                             # "last_error": {"name", "message"}, and
                                             # while it waits out its backoff,
                                             # "not_before" (seconds since the epoch)
      "input_requests": [{"request_id": "...", "prompt": ..., "metadata": ..., "step": ...}],
      "collected": {"step": {"EventType": [<encoded event>, ...]}},   # ctx.collect_events buffers
      "session_refs": [{"key": "...", "type_tag": "...", "bytes": "<base64>"}],
      "unrouted": {"EventType": ["producing step", ...]},
      "metadata": {...},                     # the caller's own, as given
      "outcome": {"event": <StopEvent>} | {"error": {"type", "message", "step", ...}}
    }                                        # (outcome: for a completed or failed run only)

A StopEvent at the head of ``queue`` is one that a step produced while the run was paused:
the resumed run ends with it at once, as the run never paused would have.

StateValues and events are encoded by :mod:`blazen_py.state` (``bytes`` as
``{"$bytes": base64}``, integers beyond 2**53 as ``{"$int": digits}``). Loading validates
everything and raises :class:`SnapshotError` with the reason; it never executes anything
it reads. ``definition`` (from version 2) is the fingerprint of the workflow that took the
snapshot: its steps and the event types each accepts (see :mod:`.restore`). Version 1
snapshots have none and are still read.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ..blazen_state import META_SUFFIX, check_meta
from ..errors import SnapshotError, StateError
from ..events import STOP_EVENT
from ..events import kind as kind_of
from ..retry import MAX_ATTEMPTS
from ..state import decode_state_value, encode_state_value

_STATUSES = ("running", "paused", "completed", "failed")

__all__ = [
    "SNAPSHOT_FORMAT",
    "SNAPSHOT_VERSION",
    "ParsedSnapshot",
    "dumps",
    "encode_event",
    "loads",
    "parse",
]

SNAPSHOT_FORMAT = "blazen_py/snapshot"
SNAPSHOT_VERSION = 2
MAX_STEPS = 10_000
"""Most steps a snapshot's definition fingerprint may list."""
_MAX_TEXT = 256 * 1024 * 1024


def encode_event(event: Mapping[str, Any]) -> Any:
    """Encode an event as JSON-compatible data."""
    return encode_state_value(dict(event))


class ParsedSnapshot:
    """A validated snapshot, decoded back to Python values."""

    __slots__ = (
        "calls",
        "collected",
        "definition",
        "input_requests",
        "metadata",
        "outcome_error",
        "outcome_event",
        "queue",
        "retries",
        "run_id",
        "session_refs",
        "state",
        "status",
        "step_inputs",
        "unrouted",
        "workflow",
    )

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.workflow: str = _text(data, "workflow")
        self.run_id: str = _text(data, "run_id")
        status = data.get("status", "running")
        if status not in _STATUSES:
            raise SnapshotError(f"snapshot 'status' must be one of {', '.join(_STATUSES)}, got {status!r}")
        self.status: str = status
        self.outcome_event: dict[str, Any] | None = None
        self.outcome_error: dict[str, Any] | None = None
        if status in ("completed", "failed"):
            self._read_outcome(data.get("outcome"))
        self.definition: dict[str, tuple[str, ...]] | None = _definition(data)
        state = _field(data, "state", dict)
        self.state = {}
        for k, v in state.items():
            if type(k) is not str:
                raise SnapshotError(f"snapshot state key {k!r} is not a string")
            self.state[k] = decode_state_value(v, path=f"state.{k}")
        for k, v in self.state.items():
            if k.endswith(META_SUFFIX):
                try:
                    check_meta(k[: -len(META_SUFFIX)], v)
                except StateError as exc:
                    raise SnapshotError(f"snapshot state.{k}: {exc}") from None
        self.queue = [_event(e, f"queue[{i}]") for i, e in enumerate(_field(data, "queue", list))]
        self.step_inputs: list[tuple[str, dict[str, Any]]] = []
        self.calls: list[list[dict[str, Any]]] = []  # per step input: its durable calls' records
        # index in step_inputs -> (attempt, last error name, its message, not_before or None)
        self.retries: dict[int, tuple[int, str, str, float | None]] = {}
        for i, item in enumerate(_field(data, "step_inputs", list)):
            where = f"step_inputs[{i}]"
            if not isinstance(item, dict):
                raise SnapshotError(f"snapshot {where} must be an object")
            self.step_inputs.append((_text(item, "step", where), _event(item.get("event"), f"{where}.event")))
            self.calls.append(_calls(item.get("calls", []), f"{where}.calls"))
            if "attempt" in item:
                self.retries[i] = _retry(item, where)
        self.input_requests: list[tuple[str, Any, Any, str | None]] = []
        for i, item in enumerate(_field(data, "input_requests", list)):
            where = f"input_requests[{i}]"
            if not isinstance(item, dict):
                raise SnapshotError(f"snapshot {where} must be an object")
            step = item.get("step")
            if step is not None and not isinstance(step, str):
                raise SnapshotError(f"snapshot {where}.step must be a string or null")
            request_id = _text(item, "request_id", where)
            if any(request_id == known for known, *_ in self.input_requests):
                raise SnapshotError(f"snapshot {where}: request id {request_id!r} appears more than once")
            self.input_requests.append(
                (
                    request_id,
                    decode_state_value(item.get("prompt"), path=f"{where}.prompt"),
                    decode_state_value(item.get("metadata"), path=f"{where}.metadata"),
                    step,
                )
            )
        self.collected: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for step, per_step in _field(data, "collected", dict, default={}).items():
            if not step or not isinstance(per_step, dict):
                raise SnapshotError(f"snapshot collected[{step!r}] must be an object of event lists")
            buffers = self.collected[step] = {}
            for etype, events in per_step.items():
                where = f"collected[{step!r}][{etype!r}]"
                if not etype or not isinstance(events, list):
                    raise SnapshotError(f"snapshot {where} must be a list of events")
                buffers[etype] = [_event(e, f"{where}[{i}]") for i, e in enumerate(events)]
                if any(e["type"] != etype for e in buffers[etype]):
                    raise SnapshotError(f"snapshot {where} holds an event of another type")
        self.session_refs: list[tuple[str, str, bytes]] = []
        for i, item in enumerate(_field(data, "session_refs", list, default=[])):
            where = f"session_refs[{i}]"
            if not isinstance(item, dict):
                raise SnapshotError(f"snapshot {where} must be an object")
            raw = _text(item, "bytes", where, allow_empty=True)
            try:
                payload = base64.b64decode(raw.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError) as exc:
                raise SnapshotError(f"snapshot {where}.bytes is not base64: {exc}") from None
            self.session_refs.append((_text(item, "key", where), _text(item, "type_tag", where), payload))
        self.unrouted: dict[str, list[str]] = {}
        for etype, producers in _field(data, "unrouted", dict, default={}).items():
            if not isinstance(producers, list) or not all(isinstance(p, str) for p in producers):
                raise SnapshotError(f"snapshot unrouted[{etype!r}] must be a list of step names")
            self.unrouted[etype] = list(producers)
        metadata = decode_state_value(data.get("metadata", {}), path="metadata")
        if not isinstance(metadata, dict):
            raise SnapshotError("snapshot 'metadata' must be an object")
        self.metadata: dict[str, Any] = metadata

    def _read_outcome(self, outcome: Any) -> None:
        if not isinstance(outcome, dict):
            raise SnapshotError(f"a {self.status} snapshot needs an 'outcome' object")
        if self.status == "completed":
            event = _event(outcome.get("event"), "outcome.event")
            if event["type"] != STOP_EVENT:
                raise SnapshotError(f"snapshot outcome.event must be a {STOP_EVENT!r}, got {event['type']!r}")
            self.outcome_event = event
            return
        error = outcome.get("error")
        if not isinstance(error, dict):
            raise SnapshotError("a failed snapshot needs an 'outcome.error' object")
        described = {"type": _text(error, "type", "outcome.error"), "message": error.get("message")}
        if not isinstance(described["message"], str):
            raise SnapshotError("snapshot outcome.error 'message' must be a string")
        for name in ("step", "event_type"):
            value = error.get(name)
            if value is not None and not isinstance(value, str):
                raise SnapshotError(f"snapshot outcome.error {name!r} must be a string or null")
            described[name] = value
        active = error.get("active_steps", [])
        if not isinstance(active, list) or not all(
            isinstance(a, dict) and isinstance(a.get("step"), str) and isinstance(a.get("event_type"), str)
            for a in active
        ):
            raise SnapshotError("snapshot outcome.error 'active_steps' must list {step, event_type} objects")
        described["active_steps"] = [(a["step"], a["event_type"]) for a in active]
        self.outcome_error = described


def _definition(data: Mapping[str, Any]) -> dict[str, tuple[str, ...]] | None:
    """The definition fingerprint, validated: step name -> accepted event types."""
    given = data.get("definition")
    if given is None:
        if data.get("version") == 1:
            return None  # version 1 snapshots predate the fingerprint
        raise SnapshotError("snapshot is missing 'definition' (truncated?)")
    if not isinstance(given, dict) or not isinstance(given.get("steps"), list):
        raise SnapshotError("snapshot 'definition' must be an object with a 'steps' list")
    steps: dict[str, tuple[str, ...]] = {}
    if len(given["steps"]) > MAX_STEPS:
        raise SnapshotError(f"snapshot definition lists over {MAX_STEPS} steps")
    for i, step in enumerate(given["steps"]):
        where = f"definition.steps[{i}]"
        if not isinstance(step, dict):
            raise SnapshotError(f"snapshot {where} must be an object")
        name = _text(step, "name", where)
        accepts = step.get("accepts")
        if not isinstance(accepts, list) or not accepts or not all(isinstance(t, str) and t for t in accepts):
            raise SnapshotError(f"snapshot {where}.accepts must be a non-empty list of event types")
        if name in steps:
            raise SnapshotError(f"snapshot {where}: step {name!r} appears more than once")
        steps[name] = tuple(accepts)
    return steps


def parse(data: object) -> ParsedSnapshot:
    """Validate and decode a snapshot (a mapping, or its JSON text).

    Raises:
        SnapshotError: the snapshot is corrupt, truncated, of another format, or of a
            newer version than this blazen_py reads.
    """
    if isinstance(data, (str, bytes, bytearray)):
        data = loads(data)
    if not isinstance(data, Mapping):
        raise SnapshotError(f"a snapshot is a JSON object, got {kind_of(data)}")
    if data.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(
            f"not a blazen_py snapshot: 'format' is {data.get('format')!r}, expected {SNAPSHOT_FORMAT!r}"
        )
    version = data.get("version")
    if type(version) is not int:
        raise SnapshotError(f"snapshot 'version' must be an integer, got {version!r}")
    if version > SNAPSHOT_VERSION:
        raise SnapshotError(
            f"snapshot version {version} is newer than this blazen_py reads "
            f"(up to {SNAPSHOT_VERSION}); upgrade blazen_py"
        )
    if version < 1:
        raise SnapshotError(f"snapshot version {version} is not a valid version")
    try:
        return ParsedSnapshot(data)
    except SnapshotError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
        raise SnapshotError(f"corrupt snapshot: {type(exc).__name__}: {exc}") from None


def loads(text: str | bytes | bytearray) -> Any:
    """Parse snapshot JSON text (no pickle, no eval: JSON only).

    Raises:
        SnapshotError: the text is not valid JSON (for example, truncated).
    """
    if len(text) > _MAX_TEXT:
        raise SnapshotError(f"snapshot text is {len(text)} bytes, over the {_MAX_TEXT} byte limit")
    _check_depth(text)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SnapshotError(f"snapshot is not valid JSON (truncated or corrupt?): {exc}") from None


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_MAX_DEPTH = 256


def _check_depth(text: str | bytes | bytearray) -> None:
    # json.loads recurses once per level; in Pyodide a deep enough document overflows the
    # WebAssembly stack (a crash, not a RecursionError), so refuse it before parsing.
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if text.count("[") + text.count("{") <= _MAX_DEPTH:
        return
    depth = 0
    for char in _NOT_BRACKETS.sub("", _STRINGS.sub("", text)):
        if char == "[" or char == "{":
            depth += 1
            if depth > _MAX_DEPTH:
                raise SnapshotError(f"snapshot is nested more than {_MAX_DEPTH} levels deep")
        else:
            depth -= 1


def dumps(snapshot: Mapping[str, Any]) -> str:
    """Serialize a snapshot to compact JSON text.

    Raises:
        SnapshotError: it holds a value JSON has no form for (NaN, a cycle...).
    """
    try:
        return json.dumps(snapshot, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SnapshotError(f"cannot write the snapshot as JSON: {exc}") from None


def _field(data: Mapping[str, Any], name: str, kind: type, *, default: Any = None) -> Any:
    value = data.get(name, default)
    if not isinstance(value, kind):
        if value is None and default is None:
            raise SnapshotError(f"snapshot is missing {name!r} (truncated?)")
        raise SnapshotError(f"snapshot {name!r} must be a {kind.__name__}, got {kind_of(value)}")
    return value


def _text(data: Mapping[str, Any], name: str, where: str = "snapshot", *, allow_empty: bool = False) -> str:
    value = data.get(name)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise SnapshotError(f"{where} {name!r} must be a non-empty string, got {value!r}")
    return value


_MAX_CALLS = 10_000
_NUMBER = (int, float)


def _calls(data: Any, where: str) -> list[dict[str, Any]]:
    """The records of a step input's durable calls, in call order: ``collect``
    (``consumed``), ``sleep`` (``deadline``), ``wait`` (``type``, ``where``, ``deadline``,
    the ``event`` that arrived while paused); each field of its declared type, no other."""
    if not isinstance(data, list) or len(data) > _MAX_CALLS:
        raise SnapshotError(f"snapshot {where} must be a list of at most {_MAX_CALLS} call records")
    return [_call(record, f"{where}[{i}]") for i, record in enumerate(data)]


def _call(data: Any, where: str) -> dict[str, Any]:
    record = decode_state_value(data, path=where) if isinstance(data, dict) else None
    kind = record.get("kind") if isinstance(record, dict) else None
    allowed = {
        "collect": ("consumed",),
        "sleep": ("deadline",),
        "wait": ("type", "where", "deadline", "event"),
        "child": ("snapshot",),
        "map": ("count", "results", "children"),
        "parallel": ("count", "results", "children"),
    }
    if not isinstance(kind, str) or kind not in allowed or record is None:
        raise SnapshotError(f"snapshot {where} is not a call record (an object with a known 'kind')")
    for name in record:
        if name != "kind" and name not in allowed[kind]:
            raise SnapshotError(f"snapshot {where}.{name} is not allowed in a {kind!r} record")

    def bad(name: str) -> SnapshotError:
        return SnapshotError(f"snapshot {where}.{name} is of the wrong type")

    if kind == "collect" and not isinstance(record.get("consumed", False), bool):
        raise bad("consumed")
    deadline = record.get("deadline")
    if kind == "sleep" and deadline is None:
        raise bad("deadline")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, _NUMBER)):
        raise bad("deadline")
    if kind == "wait":
        etype = record.get("type")
        if not isinstance(etype, str) or not etype:
            raise bad("type")
        if record.get("where") is not None and not isinstance(record["where"], dict):
            raise bad("where")
        event = record.get("event")
        if event is not None and (not isinstance(event, dict) or event.get("type") != etype):
            raise SnapshotError(f"snapshot {where}.event is not an event of type {etype!r}")
    if kind in ("map", "parallel"):
        return _map_record(data, record, where, kind)
    if kind == "child":
        nested = record.get("snapshot")  # decoded back to the child's own snapshot data
        if not isinstance(nested, dict):
            raise bad("snapshot")
        parse(nested)
        return {"kind": "child", "snapshot": nested}
    return dict(record)


def _map_record(data: dict[str, Any], record: dict[str, Any], where: str, kind: str) -> dict[str, Any]:
    """A map (or parallel sub-workflows) step's record: ``count`` items (children), the
    ``results`` of those done and the ``children`` still running (their snapshots), keyed
    by index."""
    count = record.get("count")
    if type(count) is not int or not 0 <= count <= _MAX_CALLS * 10:
        raise SnapshotError(f"snapshot {where}.count is of the wrong type")
    results = record.get("results")
    children = record.get("children", {})
    if not isinstance(results, dict) or not isinstance(children, dict):
        raise SnapshotError(f"snapshot {where} results and children must be objects")
    for key in [*results, *children]:
        if not key.isdigit() or int(key) >= count:
            raise SnapshotError(f"snapshot {where} names item {key!r}, not an index below {count}")
    for key, value in results.items():
        if not isinstance(value, dict) or set(value) != {"data", "run_id"}:
            raise SnapshotError(f"snapshot {where}.results[{key!r}] must be {{data, run_id}}")
        if not isinstance(value["run_id"], str):
            raise SnapshotError(f"snapshot {where}.results[{key!r}] must be {{data, run_id}}")
    for key, nested in children.items():
        if not isinstance(nested, dict) or key in results:
            raise SnapshotError(f"snapshot {where}.children[{key!r}] must be an unfinished item's snapshot")
        parse(nested)
    return {"kind": kind, "count": count, "results": results, "children": dict(children)}


_MAX_ERROR_TEXT = 64 * 1024


def _retry(item: Mapping[str, Any], where: str) -> tuple[int, str, str, float | None]:
    """A retried step input's attempt, last error and next-attempt time, checked."""
    attempt = item.get("attempt")
    if type(attempt) is not int or not 2 <= attempt <= MAX_ATTEMPTS:
        raise SnapshotError(
            f"snapshot {where}.attempt must be an int from 2 to {MAX_ATTEMPTS}, got {attempt!r}"
        )
    error = item.get("last_error")
    if not isinstance(error, dict):
        raise SnapshotError(f"snapshot {where}.last_error must be an object with a name and a message")
    name, message = error.get("name"), error.get("message")
    if not isinstance(name, str) or not isinstance(message, str):
        raise SnapshotError(f"snapshot {where}.last_error name and message must be strings")
    if len(name) > _MAX_ERROR_TEXT or len(message) > _MAX_ERROR_TEXT:
        raise SnapshotError(f"snapshot {where}.last_error is longer than {_MAX_ERROR_TEXT} characters")
    due = item.get("not_before")
    if due is not None and (
        isinstance(due, bool) or not isinstance(due, (int, float)) or not math.isfinite(due) or due < 0
    ):
        raise SnapshotError(
            f"snapshot {where}.not_before must be a time in seconds since the epoch, got {due!r}"
        )
    return attempt, name, message, None if due is None else float(due)


def _event(data: Any, where: str) -> dict[str, Any]:
    event = decode_state_value(data, path=where)
    if not isinstance(event, dict) or not isinstance(event.get("type"), str) or not event["type"]:
        raise SnapshotError(f"snapshot {where} is not an event (an object with a string 'type')")
    return event
