"""Write docs/python-api.md: every public name of ``blazen_py.__all__``, from its docstrings.

    python docs/gen_api.py           # rewrite docs/python-api.md
    python docs/gen_api.py --check   # exit 1 if docs/python-api.md is not up to date

Standard library only; imports blazen_py from this repository.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "python-api.md"
sys.path.insert(0, str(ROOT))

import blazen_py  # noqa: E402
import blazen_py.notebook  # noqa: E402

GROUPS = (
    (
        "Workflows",
        ("Workflow", "WorkflowBuilder", "WorkflowHandler", "WorkflowResult", "Step", "ValidationProblem"),
    ),
    (
        "Context and state",
        ("Context", "StateNamespace", "SessionNamespace", "StateValue", "FieldStore", "register_state_class"),
    ),
    ("Events and streams", ("Event", "StreamEvent")),
    ("Retries", ("RetryPolicy", "RetryableError", "NonRetryableError")),
    ("Snapshots and stores", ("SnapshotStore", "ClaimingStore", "MemoryStore", "IndexedDBStore")),
    ("Models", ("ChatMessage", "CompletionModel", "CompletionResponse", "CompletionChunk", "Usage")),
    (
        "Model transports",
        ("Transport", "MockTransport", "HttpRequest", "HttpResponse", "StreamingHttpResponse"),
    ),
    ("The page's event loop", ("install_fast_loop", "uninstall_fast_loop")),
)


def annotation(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return ""
    return value if isinstance(value, str) else inspect.formatannotation(value)


def signature(obj: Any, *, drop_self: bool = False) -> str:
    """``(a: int, *, b: str = 'x') -> None``, annotations as written in the source."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    parts = []
    star_done = False
    params = list(sig.parameters.values())
    if drop_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    for i, p in enumerate(params):
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if p.kind is p.VAR_POSITIONAL:
            star_done = True
            text = f"*{p.name}"
        elif p.kind is p.VAR_KEYWORD:
            text = f"**{p.name}"
        else:
            text = p.name
        ann = annotation(p.annotation)
        if ann:
            text += f": {ann}"
        if p.default is not p.empty:
            text += f" = {p.default!r}" if ann else f"={p.default!r}"
        parts.append(text)
        if p.kind is p.POSITIONAL_ONLY and (
            i + 1 == len(params) or params[i + 1].kind is not p.POSITIONAL_ONLY
        ):
            parts.append("/")
    out = f"({', '.join(parts)})"
    ret = annotation(sig.return_annotation)
    return out + (f" -> {ret}" if ret else "")


def doc(obj: Any) -> str:
    text = inspect.getdoc(obj) or ""
    return text.strip()


SECTION = re.compile(r"^(Args|Arguments|Returns|Raises|Yields|Attributes|Example|Examples|Exports):?:?$")
ROLE = re.compile(r":(?:class|meth|func|attr|mod|exc|data|obj):`~?([^`]+)`")


def indented_block(lines: list[str], start: int) -> tuple[list[str], int]:
    """The indented (or blank) lines from `start`, dedented; and the index after them."""
    end = start
    while end < len(lines) and (lines[end].startswith(" ") or not lines[end].strip()):
        end += 1
    body = lines[start:end]
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    return textwrap.dedent("\n".join(body)).split("\n"), end


def markdown(text: str) -> list[str]:
    """A Google-style docstring as Markdown: sections become lists, `::` blocks code."""
    lines = ROLE.sub(r"`\1`", text).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        section = SECTION.match(line.strip()) if not line.startswith(" ") else None
        if section:
            body, i = indented_block(lines, i + 1)
            name = section.group(1)
            if name in ("Example", "Examples") or line.strip().endswith("::"):
                out += [f"**{name}:**", "", "```python", *body, "```", ""]
                continue
            out += [f"**{name}:**", ""]
            items: list[str] = []
            for entry in body:
                if entry and not entry.startswith(" "):
                    items.append(entry.strip())
                elif items and entry.strip():
                    items[-1] += " " + entry.strip()
            for item in items:
                key, sep, rest = item.partition(": ")
                if sep and re.fullmatch(r"[\w.*]+", key):
                    out.append(f"- `{key}`: {rest}")
                else:
                    out.append(f"- {item}")
            out.append("")
            continue
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])
            body, i = indented_block(lines, i + 1)
            out += ["", "```python", *body, "```", ""]
            continue
        out.append(line)
        i += 1
    while out and not out[-1].strip():
        out.pop()
    return out


def block(text: str) -> list[str]:
    """A docstring as Markdown lines, followed by a blank line."""
    if not text:
        return ["*(no docstring)*", ""]
    return [*markdown(text), ""]


def own_members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties defined by cls or its blazen_py bases (not builtins)."""
    seen: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        if not (base.__module__ or "").startswith("blazen_py"):
            continue
        for name, value in vars(base).items():
            if name.startswith("_") and name != "__init__":
                continue
            seen[name] = value
    return sorted(seen.items(), key=lambda kv: (kv[0] != "__init__", kv[0]))


def document_class(name: str, cls: type) -> list[str]:
    bases = [b.__name__ for b in cls.__bases__ if b is not object]
    head = f"### class `{name}`"
    if bases:
        head += f" ({', '.join(f'`{b}`' for b in bases)})"
    lines = [head, ""]
    if "__init__" in vars(cls) or any(
        "__init__" in vars(b) for b in cls.__mro__[1:] if b.__module__.startswith("blazen_py")
    ):
        lines += ["```python", f"{name}{signature(cls)}", "```", ""]
    lines += block(doc(cls))
    if issubclass(cls, BaseException):
        return lines
    for member, value in own_members(cls):
        if member == "__init__":
            continue
        if isinstance(value, property):
            lines += [f"#### `{name}.{member}` (property)", ""]
            lines += block(doc(value))
        elif isinstance(value, (classmethod, staticmethod)):
            func = value.__func__
            kind = "classmethod" if isinstance(value, classmethod) else "staticmethod"
            lines += [f"#### `{name}.{member}{signature(func, drop_self=True)}` ({kind})", ""]
            lines += block(doc(func))
        elif inspect.isfunction(value):
            prefix = (
                "async " if inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value) else ""
            )
            lines += [f"#### `{prefix}{name}.{member}{signature(value, drop_self=True)}`", ""]
            lines += block(doc(value))
    return lines


def browser_only(name: str) -> Any:
    """The Pyodide implementation of a name whose CPython stand-in only raises (for its
    docstrings and signatures): its module imported with placeholder ``pyodide`` modules,
    none of its code run, and dropped from ``sys.modules`` again."""
    import importlib
    import types

    placeholders = {
        "pyodide": types.ModuleType("pyodide"),
        "pyodide.code": types.ModuleType("pyodide.code"),
        "pyodide.ffi": types.ModuleType("pyodide.ffi"),
    }
    placeholders["pyodide.code"].run_js = None  # type: ignore[attr-defined]
    placeholders["pyodide.ffi"].JsProxy = object  # type: ignore[attr-defined]
    placeholders["pyodide.ffi"].jsnull = None  # type: ignore[attr-defined]
    module_name = BROWSER_ONLY[name]
    saved = {key: sys.modules.get(key) for key in (*placeholders, module_name)}
    sys.modules.update(placeholders)
    try:
        sys.modules.pop(module_name, None)
        return getattr(importlib.import_module(module_name), name)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def type_alias(name: str) -> tuple[str, str] | None:
    """``(expression, docstring)`` of a module-level ``name = <type>`` in blazen_py followed by
    a string (its docstring), as written in the source; None when there is none or ``name``
    is a class of ours. (At run time such an alias is the aliased object, e.g. ``typing.Any``,
    with that object's docstring.)"""
    obj = getattr(blazen_py, name, None)
    if inspect.isclass(obj) and (obj.__module__ or "").startswith("blazen_py"):
        return None
    return documented_assignments().get(name)


@functools.cache
def documented_assignments() -> dict[str, tuple[str, str]]:
    """Every module-level ``NAME = value`` of blazen_py with a docstring after it."""
    import ast

    found: dict[str, tuple[str, str]] = {}
    for path in sorted((ROOT / "blazen_py").rglob("*.py")):
        body = ast.parse(path.read_text()).body
        for node, following in itertools.pairwise(body):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                text = inspect.cleandoc(following.value.value)
                found.setdefault(node.targets[0].id, (ast.unparse(node.value), text))
    return found


# Documented from their Pyodide implementation (what users of the browser get), with a note
# of what CPython's stand-in does.
BROWSER_ONLY = {"IndexedDBStore": "blazen_py._compat._idb"}


def document(name: str, module: Any = blazen_py) -> list[str]:
    if module is blazen_py and name in BROWSER_ONLY:
        lines = document_class(name, browser_only(name))
        note = (
            "*In Pyodide in a browser (or a Web Worker) only.* On CPython creating one raises "
            "`StoreError`: use `MemoryStore` or a `SnapshotStore` of your own there."
        )
        return [*lines[:2], note, "", *lines[2:]]
    obj = getattr(module, name)
    alias = type_alias(name)
    if alias is not None:
        expression, text = alias
        return [f"### `{name}` (type alias)", "", f"```python\n{name} = {expression}\n```", "", *block(text)]
    if inspect.isclass(obj):
        return document_class(name, obj)
    if inspect.isfunction(obj):
        prefix = "async " if inspect.iscoroutinefunction(obj) else ""
        return [f"### `{prefix}{name}{signature(obj)}`", "", *block(doc(obj))]
    if isinstance(obj, (str, int, float)):
        return [f"### `{name} = {obj!r}`", ""]
    # A type alias or other object.
    return [f"### `{name}`", "", f"```python\n{name} = {obj!r}\n```", ""]


def render() -> str:
    names = list(blazen_py.__all__)
    lines = [
        "# blazen_py: Python API reference",
        "",
        "<!-- Generated by docs/gen_api.py from the docstrings; do not edit by hand. -->",
        "",
        f"Every public name of `blazen_py` (its `__all__`), version {blazen_py.__version__}.",
        "Import them from the package: `from blazen_py import Workflow, START_EVENT, STOP_EVENT`.",
        "`IndexedDBStore`, the model names and `install_fast_loop` are imported on first use.",
        "",
        "## Module",
        "",
        *block(doc(blazen_py)),
    ]
    placed: set[str] = set()
    sections: list[tuple[str, list[str]]] = []
    for title, group in GROUPS:
        members = [n for n in group if n in names]
        placed.update(members)
        sections.append((title, members))
    constants = [n for n in names if n not in placed and not inspect.isclass(getattr(blazen_py, n))]
    errors = [
        n
        for n in names
        if n not in placed
        and inspect.isclass(getattr(blazen_py, n))
        and issubclass(getattr(blazen_py, n), BaseException)
    ]
    placed.update(constants + errors)
    rest = [n for n in names if n not in placed]
    sections += [("Constants", constants), ("Errors", errors), ("Other", rest)]
    lines += ["## Contents", ""]
    for title, members in sections:
        if members:
            lines.append(f"- **{title}**: " + ", ".join(f"`{m}`" for m in members))
    lines.append("")
    for title, members in sections:
        if not members:
            continue
        lines += [f"## {title}", ""]
        for name in members:
            lines += document(name)
    notebook = blazen_py.notebook
    lines += ["## Notebooks: `blazen_py.notebook`", "", *block(doc(notebook))]
    for name in notebook.__all__:
        lines += document(name, notebook)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run `python docs/gen_api.py`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(blazen_py.__all__)} names)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
