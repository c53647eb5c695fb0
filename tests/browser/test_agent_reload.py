"""A durable agent (ctx.runAgent) survives a page reload in Chromium (real IndexedDB).

tests/browser/pages/agent.js runs a 4-turn agent against the local server and resumes its
checkpoint on load. Reloaded while the third turn's (slow) request is under way: after
resume the server has received each completed turn's request exactly once (the turn
that was under way is asked again), and no tool handler ran twice. Reloaded while a tool
waits for approval: the request is there again after the reload, and approving it runs
the tool once.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from llm_server import LLMTestServer


def call(name: str, arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


FOUR_TURNS = [
    {"content": None, "tool_calls": [call("add", {"a": 1, "b": 2})]},
    {"content": None, "tool_calls": [call("add", {"a": 3, "b": 4})]},
    {"content": None, "tool_calls": [call("multiply", {"a": 3, "b": 7})], "delay": 4.0},
    {"content": "twenty-one"},
]
APPROVAL = [
    {"content": None, "tool_calls": [call("add", {"a": 1, "b": 1})]},
    {"content": None, "tool_calls": [call("send_email", {"to": "ada@example.com"})]},
    {"content": "sent"},
]


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMTestServer]:
    with LLMTestServer() as server:
        yield server


def turns_received(llm: LLMTestServer) -> list[int]:
    return [sum(1 for m in r.json["messages"] if m["role"] == "assistant") for r in llm.chat_requests()]


def wait_for(check: Any, what: str, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def open_page(browser: Any, origin: str, llm: LLMTestServer, name: str, turns: list[dict[str, Any]]) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    url = (
        origin
        + "_test/agent.html?"
        + urlencode({"base": llm.base_url, "model": llm.script(name, turns), "wf": name})
    )
    page.goto(url)
    page.wait_for_function(
        "document.body.dataset.state === 'running' || document.body.dataset.state === 'done'"
    )
    return page


def ran(page: Any) -> list[Any]:
    return json.loads(page.evaluate("localStorage.getItem('ran') ?? '[]'"))


def test_reload_mid_agent_runs_no_completed_turn_or_tool_again(
    browser: Any, origin: str, llm: LLMTestServer
) -> None:
    llm.reset()
    page = open_page(browser, origin, llm, "reload-agent", FOUR_TURNS)
    wait_for(lambda: turns_received(llm) == [0, 1, 2], "the third turn's request")
    time.sleep(0.3)  # the checkpoint of the second tool result is written by now
    assert [r[0] for r in ran(page)] == ["add", "add"]
    page.reload()
    page.wait_for_function("document.body.dataset.state === 'done'", timeout=120_000)
    result = json.loads(page.evaluate("localStorage.getItem('result')"))
    assert result == {"content": "twenty-one", "iterations": 3}
    received = turns_received(llm)
    for turn in (0, 1, 3):
        assert received.count(turn) == 1, received
    assert received.count(2) in (1, 2), received  # the turn under way at the reload, asked again
    assert ran(page) == [["add", {"a": 1, "b": 2}], ["add", {"a": 3, "b": 4}], ["multiply", {"a": 3, "b": 7}]]
    page.context.close()


def test_reload_while_a_tool_awaits_approval(browser: Any, origin: str, llm: LLMTestServer) -> None:
    llm.reset()
    page = open_page(browser, origin, llm, "reload-approval", APPROVAL)
    first = wait_for(lambda: page.evaluate("window.__requests[0] ?? null"), "the approval request")
    assert first["metadata"]["tool"] == "send_email"
    assert first["metadata"]["arguments"] == {"to": "ada@example.com"}
    time.sleep(0.3)
    page.reload()
    page.wait_for_function("document.body.dataset.state === 'running'")
    again = wait_for(lambda: page.evaluate("window.__requests[0] ?? null"), "the request after the reload")
    assert again["id"] == first["id"]
    assert ran(page) == [["add", {"a": 1, "b": 1}]]  # nothing sent before approval
    page.evaluate("(id) => window.__handler.respondToInput(id, true)", again["id"])
    page.wait_for_function("document.body.dataset.state === 'done'", timeout=120_000)
    assert json.loads(page.evaluate("localStorage.getItem('result')"))["content"] == "sent"
    assert ran(page) == [["add", {"a": 1, "b": 1}], ["send_email", {"to": "ada@example.com"}]]
    assert turns_received(llm) == [0, 1, 2]  # each turn asked once
    page.context.close()
