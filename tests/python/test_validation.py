"""Workflow.validate(): static checks from accepts/emits."""

from __future__ import annotations

import pytest

from blazen_py import START_EVENT, STOP_EVENT, Workflow, WorkflowDefinitionError

PORTABLE = True


def noop(e, c):
    return None


def kinds(wf):
    return sorted((p.kind, p.step or p.event_type) for p in wf.validate())


def test_valid_graph_has_no_problems() -> None:
    wf = Workflow("ok")
    wf.add_step("a", [START_EVENT], noop, emits=["B"])
    wf.add_step("b", ["B"], noop, emits=[STOP_EVENT])
    assert wf.validate() == []


def test_unreachable_step_unaccepted_event_and_no_stop_path() -> None:
    wf = Workflow("bad")
    wf.add_step("a", [START_EVENT], noop, emits=["B", "Nobody"])
    wf.add_step("b", ["B"], noop, emits=[])
    wf.add_step("island", ["Island"], noop, emits=[STOP_EVENT])
    assert kinds(wf) == [
        ("no-stop-path", None),
        ("unaccepted-event", "a"),
        ("unreachable-step", "island"),
    ]
    messages = [str(p) for p in wf.validate()]
    assert "step 'a' declares it emits 'Nobody', which no step accepts" in messages


def test_missing_start_step() -> None:
    wf = Workflow("nostart")
    wf.add_step("a", ["A"], noop, emits=[STOP_EVENT])
    assert ("no-start-step", START_EVENT) in kinds(wf)


def test_undeclared_emits_make_the_rest_reachable() -> None:
    wf = Workflow("open")
    wf.add_step("a", [START_EVENT], noop)
    wf.add_step("b", ["B"], noop, emits=["C"])
    assert ("unaccepted-event", "b") in kinds(wf)
    assert not any(k == "unreachable-step" for k, _ in kinds(wf))


def test_input_request_reaches_input_response_steps() -> None:
    wf = Workflow("hitl")
    wf.add_step("ask", [START_EVENT], noop, emits=["blazen::InputRequestEvent"])
    wf.add_step("answer", ["blazen::InputResponseEvent"], noop, emits=[STOP_EVENT])
    assert wf.validate() == []


@pytest.mark.parametrize(
    "args, kwargs, fragment",
    [
        (("", [START_EVENT], noop), {}, "non-empty string"),
        (("a", START_EVENT, noop), {}, "not the string"),
        (("a", [], noop), {}, "non-empty list"),
        (("a", [STOP_EVENT], noop), {}, "handled by the engine"),
        (("a", [START_EVENT], None), {}, "must be callable"),
        (("a", [START_EVENT], noop), {"timeout": 0}, "positive number"),
        (("a", [START_EVENT], noop), {"max_concurrency": 0}, "positive int"),
        (("a", [START_EVENT], noop), {"emits": "X"}, "not a string"),
    ],
)
def test_bad_step_declarations(args, kwargs, fragment) -> None:
    wf = Workflow("decl")
    with pytest.raises(WorkflowDefinitionError, match=fragment):
        wf.add_step(*args, **kwargs)


def test_duplicate_step_name() -> None:
    wf = Workflow("dup")
    wf.add_step("a", [START_EVENT], noop)
    with pytest.raises(WorkflowDefinitionError, match="already has a step named 'a'"):
        wf.add_step("a", ["X"], noop)


def test_bad_workflow_settings() -> None:
    with pytest.raises(WorkflowDefinitionError):
        Workflow("")
    wf = Workflow("settings")
    with pytest.raises(WorkflowDefinitionError, match="positive number"):
        wf.set_timeout(-1)
    with pytest.raises(WorkflowDefinitionError, match="'continue' or 'pause'"):
        wf.set_session_pause_policy("sometimes")


def test_decorator_names_step_after_function() -> None:
    wf = Workflow("deco")

    @wf.step(accepts=[START_EVENT], emits=[STOP_EVENT])
    def begin(e, c):
        return None

    assert [s.name for s in wf.steps] == ["begin"]
    assert begin(None, None) is None
