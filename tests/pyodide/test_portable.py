"""The portable engine tests, run inside Pyodide: in Node and in headless Chromium.

conftest.py expands the suite below into `node::<module>.py::<test>` and
`chromium::<module>.py::<test>` items: every tests/python/test_*.py with a top-level
`PORTABLE = True`, plus tests/pyodide/in_pyodide/test_*.py (only true inside Pyodide).
"""

from runtimes import PortableSuite

in_pyodide = PortableSuite(runtimes=("node", "chromium"))
