"""A step: a named handler and the event types it accepts."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import WorkflowDefinitionError
from .events import INPUT_REQUEST_EVENT, STOP_EVENT
from .retry import RetryPolicy

__all__ = ["Handler", "Step"]

Handler = Callable[[Any, Any], Any]
"""A step handler: ``(event, ctx) -> event | list[event] | None``, sync or async."""

_RESERVED = (STOP_EVENT, INPUT_REQUEST_EVENT)


class Step:
    """An immutable step declaration. Built by :meth:`Workflow.add_step`."""

    __slots__ = (
        "accepts",
        "emits",
        "guarded",
        "handler",
        "index",
        "inline",
        "max_concurrency",
        "name",
        "retry",
        "timeout",
    )

    def __init__(
        self,
        name: str,
        accepts: Iterable[str],
        handler: Handler,
        *,
        emits: Iterable[str] | None = None,
        timeout: float | None = None,
        max_concurrency: int | None = None,
        inline: bool = True,
        index: int = 0,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise WorkflowDefinitionError(f"a step name must be a non-empty string, got {name!r}")
        if isinstance(accepts, str):
            raise WorkflowDefinitionError(
                f"step {name!r}: accepts must be a list of event types, not the string {accepts!r}"
            )
        accepted = tuple(dict.fromkeys(accepts))
        if not accepted or not all(isinstance(t, str) and t for t in accepted):
            raise WorkflowDefinitionError(
                f"step {name!r}: accepts must be a non-empty list of event type strings, got {accepts!r}"
            )
        for reserved in _RESERVED:
            if reserved in accepted:
                raise WorkflowDefinitionError(
                    f"step {name!r}: {reserved!r} is handled by the engine; no step may accept it"
                )
        if not callable(handler):
            raise WorkflowDefinitionError(f"step {name!r}: handler must be callable, got {handler!r}")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf
        ):
            raise WorkflowDefinitionError(
                f"step {name!r}: timeout must be a positive number of seconds (finite, not NaN), "
                f"got {timeout!r}"
            )
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise WorkflowDefinitionError(
                f"step {name!r}: max_concurrency must be a positive int, got {max_concurrency!r}"
            )
        if isinstance(emits, str):
            raise WorkflowDefinitionError(f"step {name!r}: emits must be a list of event types, not a string")
        try:
            policy = RetryPolicy.coerce(retry)
        except WorkflowDefinitionError as exc:
            raise WorkflowDefinitionError(f"step {name!r}: {exc}") from None
        except TypeError as exc:
            raise WorkflowDefinitionError(f"step {name!r}: bad retry options: {exc}") from None
        self.name = name
        self.accepts = accepted
        self.handler = handler
        self.emits = None if emits is None else tuple(dict.fromkeys(emits))
        self.timeout = None if timeout is None else float(timeout)
        self.max_concurrency = max_concurrency
        self.inline = inline
        self.index = index
        self.retry = policy
        # Steps with a timeout, a concurrency limit or a retry policy take the slower,
        # checked path (a retried step's attempts and held-back events are kept there).
        self.guarded = timeout is not None or max_concurrency is not None or not inline or policy is not None

    def with_retry(self, policy: RetryPolicy) -> Step:
        """A copy of this step with ``policy`` (a workflow's default policy is applied so)."""
        copy = Step.__new__(Step)
        for name in Step.__slots__:
            setattr(copy, name, getattr(self, name))
        copy.retry = policy
        copy.guarded = True
        return copy

    @property
    def is_async(self) -> bool:
        """Whether the handler is a coroutine function."""
        return inspect.iscoroutinefunction(self.handler)

    def __repr__(self) -> str:
        return f"<Step {self.name!r} accepts={list(self.accepts)!r}>"
