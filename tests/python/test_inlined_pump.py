"""The pump's fast path (``runtime._INLINED``) against the general code it shortcuts.

Each workflow below runs twice, with the fast path on and off, and everything visible
must be the same: the stream in order, the result or the error and its message, what a
step sees of the run's bookkeeping (``step_inputs``, ``active_steps``) mid-run, the
checkpoints a durable run saves, and how a long run yields. Portable: the pump is the
same code on CPython and in Pyodide.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import pytest

from blazen_py import (
    INPUT_REQUEST_EVENT,
    INPUT_RESPONSE_EVENT,
    START_EVENT,
    STOP_EVENT,
    MemoryStore,
    Workflow,
    WorkflowError,
    runtime,
)
from blazen_py.events import CheckedEvent

PORTABLE = True


@contextmanager
def inlined(on: bool):
    previous, runtime._INLINED = runtime._INLINED, on
    try:
        yield
    finally:
        runtime._INLINED = previous


async def observe(make: Callable[[list[Any]], Workflow], **run: Any) -> tuple[list[Any], Any, list[Any]]:
    """Stream items (in order), the result data or the error's type and message, and what
    the workflow's steps noted (``make`` gets the list they note into)."""
    notes: list[Any] = []
    handler = await make(notes).run_with_handler({}, **run)
    items = []
    async for item in handler.events():
        items.append({k: v for k, v in item.items() if k != "request_id"})
        if item.event_type == "InputRequested":
            handler.respond_to_input(item["request_id"], "yes")
    try:
        outcome: Any = (await handler.result()).data
    except WorkflowError as exc:
        outcome = (type(exc).__name__, str(exc))
    return items, outcome, notes


async def both(make: Callable[[list[Any]], Workflow], **run: Any) -> tuple[list[Any], Any, list[Any]]:
    """:func:`observe` with the fast path on and off: they must agree; returns one."""
    with inlined(True):
        fast = await observe(make, **run)
    with inlined(False):
        general = await observe(make, **run)
    assert fast == general
    return fast


def ping_pong(
    n: int, out: Callable[[int], Any], notes: list[Any], *, sync: bool = False, suspend_every: int = 0
) -> Workflow:
    """Ping-pong of ``n`` steps; step ``i`` returns ``out(i)`` when that is not None, and
    notes the run's step inputs and active steps as it sees them; every
    ``suspend_every``-th step first awaits a timer."""
    wf = Workflow("pump-pingpong")

    def body(event: dict[str, Any], ctx: Any) -> Any:
        i = event.get("i", 0)
        run = ctx.run
        notes.append((i, run.step_inputs(), [(a.step, a.event_type) for a in run.active_steps()]))
        special = out(i)
        if special is not None:
            return special
        i += 1
        return {"type": STOP_EVENT, "result": i} if i >= n else {"type": "Ping" if i % 2 else "Pong", "i": i}

    if sync:
        handler: Any = body
    else:

        async def handler(event: dict[str, Any], ctx: Any) -> Any:
            if suspend_every and event.get("i", 0) % suspend_every == suspend_every - 1:
                await asyncio.sleep(0.001)
            return body(event, ctx)

    wf.add_step("ping", [START_EVENT, "Pong"], handler)
    wf.add_step("pong", ["Ping"], handler)
    # START_EVENT goes to two steps (the general path), the events after it to one.
    wf.add_step("watch", [START_EVENT], lambda event, ctx: notes.append(ctx.run.step_inputs()))
    return wf


@pytest.mark.parametrize("sync", [False, True])
async def test_the_same_stream_and_bookkeeping_mid_run(sync: bool) -> None:
    items, outcome, notes = await both(lambda notes: ping_pong(20, lambda i: None, notes, sync=sync))
    assert outcome == 20
    assert [item["event_type"] for item in items][:3] == [START_EVENT, "Ping", "Pong"]
    assert notes[4] == (3, [("pong", {"type": "Ping", "i": 3})], [("pong", "Ping")])


class Checked(CheckedEvent):
    """A checked event as a bridge makes one: its type in the slot, its fields elsewhere.
    Counts how often anything reads its ``"type"`` key (the dispatcher need not)."""

    __slots__ = ("_fields",)
    type_reads = 0

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields
        self.etype = fields["type"]

    def __getitem__(self, key: str) -> Any:
        if key == "type":
            Checked.type_reads += 1
        return self._fields[key]

    def __iter__(self) -> Any:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


def checked_next(i: int) -> Checked:
    i += 1
    return Checked({"type": "Ping" if i % 2 else "Pong", "i": i})


OUTPUTS: dict[str, Callable[[int], Any]] = {
    "nested fields": lambda i: {"type": "Ping" if i % 2 == 0 else "Pong", "i": i + 1, "at": {"i": [i]}}
    if i < 5
    else None,
    "a list of events": lambda i: [{"type": "Side", "i": i}, {"type": "Ping", "i": 3}] if i == 2 else None,
    "an unrouted event": lambda i: {"type": "Nowhere"} if i == 3 else None,
    "a NaN": lambda i: {"type": "Ping", "x": float("nan")} if i == 4 else None,
    "a huge integer": lambda i: {"type": "Ping", "x": 10**5000} if i == 4 else None,
    "no type": lambda i: {"kind": "Ping"} if i == 4 else None,
    "an empty type": lambda i: {"type": ""} if i == 4 else None,
    "a number": lambda i: 5 if i == 4 else None,
    "a stop event": lambda i: {"type": STOP_EVENT, "result": "early"} if i == 4 else None,
    "a stream-only event": lambda i: {"type": "Side"} if i == 4 else None,
    "checked events": lambda i: checked_next(i) if 2 <= i < 7 else None,
    "a checked stop event": lambda i: Checked({"type": STOP_EVENT, "result": "early"}) if i == 4 else None,
    "a checked unrouted event": lambda i: Checked({"type": "Nowhere"}) if i == 3 else None,
    "a checked stream-only event": lambda i: Checked({"type": "Side"}) if i == 4 else None,
}


@pytest.mark.parametrize("case", sorted(OUTPUTS))
async def test_the_same_outcome_for_every_kind_of_output(case: str) -> None:
    await both(lambda notes: ping_pong(10, OUTPUTS[case], notes))


async def test_checked_events_are_routed_by_their_slot_not_their_type_key() -> None:
    # The fast path routes and produces a checked event by `etype`: its fields (a JsProxy
    # read, for the bridge's lazy events) are never asked for its type.
    def step(event: Any, ctx: Any) -> Any:
        i = event.get("i", 0) + 1
        return {"type": STOP_EVENT, "result": i} if i >= 10 else checked_next(i - 1)

    wf = Workflow("pump-checked")
    wf.add_step("ping", [START_EVENT, "Pong"], step)
    wf.add_step("pong", ["Ping"], step)
    for on in (True, False):
        Checked.type_reads = 0
        with inlined(on):
            assert (await wf.run({})).data == 10
        if on:
            assert Checked.type_reads == 0
        else:
            assert Checked.type_reads > 0  # the general code reads event["type"]


async def test_the_same_outcome_when_a_step_raises() -> None:
    def boom(i: int) -> Any:
        if i == 4:
            raise ValueError("boom at 4")
        return None

    _, outcome, _ = await both(lambda notes: ping_pong(10, boom, notes))
    assert "boom at 4" in outcome[1]


@pytest.mark.parametrize("kind", [dict, Checked])
async def test_an_input_request_and_a_waiter_alike(kind: Callable[[dict[str, Any]], Any]) -> None:
    def make(notes: list[Any]) -> Workflow:
        wf = Workflow("pump-input")

        async def ask(event: dict[str, Any], ctx: Any) -> Any:
            return {"type": INPUT_REQUEST_EVENT, "prompt": "go?"}

        async def answered(event: dict[str, Any], ctx: Any) -> Any:
            notes.append(event["response"])
            return {"type": "Next", "i": 0}

        async def waiting(event: dict[str, Any], ctx: Any) -> Any:
            got = await ctx.wait_for_event("Seen")
            return {"type": STOP_EVENT, "result": got["i"]}

        async def emit(event: dict[str, Any], ctx: Any) -> Any:
            return kind({"type": "Seen", "i": event["i"] + 1})

        wf.add_step("ask", [START_EVENT], ask)
        wf.add_step("answered", [INPUT_RESPONSE_EVENT], answered)
        wf.add_step("waiting", [START_EVENT], waiting)
        wf.add_step("emit", ["Next"], emit)
        return wf

    _, outcome, notes = await both(make)
    assert outcome == 1
    assert notes == ["yes"]


class RecordingStore(MemoryStore):
    """A MemoryStore that notes the queue of every checkpoint saved."""

    def __init__(self) -> None:
        super().__init__()
        self.queues: list[list[str]] = []

    async def save(self, key: Any, snapshot: Any, *, owner: Any = None) -> None:
        self.queues.append([e["type"] for e in snapshot["queue"]])
        await super().save(key, snapshot, owner=owner)


async def test_the_same_checkpoints_of_a_durable_run() -> None:
    saved: dict[bool, list[Any]] = {}
    for on in (True, False):
        store = RecordingStore()
        with inlined(on):
            _, outcome, _ = await observe(
                lambda notes: ping_pong(12, lambda i: None, notes, suspend_every=4), checkpoint=store
            )
        assert outcome == 12
        saved[on] = store.queues
    assert saved[True] == saved[False]
    assert len(saved[True]) > 1


@pytest.mark.parametrize("on", [True, False])
async def test_pause_inside_a_step_resumes_to_the_same_result(on: bool) -> None:
    holder: dict[str, Any] = {}

    paused = asyncio.get_running_loop().create_future()

    def pause_at(i: int) -> Any:
        if i == 6:
            paused.set_result(holder["handler"].pause())
        return None

    with inlined(on):
        wf = ping_pong(12, pause_at, [])
        holder["handler"] = handler = await wf.run_with_handler({})
        snap = await (await paused)
        # the paused step finished: what is left is its output, handed out on resume
        assert [e["type"] for e in snap["queue"]] == ["Ping"]
        handler.abort()
        resumed = await ping_pong(12, lambda i: None, []).resume(snap)
        assert (await resumed.result()).data == 12


@pytest.mark.parametrize("on", [True, False])
async def test_abort_inside_a_step_stops_the_run(on: bool) -> None:
    holder: dict[str, Any] = {}
    ran: list[int] = []

    def abort_at(i: int) -> Any:
        ran.append(i)
        if i == 6:
            holder["handler"].abort()
        return None

    with inlined(on):
        holder["handler"] = handler = await ping_pong(12, abort_at, []).run_with_handler({})
        with pytest.raises(WorkflowError):
            await handler.result()
    assert ran == list(range(7))


@pytest.mark.parametrize("on", [True, False])
async def test_a_long_run_yields_every_budget(on: bool) -> None:
    loop = asyncio.get_running_loop()
    seen: list[int] = []
    ticks = {"i": 0}

    def note(i: int) -> Any:
        ticks["i"] = i
        return None

    def tick() -> None:
        seen.append(ticks["i"])
        if len(seen) < 3:
            loop.call_soon(tick)

    with inlined(on):
        handler = await ping_pong(4 * runtime.YIELD_EVERY, note, []).run_with_handler({})
        loop.call_soon(tick)
        assert (await handler.result()).data == 4 * runtime.YIELD_EVERY
    # The run yielded after its first budget and the callbacks got in before it ended
    # (in a page the yield may be a timer, which lets them all in at once).
    assert len(seen) == 3
    assert 0 < seen[0] <= runtime.YIELD_EVERY
    assert seen[-1] < 4 * runtime.YIELD_EVERY
