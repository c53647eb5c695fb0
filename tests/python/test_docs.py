"""docs/python-api.md is what docs/gen_api.py makes from the docstrings, and names every
public name; the docs the README links to exist."""

from __future__ import annotations

import ast
import asyncio
import doctest
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import blazen_py
import blazen_py.notebook

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs"


def test_python_api_reference_is_up_to_date() -> None:
    out = subprocess.run(
        [sys.executable, str(DOCS / "gen_api.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr


def test_python_api_reference_names_every_public_name() -> None:
    text = (DOCS / "python-api.md").read_text()
    headings = set(re.findall(r"^### (?:class |async )?`(?:async )?(\w+)", text, flags=re.M))
    assert sorted(set(blazen_py.__all__) - headings) == []


def test_indexeddb_store_is_documented_as_the_browser_has_it() -> None:
    """Not only as CPython's stand-in that always raises."""
    text = (DOCS / "python-api.md").read_text()
    section = text[text.index("### class `IndexedDBStore`") : text.index("## Models")]
    for method in ("save", "load", "list", "delete"):
        assert f"async IndexedDBStore.{method}(" in section
    assert "IndexedDBStore.close()" in section
    assert "On CPython creating one raises" in section
    # generating the docs (in this process) leaves no placeholder module behind
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_api", DOCS / "gen_api.py")
    assert spec is not None
    assert spec.loader is not None
    gen_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_api)
    assert gen_api.render() == text
    assert "pyodide" not in sys.modules
    assert "blazen_py._compat._idb" not in sys.modules


def test_type_aliases_are_documented_with_their_own_docstrings() -> None:
    """Was: StateValue (an alias of typing.Any) shown with typing.Any's docstring."""
    text = (DOCS / "python-api.md").read_text()
    for name in ("StateValue", "Event"):
        section = text[text.index(f"### `{name}` (type alias)") :]
        section = section[: section.index("\n### ", 1)]
        assert "unconstrained type" not in section
        assert f"{name} = " in section
    assert "Uint8Array" in text[text.index("### `StateValue`") :][:800]


def test_readme_links_to_docs_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert {"docs/python-api.md", "docs/js-api.md", "docs/snapshot-format.md", "docs/deploying.md"} <= set(
        links
    )
    for link in links:
        assert (ROOT / link).is_file(), link


# -- every code block of README.md and docs/ runs ----------------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parent))
import docblocks  # noqa: E402

BLOCKS = docblocks.blocks()
# What each kind of block is, and the test that runs it (the JS modules and the HTML page:
# tests/browser/test_docs_js.py and test_embed.py; the Playwright project files:
# tests/browser/test_playwright_js_recipe.py).
KINDS = {"script", "cell", "doctest", "signature", "module", "playwright", "html", "json", "sh", "nginx",
         "text", "unrun"}


def _of(*kinds: str) -> list[Any]:
    return [pytest.param(b, id=b.id) for b in BLOCKS if b.kind in kinds]


def test_every_block_is_of_a_kind_a_test_runs() -> None:
    assert {b.kind for b in BLOCKS} <= KINDS, [(b.id, b.kind) for b in BLOCKS if b.kind not in KINDS]
    # the README's Python examples are all run here (not one skipped as a signature)
    readme = [b for b in BLOCKS if b.path.name == "README.md" and b.lang == "python"]
    assert len(readme) >= 3
    assert {b.kind for b in readme} <= {"script", "cell"}
    # a Python block is never left without its language
    for b in BLOCKS:
        if b.kind == "text":
            assert not re.search(r"^(import|from) \w+", b.code, flags=re.M), b.id
    assert len([b for b in BLOCKS if b.kind == "unrun"]) <= 3  # the exception, with its reason


@pytest.mark.parametrize("block", _of("script"))
def test_script_blocks_run_as_pasted(block: docblocks.Block, tmp_path: Path) -> None:
    """Saved as a file and run with python, in a folder of its own."""
    script = tmp_path / "example.py"
    script.write_text(block.code)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, f"{block.id}:\n{out.stderr}"
    # what the comments say it prints, it prints
    for expected in re.findall(r"print\(.*\)\s+# (.+)$", block.code, flags=re.M):
        assert expected.strip() in out.stdout, (block.id, expected, out.stdout)


@pytest.mark.parametrize("block", _of("cell"))
def test_cell_blocks_run_with_top_level_await(block: docblocks.Block) -> None:
    """As a notebook cell or Pyodide runs them: top-level await, a fresh namespace."""
    code = compile(block.code, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"__name__": "__main__"}

    async def main() -> None:
        result = eval(code, namespace)  # the repository's own documentation
        if inspect.iscoroutine(result):
            await result

    try:
        asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        import blazen_py.notebook

        blazen_py.notebook.trace(False)  # a block may have turned tracing on for everything


@pytest.mark.parametrize("block", _of("doctest"))
def test_doctest_blocks_hold(block: docblocks.Block) -> None:
    globs = {name: getattr(blazen_py, name) for name in blazen_py.__all__}
    test = doctest.DocTestParser().get_doctest(block.code, globs, block.id, str(block.path), block.line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


@pytest.mark.parametrize("block", _of("signature"))
def test_signature_blocks_name_a_public_object(block: docblocks.Block) -> None:
    """The API reference's signature lines are made from the code by docs/gen_api.py (checked
    above); each names something ``blazen_py`` exports."""
    name = re.match(r"\w+", block.code.strip())
    assert name is not None
    assert name.group(0) in blazen_py.__all__ or hasattr(blazen_py.notebook, name.group(0)), block.id


@pytest.mark.parametrize("block", _of("json"))
def test_json_blocks_parse(block: docblocks.Block) -> None:
    data = json.loads(block.code)
    if block.path.name == "snapshot-format.md" and "format" in data:
        from blazen_py.snapshot.format import parse

        parsed = parse(data)  # the documented example is a snapshot the loader accepts
        assert parsed is not None


@pytest.mark.parametrize("block", _of("sh"))
def test_shell_blocks_name_commands_that_exist(block: docblocks.Block) -> None:
    commands = {"build", "serve", "test", "lab", "bench"}
    for line in block.code.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("python build.py"):
            words = line.split()
            assert len(words) == 2 or words[2] in commands or words[2].startswith("-"), (block.id, line)
        for path in re.findall(r"tests/[\w/]+\.py", line):
            assert (ROOT / path).is_file(), (block.id, path)
        for module, test in re.findall(r"(test_\w+\.py)::(test_\w+)", line):  # a portable test's id
            assert f"def {test}(" in (ROOT / "tests" / "python" / module).read_text(), (block.id, test)


# -- docs/js-api.md against blazen.js --------------------------------------------------------

WEB = ROOT / "web"


def _js_class_members(source: str, cls: str) -> list[str]:
    body = re.search(rf"^export class {cls}\b.*?\n(.*?)^\}}", source, flags=re.M | re.S)
    assert body is not None, cls
    names = re.findall(r"^  (?:static |async |get )*(\w+)\s*\(", body.group(1), flags=re.M)
    return [n for n in names if n != "constructor"]


def test_js_api_reference_names_every_export_and_public_method() -> None:
    source = (WEB / "blazen.js").read_text()
    doc = (DOCS / "js-api.md").read_text()
    exports = re.findall(r"^export (?:class|function|const) (\w+)", source, flags=re.M)
    errors = re.findall(r"^export class (\w+)", (WEB / "errors.js").read_text(), flags=re.M)
    assert len(errors) > 10
    missing = [n for n in exports + errors if not re.search(rf"\b{n}\b", doc)]
    assert missing == []
    for cls in ("Workflow", "WorkflowBuilder", "WorkflowHandler", "ChatMessage", "CompletionModel"):
        for member in _js_class_members(source, cls):
            assert re.search(rf"`[^`]*\b{member}\b", doc), f"{cls}.{member} is not in docs/js-api.md"
    # ... and the TypeScript declarations declare the same exports
    declaration = re.compile(r"^export (?:declare )?(?:class|function|const|default function) (\w+)", re.M)
    declared = set(declaration.findall((WEB / "blazen.d.ts").read_text()))
    assert set(exports) - {"default"} <= declared | set(errors)
