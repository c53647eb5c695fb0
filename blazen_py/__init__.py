"""blazen_py: event-driven workflows in pure Python, in the browser (Pyodide) and on CPython.

The public API, re-exported from private modules (top-level ``await``, as in Pyodide or a
notebook cell; on CPython, inside ``async def main()`` run by ``asyncio.run(main())``)::

    from blazen_py import START_EVENT, STOP_EVENT, Workflow

    wf = Workflow("greeter")

    @wf.step(accepts=[START_EVENT])
    def greet(event, ctx):
        return {"type": STOP_EVENT, "result": f"Hello, {event['name']}"}

    result = await wf.run({"name": "Ada"})   # result.data == "Hello, Ada"
"""

from __future__ import annotations

import sys as _sys
from typing import TYPE_CHECKING

from .agent import AgentResult, Tool, ToolOutput, extract, run_agent
from .blazen_state import FieldStore, register_state_class
from .cancel import CancelSignal
from .context import Context, SessionNamespace, StateNamespace
from .errors import (
    ActiveStep,
    AgentError,
    BadCheckpointError,
    BlazenError,
    CassetteError,
    CassetteMismatchError,
    CheckpointError,
    HandlerStateError,
    InputRequestError,
    InvalidEventError,
    MaxIterationsError,
    ModelError,
    RemoteError,
    RunOwnedError,
    SnapshotError,
    StateError,
    StepError,
    StepTimeoutError,
    StoreError,
    UnknownStepError,
    WaitTimeoutError,
    WorkflowAbortedError,
    WorkflowDefinitionError,
    WorkflowError,
    WorkflowStallError,
    WorkflowTimeoutError,
)
from .events import (
    INPUT_REQUEST_EVENT,
    INPUT_REQUESTED,
    INPUT_RESPONSE_EVENT,
    START_EVENT,
    STEP_FAILED_EVENT,
    STOP_EVENT,
    Event,
)
from .handler import WorkflowHandler
from .retry import NonRetryableError, RetryableError, RetryPolicy
from .runtime import WorkflowResult
from .snapshot import SNAPSHOT_VERSION
from .state import StateValue
from .step import Step
from .stores import ClaimingStore, MemoryStore, SnapshotStore
from .stream import INPUT_ANSWERED, SPAN_OUTCOMES, STEP_FINISHED, STEP_RETRYING, STEP_STARTED, StreamEvent
from .validation import ValidationProblem
from .workflow import Workflow, WorkflowBuilder

if _sys.platform == "emscripten":
    # In a page the dispatcher's budget must yield with setTimeout, which the platform seam
    # installs when imported (elsewhere call_soon, the default, is that yield already).
    from . import _compat  # noqa: F401

if TYPE_CHECKING:  # imported on first use (see _LAZY); typed here for checkers
    from ._compat import install_fast_loop, uninstall_fast_loop

__version__ = "0.1.0"


_LAZY = {
    "IndexedDBStore": "._compat",
    "install_fast_loop": "._compat",
    "uninstall_fast_loop": "._compat",
    "ChatMessage": ".llm",
    "CompletionChunk": ".llm",
    "CompletionModel": ".llm",
    "CompletionResponse": ".llm",
    "Cassette": ".llm",
    "Usage": ".llm",
    "MockTransport": ".llm",
    "Transport": ".llm",
    "HttpRequest": ".llm",
    "HttpResponse": ".llm",
    "StreamingHttpResponse": ".llm",
    "InvalidApiKeyError": ".llm",
    "MissingApiKeyError": ".llm",
    "ModelConnectionError": ".llm",
    "ModelHTTPError": ".llm",
    "ModelRedirectError": ".llm",
    "ModelTimeoutError": ".llm",
    "RateLimitError": ".llm",
    "ResponseTooLargeError": ".llm",
    "TransportError": ".llm",
    "TransportTimeoutError": ".llm",
    "RemoteHandler": ".remote",
}


def __getattr__(name: str) -> object:
    # The model layer and the browser store sit on the platform seam (HTTP, IndexedDB);
    # they are imported when first asked for, so `import blazen_py` stays small and fast.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'blazen_py' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "INPUT_ANSWERED",
    "INPUT_REQUESTED",
    "INPUT_REQUEST_EVENT",
    "INPUT_RESPONSE_EVENT",
    "SNAPSHOT_VERSION",
    "SPAN_OUTCOMES",
    "START_EVENT",
    "STEP_FAILED_EVENT",
    "STEP_FINISHED",
    "STEP_RETRYING",
    "STEP_STARTED",
    "STOP_EVENT",
    "ActiveStep",
    "AgentError",
    "AgentResult",
    "BadCheckpointError",
    "BlazenError",
    "CancelSignal",
    "Cassette",
    "CassetteError",
    "CassetteMismatchError",
    "ChatMessage",
    "CheckpointError",
    "ClaimingStore",
    "CompletionChunk",
    "CompletionModel",
    "CompletionResponse",
    "Context",
    "Event",
    "FieldStore",
    "HandlerStateError",
    "HttpRequest",
    "HttpResponse",
    "IndexedDBStore",
    "InputRequestError",
    "InvalidApiKeyError",
    "InvalidEventError",
    "MaxIterationsError",
    "MemoryStore",
    "MissingApiKeyError",
    "MockTransport",
    "ModelConnectionError",
    "ModelError",
    "ModelHTTPError",
    "ModelRedirectError",
    "ModelTimeoutError",
    "NonRetryableError",
    "RateLimitError",
    "RemoteError",
    "RemoteHandler",
    "ResponseTooLargeError",
    "RetryPolicy",
    "RetryableError",
    "RunOwnedError",
    "SessionNamespace",
    "SnapshotError",
    "SnapshotStore",
    "StateError",
    "StateNamespace",
    "StateValue",
    "Step",
    "StepError",
    "StepTimeoutError",
    "StoreError",
    "StreamEvent",
    "StreamingHttpResponse",
    "Tool",
    "ToolOutput",
    "Transport",
    "TransportError",
    "TransportTimeoutError",
    "UnknownStepError",
    "Usage",
    "ValidationProblem",
    "WaitTimeoutError",
    "Workflow",
    "WorkflowAbortedError",
    "WorkflowBuilder",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowHandler",
    "WorkflowResult",
    "WorkflowStallError",
    "WorkflowTimeoutError",
    "__version__",
    "extract",
    "install_fast_loop",
    "register_state_class",
    "run_agent",
    "uninstall_fast_loop",
]
