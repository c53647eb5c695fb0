"""Record the playground's shipped cassettes from the local test server (tests/python/llm_server.py).

``python tests/python/playground_cassettes.py`` writes web/cassettes/summarizer.json,
web/cassettes/agent.json and web/cassettes/guide.json (the agent guide's example, which
docs/js-api.md replays); the build copies them into dist/. With no Base URL set, the
playground's summarizer (web/examples/summarizer.py) and agent (web/examples/agent.js)
replay them, so a first visit runs with no model server and no key.

The answers are the test server's scripted turns (not a real model's), recorded through
``CompletionModel.record`` while the examples' own requests are made: the same messages,
tools and options as the examples send, so their requests match on replay (the browser
tests in tests/browser/test_playground_cassettes.py prove it). The agent cassette holds
both endings of the approval: approved and rejected (replay picks the recording whose
request matches). Recording is deterministic: the server's random port is replaced by
the fixed :data:`RECORDED_BASE_URL` (replay answers from the cassette only; nothing is
ever sent there), so re-running this script gives the same bytes (a test checks it).
A key given while recording never reaches a cassette (a test checks that too).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from llm_server import LLMTestServer  # noqa: E402

from blazen_py import Cassette, ChatMessage, CompletionModel, Tool, run_agent  # noqa: E402

CASSETTES = ROOT / "web" / "cassettes"
#: Where the recordings say they were made (the test server's port changes every run).
RECORDED_BASE_URL = "http://llm-test-server.invalid/v1"

# -- the summarizer (web/examples/summarizer.py) ----------------------------------------------

SUMMARIZER_PROMPT = "Summarize the following text in 2-3 sentences."
SUMMARY = (
    "Pyodide compiles CPython to WebAssembly, so Python, and with it a pure-Python workflow "
    "engine, runs inside a web page with no server. Its steps can call language models with "
    "fetch and stream their results back as they are made."
)

# -- the agent (web/examples/agent.js): keep these as the example declares them ----------------

AGENT_SYSTEM = "You help with the shopping. Use the tools; answer in one or two sentences."
AGENT_QUESTION = "What have I run out of? Put it on my shopping list."
PANTRY = {"eggs": 6, "milk": 0, "flour": 2}
PANTRY_TOOL = (
    "check_pantry",
    "How many of each thing are in the pantry.",
    {"type": "object", "properties": {}},
)
ADD_TOOL = (
    "add_to_list",
    "Add an item to the shopping list (asks the user first).",
    {
        "type": "object",
        "properties": {"item": {"type": "string", "minLength": 1, "maxLength": 40}},
        "required": ["item"],
    },
)
AGENT_TURNS = [
    {"content": None, "tool_calls": [{"name": "check_pantry", "arguments": {}}]},
    {"content": None, "tool_calls": [{"name": "add_to_list", "arguments": {"item": "milk"}}]},
]
APPROVED_ANSWER = (
    "You are out of milk, so I put it on your shopping list. You still have 6 eggs and 2 bags of flour."
)
REJECTED_ANSWER = "You are out of milk. You did not want it added, so your shopping list is unchanged."


KEY_ENV = "PLAYGROUND_RECORDING_KEY"


# -- the agent guide's example (docs/js-api.md, "Agents"; README.md, "Tool-calling agents") ----

GUIDE_QUESTION = "What is 15*7?"
GUIDE_TOOL = (
    "multiply",
    "Multiply two numbers",
    {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"],
    },
)
GUIDE_TURNS = [
    {
        "content": None,
        "tool_calls": [{"name": "multiply", "arguments": {"a": 15, "b": 7}}],
        "usage": {"prompt_tokens": 52, "completion_tokens": 18, "total_tokens": 70, "cost": 0.0002},
    },
    {
        "content": "15 * 7 = 105.",
        "usage": {"prompt_tokens": 80, "completion_tokens": 8, "total_tokens": 88, "cost": 0.0001},
    },
]


def _key_env(api_key: str | None) -> str | None:
    """The environment variable holding the key to record with (none: no key)."""
    if api_key is None:
        return None
    os.environ[KEY_ENV] = api_key
    return KEY_ENV


def _live(llm: LLMTestServer, name: str, api_key: str | None) -> CompletionModel:
    """The test server's model ``name``, with ``api_key`` if one is given."""
    return CompletionModel.openai_compatible(
        base_url=llm.base_url, model=name, api_key_env=_key_env(api_key), max_retries=1
    )


def _normalized(cassette: Cassette, base_url: str) -> dict[str, Any]:
    """The cassette's data with the server's address replaced by RECORDED_BASE_URL and the
    response headers that differ between recordings left out."""
    text = cassette.to_json().replace(base_url, RECORDED_BASE_URL)
    data: dict[str, Any] = json.loads(text)
    for exchange in data["exchanges"]:
        headers = exchange["response"].get("headers", {})
        for varying in ("date", "server"):  # the time, the recording Python's version
            headers.pop(varying, None)
    return data


async def record_summarizer(llm: LLMTestServer, api_key: str | None = None) -> dict[str, Any]:
    """The summarizer's one model call, recorded."""
    article = (ROOT / "web" / "article.txt").read_text(encoding="utf-8")
    name = llm.script("playground-summarizer", [{"content": SUMMARY}])
    cassette = Cassette()
    model = CompletionModel.record(_live(llm, name, api_key), cassette)
    await model.complete([ChatMessage.system(SUMMARIZER_PROMPT), ChatMessage.user(article)])
    return _normalized(cassette, llm.base_url)


def agent_tools(shopping: list[str]) -> list[Tool]:
    """The agent example's tools, as the page declares them (results the same JSON)."""

    def add(args: dict[str, Any]) -> dict[str, Any]:
        shopping.append(args["item"])
        return {"added": args["item"], "list": list(shopping)}

    return [
        Tool(*PANTRY_TOOL, lambda args: dict(PANTRY)),
        Tool(*ADD_TOOL, add, needs_approval=True),
    ]


async def record_agent(llm: LLMTestServer, api_key: str | None = None) -> dict[str, Any]:
    """The agent run twice into one cassette: the add approved, then rejected."""
    cassette = Cassette()
    for answer, approved in ((APPROVED_ANSWER, True), (REJECTED_ANSWER, False)):
        # The same model name both times (it is in every request); the last turn differs.
        name = llm.script("playground-agent", [*AGENT_TURNS, {"content": answer}])
        await run_agent(
            CompletionModel.record(_live(llm, name, api_key), cassette),
            [ChatMessage.user(AGENT_QUESTION)],
            agent_tools([]),
            system_prompt=AGENT_SYSTEM,
            approve=lambda tool, args, ok=approved: ok,
        )
    return _normalized(cassette, llm.base_url)


async def record_guide(llm: LLMTestServer, api_key: str | None = None) -> dict[str, Any]:
    """The guide's example: one multiply, then the answer."""
    cassette = Cassette()
    name = llm.script("guide", GUIDE_TURNS)
    await run_agent(
        CompletionModel.record(_live(llm, name, api_key), cassette),
        [ChatMessage.user(GUIDE_QUESTION)],
        [Tool(*GUIDE_TOOL, lambda args: {"result": args["a"] * args["b"]})],
        tool_concurrency=2,
        max_iterations=5,
    )
    return _normalized(cassette, llm.base_url)


async def record_all(api_key: str | None = None) -> dict[str, str]:
    """Every shipped cassette: file name -> JSON text (as written)."""
    with LLMTestServer() as llm:
        summarizer = await record_summarizer(llm, api_key)
        agent = await record_agent(llm, api_key)
        guide = await record_guide(llm, api_key)
    recorded = (("summarizer.json", summarizer), ("agent.json", agent), ("guide.json", guide))
    return {name: json.dumps(data, ensure_ascii=False, indent=1) + "\n" for name, data in recorded}


def main() -> None:
    CASSETTES.mkdir(exist_ok=True)
    for name, text in asyncio.run(record_all()).items():
        (CASSETTES / name).write_text(text, encoding="utf-8")
        print(f"wrote {(CASSETTES / name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
