"""Tool-calling agents against the local OpenAI-compatible server (real HTTP, CPython).

The server's ``agent-<name>`` models answer from a script, one turn per assistant
message already in the conversation (tests/python/llm_server.py), so a conversation
resumed elsewhere gets the same answers. Covered, as Blazen's agent tests and
llama-index's agent-workflow tests cover them for theirs: a multi-turn tool loop (the
tool definitions sent, each tool result fed back, usage and cost summed), streamed turns
and streamed tool calls, arguments validated against the schema before the handler runs
(the failure goes back to the model), a throwing tool and an unknown tool recovered,
``max_iterations`` with a typed error, ``tool_concurrency``, the finish tool, ``extract``,
``llm_override``, approvals outside a workflow; and, in a workflow, ``ctx.run_agent``
resumed from a snapshot taken mid-agent (no completed turn or tool call runs again), and
durable tool approval across a snapshot.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from llm_server import LLMTestServer

from blazen_py import (
    INPUT_REQUESTED,
    START_EVENT,
    STOP_EVENT,
    AgentError,
    MaxIterationsError,
    Tool,
    ToolOutput,
    Workflow,
    extract,
    run_agent,
)
from blazen_py.agent import TOOL_CALL, TOOL_RESULT, TURN
from blazen_py.llm import ChatMessage, CompletionModel

NUMBERS = {
    "type": "object",
    "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def server() -> Iterator[LLMTestServer]:
    with LLMTestServer() as running:
        yield running


@pytest.fixture
def llm(server: LLMTestServer) -> LLMTestServer:
    server.reset()
    return server


def model_for(llm: LLMTestServer, name: str, turns: list[dict[str, Any]]) -> CompletionModel:
    return CompletionModel.openai_compatible(
        base_url=llm.base_url, model=llm.script(name, turns), max_retries=0
    )


def call(name: str, arguments: Any, call_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "arguments": arguments}
    if call_id is not None:
        out["id"] = call_id
    return out


def usage(prompt: int, completion: int, cost: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cost is not None:
        out["cost"] = cost
    return out


class Counted:
    """Tool handlers that count their calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def tools(self) -> list[Tool]:
        def add(args: dict[str, Any]) -> Any:
            self.calls.append(("add", args))
            return {"sum": args["a"] + args["b"]}

        async def multiply(args: dict[str, Any]) -> Any:
            self.calls.append(("multiply", args))
            await asyncio.sleep(0)
            return args["a"] * args["b"]

        return [Tool("add", "Add two numbers", NUMBERS, add), Tool("multiply", "Multiply", NUMBERS, multiply)]


THREE_TURNS = [
    {"content": None, "tool_calls": [call("add", {"a": 2, "b": 3})], "usage": usage(10, 2, 0.001)},
    {"content": "", "tool_calls": [call("multiply", {"a": 5, "b": 4})], "usage": usage(20, 3, 0.002)},
    {"content": "The answer is 20.", "usage": usage(30, 5, 0.004)},
]


def tool_messages(request: Any) -> list[dict[str, Any]]:
    return [m for m in request.json["messages"] if m["role"] == "tool"]


# -------------------------------------------------------------------------- the loop


async def test_multi_turn_tool_loop(llm: LLMTestServer) -> None:
    counted = Counted()
    model = model_for(llm, "three", THREE_TURNS)
    events: list[dict[str, Any]] = []
    result = await run_agent(
        model,
        [ChatMessage.user("(2+3)*4?")],
        counted.tools(),
        system_prompt="Use the tools.",
        temperature=0.2,
        max_tokens=100,
        on_event=events.append,
    )
    assert result.content == "The answer is 20."
    assert result.iterations == 2
    assert result.finish_reason == "stop"
    assert counted.calls == [("add", {"a": 2, "b": 3}), ("multiply", {"a": 5, "b": 4})]
    assert result.total_usage == {"prompt_tokens": 60, "completion_tokens": 10, "total_tokens": 70}
    assert result.total_cost == pytest.approx(0.007)
    assert [m["role"] for m in result.messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert result.messages[3] == {"role": "tool", "tool_call_id": "call_0", "content": '{"sum": 5}'}
    assert [r["data"] for r in result.tool_results] == [{"sum": 5}, 20]
    requests = llm.chat_requests()
    assert len(requests) == 3
    first = requests[0].json
    assert first["temperature"] == 0.2
    assert first["max_tokens"] == 100
    assert [t["function"]["name"] for t in first["tools"]] == ["add", "multiply"]
    assert first["tools"][0]["function"]["parameters"] == NUMBERS
    assert first["messages"][0] == {"role": "system", "content": "Use the tools."}
    assert tool_messages(requests[2]) == [
        {"role": "tool", "content": '{"sum": 5}', "tool_call_id": "call_0"},
        {"role": "tool", "content": "20", "tool_call_id": "call_0"},
    ]
    kinds = [e["type"] for e in events]
    assert kinds == [TURN, TOOL_CALL, TOOL_RESULT, TURN, TOOL_CALL, TOOL_RESULT, TURN]
    assert events[1]["arguments"] == {"a": 2, "b": 3}
    assert events[2]["content"] == '{"sum": 5}'


async def test_streamed_turns_and_streamed_tool_calls(llm: LLMTestServer) -> None:
    counted = Counted()
    model = model_for(llm, "three-streamed", THREE_TURNS)
    pieces: list[str] = []
    result = await run_agent(
        model, [ChatMessage.user("go")], counted.tools(), on_chunk=lambda c: pieces.append(c.delta)
    )
    assert result.content == "The answer is 20."
    assert "".join(pieces) == "The answer is 20."
    assert len(pieces) > 1
    assert counted.calls == [("add", {"a": 2, "b": 3}), ("multiply", {"a": 5, "b": 4})]
    assert all(r.json.get("stream") is True for r in llm.chat_requests())
    assert result.total_usage == {"prompt_tokens": 60, "completion_tokens": 10, "total_tokens": 70}


async def test_arguments_are_validated_before_the_handler_and_the_error_goes_to_the_model(
    llm: LLMTestServer,
) -> None:
    counted = Counted()
    turns = [
        {"content": None, "tool_calls": [call("add", {"a": "two", "b": 3})]},
        {"content": None, "tool_calls": [call("add", {"a": 1})]},
        {"content": None, "tool_calls": [call("add", {"a": 1, "b": 2, "c": 3})]},
        {"content": None, "tool_calls": [call("add", "{not json")]},
        {"content": None, "tool_calls": [call("add", "[1, 2]")]},
        {"content": "gave up"},
    ]
    result = await run_agent(model_for(llm, "bad-args", turns), [ChatMessage.user("x")], counted.tools())
    assert result.content == "gave up"
    assert counted.calls == []  # no handler ever saw bad arguments
    errors = [r["error"] for r in result.tool_results]
    assert "$.a: expected number, got string" in errors[0]
    assert "missing required property 'b'" in errors[1]
    assert "unexpected property 'c'" in errors[2]
    assert "not valid JSON" in errors[3]
    assert "must be a JSON object, not array" in errors[4]
    fed_back = tool_messages(llm.chat_requests()[1])
    assert json.loads(fed_back[0]["content"])["error"].startswith("invalid arguments for tool 'add'")


async def test_a_throwing_tool_and_an_unknown_tool_are_recovered(llm: LLMTestServer) -> None:
    def broken(args: dict[str, Any]) -> Any:
        raise ValueError("the database is down")

    tools = [Tool("lookup", "Look up", {"type": "object", "properties": {"q": {"type": "string"}}}, broken)]
    turns = [
        {"content": None, "tool_calls": [call("lookup", {"q": "x"}), call("ghost", {}, "c2")]},
        {"content": "sorry, the database is down"},
    ]
    result = await run_agent(model_for(llm, "throwing", turns), [ChatMessage.user("x")], tools)
    assert result.content == "sorry, the database is down"
    fed = {m["tool_call_id"]: json.loads(m["content"]) for m in tool_messages(llm.chat_requests()[1])}
    assert fed["call_0"] == {"error": "tool 'lookup' failed: ValueError: the database is down"}
    assert "unknown tool 'ghost'" in fed["c2"]["error"]
    assert "lookup" in fed["c2"]["error"]


async def test_max_iterations_raises_a_typed_error(llm: LLMTestServer) -> None:
    counted = Counted()
    forever = [{"content": None, "tool_calls": [call("add", {"a": 1, "b": 1})]}]
    with pytest.raises(MaxIterationsError, match="after 2 rounds of tool calls") as caught:
        await run_agent(
            model_for(llm, "forever", forever), [ChatMessage.user("x")], counted.tools(), max_iterations=2
        )
    assert caught.value.iterations == 2
    assert len(counted.calls) == 2  # the third answer's calls were not run
    assert len(llm.chat_requests()) == 3
    assert caught.value.messages[-1]["role"] == "assistant"
    with pytest.raises(ValueError, match="max_iterations"):
        await run_agent(model_for(llm, "forever", forever), [ChatMessage.user("x")], [], max_iterations=-1)


async def test_default_max_iterations_is_ten(llm: LLMTestServer) -> None:
    forever = [{"content": None, "tool_calls": [call("add", {"a": 1, "b": 1})]}]
    with pytest.raises(MaxIterationsError) as caught:
        await run_agent(model_for(llm, "forever10", forever), [ChatMessage.user("x")], Counted().tools())
    assert caught.value.iterations == 10
    assert len(llm.chat_requests()) == 11


@pytest.mark.parametrize("limit, expected", [(2, 2), (0, 6), (1, 1)])
async def test_tool_concurrency_bounds_parallel_calls(llm: LLMTestServer, limit: int, expected: int) -> None:
    running = 0
    most = 0

    async def slow(args: dict[str, Any]) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1
        return args["n"]

    tools = [Tool("slow", "Slow", {"type": "object", "properties": {"n": {"type": "integer"}}}, slow)]
    turns = [
        {"content": None, "tool_calls": [call("slow", {"n": i}, f"c{i}") for i in range(6)]},
        {"content": "done"},
    ]
    result = await run_agent(
        model_for(llm, f"parallel-{limit}", turns), [ChatMessage.user("x")], tools, tool_concurrency=limit
    )
    assert most == expected
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == [str(i) for i in range(6)]


async def test_finish_tool_ends_the_loop_with_its_answer(llm: LLMTestServer) -> None:
    counted = Counted()
    turns = [
        {"content": None, "tool_calls": [call("add", {"a": 1, "b": 2})]},
        {"content": None, "tool_calls": [call("finish", {"answer": "3, finally"})]},
        {"content": "never asked"},
    ]
    result = await run_agent(
        model_for(llm, "finish", turns), [ChatMessage.user("x")], counted.tools(), add_finish_tool=True
    )
    assert result.content == "3, finally"
    assert result.finish_reason == "finish_tool"
    assert result.iterations == 1
    assert len(llm.chat_requests()) == 2
    names = [t["function"]["name"] for t in llm.chat_requests()[0].json["tools"]]
    assert names == ["add", "multiply", "finish"]
    # without add_finish_tool there is no such tool: a call to it is an unknown tool
    llm.reset()
    result = await run_agent(model_for(llm, "finish", turns), [ChatMessage.user("x")], counted.tools())
    assert result.content == "never asked"


async def test_llm_override_and_tool_output(llm: LLMTestServer) -> None:
    tools = [
        Tool(
            "search",
            "Search",
            None,
            lambda args: ToolOutput({"items": [1, 2, 3], "_debug": "..."}, "3 items"),
        ),
        Tool("js_style", "Search", None, lambda args: {"data": [1], "llmOverride": {"n": 1}}),
    ]
    turns = [
        {"content": None, "tool_calls": [call("search", {}), call("js_style", {}, "c2")]},
        {"content": "ok"},
    ]
    result = await run_agent(model_for(llm, "override", turns), [ChatMessage.user("x")], tools)
    assert [m["content"] for m in tool_messages(llm.chat_requests()[1])] == ["3 items", '{"n": 1}']
    assert [r["data"] for r in result.tool_results] == [{"items": [1, 2, 3], "_debug": "..."}, [1]]


async def test_extract_returns_validated_structured_output(llm: LLMTestServer) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name", "age"],
    }
    turns = [
        {"content": None, "tool_calls": [call("respond", {"name": "Ada", "age": -1})]},
        {"content": None, "tool_calls": [call("respond", {"name": "Ada", "age": 36})]},
    ]
    model = model_for(llm, "extract", turns)
    assert await extract(model, [ChatMessage.user("Ada, 36")], schema) == {"name": "Ada", "age": 36}
    first, second = llm.chat_requests()
    assert first.json["tool_choice"] == {"type": "function", "function": {"name": "respond"}}
    assert first.json["tools"][0]["function"]["parameters"] == schema
    assert "must be >= 0" in json.loads(tool_messages(second)[0]["content"])["error"]
    llm.reset()
    never = model_for(llm, "extract-never", [{"content": "I will not"}])
    with pytest.raises(AgentError, match="no valid answer after 2 attempt"):
        await extract(never, [ChatMessage.user("x")], schema, max_attempts=2)
    with pytest.raises(ValueError, match="'\\$ref'"):
        await extract(never, [ChatMessage.user("x")], {"$ref": "#/x"})


async def test_approval_outside_a_workflow(llm: LLMTestServer) -> None:
    ran: list[dict[str, Any]] = []
    tool = Tool(
        "delete",
        "Delete a file",
        {"type": "object", "properties": {"path": {"type": "string"}}},
        lambda args: ran.append(args) or "deleted",
        needs_approval=lambda args: args["path"] != "/tmp/x",
    )
    turns = [
        {
            "content": None,
            "tool_calls": [call("delete", {"path": "/etc/passwd"}), call("delete", {"path": "/tmp/x"}, "c2")],
        },
        {"content": "done"},
    ]
    asked: list[tuple[str, dict[str, Any]]] = []

    async def approve(name: str, args: dict[str, Any]) -> Any:
        asked.append((name, args))
        return {"approved": False, "reason": "never /etc"}

    result = await run_agent(
        model_for(llm, "approve", turns), [ChatMessage.user("x")], [tool], approve=approve
    )
    assert asked == [("delete", {"path": "/etc/passwd"})]
    assert ran == [{"path": "/tmp/x"}]
    assert result.tool_results[0]["error"] == "the user did not approve this call: never /etc"
    with pytest.raises(AgentError, match="need approval"):
        await run_agent(model_for(llm, "approve", turns), [ChatMessage.user("x")], [tool])


def test_bad_tools_are_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="tool name"):
        Tool("no spaces", "x", None, lambda a: a)
    with pytest.raises(ValueError, match="'pattern'"):
        Tool(
            "t",
            "x",
            {"type": "object", "properties": {"s": {"type": "string", "pattern": "a+"}}},
            lambda a: a,
        )
    with pytest.raises(TypeError, match="handler"):
        Tool("t", "x", None, "not callable")  # type: ignore[arg-type]


async def test_two_tools_with_one_name_are_refused(llm: LLMTestServer) -> None:
    tools = Counted().tools()
    with pytest.raises(ValueError, match="two tools are named 'add'"):
        await run_agent(model_for(llm, "x", [{"content": "x"}]), [ChatMessage.user("x")], tools + tools[:1])


# ------------------------------------------------------------------ durable agents


def agent_workflow(model: CompletionModel, tools: list[Tool], **options: Any) -> Workflow:
    wf = Workflow("agent")

    @wf.step(accepts=[START_EVENT])
    async def agent(event: Any, ctx: Any) -> Any:
        result = await ctx.run_agent(model, [ChatMessage.user(event["question"])], tools, **options)
        return {"type": STOP_EVENT, "result": {"content": result.content, "iterations": result.iterations}}

    return wf


FOUR_TURNS = [
    {"content": None, "tool_calls": [call("add", {"a": 1, "b": 2})]},
    {"content": None, "tool_calls": [call("add", {"a": 3, "b": 4})]},
    {"content": None, "tool_calls": [call("multiply", {"a": 3, "b": 7})], "delay": 1.0},
    {"content": "twenty-one"},
]


def turns_received(llm: LLMTestServer) -> list[int]:
    return [sum(1 for m in r.json["messages"] if m["role"] == "assistant") for r in llm.chat_requests()]


async def test_ctx_run_agent_resumes_after_the_last_completed_turn(llm: LLMTestServer) -> None:
    counted = Counted()
    model = model_for(llm, "durable", FOUR_TURNS)
    handler = await agent_workflow(model, counted.tools()).run_with_handler({"question": "q"})
    items: list[Any] = []
    streaming = asyncio.ensure_future(handler.stream_events(items.append))
    for _ in range(400):  # until the third turn's (slow) request is under way
        if turns_received(llm) == [0, 1, 2]:
            break
        await asyncio.sleep(0.01)
    assert turns_received(llm) == [0, 1, 2]
    snapshot = json.loads(json.dumps(await handler.snapshot()))  # the step still runs
    handler.abort()
    streaming.cancel()
    assert [c[0] for c in counted.calls] == ["add", "add"]
    kinds = [i.event_type for i in items]
    assert kinds.count(TURN) == 2
    assert kinds.count(TOOL_RESULT) == 2

    resumed_items: list[Any] = []
    fresh = Counted()
    resumed = await agent_workflow(model, fresh.tools()).resume(snapshot)
    resumed_stream = asyncio.ensure_future(resumed.stream_events(resumed_items.append))
    result = await asyncio.wait_for(resumed.result(), 30)
    await resumed_stream
    assert result.data == {"content": "twenty-one", "iterations": 3}
    assert fresh.calls == [("multiply", {"a": 3, "b": 7})]  # the two adds were not run again
    # turns 0 and 1 were each requested once; turn 2 was under way, so asked again
    assert turns_received(llm) == [0, 1, 2, 2, 3]
    turns = [i for i in resumed_items if i.event_type == TURN]
    assert [t["replayed"] for t in turns] == [True, True, False, False]
    assert all(t["agent"].startswith("blazen::agent/agent/") for t in turns)
    assert not any(k.startswith("blazen::agent/") for k in result.data)


async def test_durable_tool_approval_survives_a_snapshot(llm: LLMTestServer) -> None:
    ran: list[dict[str, Any]] = []

    def send(args: dict[str, Any]) -> Any:
        ran.append(args)
        return "sent"

    tools = [
        Tool(
            "send_email",
            "Send",
            {"type": "object", "properties": {"to": {"type": "string"}}},
            send,
            needs_approval=True,
        )
    ]
    turns = [
        {"content": None, "tool_calls": [call("send_email", {"to": "ada@example.com"})]},
        {"content": None, "tool_calls": [call("send_email", {"to": "bob@example.com"}, "c2")]},
        {"content": "one sent, one refused"},
    ]
    model = model_for(llm, "approval", turns)
    wf = agent_workflow(model, tools)
    handler = await wf.run_with_handler({"question": "mail them"})
    items: list[Any] = []
    streaming = asyncio.ensure_future(handler.stream_events(items.append))
    for _ in range(300):
        if any(i.event_type == INPUT_REQUESTED for i in items):
            break
        await asyncio.sleep(0.01)
    (asked,) = [i for i in items if i.event_type == INPUT_REQUESTED]
    assert asked["metadata"]["tool"] == "send_email"
    assert asked["metadata"]["arguments"] == {"to": "ada@example.com"}
    snapshot = json.loads(json.dumps(await handler.snapshot()))
    assert [r["request_id"] for r in snapshot["input_requests"]] == [asked["request_id"]]
    handler.abort()
    streaming.cancel()
    assert ran == []

    resumed = await agent_workflow(model, tools).resume(snapshot)
    again: list[Any] = []
    resumed_stream = asyncio.ensure_future(resumed.stream_events(again.append))
    for _ in range(300):
        if any(i.event_type == INPUT_REQUESTED for i in again):
            break
        await asyncio.sleep(0.01)
    (reasked,) = [i for i in again if i.event_type == INPUT_REQUESTED]
    assert reasked["request_id"] == asked["request_id"]
    resumed.respond_to_input(asked["request_id"], True)
    for _ in range(300):
        if len([i for i in again if i.event_type == INPUT_REQUESTED]) == 2:
            break
        await asyncio.sleep(0.01)
    second = [i for i in again if i.event_type == INPUT_REQUESTED][1]
    assert second["metadata"]["arguments"] == {"to": "bob@example.com"}
    resumed.respond_to_input(second["request_id"], {"approved": False, "reason": "not bob"})
    result = await asyncio.wait_for(resumed.result(), 30)
    await resumed_stream
    assert result.data["content"] == "one sent, one refused"
    assert ran == [{"to": "ada@example.com"}]  # approved once, run once; the refused one never
    fed = tool_messages(llm.chat_requests()[-1])
    assert json.loads(fed[1]["content"]) == {"error": "the user did not approve this call: not bob"}


async def test_an_answer_given_while_no_step_waits_is_kept(llm: LLMTestServer) -> None:
    """Answered between the restore and the step reaching the request: not asked twice."""
    ran: list[dict[str, Any]] = []
    tools = [Tool("pay", "Pay", None, lambda args: ran.append(args) or "paid", needs_approval=True)]
    turns = [{"content": None, "tool_calls": [call("pay", {})]}, {"content": "paid"}]
    model = model_for(llm, "answer-early", turns)
    handler = await agent_workflow(model, tools).run_with_handler({"question": "pay"})
    items: list[Any] = []
    streaming = asyncio.ensure_future(handler.stream_events(items.append))
    for _ in range(300):
        if any(i.event_type == INPUT_REQUESTED for i in items):
            break
        await asyncio.sleep(0.01)
    snapshot = await handler.pause()
    handler.abort()
    streaming.cancel()
    (request,) = snapshot["input_requests"]
    resumed = await agent_workflow(model, tools).resume(json.loads(json.dumps(snapshot)))
    resumed.respond_to_input(request["request_id"], True)  # before the step runs again
    result = await asyncio.wait_for(resumed.result(), 30)
    assert result.data["content"] == "paid"
    assert ran == [{}]


async def test_ctx_run_agent_refuses_in_memory_only_options(llm: LLMTestServer) -> None:
    model = model_for(llm, "x", [{"content": "x"}])
    wf = agent_workflow(model, [], approve=lambda name, args: True)
    with pytest.raises(Exception, match="approve= and on_event="):
        await wf.run({"question": "q"})


async def test_two_invocations_on_equal_events_each_run_their_own_agent() -> None:
    """Two invocations of one step, at once, on equal events: each has its own record, so
    each asks the model and runs its tool (they once shared one: the second answered from
    the first's record and its tool never ran; found by tests/python/test_differential.py)."""
    from blazen_py import START_EVENT, STOP_EVENT, HttpResponse, MockTransport, Tool, Workflow

    asked: list[int] = []
    ran: list[Any] = []

    async def provider(request: Any) -> HttpResponse:
        messages = json.loads(request.body)["messages"]
        done = sum(1 for m in messages if m["role"] == "tool")
        asked.append(done)
        await asyncio.sleep(0.01)  # both invocations are under way at once
        if done == 0:
            call = {"id": "c0", "type": "function", "function": {"name": "note", "arguments": "{}"}}
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
        else:
            message = {"role": "assistant", "content": "noted"}
        return HttpResponse(
            200,
            {"content-type": "application/json"},
            json.dumps({"choices": [{"message": message}]}).encode(),
        )

    model = CompletionModel.openai_compatible(base_url="http://llm.test/v1", model="m").with_transport(
        MockTransport(provider)
    )
    note = Tool("note", "Note it", None, lambda args: ran.append(args) or "ok")
    wf = Workflow("twins")
    wf.add_step("start", [START_EVENT], lambda e, ctx: [{"type": "Job"}, {"type": "Job"}])

    async def agent(event: Any, ctx: Any) -> Any:
        result = await ctx.run_agent(model, [ChatMessage.user("note this")], [note])
        done = (ctx.get("done") or 0) + 1
        ctx.set("done", done)
        return {"type": STOP_EVENT, "result": result.content} if done == 2 else None

    wf.add_step("agent", ["Job"], agent)
    assert (await wf.run({})).data == "noted"
    assert ran == [{}, {}]  # each invocation ran its tool
    assert sorted(asked) == [0, 0, 1, 1]
