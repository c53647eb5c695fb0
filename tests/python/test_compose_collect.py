"""Fan-in with ``ctx.collect_events``: order, repeats, foreign types, bad arguments, and the
buffer as run state (snapshots hold it, a resumed run continues it, a hostile snapshot is
refused)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from blazen_py import (
    START_EVENT,
    STOP_EVENT,
    InvalidEventError,
    SnapshotError,
    StepError,
    Workflow,
    WorkflowBuilder,
)

PORTABLE = True


def joiner(expected: list[str], *, calls: list[str] | None = None) -> Any:
    def join(event: Any, ctx: Any) -> Any:
        if calls is not None:
            calls.append(event["type"])
        got = ctx.collect_events(event, expected)
        if got is None:
            return None
        return {"type": STOP_EVENT, "result": [[e["type"], e["v"]] for e in got]}

    return join


def fan(*events: tuple[str, int]) -> Any:
    return lambda event, ctx: [{"type": t, "v": v} for t, v in events]


async def test_returns_the_listed_order_whatever_the_arrival_order() -> None:
    wf = Workflow("join")
    wf.add_step("split", [START_EVENT], fan(("B", 2), ("A", 1)))
    wf.add_step("join", ["A", "B"], joiner(["A", "B"]))
    assert (await wf.run()).data == [["A", 1], ["B", 2]]


async def test_a_type_listed_twice_waits_for_two_and_the_oldest_are_taken() -> None:
    wf = Workflow("join")
    wf.add_step("split", [START_EVENT], fan(("A", 1), ("B", 2), ("A", 3), ("A", 4)))
    wf.add_step("join", ["A", "B"], joiner(["A", "B", "A"]))
    assert (await wf.run()).data == [["A", 1], ["B", 2], ["A", 3]]


async def test_an_event_of_an_unlisted_type_is_not_buffered() -> None:
    calls: list[str] = []
    wf = Workflow("join")
    wf.add_step("split", [START_EVENT], fan(("C", 0), ("A", 1), ("C", 9), ("B", 2)))
    wf.add_step("join", ["A", "B", "C"], joiner(["A", "B"], calls=calls))
    assert (await wf.run()).data == [["A", 1], ["B", 2]]
    assert calls == ["C", "A", "C", "B"]


async def test_an_empty_list_gives_an_empty_list_at_once() -> None:
    wf = Workflow("join")
    wf.add_step(
        "only", [START_EVENT], lambda e, ctx: {"type": STOP_EVENT, "result": ctx.collect_events(e, [])}
    )
    assert (await wf.run()).data == []


async def test_each_step_has_its_own_buffer_and_a_completed_join_starts_again() -> None:
    seen: dict[str, list[Any]] = {"left": [], "right": []}

    def side(name: str) -> Any:
        def join(event: Any, ctx: Any) -> Any:
            got = ctx.collect_events(event, ["A", "B"])
            if got is not None:
                seen[name].append([e["v"] for e in got])
                if len(seen["left"]) == 2 and len(seen["right"]) == 2:
                    return {"type": STOP_EVENT, "result": seen}
            return None

        return join

    wf = Workflow("join")
    wf.add_step("split", [START_EVENT], fan(("A", 1), ("B", 2), ("B", 3), ("A", 4)))
    wf.add_step("left", ["A", "B"], side("left"))
    wf.add_step("right", ["A", "B"], side("right"))
    assert (await wf.run()).data == {"left": [[1, 2], [4, 3]], "right": [[1, 2], [4, 3]]}


@pytest.mark.parametrize(
    "expected, match",
    [
        ("AB", "expected must be a list of event types, got str .AB."),
        (None, "expected must be a list of event types"),
        (["A", 3], "expected holds int 3"),
        (["A", ""], "not an event type string"),
    ],
)
async def test_bad_expected_lists_fail_the_step_with_a_typed_error(expected: Any, match: str) -> None:
    wf = Workflow("join")
    wf.add_step("split", [START_EVENT], fan(("B", 1)))
    wf.add_step("join", ["B"], joiner(expected))
    with pytest.raises(StepError, match="'join'") as info:
        await wf.run()
    assert isinstance(info.value.__cause__, InvalidEventError)
    assert info.match(match)


async def test_something_that_is_no_event_is_refused() -> None:
    wf = Workflow("join")
    wf.add_step("only", [START_EVENT], lambda e, ctx: ctx.collect_events({"v": 1}, ["A"]))
    with pytest.raises(StepError, match="InvalidEventError") as info:
        await wf.run()
    assert isinstance(info.value.__cause__, InvalidEventError)


def slow_join_builder(gate: dict[str, Any]) -> WorkflowBuilder:
    """split sends A at once; B comes from a step that waits on the gate."""
    b = WorkflowBuilder("slow-join")
    b.add_step("split", [START_EVENT], lambda e, ctx: [{"type": "A", "v": 1}, {"type": "Go"}])

    async def later(event: Any, ctx: Any) -> Any:
        await gate["open"].wait()
        return {"type": "B", "v": 2}

    b.add_step("later", ["Go"], later)
    b.add_step("join", ["A", "B"], joiner(["A", "B"]))
    return b


async def test_a_snapshot_holds_the_buffer_and_a_fresh_workflow_continues_it() -> None:
    gate = {"open": asyncio.Event()}
    handler = await slow_join_builder(gate).build().run_with_handler()
    for _ in range(50):
        await asyncio.sleep(0)
        if handler.run.collected:
            break
    snap = await handler.snapshot()
    handler.abort()
    assert snap["collected"] == {"join": {"A": [{"type": "A", "v": 1}]}}
    assert [s["step"] for s in snap["step_inputs"]] == ["later"]
    gate["open"].set()
    resumed = await slow_join_builder(gate).build().resume(json.loads(json.dumps(snap)))
    assert (await resumed.result()).data == [["A", 1], ["B", 2]]


async def test_what_an_unfinished_step_buffered_is_left_out_and_buffered_once_on_resume() -> None:
    gate = {"open": asyncio.Event()}

    def builder() -> WorkflowBuilder:
        b = WorkflowBuilder("unfinished")
        b.add_step("split", [START_EVENT], fan(("A", 1), ("B", 2)))

        async def join(event: Any, ctx: Any) -> Any:
            got = ctx.collect_events(event, ["A", "B", "A"])
            await gate["open"].wait()  # still running when the snapshot is taken
            if got is None:
                return None
            return {"type": STOP_EVENT, "result": [e["v"] for e in got]}

        b.add_step("join", ["A", "B"], join)
        b.add_step("more", ["B"], lambda e, ctx: {"type": "A", "v": 3})
        return b

    handler = await builder().build().run_with_handler()
    for _ in range(50):
        await asyncio.sleep(0)
        if handler.run.in_flight == 3:
            break
    assert handler.run.in_flight == 3  # join waits on A, on B and on the second A
    snap = await handler.snapshot()
    handler.abort()
    assert snap["collected"] == {}  # every collecting invocation is unfinished
    assert sorted(s["event"]["v"] for s in snap["step_inputs"]) == [1, 2, 3]
    gate["open"].set()
    resumed = await builder().build().resume(json.dumps(snap))
    assert (await resumed.result()).data == [1, 2, 3]


async def test_a_completed_join_of_an_unfinished_step_is_undone_in_the_snapshot() -> None:
    gate = {"open": asyncio.Event()}

    def builder() -> WorkflowBuilder:
        b = WorkflowBuilder("undo-take")
        b.add_step("split", [START_EVENT], fan(("A", 1)))
        b.add_step("second", ["A"], lambda e, ctx: {"type": "B", "v": 2})

        async def join(event: Any, ctx: Any) -> Any:
            got = ctx.collect_events(event, ["A", "B"])
            if got is None:
                return None
            await gate["open"].wait()
            return {"type": STOP_EVENT, "result": [e["v"] for e in got]}

        b.add_step("join", ["A", "B"], join)
        return b

    handler = await builder().build().run_with_handler()
    for _ in range(50):
        await asyncio.sleep(0)
        if handler.run.in_flight:
            break
    snap = await handler.snapshot()
    handler.abort()
    # the join that took A and B has not finished: A is back in the buffer, B is its input
    assert snap["collected"] == {"join": {"A": [{"type": "A", "v": 1}]}}
    assert [(s["step"], s["event"]["type"]) for s in snap["step_inputs"]] == [("join", "B")]
    gate["open"].set()
    resumed = await builder().build().resume(snap)
    assert (await resumed.result()).data == [1, 2]


def base_snapshot() -> dict[str, Any]:
    wf = Workflow("hostile")
    wf.add_step("join", ["A", "B"], joiner(["A", "B"]))
    return {
        "format": "blazen_py/snapshot",
        "version": 1,
        "workflow": "hostile",
        "run_id": "r1",
        "state": {},
        "queue": [{"type": "B", "v": 2}],
        "step_inputs": [],
        "input_requests": [],
        "collected": {"join": {"A": [{"type": "A", "v": 1}]}},
    }


def hostile_workflow() -> Workflow:
    wf = Workflow("hostile")
    wf.add_step("join", ["A", "B"], joiner(["A", "B"]))
    return wf


async def test_a_good_buffer_from_storage_resumes() -> None:
    handler = await hostile_workflow().resume(base_snapshot())
    assert (await handler.result()).data == [["A", 1], ["B", 2]]


@pytest.mark.parametrize(
    "collected, match",
    [
        ({"nobody": {"A": [{"type": "A"}]}}, "collected by step 'nobody'"),
        ({"join": {"A": [{"type": "B"}]}}, "holds an event of another type"),
        ({"join": {"A": {"type": "A"}}}, "must be a list of events"),
        ({"join": {"A": [{"v": 1}]}}, "is not an event"),
        ({"join": {"A": ["A"]}}, "is not an event"),
        ({"join": [["A"]]}, "must be an object of event lists"),
        ({"join": {"": []}}, "must be a list of events"),
        ([], "'collected' must be a dict"),
        ({"join": {"A": [{"type": "A", "f": {"$code": "x"}}]}}, "unknown tag"),
    ],
)
async def test_hostile_buffers_are_refused(collected: Any, match: str) -> None:
    snap = base_snapshot()
    snap["collected"] = collected
    with pytest.raises(SnapshotError, match=match):
        await hostile_workflow().resume(json.dumps(snap))


async def test_a_deep_buffer_value_is_refused_before_parsing() -> None:
    text = json.dumps(base_snapshot()).replace('"v": 1', '"v": ' + "[" * 400 + "]" * 400)
    with pytest.raises(SnapshotError, match="nested more than"):
        await hostile_workflow().resume(text)


@pytest.mark.parametrize("n", [1000, 10000])
async def test_a_fan_in_of_many_events_of_one_type_joins_them_all(n: int) -> None:
    wf = Workflow("many")
    wf.add_step("split", [START_EVENT], lambda e, ctx: [{"type": "Item", "v": i} for i in range(n)])

    def join(event: Any, ctx: Any) -> Any:
        got = ctx.collect_events(event, ["Item"] * n)
        if got is None:
            return None
        return {"type": STOP_EVENT, "result": sum(e["v"] for e in got)}

    wf.add_step("join", ["Item"], join)
    assert (await wf.run()).data == n * (n - 1) // 2


async def test_an_event_a_finished_step_took_from_an_unfinished_one_is_not_buffered_again() -> None:
    gate = {"open": asyncio.Event()}

    def builder() -> WorkflowBuilder:
        b = WorkflowBuilder("consumed")
        b.add_step("split", [START_EVENT], fan(("A", 1), ("B", 2)))

        async def join(event: Any, ctx: Any) -> Any:
            got = ctx.collect_events(event, ["A", "B"])
            if got is None:  # the A: buffered, then this invocation waits
                await gate["open"].wait()
                return {"type": "Done"}
            return {"type": "Pair", "v": [e["v"] for e in got]}  # the B: takes A and B

        b.add_step("join", ["A", "B"], join)

        def final(event: Any, ctx: Any) -> Any:
            got = ctx.collect_events(event, ["Pair", "Done"])
            return None if got is None else {"type": STOP_EVENT, "result": got[0]["v"]}

        b.add_step("final", ["Pair", "Done"], final)
        return b

    handler = await builder().build().run_with_handler()
    for _ in range(50):
        await asyncio.sleep(0)
        if handler.run.collected.buffers.get("final"):
            break
    snap = await handler.snapshot()
    handler.abort()
    assert snap["collected"] == {"final": {"Pair": [{"type": "Pair", "v": [1, 2]}]}}
    assert snap["step_inputs"] == [
        {"step": "join", "event": {"type": "A", "v": 1}, "calls": [{"kind": "collect", "consumed": True}]}
    ]
    gate["open"].set()
    resumed = await builder().build().resume(json.dumps(snap))
    assert (await resumed.result()).data == [1, 2]
    assert not resumed.run.collected  # the A was not buffered a second time


@pytest.mark.parametrize(
    "calls, match",
    [
        ({"kind": "collect"}, "must be a list"),
        ([{"kind": "exec"}], "not a call record"),
        (["collect"], "not a call record"),
        ([{"kind": "collect", "consumed": "yes"}], "consumed is of the wrong type"),
        ([{"kind": "collect", "code": "x"}], "code is not allowed in a 'collect' record"),
        ([{"kind": "collect"}] * 10_001, "at most 10000"),
    ],
)
async def test_hostile_call_records_are_refused(calls: Any, match: str) -> None:
    snap = base_snapshot()
    snap["step_inputs"] = [{"step": "join", "event": {"type": "A", "v": 5}, "calls": calls}]
    with pytest.raises(SnapshotError, match=match):
        await hostile_workflow().resume(json.dumps(snap))
