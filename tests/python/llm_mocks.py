"""Helpers for model tests without a network: canned answers for MockTransport, env, leak checks.

Pure Python, no fixtures: imported by portable test modules, which also run inside Pyodide.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from blazen_py.llm import (
    ChatMessage,
    CompletionModel,
    CompletionResponse,
    HttpRequest,
    HttpResponse,
    MockTransport,
    StreamingHttpResponse,
)

BASE_URL = "http://llm.test/v1"
CHAT_URL = BASE_URL + "/chat/completions"

Answer = HttpResponse | StreamingHttpResponse | BaseException | Callable[[HttpRequest], Any]


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


def completion(content: Any = "Hi", model: str = "m", **extra: Any) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object (``extra`` replaces or adds top-level keys)."""
    data: dict[str, Any] = {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    data.update(extra)
    return data


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return HttpResponse(status, {"content-type": "application/json", **(headers or {})}, body)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> HttpResponse:
    return json_response({"error": {"message": message, "code": status}}, status, headers)


def chunk_event(content: str | None = None, *, finish_reason: str | None = None, **extra: Any) -> str:
    delta = {} if content is None else {"content": content}
    data: dict[str, Any] = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    data.update(extra)
    return "data: " + json.dumps(data, ensure_ascii=False) + "\n\n"


def sse_text(*pieces: str, done: bool = True) -> str:
    """An event stream: a role chunk, one chunk per piece, a finish chunk, then [DONE]."""
    text = chunk_event("") + "".join(chunk_event(p) for p in pieces) + chunk_event(finish_reason="stop")
    return text + ("data: [DONE]\n\n" if done else "")


def sse_response(chunks: Iterable[bytes] | AsyncIterator[bytes], status: int = 200) -> StreamingHttpResponse:
    headers = {"content-type": "text/event-stream; charset=utf-8"}
    return StreamingHttpResponse(status, headers, chunks=chunks)


def answers(*items: Answer) -> Callable[[HttpRequest], Any]:
    """A handler giving ``items`` in turn (the last one ever after).

    An exception is raised; a callable is called with the request (use one for a
    streamed answer, which can be read only once).
    """
    queue = list(items)

    def handler(request: HttpRequest) -> Any:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, BaseException):
            raise item
        if callable(item) and not isinstance(item, (HttpResponse, StreamingHttpResponse)):
            return item(request)
        return item

    return handler


def mock_model(*items: Answer, **kwargs: Any) -> tuple[CompletionModel, MockTransport]:
    """An openai_compatible model at BASE_URL whose transport gives ``items`` in turn."""
    transport = MockTransport(answers(*items))
    kwargs.setdefault("retry_backoff", 0.001)
    model = CompletionModel.openai_compatible(base_url=BASE_URL, model="m", **kwargs)
    return model.with_transport(transport), transport


async def ask(model: CompletionModel, method: str) -> CompletionResponse:
    """One call of ``model.complete`` or ``model.stream`` (chunks dropped)."""
    if method == "complete":
        return await model.complete([ChatMessage.user("x")])
    return await model.stream([ChatMessage.user("x")], lambda chunk: None)


class CapturedLogs(logging.Handler):
    """Every log record of the block, at DEBUG and above, from every logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def captured_logs() -> Iterator[CapturedLogs]:
    handler = CapturedLogs()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def texts_of(error: BaseException) -> list[str]:
    """Everything an error shows: each link of its cause/context chain (str, repr, args,
    attributes) and the formatted traceback."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        link = pending.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        texts += [str(link), repr(link), repr(link.args), repr(getattr(link, "__dict__", {}))]
        texts += [repr(getattr(link, name, None)) for name in ("doc", "object", "msg")]
        pending += [link.__cause__, link.__context__]
    return texts


def chain_length(error: BaseException) -> int:
    """How many exceptions hang off ``error`` through ``__cause__``/``__context__``."""
    count, link = 0, error.__cause__ or error.__context__
    while link is not None:
        count += 1
        link = link.__cause__ or link.__context__
    return count
