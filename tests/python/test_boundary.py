"""The JS/Python boundary: what blazen.js calls and mirrors matches the Python declaration
(blazen_py/_boundary.py)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import blazen_py
from blazen_py import _boundary
from blazen_py._boundary import ASYNC, SYNC, camel, declared_exports, error_classes, error_fields
from blazen_py.errors import BlazenError, ModelError, StepError, WorkflowStallError
from blazen_py.llm import ModelHTTPError

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
PLATFORM_ONLY = (
    "blazen_py.server",  # as _boundary: needs the server extra, defines no error class
    "blazen_py._jsbridge",
    "blazen_py._jsvalues",
    "blazen_py._compat._pyodide",
    "blazen_py._compat._idb",
    "blazen_py._compat._fast_loop",
)
# Called by blazen.js on the bridge's table directly, not through call()/callAsync().
BRIDGE_PLUMBING = {"settle", "take_last_error"}


def web_sources() -> dict[str, str]:
    generated = set(_boundary.GENERATED)
    return {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted(WEB.rglob("*.js"))
        if str(p.relative_to(ROOT)) not in generated
    }


def js_calls(source: str) -> dict[str, set[str]]:
    """Bridge calls in JS source: name -> kinds used (``call``: sync, ``callAsync``:
    async, ``py.name(...)``: a direct sync call)."""
    found: dict[str, set[str]] = {}
    for kind, pattern in (
        (SYNC, r"\bcall\(\s*\"(\w+)\""),
        (ASYNC, r"\bcallAsync\(\s*\"(\w+)\""),
        (SYNC, r"\bpy\.(\w+)\("),
    ):
        for name in re.findall(pattern, source):
            found.setdefault(name, set()).add(kind)
    return found


def all_js_calls() -> dict[str, set[str]]:
    calls: dict[str, set[str]] = {}
    for source in web_sources().values():
        for name, kinds in js_calls(source).items():
            calls.setdefault(name, set()).update(kinds)
    return calls


def test_every_bridge_call_of_blazen_js_is_declared_with_its_kind() -> None:
    declared = declared_exports()
    assert len(declared) > 30
    wrong = []
    for name, kinds in sorted(all_js_calls().items()):
        if name in BRIDGE_PLUMBING:
            continue
        if name not in declared:
            wrong.append(f"blazen.js calls {name!r}, which the bridge does not export")
        elif kinds != {declared[name]}:
            wrong.append(
                f"blazen.js calls {name!r} as {sorted(kinds)}, the bridge declares it {declared[name]}"
            )
    assert wrong == []


def test_every_bridge_export_is_called_from_js() -> None:
    unused = sorted(set(declared_exports()) - set(all_js_calls()))
    assert unused == []


def test_async_exports_take_the_call_id_first() -> None:
    source = (ROOT / "blazen_py" / "_jsbridge.py").read_text(encoding="utf-8")
    for name, kind in declared_exports().items():
        first = re.search(rf"def {name}\(\s*(\w*)", source)  # no parameter: not async
        assert first is not None, name
        assert (first.group(1) == "call_id") == (kind == ASYNC), name


def test_a_renamed_export_is_caught() -> None:
    source = (ROOT / "blazen_py" / "_jsbridge.py").read_text(encoding="utf-8")
    renamed = declared_exports(source.replace("def handler_abort(", "def handler_cancel("))
    assert "handler_abort" not in renamed
    assert "handler_abort" in all_js_calls()


def test_generated_js_is_up_to_date() -> None:
    # `python build.py` rewrites them; a stale copy means the build was not run.
    assert _boundary.render(ROOT, check=True) == []


def test_blazen_js_defines_no_error_class_and_no_codec_tag_of_its_own() -> None:
    for name, source in web_sources().items():
        assert not re.search(r"class \w*Error\b", source), name
        assert '"$bytes"' not in source, name
        assert '"$map"' not in source, name


def every_error_class() -> set[type[BlazenError]]:
    for info in pkgutil.walk_packages(blazen_py.__path__, "blazen_py."):
        if not info.name.startswith(PLATFORM_ONLY):
            importlib.import_module(info.name)
    found: set[type[BlazenError]] = set()
    todo: list[type[BlazenError]] = [BlazenError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("blazen_py") and not cls.__name__.startswith("_"):
            found.add(cls)  # private bases are transparent in JS
        todo.extend(cls.__subclasses__())
    return found


def test_every_python_error_class_has_its_js_twin() -> None:
    # The files as they are on disk: a class added without running the build has none.
    js = (WEB / "errors.js").read_text(encoding="utf-8")
    dts = (WEB / "errors.d.ts").read_text(encoding="utf-8")
    for cls in every_error_class():
        parent = _boundary.js_parent(cls)
        assert f"export class {cls.__name__} extends {parent} " in js, cls
        assert f"export class {cls.__name__} extends {parent} " in dts, cls
        for field in _boundary.own_fields(cls):
            assert f"this.{camel(field)} = info.{camel(field)}" in js, (cls, field)
    assert {c.__name__ for c in every_error_class()} >= {"CheckpointError", "StoreError", "RateLimitError"}


def test_error_classes_come_parents_first() -> None:
    order = [c.__name__ for c in error_classes()]
    for cls in error_classes():
        parent = _boundary.js_parent(cls)
        if parent != "Error":
            assert order.index(parent) < order.index(cls.__name__)


@pytest.mark.parametrize(
    "error, expected",
    [
        (
            StepError("boom", step="s", event_type="E", run_id="r"),
            {
                "name": "StepError",
                "message": "boom",
                "step": "s",
                "eventType": "E",
                "runId": "r",
                "blazen": True,
            },
        ),
        (
            WorkflowStallError("stuck", unrouted={"X": ["a"]}, run_id="r"),
            {"name": "WorkflowStallError", "unrouted": {"X": ["a"]}, "runId": "r", "step": None},
        ),
        (
            ModelHTTPError("bad", status=500, provider_message="oops", attempts=3),
            {"status": 500, "providerMessage": "oops", "attempts": 3, "model": True, "blazen": True},
        ),
        (ModelError("down"), {"name": "ModelError", "status": None, "model": True}),
        (KeyError("k"), {"name": "KeyError", "message": "'k'"}),
    ],
)
def test_error_descriptors_carry_the_declared_fields(
    error: BaseException, expected: dict[str, object]
) -> None:
    fields = error_fields(error)
    assert {k: fields.get(k) for k in expected} == expected
    if not isinstance(error, BlazenError):
        assert set(fields) == {"name", "message"}
