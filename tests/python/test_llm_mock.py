"""CompletionModel's logic through MockTransport: no socket, no server.

What a request carries, how answers and streams are read, retries and their waits, error
statuses, timeouts, and the transport protocol itself (with a recording and a replaying
wrapper written here, to show that such wrappers need nothing more than the protocol).
The same behaviours over real HTTP are in test_llm.py (CPython) and
tests/browser/test_llm_browser.py (Chromium).

PORTABLE: run on CPython and, by tests/pyodide, inside Pyodide in Node and Chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from llm_mocks import (
    BASE_URL,
    CHAT_URL,
    answers,
    ask,
    captured_logs,
    chunk_event,
    completion,
    env,
    error_response,
    json_response,
    mock_model,
    sse_response,
    sse_text,
)

from blazen_py import START_EVENT, STOP_EVENT, Workflow
from blazen_py.errors import ModelError
from blazen_py.llm import (
    ChatMessage,
    CompletionChunk,
    CompletionModel,
    HttpRequest,
    HttpResponse,
    MockTransport,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    RateLimitError,
    StreamingHttpResponse,
    Transport,
    TransportError,
    TransportTimeoutError,
    default_transport,
)

PORTABLE = True

FAKE_KEY = "sk-or-v1-mock-0123456789abcdef0123456789abcdef"
USER = [ChatMessage.user("x")]


# --------------------------------------------------------------------------- requests


async def test_complete_sends_the_openai_request_and_reads_the_answer() -> None:
    transport = MockTransport(answers(json_response(completion("Echo: fox", model="echo-model"))))
    with env(OPENROUTER_API_KEY=FAKE_KEY, OPENROUTER_BASE_URL=BASE_URL):
        model = CompletionModel.openrouter(model="echo-model").with_transport(transport)
    response = await model.complete(
        [ChatMessage.system("Summarize."), ChatMessage.user("the quick brown fox")],
        {"temperature": 0.2, "max_tokens": 50},
    )
    assert (response.content, response.model, response.finish_reason, response.id) == (
        "Echo: fox",
        "echo-model",
        "stop",
        "chatcmpl-mock",
    )
    assert response.usage is not None
    assert response.usage.to_dict() == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    [request] = transport.requests
    assert (request.method, request.url) == ("POST", CHAT_URL)
    assert request.header("authorization") == "Bearer " + FAKE_KEY
    assert request.header("content-type") == "application/json"
    assert request.header("accept") == "application/json"
    assert request.follow_redirects is False
    assert request.max_body_bytes == model.max_response_bytes
    assert json.loads(request.body or b"") == {
        "model": "echo-model",
        "temperature": 0.2,
        "max_tokens": 50,
        "messages": [
            {"role": "system", "content": "Summarize."},
            {"role": "user", "content": "the quick brown fox"},
        ],
    }


async def test_default_options_and_per_call_overrides() -> None:
    model, transport = mock_model(json_response(completion()), options={"temperature": 0.1, "seed": 7})
    await model.complete([{"role": "user", "content": "x"}], {"temperature": 0.9, "model": "override"})
    body = json.loads(transport.requests[0].body or b"")
    assert (body["temperature"], body["seed"], body["model"]) == (0.9, 7, "override")


async def test_a_compatible_server_gets_no_key_unless_asked() -> None:
    model, transport = mock_model(json_response(completion()))
    await model.complete(USER)
    assert transport.requests[0].header("authorization") is None
    with env(LOCAL_LLM_KEY="local-secret-value"):
        keyed, keyed_transport = mock_model(json_response(completion()), api_key_env="LOCAL_LLM_KEY")
    await keyed.complete(USER)
    assert keyed_transport.requests[0].header("authorization") == "Bearer local-secret-value"


async def test_the_key_replaces_an_authorization_header_given_by_hand() -> None:
    with env(LOCAL_LLM_KEY="the-real-key"):
        model, transport = mock_model(
            json_response(completion()),
            api_key_env="LOCAL_LLM_KEY",
            headers={"authorization": "Bearer stale"},
        )
    await model.complete(USER)
    [request] = transport.requests
    assert [k for k in request.headers if k.lower() == "authorization"] == ["Authorization"]
    assert request.header("authorization") == "Bearer the-real-key"


async def test_concurrent_calls_share_one_model() -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        text = json.loads(request.body or b"")["messages"][0]["content"]
        return json_response(completion("Echo: " + text))

    model = CompletionModel(model="m", base_url=BASE_URL, transport=MockTransport(handler))
    replies = await asyncio.gather(*(model.complete([ChatMessage.user(f"n{i}")]) for i in range(6)))
    assert [r.content for r in replies] == [f"Echo: n{i}" for i in range(6)]


async def test_content_as_a_list_of_parts_null_and_legacy_text() -> None:
    parts = [
        {"type": "text", "text": "a"},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": "b"},
    ]
    legacy = {"choices": [{"text": "old style", "finish_reason": None}]}
    model, _ = mock_model(
        json_response(completion(parts)),
        json_response(completion(None, usage=None, error=None)),
        json_response(legacy),
    )
    assert (await model.complete(USER)).content == "ab"
    empty = await model.complete(USER)
    assert (empty.content, empty.usage) == ("", None)
    old = await model.complete(USER)
    assert (old.content, old.model, old.finish_reason, old.id) == ("old style", "m", None, None)


# ----------------------------------------------------------------------------- stream


async def test_stream_hands_over_each_piece_in_order() -> None:
    model, transport = mock_model(lambda r: sse_response([sse_text("Echo:", " one", " two").encode()]))
    chunks: list[CompletionChunk] = []
    response = await model.stream(USER, chunks.append)
    assert chunks == [CompletionChunk("Echo:", 0), CompletionChunk(" one", 1), CompletionChunk(" two", 2)]
    assert (response.content, response.finish_reason, response.model, response.usage) == (
        "Echo: one two",
        "stop",
        "m",
        None,
    )
    [request] = transport.requests
    assert json.loads(request.body or b"")["stream"] is True
    assert request.header("accept") == "text/event-stream"


async def test_stream_pieces_arrive_before_the_stream_ends() -> None:
    seen_when_second_sent: list[int] = []
    got: list[str] = []

    async def body() -> AsyncIterator[bytes]:
        yield chunk_event("first").encode()
        await asyncio.sleep(0.05)
        seen_when_second_sent.append(len(got))
        yield chunk_event(" second").encode() + b"data: [DONE]\n\n"

    model, _ = mock_model(lambda r: sse_response(body()))
    await model.stream(USER, lambda chunk: got.append(chunk.delta))
    assert seen_when_second_sent == [1]
    assert got == ["first", " second"]


async def test_stream_with_an_async_callback_and_usage() -> None:
    usage = {"id": "chatcmpl-mock", "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 3}}
    text = sse_text("Echo:", " a", " b", done=False) + "data: " + json.dumps(usage) + "\n\ndata: [DONE]\n\n"
    model, _ = mock_model(lambda r: sse_response([text.encode()]))
    chunks: list[CompletionChunk] = []

    async def on_chunk(chunk: CompletionChunk) -> None:
        await asyncio.sleep(0)
        chunks.append(chunk)

    response = await model.stream(USER, on_chunk, {"stream_options": {"include_usage": True}})
    assert [c.delta for c in chunks] == ["Echo:", " a", " b"]
    assert response.usage is not None
    assert response.usage.total_tokens == 5


@pytest.mark.parametrize("size", [1, 2, 5, 13])
async def test_stream_split_anywhere_with_crlf_comments_and_multiline_events(size: int) -> None:
    text = ": a comment first\n\n" + chunk_event("")
    first = chunk_event("héllo wörld")[len("data: ") :].strip()
    cut = first.index(", ") + 1  # two data: lines, joined with "\n": still valid JSON
    text += "data: " + first[:cut] + "\ndata:" + first[cut:] + "\n\n"
    text += (
        ": keep-alive\n\n" + chunk_event(" ✓ 日本語") + chunk_event(finish_reason="stop") + "data: [DONE]\n\n"
    )
    raw = text.replace("\n", "\r\n").encode()
    model, _ = mock_model(lambda r: sse_response([raw[i : i + size] for i in range(0, len(raw), size)]))
    pieces: list[str] = []
    response = await model.stream(USER, lambda c: pieces.append(str(c)))
    assert response.content == "héllo wörld ✓ 日本語" == "".join(pieces)
    assert response.finish_reason == "stop"


async def test_stream_without_done_and_a_server_that_answers_json() -> None:
    model, _ = mock_model(
        lambda r: sse_response([sse_text("a", "b", done=False).encode()]),
        json_response(completion("whole answer")),
    )
    assert (await model.stream(USER, lambda c: None)).content == "ab"
    pieces: list[str] = []
    response = await model.stream(USER, lambda c: pieces.append(c.delta))
    assert response.content == "whole answer"
    assert pieces == ["whole answer"]


async def test_nothing_after_done_is_read() -> None:
    reads = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal reads
        for piece in (sse_text("a").encode(), b"data: not json at all\n\n", b"more"):
            reads += 1
            yield piece

    model, _ = mock_model(lambda r: sse_response(body()))
    assert (await model.stream(USER, lambda c: None)).content == "a"
    assert reads == 1


async def test_stream_error_event_raises_with_its_code() -> None:
    error = b'data: {"error": {"message": "the provider fell over mid-stream", "code": 502}}\n\n'
    model, _ = mock_model(lambda r: sse_response([chunk_event("Echo:").encode(), error]))
    pieces: list[str] = []
    with pytest.raises(ModelError, match="fell over mid-stream") as info:
        await model.stream(USER, lambda c: pieces.append(c.delta))
    assert info.value.status == 502
    assert pieces == ["Echo:"]


async def test_an_error_event_type_without_json() -> None:
    model, _ = mock_model(lambda r: sse_response([b"event: error\ndata: overloaded, try later\n\n"]))
    with pytest.raises(ModelError, match="overloaded, try later") as info:
        await model.stream(USER, lambda c: None)
    assert info.value.status is None


async def test_a_stream_with_no_event_at_all() -> None:
    model, _ = mock_model(lambda r: sse_response([b": only comments\n\n"]))
    with pytest.raises(ModelError, match="without sending any event"):
        await model.stream(USER, lambda c: None)


async def test_on_chunk_exception_propagates_and_closes_the_stream() -> None:
    closed = False

    async def body() -> AsyncIterator[bytes]:
        nonlocal closed
        try:
            yield chunk_event("x").encode()
            yield chunk_event("y").encode()
        finally:
            closed = True

    def on_chunk(chunk: CompletionChunk) -> None:
        raise KeyError("stop here")

    model, _ = mock_model(lambda r: sse_response(body()), json_response(completion("ok")))
    with pytest.raises(KeyError, match="stop here"):
        await model.stream(USER, on_chunk)
    assert closed
    assert (await model.complete(USER)).content == "ok"  # still usable


# ----------------------------------------------------------------- statuses and retries


@pytest.mark.parametrize("method", ["complete", "stream"])
async def test_http_400_carries_status_and_provider_message(method: str) -> None:
    model, transport = mock_model(error_response(400, "Invalid request: 'temperature' must be at most 2"))
    with pytest.raises(ModelHTTPError) as info:
        await ask(model, method)
    error = info.value
    assert (error.status, error.attempts) == (400, 1)
    assert error.provider_message == "Invalid request: 'temperature' must be at most 2"
    assert "HTTP 400" in str(error)
    assert len(transport.requests) == 1  # a 400 is not retried


async def test_429_is_retried_until_success() -> None:
    busy = error_response(429, "Rate limit exceeded, slow down", {"retry-after": "0"})
    model, transport = mock_model(busy, busy, json_response(completion("done")))
    with captured_logs() as logs:
        response = await model.complete(USER)
    assert response.content == "done"
    assert len(transport.requests) == 3
    assert sum("HTTP 429; retry" in line for line in logs.lines) == 2


async def test_503_and_a_failed_connection_are_retried_in_a_stream() -> None:
    model, transport = mock_model(
        error_response(503, "overloaded"),
        TransportError("connection reset"),
        lambda r: sse_response([sse_text("ok").encode()]),
    )
    assert (await model.stream(USER, lambda c: None)).content == "ok"
    assert len(transport.requests) == 3


async def test_retry_after_ms_is_honoured() -> None:
    model, transport = mock_model(
        error_response(429, "slow down", {"retry-after-ms": "300"}),
        json_response(completion()),
        retry_backoff=0,
    )
    started = time.monotonic()
    await model.complete(USER)
    assert time.monotonic() - started >= 0.29
    assert len(transport.requests) == 2


async def test_backoff_doubles_up_to_the_cap() -> None:
    model, transport = mock_model(
        error_response(500, "x"), max_retries=3, retry_backoff=0.04, max_retry_delay=0.1
    )
    started = time.monotonic()
    with pytest.raises(ModelHTTPError):
        await model.complete(USER)
    assert time.monotonic() - started >= 0.04 + 0.08 + 0.1 - 0.01  # 0.04, 0.08, then capped at 0.1
    assert len(transport.requests) == 4


async def test_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    model, transport = mock_model(
        error_response(429, "Rate limit exceeded for today", {"retry-after": "120"}), max_retry_delay=5
    )
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        await model.complete(USER)
    assert time.monotonic() - started < 1
    assert (info.value.status, info.value.retry_after, info.value.attempts) == (429, 120.0, 1)
    assert "Rate limit exceeded for today" in str(info.value)
    assert len(transport.requests) == 1


@pytest.mark.parametrize("method", ["complete", "stream"])
async def test_5xx_retries_give_up_with_the_status(method: str) -> None:
    model, transport = mock_model(error_response(500, "upstream exploded"), max_retries=3)
    with pytest.raises(ModelHTTPError) as info:
        await ask(model, method)
    assert (info.value.status, info.value.attempts) == (500, 4)
    assert "upstream exploded" in str(info.value)
    assert "after 4 attempts" in str(info.value)
    assert len(transport.requests) == 4


async def test_max_retries_zero_switches_retries_off() -> None:
    model, transport = mock_model(error_response(503, "busy"), max_retries=0)
    with pytest.raises(ModelHTTPError) as info:
        await model.complete(USER)
    assert info.value.status == 503
    assert len(transport.requests) == 1


async def test_error_page_without_json() -> None:
    page = HttpResponse(
        502, {"content-type": "text/html"}, b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    )
    model, _ = mock_model(page, max_retries=0)
    with pytest.raises(ModelHTTPError) as info:
        await model.complete(USER)
    assert (info.value.status, info.value.provider_message) == (502, "502 Bad Gateway")


async def test_connection_failures_are_retried_then_reported() -> None:
    model, transport = mock_model(TransportError("POST http://llm.test failed: Connection refused"))
    with pytest.raises(ModelConnectionError, match="Connection refused") as info:
        await model.complete(USER)
    assert info.value.status is None
    assert isinstance(info.value, ConnectionError)
    assert "after 3 attempts" in str(info.value)
    assert len(transport.requests) == 3


# --------------------------------------------------------------------------- timeouts


@pytest.mark.parametrize("method", ["complete", "stream"])
async def test_a_slow_answer_times_out_without_retrying(method: str) -> None:
    async def slow(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(30)
        return json_response(completion())

    model, transport = mock_model(slow, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError) as info:
        await ask(model, method)
    assert time.monotonic() - started < 2
    assert isinstance(info.value, TimeoutError)
    assert info.value.status is None
    assert len(transport.requests) == 1


async def test_a_body_that_trickles_past_the_deadline_of_complete() -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(20):
            await asyncio.sleep(0.05)
            yield b" "

    model, _ = mock_model(lambda r: StreamingHttpResponse(200, {}, chunks=body()), timeout=0.3)
    with pytest.raises(ModelTimeoutError):
        await model.complete(USER)


async def test_a_stream_that_stalls_times_out() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield chunk_event("Echo:").encode()
        await asyncio.sleep(30)
        yield chunk_event("never").encode()

    model, _ = mock_model(lambda r: sse_response(body()), timeout=0.2)
    pieces: list[str] = []
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError, match="stalled"):
        await model.stream(USER, lambda c: pieces.append(c.delta))
    assert time.monotonic() - started < 2
    assert pieces == ["Echo:"]


async def test_a_slow_stream_that_keeps_sending_is_fine() -> None:
    async def body() -> AsyncIterator[bytes]:
        for word in "abcdef":
            await asyncio.sleep(0.1)
            yield chunk_event(word).encode()

    model, _ = mock_model(lambda r: sse_response(body()), timeout=0.4)
    started = time.monotonic()
    assert (await model.stream(USER, lambda c: None)).content == "abcdef"
    assert time.monotonic() - started > 0.4  # longer in all than the timeout: it is an idle one


# ------------------------------------------------------------------- the protocol itself


def test_the_public_names_of_blazen_py_llm() -> None:
    import blazen_py
    import blazen_py.llm as llm

    before = {  # the names of this package before transports came: all still there
        "DEFAULT_MAX_RETRIES", "DEFAULT_MAX_RETRY_DELAY", "DEFAULT_RETRY_BACKOFF", "DEFAULT_TIMEOUT",
        "OPENAI_BASE_URL", "OPENROUTER_BASE_URL", "ROLES", "ChatMessage", "CompletionChunk",
        "CompletionModel", "CompletionResponse", "MissingApiKeyError", "ModelConnectionError",
        "ModelError", "ModelHTTPError", "ModelTimeoutError", "OnChunk", "RateLimitError",
        "SSEEvent", "SSEParser", "Usage", "parse_sse",
    }  # fmt: skip
    assert before <= set(llm.__all__)
    assert len(set(llm.__all__)) == len(llm.__all__)
    assert all(hasattr(llm, name) for name in llm.__all__)
    for name in ("MockTransport", "Transport", "HttpRequest", "InvalidApiKeyError", "ModelRedirectError"):
        assert getattr(blazen_py, name) is getattr(llm, name)
    assert (llm.OPENROUTER_BASE_URL, llm.OPENAI_BASE_URL) == (
        "https://openrouter.ai/api/v1",
        "https://api.openai.com/v1",
    )


def test_transports_satisfy_the_protocol() -> None:
    assert isinstance(default_transport(), Transport)
    assert isinstance(MockTransport(lambda r: json_response({})), Transport)
    assert not isinstance(object(), Transport)
    model = CompletionModel.openai_compatible(base_url=BASE_URL, model="m")
    assert model.transport is default_transport()
    assert "transport" not in repr(model)


def test_with_transport_copies_and_checks() -> None:
    with env(OPENROUTER_API_KEY=FAKE_KEY):
        model = CompletionModel.openrouter(timeout=5)
    transport = MockTransport(lambda r: json_response(completion()))
    other = model.with_transport(transport)
    assert other is not model
    assert (other.transport, model.transport) == (transport, default_transport())
    assert (other.provider, other.model, other.timeout, other.api_key_env) == (
        "openrouter",
        "openai/gpt-4o-mini",
        5.0,
        "OPENROUTER_API_KEY",
    )
    assert "MockTransport" in repr(other)
    with pytest.raises(TypeError, match="send"):
        model.with_transport(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="send"):
        CompletionModel(model="m", base_url=BASE_URL, transport="fetch")  # type: ignore[arg-type]


async def test_a_handler_must_return_a_response() -> None:
    model, _ = mock_model(lambda r: {"choices": []})
    with pytest.raises(TypeError, match="HttpResponse"):
        await model.complete(USER)
    with pytest.raises(TypeError, match="MockTransport needs a function"):
        MockTransport("not callable")  # type: ignore[arg-type]


async def test_a_body_chunk_must_be_bytes() -> None:
    model, _ = mock_model(lambda r: sse_response(["data: text\n\n"]))  # type: ignore[list-item]
    with pytest.raises(TypeError, match="must be bytes"):
        await model.stream(USER, lambda c: None)


async def test_mock_transport_turns_one_kind_of_answer_into_the_other() -> None:
    transport = MockTransport(
        answers(lambda r: StreamingHttpResponse(201, {"x": "1"}, chunks=[b"ab", b"", b"c"]))
    )
    whole = await transport.send(HttpRequest("GET", "http://t/"))
    assert (whole.status, whole.body, whole.header("X"), whole.url) == (201, b"abc", "1", "http://t/")
    transport = MockTransport(answers(HttpResponse(200, {}, b"hello")))
    async with transport.stream(HttpRequest("GET", "http://t/")) as response:
        assert [piece async for piece in response] == [b"hello"]


class Recorder:
    """Wraps a transport and keeps each exchange as JSON data, credentials left out."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.cassette: list[dict[str, Any]] = []

    def _keep(self, request: HttpRequest, status: int, headers: dict[str, str], chunks: list[bytes]) -> None:
        self.cassette.append(
            {
                "request": {
                    "method": request.method,
                    "url": request.url,
                    "headers": request.public_headers(),
                    "body": (request.body or b"").decode(),
                },
                "response": {"status": status, "headers": headers, "chunks": [c.decode() for c in chunks]},
            }
        )

    async def send(self, request: HttpRequest) -> HttpResponse:
        response = await self.inner.send(request)
        self._keep(request, response.status, response.headers, [response.body])
        return response

    @contextlib.asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamingHttpResponse]:
        async with self.inner.stream(request) as response:
            chunks: list[bytes] = []

            async def tee() -> AsyncIterator[bytes]:
                while piece := await response.read_chunk():
                    chunks.append(piece)
                    yield piece

            yield StreamingHttpResponse(response.status, response.headers, response.url, chunks=tee())
        self._keep(request, response.status, response.headers, chunks)


class Replayer:
    """Answers requests that match a recorded one (method, URL, body); no network."""

    def __init__(self, cassette: list[dict[str, Any]]) -> None:
        self.cassette = cassette

    def _find(self, request: HttpRequest) -> dict[str, Any]:
        for entry in self.cassette:
            kept = entry["request"]
            if (kept["method"], kept["url"], kept["body"]) == (
                request.method,
                request.url,
                (request.body or b"").decode(),
            ):
                return dict(entry["response"])
        raise TransportError(f"no recorded answer for {request.method} {request.url}")

    async def send(self, request: HttpRequest) -> HttpResponse:
        kept = self._find(request)
        return HttpResponse(kept["status"], kept["headers"], "".join(kept["chunks"]).encode(), request.url)

    @contextlib.asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamingHttpResponse]:
        kept = self._find(request)
        yield StreamingHttpResponse(
            kept["status"], kept["headers"], request.url, chunks=[c.encode() for c in kept["chunks"]]
        )


async def test_recording_and_replaying_are_plain_wrappers_of_the_protocol() -> None:
    server = MockTransport(
        answers(
            json_response(completion("recorded answer")),
            lambda r: sse_response([sse_text("re", "played").encode()]),
        )
    )
    recorder = Recorder(server)
    with env(OPENROUTER_API_KEY=FAKE_KEY):
        live = CompletionModel.openrouter(
            base_url=BASE_URL, headers={"X-Title": "demo", "X-Api-Key": FAKE_KEY}
        )
    live = live.with_transport(recorder)
    first = await live.complete(USER)
    second = await live.stream(USER, lambda c: None)
    dumped = json.dumps(recorder.cassette)
    assert FAKE_KEY not in dumped
    assert recorder.cassette[0]["request"]["headers"] == {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-Title": "demo",
    }
    assert len(recorder.cassette) == 2

    # Replayed from the JSON alone, with another key (a fake one): the same answers.
    replayer = Replayer(json.loads(dumped))
    with env(OPENROUTER_API_KEY="sk-any-other"):
        offline = CompletionModel.openrouter(base_url=BASE_URL, headers={"X-Title": "demo"}).with_transport(
            replayer
        )
    assert await offline.complete(USER) == first
    pieces: list[str] = []
    assert await offline.stream(USER, lambda c: pieces.append(c.delta)) == second
    assert pieces == ["re", "played"]
    with pytest.raises(ModelConnectionError, match="no recorded answer"):
        await offline.with_transport(replayer).complete([ChatMessage.user("never asked")])


async def test_a_model_step_tested_with_a_mock_transport() -> None:
    """The README's summarizer shape, in a workflow, with no network."""
    model, transport = mock_model(json_response(completion("A short summary.")))
    wf = Workflow("summarize")

    async def summarize(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        response = await model.complete([ChatMessage.system("Summarize."), ChatMessage.user(event["text"])])
        return {"type": STOP_EVENT, "result": response.to_dict()}

    wf.add_step("summarize", [START_EVENT], summarize)
    result = await wf.run({"text": "a long article"})
    assert result.data["content"] == "A short summary."
    assert json.loads(transport.requests[0].body or b"")["messages"][1]["content"] == "a long article"
    with pytest.raises(TransportTimeoutError):  # the mock enforces timeouts as a socket does
        await MockTransport(_never).send(HttpRequest("GET", "http://t/", timeout=0.05))


async def _never(request: HttpRequest) -> HttpResponse:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")
