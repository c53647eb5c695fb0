"""Context: state, bytes, session, events and identity."""

from __future__ import annotations

import pytest

from blazen_py import START_EVENT, STOP_EVENT, StateError, StepError, Workflow

PORTABLE = True


async def run_step(fn):
    """Run ``fn(ctx)`` as the only step and return what it returns as the result."""
    wf = Workflow("ctx")
    wf.add_step("s", [START_EVENT], lambda e, c: {"type": STOP_EVENT, "result": fn(c)})
    return (await wf.run()).data


async def test_get_missing_is_none() -> None:
    assert (
        await run_step(lambda c: [c.get("x"), c.state.get("x"), c.get_bytes("x"), c.session.get("x")])
        == [None] * 4
    )


async def test_state_values_round_trip_as_copies() -> None:
    def fn(c):
        value = {"a": [1, 2.5, True, None, "s", b"\x00"], "b": {"c": []}}
        c.set("v", value)
        value["a"].append("mutated after set")
        got = c.get("v")
        got["b"]["c"].append("mutated after get")
        return [c.get("v"), got is c.get("v")]

    stored, same = await run_step(fn)
    assert stored == {"a": [1, 2.5, True, None, "s", b"\x00"], "b": {"c": []}}
    assert same is False


async def test_tuples_become_lists_and_bytearray_becomes_bytes() -> None:
    assert await run_step(lambda c: (c.set("t", (1, (2, 3), bytearray(b"x"))), c.get("t"))[1]) == [
        1,
        [2, 3],
        b"x",
    ]


@pytest.mark.parametrize(
    "value, fragment",
    [
        (object(), "object, which cannot be persisted"),
        ({"a": {1: "int key"}}, "non-string key 1"),
        (float("nan"), "only finite numbers"),
        ([1, {"x": set()}], r"'v\[1\].x' is a set"),
        (lambda: 1, "function"),
    ],
)
async def test_non_serializable_state_is_rejected_at_set_time(value, fragment) -> None:
    def fn(c):
        c.set("v", value)

    with pytest.raises(StepError, match=fragment) as info:
        await run_step(fn)
    assert isinstance(info.value.__cause__, StateError)


async def test_state_namespace_rejects_what_set_rejects() -> None:
    with pytest.raises(StepError, match=r"ctx\.session"):
        await run_step(lambda c: c.state.set("v", object()))


async def test_get_bytes_on_non_binary_value_is_a_clear_error() -> None:
    with pytest.raises(StepError, match="holds a str, not bytes"):
        await run_step(lambda c: (c.set("s", "text"), c.get_bytes("s")))


async def test_set_bytes_requires_bytes() -> None:
    with pytest.raises(StepError, match=r"set_bytes\('b'\) takes bytes, got str"):
        await run_step(lambda c: c.set_bytes("b", "text"))


async def test_session_keeps_identity_and_any_object() -> None:
    sentinel = object()

    def fn(c):
        c.session.set("obj", sentinel)
        c.session.set("fn", len)
        return [c.session.get("obj") is sentinel, c.session.has("fn"), c.session.keys(), "obj" in c.session]

    assert await run_step(fn) == [True, True, ["obj", "fn"], True]


async def test_session_is_shared_between_steps_of_one_run_only() -> None:
    wf = Workflow("session")
    live = []

    def first(e, c):
        obj = {"n": 0}
        live.append(obj)
        c.session.set("obj", obj)
        return {"type": "Next"}

    def second(e, c):
        return {"type": STOP_EVENT, "result": c.session.get("obj") is live[-1]}

    wf.add_step("first", [START_EVENT], first)
    wf.add_step("second", ["Next"], second)
    assert (await wf.run()).data is True
    assert (await wf.run()).data is True
    assert live[0] is not live[1]


async def test_state_delete_has_keys() -> None:
    def fn(c):
        c.state.set("a", 1)
        c.state.set("b", 2)
        c.state.delete("a")
        c.state.delete("never")
        return [c.state.has("a"), c.state.has("b"), c.state.keys(), "b" in c.state]

    assert await run_step(fn) == [False, True, ["b"], True]


async def test_write_event_to_stream_is_a_real_stream_event() -> None:
    wf = Workflow("stream")

    def step(e, c):
        c.write_event_to_stream({"type": "Note", "text": "hi"})
        return {"type": STOP_EVENT, "result": 1}

    wf.add_step("step", [START_EVENT], step)
    seen = []
    await wf.run_streaming(None, seen.append)
    assert [dict(x) for x in seen[1:2]] == [{"type": "Note", "text": "hi", "event_type": "Note"}]


async def test_write_event_to_stream_is_not_routed() -> None:
    wf = Workflow("stream-not-routed")
    got = []
    wf.add_step(
        "step",
        [START_EVENT],
        lambda e, c: (c.write_event_to_stream({"type": "Note"}), {"type": STOP_EVENT})[1],
    )
    wf.add_step("note", ["Note"], lambda e, c: got.append(e))
    await wf.run()
    assert got == []


async def test_context_repr_and_step_name() -> None:
    text, name = await run_step(lambda c: [repr(c), c.step_name])
    assert "workflow='ctx'" in text
    assert name == "s"
