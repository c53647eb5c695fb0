"""The playground's model examples on a first visit: no endpoint set, replayed from the
cassettes shipped in dist/cassettes/ (tests/python/playground_cassettes.py records them).

A fresh browser context with no model server anywhere: the page says it replays a
recording and how to set a real endpoint; the summarizer and the agent run to "done"
(never a red "Failed"); the agent's add_to_list waits for Approve / Reject in the page
and its turns and tool calls show in the timeline. Every request the page makes is
watched through Playwright's routing: only GETs of this site's own static files are let
through, anything else is aborted and fails the test.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
import playground_cassettes as pc

BOOT_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 60_000


class FirstVisit:
    def __init__(self, page: Any, origin: str) -> None:
        self.page = page
        self.origin = urlsplit(origin)[:2]
        self.allowed: list[tuple[str, str]] = []
        self.refused: list[tuple[str, str]] = []
        self.errors: list[str] = []

    def route(self, route: Any) -> None:
        request = route.request
        url = request.url
        local = url.startswith(("data:", "blob:")) or urlsplit(url)[:2] == self.origin
        if local and request.method == "GET":
            self.allowed.append((request.method, url))
            route.continue_()
        else:
            self.refused.append((request.method, url))
            route.abort()

    def cell(self, cell_id: str) -> Any:
        return self.page.locator(f"#cell-{cell_id}")

    def wait_cell(self, cell_id: str) -> str:
        self.page.wait_for_function(
            "(id) => document.getElementById(id).dataset.status !== 'running'",
            arg=f"cell-{cell_id}",
            timeout=RUN_TIMEOUT_MS,
        )
        return str(self.cell(cell_id).get_attribute("data-status"))

    def output(self, cell_id: str) -> str:
        return str(self.cell(cell_id).locator("pre.output").text_content())

    def items(self, cell_id: str) -> list[str]:
        return [str(t) for t in self.cell(cell_id).locator("ol.items .type").all_text_contents()]


@pytest.fixture(scope="module")
def visit(browser: Any, base_url: str) -> Iterator[FirstVisit]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    v = FirstVisit(page, base_url)
    context.route("**/*", v.route)
    page.on("console", lambda msg: msg.type == "error" and v.errors.append(msg.text))
    page.on("pageerror", lambda error: v.errors.append(f"uncaught: {error}"))
    page.goto(base_url, wait_until="domcontentloaded")
    page.wait_for_function(
        "() => ['ready', 'error'].includes(document.body.dataset.state)", timeout=BOOT_TIMEOUT_MS
    )
    assert page.evaluate("document.body.dataset.state") == "ready", page.inner_text("#status")
    yield v
    context.close()


def test_the_page_says_it_replays_and_how_to_use_a_real_endpoint(visit: FirstVisit) -> None:
    page = visit.page
    assert page.input_value("#base-url") == ""
    mode = page.locator("#endpoint-mode")
    assert mode.get_attribute("data-mode") == "replay"
    text = str(mode.text_content())
    assert "replay recordings shipped with this page" in text
    assert "nothing leaves the page" in text
    assert "enter the Base URL" in text
    for cell_id in ("summarizer", "agent"):
        assert "replays a recording" in str(visit.cell(cell_id).locator(".needs").text_content())
    page.fill("#base-url", "http://127.0.0.1:9/v1")  # typing an endpoint says it is used
    assert mode.get_attribute("data-mode") == "live"
    assert "call http://127.0.0.1:9/v1" in str(mode.text_content())
    page.fill("#base-url", "")
    assert mode.get_attribute("data-mode") == "replay"


def test_the_summarizer_runs_from_the_cassette(visit: FirstVisit) -> None:
    visit.cell("summarizer").locator("button.run").click()
    assert visit.wait_cell("summarizer") == "done", visit.output("summarizer")
    output = visit.output("summarizer")
    assert "replaying a recorded answer" in output
    assert pc.SUMMARY in output
    assert visit.items("summarizer") == ["StartEvent", "SummarizeEvent", "StopEvent"]
    assert "Failed" not in str(visit.cell("summarizer").locator(".cell-status").text_content())


def test_the_agent_asks_before_its_tool_runs_then_answers(visit: FirstVisit) -> None:
    cell = visit.cell("agent")
    cell.locator("button.run").click()
    ask = cell.locator(".ask")
    ask.wait_for(timeout=RUN_TIMEOUT_MS)
    prompt = str(ask.locator(".prompt").text_content())
    assert prompt == 'The agent wants to call add_to_list({"item":"milk"}). Allow it?'
    assert cell.get_attribute("data-status") == "running"  # waiting for the answer
    assert "Shopping list" not in visit.output("agent")  # the tool has not run
    ask.get_by_role("button", name="Approve").click()
    assert visit.wait_cell("agent") == "done", visit.output("agent")
    output = visit.output("agent")
    assert "replaying recorded answers" in output
    assert output.count("Shopping list: milk") == 1  # the approved tool ran once
    assert pc.APPROVED_ANSWER in output
    assert '"shopping": [\n    "milk"\n  ]' in output
    items = visit.items("agent")
    for kind in ("AgentTurn", "ToolCall", "ToolResult", "InputRequested", "StopEvent"):
        assert any(kind in item for item in items), (kind, items)
    assert sum("AgentTurn" in item for item in items) == 3
    spans = cell.locator("svg.timeline rect.span").evaluate_all("rs => rs.map(r => r.dataset.step)")
    assert "agent" in spans


def test_rejecting_the_tool_call_is_told_to_the_model(visit: FirstVisit) -> None:
    cell = visit.cell("agent")
    cell.locator("button.run").click()
    ask = cell.locator(".ask")
    ask.wait_for(timeout=RUN_TIMEOUT_MS)
    ask.get_by_role("button", name="Reject").click()
    assert visit.wait_cell("agent") == "done", visit.output("agent")
    output = visit.output("agent")
    assert pc.REJECTED_ANSWER in output
    assert "Shopping list" not in output  # the rejected tool never ran


def test_model_output_is_text_and_nothing_left_the_page(visit: FirstVisit) -> None:
    for cell_id in ("summarizer", "agent"):
        tags = visit.cell(cell_id).locator("pre.output *").evaluate_all("ns => ns.map(n => n.tagName)")
        assert set(tags) <= {"SPAN"}, tags
    assert visit.refused == []
    fetched = [url for _, url in visit.allowed]
    assert sum(url.endswith("/cassettes/summarizer.json") for url in fetched) == 1
    assert sum(url.endswith("/cassettes/agent.json") for url in fetched) == 2
    assert visit.errors == []
