"""Drawings as element trees: one description, written out as SVG/HTML text or built as DOM.

A node is a list ``[tag, attrs, *children]``: ``tag`` a string, ``attrs`` a dict of
attribute names to values (``str``, ``int`` or ``float``), each child a node or a text
string. Trees are plain JSON, so the page gets the very drawing a notebook shows:
``web/graph.js`` builds DOM nodes from them (``createElementNS`` and ``textContent``),
and :func:`to_markup` writes them as text for notebooks and files.

Names in a drawing come from user code and are hostile: they only ever go into text
nodes and attribute values, both escaped here, never into tags, attribute names or CSS.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["Node", "clip", "el", "text_width", "to_markup"]

Node = list[Any]
"""``[tag, attrs, *children]``; a child is a :data:`Node` or a ``str``."""

Child = Node | str

# Characters XML 1.0 does not allow at all (so no escape can carry them): C0 controls but
# tab/newline/return, lone surrogates, U+FFFE/U+FFFF.
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TAG = re.compile(r"^[a-z][a-z0-9]*$")
_ATTR = re.compile(r"^[a-zA-Z][a-zA-Z0-9:-]*$")


def el(tag: str, attrs: dict[str, Any] | None = None, *children: Child) -> Node:
    """A node; ``None`` children are left out (handy for optional parts)."""
    return [tag, attrs or {}, *(c for c in children if c is not None)]


def clean(text: str) -> str:
    """``text`` with the characters XML cannot hold replaced by U+FFFD."""
    return _INVALID.sub("\ufffd", text)


def clip(text: str, limit: int) -> str:
    """``text`` on one line and at most ``limit`` characters (an ellipsis marks a cut)."""
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= limit else one_line[: max(limit - 1, 1)] + "\u2026"


def text_width(text: str, size: float) -> float:
    """About how wide ``text`` is at font ``size`` px (wide East Asian characters count twice)."""
    units = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return units * size * 0.6 + 4


def _escape_text(text: str) -> str:
    # A raw CR would come back as LF (XML normalizes line ends); a reference keeps it.
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _escape_attr(value: Any) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return _escape_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def to_markup(node: Child) -> str:
    """Write a tree as XML text (valid in HTML too; give the root ``xmlns`` for a file)."""
    out: list[str] = []
    _write(node, out)
    return "".join(out)


def _write(node: Child, out: list[str]) -> None:
    if isinstance(node, str):
        out.append(_escape_text(node))
        return
    tag, attrs, *children = node
    if not _TAG.match(tag):  # our own code makes tags; a bad one is a bug, not data
        raise ValueError(f"bad tag {tag!r}")
    out.append("<" + tag)
    for name, value in attrs.items():
        if not _ATTR.match(name) or name[:2].lower() == "on":
            raise ValueError(f"bad attribute name {name!r}")
        out.append(f' {name}="{_escape_attr(value)}"')
    if not children:
        out.append("/>" if tag not in _HTML_CONTAINERS else f"></{tag}>")
        return
    out.append(">")
    for child in children:
        _write(child, out)
    out.append(f"</{tag}>")


# HTML elements that must not be written self-closing (`<div/>` opens a div in HTML).
_HTML_CONTAINERS = frozenset({"div", "span", "p", "table", "tr", "td", "th", "code", "ul", "li", "b", "pre"})
