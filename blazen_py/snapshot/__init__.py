"""The run image: a run captured as JSON-compatible data, and rebuilt from it.

Everything about snapshots lives here, side by side:

* :mod:`.format`: the versioned format, and its validating parser (JSON only; nothing
  in a snapshot is ever imported, evaluated or called);
* :mod:`.capture`: a run -> snapshot data (with the session refs a workflow registered);
* :mod:`.restore`: snapshot data -> a run of a given workflow definition, ready to start.

:class:`~blazen_py.handler.WorkflowHandler` (``snapshot``, ``pause``),
:class:`~blazen_py.workflow.Workflow` (``resume``) and
:mod:`~blazen_py.checkpoint` (durable runs) all go through these three.
"""

from __future__ import annotations

from .capture import capture, serialize_session
from .format import SNAPSHOT_FORMAT, SNAPSHOT_VERSION, ParsedSnapshot, dumps, loads, parse
from .restore import Deserializer, restore

__all__ = [
    "SNAPSHOT_FORMAT",
    "SNAPSHOT_VERSION",
    "Deserializer",
    "ParsedSnapshot",
    "capture",
    "dumps",
    "loads",
    "parse",
    "restore",
    "serialize_session",
]
