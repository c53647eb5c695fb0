"""The spec's examples, translated to Python, with the outputs the spec states."""

from __future__ import annotations

import re
import uuid

import pytest

from blazen_py import START_EVENT, STOP_EVENT, Workflow, WorkflowTimeoutError, register_state_class

PORTABLE = True


async def test_store_and_read() -> None:
    wf = Workflow("store-read")

    async def store(event, ctx):
        ctx.set("user", event["name"])
        ctx.set("count", 42)
        ctx.set("tags", ["intro", "demo"])
        return {"type": "NextEvent"}

    async def read(event, ctx):
        return {
            "type": STOP_EVENT,
            "result": {
                "user": ctx.get("user"),
                "count": ctx.get("count"),
                "missing": ctx.get("nope"),
                "tags": ctx.get("tags"),
            },
        }

    wf.add_step("store", [START_EVENT], store)
    wf.add_step("read", ["NextEvent"], read)
    result = await wf.run({"name": "Alice"})
    assert result.data == {"user": "Alice", "count": 42, "missing": None, "tags": ["intro", "demo"]}


async def test_state_and_session_namespaces() -> None:
    wf = Workflow("share-live")
    seen = {}

    def share_live(event, ctx):
        ctx.state.set("counter", 5)
        live_obj = {"tag": "live", "count": 0}
        ctx.session.set("shared", live_obj)
        seen["identity"] = ctx.session.get("shared") is live_obj
        live_obj["count"] += 1
        seen["count"] = ctx.session.get("shared")["count"]
        seen["counter"] = ctx.state.get("counter")
        return {"type": STOP_EVENT, "result": {}}

    wf.add_step("share_live", [START_EVENT], share_live)
    result = await wf.run({})
    assert result.data == {}
    assert seen == {"identity": True, "count": 1, "counter": 5}


async def test_binary_data() -> None:
    wf = Workflow("binary")
    seen = {}

    async def binary(event, ctx):
        data = bytes([0x48, 0x65, 0x6C, 0x6C, 0x6F])
        ctx.set("via_set", data)
        ctx.set_bytes("via_explicit", bytearray(data))
        seen["a"] = ctx.get("via_set")
        seen["b"] = ctx.get_bytes("via_explicit")
        seen["none"] = ctx.get_bytes("absent")
        return {"type": STOP_EVENT, "result": {"ok": True}}

    wf.add_step("binary", [START_EVENT], binary)
    result = await wf.run({})
    assert result.data == {"ok": True}
    assert seen == {"a": b"Hello", "b": b"Hello", "none": None}
    assert type(seen["b"]) is bytes


async def test_send_event_mid_step() -> None:
    wf = Workflow("kickoff")
    order = []

    async def kickoff(event, ctx):
        ctx.send_event({"type": "SideTask", "payload": "extra work"})
        return {"type": "MainTask"}

    def side(event, ctx):
        order.append(("side", event["payload"]))

    def main(event, ctx):
        order.append(("main", None))
        return {"type": STOP_EVENT, "result": "done"}

    wf.add_step("kickoff", [START_EVENT], kickoff)
    wf.add_step("side", ["SideTask"], side)
    wf.add_step("main", ["MainTask"], main)
    result = await wf.run({})
    assert result.data == "done"
    assert order == [("side", "extra work"), ("main", None)]


async def test_run_id_is_uuid4_and_workflow_name() -> None:
    wf = Workflow("summarizer")
    seen = {}

    async def log(event, ctx):
        seen["run_id"] = ctx.run_id()
        seen["name"] = ctx.workflow_name
        return {"type": STOP_EVENT, "result": {}}

    wf.add_step("log", [START_EVENT], log)
    result = await wf.run()
    assert uuid.UUID(seen["run_id"]).version == 4
    assert result.run_id == seen["run_id"]
    assert seen["name"] == "summarizer"
    other = await wf.run()
    assert other.run_id != result.run_id


async def test_branching_fans_out_to_each_step() -> None:
    wf = Workflow("classify")
    got = []

    async def classify(event, ctx):
        return [
            {"type": "PositiveEvent", "text": event["text"]},
            {"type": "NegativeEvent", "text": event["text"]},
        ]

    def positive(event, ctx):
        got.append(("pos", event["text"]))
        return {"type": "Scored", "sign": 1}

    def negative(event, ctx):
        got.append(("neg", event["text"]))
        return {"type": "Scored", "sign": -1}

    def join(event, ctx):
        seen = (ctx.get("seen") or []) + [event["sign"]]
        ctx.set("seen", seen)
        if len(seen) == 2:
            return {"type": STOP_EVENT, "result": sorted(seen)}
        return None

    wf.add_step("classify", [START_EVENT], classify)
    wf.add_step("positive", ["PositiveEvent"], positive)
    wf.add_step("negative", ["NegativeEvent"], negative)
    wf.add_step("join", ["Scored"], join)
    result = await wf.run({"text": "great"})
    assert got == [("pos", "great"), ("neg", "great")]
    assert result.data == [-1, 1]


async def test_timeout() -> None:
    import asyncio

    wf = Workflow("slow")
    wf.set_timeout(0.05)

    async def slow(event, ctx):
        await asyncio.sleep(10)

    wf.add_step("slow", [START_EVENT], slow)
    with pytest.raises(WorkflowTimeoutError, match=r"timed out after 0\.05 s"):
        await wf.run({})


class Connection:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token


@register_state_class
class SessionState:
    url = ""
    token = ""
    conn = None
    request_count = 0
    meta = {"transient": ["conn"], "store_by": {}, "restore": "reconnect"}  # noqa: RUF012 - the protocol's form

    def reconnect(self) -> None:
        if self.url and self.token:
            self.conn = Connection(self.url, self.token)


async def test_blazen_state_decomposes_and_restores() -> None:
    wf = Workflow("blazen-state")
    seen = {}

    async def init(event, ctx):
        state = SessionState()
        state.url = event["url"]
        state.token = event["token"]
        state.request_count = 3
        state.conn = Connection("live", "x")
        state.__blazen_state__ = True
        ctx.set("session", state)
        seen["keys"] = sorted(ctx.state.keys())
        seen["meta"] = ctx._run.state["session.__blazen_meta__"]
        return {"type": "ProcessEvent"}

    async def process(event, ctx):
        state = ctx.get("session")
        seen["url"] = state.url
        seen["conn"] = (state.conn.url, state.conn.token)
        seen["marker"] = state.__blazen_state__
        return {"type": STOP_EVENT, "result": {"requests": state.request_count}}

    wf.add_step("init", [START_EVENT], init)
    wf.add_step("process", ["ProcessEvent"], process)
    result = await wf.run({"url": "https://db.local", "token": "t0k"})
    assert result.data == {"requests": 3}
    assert seen["keys"] == [
        "session.__blazen_meta__",
        "session.request_count",
        "session.token",
        "session.url",
    ]
    assert seen["meta"]["fields"] == ["url", "token", "request_count"]
    # The metadata names the class's registration key and the fields, nothing else: what
    # runs on rebuild (restore, transient fields) comes from the registered class.
    assert sorted(seen["meta"]) == ["class", "fields"]
    assert re.search(r"SessionState$", seen["meta"]["class"])
    assert seen["url"] == "https://db.local"
    assert seen["conn"] == ("https://db.local", "t0k")
    assert seen["marker"] is True


class ExternalCache:
    def __init__(self) -> None:
        self.items: dict[str, object] = {}

    def save(self, key, value, ctx):
        self.items[key] = value

    def load(self, key, ctx):
        return self.items.get(key)


CACHE = ExternalCache()


@register_state_class
class AppState:
    meta = {"store_by": {"preferences": CACHE}}  # noqa: RUF012 - the protocol's form

    def __init__(self) -> None:
        self.preferences: dict[str, object] = {}
        self.active_tab = "home"


async def test_blazen_state_store_by_field_store() -> None:
    wf = Workflow("store-by")

    def put(event, ctx):
        app = AppState()
        app.preferences = {"theme": "dark", "live": object()}  # not a StateValue: goes to the store
        app.active_tab = "settings"
        app.__blazen_state__ = True
        ctx.set("app", app)
        return {"type": "Next"}

    def read(event, ctx):
        app = ctx.get("app")
        return {
            "type": STOP_EVENT,
            "result": {
                "tab": app.active_tab,
                "theme": app.preferences["theme"],
                "in_state": ctx.state.has("app.preferences"),
            },
        }

    wf.add_step("put", [START_EVENT], put)
    wf.add_step("read", ["Next"], read)
    result = await wf.run()
    assert result.data == {"tab": "settings", "theme": "dark", "in_state": False}
    assert CACHE.items["app.preferences"]["theme"] == "dark"
