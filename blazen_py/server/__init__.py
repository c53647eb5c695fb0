"""blazen_py.server: blazen_py workflows run durably on servers, on DBOS.

Needs the extra: ``pip install blazen_py[server]`` (DBOS, Starlette, Uvicorn). Never
imported by ``import blazen_py``: the core package has no dependencies and runs in
Pyodide, where DBOS (threads, a database) cannot.

* :class:`Worker`: runs workflows as DBOS workflows through a DBOS queue, recording
  each run's latest snapshot in the database; an interrupted run resumes from it when
  the worker restarts.
* :func:`create_app`: the HTTP service (Starlette) in front of a worker.
* ``python -m blazen_py.server --app mymodule:workflows [--db URL] [--port N]``.

See docs/server.md.
"""

from __future__ import annotations

from ._db import DatabaseStore
from ._http import create_app
from ._worker import RUN_ENDED, RunExistsError, RunNotFoundError, Worker

__all__ = ["RUN_ENDED", "DatabaseStore", "RunExistsError", "RunNotFoundError", "Worker", "create_app"]
