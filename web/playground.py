"""The playground's side of Python cells (loaded into Pyodide by app.js as `_playground`).

Each cell runs in its own namespace holding a few helpers: `print` (to the cell's output),
`timeline` (a stream callback feeding the cell's timeline), `graph(wf)` (draws a workflow
from its declared accepts/emits), `ask(prompt, choices)` (buttons in the cell, awaitable)
and `settings()` (the endpoint fields of the page: base URL and model, never the key).
Everything crosses to JS as JSON text, so no Python object is handed to the page.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from pyodide.code import eval_code_async


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": len(bytes(value))}
    return repr(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_jsonable)


def describe(wf: Any) -> dict[str, Any]:
    """A workflow's name and steps with their declared accepts / emits (None: undeclared)."""
    return {
        "name": wf.name,
        "steps": [
            {
                "name": step.name,
                "accepts": list(step.accepts),
                "emits": None if step.emits is None else list(step.emits),
            }
            for step in wf.steps
        ],
    }


def make_namespace(hooks: Any) -> dict[str, Any]:
    """A fresh namespace for one cell run; `hooks` is the cell's JS object."""

    def print_(*args: Any, sep: str = " ", end: str = "\n", **_: Any) -> None:
        hooks.out(sep.join(str(a) for a in args) + end)

    def timeline(item: Any) -> None:
        hooks.event(_dumps(dict(item)))

    def graph(wf: Any) -> None:
        hooks.graph(_dumps(describe(wf)))

    async def ask(prompt: Any, choices: Any = ("Approve", "Reject")) -> str:
        return str(await hooks.ask(str(prompt), _dumps([str(c) for c in choices])))

    def settings() -> dict[str, str]:
        return dict(json.loads(hooks.settings()))

    return {
        "__name__": "__main__",
        "print": print_,
        "timeline": timeline,
        "graph": graph,
        "ask": ask,
        "settings": settings,
    }


async def run_cell(code: str, hooks: Any, filename: str) -> str:
    """Run a cell; JSON of {value: repr of the last expression or null, error: text or null}."""
    namespace = make_namespace(hooks)
    try:
        value = await eval_code_async(code, namespace, filename=filename)
    except Exception as exc:  # shown to the user, whatever it is
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
        lines = traceback.format_list(frames) if frames else []
        lines += traceback.format_exception_only(type(exc), exc)
        return _dumps({"value": None, "error": "".join(lines).rstrip(), "graph": _auto_graph(namespace)})
    shown = None if value is None else repr(value)
    return _dumps({"value": shown, "error": None, "graph": _auto_graph(namespace)})


def _auto_graph(namespace: dict[str, Any]) -> Any:
    """The last Workflow bound in the namespace, described (for cells that never call graph)."""
    from blazen_py import Workflow

    found = [v for v in namespace.values() if isinstance(v, Workflow)]
    return describe(found[-1]) if found else None
