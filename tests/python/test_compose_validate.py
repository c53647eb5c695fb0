"""``Workflow.validate()`` checks the children of sub-workflow, map and parallel steps:
each child's problem carries the ``path`` of step names and a message naming it; a
workflow nested in itself is checked once; a sound child adds nothing.

PORTABLE: run on CPython and, by tests/pyodide, inside Pyodide in Node and Chromium.
"""

from __future__ import annotations

from typing import Any

from blazen_py import START_EVENT, STOP_EVENT, Workflow

PORTABLE = True


def broken() -> Workflow:
    wf = Workflow("broken")
    wf.add_step("lonely", ["Never"], lambda e, ctx: None, emits=[STOP_EVENT])
    return wf


def sound() -> Workflow:
    wf = Workflow("sound")
    wf.add_step("ok", [START_EVENT], lambda e, ctx: None, emits=[STOP_EVENT])
    return wf


def parent_of(add: Any) -> Workflow:
    wf = Workflow("top")
    wf.add_step("go", [START_EVENT], lambda e, ctx: None, emits=["Go"])
    add(wf)
    return wf


def test_a_broken_child_of_each_kind_of_step_is_reported_with_its_path() -> None:
    adders = {
        "sub": lambda wf: wf.add_subworkflow_step("sub", ["Go"], broken()),
        "each": lambda wf: wf.add_map_step("each", ["Go"], broken(), items=lambda e: []),
        "fan": lambda wf: wf.add_parallel_subworkflows("fan", ["Go"], [sound(), broken()]),
    }
    for name, add in adders.items():
        problems = parent_of(add).validate()
        want = {("no-start-step", (name,)), ("unreachable-step", (name,))}
        assert {(p.kind, p.path) for p in problems} == want
        unreachable = next(p for p in problems if p.kind == "unreachable-step")
        assert unreachable.step == "lonely"
        assert unreachable.message.startswith(f"in step {name!r} (child workflow 'broken'): step 'lonely'")


def test_grandchildren_are_named_by_the_whole_path() -> None:
    mid = Workflow("mid")
    mid.add_step("go", [START_EVENT], lambda e, ctx: None, emits=["X"])
    mid.add_subworkflow_step("deep", ["X"], broken())
    problems = parent_of(lambda wf: wf.add_subworkflow_step("sub", ["Go"], mid)).validate()
    assert {p.path for p in problems} == {("sub", "deep")}
    assert all(
        p.message.startswith("in step 'sub' (child workflow 'mid') > step 'deep' (child workflow 'broken'): ")
        for p in problems
    )


def test_sound_children_and_a_workflow_nested_in_itself_add_nothing() -> None:
    fine = parent_of(lambda wf: wf.add_parallel_subworkflows("fan", ["Go"], [sound(), sound()]))
    assert fine.validate() == []
    loop = Workflow("loop")
    loop.add_step("go", [START_EVENT], lambda e, ctx: None, emits=["Again", STOP_EVENT])
    loop.add_subworkflow_step("again", ["Again"], loop)  # recursion: validated once, no hang
    assert loop.validate() == []
