"""A workflow's graph as Mermaid and Graphviz DOT text.

Node ids are made here (``s0``, ``e0``...), never taken from names; names only appear in
quoted labels, escaped for the target language, so a hostile name can neither close the
label nor add statements.
"""

from __future__ import annotations

from ..events import INPUT_REQUEST_EVENT, INPUT_RESPONSE_EVENT, START_EVENT, STOP_EVENT
from .graph import Description, short_type

__all__ = ["dot_escape", "mermaid_escape", "to_dot", "to_mermaid"]

_MERMAID_PLAIN = frozenset(" _-.,:/+=@!?()")


def mermaid_escape(text: str) -> str:
    """``text`` for inside a quoted Mermaid label: letters, digits and a few safe marks
    stay; everything else (quotes, ``<>&#;``, brackets, backticks, line breaks...) becomes
    a ``#code;`` entity, which Mermaid shows as the character itself, as text."""
    out = []
    for ch in text:
        out.append(ch if ch.isalnum() or ch in _MERMAID_PLAIN else f"#{ord(ch)};")
    return "".join(out)


def _ids(desc: Description) -> tuple[dict[str, str], dict[str, str]]:
    events: dict[str, str] = {}

    def add(etype: str) -> None:
        if etype not in events:
            events[etype] = f"e{len(events)}"

    add(START_EVENT)
    for step in desc["steps"]:
        for etype in step["accepts"]:
            add(etype)
        for etype in step["emits"] or ():
            add(etype)
    steps = {s["name"]: f"s{i}" for i, s in enumerate(desc["steps"])}
    return events, steps


def to_mermaid(desc: Description) -> str:
    """A Mermaid flowchart (left to right): steps as boxes, event types as rounded nodes,
    the start and stop events in classes of their own."""
    events, steps = _ids(desc)
    lines = ["flowchart LR", f"  %% workflow {mermaid_escape(desc['name'])}"]
    for etype, node in events.items():
        lines.append(f'  {node}(["{mermaid_escape(short_type(etype))}"])')
    for step in desc["steps"]:
        lines.append(f'  {steps[step["name"]]}["{mermaid_escape(step["name"])}"]')
    for step in desc["steps"]:
        sid = steps[step["name"]]
        lines.extend(f"  {events[t]} --> {sid}" for t in step["accepts"])
        lines.extend(f"  {sid} --> {events[t]}" for t in step["emits"] or ())
    if INPUT_REQUEST_EVENT in events and INPUT_RESPONSE_EVENT in events:
        lines.append(
            f'  {events[INPUT_REQUEST_EVENT]} -. "respond_to_input" .-> {events[INPUT_RESPONSE_EVENT]}'
        )
    lines.append("  classDef step fill:#eef2fb,stroke:#2f6db5")
    lines.append("  classDef event fill:#ffffff,stroke:#a3abbb")
    lines.append("  classDef start fill:#eef1f5,stroke:#64748b,stroke-width:2px")
    lines.append("  classDef stop fill:#e7f4ec,stroke:#23774a,stroke-width:2px")
    if steps:
        lines.append(f"  class {','.join(steps.values())} step")
    plain = [n for t, n in events.items() if t not in (START_EVENT, STOP_EVENT)]
    if plain:
        lines.append(f"  class {','.join(plain)} event")
    lines.append(f"  class {events[START_EVENT]} start")
    if STOP_EVENT in events:
        lines.append(f"  class {events[STOP_EVENT]} stop")
    return "\n".join(lines) + "\n"


def dot_escape(text: str) -> str:
    """``text`` for inside a double-quoted DOT string: backslash and quote escaped (so
    Graphviz's own ``\\N``-style escapes cannot appear), line breaks as ``\\n``, other
    control characters dropped."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch in "\r\n":
            out.append("\\n")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def to_dot(desc: Description) -> str:
    """A Graphviz digraph (left to right): steps as boxes, event types as ellipses, the
    start and stop events filled."""
    events, steps = _ids(desc)
    lines = [
        f'digraph "{dot_escape(desc["name"])}" {{',
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
    ]
    for etype, node in events.items():
        style = ""
        if etype == START_EVENT:
            style = ', style=filled, fillcolor="#eef1f5", color="#64748b", penwidth=2'
        elif etype == STOP_EVENT:
            style = ', style=filled, fillcolor="#e7f4ec", color="#23774a", penwidth=2'
        lines.append(f'  {node} [shape=ellipse, label="{dot_escape(short_type(etype))}"{style}];')
    for step in desc["steps"]:
        dashed = ", dashed" if step["emits"] is None else ""
        lines.append(
            f'  {steps[step["name"]]} [shape=box, style="rounded,filled{dashed}", fillcolor="#eef2fb", '
            f'color="#2f6db5", label="{dot_escape(step["name"])}"];'
        )
    for step in desc["steps"]:
        sid = steps[step["name"]]
        lines.extend(f"  {events[t]} -> {sid};" for t in step["accepts"])
        lines.extend(f"  {sid} -> {events[t]};" for t in step["emits"] or ())
    if INPUT_REQUEST_EVENT in events and INPUT_RESPONSE_EVENT in events:
        lines.append(
            f"  {events[INPUT_REQUEST_EVENT]} -> {events[INPUT_RESPONSE_EVENT]} "
            '[style=dashed, color="#c2410c", label="respond_to_input"];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
