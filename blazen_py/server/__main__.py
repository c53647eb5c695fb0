"""``python -m blazen_py.server``: the HTTP service and a DBOS worker in one process."""

from __future__ import annotations

import sys

from ._cli import main

sys.exit(main())
