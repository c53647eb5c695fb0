"""Static checks of a step graph, from the declared ``accepts`` and ``emits``."""

from __future__ import annotations

from .events import INPUT_REQUEST_EVENT, INPUT_RESPONSE_EVENT, START_EVENT, STEP_FAILED_EVENT, STOP_EVENT
from .step import Step

__all__ = ["ValidationProblem", "validate_nested", "validate_steps"]


class ValidationProblem:
    """One problem found by :meth:`Workflow.validate`.

    Attributes:
        kind: ``"no-start-step"``, ``"unreachable-step"``, ``"unaccepted-event"``,
            ``"no-stop-path"`` or ``"dead-end"``.
        message: A sentence saying what is wrong.
        step: The step concerned, if one is (the first, for a problem of several steps).
        event_type: The event type concerned, if one is.
        steps: Every step concerned, in declaration order (a dead-end cycle names all
            of its steps).
        path: For a problem inside a sub-workflow (or map, or parallel) step's child:
            the chain of step names from the validated workflow down to the child
            (``("review",)``); ``()`` for a problem of the workflow itself.
    """

    __slots__ = ("event_type", "kind", "message", "path", "step", "steps")

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        step: str | None = None,
        event_type: str | None = None,
        steps: tuple[str, ...] | None = None,
    ) -> None:
        self.kind = kind
        self.message = message
        self.steps = steps if steps is not None else ((step,) if step is not None else ())
        self.step = step if step is not None else (self.steps[0] if self.steps else None)
        self.event_type = event_type
        self.path: tuple[str, ...] = ()

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
        else:
            problems.extend(_dead_ends(steps, reachable))
    return problems


def _dead_ends(steps: tuple[Step, ...], reachable: set[str]) -> list[ValidationProblem]:
    """Reachable steps that pass events on, yet from which no declared path reaches a
    StopEvent (a branch, or a cycle with no exit), grouped by the events they pass on.

    A step that emits nothing any step accepts (only stream events, or nothing) is a
    sink, not a dead end; a step with undeclared ``emits`` may reach anything.
    """
    by_type: dict[str, list[Step]] = {}
    for step in steps:
        for etype in step.accepts:
            by_type.setdefault(etype, []).append(step)

    def successors(step: Step) -> list[Step]:
        out: list[Step] = []
        for etype in step.emits or ():
            routed = INPUT_RESPONSE_EVENT if etype == INPUT_REQUEST_EVENT else etype
            out.extend(by_type.get(routed, ()))
        return out

    # Backwards from the steps that may end a run: those that emit a StopEvent, and
    # those with undeclared emits.
    stops = {s.name for s in steps if s.emits is None or STOP_EVENT in s.emits}
    changed = True
    while changed:
        changed = False
        for step in steps:
            if step.name not in stops and any(n.name in stops for n in successors(step)):
                stops.add(step.name)
                changed = True
    dead = [s for s in steps if s.name in reachable and s.name not in stops and successors(s)]
    # One problem per group of dead ends that pass events to each other (union-find).
    parent = {s.name: s.name for s in dead}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = name = parent[parent[name]]
        return name

    for step in dead:
        for nxt in successors(step):
            if nxt.name in parent:
                parent[root(step.name)] = root(nxt.name)
    groups: dict[str, list[Step]] = {}
    for step in dead:
        groups.setdefault(root(step.name), []).append(step)
    order = {s.name: i for i, s in enumerate(steps)}
    problems = []
    for group in groups.values():
        names = tuple(sorted((s.name for s in group), key=order.__getitem__))
        problems.append(
            ValidationProblem(
                "dead-end",
                f"no declared path leads from step{'s' if len(names) > 1 else ''} "
                f"{', '.join(repr(n) for n in names)} to {STOP_EVENT!r}: a run that goes there never ends",
                steps=names,
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
            if STEP_FAILED_EVENT not in seen_types and STEP_FAILED_EVENT not in step.accepts:
                # The engine produces it when this step fails for good: error handlers
                # are reachable from any step they do not handle themselves.
                seen_types.add(STEP_FAILED_EVENT)
                frontier.append(STEP_FAILED_EVENT)
            if step.emits is None:
                open_ended = True
                continue
            for out in step.emits:
                stops = stops or out == STOP_EVENT
                if out not in seen_types:
                    seen_types.add(out)
                    frontier.append(out)
    return reachable, open_ended, stops


def validate_nested(steps: tuple[Step, ...], seen: frozenset[int] = frozenset()) -> list[ValidationProblem]:
    """:func:`validate_steps`, then the children of sub-workflow, map and parallel steps:
    a child's problem gets the ``path`` of step names down to it, and a message naming it
    ("in step 'review' (child workflow 'reviewer'): ...")."""
    problems = validate_steps(steps)
    for step in steps:
        for child in getattr(step.handler, "children", ()):
            if id(child) in seen:
                continue  # a workflow nested in itself: checked once
            for problem in validate_nested(tuple(child._steps), seen | {id(child)}):
                problems.append(_nested(problem, step.name, getattr(child, "name", "?")))
    return problems


def _nested(problem: ValidationProblem, step: str, child: str) -> ValidationProblem:
    inner = f"(child workflow {child!r})"
    if problem.path:  # already "in step 'b' (child ...) > ...": prefix this level
        message = f"in step {step!r} {inner} > {problem.message.removeprefix('in ')}"
    else:
        message = f"in step {step!r} {inner}: {problem.message}"
    nested = ValidationProblem(
        problem.kind, message, step=problem.step, event_type=problem.event_type, steps=problem.steps
    )
    nested.path = (step, *problem.path)
    return nested
