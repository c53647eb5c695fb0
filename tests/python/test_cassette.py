"""Recorded model calls: record against the local server, replay with no network.

Record a streamed and a whole completion and a whole agent run, then replay them with the
server stopped (nothing can reach it: a replay that tried would fail); a mismatching
request fails naming it; no key or auth header reaches a cassette, even from a provider
that echoes the key in its error; cassettes read back are hostile data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from llm_server import LLMTestServer

from blazen_py import Tool, run_agent
from blazen_py.errors import CassetteError, CassetteMismatchError
from blazen_py.llm import Cassette, ChatMessage, CompletionModel, ModelHTTPError
from blazen_py.llm._cassette import MAX_EXCHANGES

KEY = "sk-cassette-0123456789abcdef0123456789abcdef"

ADD = Tool(
    "add",
    "Add",
    {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"],
    },
    lambda args: args["a"] + args["b"],
)
TURNS = [
    {"content": None, "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]},
    {"content": "It is 5."},
]


@pytest.fixture
def llm() -> Iterator[LLMTestServer]:
    with LLMTestServer() as server:
        yield server


def keyed(llm: LLMTestServer, model: str, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> CompletionModel:
    monkeypatch.setenv("CASSETTE_TEST_KEY", KEY)
    return CompletionModel.openai_compatible(
        base_url=llm.base_url,
        model=model,
        api_key_env="CASSETTE_TEST_KEY",
        headers={"X-Api-Key": KEY, "X-Title": "tests"},
        **kwargs,
    )


async def record_session(llm: LLMTestServer, monkeypatch: pytest.MonkeyPatch) -> tuple[Cassette, list[Any]]:
    cassette = Cassette()
    model = CompletionModel.record(keyed(llm, llm.script("calc", TURNS), monkeypatch), cassette)
    out: list[Any] = []
    pieces: list[str] = []
    out.append((await model.complete([ChatMessage.user("hello")])).content)
    out.append((await model.stream([ChatMessage.user("hello")], lambda c: pieces.append(c.delta))).content)
    out.append(pieces)
    out.append((await run_agent(model, [ChatMessage.user("2+3?")], [ADD])).content)
    return cassette, out


async def test_record_then_replay_with_the_server_gone(
    llm: LLMTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette, recorded = await record_session(llm, monkeypatch)
    assert len(cassette) == 4
    assert recorded[3] == "It is 5."
    text = cassette.to_json()
    llm.stop()  # nothing answers at that address any more
    monkeypatch.delenv("CASSETTE_TEST_KEY")
    replayed = CompletionModel.replay(Cassette.from_json(text))
    pieces: list[str] = []
    assert (await replayed.complete([ChatMessage.user("hello")])).content == recorded[0]
    assert (
        await replayed.stream([ChatMessage.user("hello")], lambda c: pieces.append(c.delta))
    ).content == recorded[1]
    assert pieces == recorded[2]  # the same pieces, streamed again
    result = await run_agent(replayed, [ChatMessage.user("2+3?")], [ADD])
    assert result.content == "It is 5."
    assert replayed.transport.unused == 0  # type: ignore[attr-defined]


async def test_no_key_or_auth_header_reaches_a_cassette(
    llm: LLMTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette, _ = await record_session(llm, monkeypatch)
    # the attacker's case: a provider that echoes the bearer token in its error
    echo = CompletionModel.record(keyed(llm, "error-401", monkeypatch, max_retries=0), cassette)
    with pytest.raises(ModelHTTPError):
        await echo.complete([ChatMessage.user("x")])
    text = cassette.to_json()
    assert KEY not in text
    assert KEY[:20] not in text
    assert "authorization" not in text.lower()
    assert "x-api-key" not in text.lower()
    assert "***" in text  # the echoed key, replaced
    assert '"X-Title": "tests"' in text
    # and the server did get the key: recording does not change what is sent
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in llm.chat_requests())


async def test_a_mismatching_request_is_named(llm: LLMTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    cassette, _ = await record_session(llm, monkeypatch)
    replayed = CompletionModel.replay(cassette)
    await replayed.complete([ChatMessage.user("hello")])
    with pytest.raises(
        CassetteMismatchError, match=r"request 1 \(POST http://127\.0\.0\.1:\d+/v1/chat/completions\)"
    ) as caught:
        await replayed.complete([ChatMessage.user("goodbye")])
    assert caught.value.index == 1
    assert 'body.messages[0].content is "goodbye", the recording has "hello"' in str(caught.value)
    fresh = CompletionModel.replay(cassette)
    with pytest.raises(CassetteMismatchError, match=r"request 0 .* body\.temperature was not recorded"):
        await fresh.complete([ChatMessage.user("hello")], {"temperature": 1})
    other = CompletionModel.replay(cassette)
    await other.complete([ChatMessage.user("hello")])
    # the same request again: its one recording is used up (the streamed one differs)
    with pytest.raises(CassetteMismatchError, match=r"request 1 .* body\.stream is missing"):
        await other.complete([ChatMessage.user("hello")])


def _valid() -> dict[str, Any]:
    return {
        "format": "blazen-cassette",
        "version": 1,
        "model": "m",
        "base_url": "http://127.0.0.1:9/v1",
        "exchanges": [
            {
                "request": {
                    "method": "POST",
                    "url": "http://127.0.0.1:9/v1/chat/completions",
                    "headers": {},
                    "json": {},
                },
                "response": {"status": 200, "headers": {}, "chunks": [{"text": "{}"}]},
            }
        ],
    }


def _with(path: str, value: Any) -> dict[str, Any]:
    data = _valid()
    target: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last: Any = int(keys[-1]) if keys[-1].isdigit() else keys[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    "data, match",
    [
        ("not json", "not JSON"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),
        (json.dumps([]), "JSON object"),
        (_with("format", "vcr"), "not a cassette"),
        (_with("version", 2), "version 2"),
        (_with("model", 5), "model must be text"),
        (_with("exchanges", {}), "list of at most"),
        (_with("exchanges", [None] * (MAX_EXCHANGES + 1)), "list of at most"),
        (_with("exchanges.0", 7), "is not an object"),
        (_with("exchanges.0.request", _DELETE), "request and a response"),
        (_with("exchanges.0.request.method", "PO ST"), "method must be a word"),
        (_with("exchanges.0.request.url", None), "url must be text"),
        (_with("exchanges.0.request.headers", {"Authorization": "Bearer x"}), "would carry a credential"),
        (_with("exchanges.0.request.headers", {"X": 5}), "8 KiB"),
        (_with("exchanges.0.request.headers", {f"h{i}": "" for i in range(101)}), "at most 100"),
        (_with("exchanges.0.request.body", "x"), "one body at most"),
        (_with("exchanges.0.response.status", 99), "100 to 599"),
        (_with("exchanges.0.response.status", True), "100 to 599"),
        (_with("exchanges.0.response.chunks", "x"), "chunks must be a list"),
        (_with("exchanges.0.response.chunks", [{"text": 5}]), "body piece"),
        (_with("exchanges.0.response.chunks", [{"base64": "!!"}]), "base64 is malformed"),
        (_with("exchanges.0.response.chunks", [{"text": "a", "code": "x"}]), "body piece"),
        (_with("exchanges.0.response.streamed", "yes"), "true or false"),
        (42, "JSON text or a mapping"),
    ],
)
def test_hostile_cassettes_are_refused(data: Any, match: str) -> None:
    text = data if isinstance(data, (str, int)) else json.dumps(data)
    with pytest.raises(CassetteError, match=match):
        Cassette.from_json(text)  # type: ignore[arg-type]


def test_a_cassette_without_a_model_cannot_replay() -> None:
    with pytest.raises(CassetteError, match="names no model"):
        CompletionModel.replay(_with("model", None))
    assert isinstance(CompletionModel.replay(_valid()), CompletionModel)
    with pytest.raises(TypeError, match="CompletionModel and a Cassette"):
        CompletionModel.record("model", Cassette())  # type: ignore[arg-type]
