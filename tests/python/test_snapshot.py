"""Snapshot format: contents, JSON round trip, and loading bad snapshots."""

from __future__ import annotations

import asyncio
import copy
import json

import pytest

from blazen_py import SNAPSHOT_VERSION, START_EVENT, STOP_EVENT, SnapshotError, Workflow, WorkflowBuilder

PORTABLE = True


def builder() -> WorkflowBuilder:
    b = WorkflowBuilder("snap")

    async def first(event, ctx):
        ctx.set("blob", b"\x00\x01binary")
        ctx.set("nested", {"$weird": [1, {"k": b"v"}]})
        await asyncio.sleep(0.01)
        return {"type": "Second", "payload": b"bytes in event"}

    def second(event, ctx):
        return {
            "type": STOP_EVENT,
            "result": {"blob": ctx.get("blob"), "nested": ctx.get("nested"), "payload": event["payload"]},
        }

    b.add_step("first", [START_EVENT], first)
    b.add_step("second", ["Second"], second)
    return b


async def paused_snapshot() -> dict:
    handler = await builder().build().run_with_handler({"x": 1})
    await asyncio.sleep(0)
    snap = await handler.pause()
    handler.abort()
    return snap


EXPECTED = {"blob": b"\x00\x01binary", "nested": {"$weird": [1, {"k": b"v"}]}, "payload": b"bytes in event"}


async def test_snapshot_is_json_with_binary_encoded() -> None:
    snap = await paused_snapshot()
    text = json.dumps(snap)
    assert snap["format"] == "blazen_py/snapshot"
    assert snap["version"] == SNAPSHOT_VERSION
    assert snap["workflow"] == "snap"
    assert snap["state"]["blob"] == {"$bytes": "AAFiaW5hcnk="}
    assert snap["state"]["nested"] == {"$map": {"$weird": [1, {"k": {"$bytes": "dg=="}}]}}
    assert snap["queue"] == [{"type": "Second", "payload": {"$bytes": "Ynl0ZXMgaW4gZXZlbnQ="}}]
    assert json.loads(text) == snap


async def test_resume_from_json_text_gives_the_same_result() -> None:
    snap = await paused_snapshot()
    handler = await Workflow.from_builder(builder()).resume(json.dumps(snap))
    assert (await handler.result()).data == EXPECTED


async def test_in_flight_step_inputs_are_rerun_on_resume() -> None:
    handler = await builder().build().run_with_handler({"x": 1})
    await asyncio.sleep(0)
    snap = await handler.snapshot()
    assert snap["step_inputs"] == [{"step": "first", "event": {"x": 1, "type": START_EVENT}}]
    resumed = await Workflow.from_builder(builder()).resume(snap)
    assert (await resumed.result()).data == EXPECTED
    assert (await handler.result()).data == EXPECTED


async def test_snapshot_of_unserializable_event_is_a_snapshot_error() -> None:
    wf = Workflow("bad-event")

    async def first(event, ctx):
        await asyncio.sleep(0.05)
        return {"type": STOP_EVENT}

    wf.add_step("first", [START_EVENT], first)
    handler = await wf.run_with_handler({"live": object()})
    await asyncio.sleep(0)
    with pytest.raises(SnapshotError, match="cannot be persisted"):
        await handler.snapshot()
    await handler.result()


def mutate(path, value):
    def apply(snap):
        target = snap
        for key in path[:-1]:
            target = target[key]
        if value is DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return snap

    return apply


DELETE = object()

BAD = [
    ("newer version", mutate(["version"], SNAPSHOT_VERSION + 1), "newer than this blazen_py reads"),
    ("version zero", mutate(["version"], 0), "not a valid version"),
    ("version text", mutate(["version"], "1"), "must be an integer"),
    ("other format", mutate(["format"], "pickle"), "not a blazen_py snapshot"),
    ("no state", mutate(["state"], DELETE), "missing 'state'"),
    ("state list", mutate(["state"], []), "'state' must be a dict"),
    ("queue missing", mutate(["queue"], DELETE), "missing 'queue'"),
    ("bad event", mutate(["queue", 0], {"no": "type"}), r"queue\[0\] is not an event"),
    ("bad bytes", mutate(["state", "blob"], {"$bytes": "%%%"}), "invalid \\$bytes"),
    ("unknown tag", mutate(["state", "blob"], {"$code": "import os"}), "unknown tag"),
    ("step input shape", mutate(["step_inputs"], [5]), "must be an object"),
    ("unknown step", mutate(["step_inputs"], [{"step": "ghost", "event": {"type": "X"}}]), "step 'ghost'"),
    ("unroutable queue", mutate(["queue", 0, "type"], "Nobody"), "no step of 'snap' accepts"),
    ("other workflow", mutate(["workflow"], "other"), "of workflow 'other', not 'snap'"),
    ("empty run id", mutate(["run_id"], ""), "'run_id' must be a non-empty string"),
    ("bad status", mutate(["status"], "exploded"), "'status' must be"),
    ("bad request", mutate(["input_requests"], [{"request_id": 3}]), "'request_id' must be"),
    ("bad ref bytes", mutate(["session_refs"], [{"key": "k", "type_tag": "T", "bytes": "!!"}]), "not base64"),
    ("bad unrouted", mutate(["unrouted"], {"X": "a"}), r"unrouted\['X'\]"),
    ("bad metadata", mutate(["metadata"], [1]), "'metadata' must be an object"),
]


@pytest.mark.parametrize("name, change, fragment", BAD)
async def test_bad_snapshots_raise_snapshot_error(name, change, fragment) -> None:
    snap = change(copy.deepcopy(await paused_snapshot()))
    with pytest.raises(SnapshotError, match=fragment):
        await Workflow.from_builder(builder()).resume(snap)


@pytest.mark.parametrize("cut", [0, 1, 10, 100, -1])
async def test_truncated_json_text_raises_snapshot_error(cut) -> None:
    text = json.dumps(await paused_snapshot())
    with pytest.raises(SnapshotError, match=r"not valid JSON|not a blazen_py snapshot"):
        await Workflow.from_builder(builder()).resume(text[:cut])


@pytest.mark.parametrize("value", [None, 5, [], "null", "[1,2]", b"\xff\xfe"])
async def test_non_objects_raise_snapshot_error(value) -> None:
    with pytest.raises(SnapshotError):
        await Workflow.from_builder(builder()).resume(value)


async def test_loading_runs_nothing_from_the_snapshot() -> None:
    snap = await paused_snapshot()
    snap["state"]["x"] = "__import__('os').system('false')"
    handler = await Workflow.from_builder(builder()).resume(snap)
    assert (await handler.result()).data == EXPECTED


async def test_unfinished_steps_writes_are_left_out_until_they_finish() -> None:
    from blazen_py.runtime import Deferred

    wf = Workflow("journal")
    gate = asyncio.Event()
    later: list = []

    async def parked(event, ctx):  # suspends on bare yields only
        ctx.set("parked", 1)
        while not gate.is_set():  # noqa: ASYNC110 - stays parked, no Task
            await asyncio.sleep(0)
        return {"type": "Done"}

    async def tasked(event, ctx):  # suspends on a future: continues in a Task
        ctx.set("tasked", 1)
        await gate.wait()
        ctx.set("tasked", 2)
        return {"type": "Done"}

    def deferred(event, ctx):  # completes from a callback, like a JS promise
        d = Deferred()
        later.append((d, ctx))
        return d

    def join(event, ctx):
        n = (ctx.get("n") or 0) + 1
        ctx.set("n", n)
        return {"type": STOP_EVENT, "result": n} if n == 3 else None

    wf.add_step("parked", [START_EVENT], parked)
    wf.add_step("tasked", [START_EVENT], tasked)
    wf.add_step("deferred", [START_EVENT], deferred)
    wf.add_step("join", ["Done"], join)
    handler = await wf.run_with_handler()
    await asyncio.sleep(0.01)
    d, ctx = later[0]
    with d.running():
        ctx.set("deferred", 1)
    snap = await handler.snapshot()
    assert snap["state"] == {}
    assert sorted(i["step"] for i in snap["step_inputs"]) == ["deferred", "parked", "tasked"]
    gate.set()
    d.resolve({"type": "Done"})
    assert (await handler.result()).data == 3
    assert handler._run.state == {"parked": 1, "tasked": 2, "deferred": 1, "n": 3}


async def test_a_step_stopped_by_pause_is_rerun_from_its_starting_state() -> None:
    wf = Workflow("rollback")

    async def ask(event, ctx):
        ctx.set("asked", (ctx.get("asked") or 0) + 1)
        answer = await ctx.request_input("ok?")
        return {"type": STOP_EVENT, "result": [answer, ctx.get("asked")]}

    wf.add_step("ask", [START_EVENT], ask)
    handler = await wf.run_with_handler()
    await asyncio.sleep(0)
    snap = await handler.pause()
    assert snap["state"] == {}
    await handler.resume_in_place()
    async for item in handler.events():
        if item.event_type == "InputRequested" and item["request_id"] in handler._run.requests:
            handler.respond_to_input(item["request_id"], "yes")
    assert (await handler.result()).data == ["yes", 1]
