"""The model layer against a real OpenAI-compatible HTTP server on 127.0.0.1 (CPython).

Integration tests: real sockets, real chunked streams, real timeouts. The server
(tests/python/llm_server.py) is started once per module on a free port; each test starts
from a clean record of the requests it received. A second server, on another port (so
another origin), is where redirects point: it records whatever reaches it. The same model
code runs in Chromium in tests/browser/test_llm_browser.py. The model's logic (retries,
parsing, hostile answers and keys) is tested without a socket, through MockTransport, in
test_llm_mock.py and test_llm_hostile.py; those, like test_llm_portable.py, also run
inside Pyodide.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import time
import traceback
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llm_server import ARTICLE, PROVIDER_400_MESSAGE, LLMTestServer

from blazen_py import START_EVENT, STOP_EVENT, Workflow
from blazen_py._compat import IN_PYODIDE, TRANSPORT, TransportError, http_request, http_stream, patch_http
from blazen_py.errors import ModelError
from blazen_py.llm import (
    ChatMessage,
    CompletionModel,
    CompletionResponse,
    InvalidApiKeyError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRedirectError,
    ModelTimeoutError,
    SSEEvent,
    default_transport,
    parse_sse,
)

FAKE_KEY = "sk-or-v1-test-0123456789abcdef0123456789abcdef"
QUICK = {"retry_backoff": 0.01}


@pytest.fixture(scope="module")
def server() -> Iterator[LLMTestServer]:
    with LLMTestServer() as running:
        yield running


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[LLMTestServer]:
    """A second server: another port of 127.0.0.1, so another origin."""
    with LLMTestServer() as running:
        yield running


@pytest.fixture
def llm(server: LLMTestServer) -> LLMTestServer:
    """The server, with no requests recorded yet."""
    server.reset()
    return server


@pytest.fixture
def openrouter_env(llm: LLMTestServer, monkeypatch: pytest.MonkeyPatch) -> LLMTestServer:
    """OPENROUTER_API_KEY set to a fake key and OPENROUTER_BASE_URL to the local server."""
    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENROUTER_BASE_URL", llm.base_url)
    return llm


def local(server: LLMTestServer, model: str, **kwargs: Any) -> CompletionModel:
    return CompletionModel.openai_compatible(base_url=server.base_url, model=model, **kwargs)


async def ask(model: CompletionModel, method: str) -> CompletionResponse:
    """One call of ``model.complete`` or ``model.stream`` (chunks dropped)."""
    if method == "complete":
        return await model.complete([ChatMessage.user("x")])
    return await model.stream([ChatMessage.user("x")], lambda chunk: None)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_runs_on_the_native_seam() -> None:
    assert IN_PYODIDE is False
    assert type(TRANSPORT).__module__ == "blazen_py._compat._native"
    assert default_transport() is TRANSPORT
    assert patch_http() is False


# ------------------------------------------------------------------------- complete


async def test_complete_returns_content_model_usage_and_finish_reason(openrouter_env: LLMTestServer) -> None:
    model = CompletionModel.openrouter(model="echo-model")
    response = await model.complete(
        [ChatMessage.system("Summarize."), ChatMessage.user("the quick brown fox")],
        {"temperature": 0.2, "max_tokens": 50, "top_p": 0.9},
    )
    assert response.content == "Echo: the quick brown fox"
    assert response.model == "echo-model"
    assert response.finish_reason == "stop"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (
        5,
        5,
        10,
    )
    assert response.to_dict()["usage"] == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}

    [request] = openrouter_env.chat_requests()
    assert request.headers["authorization"] == "Bearer " + FAKE_KEY
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "model": "echo-model",
        "temperature": 0.2,
        "max_tokens": 50,
        "top_p": 0.9,
        "messages": [
            {"role": "system", "content": "Summarize."},
            {"role": "user", "content": "the quick brown fox"},
        ],
    }


async def test_openai_factory_and_compatible_server_without_key(
    llm: LLMTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
    assert (await CompletionModel.openai(model="gpt").complete([ChatMessage.user("a")])).content == "Echo: a"
    assert (await local(llm, "m").complete([ChatMessage.user("b")])).content == "Echo: b"
    first, second = llm.chat_requests()
    assert first.headers["authorization"] == "Bearer " + FAKE_KEY
    assert "authorization" not in second.headers


async def test_api_key_env_of_a_compatible_server(
    llm: LLMTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_LLM_KEY", "local-secret-value")
    model = local(llm, "m", api_key_env="LOCAL_LLM_KEY")
    await model.complete([ChatMessage.user("x")])
    assert llm.chat_requests()[0].headers["authorization"] == "Bearer local-secret-value"


async def test_concurrent_requests(llm: LLMTestServer) -> None:
    model = local(llm, "m")
    replies = await asyncio.gather(*(model.complete([ChatMessage.user(f"n{i}")]) for i in range(6)))
    assert [r.content for r in replies] == [f"Echo: n{i}" for i in range(6)]


async def test_requests_do_not_block_the_event_loop(llm: LLMTestServer) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    with pytest.raises(ModelTimeoutError):
        await local(llm, "slow", timeout=0.4).complete([ChatMessage.user("x")])
    task.cancel()
    assert ticks >= 15, ticks


# --------------------------------------------------------------------------- stream


async def test_stream_delivers_chunks_as_they_arrive(llm: LLMTestServer) -> None:
    arrivals: list[tuple[float, str]] = []
    response = await local(llm, "slow-stream").stream(
        [ChatMessage.user("one two three four")],
        lambda chunk: arrivals.append((time.monotonic(), chunk.delta)),
    )
    assert [delta for _, delta in arrivals] == ["Echo:", " one", " two", " three", " four"]
    assert response.content == "Echo: one two three four"
    assert (response.finish_reason, response.model, response.usage) == ("stop", "slow-stream", None)
    finished = llm.stream_finished_at["slow-stream"]
    # the first piece was handed over long before the server finished sending
    assert finished - arrivals[0][0] > 0.4, (finished, arrivals)

    [request] = llm.chat_requests()
    assert request.json["stream"] is True
    assert request.headers["accept"] == "text/event-stream"


@pytest.mark.parametrize("scenario", ["tiny-chunks", "no-done", "json-for-stream"])
async def test_stream_variants(llm: LLMTestServer, scenario: str) -> None:
    text = "héllo wörld ✓ 日本語"
    pieces: list[str] = []
    response = await local(llm, scenario).stream([ChatMessage.user(text)], lambda c: pieces.append(str(c)))
    assert response.content == "Echo: " + text
    assert "".join(pieces) == response.content
    assert response.finish_reason == "stop"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("method", ["complete", "stream"])
async def test_http_400_carries_status_and_provider_message(llm: LLMTestServer, method: str) -> None:
    model = local(llm, "error-400")
    with pytest.raises(ModelHTTPError) as info:
        await ask(model, method)
    error = info.value
    assert error.status == 400
    assert error.provider_message == PROVIDER_400_MESSAGE
    assert PROVIDER_400_MESSAGE in str(error)
    assert "HTTP 400" in str(error)
    assert error.attempts == 1
    assert len(llm.chat_requests()) == 1  # a 400 is not retried


async def test_503_is_retried_in_a_stream(llm: LLMTestServer) -> None:
    pieces: list[str] = []
    response = await local(llm, "flaky-503", **QUICK).stream(
        [ChatMessage.user("x")], lambda c: pieces.append(c.delta)
    )
    assert response.content == "Echo: x" == "".join(pieces)
    assert len(llm.chat_requests()) == 2


@pytest.mark.parametrize("method", ["complete", "stream"])
async def test_slow_server_times_out_without_retrying(llm: LLMTestServer, method: str) -> None:
    model = local(llm, "slow", timeout=0.3)
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError) as info:
        await ask(model, method)
    assert time.monotonic() - started < 1.5
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, ModelError)
    assert info.value.status is None
    assert len(llm.chat_requests()) == 1


async def test_stream_that_stalls_times_out(llm: LLMTestServer) -> None:
    pieces: list[str] = []
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError, match="stalled"):
        await local(llm, "stall-stream", timeout=0.3).stream(
            [ChatMessage.user("x y")], lambda c: pieces.append(c.delta)
        )
    assert time.monotonic() - started < 1.5
    assert pieces == ["Echo:"]


async def test_connection_refused_is_an_error_not_a_hang() -> None:
    model = CompletionModel.openai_compatible(
        base_url=f"http://127.0.0.1:{closed_port()}/v1", model="m", **QUICK
    )
    started = time.monotonic()
    with pytest.raises(ModelConnectionError) as info:
        await model.complete([ChatMessage.user("x")])
    assert time.monotonic() - started < 2
    assert info.value.status is None
    assert isinstance(info.value, ConnectionError)
    assert "after 3 attempts" in str(info.value)
    with pytest.raises(ModelConnectionError):
        await model.stream([ChatMessage.user("x")], lambda c: None)


# ---------------------------------------------------------------------- API key leaks


async def test_api_key_never_appears_in_errors_or_logs(
    openrouter_env: LLMTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ModelHTTPError) as info:
        # the server echoes the bearer token in its error message, as some providers do
        await CompletionModel.openrouter(model="error-401").complete([ChatMessage.user("x")])
    error = info.value
    assert error.status == 401
    assert "Incorrect API key provided: ***" in str(error)
    for model_name in ("always-500", "stream-error", "slow"):
        model = CompletionModel.openrouter(model=model_name, timeout=0.3, **QUICK)
        with pytest.raises(ModelError) as other:
            await model.stream([ChatMessage.user("x")], lambda c: None)
        texts = [str(other.value), repr(other.value), repr(other.value.__cause__), repr(model)]
        assert all(FAKE_KEY not in text for text in texts)
    texts = [str(error), repr(error), error.provider_message, repr(error.args), repr(vars(error))]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records, "expected debug log lines"
    assert all(FAKE_KEY not in text for text in texts)
    assert FAKE_KEY not in caplog.text


async def test_api_key_never_reaches_stream_events_results_or_snapshots(
    openrouter_env: LLMTestServer,
) -> None:
    wf = Workflow("keyed")

    async def ask(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        model = CompletionModel.openrouter(model="m")
        ctx.session.set("model", model)
        ctx.set("model_repr", repr(model))
        response = await model.complete([ChatMessage.user(event["q"])])
        return {"type": STOP_EVENT, "result": {"answer": response.to_dict(), "model": repr(model)}}

    wf.add_step("ask", [START_EVENT], ask)
    handler = await wf.run_with_handler({"q": "hello"})
    events: list[Any] = []
    await handler.stream_events(events.append)
    result = await handler.result()
    snapshot = await handler.snapshot()
    assert result.data["answer"]["content"] == "Echo: hello"
    dumped = json.dumps([repr(e) for e in events]) + json.dumps(result.data) + json.dumps(snapshot)
    assert "Echo: hello" in dumped
    assert FAKE_KEY not in dumped


@pytest.mark.parametrize(
    "name,key", [("newline", "sk-Qz7Xj4Wq\nVk9Lp2Rm"), ("non-Latin-1", "sk-Qz7Xj4Wq\u2019Vk9Lp2Rm")]
)
@pytest.mark.parametrize("method", ["complete", "stream"])
async def test_a_hostile_key_never_leaves_the_process(
    llm: LLMTestServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    name: str,
    key: str,
    method: str,
) -> None:
    """Before: urllib refused the header at request time, quoting it, key and all."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENROUTER_API_KEY", key)
    monkeypatch.setenv("OPENROUTER_BASE_URL", llm.base_url)
    with pytest.raises(InvalidApiKeyError) as info:
        await ask(CompletionModel.openrouter(), method)
    text = "".join(traceback.format_exception(info.value)) + repr(info.value) + caplog.text
    assert "OPENROUTER_API_KEY" in text
    for part in ("Qz7X", "j4Wq", "Vk9L", "p2Rm"):
        assert part not in text
    assert llm.requests == []


# ------------------------------------------------------------------------ redirects


@pytest.fixture
def two_origins(llm: LLMTestServer, elsewhere: LLMTestServer) -> tuple[LLMTestServer, LLMTestServer]:
    """The model server, whose redirects point at the other server (another origin)."""
    elsewhere.reset()
    llm.redirect_to = elsewhere.url
    return llm, elsewhere


def test_plain_urllib_forwards_the_key_to_another_origin(
    two_origins: tuple[LLMTestServer, LLMTestServer],
) -> None:
    """The threat, on this machine: urllib's default handler re-sends Authorization."""
    first, second = two_origins
    request = urllib.request.Request(
        first.url + "/redirect/307", headers={"Authorization": "Bearer " + FAKE_KEY}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read().decode() == ARTICLE
    [leaked] = second.requests
    assert leaked.headers["authorization"] == "Bearer " + FAKE_KEY


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["complete", "stream"])
async def test_a_model_call_never_follows_a_redirect(
    two_origins: tuple[LLMTestServer, LLMTestServer],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    method: str,
) -> None:
    first, second = two_origins
    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    model = CompletionModel.openrouter(base_url=first.base_url, model=f"redirect-{status}", max_retries=2)
    with pytest.raises(ModelRedirectError) as info:
        await ask(model, method)
    assert (info.value.status, info.value.location) == (status, second.url + "/v1/chat/completions")
    assert "never follow redirects" in str(info.value)
    [request] = first.chat_requests()  # one request, not retried
    assert request.headers["authorization"] == "Bearer " + FAKE_KEY
    assert second.requests == []  # neither the key nor the conversation went there


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_http_request_follows_but_credentials_stay_with_their_origin(
    two_origins: tuple[LLMTestServer, LLMTestServer], status: int
) -> None:
    first, second = two_origins
    secrets = {"Authorization": "Bearer " + FAKE_KEY, "X-Api-Key": FAKE_KEY, "Cookie": "session=" + FAKE_KEY}
    response = await http_request(
        "GET", f"{first.url}/redirect/{status}", headers={**secrets, "X-Title": "kept"}, timeout=5
    )
    assert (response.status, response.text(), response.url) == (200, ARTICLE, second.url + "/article")
    [arrived] = second.requests
    assert arrived.path == "/article"
    assert arrived.headers["x-title"] == "kept"
    assert not {"authorization", "x-api-key", "cookie"} & set(arrived.headers)
    assert FAKE_KEY not in repr(arrived.headers)

    # A redirect within the origin keeps them.
    response = await http_request("GET", f"{first.url}/redirect-here/{status}", headers=secrets, timeout=5)
    assert response.text() == ARTICLE
    assert first.requests[-1].path == "/article"
    assert first.requests[-1].headers["authorization"] == "Bearer " + FAKE_KEY


# -------------------------------------------------------------- the seam, CORS, article


async def test_http_request_get_article(llm: LLMTestServer) -> None:
    response = await http_request("GET", llm.url + "/article", timeout=5)
    assert response.ok
    assert response.status == 200
    assert response.text() == ARTICLE
    assert response.header("Content-Type") == "text/plain; charset=utf-8"
    missing = await http_request("GET", llm.url + "/nope")
    assert missing.status == 404
    assert not missing.ok
    assert missing.json()["error"]["message"] == "no route /nope"


async def test_http_stream_reads_the_body_in_pieces(llm: LLMTestServer) -> None:
    body = json.dumps(
        {"model": "slow-stream", "messages": [{"role": "user", "content": "a b"}], "stream": True}
    )
    async with http_stream(
        "POST", llm.base_url + "/chat/completions", body=body.encode(), timeout=5
    ) as response:
        assert response.status == 200
        assert response.header("content-type", "").startswith("text/event-stream")
        pieces = [piece async for piece in response]
    assert len(pieces) >= 4
    events = parse_sse(pieces)
    assert events[-1] == SSEEvent("[DONE]")


async def test_http_request_connection_refused() -> None:
    with pytest.raises(TransportError, match="refused"):
        await http_request("GET", f"http://127.0.0.1:{closed_port()}/", timeout=5)


def test_cors_headers_and_preflight(llm: LLMTestServer) -> None:
    preflight = urllib.request.Request(
        llm.base_url + "/chat/completions",
        method="OPTIONS",
        headers={
            "Origin": "http://127.0.0.1:1",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    with urllib.request.urlopen(preflight, timeout=5) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    with urllib.request.urlopen(llm.url + "/article", timeout=5) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]


# --------------------------------------------------------------- the spec's summarizer


async def test_spec_summarizer_workflow(openrouter_env: LLMTestServer) -> None:
    """The spec's summarizer in Python: fetch an article, then summarize it with OpenRouter."""
    wf = Workflow("summarizer")

    async def fetch_text(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        ctx.set("source", event["url"])
        text = (await http_request("GET", event["url"])).text()
        return {"type": "SummarizeEvent", "text": text}

    async def summarize(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        model = CompletionModel.openrouter()
        response = await model.complete(
            [
                ChatMessage.system("Summarize the following text in 2-3 sentences."),
                ChatMessage.user(event["text"]),
            ]
        )
        return {"type": STOP_EVENT, "result": {"summary": response.content}}

    wf.add_step("fetch_text", [START_EVENT], fetch_text)
    wf.add_step("summarize", ["SummarizeEvent"], summarize)
    result = await wf.run({"url": openrouter_env.url + "/article"})
    assert result.data["summary"].startswith("Echo: WebAssembly lets Python run in the browser.")
    [request] = openrouter_env.chat_requests()
    assert request.json["model"] == "openai/gpt-4o-mini"
    assert request.json["messages"][0] == {
        "role": "system",
        "content": "Summarize the following text in 2-3 sentences.",
    }
    assert request.json["messages"][1] == {"role": "user", "content": ARTICLE}


# ------------------------------------------------------------ SSE parser, property-based

_data_line = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20
)


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(st.lists(_data_line, min_size=1, max_size=3), min_size=1, max_size=5),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_sse_parser_any_chunking(events: list[list[str]], ending: str, cuts: list[int]) -> None:
    text = ""
    for lines in events:
        text += ": comment" + ending
        text += "".join(f"data: {line}{ending}" for line in lines) + ending
    raw = text.encode("utf-8")
    points = sorted({min(c, len(raw)) for c in cuts} | {0, len(raw)})
    pieces = [raw[a:b] for a, b in itertools.pairwise(points)]
    assert [e.data for e in parse_sse(pieces)] == ["\n".join(lines) for lines in events]
