"""runAgent and extract through blazen.js in headless Chromium, against the local server.

The same behaviours as tests/python/test_agent.py, from JS: a multi-turn tool loop (sync
and async handlers), streamed turns with streamed tool calls, schema validation errors
returned to the model, a throwing tool recovered, ``maxIterations`` with a typed error,
``toolConcurrency``, the finish tool, ``extract``, ``{data, llmOverride}``, ``approve``,
usage and cost totals.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from llm_server import LLMTestServer

NUMBERS = {
    "type": "object",
    "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
    "required": ["a", "b"],
}


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMTestServer]:
    with LLMTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def page(browser: Any, origin: str, llm: LLMTestServer) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(origin + "_test/blank.html")
    yield page
    context.close()


def run(page: Any, body: str, **values: Any) -> Any:
    out = json.loads(
        page.evaluate(
            """async ([body, values]) => {
                const blazen = await import('/blazen.js');
                await blazen.default();
                try {
                    const fn = new Function('blazen', 'values', `return (async () => {
                        const { runAgent, extract, ChatMessage, CompletionModel } = blazen; ${body} })();`);
                    return JSON.stringify({ value: (await fn(blazen, values)) ?? null });
                } catch (error) {
                    return JSON.stringify({ error: { name: error.name, message: error.message,
                        iterations: error.iterations ?? null, typed: error instanceof blazen.MaxIterationsError } });
                }
            }""",
            [body, values],
        )
    )
    return out


def script(llm: LLMTestServer, name: str, turns: list[dict[str, Any]]) -> dict[str, str]:
    return {"baseUrl": llm.base_url, "model": llm.script(name, turns)}


def call(name: str, arguments: Any, call_id: str | None = None) -> dict[str, Any]:
    return {"name": name, "arguments": arguments, **({"id": call_id} if call_id else {})}


TOOLS_JS = """
const calls = [];
const tools = [
  { name: 'add', description: 'Add', parameters: values.numbers,
    handler: (args) => { calls.push(['add', args]); return { sum: args.a + args.b }; } },
  { name: 'multiply', description: 'Multiply', parameters: values.numbers,
    handler: async (args) => { calls.push(['multiply', args]); await new Promise(r => setTimeout(r, 5)); return args.a * args.b; } },
];
const model = CompletionModel.openaiCompatible({ ...values.model, maxRetries: 0 });
"""

THREE = [
    {
        "content": None,
        "tool_calls": [call("add", {"a": 2, "b": 3})],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, "cost": 0.5},
    },
    {
        "content": None,
        "tool_calls": [call("multiply", {"a": 5, "b": 4})],
        "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23, "cost": 0.25},
    },
    {
        "content": "The answer is 20.",
        "usage": {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35},
    },
]


@pytest.mark.parametrize("streamed", [False, True])
def test_multi_turn_tool_loop_with_usage_totals(page: Any, llm: LLMTestServer, streamed: bool) -> None:
    llm.reset()
    out = run(
        page,
        TOOLS_JS
        + """
        const pieces = [];
        const events = [];
        const options = { systemPrompt: 'Use the tools.', temperature: 0.1, maxTokens: 50, onEvent: (e) => events.push(e.type) };
        if (values.streamed) options.onChunk = (chunk) => { pieces.push(chunk.delta); };
        const result = await runAgent(model, [ChatMessage.user('(2+3)*4?')], tools, options);
        return { result, calls, pieces, events };
        """,
        numbers=NUMBERS,
        model=script(llm, f"three-{streamed}", THREE),
        streamed=streamed,
    )
    assert "error" not in out, out
    value = out["value"]
    result = value["result"]
    assert result["content"] == "The answer is 20."
    assert result["iterations"] == 2
    assert result["totalUsage"] == {"promptTokens": 60, "completionTokens": 10, "totalTokens": 70}
    assert result["totalCost"] == 0.75
    assert [m["role"] for m in result["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert value["calls"] == [["add", {"a": 2, "b": 3}], ["multiply", {"a": 5, "b": 4}]]
    assert [r["data"] for r in result["toolResults"]] == [{"sum": 5}, 20]
    assert value["events"][:3] == ["blazen::AgentTurn", "blazen::ToolCall", "blazen::ToolResult"]
    if streamed:
        assert "".join(value["pieces"]) == "The answer is 20."
    requests = llm.chat_requests()
    assert len(requests) == 3
    assert all(bool(r.json.get("stream")) is streamed for r in requests)
    assert [t["function"]["name"] for t in requests[0].json["tools"]] == ["add", "multiply"]
    assert requests[0].json["temperature"] == 0.1
    assert requests[0].json["max_tokens"] == 50


def test_schema_errors_and_throwing_tools_go_back_to_the_model(page: Any, llm: LLMTestServer) -> None:
    llm.reset()
    turns = [
        {
            "content": None,
            "tool_calls": [
                call("add", {"a": "two", "b": 1}),
                call("boom", {}, "c2"),
                call("ghost", {}, "c3"),
            ],
        },
        {"content": "recovered"},
    ]
    out = run(
        page,
        TOOLS_JS
        + """
        tools.push({ name: 'boom', description: 'Fails', parameters: { type: 'object' },
                     handler: async () => { throw new TypeError('kaput'); } });
        const result = await runAgent(model, [ChatMessage.user('x')], tools);
        return { content: result.content, errors: result.toolResults.map(r => r.error), calls };
        """,
        numbers=NUMBERS,
        model=script(llm, "errors", turns),
    )
    assert "error" not in out, out
    value = out["value"]
    assert value["content"] == "recovered"
    assert value["calls"] == []
    assert "$.a: expected number, got string" in value["errors"][0]
    assert value["errors"][1] == "tool 'boom' failed: TypeError: kaput"
    assert "unknown tool 'ghost'" in value["errors"][2]
    fed = [m for m in llm.chat_requests()[1].json["messages"] if m["role"] == "tool"]
    assert json.loads(fed[1]["content"]) == {"error": "tool 'boom' failed: TypeError: kaput"}


def test_max_iterations_is_a_typed_error(page: Any, llm: LLMTestServer) -> None:
    llm.reset()
    forever = [{"content": None, "tool_calls": [call("add", {"a": 1, "b": 1})]}]
    out = run(
        page,
        TOOLS_JS + "await runAgent(model, [ChatMessage.user('x')], tools, { maxIterations: 3 });",
        numbers=NUMBERS,
        model=script(llm, "forever", forever),
    )
    assert out["error"]["name"] == "MaxIterationsError"
    assert out["error"]["typed"] is True
    assert out["error"]["iterations"] == 3
    assert len(llm.chat_requests()) == 4


def test_tool_concurrency_bounds_parallel_handlers(page: Any, llm: LLMTestServer) -> None:
    llm.reset()
    turns = [
        {"content": None, "tool_calls": [call("slow", {}, f"c{i}") for i in range(5)]},
        {"content": "done"},
    ]
    out = run(
        page,
        """
        const model = CompletionModel.openaiCompatible(values.model);
        const most = [];
        for (const limit of [2, 0]) {
          let running = 0, peak = 0;
          const tools = [{ name: 'slow', description: 'Slow', parameters: null, handler: async () => {
            running += 1; peak = Math.max(peak, running);
            await new Promise(r => setTimeout(r, 30));
            running -= 1; return 'ok'; } }];
          await runAgent(model, [ChatMessage.user('x')], tools, { toolConcurrency: limit });
          most.push(peak);
        }
        return most;
        """,
        model=script(llm, "parallel", turns),
    )
    assert out["value"] == [2, 5]


def test_finish_tool_extract_override_and_approve(page: Any, llm: LLMTestServer) -> None:
    llm.reset()
    finish = [
        {"content": None, "tool_calls": [call("lookup", {}), call("wipe", {}, "c2")]},
        {"content": None, "tool_calls": [call("finish", {"answer": "all done"})]},
    ]
    extracting = [
        {"content": None, "tool_calls": [call("respond", {"city": 7})]},
        {"content": None, "tool_calls": [call("respond", {"city": "Paris"})]},
    ]
    out = run(
        page,
        """
        const model = CompletionModel.openaiCompatible(values.finish);
        const asked = [];
        const tools = [
          { name: 'lookup', description: 'Look up', handler: () => ({ data: { rows: [1, 2] }, llmOverride: '2 rows' }) },
          { name: 'wipe', description: 'Wipe', needsApproval: true, handler: () => 'wiped' },
        ];
        const result = await runAgent(model, [ChatMessage.user('x')], tools, {
          addFinishTool: true, approve: async (name, args) => { asked.push(name); return { approved: false, reason: 'no' }; } });
        const city = await extract(CompletionModel.openaiCompatible(values.extract), [ChatMessage.user('Paris')],
          { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] });
        let refused;
        try { await runAgent(model, [ChatMessage.user('x')], tools); } catch (e) { refused = [e.name, e.message]; }
        return { content: result.content, reason: result.finishReason, results: result.toolResults, asked, city, refused };
        """,
        finish=script(llm, "finish", finish),
        extract=script(llm, "extract", extracting),
    )
    assert "error" not in out, out
    value = out["value"]
    assert value["content"] == "all done"
    assert value["reason"] == "finish_tool"
    assert value["results"][0]["data"] == {"rows": [1, 2]}
    assert value["results"][0]["content"] == "2 rows"
    assert value["results"][1]["error"] == "the user did not approve this call: no"
    assert value["asked"] == ["wipe"]
    assert value["city"] == {"city": "Paris"}
    assert value["refused"][0] == "AgentError"
    assert "need approval" in value["refused"][1]
    names = [t["function"]["name"] for t in llm.chat_requests()[0].json["tools"]]
    assert names == ["lookup", "wipe", "finish"]


KEY = "sk-or-v1-cassette-0123456789abcdef0123456789abcdef"


def test_record_then_replay_with_the_network_cut(browser: Any, origin: str, llm: LLMTestServer) -> None:
    llm.reset()
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(origin + "_test/blank.html")
    model = script(llm, "cassette", THREE)
    body = """
        const blazen = await import('/blazen.js');
        await blazen.default({ env: { CASSETTE_KEY: values.key } });
        const { runAgent, ChatMessage, CompletionModel, Cassette } = blazen;
        const tools = [
          { name: 'add', description: 'Add', parameters: values.numbers, handler: (a) => ({ sum: a.a + a.b }) },
          { name: 'multiply', description: 'Multiply', parameters: values.numbers, handler: (a) => a.a * a.b },
        ];
        window.__agent = { blazen, tools };
        const cassette = new Cassette();
        const live = CompletionModel.openaiCompatible({ ...values.model, apiKeyEnv: 'CASSETTE_KEY' });
        const result = await runAgent(CompletionModel.record(live, cassette), [ChatMessage.user('(2+3)*4?')], tools);
        return JSON.stringify({ content: result.content, cassette: cassette.toJSON() });
    """
    recorded = json.loads(
        page.evaluate(
            "async ([body, values]) => (new Function('values', `return (async () => { ${body} })();`))(values)",
            [body, {"key": KEY, "numbers": NUMBERS, "model": model}],
        )
    )
    assert recorded["content"] == "The answer is 20."
    text = json.dumps(recorded["cassette"])
    assert KEY not in text
    assert "authorization" not in text.lower()
    assert len(recorded["cassette"]["exchanges"]) == 3
    assert len(llm.chat_requests()) == 3

    blocked: list[str] = []

    def cut(route: Any) -> None:
        blocked.append(route.request.url)
        route.abort()

    context.route("**/*", cut)  # from here on, nothing leaves the page
    replay = page.evaluate(
        """async (data) => {
            const { blazen, tools } = window.__agent;
            const { runAgent, ChatMessage, CompletionModel } = blazen;
            const model = CompletionModel.replay(data);
            const result = await runAgent(model, [ChatMessage.user('(2+3)*4?')], tools);
            let mismatch;
            try { await runAgent(CompletionModel.replay(data), [ChatMessage.user('something else')], tools); }
            catch (e) { mismatch = [e.name, e.message, e.index, e instanceof blazen.CassetteMismatchError]; }
            let hostile;
            try { CompletionModel.replay({ format: 'blazen-cassette', version: 1, model: 'm', base_url: '/v1',
                exchanges: [{ request: { method: 'POST', url: '/v1', headers: { Authorization: 'Bearer x' } },
                              response: { status: 200, chunks: [] } }] }); }
            catch (e) { hostile = [e.name, e.message]; }
            return { content: result.content, usage: result.totalUsage, mismatch, hostile };
        }""",
        recorded["cassette"],
    )
    context.close()
    assert blocked == []  # the replay sent nothing: no request left the page
    assert len(llm.chat_requests()) == 3
    assert replay["content"] == "The answer is 20."
    assert replay["usage"] == {"promptTokens": 60, "completionTokens": 10, "totalTokens": 70}
    name, message, index, typed = replay["mismatch"]
    assert name == "CassetteMismatchError"
    assert typed is True
    assert index == 0
    assert "request 0 (POST " in message
    assert "something else" in message
    assert replay["hostile"][0] == "CassetteError"
    assert "would carry a credential" in replay["hostile"][1]
