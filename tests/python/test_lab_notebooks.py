"""The JupyterLite notebooks (lab/notebooks/) on CPython, where they can run: a quick check
that they still fit the API. Their real test, in JupyterLite, is tests/browser/test_lab.py.

Only spec_examples.ipynb and drawing.ipynb run here: the others use `js`, IndexedDB or
pyodide.http. There is no IPython here: `display` shows nothing, `%` magics are skipped,
and blazen_py.notebook prints each traced run's summary line instead of drawing it.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "lab" / "notebooks"


def code_cells(name: str) -> list[str]:
    notebook = json.loads((NOTEBOOKS / name).read_text())
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


async def run_cells(cells: list[str]) -> list[str]:
    """Run cells like a kernel (top-level await allowed, one namespace); return each one's stdout."""
    namespace: dict[str, object] = {"__name__": "__main__", "display": lambda *objects: None}
    outputs = []
    for number, source in enumerate(cells, 1):
        source = "\n".join("pass" if line.startswith("%") else line for line in source.splitlines())
        code = compile(source, f"<cell {number}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = eval(code, namespace)
            if inspect.isawaitable(result):
                await result
        outputs.append(out.getvalue())
    return outputs


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) or ["(no notebooks)"])
def test_notebooks_are_clean_sources(name: str) -> None:
    notebook = json.loads((NOTEBOOKS / name).read_text())
    assert notebook["metadata"]["kernelspec"]["name"] == "python"
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], "commit notebooks without outputs"
            assert cell["execution_count"] is None, "commit notebooks without outputs"


async def test_spec_examples_notebook_runs_on_cpython() -> None:
    import blazen_py.notebook

    try:
        outputs = await run_cells(code_cells("spec_examples.ipynb"))
    finally:
        blazen_py.notebook.trace(False)  # the notebook turned it on for the kernel
    text = "\n".join(outputs)
    # each traced run printed its summary line (there is no display here)
    assert re.search(r"^timeline of 'greeter': completed in .* · 1 step run", text, re.M)
    assert len(re.findall(r"^timeline of '", text, re.M)) >= 10
    assert outputs[0].startswith("blazen_py ")
    for expected in (
        "greeter: {'greeting': 'Hello, Ada'}",
        "store/read: {'user': 'Alice', 'count': 42, 'missing': None}",
        "binary: {'via_set': b'Hello', 'via_explicit': b'Hello'}",
        "blazen-state: {'requests': 3}",
        "approve: {'amount': 30, 'answer': 'yes'}",
        "resumed in place: {'ticks': 3}",
        "resumed from JSON: {'ticks': 3}",
        "branching: ['negative', 'positive']",
        "timeout: WorkflowTimeoutError",
    ):
        assert expected in text


async def test_drawing_notebook_runs_on_cpython() -> None:
    import blazen_py.notebook

    try:
        outputs = await run_cells(code_cells("drawing.ipynb"))
    finally:
        blazen_py.notebook.trace(False)
    text = "\n".join(outputs)
    assert outputs[2].startswith("flowchart LR\n")
    assert "word-count: {'parts': 4, 'words': 15}" in text
    assert re.search(r"timeline of 'word-count': completed in [\d.]+ m?s · 10 events · 9 step runs", text)
    assert re.search(r"timeline of 'broken': failed after .* StepError: step 'parse' failed", text)
    assert "failed: StepError in step parse" in text
    assert "approval: {'customer': 'Ada', 'amount': 30, 'answer': 'approved'}" in text
