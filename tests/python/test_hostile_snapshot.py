"""Hostile data, part 2: snapshot content and the definition fingerprint.

A snapshot comes from storage or another page: every case here is one that an attacker or
a bad store could hand to ``resume``, and each asserts a ``SnapshotError`` with its reason
(or, for data that is fine, the exact round-trip). Runs are bounded in time.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from typing import Any

import pytest

from blazen_py import (
    INPUT_REQUEST_EVENT,
    INPUT_RESPONSE_EVENT,
    START_EVENT,
    STOP_EVENT,
    SnapshotError,
    Workflow,
)

PORTABLE = True  # also run in Pyodide, in Node and in Chromium (tests/pyodide)

BOUND = 20.0


def workflow(extra_step: bool = False, join_accepts: tuple[str, ...] = ("Done",)) -> Workflow:
    wf = Workflow("hostile-snap")

    def start(event: Any, ctx: Any) -> Any:
        ctx.set("seen", event.get("tag", "none"))
        return {"type": "Work", "n": 1}

    def work(event: Any, ctx: Any) -> Any:
        return {"type": "Done", "n": event["n"] + 1}

    def join(event: Any, ctx: Any) -> Any:
        return {"type": INPUT_REQUEST_EVENT, "prompt": "ok?", "metadata": {"n": event.get("n")}}

    def finish(event: Any, ctx: Any) -> Any:
        return {"type": STOP_EVENT, "result": {"seen": ctx.get("seen"), "answer": event["response"]}}

    wf.add_step("start", [START_EVENT], start)
    wf.add_step("work", ["Work"], work)
    wf.add_step("join", list(join_accepts), join)
    wf.add_step("finish", [INPUT_RESPONSE_EVENT], finish)
    if extra_step:
        wf.add_step("audit", ["Audit"], lambda e, ctx: None)
    return wf


def base() -> dict[str, Any]:
    steps = [
        {"name": "start", "accepts": [START_EVENT]},
        {"name": "work", "accepts": ["Work"]},
        {"name": "join", "accepts": ["Done"]},
        {"name": "finish", "accepts": [INPUT_RESPONSE_EVENT]},
    ]
    return {
        "format": "blazen_py/snapshot",
        "version": 2,
        "workflow": "hostile-snap",
        "definition": {"steps": steps},
        "run_id": "r1",
        "status": "running",
        "created_at": 1.0,
        "state": {"seen": "base"},
        "queue": [{"type": "Work", "n": 1}],
        "step_inputs": [],
        "input_requests": [],
        "session_refs": [],
        "unrouted": {},
        "metadata": {},
    }


async def finish(handler: Any) -> Any:
    async def answer() -> Any:
        async for item in handler.events():
            if item.event_type == "InputRequested":
                handler.respond_to_input(item["request_id"], "yes")
        return (await handler.result()).data

    return await asyncio.wait_for(answer(), BOUND)


async def test_the_base_snapshot_resumes() -> None:
    assert await finish(await workflow().resume(base())) == {"seen": "base", "answer": "yes"}


def with_(path: list[Any], value: Any) -> Any:
    def change(snap: dict[str, Any]) -> dict[str, Any]:
        target: Any = snap
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        return snap

    return change


def request(request_id: str, step: Any = "join") -> dict[str, Any]:
    return {"request_id": request_id, "prompt": "p", "metadata": None, "step": step}


def cyclic_event() -> dict[str, Any]:
    event: dict[str, Any] = {"type": "Work"}
    event["self"] = event
    return event


CONTENT = [
    (
        "duplicate request ids",
        with_(["input_requests"], [request("a"), request("a")]),
        "appears more than once",
    ),
    ("request of an unknown step", with_(["input_requests"], [request("a", "ghost")]), "step 'ghost'"),
    (
        "step input the step does not accept",
        with_(["step_inputs"], [{"step": "work", "event": {"type": "Done"}}]),
        "does not accept",
    ),
    (
        "step input of an unknown step",
        with_(["step_inputs"], [{"step": "ghost", "event": {"type": "Work"}}]),
        "ghost",
    ),
    ("step input not an object", with_(["step_inputs"], ["work"]), "must be an object"),
    (
        "step input event without type",
        with_(["step_inputs"], [{"step": "work", "event": {}}]),
        "not an event",
    ),
    ("non-string state key", with_(["state"], {1: "x"}), "state key 1 is not a string"),
    ("cyclic queued event", with_(["queue"], [cyclic_event()]), "nested more than"),
    ("queued non-event", with_(["queue"], [5]), "not an event"),
    ("queued type nobody accepts", with_(["queue"], [{"type": "Nobody"}]), "no step"),
    ("nan in state", with_(["state", "x"], float("nan")), "invalid number"),
    ("inf in metadata", with_(["metadata"], {"x": float("inf")}), "invalid number"),
    ("-inf in queue", with_(["queue"], [{"type": "Work", "n": float("-inf")}]), "invalid number"),
    ("huge int", with_(["state", "x"], 10**4400), "4300 digits"),
    ("bad int tag", with_(["state", "x"], {"$int": "1e9"}), r"invalid \$int"),
    ("int tag with a second key", with_(["state", "x"], {"$int": "1", "y": 2}), "invalid tagged value"),
    ("unknown tag", with_(["state", "x"], {"$code": "print(1)"}), "unknown tag"),
    ("state not an object", with_(["state"], ["a"]), "'state' must be a dict"),
    ("request id empty", with_(["input_requests"], [request("")]), "request_id"),
    ("definition not an object", with_(["definition"], "steps"), "'definition' must be an object"),
    ("definition steps not a list", with_(["definition"], {"steps": {}}), "'steps' list"),
    ("definition step not an object", with_(["definition", "steps"], ["start"]), "must be an object"),
    ("definition step without name", with_(["definition", "steps"], [{"accepts": ["A"]}]), "'name'"),
    (
        "definition step with no accepts",
        with_(["definition", "steps"], [{"name": "s", "accepts": []}]),
        "accepts",
    ),
    (
        "definition step accepts a number",
        with_(["definition", "steps"], [{"name": "s", "accepts": [1]}]),
        "accepts",
    ),
    (
        "definition step twice",
        with_(["definition", "steps"], [{"name": "s", "accepts": ["A"]}, {"name": "s", "accepts": ["A"]}]),
        "more than once",
    ),
    ("version 2 without definition", with_(["definition"], None), "missing 'definition'"),
    ("meta of a BlazenState not an object", with_(["state", "o.__blazen_meta__"], "x"), "must be an object"),
    (
        "meta listing a field twice",
        with_(["state", "o.__blazen_meta__"], {"class": "c", "fields": ["a", "a"]}),
        "more than once",
    ),
]


# Cases JSON text cannot express (its keys are strings, it has no cycles): dicts only.
DICT_ONLY = {"non-string state key", "cyclic queued event", "huge int"}
CASES = [(n, c, f, text) for n, c, f in CONTENT for text in (False, True) if not (text and n in DICT_ONLY)]


@pytest.mark.parametrize(
    "change, fragment, as_text",
    [c[1:] for c in CASES],
    ids=[f"{c[0]}-{'json' if c[3] else 'dict'}" for c in CASES],
)
async def test_hostile_snapshot_content(change: Any, fragment: str, as_text: bool) -> None:
    snap = change(base())
    given: Any = json.dumps(snap) if as_text else snap
    with pytest.raises(SnapshotError, match=fragment):
        await asyncio.wait_for(workflow().resume(given), BOUND)


@pytest.mark.parametrize("text", ['{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', '{"x": 1e400}'])
async def test_non_finite_numbers_in_snapshot_text(text: str) -> None:
    snapshot = json.dumps(base()).replace('"seen": "base"', '"seen": "base", "bad": ' + text)
    with pytest.raises(SnapshotError, match="invalid number"):
        await workflow().resume(snapshot)


# -- the definition fingerprint --------------------------------------------------------------

CHANGED = [
    ("a step was added", {"extra_step": True}, "step 'audit' is in this workflow but not in the snapshot"),
    (
        "accepted types changed",
        {"join_accepts": ("Done", "Late")},
        "step 'join' accepts ['Done', 'Late'] here",
    ),
]


@pytest.mark.parametrize("kwargs, fragment", [c[1:] for c in CHANGED], ids=[c[0] for c in CHANGED])
async def test_resuming_into_other_steps_is_refused_naming_the_difference(kwargs: Any, fragment: str) -> None:
    handler = await workflow().run_with_handler({"tag": "orig"})
    snap = await handler.pause()
    handler.abort()
    with pytest.raises(SnapshotError, match=fragment.replace("[", r"\[").replace("]", r"\]")) as caught:
        await workflow(**kwargs).resume(snap)
    assert "allow_definition_change=True" in str(caught.value)
    # Deliberately allowed, it resumes (what the snapshot holds still fits these steps).
    resumed = await workflow(**kwargs).resume(snap, allow_definition_change=True)
    assert await finish(resumed) == {"seen": "orig", "answer": "yes"}


async def test_a_removed_step_is_named() -> None:
    snap = base()
    snap["definition"]["steps"].append({"name": "gone", "accepts": ["Gone"]})
    with pytest.raises(SnapshotError, match="step 'gone' is in the snapshot but not in this workflow"):
        await workflow().resume(snap)
    assert await finish(await workflow().resume(snap, allow_definition_change=True)) == {
        "seen": "base",
        "answer": "yes",
    }


async def test_allowing_a_change_still_refuses_what_does_not_fit() -> None:
    snap = base()
    snap["step_inputs"] = [{"step": "audit", "event": {"type": "Audit"}}]
    with pytest.raises(SnapshotError, match="step 'audit'"):
        await workflow().resume(snap, allow_definition_change=True)


async def test_a_version_1_snapshot_without_fingerprint_still_resumes() -> None:
    snap = base()
    snap["version"] = 1
    del snap["definition"]
    assert await finish(await workflow().resume(snap)) == {"seen": "base", "answer": "yes"}


async def test_every_snapshot_records_the_fingerprint() -> None:
    handler = await workflow(extra_step=True).run_with_handler()
    snap = await handler.pause()
    handler.abort()
    assert snap["version"] == 2
    assert snap["definition"]["steps"][-1] == {"name": "audit", "accepts": ["Audit"]}
    snap["definition"]["steps"].clear()  # the snapshot's copy: the workflow is unaffected
    again = await workflow(extra_step=True).run_with_handler()
    assert len((await again.pause())["definition"]["steps"]) == 5
    again.abort()


# -- keys JS treats specially are plain data -------------------------------------------------

SPECIAL = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "$map", "$bytes", "$int"]


@pytest.mark.parametrize("key", SPECIAL)
async def test_special_keys_round_trip_in_state_and_events(key: str) -> None:
    value = {key: {"isAdmin": True}, "plain": 1}

    def build() -> Workflow:
        wf = Workflow("special")

        def put(event: Any, ctx: Any) -> Any:
            ctx.set("v", value)
            return {"type": "Read", key: value[key]}

        def read(event: Any, ctx: Any) -> Any:
            return {"type": STOP_EVENT, "result": [ctx.get("v"), event[key]]}

        wf.add_step("put", [START_EVENT], put)
        wf.add_step("read", ["Read"], read)
        return wf

    handler = await build().run_with_handler()
    snap = await handler.pause()
    handler.abort()
    resumed = await build().resume(json.dumps(copy.deepcopy(snap)))
    got = (await asyncio.wait_for(resumed.result(), BOUND)).data
    assert got == [value, value[key]]


async def test_a_huge_int_in_snapshot_text_is_refused() -> None:
    text = json.dumps(base()).replace('"seen": "base"', '"seen": ' + "9" * 4400)
    with pytest.raises(SnapshotError, match="not valid JSON"):
        await workflow().resume(text)


# -- keys stay home ---------------------------------------------------------------------------

SECRET = "sk-hostile-0123456789abcdef"


@pytest.mark.parametrize("where", ["session", "state"])
async def test_an_api_key_never_reaches_a_snapshot_or_a_state_error(where: str) -> None:
    old = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = SECRET
    try:
        await key_stays_home(where)
    finally:
        if old is None:
            del os.environ["OPENAI_API_KEY"]
        else:
            os.environ["OPENAI_API_KEY"] = old


async def key_stays_home(where: str) -> None:
    from blazen_py import CompletionModel

    wf = Workflow("keys-home")
    seen: dict[str, str] = {}

    async def start(event: Any, ctx: Any) -> Any:
        model = CompletionModel.openai()
        if where == "session":
            ctx.session.set("model", model)
        else:
            try:
                ctx.set("model", model)
            except Exception as exc:
                seen["error"] = f"{type(exc).__name__}: {exc!r} {exc}"
        ctx.set("note", "kept")
        await asyncio.sleep(30)

    wf.add_step("start", [START_EVENT], start)
    handler = await wf.run_with_handler()
    await asyncio.sleep(0.05)
    snap = await handler.snapshot()
    handler.abort()
    text = json.dumps(snap)
    assert SECRET not in text
    assert SECRET[3:12] not in text
    if where == "state":
        assert seen["error"].startswith("StateError")
        assert SECRET not in seen["error"]


@pytest.mark.parametrize(
    "response", [float("nan"), {"x": [float("inf")]}, 10**4400], ids=["nan", "nested inf", "huge int"]
)
async def test_an_answer_breaking_the_number_rule_is_refused_and_the_request_stays_open(
    response: Any,
) -> None:
    from blazen_py import InvalidEventError

    handler = await workflow().resume(base())
    async for item in handler.events():
        if item.event_type == "InputRequested":
            with pytest.raises(InvalidEventError, match="is refused"):
                handler.respond_to_input(item["request_id"], response)
            handler.respond_to_input(item["request_id"], "yes")  # still open: a good answer ends it
    assert (await asyncio.wait_for(handler.result(), BOUND)).data == {"seen": "base", "answer": "yes"}
