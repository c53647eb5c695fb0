"""Error classes raised by blazen_py.

Every failure that ends a run has its own class, so callers can tell a timeout from an
abort from a step that raised. All of them derive from :class:`BlazenError`; the ones
that end a run derive from :class:`WorkflowError` and carry the step and event type
involved (``None`` when no single step is to blame).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, NamedTuple

__all__ = [
    "ActiveStep",
    "AgentError",
    "BadCheckpointError",
    "BlazenError",
    "CassetteError",
    "CassetteMismatchError",
    "CheckpointError",
    "HandlerStateError",
    "InputRequestError",
    "InvalidEventError",
    "MaxIterationsError",
    "ModelError",
    "RemoteError",
    "RunOwnedError",
    "SnapshotError",
    "StateError",
    "StepError",
    "StepTimeoutError",
    "StoreError",
    "UnknownStepError",
    "WaitTimeoutError",
    "WorkflowAbortedError",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowStallError",
    "WorkflowTimeoutError",
]


class BlazenError(Exception):
    """Base class of every error raised by blazen_py.

    Every error class is mirrored in ``blazen.js`` under the same name, with the fields
    its ``js_fields`` declare (camelCase there); see ``blazen_py/_boundary.py``.

    Attributes:
        step: Name of the step involved, or ``None``.
        event_type: Type of the event being handled, or ``None``.
        run_id: Id of the run involved, once known, or ``None``.
    """

    js_fields: ClassVar[dict[str, str]] = {
        "step": "string | null",
        "event_type": "string | null",
        "run_id": "string | null",
    }
    """Attributes mirrored as fields of the JS error: name -> TypeScript type."""

    step: str | None = None
    event_type: str | None = None
    run_id: str | None = None


class WorkflowDefinitionError(BlazenError, ValueError):
    """A workflow or step was declared wrongly (bad name, duplicate step, bad option)."""


class WorkflowError(BlazenError):
    """A run ended in failure.

    Attributes:
        step: Name of the step involved, or ``None``.
        event_type: Type of the event being handled, or ``None``.
        run_id: Id of the run that failed, once known.
    """

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        event_type: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.event_type = event_type
        self.run_id = run_id

    @property
    def message(self) -> str:
        """The error message without the class name."""
        return str(self)


class StepError(WorkflowError):
    """A step raised; the original exception is chained as ``__cause__``.

    Attributes:
        attempts: How many attempts the step made (more than 1 under a retry policy).
    """

    js_fields: ClassVar[dict[str, str]] = {"attempts": "number"}
    attempts: int = 1

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        event_type: str | None = None,
        run_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, step=step, event_type=event_type, run_id=run_id)
        self.attempts = attempts


class InvalidEventError(WorkflowError, TypeError):
    """A step returned or sent something that is not an event (a mapping with a string ``type``)."""


class UnknownStepError(WorkflowError, LookupError):
    """An event was sent to a step (``send_event(event, step=...)``) that the workflow does
    not have, or that does not accept the event's type."""


class WaitTimeoutError(WorkflowError, TimeoutError):
    """``ctx.wait_for_event`` waited longer than its ``timeout``; ``event_type`` is the type
    it waited for."""


class ActiveStep(NamedTuple):
    """A step invocation that was running when its run ended."""

    step: str
    """The step's name."""
    event_type: str
    """The type of the event it was handling."""


class _EndedWhileRunning(WorkflowError):
    """A run ended from outside its steps (a timeout, an abort) while some were running.

    Attributes:
        active_steps: The step invocations that were running, as :class:`ActiveStep`
            ``(step, event_type)`` pairs; ``step`` and ``event_type`` name the one when
            there was exactly one.
    """

    js_fields: ClassVar[dict[str, str]] = {"active_steps": "Array<{ step: string; eventType: string }>"}

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        event_type: str | None = None,
        run_id: str | None = None,
        active_steps: Iterable[ActiveStep] = (),
    ) -> None:
        self.active_steps = list(active_steps)
        if step is None and len(self.active_steps) == 1:
            step, event_type = self.active_steps[0]
        super().__init__(message, step=step, event_type=event_type, run_id=run_id)


class WorkflowTimeoutError(_EndedWhileRunning, TimeoutError):
    """The run exceeded the workflow's timeout (:meth:`Workflow.set_timeout`).

    Attributes:
        active_steps: The step invocations that were running, as :class:`ActiveStep`
            ``(step, event_type)`` pairs; ``step`` and ``event_type`` name the one when
            there was exactly one.
    """


class StepTimeoutError(WorkflowTimeoutError):
    """One step exceeded its own ``timeout`` (per attempt, under a retry policy).

    Attributes:
        attempts: How many attempts the step made.
    """

    js_fields: ClassVar[dict[str, str]] = {"attempts": "number"}
    attempts: int = 1


class WorkflowAbortedError(_EndedWhileRunning):
    """The run was cancelled with :meth:`WorkflowHandler.abort`.

    Attributes:
        active_steps: The step invocations that were running, as :class:`ActiveStep`
            ``(step, event_type)`` pairs; ``step`` and ``event_type`` name the one when
            there was exactly one.
    """


class WorkflowStallError(WorkflowError):
    """Nothing is queued, nothing runs, no input is awaited, and no StopEvent was produced.

    Attributes:
        unrouted: Mapping of event types that no step accepts to the names of the steps
            that produced them.
    """

    js_fields: ClassVar[dict[str, str]] = {"unrouted": "Record<string, string[]>"}

    def __init__(
        self,
        message: str,
        *,
        unrouted: dict[str, list[str]] | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message, run_id=run_id)
        self.unrouted = unrouted or {}


class CheckpointError(WorkflowError):
    """Saving a durable run's checkpoint failed; the :class:`StoreError` is the cause."""


class RunOwnedError(CheckpointError):
    """A durable run is owned by someone else: another run in this process, another tab
    (its Web Lock), or another process (its claim in the store). Nothing of it was run.

    Raised by ``resume_checkpoint`` (and by a run whose store refused a save or delete
    because its claim was taken over: the run stops rather than write twice).
    """


class BadCheckpointError(CheckpointError):
    """A stored checkpoint cannot be listed or resumed: unreadable, not a snapshot, or its
    ``run_id`` differs from the key it is stored under. Listing reports it and skips it.

    Attributes:
        key: The store key of the entry.
    """

    js_fields: ClassVar[dict[str, str]] = {"key": "string"}

    def __init__(self, message: str, *, key: str, run_id: str | None = None) -> None:
        super().__init__(message, run_id=run_id)
        self.key = key


class StateError(BlazenError, TypeError):
    """A value cannot be stored in persistable state, or a stored value has another type."""


class SnapshotError(BlazenError, ValueError):
    """A snapshot is corrupt, truncated, of a newer format version, or cannot be made."""


class InputRequestError(BlazenError, LookupError):
    """An input request id is unknown or was already answered."""


class HandlerStateError(BlazenError, RuntimeError):
    """A handler operation does not fit the run's current state (e.g. pausing a finished run)."""


class StoreError(BlazenError):
    """A snapshot store failed (storage unavailable, over quota, missing key)."""


class ModelError(BlazenError):
    """A language-model call failed.

    Attributes:
        status: HTTP status code, or ``None`` for network failures.
    """

    js_fields: ClassVar[dict[str, str]] = {"status": "number | null"}

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RemoteError(BlazenError):
    """A blazen_py.server refused a request about a run, or could not be reached
    (``hand_off``, a remote handler).

    Attributes:
        status: The HTTP status the server answered with, or ``None`` when it was not
            reached.
        error_type: The server's name for the error (``"SnapshotError"``, ``"AuthError"``,
            ``"RunNotFoundError"``, ...), or ``None``.
    """

    js_fields: ClassVar[dict[str, str]] = {"status": "number | null", "error_type": "string | null"}

    def __init__(self, message: str, *, status: int | None = None, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class CassetteError(ModelError):
    """A cassette of recorded model calls is malformed, too large, or of another version."""


class CassetteMismatchError(CassetteError):
    """A replayed model has no recording for a request; the message names the request.

    Attributes:
        index: The position (from 0) of the request among those the replaying model sent.
    """

    js_fields: ClassVar[dict[str, str]] = {"index": "number"}

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


class AgentError(BlazenError):
    """A tool-calling agent could not finish (see :func:`blazen_py.agent.run_agent`)."""


class MaxIterationsError(AgentError):
    """The model still called tools after ``max_iterations`` rounds of tool calls.

    Attributes:
        iterations: The rounds of tool calls that ran (``max_iterations``).
        messages: The conversation so far (OpenAI format), to inspect or continue.
    """

    js_fields: ClassVar[dict[str, str]] = {"iterations": "number"}

    def __init__(
        self, message: str, *, iterations: int, messages: list[dict[str, object]] | None = None
    ) -> None:
        super().__init__(message)
        self.iterations = iterations
        self.messages = list(messages or [])
