"""Test your own workflows in real Pyodide and a real Chromium: a pytest plugin.

Install with ``pip install blazen_py[testing]`` (pytest, playwright); the plugin registers
itself through the ``pytest11`` entry point (``blazen_py.testing.plugin``) and gives the
fixtures ``blazen_site`` (your dist/ on 127.0.0.1), ``blazen_browser`` and ``blazen_page``
(a page with blazen.js booted), and the decorator :func:`run_in_blazen` (a test body run
inside Pyodide, in Chromium or Node). ``import blazen_py`` never imports this package, and this
package imports neither pytest nor playwright: only the plugin module does."""

from __future__ import annotations

from ._inpyodide import run_in_blazen
from ._page import BlazenPage, BlazenPageError, PageRun

__all__ = ["BlazenPage", "BlazenPageError", "PageRun", "run_in_blazen"]
