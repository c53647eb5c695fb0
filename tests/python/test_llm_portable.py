"""Model-layer tests that need no server: SSE parsing, messages, responses, key handling.

PORTABLE: run on CPython and, by tests/pyodide, inside Pyodide in Node and Chromium.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from blazen_py.errors import ModelError
from blazen_py.llm import (
    ChatMessage,
    CompletionChunk,
    CompletionModel,
    CompletionResponse,
    MissingApiKeyError,
    SSEEvent,
    SSEParser,
    Usage,
    parse_sse,
)
from blazen_py.llm._model import _parse_retry_after
from blazen_py.llm._openai_format import provider_message as _provider_message

PORTABLE = True

FAKE_KEY = "sk-or-v1-portable-secret-0123456789abcdef"


@contextlib.contextmanager
def env(**values: str | None) -> Iterator[None]:
    """Set (or, with None, remove) environment variables for the block."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def splits(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# --------------------------------------------------------------------------- SSE parser

OPENAI_STREAM = (
    ": OPENROUTER PROCESSING\n\n"
    'data: {"choices":[{"delta":{"content":"Hé"}}]}\n\n'
    'data: {"choices":[{"delta":{"content":"llo ✓ 日本"}}]}\n\n'
    "data: [DONE]\n\n"
).encode()


def test_sse_parses_an_openai_stream() -> None:
    events = parse_sse([OPENAI_STREAM])
    assert [e.data for e in events] == [
        '{"choices":[{"delta":{"content":"Hé"}}]}',
        '{"choices":[{"delta":{"content":"llo ✓ 日本"}}]}',
        "[DONE]",
    ]
    assert all(e.event == "message" for e in events)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
def test_sse_chunk_boundaries_anywhere(size: int) -> None:
    assert parse_sse(splits(OPENAI_STREAM, size)) == parse_sse([OPENAI_STREAM])


def test_sse_every_two_way_split_gives_the_same_events() -> None:
    stream = b"\xef\xbb\xbfevent: x\r\ndata: a\r\ndata: \xc3\xa9\r\n\r\ndata: b\rid: 7\r\r: c\ndata: z\n\n"
    expected = parse_sse([stream])
    assert expected == [
        SSEEvent("a\né", "x"),
        SSEEvent("b", id="7"),
        SSEEvent("z", id="7"),
    ]
    for cut in range(len(stream) + 1):
        assert parse_sse([stream[:cut], stream[cut:]]) == expected, cut


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_sse_line_endings(ending: str) -> None:
    text = ending.join(["data: one", "data: two", "", "data: three", "", ""])
    assert [e.data for e in parse_sse([text.encode()])] == ["one\ntwo", "three"]


def test_sse_cr_then_lf_in_the_next_chunk_is_one_line_ending() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r") == []
    assert parser.feed(b"\n\r\n") == [SSEEvent("a\nb")]


def test_sse_multibyte_character_split_across_chunks() -> None:
    data = "data: 日本語 ✓\n\n".encode()
    parser = SSEParser()
    events = [e for byte in data for e in parser.feed(bytes([byte]))]
    assert events == [SSEEvent("日本語 ✓")]


def test_sse_comments_and_unknown_fields_are_ignored() -> None:
    events = parse_sse([b": ping\n\nfoo: bar\ndata: x\n:another\n\n:only a comment\n\n"])
    assert events == [SSEEvent("x")]


def test_sse_field_rules() -> None:
    events = parse_sse(
        [
            b"data:no-space\n\n"
            b"data:  two spaces\n\n"
            b"data\n\n"  # a field name alone: empty value
            b"event: custom\ndata: e\n\n"
            b"data: after\n\n"  # the event type resets after each dispatch
            b"id: 1\x002\ndata: nul-id-ignored\n\n"
            b"retry: 1500\ndata: r\n\n"
            b"retry: soon\ndata: r2\n\n"
        ]
    )
    assert events == [
        SSEEvent("no-space"),
        SSEEvent(" two spaces"),
        SSEEvent(""),
        SSEEvent("e", "custom"),
        SSEEvent("after"),
        SSEEvent("nul-id-ignored"),
        SSEEvent("r", retry=1500),
        SSEEvent("r2", retry=1500),
    ]


def test_sse_blank_lines_without_data_dispatch_nothing() -> None:
    assert parse_sse([b"\n\n\nevent: lonely\n\n\r\n"]) == []


def test_sse_close_dispatches_an_unterminated_last_event() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a": 1}\ndata: tail') == []
    assert parser.close() == [SSEEvent('{"a": 1}\ntail')]


def test_sse_parser_accepts_text_too() -> None:
    assert parse_sse(["data: hi", "\n\n"]) == [SSEEvent("hi")]


def test_sse_event_repr_and_equality() -> None:
    event = SSEEvent("d", "e", "1", 10)
    assert event == SSEEvent("d", "e", "1", 10)
    assert event != SSEEvent("d")
    assert repr(event) == "SSEEvent(data='d', event='e', id='1', retry=10)"


# ----------------------------------------------------------------------------- messages


def test_chat_message_constructors_and_openai_format() -> None:
    assert ChatMessage.system("Be brief.").to_dict() == {"role": "system", "content": "Be brief."}
    assert ChatMessage.user("Hi", name="ada").to_dict() == {"role": "user", "content": "Hi", "name": "ada"}
    assert ChatMessage.assistant("Hello").to_dict() == {"role": "assistant", "content": "Hello"}
    assert ChatMessage.tool('{"temp": 21}', "call_1").to_dict() == {
        "role": "tool",
        "content": '{"temp": 21}',
        "tool_call_id": "call_1",
    }
    message = ChatMessage.user("x")
    assert (message.role, message.content, message.name, message.tool_call_id) == ("user", "x", None, None)


def test_chat_message_round_trips_through_dict_and_json() -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    messages = [
        ChatMessage.system("s"),
        ChatMessage.user(
            [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "x"}}]
        ),
        ChatMessage.assistant(None, tool_calls=calls),
        ChatMessage.tool("42", "c1"),
        ChatMessage("developer", "d"),
    ]
    for message in messages:
        data = json.loads(json.dumps(message.to_dict()))
        assert ChatMessage.from_dict(data) == message
    assert ChatMessage.from_dict({"role": "user", "content": "x", "extra": 1}) == ChatMessage.user("x")


def test_chat_message_equality_hash_and_repr() -> None:
    assert ChatMessage.user("a") == ChatMessage.user("a")
    assert ChatMessage.user("a") != ChatMessage.system("a")
    assert ChatMessage.user("a") != {"role": "user", "content": "a"}
    assert len({ChatMessage.user("a"), ChatMessage.user("a"), ChatMessage.user("b")}) == 2
    assert repr(ChatMessage.user("hi")) == "ChatMessage(role='user', content='hi')"
    assert repr(ChatMessage.tool("r", "c9")) == "ChatMessage(role='tool', content='r', tool_call_id='c9')"
    long = repr(ChatMessage.user("word " * 100))
    assert len(long) < 120
    assert long.endswith("...')")


def test_chat_message_is_immutable_and_copyable() -> None:
    message = ChatMessage.user("a")
    with pytest.raises(AttributeError):
        message.content = "b"  # type: ignore[misc]
    assert copy.deepcopy(message) == message
    assert pickle.loads(pickle.dumps(message)) == message


@pytest.mark.parametrize(
    "data,error",
    [
        ({"role": "robot", "content": "x"}, ValueError),
        ({"content": "x"}, ValueError),
        ({"role": "tool", "content": "x"}, ValueError),
        ({"role": "user", "content": None}, ValueError),
        ({"role": "assistant", "content": None}, ValueError),
        ({"role": "user", "content": 42}, TypeError),
        ({"role": "user", "content": "x", "name": 3}, TypeError),
    ],
)
def test_chat_message_rejects_invalid_input(data: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        ChatMessage.from_dict(data)


def test_chat_message_from_dict_needs_a_mapping() -> None:
    with pytest.raises(TypeError):
        ChatMessage.from_dict(["user", "x"])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- responses


def test_completion_response_to_dict_from_dict_and_repr() -> None:
    response = CompletionResponse("Hello " * 30, "m", Usage(3, 4), "stop", "id-1")
    data = response.to_dict()
    assert data == {
        "content": "Hello " * 30,
        "model": "m",
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        "finish_reason": "stop",
        "id": "id-1",
        "tool_calls": [],
        "cost": None,
    }
    assert json.loads(json.dumps(data)) == data
    assert CompletionResponse.from_dict(data) == response
    assert CompletionResponse("x", "m").to_dict()["usage"] is None
    assert "..." in repr(response)
    assert "finish_reason='stop'" in repr(response)


def test_usage_and_chunk() -> None:
    assert Usage.from_dict({"prompt_tokens": 2, "completion_tokens": 5}).total_tokens == 7
    assert Usage.from_dict({"prompt_tokens": "x", "total_tokens": 9}) == Usage(0, 0, 9)
    assert repr(Usage(1, 2)) == "Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3)"
    chunk = CompletionChunk("Hi", 0)
    assert str(chunk) == "Hi"
    assert chunk.to_dict() == {"delta": "Hi", "index": 0}
    assert chunk == CompletionChunk("Hi", 0)
    assert chunk != CompletionChunk("Hi", 1)
    assert repr(chunk) == "CompletionChunk(delta='Hi', index=0)"


# ------------------------------------------------------------------ models and API keys


def test_openrouter_reads_key_and_base_url_from_the_environment() -> None:
    with env(OPENROUTER_API_KEY=FAKE_KEY, OPENROUTER_BASE_URL="http://127.0.0.1:9/api/v1/"):
        model = CompletionModel.openrouter()
        assert model.base_url == "http://127.0.0.1:9/api/v1"
        assert model.provider == "openrouter"
        assert model.model == "openai/gpt-4o-mini"
        assert model.api_key_env == "OPENROUTER_API_KEY"
        assert CompletionModel.openrouter(base_url="http://other/v1").base_url == "http://other/v1"
    with env(OPENROUTER_API_KEY=FAKE_KEY, OPENROUTER_BASE_URL=None):
        assert CompletionModel.openrouter(model="x/y").base_url == "https://openrouter.ai/api/v1"


def test_openai_reads_its_own_variables() -> None:
    with env(OPENAI_API_KEY=FAKE_KEY, OPENAI_BASE_URL=None):
        model = CompletionModel.openai()
        assert (model.base_url, model.model, model.provider) == (
            "https://api.openai.com/v1",
            "gpt-4o-mini",
            "openai",
        )
    with env(OPENAI_API_KEY=FAKE_KEY, OPENAI_BASE_URL="http://127.0.0.1:9/v1"):
        assert CompletionModel.openai(model="gpt-x").base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_key_names_the_variable(value: str | None) -> None:
    with env(OPENROUTER_API_KEY=value), pytest.raises(MissingApiKeyError) as info:
        CompletionModel.openrouter()
    assert info.value.env_var == "OPENROUTER_API_KEY"
    assert "OPENROUTER_API_KEY" in str(info.value)
    assert isinstance(info.value, ModelError)
    assert info.value.status is None


def test_missing_key_of_a_compatible_server() -> None:
    with env(MY_LOCAL_KEY=None), pytest.raises(MissingApiKeyError, match="MY_LOCAL_KEY"):
        CompletionModel.openai_compatible(
            base_url="http://127.0.0.1:9/v1", model="m", api_key_env="MY_LOCAL_KEY"
        )
    model = CompletionModel.openai_compatible(base_url="http://127.0.0.1:9/v1", model="m")
    assert model.api_key_env is None


def test_key_never_shows_in_repr_str_copy_or_pickle() -> None:
    with env(OPENROUTER_API_KEY=FAKE_KEY):
        model = CompletionModel.openrouter(headers={"X-Title": "demo"})
    shown = [repr(model), str(model), repr(copy.copy(model)), repr(copy.deepcopy(model))]
    assert all(FAKE_KEY not in text for text in shown)
    assert "OPENROUTER_API_KEY" in repr(model)
    assert "X-Title" in repr(model)
    assert not hasattr(model, "__dict__")
    with pytest.raises(TypeError) as info:
        pickle.dumps(model)
    assert FAKE_KEY not in str(info.value)
    with pytest.raises(TypeError):
        json.dumps(model)


def test_key_is_read_when_the_model_is_made() -> None:
    with env(OPENROUTER_API_KEY=FAKE_KEY):
        model = CompletionModel.openrouter()
    with env(OPENROUTER_API_KEY=None):
        assert model._request_headers(stream=False)["Authorization"] == "Bearer " + FAKE_KEY
    assert "Authorization" not in CompletionModel.openai_compatible(
        base_url="http://h/v1", model="m"
    )._request_headers(stream=False)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": ""},
        {"base_url": ""},
        {"timeout": 0},
        {"timeout": -1},
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"retry_backoff": -0.1},
        {"options": {"messages": []}},
        {"options": {"stream": True}},
    ],
)
def test_invalid_model_arguments(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"base_url": "http://127.0.0.1:9/v1", "model": "m", **kwargs}
    with pytest.raises(ValueError, match=r"model|base_url|timeout|max_retries|retry_backoff|options"):
        CompletionModel.openai_compatible(**args)  # type: ignore[arg-type]


async def test_invalid_messages_fail_before_any_request() -> None:
    model = CompletionModel.openai_compatible(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0)
    with pytest.raises(ValueError, match="empty"):
        await model.complete([])
    with pytest.raises(TypeError):
        await model.complete("hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await model.complete([42])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="stream"):
        await model.complete([ChatMessage.user("x")], {"stream": True})
    with pytest.raises(TypeError, match="JSON"):
        await model.complete([ChatMessage.user("x")], {"temperature": object()})


# ------------------------------------------------------------------ provider responses


def test_retry_after_parsing() -> None:
    assert _parse_retry_after({}) is None
    assert _parse_retry_after({"retry-after": "3"}) == 3.0
    assert _parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert _parse_retry_after({"retry-after": "-1"}) is None
    assert _parse_retry_after({"retry-after": "soon"}) is None
    assert _parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (_parse_retry_after({"retry-after": future}) or 0) <= 31
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert _parse_retry_after({"retry-after": past}) == 0.0


@pytest.mark.parametrize(
    "body,message",
    [
        (b'{"error": {"message": "Invalid model", "code": 400}}', "Invalid model"),
        (b'{"error": "quota exceeded"}', "quota exceeded"),
        (b'{"detail": "Not Found"}', "Not Found"),
        (b'{"message": "bad"}', "bad"),
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway"),
        (b"plain   text\nerror", "plain text error"),
        (b"", "Service Unavailable"),
    ],
)
def test_provider_message(body: bytes, message: str) -> None:
    assert _provider_message(503, body) == message


def test_provider_message_is_bounded() -> None:
    assert len(_provider_message(500, b"x" * 10_000)) == 500
