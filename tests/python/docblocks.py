"""The fenced code blocks of README.md and docs/*.md, for the tests that run them.

Each block is found with its file, line, language, and how it is meant to be run:

* ``script``: Python with ``asyncio.run(...)``: run as a script, as pasted into a file;
* ``cell``: Python with top-level ``await`` (a notebook cell, Pyodide, the playground): run
  in a fresh namespace with top-level ``await`` allowed;
* ``doctest``: Python written as ``>>>`` lines, checked with doctest against the names
  of ``blazen_py`` (the API reference's examples are of those names);
* ``signature``: one line ``Name(...)`` or ``NAME = ...`` of the generated API reference
  (checked by ``docs/gen_api.py --check``, which makes them from the code);
* ``module``: JavaScript (an ES module importing ``./blazen.js``): run in Chromium;
* ``playwright``: JavaScript importing ``@playwright/test`` or ``blazen-playwright.mjs``, a file
  of a Playwright project named on its first line: run with ``npx playwright test``
  (tests/browser/test_playwright_js_recipe.py);
* anything else by its language (``sh``, ``json``, ``html``, ``nginx``, ...).

A block right after a line ``<!-- continues the example above -->`` is a fragment of the
previous block of its language in the file: it is run appended to it. One right after
``<!-- not run: <why> -->`` is of kind ``unrun`` (it needs what the tests do not have).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
FILES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
CONTINUES = "<!-- continues the example above -->"
NOT_RUN = re.compile(r"<!-- not run: (.+) -->")

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_PLAYWRIGHT = re.compile(r"^import .* from '(@playwright/test|[^']*blazen-playwright\.mjs)';$", re.M)
_SIGNATURE = re.compile(r"^[A-Za-z_]\w*(\(.*\)( -> .*)?| = .*)$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    code: str  # with the blocks it continues, when it is a fragment
    kind: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _kind(lang: str, code: str) -> str:
    if lang == "python":
        lines = code.strip().splitlines()
        if lines and lines[0].startswith(">>>"):
            return "doctest"
        if len(lines) == 1 and _SIGNATURE.match(lines[0]):
            return "signature"
        return "script" if "asyncio.run(" in code else "cell"
    if lang in ("js", "javascript"):
        return "playwright" if _PLAYWRIGHT.search(code) else "module"
    return lang or "text"


def blocks(paths: tuple[Path, ...] = FILES) -> list[Block]:
    found: list[Block] = []
    for path in paths:
        text = path.read_text()
        last: dict[str, str] = {}
        for match in _FENCE.finditer(text):
            lang, code = match.group(1), match.group(2)
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
            if before == CONTINUES:
                if lang not in last:
                    raise AssertionError(f"{path}: a block continues nothing before it")
                code = last[lang] + code
            last[lang] = code
            line = text.count("\n", 0, match.start()) + 1
            kind = "unrun" if NOT_RUN.fullmatch(before) else _kind(lang, code)
            found.append(Block(path, line, lang, code, kind))
    return found
