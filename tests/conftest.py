"""Shared by all three tiers: makes the repository's top-level packages importable, among
them `blazen_build` (the parts of build.py) and `bench`.

tests/pyodide and tests/browser reuse build.py's paths, versions, Chromium lookup and
static server (blazen_build.paths, .chromium, .server) instead of repeating them.
(`async def` tests on CPython: tests/python/conftest.py.)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
