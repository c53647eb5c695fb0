"""Error messages speak the caller's language: Python's words by default, JS's (null, a
string, an object) for what blazen.js calls (events.message_language, set by its bridge),
including inside the runs such a call starts."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from blazen_py import START_EVENT, InvalidEventError, StateError, StepError, Workflow
from blazen_py.events import describe, kind, message_language, shown

PORTABLE = True


def in_js(fn: Any) -> Any:
    context = contextvars.copy_context()
    context.run(message_language.set, "js")
    return context.run(fn)


@pytest.mark.parametrize(
    "value, python, js",
    [
        (None, "NoneType None", "null"),
        ("x", "str 'x'", 'a string "x"'),
        (5, "int 5", "a number 5"),
        (2.0, "float 2.0", "a number 2"),
        (True, "bool True", "a boolean true"),
        ([1], "list [1]", "an array [1]"),
        ({"a": None}, "dict {'a': None}", 'an object {"a": null}'),
        (b"ab", "bytes b'ab'", "a Uint8Array of 2 bytes"),
    ],
)
def test_describe_in_both_languages(value: Any, python: str, js: str) -> None:
    assert describe(value) == python
    assert in_js(lambda: describe(value)) == js


def test_shown_and_kind_are_clipped_and_never_fail() -> None:
    assert shown(None) == "None"
    assert in_js(lambda: shown(None)) == "null"
    assert len(in_js(lambda: shown("x" * 500))) == 80
    assert in_js(lambda: kind(object())) == "a object"
    loop: list[Any] = []
    loop.append(loop)
    assert in_js(lambda: shown(loop)) == "<list>"  # a cycle: no crash
    assert kind([]) == "list"


async def test_a_run_started_from_js_speaks_js_to_the_end() -> None:
    """The language goes with the run's context: tasks and callbacks copy it."""
    wf = Workflow("words")

    async def step(event: Any, ctx: Any) -> Any:
        await asyncio.sleep(0)  # after a real suspension too
        return "hello"

    wf.add_step("s", [START_EVENT], step)
    with pytest.raises(InvalidEventError, match=r"returned str 'hello'; .*a list of events, or None"):
        await wf.run()

    task = in_js(lambda: asyncio.ensure_future(wf.run()))
    with pytest.raises(
        InvalidEventError, match=r'returned a string "hello"; .*an array of events, or undefined'
    ):
        await task
    assert message_language.get() == "python"  # the caller's own words are untouched


async def test_a_state_key_error_in_js_words() -> None:
    wf = Workflow("keys")
    wf.add_step("s", [START_EVENT], lambda event, ctx: ctx.set(None, 1))
    task = in_js(lambda: asyncio.ensure_future(wf.run()))
    with pytest.raises(StepError) as caught:
        await task
    assert isinstance(caught.value.__cause__, StateError)
    assert str(caught.value.__cause__) == "state keys are strings, got null"
