"""The JS/Python boundary, declared once.

``web/blazen.js`` drives the engine through the functions of ``blazen_py/_jsbridge.py``.
Everything the two sides must agree on is declared here, on the Python side:

* **the bridge's exports and their kind**: a bridge function decorated with
  :func:`export` is *sync* (JS calls it with ``call(name, ...)`` and gets its return
  value); one decorated with :func:`export_async` is *async* (JS calls it with
  ``callAsync(name, ...)``, which passes a fresh *call id* first, and the bridge settles
  that call later through ``resolveCall(callId, value)`` / ``rejectCall(callId, error)``);
* **the error classes**: every subclass of :class:`~blazen_py.errors.BlazenError`, with
  its JS name (the same), its JS parent, and the fields its ``js_fields`` declare;
* **the value encoding**: the tags and limits of the state codec (:mod:`blazen_py.state`)
  and the BlazenState protocol's reserved key suffix.

This module is platform-free. ``python build.py`` writes from it what JS must mirror
(``web/errors.js``, ``web/errors.d.ts``, ``web/codec.js``, all generated: do not edit
them), and the tests fail when a generated file, or a call in ``blazen.js``, differs
from the declaration.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .blazen_state import META_SUFFIX
from .errors import BlazenError
from .state import BYTES_TAG, INT_TAG, MAP_TAG, MAX_INT_DIGITS

__all__ = [
    "ASYNC",
    "EXPORTS",
    "GENERATED",
    "SYNC",
    "camel",
    "declared_exports",
    "error_classes",
    "error_fields",
    "export",
    "export_async",
    "render",
]

SYNC = "sync"
ASYNC = "async"

F = TypeVar("F", bound=Callable[..., Any])

EXPORTS: dict[str, tuple[str, Callable[..., Any]]] = {}
"""Name -> (kind, function) of every bridge export registered so far (in Pyodide)."""


def export(fn: F) -> F:
    """Declare ``fn`` a sync export of the bridge, called from JS by its name."""
    EXPORTS[fn.__name__] = (SYNC, fn)
    return fn


def export_async(fn: F) -> F:
    """Declare ``fn`` an async export: its first argument is the JS call id it settles."""
    EXPORTS[fn.__name__] = (ASYNC, fn)
    return fn


_BRIDGE = Path(__file__).with_name("_jsbridge.py")
_KINDS = {"export": SYNC, "export_async": ASYNC}


def declared_exports(source: str | None = None) -> dict[str, str]:
    """Name -> kind of every export of ``_jsbridge.py``, read from its decorators.

    Reads the source (the bridge itself imports ``js``, so it cannot be imported
    outside Pyodide); in Pyodide, :data:`EXPORTS` holds the same after the import.
    """
    tree = ast.parse(source if source is not None else _BRIDGE.read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Name) and decorator.id in _KINDS:
                    found[node.name] = _KINDS[decorator.id]
    return found


# -- errors -------------------------------------------------------------------------------


# Modules that import the platform (js, pyodide), or the server's dependencies (DBOS;
# build.py runs without them): not imported to find error classes. blazen_py.server
# defines none (the errors its clients see are core classes, RemoteError among them).
_PLATFORM_ONLY = (
    "blazen_py.server",
    "blazen_py._jsbridge",
    "blazen_py._jsvalues",
    "blazen_py._compat._pyodide",
    "blazen_py._compat._idb",
    "blazen_py._compat._fast_loop",
)


def _import_all() -> None:
    import blazen_py

    for info in pkgutil.walk_packages(blazen_py.__path__, "blazen_py."):
        if not info.name.startswith(_PLATFORM_ONLY):
            importlib.import_module(info.name)


def error_classes() -> list[type[BlazenError]]:
    """Every error class of blazen_py, each after its parent (the JS declaration order).

    Every module of the package is imported first (but the platform-only ones), so that an
    error class is mirrored wherever it is defined.
    """
    _import_all()

    def walk(cls: type[BlazenError]) -> Iterator[type[BlazenError]]:
        if _public(cls):
            yield cls  # a private base is transparent: its children extend its parent
        for sub in sorted(cls.__subclasses__(), key=lambda c: c.__name__):
            if sub.__module__.startswith("blazen_py."):
                yield from walk(sub)

    seen: dict[str, type[BlazenError]] = {}
    for cls in walk(BlazenError):
        seen.setdefault(cls.__name__, cls)
    return list(seen.values())


def _public(cls: type) -> bool:
    return not cls.__name__.startswith("_")


def _js_base(cls: type[BlazenError]) -> type[BlazenError] | None:
    """The nearest public BlazenError ``cls`` derives from (private bases are skipped)."""
    for base in cls.__bases__:
        if issubclass(base, BlazenError):
            return base if _public(base) else _js_base(base)
    return None


def js_parent(cls: type[BlazenError]) -> str:
    """The JS class ``cls`` extends: its nearest public BlazenError base, else ``Error``."""
    base = _js_base(cls)
    return "Error" if base is None else base.__name__


def own_fields(cls: type[BlazenError]) -> dict[str, str]:
    """The fields ``cls`` declares beyond its JS parent's (its own, and those of private
    bases in between): Python name -> TS type."""
    fields: dict[str, str] = {}
    base = _js_base(cls)
    for klass in reversed(cls.__mro__):
        if klass is cls or (
            isinstance(klass, type)
            and issubclass(klass, BlazenError)
            and not _public(klass)
            and issubclass(cls, klass)
            and (base is None or not issubclass(base, klass))
        ):
            declared = klass.__dict__.get("js_fields")
            if isinstance(declared, Mapping):
                fields.update(declared)
    return fields


def camel(name: str) -> str:
    """``event_type`` -> ``eventType``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def error_fields(error: BaseException) -> dict[str, Any]:
    """The descriptor of ``error`` that ``blazen.js`` rebuilds as a typed ``Error``.

    ``name`` and ``message``, plus every declared field of its classes (camelCase keys),
    ``blazen: true`` for blazen_py's own errors and ``model: true`` for model errors (so
    that JS can fall back to the nearest class it knows).
    """
    fields: dict[str, Any] = {"name": type(error).__name__, "message": str(error)}
    if isinstance(error, BlazenError):
        fields["blazen"] = True
        for cls in type(error).__mro__:
            if isinstance(cls, type) and issubclass(cls, BlazenError):
                for name in own_fields(cls):
                    fields.setdefault(camel(name), _js_data(getattr(error, name, None)))
        from .errors import ModelError

        if isinstance(error, ModelError):
            fields["model"] = True
    return fields


def _js_data(value: Any) -> Any:
    """A field's value for JS: named tuples (the engine's records) become objects with
    camelCase keys; everything else (user data included) is left as it is."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {camel(k): _js_data(v) for k, v in zip(value._fields, value, strict=True)}
    if isinstance(value, list):
        return [_js_data(v) for v in value]
    return value


_ATTRIBUTES = re.compile(r"^\s*Attributes:\s*$")


def _doc_parts(cls: type) -> tuple[str, dict[str, str]]:
    """The first paragraph of ``cls``'s docstring and its ``Attributes:`` entries."""
    doc = inspect.getdoc(cls) or ""
    summary = " ".join(doc.split("\n\n", 1)[0].split())
    attributes: dict[str, str] = {}
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if _ATTRIBUTES.match(line):
            current = None
            for entry in lines[i + 1 :]:
                match = re.match(r"^\s{4}(\w+): (.*)$", entry)
                if match:
                    current = match.group(1)
                    attributes[current] = match.group(2).strip()
                elif current and entry.startswith(" " * 8):
                    attributes[current] += " " + entry.strip()
                elif entry.strip():
                    break
    return summary, {k: _js_words(v) for k, v in attributes.items()}


def _js_words(text: str) -> str:
    text = text.replace("``None``", "null").replace("``", "`")
    return re.sub(r":(?:class|meth|func|attr):`~?([^`]+)`", lambda m: m.group(1).rsplit(".", 1)[-1], text)


# -- rendering ------------------------------------------------------------------------------

_HEADER = "Generated by `python build.py` from blazen_py/_boundary.py: do not edit."


def render_errors_js() -> str:
    """``web/errors.js``: the JS twin of every error class."""
    out = [
        f"// {_HEADER}",
        "//",
        "// Every error blazen.js throws. A Python error crossing the bridge arrives as a",
        "// descriptor ({name, message, ...fields}) and is rebuilt as the class of that name.",
        "",
    ]
    for cls in error_classes():
        summary, attributes = _doc_parts(cls)
        fields = own_fields(cls)
        parent = js_parent(cls)
        out.append(f"/** {_js_words(summary)} */")
        if parent == "Error":
            out += [
                f"export class {cls.__name__} extends Error {{",
                "  constructor(message, info = {}) {",
                "    super(message);",
                "    this.name = info.name ?? new.target.name;",
            ]
        elif fields:
            out += [
                f"export class {cls.__name__} extends {parent} {{",
                "  constructor(message, info = {}) {",
                "    super(message, info);",
            ]
        else:
            out += [f"export class {cls.__name__} extends {parent} {{}}", ""]
            continue
        for name in fields:
            doc = attributes.get(name)
            if doc:
                out.append(f"    /** {doc} */")
            out.append(f"    this.{camel(name)} = info.{camel(name)} ?? null;")
        if parent == "Error":
            out.append("    if (info.cause !== undefined) this.cause = info.cause;")
        out += ["  }", "}", ""]
    return "\n".join(out)


def render_errors_dts() -> str:
    """``web/errors.d.ts``: the declarations of ``web/errors.js``."""
    out = [f"// {_HEADER}", ""]
    for cls in error_classes():
        summary, attributes = _doc_parts(cls)
        fields = own_fields(cls)
        parent = js_parent(cls)
        out.append(f"/** {_js_words(summary)} */")
        if not fields and parent != "Error":
            out += [f"export class {cls.__name__} extends {parent} {{}}", ""]
            continue
        out.append(f"export class {cls.__name__} extends {parent} {{")
        if parent == "Error":
            out.append("  constructor(message: string, info?: Record<string, unknown>);")
        for name, ts_type in fields.items():
            doc = attributes.get(name)
            if doc:
                out.append(f"  /** {doc} */")
            out.append(f"  {camel(name)}: {ts_type};")
        out += ["}", ""]
    return "\n".join(out)


def render_codec_js() -> str:
    """``web/codec.js``: the tags of the state codec's JSON encoding."""
    return "\n".join(
        [
            f"// {_HEADER}",
            "",
            "/** Tag of encoded bytes: {[BYTES_TAG]: base64}. */",
            f"export const BYTES_TAG = {BYTES_TAG!r};".replace("'", '"'),
            "/** Tag of an encoded object that has a key starting with '$': {[MAP_TAG]: {...}}. */",
            f"export const MAP_TAG = {MAP_TAG!r};".replace("'", '"'),
            "/** Tag of an encoded integer beyond Number.MAX_SAFE_INTEGER: {[INT_TAG]: 'digits'}. */",
            f"export const INT_TAG = {INT_TAG!r};".replace("'", '"'),
            "/** Most decimal digits of a storable integer. */",
            f"export const MAX_INT_DIGITS = {MAX_INT_DIGITS};",
            "/** The BlazenState protocol's reserved key suffix. */",
            f"export const META_SUFFIX = {META_SUFFIX!r};".replace("'", '"'),
            "",
        ]
    )


GENERATED: dict[str, Callable[[], str]] = {
    "web/errors.js": render_errors_js,
    "web/errors.d.ts": render_errors_dts,
    "web/codec.js": render_codec_js,
}
"""Repository path -> the function that renders it."""


def render(root: Path, *, check: bool = False) -> list[str]:
    """Write every generated file under ``root`` (or, with ``check``, only compare).

    Returns:
        The paths that were out of date.
    """
    stale = []
    for relative, make in GENERATED.items():
        path = root / relative
        text = make()
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(relative)
            if not check:
                path.write_text(text, encoding="utf-8")
    return stale
