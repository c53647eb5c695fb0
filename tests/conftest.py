"""Shared by all three tiers: makes the top-level build.py importable as `build`.

tests/pyodide and tests/browser reuse its paths, versions, Chromium lookup and static
server instead of repeating them. (`async def` tests on CPython: tests/python/conftest.py.)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
