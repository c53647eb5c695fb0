"""A snapshot as a readable summary: status, state keys and sizes, queued events, steps in
flight, open input requests, session refs.

A snapshot may come from storage, another tab or a file: it is validated with
:func:`.format.parse` first (an invalid one is summarized as the reason it is invalid),
every name is clipped, and long lists are cut with a count of what was left out. The
HTML is an element tree of :mod:`blazen_py._draw.tree`, written out with its escaping.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from .._draw.graph import short_type
from .._draw.tree import Node, clip, el
from ..errors import SnapshotError
from .format import loads, parse

__all__ = ["snapshot_lines", "snapshot_tree"]


ROWS = 40
BORDER = "1px solid #d9dde5"


def _size(value: Any) -> int:
    try:
        return len(json.dumps(value, separators=(",", ":")).encode())
    except (TypeError, ValueError):
        return -1


def _bytes(n: int) -> str:
    if n < 0:
        return "?"
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        if set(value) == {"$bytes"}:
            return "bytes"
        if set(value) == {"$int"}:
            return "int"
        if set(value) == {"$map"}:
            return "dict"
        return "dict"
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", type(None): "None"}.get(
        type(value), type(value).__name__
    )


def _facts(snapshot: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    if isinstance(snapshot, (str, bytes, bytearray)):
        snapshot = loads(snapshot)
    parsed = parse(snapshot)  # raises SnapshotError with the reason
    assert isinstance(snapshot, Mapping)
    created = snapshot.get("created_at")
    when = "?"
    if isinstance(created, (int, float)) and not isinstance(created, bool) and 0 <= created < 1e11:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
    state = snapshot["state"]  # checked by parse: a dict of encoded StateValues
    return {
        "workflow": parsed.workflow,
        "run_id": parsed.run_id,
        "status": parsed.status,
        "created": when,
        "state": [(str(k), _kind(v), _size(v)) for k, v in state.items()],
        "state_bytes": _size(state),
        "queue": Counter(e["type"] for e in parsed.queue),
        "in_flight": [(step, event["type"]) for step, event in parsed.step_inputs],
        "requests": [(rid, step, prompt) for rid, prompt, _, step in parsed.input_requests],
        "refs": [(key, tag, len(payload)) for key, tag, payload in parsed.session_refs],
        "metadata": sorted(str(k) for k in parsed.metadata),
    }


def snapshot_lines(snapshot: Mapping[str, Any] | str | bytes) -> list[str]:
    """The summary as lines of plain text."""
    try:
        f = _facts(snapshot)
    except SnapshotError as exc:
        return [f"not a valid blazen_py snapshot: {clip(str(exc), 300)}"]
    lines = [
        f"snapshot of {clip(f['workflow'], 60)!r}, run {f['run_id']}, {f['status']}, taken {f['created']}",
        f"state: {_count(len(f['state']), 'key')}, {_bytes(f['state_bytes'])}",
    ]
    lines += [f"  {clip(k, 60)}: {kind}, {_bytes(n)}" for k, kind, n in f["state"][:ROWS]]
    if len(f["state"]) > ROWS:
        lines.append(f"  ... and {len(f['state']) - ROWS} more keys")
    queued = (
        ", ".join(f"{clip(short_type(t), 40)} x{n}" for t, n in list(f["queue"].items())[:ROWS]) or "none"
    )
    lines.append(f"queued events: {queued}")
    flights = (
        ", ".join(f"{clip(s, 40)} <- {clip(short_type(t), 40)}" for s, t in f["in_flight"][:ROWS]) or "none"
    )
    lines.append(f"steps in flight (run again on resume): {flights}")
    lines.append(f"open input requests: {len(f['requests'])}")
    lines += [
        f"  {rid} from {clip(str(step), 40)}: {clip(repr(prompt), 80)}"
        for rid, step, prompt in f["requests"][:ROWS]
    ]
    if f["refs"]:
        lines.append(
            "session refs: "
            + ", ".join(f"{clip(k, 40)} ({clip(t, 30)}, {_bytes(n)})" for k, t, n in f["refs"][:ROWS])
        )
    if f["metadata"]:
        lines.append("metadata keys: " + ", ".join(clip(k, 40) for k in f["metadata"][:ROWS]))
    return lines


def _table(head: list[str], rows: list[list[str]], more: int) -> Node:
    cell = {"style": f"border-bottom:{BORDER};padding:2px 10px 2px 0;text-align:left;font-weight:normal"}
    table = el(
        "table",
        {"style": "border-collapse:collapse;font-size:12px;margin:2px 0 6px"},
        el("tr", {}, *(el("th", {**cell, "style": cell["style"] + ";color:#5d6474"}, h) for h in head)),
    )
    for row in rows:
        table.append(el("tr", {}, *(el("td", cell, v) for v in row)))
    if more:
        table.append(el("tr", {}, el("td", cell, f"... and {more} more")))
    return table


def snapshot_tree(snapshot: Mapping[str, Any] | str | bytes) -> Node:
    """The summary as an HTML element tree (``<div class="blazen-snapshot">``)."""
    box = el(
        "div",
        {
            "class": "blazen-snapshot",
            "style": f"font-family:system-ui,sans-serif;font-size:13px;border:{BORDER};border-radius:8px;"
            "padding:8px 12px;background:#fff;color:#1c1f26",
        },
    )
    try:
        f = _facts(snapshot)
    except SnapshotError as exc:
        box.append(
            el(
                "p",
                {"style": "margin:0;color:#b42318"},
                f"Not a valid blazen_py snapshot: {clip(str(exc), 300)}",
            )
        )
        return box
    box.append(
        el(
            "p",
            {"style": "margin:0 0 6px"},
            el("b", {}, f"Snapshot of {clip(f['workflow'], 60)}"),
            f" \u00b7 {f['status']} \u00b7 run {f['run_id']} \u00b7 taken {f['created']}",
        )
    )
    section = {"style": "margin:6px 0 2px;font-weight:600"}
    box.append(el("p", section, f"State: {_count(len(f['state']), 'key')}, {_bytes(f['state_bytes'])}"))
    if f["state"]:
        rows = [[clip(k, 60), kind, _bytes(n)] for k, kind, n in f["state"][:ROWS]]
        box.append(_table(["key", "type", "size"], rows, max(len(f["state"]) - ROWS, 0)))
    box.append(el("p", section, f"Queued events: {sum(f['queue'].values())}"))
    if f["queue"]:
        rows = [[clip(short_type(t), 60), str(n)] for t, n in list(f["queue"].items())[:ROWS]]
        box.append(_table(["event type", "count"], rows, max(len(f["queue"]) - ROWS, 0)))
    box.append(el("p", section, f"Steps in flight: {len(f['in_flight'])} (run again on resume)"))
    if f["in_flight"]:
        rows = [[clip(s, 60), clip(short_type(t), 60)] for s, t in f["in_flight"][:ROWS]]
        box.append(_table(["step", "handling"], rows, max(len(f["in_flight"]) - ROWS, 0)))
    box.append(el("p", section, f"Open input requests: {len(f['requests'])}"))
    if f["requests"]:
        rows = [
            [rid, clip(str(step), 40), clip(repr(prompt), 100)] for rid, step, prompt in f["requests"][:ROWS]
        ]
        box.append(_table(["request id", "step", "prompt"], rows, max(len(f["requests"]) - ROWS, 0)))
    if f["refs"]:
        box.append(el("p", section, f"Session refs: {len(f['refs'])}"))
        rows = [[clip(k, 60), clip(t, 40), _bytes(n)] for k, t, n in f["refs"][:ROWS]]
        box.append(_table(["key", "type tag", "size"], rows, max(len(f["refs"]) - ROWS, 0)))
    if f["metadata"]:
        box.append(
            el(
                "p",
                {"style": "margin:6px 0 0;color:#5d6474"},
                "Metadata keys: " + ", ".join(clip(k, 40) for k in f["metadata"][:ROWS]),
            )
        )
    return box
