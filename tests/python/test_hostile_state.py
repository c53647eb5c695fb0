"""Hostile data, part 1: BlazenState metadata, the number rule, values state refuses.

Each case is an attacker's (or an unlucky user's) input, asserting the typed error or the
exact round-trip; every run is bounded in time (``asyncio.wait_for``), so none can hang.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import pytest

from blazen_py import (
    START_EVENT,
    STOP_EVENT,
    InvalidEventError,
    SnapshotError,
    StateError,
    StepError,
    Workflow,
    WorkflowDefinitionError,
    register_state_class,
)
from blazen_py.snapshot import SNAPSHOT_FORMAT

PORTABLE = True  # also run in Pyodide, in Node and in Chromium (tests/pyodide)

BOUND = 20.0  # seconds: no case may take longer (the machine is shared and slow)


def bounded(coro: Any) -> Any:
    return asyncio.wait_for(coro, BOUND)


# -- BlazenState: what runs on rebuild comes from the registered class alone ---------------

CALLS: list[str] = []


@register_state_class(key="hostile.Account")
class Account:
    meta = {"transient": ["conn"], "restore": "reconnect"}  # noqa: RUF012 - the protocol's form

    def __init__(self) -> None:
        CALLS.append("__init__")
        self.owner = "nobody"
        self.balance = 0
        self.conn: object = None

    def reconnect(self) -> None:
        CALLS.append("reconnect")

    def close_account(self) -> None:
        CALLS.append("close_account")

    @property
    def locked(self) -> bool:
        return False

    @locked.setter
    def locked(self, value: bool) -> None:
        CALLS.append("locked setter")


@register_state_class(key="hostile.Node")
class Node:
    pass


def reader() -> Workflow:
    """A workflow whose step 'read' reads ctx.get('obj') and reports what it got."""
    wf = Workflow("hostile-reader")

    def read(event: Any, ctx: Any) -> Any:
        try:
            obj = ctx.get("obj")
        except StateError as exc:
            return {"type": STOP_EVENT, "result": {"error": "StateError", "message": str(exc)}}
        fields = {k: v for k, v in vars(obj).items() if k != "__blazen_state__"}
        return {"type": STOP_EVENT, "result": {"class": type(obj).__name__, "fields": fields}}

    wf.add_step("read", ["Go"], read)
    return wf


def crafted(state: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A snapshot of the reader workflow, as an attacker writes it."""
    snap = {
        "format": SNAPSHOT_FORMAT,
        "version": 2,
        "workflow": "hostile-reader",
        "definition": {"steps": [{"name": "read", "accepts": ["Go"]}]},
        "run_id": "r-hostile",
        "status": "running",
        "created_at": 0,
        "state": state,
        "queue": [{"type": "Go"}],
        "step_inputs": [],
        "input_requests": [],
        "session_refs": [],
        "unrouted": {},
        "metadata": {},
    }
    snap.update(extra)
    return snap


async def read_back(state: dict[str, Any]) -> Any:
    handler = await reader().resume(json.dumps(crafted(state)))
    return (await bounded(handler.result())).data


M = ".__blazen_meta__"
MALFORMED_META = [
    ("a string", "class hostile.Account"),
    ("a number", 7),
    ("a list", ["class", "fields"]),
    ("null", None),
    ("no class", {"fields": []}),
    ("class not a string", {"class": 1, "fields": []}),
    ("empty class", {"class": "", "fields": []}),
    ("fields a string", {"class": "hostile.Account", "fields": "owner"}),
    ("fields an object", {"class": "hostile.Account", "fields": {"owner": 1}}),
    ("fields missing", {"class": "hostile.Account"}),
    ("a field not a string", {"class": "hostile.Account", "fields": [1]}),
    ("an empty field", {"class": "hostile.Account", "fields": [""]}),
    ("a repeated field", {"class": "hostile.Account", "fields": ["owner", "owner"]}),
    ("a dunder field", {"class": "hostile.Account", "fields": ["__class__"]}),
    ("an __init__ field", {"class": "hostile.Account", "fields": ["__init__"]}),
    ("a __dict__ field", {"class": "hostile.Account", "fields": ["__dict__"]}),
    ("a __proto__ field", {"class": "hostile.Account", "fields": ["__proto__"]}),
    ("a constructor field", {"class": "hostile.Account", "fields": ["constructor"]}),
    ("a prototype field", {"class": "hostile.Account", "fields": ["prototype"]}),
    ("a dotted field", {"class": "hostile.Account", "fields": ["a.b"]}),
    ("an unknown entry", {"class": "hostile.Account", "fields": [], "evil": "x"}),
    ("too many fields", {"class": "hostile.Account", "fields": [f"f{i}" for i in range(10_001)]}),
]


@pytest.mark.parametrize("meta", [m for _, m in MALFORMED_META], ids=[n for n, _ in MALFORMED_META])
async def test_malformed_metadata_is_refused_when_resuming(meta: Any) -> None:
    with pytest.raises(SnapshotError, match=r"state\.obj\.__blazen_meta__"):
        await reader().resume(crafted({"obj" + M: meta}))


PLANTED = [(n, m) for n, m in MALFORMED_META if m is not None]  # a null entry reads as no entry


@pytest.mark.parametrize("meta", [m for _, m in PLANTED], ids=[n for n, _ in PLANTED])
async def test_malformed_metadata_is_a_state_error_on_get(meta: Any) -> None:
    # Metadata that reaches a running run's state (not through a snapshot): ctx.get refuses.
    wf = Workflow("planted")
    seen: dict[str, Any] = {}

    def plant(event: Any, ctx: Any) -> Any:
        ctx._run.state["obj" + M] = meta  # as a store bypassing the checks would
        ctx._run.has_meta = True
        try:
            ctx.get("obj")
        except StateError as exc:
            seen["error"] = str(exc)
        return {"type": STOP_EVENT}

    wf.add_step("plant", [START_EVENT], plant)
    await bounded(wf.run())
    assert "BlazenState metadata of 'obj'" in seen["error"]


async def test_stored_restore_name_is_never_called() -> None:
    CALLS.clear()
    meta = {"class": "hostile.Account", "fields": ["owner"], "restore": "close_account"}
    out = await read_back({"obj" + M: meta, "obj.owner": "mallory"})
    assert out == {"class": "Account", "fields": {"owner": "mallory", "conn": None}}
    assert CALLS == ["reconnect"]  # the class's own restore; never __init__, never close_account


@pytest.mark.parametrize("restore", ["__init__", "close_account", "__del__", "reconnect"])
async def test_stored_restore_is_ignored_whatever_it_names(restore: str) -> None:
    CALLS.clear()
    meta = {"class": "hostile.Account", "fields": ["owner", "balance"], "restore": restore}
    out = await read_back({"obj" + M: meta, "obj.owner": "eve", "obj.balance": 10})
    assert out["fields"]["balance"] == 10
    assert CALLS == ["reconnect"]


async def test_a_field_named_like_a_property_never_runs_its_setter() -> None:
    CALLS.clear()
    out = await read_back({"obj" + M: {"class": "hostile.Account", "fields": ["locked"]}, "obj.locked": True})
    assert "locked setter" not in CALLS
    assert out["fields"]["locked"] is True


async def test_a_stored_transient_field_is_refused() -> None:
    out = await read_back({"obj" + M: {"class": "hostile.Account", "fields": ["conn"]}, "obj.conn": "x"})
    assert out["error"] == "StateError"
    assert "transient field 'conn'" in out["message"]


@pytest.mark.parametrize(
    "class_key", ["builtins.dict", "os.system", "blazen_py.Workflow", "js:State", "__main__.Unknown"]
)
async def test_an_unregistered_class_is_a_state_error(class_key: str) -> None:
    out = await read_back({"obj" + M: {"class": class_key, "fields": []}})
    assert out["error"] == "StateError"
    assert "not registered" in out["message"]


def nested_state(depth: int, fanout: int = 1) -> dict[str, Any]:
    state: dict[str, Any] = {}
    key = "obj"
    for _ in range(depth):
        state[key + M] = {"class": "hostile.Node", "fields": ["n"] * fanout}
        key += ".n"
    state[key] = 1
    return state


async def test_the_exponential_blow_up_case_is_refused_fast() -> None:
    # 30 levels each listing the one field 30 times: 30**30 reads if repeats were followed.
    state = nested_state(30, fanout=30)
    started = time.perf_counter()
    with pytest.raises(SnapshotError, match="more than once"):
        await reader().resume(crafted(state))
    assert time.perf_counter() - started < 5


async def test_deep_nesting_is_linear_then_bounded() -> None:
    started = time.perf_counter()
    out = await read_back(nested_state(60))
    assert out["class"] == "Node"
    out = await read_back(nested_state(200))
    assert out["error"] == "StateError"
    assert "nested more than 64" in out["message"]
    assert time.perf_counter() - started < 10


async def test_reserved_suffix_is_refused_as_a_user_key() -> None:
    wf = Workflow("suffix")

    def put(event: Any, ctx: Any) -> Any:
        ctx.set("report.__blazen_meta__", {"class": "x", "fields": []})

    wf.add_step("put", [START_EVENT], put)
    with pytest.raises(StepError, match="reserves"):
        await bounded(wf.run())


async def test_two_classes_with_one_name_are_never_confused() -> None:
    def make() -> type:
        class State:
            pass

        return State

    first, second = make(), make()
    register_state_class(first, key="orders.State")
    register_state_class(second, key="users.State")
    wf = Workflow("two-states")

    def put(event: Any, ctx: Any) -> Any:
        a, b = first(), second()
        a.__blazen_state__ = b.__blazen_state__ = True
        a.n, b.n = 1, 2
        ctx.set("a", a)
        ctx.set("b", b)
        return {"type": "Read"}

    def read(event: Any, ctx: Any) -> Any:
        return {"type": STOP_EVENT, "result": [type(ctx.get("a")) is first, type(ctx.get("b")) is second]}

    wf.add_step("put", [START_EVENT], put)
    wf.add_step("read", ["Read"], read)
    assert (await bounded(wf.run())).data == [True, True]


async def test_an_implicit_registration_never_takes_another_class_s_key() -> None:
    def make() -> type:
        class Twin:
            pass

        return Twin

    first, second = make(), make()
    wf = Workflow("twins")

    def put(event: Any, ctx: Any) -> Any:
        for cls in (first, second):
            obj = cls()
            obj.__blazen_state__ = True
            ctx.set(cls.__name__, obj)

    wf.add_step("put", [START_EVENT], put)
    with pytest.raises(StepError, match="another class is registered as"):
        await bounded(wf.run())


@pytest.mark.parametrize("field", ["__class__", "a.b", "__proto__", "constructor"])
async def test_decompose_refuses_field_names_the_protocol_cannot_store(field: str) -> None:
    wf = Workflow("bad-field")

    def put(event: Any, ctx: Any) -> Any:
        obj = Node()
        obj.__blazen_state__ = True
        obj.__dict__[field] = 1
        ctx.set("obj", obj)

    wf.add_step("put", [START_EVENT], put)
    with pytest.raises(StepError, match="field name"):
        await bounded(wf.run())


async def test_delete_of_malformed_metadata_touches_no_other_key() -> None:
    wf = Workflow("delete")

    def run(event: Any, ctx: Any) -> Any:
        ctx.set("o", 1)
        ctx._run.state["obj" + M] = {"class": "hostile.Node", "fields": "o"}  # a string: 'o'
        ctx._run.has_meta = True
        ctx.state.delete("obj")
        return {"type": STOP_EVENT, "result": sorted(ctx.state.keys())}

    wf.add_step("run", [START_EVENT], run)
    assert (await bounded(wf.run())).data == ["o"]


# -- the number rule ----------------------------------------------------------------------

EXACT = [
    0,
    -1,
    2**53 - 1,
    2**53,
    2**53 + 1,
    -(2**53) - 1,
    2**64,
    -(2**100),
    10**4299,
    1.5,
    -0.0,
    1e308,
    5e-324,
]


async def roundtrip_through_snapshot(value: Any) -> Any:
    """Set, pause, resume from JSON text in a fresh workflow, read back (state and event)."""

    def build() -> Workflow:
        wf = Workflow("numbers")

        def put(event: Any, ctx: Any) -> Any:
            ctx.set("v", value)
            return {"type": "Read", "v": value}

        def read(event: Any, ctx: Any) -> Any:
            return {"type": STOP_EVENT, "result": [ctx.get("v"), event["v"]]}

        wf.add_step("put", [START_EVENT], put)
        wf.add_step("read", ["Read"], read)
        return wf

    handler = await build().run_with_handler()
    snap = await handler.pause()
    handler.abort()
    text = json.dumps(snap, allow_nan=False)
    resumed = await build().resume(text)
    return (await bounded(resumed.result())).data


@pytest.mark.parametrize("value", EXACT, ids=[f"n{i}" for i in range(len(EXACT))])
async def test_numbers_round_trip_exactly_in_state_and_events(value: Any) -> None:
    got_state, got_event = await roundtrip_through_snapshot(value)
    for got in (got_state, got_event):
        assert type(got) is type(value)
        assert got == value
        if isinstance(value, float):
            assert math.copysign(1, got) == math.copysign(1, value)


def test_big_ints_are_tagged_in_snapshot_json() -> None:
    from blazen_py.state import decode_state_value, encode_state_value

    assert encode_state_value(2**53 - 1) == 2**53 - 1
    assert encode_state_value(2**53) == {"$int": str(2**53)}
    assert encode_state_value(-(2**70)) == {"$int": str(-(2**70))}
    assert decode_state_value({"$int": "-12"}) == -12


@pytest.mark.parametrize("body", ["", "1.5", "0x10", " 1", "1e5", "--1", "9" * 4301, None, 12])
def test_bad_int_tags_are_refused(body: Any) -> None:
    from blazen_py.state import decode_state_value

    with pytest.raises(SnapshotError, match=r"invalid \$int"):
        decode_state_value({"$int": body})


REFUSED_AT_SET = [
    ("nan", math.nan, "only finite numbers"),
    ("inf", math.inf, "only finite numbers"),
    ("-inf", -math.inf, "only finite numbers"),
    ("nested nan", {"a": [1, math.nan]}, "only finite numbers"),
    ("huge int", 10**4300, "over 4300 digits"),
    ("huge negative int", -(10**4300), "over 4300 digits"),
    ("nested huge int", [[10**5000]], "over 4300 digits"),
    ("a set", {1, 2}, "set"),
    ("an object", object(), "object"),
    ("non-string key", {1: "a"}, "non-string key"),
]


@pytest.mark.parametrize(
    "value, fragment", [c[1:] for c in REFUSED_AT_SET], ids=[c[0] for c in REFUSED_AT_SET]
)
async def test_values_refused_at_set(value: Any, fragment: str) -> None:
    wf = Workflow("refuse")
    seen: dict[str, str] = {}

    def put(event: Any, ctx: Any) -> Any:
        try:
            ctx.set("v", value)
        except StateError as exc:
            seen["error"] = str(exc)
        return {"type": STOP_EVENT, "result": ctx.state.has("v")}

    wf.add_step("put", [START_EVENT], put)
    assert (await bounded(wf.run())).data is False
    assert fragment in seen["error"]


def cyclic_dict() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = d
    return d


def cyclic_list() -> list[Any]:
    a: list[Any] = []
    a.append(a)
    a.append(a)  # two references: exponential if followed without a guard
    return a


@pytest.mark.parametrize("make", [cyclic_dict, cyclic_list])
async def test_cycles_are_refused_at_set_fast(make: Any) -> None:
    wf = Workflow("cycle")

    def put(event: Any, ctx: Any) -> Any:
        ctx.set("v", make())

    wf.add_step("put", [START_EVENT], put)
    started = time.perf_counter()
    with pytest.raises(StepError, match="cyclic"):
        await bounded(wf.run())
    assert time.perf_counter() - started < 5


BAD_EVENTS = [
    ("nan", {"x": math.nan}, "nan"),
    ("inf", {"x": math.inf}, "inf"),
    ("nested -inf", {"x": {"y": [0, -math.inf]}}, "-inf"),
    ("huge int", {"x": 10**4400}, "4300 digits"),
    ("cycle", {"x": cyclic_list()}, "cyclic"),
]


@pytest.mark.parametrize("fields, fragment", [c[1:] for c in BAD_EVENTS], ids=[c[0] for c in BAD_EVENTS])
@pytest.mark.parametrize("how", ["returned", "sent", "in a list"])
async def test_events_breaking_the_number_rule_are_refused_when_produced(
    fields: dict[str, Any], fragment: str, how: str
) -> None:
    wf = Workflow("bad-event")
    event = {"type": "Next", **fields}

    def emit(e: Any, ctx: Any) -> Any:
        if how == "sent":
            ctx.send_event(event)
            return None
        return [event] if how == "in a list" else event

    wf.add_step("emit", [START_EVENT], emit)
    wf.add_step("next", ["Next"], lambda e, ctx: {"type": STOP_EVENT})
    with pytest.raises((InvalidEventError, StepError)) as caught:
        await bounded(wf.run())
    assert fragment in str(caught.value)
    if how != "sent":
        assert isinstance(caught.value, InvalidEventError)
    else:
        assert isinstance(caught.value.__cause__, InvalidEventError)


@pytest.mark.parametrize("value", [math.nan, math.inf, 10**4400], ids=["nan", "inf", "huge"])
async def test_run_input_breaking_the_number_rule_is_refused(value: Any) -> None:
    wf = Workflow("bad-input")
    wf.add_step("s", [START_EVENT], lambda e, ctx: {"type": STOP_EVENT})
    with pytest.raises(InvalidEventError, match="run\\(\\) input"):
        await bounded(wf.run({"x": value}))


@pytest.mark.parametrize("timeout", [math.nan, -1, 0, -0.0, math.inf, -math.inf, True, "5"])
def test_step_timeouts_that_are_no_duration_are_refused_when_added(timeout: Any) -> None:
    wf = Workflow("timeouts")
    with pytest.raises(WorkflowDefinitionError, match="timeout must be a positive number"):
        wf.add_step("s", [START_EVENT], lambda e, ctx: None, timeout=timeout)


def self_holding() -> Any:
    obj = Node()
    obj.__blazen_state__ = True
    obj.me = obj
    return obj


def mutual() -> Any:
    a, b = Node(), Node()
    a.__blazen_state__ = b.__blazen_state__ = True
    a.other, b.other = b, a
    return a


def chain(length: int) -> Any:
    head = node = Node()
    for _ in range(length):
        node.__blazen_state__ = True
        node.next = Node()
        node = node.next
    node.__blazen_state__ = True
    return head


@pytest.mark.parametrize(
    "make, fragment",
    [
        (self_holding, "contains itself"),
        (mutual, "contains itself"),
        (lambda: chain(100), "nested more than 64"),
    ],
    ids=["holds itself", "two hold each other", "a chain of 100"],
)
async def test_blazen_state_cycles_and_deep_chains_are_refused_at_set(make: Any, fragment: str) -> None:
    wf = Workflow("bs-cycle")
    seen: dict[str, Any] = {}

    def put(event: Any, ctx: Any) -> Any:
        try:
            ctx.set("obj", make())
        except StateError as exc:
            seen["error"] = str(exc)
        return {"type": STOP_EVENT}

    wf.add_step("put", [START_EVENT], put)
    await bounded(wf.run())
    assert fragment in seen["error"]


async def test_a_chain_within_the_limit_round_trips() -> None:
    wf = Workflow("bs-chain")

    def put(event: Any, ctx: Any) -> Any:
        ctx.set("obj", chain(30))
        node, depth = ctx.get("obj"), 0
        while hasattr(node, "next"):
            node, depth = node.next, depth + 1
        return {"type": STOP_EVENT, "result": [depth, type(node).__name__]}

    wf.add_step("put", [START_EVENT], put)
    assert (await bounded(wf.run())).data == [30, "Node"]
