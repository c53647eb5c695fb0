"""The playground's shipped cassettes (web/cassettes/): reproducible, current, keyless, replayable.

tests/python/playground_cassettes.py records them from the local test server; here they
are recorded again and compared byte for byte with what is shipped, recorded with a
distinctive key that must not appear in them, and replayed in CPython with the examples'
own requests (both endings of the agent's approval).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import playground_cassettes as pc
import pytest

from blazen_py import CassetteMismatchError, ChatMessage, CompletionModel, run_agent

KEY = "sk-playground-FAKE-7f3a9c1e5b2d4f6a8c0e"


def shipped(name: str) -> str:
    return (pc.CASSETTES / name).read_text(encoding="utf-8")


async def test_the_shipped_cassettes_are_what_the_script_records() -> None:
    fresh = await pc.record_all()
    assert sorted(fresh) == sorted(p.name for p in pc.CASSETTES.glob("*.json"))
    for name, text in fresh.items():
        assert shipped(name) == text, f"web/cassettes/{name} is stale: run python {Path(pc.__file__).name}"


async def test_a_key_used_while_recording_is_in_no_cassette() -> None:
    fresh = await pc.record_all(api_key=KEY)
    for name, text in fresh.items():
        assert KEY not in text, name
        assert "FAKE-7f3a" not in text, name
        assert "authorization" not in text.lower(), name
        assert "bearer" not in text.lower(), name
    for name in fresh:  # and what is shipped has no credential header either
        assert "authorization" not in shipped(name).lower()
    # the same requests either way: the key changes nothing that is kept
    assert fresh == await pc.record_all()


async def test_the_summarizer_replays_with_no_server() -> None:
    model = CompletionModel.replay(shipped("summarizer.json"))
    article = (pc.ROOT / "web" / "article.txt").read_text(encoding="utf-8")
    response = await model.complete([ChatMessage.system(pc.SUMMARIZER_PROMPT), ChatMessage.user(article)])
    assert response.content == pc.SUMMARY
    with pytest.raises(CassetteMismatchError, match="request 0"):
        await CompletionModel.replay(shipped("summarizer.json")).complete(
            [ChatMessage.system(pc.SUMMARIZER_PROMPT), ChatMessage.user("another text")]
        )


@pytest.mark.parametrize("approved, answer", [(True, pc.APPROVED_ANSWER), (False, pc.REJECTED_ANSWER)])
async def test_the_agent_replays_either_ending_of_the_approval(approved: bool, answer: str) -> None:
    shopping: list[str] = []
    asked: list[Any] = []

    def approve(tool: str, args: dict[str, Any]) -> bool:
        asked.append((tool, args))
        return approved

    result = await run_agent(
        CompletionModel.replay(shipped("agent.json")),
        [ChatMessage.user(pc.AGENT_QUESTION)],
        pc.agent_tools(shopping),
        system_prompt=pc.AGENT_SYSTEM,
        approve=approve,
    )
    assert result.content == answer
    assert result.iterations == 2
    assert asked == [("add_to_list", {"item": "milk"})]
    assert shopping == (["milk"] if approved else [])
    data = json.loads(shipped("agent.json"))
    assert data["base_url"] == pc.RECORDED_BASE_URL
    assert len(data["exchanges"]) == 6
