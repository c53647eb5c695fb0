"""``python -m blazen_py.server``: the HTTP service and a DBOS worker in one process."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":  # not when a tool imports every module of the package
    sys.exit(main())
