"""Retry policies: how often, and after how long, a failed step is tried again.

A :class:`RetryPolicy` belongs to a step (``add_step(..., retry=...)``) or to a whole
workflow (:meth:`Workflow.set_retry_policy`). The dispatcher consults it only when a step
invocation fails, so a step that never fails pays nothing for it. What a failed attempt
wrote to the state is rolled back, and what it sent with ``ctx.send_event`` is dropped
(held back until the attempt succeeds); the next attempt starts from the state the first
one started from. See ``docs/python-api.md`` (Retries) for the whole story.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from .errors import BlazenError, WorkflowDefinitionError

__all__ = [
    "BACKOFFS",
    "MAX_ATTEMPTS",
    "MAX_DELAY",
    "NonRetryableError",
    "RetryPolicy",
    "RetryableError",
    "error_message",
    "error_name",
]

BACKOFFS = ("exponential", "linear", "fixed")
"""How the delay grows from one attempt to the next."""

MAX_ATTEMPTS = 1000
"""The largest ``max_attempts`` a policy may have (a snapshot's attempt count is bounded by it too)."""

MAX_DELAY = 7 * 24 * 3600.0
"""The longest delay (seconds) a policy may wait between attempts: one week."""


class NonRetryableError(BlazenError):
    """Raise it from a step to fail at once, whatever its retry policy says.

    Any exception with an attribute ``retryable`` that is ``False`` is treated the same.
    """

    retryable: ClassVar[bool] = False


class RetryableError(BlazenError):
    """Raise it from a step to ask for another attempt, after ``delay`` seconds if given
    (as a server's ``Retry-After`` asks), instead of the policy's backoff.

    It is retried even when ``retry_on`` would not match it; the attempt count and
    ``max_delay`` still bound it.

    Attributes:
        delay: The seconds to wait before the next attempt, or ``None`` for the policy's.
    """

    js_fields: ClassVar[dict[str, str]] = {"delay": "number | null"}
    retryable: ClassVar[bool] = True

    def __init__(self, message: str = "", *, delay: float | None = None) -> None:
        super().__init__(message)
        if delay is not None and not _number(delay, 0.0):
            raise ValueError(f"RetryableError delay must be a number of seconds >= 0, got {delay!r}")
        self.delay = None if delay is None else float(delay)


def _number(value: object, low: float) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and value >= low
    )


def error_name(exc: BaseException) -> str:
    """The name ``retry_on`` lists match: the class name, or a JS error's ``name``."""
    name = getattr(exc, "error_name", None)  # set by the JS bridge for errors thrown in JS
    return name if isinstance(name, str) and name else type(exc).__name__


def error_message(exc: BaseException) -> str:
    """The message an error handler and ``retry_info`` see: ``str(exc)``, or a JS error's
    own ``message`` (without the name the step error puts first)."""
    message = getattr(exc, "error_message", None)  # set by the JS bridge
    return message if isinstance(message, str) else str(exc)


RetryOn = Callable[[BaseException], Any] | Iterable[type[BaseException] | str] | type[BaseException] | None


class RetryPolicy:
    """When and after how long a failed step invocation is tried again.

    Args:
        max_attempts: Attempts in all, the first included (``1``: never retried).
        initial_delay: Seconds before the second attempt.
        max_delay: No delay is longer than this (seconds).
        backoff: ``"exponential"`` (``initial_delay * 2 ** (n - 1)`` after the n-th failed
            attempt), ``"linear"`` (``initial_delay * n``) or ``"fixed"``
            (``initial_delay``).
        jitter: Spread each delay at random over ``[delay / 2, delay]``, so that many
            runs failing together do not retry together.
        retry_on: Which errors are retried: ``None`` (all), exception classes and/or
            error names (strings, matched against the class name or a JS error's
            ``name``; names of base classes match too), or a predicate
            ``(error) -> bool``. An error whose ``retryable`` is ``False`` (a
            :class:`NonRetryableError`) is never retried, one whose ``retryable`` is
            ``True`` (a :class:`RetryableError`) always is. A step's timeout is retried
            like a failure; its error is a :class:`~blazen_py.errors.StepTimeoutError`
            (a ``TimeoutError``).

    A failed attempt's state writes are rolled back and the events it sent are dropped
    (``ctx.send_event`` of a step with a policy is held back until its attempt
    succeeds); ``ctx.attempt`` and ``ctx.retry_info()`` tell a step where it stands;
    every retry puts a ``blazen::StepRetrying`` item on the stream. When the attempts run
    out (or the error is not retried), a ``blazen::StepFailedEvent`` goes to the steps
    that accept it; if none does, the run fails with :class:`~blazen_py.errors.StepError`
    (or ``StepTimeoutError``) and its ``attempts``. The attempt count and the absolute
    time of the next attempt are in snapshots and checkpoints: a run resumed during a
    backoff goes on counting and waits only what is left.

    Example: a flaky fetch with backoff, and a fallback when it keeps failing::

        wf = Workflow("weather")

        @wf.step(accepts=[START_EVENT], retry=RetryPolicy(
            max_attempts=4, initial_delay=0.5, max_delay=5, jitter=True,
            retry_on=(ConnectionError, TimeoutError)), timeout=10)
        async def fetch(event, ctx):
            response = await get_json(event["url"])   # raises ConnectionError when down
            if response.status == 429:
                raise RetryableError("rate limited", delay=float(response.headers["Retry-After"]))
            if response.status >= 400:
                raise NonRetryableError(f"HTTP {response.status}")   # no point retrying
            return {"type": STOP_EVENT, "result": response.body}

        @wf.step(accepts=[STEP_FAILED_EVENT])
        def fallback(event, ctx):
            # event: {"step": "fetch", "event": <the start event>, "attempts": 4,
            #         "error": {"name": "ConnectionError", "message": "..."}}
            return {"type": STOP_EVENT, "result": {"cached": True, "why": event["error"]["message"]}}

    Raises:
        WorkflowDefinitionError: an option of the wrong type or out of range.
    """

    __slots__ = (
        "_classes",
        "_names",
        "_predicate",
        "backoff",
        "initial_delay",
        "jitter",
        "max_attempts",
        "max_delay",
        "retry_on",
    )

    def __init__(
        self,
        max_attempts: int = 3,
        initial_delay: float = 1.0,
        max_delay: float = 30.0,
        backoff: str = "exponential",
        jitter: bool = False,
        retry_on: RetryOn = None,
    ) -> None:
        if (
            isinstance(max_attempts, bool)
            or not isinstance(max_attempts, int)
            or not 1 <= max_attempts <= MAX_ATTEMPTS
        ):
            raise WorkflowDefinitionError(
                f"retry max_attempts must be an int from 1 to {MAX_ATTEMPTS}, got {max_attempts!r}"
            )
        for label, value in (("initial_delay", initial_delay), ("max_delay", max_delay)):
            if not _number(value, 0.0) or value > MAX_DELAY:
                raise WorkflowDefinitionError(
                    f"retry {label} must be a number of seconds from 0 to {MAX_DELAY:g}, got {value!r}"
                )
        if backoff not in BACKOFFS:
            raise WorkflowDefinitionError(
                f"retry backoff must be one of {', '.join(BACKOFFS)}, got {backoff!r}"
            )
        if not isinstance(jitter, bool):
            raise WorkflowDefinitionError(f"retry jitter must be True or False, got {jitter!r}")
        self.max_attempts = max_attempts
        self.initial_delay = float(initial_delay)
        self.max_delay = float(max_delay)
        self.backoff = backoff
        self.jitter = jitter
        self.retry_on = retry_on
        self._predicate: Callable[[BaseException], Any] | None = None
        self._classes: tuple[type[BaseException], ...] = ()
        self._names: frozenset[str] = frozenset()
        if retry_on is None:
            return
        if isinstance(retry_on, type) and issubclass(retry_on, BaseException):
            self._classes = (retry_on,)
        elif isinstance(retry_on, str):
            self._names = frozenset((retry_on,))
        elif callable(retry_on):
            self._predicate = retry_on
        else:
            try:
                items = list(retry_on)
            except TypeError:
                items = None
            if items is None or not all(
                (isinstance(i, type) and issubclass(i, BaseException)) or (isinstance(i, str) and i)
                for i in items
            ):
                raise WorkflowDefinitionError(
                    "retry retry_on must be None, exception classes or error names, or a predicate, "
                    f"got {retry_on!r}"
                )
            self._classes = tuple(i for i in items if isinstance(i, type))
            self._names = frozenset(i for i in items if isinstance(i, str))

    @classmethod
    def coerce(cls, value: RetryPolicy | Mapping[str, Any] | None) -> RetryPolicy | None:
        """A policy from a :class:`RetryPolicy`, a dict of its arguments, or ``None``.

        Raises:
            WorkflowDefinitionError: anything else, or a dict with unknown keys.
        """
        if value is None or isinstance(value, RetryPolicy):
            return value
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in _OPTIONS]
            if unknown:
                raise WorkflowDefinitionError(
                    f"unknown retry option(s) {unknown!r}; the options are {', '.join(_OPTIONS)}"
                )
            return cls(**value)
        raise WorkflowDefinitionError(
            f"retry must be a RetryPolicy, a dict of its options or None, got {value!r}"
        )

    def retries(self, exc: BaseException) -> bool:
        """Whether ``exc`` is worth another attempt (the attempt count aside)."""
        retryable = getattr(exc, "retryable", None)
        if retryable is False:
            return False
        if retryable is True:  # a RetryableError, or any error that says so
            return True
        if self.retry_on is None:
            return True
        if self._predicate is not None:
            return bool(self._predicate(exc))
        if self._classes and isinstance(exc, self._classes):
            return True
        if self._names:
            if error_name(exc) in self._names:
                return True
            return any(c.__name__ in self._names for c in type(exc).__mro__)
        return False

    def base_delay(self, failed: int) -> float:
        """The delay after the ``failed``-th failed attempt (1-based), before jitter."""
        if self.backoff == "fixed":
            delay = self.initial_delay
        elif self.backoff == "linear":
            delay = self.initial_delay * failed
        else:
            delay = self.initial_delay * 2.0 ** min(failed - 1, 1024)
        return min(delay, self.max_delay)

    def delay(self, failed: int, exc: BaseException | None = None) -> float:
        """The seconds to wait after the ``failed``-th failed attempt: the error's own
        (:class:`RetryableError` ``delay``, or a JS error's), else the backoff's, with
        jitter; never more than ``max_delay``."""
        asked = (
            getattr(exc, "delay", None)
            if isinstance(exc, RetryableError)
            else getattr(exc, "retry_delay", None)
        )
        if asked is not None and _number(asked, 0.0):
            return min(float(asked), self.max_delay)
        delay = self.base_delay(failed)
        if self.jitter and delay > 0:
            import random  # only on a failure: `import blazen_py` stays as small as it was

            delay = delay / 2 + random.random() * delay / 2
        return delay

    def to_dict(self) -> dict[str, Any]:
        """The options, as given (``retry_on`` as it was passed)."""
        return {name: getattr(self, name) for name in _OPTIONS}

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, initial_delay={self.initial_delay:g}, "
            f"max_delay={self.max_delay:g}, backoff={self.backoff!r}, jitter={self.jitter})"
        )


_OPTIONS = ("max_attempts", "initial_delay", "max_delay", "backoff", "jitter", "retry_on")
