"""Static checks of a step graph, from the declared ``accepts`` and ``emits``."""

from __future__ import annotations

from .events import INPUT_REQUEST_EVENT, INPUT_RESPONSE_EVENT, START_EVENT, STOP_EVENT
from .step import Step

__all__ = ["ValidationProblem", "validate_steps"]


class ValidationProblem:
    """One problem found by :meth:`Workflow.validate`.

    Attributes:
        kind: ``"no-start-step"``, ``"unreachable-step"``, ``"unaccepted-event"`` or
            ``"no-stop-path"``.
        message: A sentence saying what is wrong.
        step: The step concerned, if one is.
        event_type: The event type concerned, if one is.
    """

    __slots__ = ("event_type", "kind", "message", "step")

    def __init__(
        self, kind: str, message: str, *, step: str | None = None, event_type: str | None = None
    ) -> None:
        self.kind = kind
        self.message = message
        self.step = step
        self.event_type = event_type

    def __repr__(self) -> str:
        return f"ValidationProblem({self.kind!r}, {self.message!r})"

    def __str__(self) -> str:
        return self.message


def validate_steps(steps: tuple[Step, ...]) -> list[ValidationProblem]:
    """Return the problems of the graph formed by ``steps`` (see :class:`ValidationProblem`).

    A step that declares no ``emits`` may produce anything, so what lies after it is
    taken as reachable and a path to a StopEvent as possible.
    """
    problems: list[ValidationProblem] = []
    accepted = {t for s in steps for t in s.accepts}
    if START_EVENT not in accepted:
        problems.append(
            ValidationProblem("no-start-step", f"no step accepts {START_EVENT!r}", event_type=START_EVENT)
        )
    builtin = {STOP_EVENT, INPUT_REQUEST_EVENT}
    for step in steps:
        for etype in step.emits or ():
            if etype not in accepted and etype not in builtin:
                problems.append(
                    ValidationProblem(
                        "unaccepted-event",
                        f"step {step.name!r} declares it emits {etype!r}, which no step accepts",
                        step=step.name,
                        event_type=etype,
                    )
                )
    reachable, open_ended, stops = _walk(steps)
    if not open_ended:
        for step in steps:
            if step.name not in reachable:
                problems.append(
                    ValidationProblem(
                        "unreachable-step",
                        f"step {step.name!r} is unreachable from {START_EVENT!r} "
                        f"(it accepts {list(step.accepts)!r})",
                        step=step.name,
                    )
                )
        if not stops and START_EVENT in accepted:
            problems.append(
                ValidationProblem(
                    "no-stop-path", f"no declared path leads from {START_EVENT!r} to {STOP_EVENT!r}"
                )
            )
    return problems


def _walk(steps: tuple[Step, ...]) -> tuple[set[str], bool, bool]:
    """Return the names of reachable steps, whether any of them emits undeclared types,
    and whether any of them emits a StopEvent."""
    by_type: dict[str, list[Step]] = {}
    for step in steps:
        for etype in step.accepts:
            by_type.setdefault(etype, []).append(step)
    seen_types = {START_EVENT}
    frontier = [START_EVENT]
    reachable: set[str] = set()
    open_ended = stops = False
    while frontier:
        etype = frontier.pop()
        if etype == INPUT_REQUEST_EVENT:
            etype = INPUT_RESPONSE_EVENT  # the host's answer comes back as this event
        for step in by_type.get(etype, ()):
            if step.name in reachable:
                continue
            reachable.add(step.name)
            if step.emits is None:
                open_ended = True
                continue
            for out in step.emits:
                stops = stops or out == STOP_EVENT
                if out not in seen_types:
                    seen_types.add(out)
                    frontier.append(out)
    return reachable, open_ended, stops
