"""The bad-input corpus: whatever users feed blazen_py, they get a typed error with a clear
message, nothing hangs, and the same workflow runs cleanly afterwards.

Each case is (id, what to feed, error class, message pattern). Cases that go through a
run use one shared workflow whose start step returns or does whatever the case says;
after every case that workflow must still complete a good run.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from blazen_py import (
    SNAPSHOT_VERSION,
    START_EVENT,
    STOP_EVENT,
    InputRequestError,
    InvalidEventError,
    MemoryStore,
    SnapshotError,
    StepError,
    StoreError,
    Workflow,
    WorkflowDefinitionError,
    WorkflowStallError,
    WorkflowTimeoutError,
)

PORTABLE = True


class Opaque:
    """Some object that is not data."""


def _deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


# -- what a step returns --------------------------------------------------------------------

RETURNED = [
    ("int", 42, "returned int 42"),
    ("float", 1.5, "returned float 1.5"),
    ("str", "blazen::StopEvent", "returned str"),
    ("bytes", b"event", "returned bytes"),
    ("bool", True, "returned bool True"),
    ("object", Opaque(), "returned Opaque"),
    ("set", {"type"}, "returned set"),
    ("no type", {"payload": 1}, "no string 'type'"),
    ("int type", {"type": 7}, "no string 'type'"),
    ("empty type", {"type": ""}, "no string 'type'"),
    ("none type", {"type": None}, "no string 'type'"),
    ("list type", {"type": ["A"]}, "no string 'type'"),
    ("list with int", [{"type": "A"}, 5], "a list holding a non-event"),
    ("list with none", [None], "a list holding a non-event"),
    ("nested list", [[{"type": "A"}]], "a list holding a non-event"),
    ("tuple of str", ("A", "B"), "a list holding a non-event"),
]

SENT = [
    ("send int", 3, "expected an event"),
    ("send str", "A", "expected an event"),
    ("send no type", {"x": 1}, "no string 'type'"),
    ("send list", [{"type": "A"}], "expected an event"),
    ("send none", None, "expected an event"),
]

STATE = [
    ("object", Opaque(), "Opaque, which cannot be persisted"),
    ("set", {1, 2}, "set, which cannot be persisted"),
    ("nan", math.nan, "only finite numbers"),
    ("inf", -math.inf, "only finite numbers"),
    ("function", len, "cannot be persisted"),
    ("complex", 1j, "complex, which cannot be persisted"),
    ("generator", (i for i in range(2)), "generator, which cannot be persisted"),
    ("int key", {1: "x"}, "non-string key 1"),
    ("nested object", {"a": [1, {"b": Opaque()}]}, r"'v.a\[1\].b' is a Opaque"),
    ("too deep", _deep(400), "nested more than 200 levels"),
]


def workflow() -> tuple[Workflow, dict[str, Any]]:
    """One workflow for every run case; ``mode['do']`` decides what the start step does."""
    wf = Workflow("corpus")
    mode: dict[str, Any] = {"do": None}

    def start(event: Any, ctx: Any) -> Any:
        do = mode["do"]
        if do is None:
            return {"type": STOP_EVENT, "result": "good"}
        return do(ctx)

    wf.add_step("start", [START_EVENT], start)
    wf.add_step("a", ["A"], lambda e, c: None)
    return wf, mode


WF, MODE = workflow()


async def fails_then_recovers(do: Callable[[Any], Any], error: type[BaseException], pattern: str) -> None:
    MODE["do"] = do
    try:
        with pytest.raises(error, match=pattern):
            await asyncio.wait_for(WF.run({}), 5)
    finally:
        MODE["do"] = None
    assert (await WF.run({})).data == "good"


@pytest.mark.parametrize("name, value, pattern", RETURNED)
async def test_bad_return_values(name: str, value: Any, pattern: str) -> None:
    await fails_then_recovers(lambda ctx: value, InvalidEventError, pattern)


@pytest.mark.parametrize("name, value, pattern", SENT)
async def test_bad_sent_events(name: str, value: Any, pattern: str) -> None:
    await fails_then_recovers(lambda ctx: ctx.send_event(value), StepError, pattern)


@pytest.mark.parametrize("name, value, pattern", STATE)
async def test_values_that_cannot_be_state(name: str, value: Any, pattern: str) -> None:
    await fails_then_recovers(lambda ctx: ctx.set("v", value), StepError, pattern)


async def test_bad_bytes_and_non_string_keys() -> None:
    await fails_then_recovers(lambda ctx: ctx.set_bytes("b", "text"), StepError, "takes bytes")
    await fails_then_recovers(lambda ctx: ctx.set(3, "x"), StepError, "state keys are strings")
    await fails_then_recovers(lambda ctx: (ctx.set("s", "x"), ctx.get_bytes("s")), StepError, "not bytes")


async def test_a_step_that_never_finishes_hits_the_timeout() -> None:
    wf = Workflow("never")

    async def never(event: Any, ctx: Any) -> Any:
        await asyncio.get_running_loop().create_future()

    wf.add_step("never", [START_EVENT], never)
    wf.set_timeout(0.05)
    with pytest.raises(WorkflowTimeoutError):
        await wf.run()


@pytest.mark.parametrize("value", [[1, 2], "start", 5, Opaque()])
async def test_run_input_must_be_a_mapping(value: Any) -> None:
    with pytest.raises(InvalidEventError, match="must be a mapping"):
        await WF.run(value)
    assert (await WF.run({})).data == "good"


# -- snapshots ------------------------------------------------------------------------------


async def good_snapshot() -> dict[str, Any]:
    wf = Workflow("snap-corpus")
    gate = asyncio.Event()

    async def wait(event: Any, ctx: Any) -> Any:
        await gate.wait()
        return {"type": STOP_EVENT, "result": "resumed"}

    wf.add_step("wait", [START_EVENT], wait)
    handler = await wf.run_with_handler({})
    await asyncio.sleep(0)
    snap = await handler.snapshot()
    handler.abort()
    return snap


def snap_workflow() -> Workflow:
    wf = Workflow("snap-corpus")
    wf.add_step("wait", [START_EVENT], lambda e, c: {"type": STOP_EVENT, "result": "resumed"})
    return wf


SNAPSHOTS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("empty text", lambda s: "", "not valid JSON"),
    ("truncated", lambda s: json.dumps(s)[: len(json.dumps(s)) // 2], "not valid JSON"),
    ("garbage", lambda s: "}{not json", "not valid JSON"),
    ("binary", lambda s: b"\x00\xff\xfe", "not valid JSON"),
    ("null", lambda s: "null", "a JSON object"),
    ("array", lambda s: "[]", "a JSON object"),
    ("number", lambda s: 12, "a JSON object"),
    ("newer version", lambda s: {**s, "version": SNAPSHOT_VERSION + 1}, "newer than this blazen_py reads"),
    ("far newer", lambda s: {**s, "version": 10**9}, "newer than this blazen_py reads"),
    ("version float", lambda s: {**s, "version": 1.0}, "must be an integer"),
    ("not ours", lambda s: {**s, "format": "other/snapshot"}, "not a blazen_py snapshot"),
    ("no format", lambda s: {k: v for k, v in s.items() if k != "format"}, "not a blazen_py snapshot"),
    ("no state", lambda s: {k: v for k, v in s.items() if k != "state"}, "missing 'state'"),
    ("no queue", lambda s: {k: v for k, v in s.items() if k != "queue"}, "missing 'queue'"),
    ("state list", lambda s: {**s, "state": [1]}, "must be a dict"),
    ("unknown tag", lambda s: {**s, "state": {"x": {"$eval": "1+1"}}}, "unknown tag"),
    ("bad base64", lambda s: {**s, "state": {"x": {"$bytes": "***"}}}, "invalid \\$bytes"),
    (
        "nan text",
        lambda s: json.dumps(s).replace('"queue": []', '"queue": [NaN]'),
        "not an event|invalid number",
    ),
    ("other workflow", lambda s: {**s, "workflow": "someone-else"}, "not 'snap-corpus'"),
    ("unknown step", lambda s: {**s, "step_inputs": [{"step": "ghost", "event": {"type": "X"}}]}, "'ghost'"),
    ("event without type", lambda s: {**s, "queue": [{"no": "type"}]}, "not an event"),
    ("unrouted queued", lambda s: {**s, "queue": [{"type": "Nobody"}]}, "no step of 'snap-corpus' accepts"),
    ("deeply nested", lambda s: '{"state": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than 256"),
]


@pytest.mark.parametrize("name, change, pattern", SNAPSHOTS)
async def test_bad_snapshots(name: str, change: Callable[[dict[str, Any]], Any], pattern: str) -> None:
    bad = change(await good_snapshot())
    wf = snap_workflow()
    with pytest.raises(SnapshotError, match=pattern):
        await wf.resume(bad)
    handler = await wf.resume(await good_snapshot())  # the same workflow resumes a good one
    assert (await handler.result()).data == "resumed"


async def test_huge_snapshot_state_round_trips() -> None:
    snap = await good_snapshot()
    snap["state"] = {f"k{i}": "x" * 1000 for i in range(2000)}  # ~2 MB of state
    handler = await snap_workflow().resume(json.dumps(snap))
    assert (await handler.result()).data == "resumed"
    assert len(handler._run.state) == 2000


# -- input requests and stores --------------------------------------------------------------


def answer(event: Any, ctx: Any) -> Any:
    return {"type": STOP_EVENT, "result": event["response"]}


@pytest.mark.parametrize("request_id", ["unknown", "", 42, None])
async def test_unknown_request_ids(request_id: Any) -> None:
    wf = Workflow("ask")
    wf.add_step("ask", [START_EVENT], lambda e, c: {"type": "blazen::InputRequestEvent", "prompt": "?"})
    wf.add_step("answer", ["blazen::InputResponseEvent"], answer)
    handler = await wf.run_with_handler()
    await asyncio.sleep(0)
    with pytest.raises(InputRequestError, match="is unknown"):
        handler.respond_to_input(request_id, "x")
    (request_id,) = handler._run.requests
    handler.respond_to_input(request_id, "ok")
    assert (await handler.result()).data == "ok"


async def test_durable_response_must_be_data() -> None:
    wf = Workflow("ask-data")
    wf.add_step("ask", [START_EVENT], lambda e, c: {"type": "blazen::InputRequestEvent", "prompt": "?"})
    wf.add_step("answer", ["blazen::InputResponseEvent"], answer)
    handler = await wf.run_with_handler()
    await asyncio.sleep(0)
    (request_id,) = handler._run.requests
    with pytest.raises(Exception, match="cannot be persisted"):
        handler.respond_to_input(request_id, Opaque())
    handler.respond_to_input(request_id, "fine")  # the request is still open
    assert (await handler.result()).data == "fine"


@pytest.mark.parametrize("key", ["", None, 3])
async def test_store_keys(key: Any) -> None:
    with pytest.raises(StoreError, match="non-empty string"):
        await MemoryStore().save(key, {})


# -- declarations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, pattern",
    [
        (("", [START_EVENT]), "non-empty string"),
        ((None, [START_EVENT]), "non-empty string"),
        (("s", START_EVENT), "not the string"),
        (("s", []), "non-empty list"),
        (("s", [3]), "non-empty list of event type strings"),
        (("s", [STOP_EVENT]), "handled by the engine"),
        (("s", ["blazen::InputRequestEvent"]), "handled by the engine"),
    ],
)
def test_bad_step_declarations(args: tuple[Any, ...], pattern: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=pattern):
        Workflow("decl").add_step(*args, lambda e, c: None)


async def test_stall_names_the_lost_event() -> None:
    await fails_then_recovers(lambda ctx: {"type": "Lost"}, WorkflowStallError, "'Lost' \\(from 'start'\\)")


def test_the_corpus_has_at_least_50_cases() -> None:
    assert len(RETURNED) + len(SENT) + len(STATE) + len(SNAPSHOTS) + 4 + 4 + 3 + 7 + 5 >= 50
