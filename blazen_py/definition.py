"""A workflow's definition as a run sees it: steps, routes and settings, frozen.

:class:`~blazen_py.workflow.Workflow` is the mutable declaration users build; every run
starts from a :class:`Definition` compiled from it, so a step added later never changes a
run in progress, and the dispatcher finds everything it needs in one object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .retry import RetryPolicy
from .step import Step

__all__ = ["Definition", "RefType"]

Serializer = Callable[[Any], bytes]


class RefType:
    """A kind of session value that snapshots keep, as ``{type_tag, bytes}``."""

    __slots__ = ("match", "serialize", "tag")

    def __init__(self, tag: str, match: Callable[[Any], bool], serialize: Serializer) -> None:
        self.tag = tag
        self.match = match
        self.serialize = serialize


class Definition:
    """Everything a run needs from its workflow, compiled once per change of the workflow.

    Attributes:
        name: The workflow's name.
        steps: The steps, in declaration order (``steps[i].index == i``).
        routes: Event type -> the steps that accept it, in declaration order.
        steps_by_name: Step name -> step.
        timeout: The run timeout in seconds, or ``None``.
        session_pause_policy: ``'continue'`` or ``'pause'``.
        ref_types: The registered session-ref types, in registration order.
        retry: The workflow's default retry policy (already applied to ``steps``), or ``None``.
    """

    __slots__ = (
        "name",
        "ref_types",
        "retry",
        "routes",
        "session_pause_policy",
        "steps",
        "steps_by_name",
        "timeout",
    )

    def __init__(
        self,
        name: str,
        steps: tuple[Step, ...],
        *,
        timeout: float | None = None,
        session_pause_policy: str = "continue",
        ref_types: tuple[RefType, ...] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        if retry is not None:  # the workflow's default, for steps without a policy of their own
            steps = tuple(s if s.retry is not None else s.with_retry(retry) for s in steps)
        self.retry = retry
        self.steps = steps
        self.steps_by_name = {s.name: s for s in steps}
        routes: dict[str, list[Step]] = {}
        for step in steps:
            for etype in step.accepts:
                routes.setdefault(etype, []).append(step)
        self.routes = {etype: tuple(accepting) for etype, accepting in routes.items()}
        self.timeout = timeout
        self.session_pause_policy = session_pause_policy
        self.ref_types = ref_types

    def fingerprint(self) -> dict[str, list[dict[str, Any]]]:
        """What a snapshot records of this definition, so that resuming into different
        steps is refused: ``{"steps": [{"name", "accepts"}, ...]}`` (a fresh copy)."""
        return {"steps": [{"name": s.name, "accepts": list(s.accepts)} for s in self.steps]}

    def __repr__(self) -> str:
        return f"<Definition {self.name!r} steps={[s.name for s in self.steps]!r}>"
