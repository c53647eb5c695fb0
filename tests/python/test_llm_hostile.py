"""The model layer against hostile input: bad keys, malformed answers, endless streams, redirects.

Every case asserts the typed error (and that it came quickly), and for keys that no part
of the key shows anywhere: not in the message, the repr, the exception chain, the
traceback text or the log. Through MockTransport, so no socket; the real-HTTP redirect
tests are in test_llm.py and tests/browser/test_llm_browser.py.

PORTABLE: run on CPython and, by tests/pyodide, inside Pyodide in Node and Chromium.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from llm_mocks import (
    BASE_URL,
    ask,
    captured_logs,
    chain_length,
    chunk_event,
    completion,
    env,
    json_response,
    mock_model,
    sse_response,
    sse_text,
    texts_of,
)

from blazen_py.errors import ModelError
from blazen_py.llm import (
    MAX_API_KEY_LENGTH,
    MAX_RESPONSE_BYTES,
    ChatMessage,
    CompletionModel,
    CompletionResponse,
    HttpRequest,
    HttpResponse,
    InvalidApiKeyError,
    MissingApiKeyError,
    ModelHTTPError,
    ModelRedirectError,
    StreamingHttpResponse,
)
from blazen_py.llm._openai_format import MAX_JSON_DEPTH
from blazen_py.llm._secret import check_base_url, check_headers, read_api_key

PORTABLE = True

USER = [ChatMessage.user("x")]
# Two halves of every hostile key; no four characters in a row of either may show anywhere.
A, B = "Qz7Xj4Wq", "Vk9Lp2Rm"
PARTS = [half[i : i + 4] for half in (A, B) for i in range(len(half) - 3)]

# ---------------------------------------------------------------------------- keys

HOSTILE_KEYS = {
    "newline": f"sk-{A}\n{B}",
    "carriage return": f"sk-{A}\r{B}",
    "header injection": f"sk-{A}\r\nX-Injected: {B}",
    "tab": f"sk-{A}\t{B}",
    "escape": f"sk-{A}\x1b[31m{B}",
    "delete": f"sk-{A}\x7f{B}",
    "inner space": f"sk-{A} {B}",
    "non-Latin-1": f"sk-{A}\u2019{B}",
    "Latin-1 but not ASCII": f"sk-{A}é{B}",
    "emoji": f"sk-{A}\U0001f511{B}",
    "right-to-left override": f"sk-{A}\u202e{B}",
    "very long": "sk-" + (A + B) * (MAX_API_KEY_LENGTH // 16 + 1),
}


def assert_no_key(texts: list[str], key: str) -> None:
    for text in texts:
        assert key not in text
        assert not [part for part in PARTS if part in text], text


def test_acceptable_keys() -> None:
    assert read_api_key("K", {"K": "  sk-ok_0123-.~  \n"}).reveal() == "sk-ok_0123-.~"
    assert read_api_key("K", {"K": "x" * MAX_API_KEY_LENGTH}).reveal() == "x" * MAX_API_KEY_LENGTH


@pytest.mark.parametrize("name", sorted(HOSTILE_KEYS))
def test_a_hostile_key_is_refused_up_front_and_never_shown(name: str) -> None:
    key = HOSTILE_KEYS[name]
    with env(HOSTILE_KEY=key), captured_logs() as logs, pytest.raises(InvalidApiKeyError) as info:
        CompletionModel.openai_compatible(base_url=BASE_URL, model="m", api_key_env="HOSTILE_KEY")
    error = info.value
    assert error.env_var == "HOSTILE_KEY"
    assert "HOSTILE_KEY" in str(error)
    assert "not shown" in str(error)
    assert isinstance(error, MissingApiKeyError)
    assert isinstance(error, ModelError)
    assert error.status is None
    assert chain_length(error) == 0
    assert_no_key([*texts_of(error), *logs.lines], key)


@pytest.mark.parametrize("name", ["NUL", "newline", "carriage return", "header injection"])
def test_the_check_itself_names_the_rule_not_the_value(name: str) -> None:
    key = HOSTILE_KEYS.get(name, f"sk-{A}\x00{B}")
    with pytest.raises(InvalidApiKeyError) as info:
        read_api_key("K", {"K": key})
    assert "control character" in info.value.reason
    assert_no_key(texts_of(info.value), key)


def test_the_environment_itself_refuses_nul() -> None:
    # So a NUL can only reach read_api_key from a mapping of one's own, tested above.
    with pytest.raises(ValueError, match="null"), env(HOSTILE_KEY=f"sk-{A}\x00{B}"):
        pass


@pytest.mark.parametrize("value", [None, "", "   ", "\n\t "])
def test_an_empty_key_is_missing(value: str | None) -> None:
    with env(OPENROUTER_API_KEY=value), pytest.raises(MissingApiKeyError) as info:
        CompletionModel.openrouter()
    assert type(info.value) is MissingApiKeyError
    assert info.value.env_var == "OPENROUTER_API_KEY"


async def test_a_key_echoed_by_the_server_never_shows() -> None:
    key = f"sk-{A}{B}"

    def echo(request: HttpRequest) -> HttpResponse:
        token = (request.header("authorization") or "").removeprefix("Bearer ")
        return json_response(
            {"error": {"message": f"Incorrect API key provided: {token}"}}, 401, {"location": token}
        )

    async def echo_stream(request: HttpRequest) -> StreamingHttpResponse:
        token = (request.header("authorization") or "").removeprefix("Bearer ")
        return sse_response([chunk_event("x").encode(), f"data: not json {token}\n\n".encode()])

    def echo_garbage(request: HttpRequest) -> HttpResponse:
        return HttpResponse(
            200, {"content-type": "application/json"}, request.header("authorization", "").encode()
        )

    def echo_redirect(request: HttpRequest) -> HttpResponse:
        return HttpResponse(
            307, {"location": "https://evil.test/?k=" + (request.header("authorization") or "")}
        )

    with env(OPENROUTER_API_KEY=key):
        errors = []
        with captured_logs() as logs:
            for handler, method in [
                (echo, "complete"),
                (echo_stream, "stream"),
                (echo_garbage, "complete"),
                (echo_redirect, "complete"),
            ]:
                model, _ = mock_model(handler, max_retries=0)
                keyed = CompletionModel.openrouter(base_url=BASE_URL).with_transport(model.transport)
                with pytest.raises(ModelError) as info:
                    await ask(keyed, method)
                errors.append(info.value)
                assert key not in repr(keyed)
    assert "Incorrect API key provided: ***" in str(errors[0])
    assert isinstance(errors[3], ModelRedirectError)
    assert errors[3].location is not None
    assert "***" in errors[3].location
    texts = [t for error in errors for t in texts_of(error)] + logs.lines
    assert_no_key(texts, key)


@pytest.mark.parametrize("before", [0, 1, 70, 76, 77, 80, 490, 496, 497])
async def test_a_key_cut_in_half_by_a_shortened_message_never_shows(before: int) -> None:
    key = f"sk-{A}{B}"
    filler = "x" * before

    def echo_json_error(request: HttpRequest) -> HttpResponse:
        return json_response({"error": {"message": filler + (request.header("authorization") or "")}}, 400)

    def echo_event(request: HttpRequest) -> StreamingHttpResponse:
        return sse_response([f"data: {filler}{request.header('authorization')}\n\n".encode()])

    def echo_error_event(request: HttpRequest) -> StreamingHttpResponse:
        return sse_response([f"event: error\ndata: {filler}{request.header('authorization')}\n\n".encode()])

    texts = []
    for handler, method in [
        (echo_json_error, "complete"),
        (echo_event, "stream"),
        (echo_error_event, "stream"),
    ]:
        mocked, _ = mock_model(handler, max_retries=0)
        with env(OPENROUTER_API_KEY=key):
            model = CompletionModel.openrouter(base_url=BASE_URL).with_transport(mocked.transport)
        with pytest.raises(ModelError) as info:
            await ask(model, method)
        texts += texts_of(info.value)
    assert_no_key(texts, key)


# -------------------------------------------------------------- headers and base_url


@pytest.mark.parametrize(
    "headers,error",
    [
        ({"X-Title": f"{A}\r\nX-Injected: {B}"}, ValueError),
        ({"X-Title": f"{A}\n{B}"}, ValueError),
        ({"X-Api-Key": f"{A}\x00{B}"}, ValueError),
        ({"X-Title": f"{A}\u2019{B}"}, ValueError),
        ({"Bad Name": "v"}, ValueError),
        ({"": "v"}, ValueError),
        ({"X-Title": 3}, TypeError),
    ],
)
def test_headers_are_checked_without_quoting_their_values(
    headers: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        CompletionModel.openai_compatible(base_url=BASE_URL, model="m", headers=headers)
    assert_no_key(texts_of(info.value), "\x00never")
    assert check_headers({"X-Title": "Résumé\tdemo"}) == {"X-Title": "Résumé\tdemo"}


@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{A}@api.test/v1",
        f"https://api.test/v1?key={A}",
        f"https://api.test/v1#{A}",
        f"ftp://api.test/{A}",
        f"javascript:alert('{A}')",
        f"//api.test/{A}",
        f"https://api.test/{A}\n{B}",
        f"https://api.test:99999/{A}",
        "relative/v1",
        "https://",
    ],
)
def test_a_base_url_with_credentials_or_oddities_is_refused_unquoted(url: str) -> None:
    with pytest.raises(ValueError, match="base_url") as info:
        CompletionModel.openai_compatible(base_url=url, model="m")
    assert_no_key(texts_of(info.value), "\x00never")


def test_acceptable_base_urls() -> None:
    assert check_base_url(" http://127.0.0.1:8080/v1/ ") == "http://127.0.0.1:8080/v1"
    assert check_base_url("https://API.example.com") == "https://API.example.com"
    assert check_base_url("/proxy/v1") == "/proxy/v1"


def test_requests_never_show_header_values() -> None:
    request = HttpRequest(
        "POST", "http://t/", headers={"Authorization": "Bearer " + A, "X-Api-Key": B, "X-Title": "t"}
    )
    assert A not in repr(request)
    assert B not in repr(request)
    assert "Authorization" in repr(request)
    assert request.public_headers() == {"X-Title": "t"}


# ---------------------------------------------------------------- malformed answers

MALFORMED_BODIES = [
    (b"not json", "not JSON"),
    (b"\xff\xfe\x00garbage", "not JSON"),
    (b'{"choices": [{"message": {"content": "\xff"}}]}', "not JSON"),
    (b'{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": NaN}}', "not JSON"),
    (b'{"choices": [{"message": {"content": "x"}}], "usage": {"total_tokens": -Infinity}}', "not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    (b'{"usage": {"prompt_tokens": 1' + b"0" * 5000 + b"}}", "not JSON"),
    (b"[]", "not a completion object"),
    (b'"a string"', "not a completion object"),
    (b"null", "not a completion object"),
    (b"{}", "without any choices"),
    (b'{"choices": []}', "without any choices"),
    (b'{"choices": null}', "without any choices"),
    (b'{"choices": "x"}', "choices that are not a list"),
    (b'{"choices": {"0": {}}}', "choices that are not a list"),
    (b'{"choices": [42]}', "choice that is not an object"),
    (b'{"choices": [{"message": "hi"}]}', "message that is not an object"),
    (b'{"choices": [{"message": {"content": 42}}]}', "neither text nor a list"),
    (b'{"choices": [{"message": {"content": {"text": "x"}}}]}', "neither text nor a list"),
    (b'{"choices": [{"message": {"content": [42]}}]}', "part that is not an object"),
    (b'{"choices": [{"message": {"content": [{"type": "text", "text": 5}]}}]}', "text is not a string"),
    (
        b'{"choices": [{"message": {"content": "x"}, "finish_reason": 1}]}',
        "finish_reason that is not a string",
    ),
    (b'{"choices": [{"message": {"content": "x"}}], "model": ["m"]}', "model that is not a string"),
    (b'{"choices": [{"message": {"content": "x"}}], "id": 7}', "id that is not a string"),
    (b'{"choices": [{"text": 7}]}', "neither text nor a list"),
    (b'{"choices": [{"message": {"content": "x"}}], "usage": "lots"}', "usage that is not an object"),
    (b'{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": -1}}', "prompt_tokens"),
    (b'{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": "3"}}', "prompt_tokens"),
    (
        b'{"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": 1.5}}',
        "completion_tokens",
    ),
    (b'{"choices": [{"message": {"content": "x"}}], "usage": {"total_tokens": true}}', "total_tokens"),
    (b'{"choices": [{"message": {"content": "x"}}], "usage": {"total_tokens": 1e400}}', "total_tokens"),
    (b'{"error": {"message": "quota gone"}}', "reported an error: quota gone"),
    (b'{"choices": [{"message": {"content": null, "tool_calls": "x"}}]}', "tool_calls that are not a list"),
    (b'{"choices": [{"message": {"content": null, "tool_calls": [7]}}]}', "tool call that is not an object"),
    (b'{"choices": [{"message": {"tool_calls": [{"id": "a"}]}}]}', "without a function object"),
    (b'{"choices": [{"message": {"tool_calls": [{"function": {"name": 3}}]}}]}', "function name is not"),
    (b'{"choices": [{"message": {"tool_calls": [{"function": {"name": ""}}]}}]}', "function name is not"),
    (
        b'{"choices": [{"message": {"tool_calls": [{"function": {"name": "' + b"n" * 300 + b'"}}]}}]}',
        "longer than 256",
    ),
    (
        b'{"choices": [{"message": {"tool_calls": [{"id": 5, "function": {"name": "f"}}]}}]}',
        "id is not a non-empty string",
    ),
    (
        b'{"choices": [{"message": {"tool_calls": [{"function": {"name": "f", "arguments": 5}}]}}]}',
        "neither text nor an object",
    ),
    (
        b'{"choices": [{"message": {"tool_calls": ['
        + b",".join([b'{"function": {"name": "f"}}'] * 65)
        + b"]}}]}",
        "more than 64 tool calls",
    ),
]


@pytest.mark.parametrize("body,match", MALFORMED_BODIES)
async def test_a_malformed_answer_is_a_model_error(body: bytes, match: str) -> None:
    model, transport = mock_model(json_response(body))
    started = time.monotonic()
    with pytest.raises(ModelError, match=match) as info:
        await model.complete(USER)
    assert time.monotonic() - started < 5
    assert type(info.value) is ModelError
    assert info.value.status == 200
    assert chain_length(info.value) == 0  # no parser exception (holding the body) chained
    assert len(transport.requests) == 1  # not retried


@pytest.mark.parametrize("body,match", MALFORMED_BODIES[7:])
async def test_a_malformed_answer_to_a_stream_request_is_a_model_error(body: bytes, match: str) -> None:
    model, _ = mock_model(json_response(body))  # a server that ignored "stream": true
    with pytest.raises(ModelError, match=match):
        await model.stream(USER, lambda c: None)


def event(payload: Any) -> bytes:
    return b"data: " + (payload if isinstance(payload, bytes) else json.dumps(payload).encode()) + b"\n\n"


MALFORMED_EVENTS = [
    (b"data: {not json\n\n", "not JSON"),
    (b"data: NaN\n\n", "not JSON"),
    (b"data: [" + b"[" * 100_000 + b"\n\n", "not JSON"),
    (event([1, 2]), "not an object"),
    (event("text"), "not an object"),
    (event({"choices": "x"}), "choices that are not a list"),
    (event({"choices": [None]}), "choice that is not an object"),
    (event({"choices": [{"delta": "hi"}]}), "delta that is not an object"),
    (event({"choices": [{"delta": {"content": 42}}]}), "neither text nor a list"),
    (event({"choices": [{"delta": {"content": [None]}}]}), "part that is not an object"),
    (event({"choices": [{"delta": {}, "finish_reason": 3}]}), "finish_reason that is not a string"),
    (event({"choices": [], "usage": [1]}), "usage that is not an object"),
    (event({"choices": [], "usage": {"prompt_tokens": -5}}), "prompt_tokens"),
    (event({"model": 5, "choices": []}), "model that is not a string"),
    (b'data: {"choices": [{"delta": {"content": "\xc3\x28"}}]}\n\n', "not UTF-8"),
    (b'data: {"choices": [{"delta": {"content": "\xed\xa0\x80"}}]}\n\n', "not UTF-8"),
    (b'data: {"choices": [{"delta": {"content": "trunc\xe6\x97', "not UTF-8"),
]


@pytest.mark.parametrize("bad,match", MALFORMED_EVENTS)
async def test_a_malformed_stream_event_is_a_model_error(bad: bytes, match: str) -> None:
    model, transport = mock_model(lambda r: sse_response([chunk_event("first").encode(), bad]))
    pieces: list[str] = []
    with pytest.raises(ModelError, match=match) as info:
        await model.stream(USER, lambda c: pieces.append(c.delta))
    assert type(info.value) is ModelError
    assert info.value.status == 200
    assert chain_length(info.value) == 0
    assert pieces == ["first"]
    assert len(transport.requests) == 1


async def test_odd_but_valid_events_are_accepted() -> None:
    stream = [
        event({"choices": [], "error": None}),
        event({"choices": [{"delta": None, "text": "legacy "}]}),
        event({"choices": [{"delta": {"content": None, "role": "assistant"}}]}),
        event({"choices": [{"delta": {"content": [{"type": "text", "text": "parts"}]}}]}),
        event({"choices": [{"delta": {"content": "!"}, "finish_reason": None}], "usage": None}),
        b"data: [DONE]\n\n",
    ]
    model, _ = mock_model(lambda r: sse_response(stream))
    assert (await model.stream(USER, lambda c: None)).content == "legacy parts!"


async def test_nesting_is_bounded_before_parsing() -> None:
    # In Pyodide, json.loads of a few thousand levels overflows the WebAssembly stack and
    # kills the runtime; the depth is checked first, in time linear in the size.
    deep_ok = completion(
        "x", extra=[[[[1]]]], tools=json.loads("[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2))
    )
    brackets_in_text = completion("[{" * 50_000 + '\\"[')
    model, _ = mock_model(
        json_response(deep_ok),
        json_response(brackets_in_text),
        json_response(b'{"choices": [' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"]}"),
        json_response(b"{" * 1_000_000),
    )
    assert (await model.complete(USER)).content == "x"
    assert (await model.complete(USER)).content.startswith("[{[{")
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(ModelError, match="not JSON"):
            await model.complete(USER)
        assert time.monotonic() - started < 5


# --------------------------------------------------------------------- size and time


async def test_a_whole_body_over_the_limit_is_refused() -> None:
    limit = 10_000
    big = json.dumps(completion("x" * limit)).encode()
    model = CompletionModel(model="m", base_url=BASE_URL, max_response_bytes=limit)
    for answer in (
        lambda r: json_response(big),
        lambda r: StreamingHttpResponse(
            200, {"content-type": "application/json"}, chunks=[big[:6000], big[6000:]]
        ),
    ):
        mocked, transport = mock_model(answer)
        limited = CompletionModel(
            model="m", base_url=BASE_URL, max_response_bytes=limit, transport=mocked.transport
        )
        with pytest.raises(ModelError, match="more than 10000 bytes"):
            await limited.complete(USER)
        with pytest.raises(ModelError, match="more than 10000 bytes"):
            await limited.stream(USER, lambda c: None)  # answered with JSON, not a stream
        assert len(transport.requests) == 2
    assert model.max_response_bytes == limit
    assert MAX_RESPONSE_BYTES == 16 * 1024 * 1024


@pytest.mark.parametrize(
    "piece",
    [
        chunk_event("more text ").encode(),  # text forever
        chunk_event("").encode(),  # empty deltas forever
        b": keep-alive\n\n",  # comments forever
        b"x" * 4096,  # one line that never ends
        b"\n" * 1000,  # blank lines forever
    ],
)
async def test_an_endless_stream_stops_at_the_limit(piece: bytes) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += len(piece)
            yield piece

    mocked, _ = mock_model(lambda r: sse_response(endless()))
    model = CompletionModel(
        model="m", base_url=BASE_URL, max_response_bytes=50_000, transport=mocked.transport
    )
    # The bound is in bytes, not seconds (a hang would hit the test's own timeout).
    with pytest.raises(ModelError, match="more than 50000 bytes"):
        await model.stream(USER, lambda c: None)
    assert sent <= 50_000 + len(piece)


async def test_an_error_status_with_an_endless_body_is_read_only_in_part() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 1000
            yield b"e" * 1000

    model, _ = mock_model(lambda r: StreamingHttpResponse(500, {}, chunks=endless()), max_retries=0)
    with pytest.raises(ModelHTTPError) as info:
        await model.stream(USER, lambda c: None)
    assert info.value.status == 500
    assert len(info.value.provider_message) <= 500
    assert sent <= 70_000


async def test_a_stream_that_never_sends_a_byte_times_out() -> None:
    async def silent() -> AsyncIterator[bytes]:
        await asyncio.sleep(3600)
        yield b""

    model, _ = mock_model(lambda r: sse_response(silent()), timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ModelError, match="stalled"):
        await model.stream(USER, lambda c: None)
    assert time.monotonic() - started < 2


async def test_a_many_event_stream_within_the_limit_is_fine() -> None:
    text = sse_text(*(["w"] * 5000))
    raw = text.encode()
    model, _ = mock_model(lambda r: sse_response([raw[i : i + 1000] for i in range(0, len(raw), 1000)]))
    assert (await model.stream(USER, lambda c: None)).content == "w" * 5000


# -------------------------------------------------------------------------- redirects


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["complete", "stream"])
async def test_a_redirect_is_never_followed(status: int, method: str) -> None:
    target = "https://elsewhere.test/v1/chat/completions"
    model, transport = mock_model(HttpResponse(status, {"location": target}), max_retries=3)
    with pytest.raises(ModelRedirectError) as info:
        await ask(model, method)
    error = info.value
    assert (error.status, error.location) == (status, target)
    assert f"HTTP {status} to {target}" in str(error)
    assert "never follow redirects" in str(error)
    assert isinstance(error, ModelHTTPError)
    assert len(transport.requests) == 1  # not retried, not followed


async def test_a_redirect_the_browser_hid() -> None:
    model, _ = mock_model(HttpResponse(0, {}))  # fetch's opaque redirect: no status, no headers
    with pytest.raises(ModelRedirectError, match="does not show where") as info:
        await model.complete(USER)
    assert (info.value.status, info.value.location) == (None, None)


async def test_a_hostile_location_is_shortened_and_flattened() -> None:
    model, _ = mock_model(HttpResponse(302, {"location": "https://x.test/" + "a\r\n" * 500}))
    with pytest.raises(ModelRedirectError) as info:
        await model.complete(USER)
    assert info.value.location is not None
    assert len(info.value.location) <= 200
    assert "\n" not in str(info.value)


async def test_not_modified_is_an_error_status_not_a_redirect() -> None:
    model, _ = mock_model(HttpResponse(304, {}))
    with pytest.raises(ModelHTTPError) as info:
        await model.complete(USER)
    assert type(info.value) is ModelHTTPError


# ------------------------------------------------------------------ tool calls


async def test_tool_calls_of_a_whole_answer() -> None:
    body = completion(None)
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}},
        {"function": {"name": "obj", "arguments": {"x": [1]}}},  # an object, as some servers send
    ]
    body["usage"] = {"prompt_tokens": 1, "completion_tokens": 1, "cost": 0.25}
    model, _ = mock_model(json_response(body))
    response = await model.complete([ChatMessage.user("x")])
    assert response.tool_calls == [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}},
        {"id": "call_1", "type": "function", "function": {"name": "obj", "arguments": '{"x": [1]}'}},
    ]
    assert response.cost == 0.25
    assert CompletionResponse.from_dict(response.to_dict()) == response


@pytest.mark.parametrize("cost", ["0.1", -1, True, None, [1]])
async def test_a_cost_that_is_not_a_finite_number_is_ignored(cost: Any) -> None:
    body = completion("x")
    body["usage"] = {"prompt_tokens": 1, "cost": cost}
    model, _ = mock_model(json_response(body))
    assert (await model.complete([ChatMessage.user("x")])).cost is None


def _call_event(pieces: Any) -> str:
    data = {"model": "m", "choices": [{"index": 0, "delta": {"tool_calls": pieces}, "finish_reason": None}]}
    return "data: " + json.dumps(data) + "\n\n"


def _calls_stream(*events: str) -> str:
    return chunk_event("") + "".join(events) + chunk_event(finish_reason="tool_calls") + "data: [DONE]\n\n"


async def test_streamed_tool_calls_are_assembled_from_fragments() -> None:
    text = _calls_stream(
        _call_event(
            [{"index": 0, "id": "c1", "type": "function", "function": {"name": "add", "arguments": ""}}]
        ),
        _call_event([{"index": 1, "id": "c2", "function": {"name": "mul", "arguments": '{"a"'}}]),
        _call_event([{"index": 0, "function": {"arguments": '{"a": '}}]),
        _call_event([{"index": 0, "function": {"arguments": "1}"}}]),
        _call_event([{"index": 1, "function": {"arguments": ": 2}"}}]),
    )
    model, _ = mock_model(sse_response([text.encode()]))
    response = await model.stream([ChatMessage.user("x")], lambda chunk: None)
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in response.tool_calls] == [
        ("c1", "add", '{"a": 1}'),
        ("c2", "mul", '{"a": 2}'),
    ]
    assert response.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    "pieces,match",
    [
        ("x", "tool_calls that are not a list"),
        ([3], "piece that is not an object"),
        ([{"index": -1}], "index that is not an integer"),
        ([{"index": 64}], "index that is not an integer"),
        ([{"index": True}], "index that is not an integer"),
        ([{"index": 0, "function": "f"}], "function is not an object"),
        ([{"index": 0, "function": {"arguments": "{}"}}], "without a function name"),
    ],
)
async def test_malformed_streamed_tool_calls_are_model_errors(pieces: Any, match: str) -> None:
    text = _calls_stream(_call_event(pieces))
    model, _ = mock_model(sse_response([text.encode()]))
    with pytest.raises(ModelError, match=match):
        await model.stream([ChatMessage.user("x")], lambda chunk: None)
