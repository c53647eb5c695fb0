"""A local OpenAI-compatible chat server for the model-layer tests (CPython and browser).

Real HTTP on 127.0.0.1 (a ``ThreadingHTTPServer`` in a thread, port 0), never the
internet. It answers ``POST /v1/chat/completions`` like OpenAI: a JSON completion, or with
``"stream": true`` a chunked ``text/event-stream`` sent in several flushed pieces with
small delays. The reply is ``"Echo: " + <last user message>``. Every response carries CORS
headers (``Access-Control-Allow-Origin: *``) and ``OPTIONS`` answers preflights, so a page
on another origin can call it. ``GET /article`` serves a plain-text article.

Redirects, for the tests that prove a key never follows one to another origin (two servers
on two ports of 127.0.0.1 are two origins; the second records the headers it got):
``GET /redirect/<status>`` answers ``<status>`` with ``Location: <redirect_to>/article``
(``redirect_to`` is an attribute of :class:`LLMTestServer`, e.g. the other server's URL),
and ``GET /redirect-here/<status>`` with ``Location: /article`` (the same origin).

The request's ``model`` picks a scenario (counters are per model name, cleared by
:meth:`LLMTestServer.reset`):

============================  ==========================================================
``error-400``                 400 with ``{"error": {"message": PROVIDER_400_MESSAGE}}``
``error-401``                 401 whose message echoes the bearer token (as some providers
                              do), to prove the client redacts it
``flaky-429``                 429 (``Retry-After: 0``) twice, then a normal answer
``flaky-503``                 503 once, then a normal answer
``retry-after-ms``            429 with ``retry-after-ms: 300`` once, then a normal answer
``always-429``                429 with ``Retry-After: 120`` every time
``always-500``                500 ``{"error": {"message": "upstream exploded"}}`` every time
``html-502``                  502 with an HTML body (no JSON error)
``garbage``                   200 with a body that is not JSON
``slow``                      waits ``SLOW_SECONDS`` before answering
``slow-stream``               streams one word every ``SLOW_STREAM_DELAY`` seconds
``stall-stream``              streams one event, then sends nothing for ``SLOW_SECONDS``
``stream-error``              streams one event, then ``data: {"error": {...}}``
``tiny-chunks``               streams the SSE bytes in 5-byte pieces, with ``\\r\\n`` line
                              endings, comments, a multi-line event and non-ASCII text
``no-done``                   streams without the final ``data: [DONE]``
``json-for-stream``           ignores ``"stream": true`` and answers JSON
``redirect-<status>``         ``<status>`` (301, 302, 303, 307, 308) with ``Location:
                              <redirect_to>/v1/chat/completions``
``agent-<name>``              answers with turn *k* of the script ``scripts[name]``, where
                              *k* is the number of assistant messages in the request (so
                              a conversation resumed elsewhere gets the same answer); past
                              the script's end its last turn repeats
============================  ==========================================================

A script (:meth:`LLMTestServer.script`) is a list of turns, each a dict with ``content``
(text or ``None``), ``tool_calls`` (``[{"name", "arguments", "id"?}]``, arguments a dict
or JSON text), and optionally ``usage`` (an OpenAI usage object, ``cost`` included) and
``delay`` (seconds to wait first). Streamed, a turn's tool calls arrive the way OpenAI
sends them: the id and name in one delta, the arguments' text in several fragments.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROVIDER_400_MESSAGE = "Invalid request: 'temperature' must be at most 2"
SLOW_SECONDS = 3.0
SLOW_STREAM_DELAY = 0.15
STREAM_DELAY = 0.01
ARTICLE = (
    "WebAssembly lets Python run in the browser. Pyodide compiles CPython to WebAssembly, "
    "so a workflow engine written in pure Python can run in a web page without a server. "
    "Steps can call language models over fetch, and results stream back as they are made."
)
REDIRECT_STATUSES = ("301", "302", "303", "307", "308")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After, Retry-After-Ms, X-Request-Id",
}


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    # ------------------------------------------------------------ plumbing

    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        self.server.owner._record(request)
        return request

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {**CORS_HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, data: Any, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", extra)

    def _error(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": {"message": message, "type": "test_error", "code": status}}, extra)

    def _start_stream(self) -> None:
        self.send_response(200)
        for name, value in CORS_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # ------------------------------------------------------------- routes

    def do_OPTIONS(self) -> None:
        self._record()
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header(
            "Access-Control-Allow-Headers",
            self.headers.get("Access-Control-Request-Headers") or "Authorization, Content-Type, Accept",
        )
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._record()
        kind, _, code = self.path.rpartition("/")
        if self.path == "/article":
            self._send(200, ARTICLE.encode(), "text/plain; charset=utf-8")
        elif kind in ("/redirect", "/redirect-here") and code in REDIRECT_STATUSES:
            target = "/article" if kind == "/redirect-here" else f"{self.server.owner.redirect_to}/article"
            self._redirect(int(code), target)
        else:
            self._error(404, f"no route {self.path}")

    def _redirect(self, status: int, location: str) -> None:
        self._send(status, b"", "text/plain", {"Location": location})

    def do_POST(self) -> None:
        request = self._record()
        if self.path != "/v1/chat/completions":
            self._error(404, f"no route {self.path}")
            return
        try:
            payload = request.json
            model = payload["model"]
            messages = payload["messages"]
        except (ValueError, KeyError, TypeError):
            self._error(400, "body must be JSON with model and messages")
            return
        try:
            self._complete(model, messages, payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (a timeout test)

    def _complete(self, model: str, messages: list[dict[str, Any]], payload: dict[str, Any]) -> None:
        owner = self.server.owner
        count = owner._count(model)
        if model == "error-400":
            self._error(400, PROVIDER_400_MESSAGE)
            return
        if model == "error-401":
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._error(401, f"Incorrect API key provided: {token}")
            return
        if model == "flaky-429" and count <= 2:
            self._error(429, "Rate limit exceeded, slow down", {"Retry-After": "0"})
            return
        if model == "flaky-503" and count <= 1:
            self._error(503, "The model is overloaded")
            return
        if model == "retry-after-ms" and count <= 1:
            self._error(429, "Rate limit exceeded", {"Retry-After-Ms": "300"})
            return
        if model == "always-429":
            self._error(429, "Rate limit exceeded for today", {"Retry-After": "120"})
            return
        if model == "always-500":
            self._error(500, "upstream exploded")
            return
        if model == "html-502":
            self._send(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
            return
        if model == "garbage":
            self._send(200, b"this is not json", "application/json")
            return
        if model == "slow" and owner.stopping.wait(SLOW_SECONDS):
            return
        if model.startswith("redirect-") and model[len("redirect-") :] in REDIRECT_STATUSES:
            self._redirect(int(model[len("redirect-") :]), f"{owner.redirect_to}/v1/chat/completions")
            return
        if model.startswith("agent-"):
            turn = owner.turn_for(model[len("agent-") :], messages)
            if turn.get("delay") and owner.stopping.wait(float(turn["delay"])):
                return
            if payload.get("stream"):
                self._stream_turn(model, turn)
            else:
                self._send_json(200, turn_completion(model, turn, messages))
            return
        reply = reply_for(messages)
        if payload.get("stream") and model != "json-for-stream":
            self._stream(model, reply, payload)
            return
        self._send_json(200, completion(model, reply, messages), {"X-Request-Id": f"req-{count}"})

    def _stream(self, model: str, reply: str, payload: dict[str, Any]) -> None:
        owner = self.server.owner
        self._start_stream()
        words = reply.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        events = [_sse({"role": "assistant", "content": ""}, model)]
        events += [_sse({"content": piece}, model) for piece in pieces]
        events.append(_sse({}, model, finish_reason="stop"))
        if (payload.get("stream_options") or {}).get("include_usage"):
            usage = _usage(payload["messages"], reply)
            last = {"id": "chatcmpl-test", "model": model, "choices": [], "usage": usage}
            events.append(f"data: {json.dumps(last)}\n\n")
        if model != "no-done":
            events.append("data: [DONE]\n\n")
        if model == "tiny-chunks":
            text = ": a comment first\n\n" + events[0]
            # one event spread over two data: lines (joined with "\n": still valid JSON)
            first = events[1][len("data: ") :].strip()
            cut = first.index(", ") + 1  # between two members: still valid JSON once joined
            text += "data: " + first[:cut] + "\ndata:" + first[cut:] + "\n\n"
            text += ": keep-alive\n\n" + "".join(events[2:])
            raw = text.replace("\n", "\r\n").encode("utf-8")
            for start in range(0, len(raw), 5):
                self._chunk(raw[start : start + 5])
                time.sleep(0.001)
            self._end_stream()
            return
        delay = SLOW_STREAM_DELAY if model == "slow-stream" else STREAM_DELAY
        for index, event in enumerate(events):
            if model == "stall-stream" and index == 2:
                owner.stopping.wait(SLOW_SECONDS)
                self.close_connection = True
                return
            if model == "stream-error" and index == 2:
                self._chunk(
                    b'data: {"error": {"message": "the provider fell over mid-stream", "code": 502}}\n\n'
                )
                self._end_stream()
                return
            if index == 1:
                self._chunk(b": keep-alive comment\n\n")
            if index == len(events) - 1:
                owner._stream_done(model)  # recorded before the client can see the end
            self._chunk(event.encode("utf-8"))
            if index < len(events) - 1:
                time.sleep(delay)
        self._end_stream()

    def _stream_turn(self, model: str, turn: dict[str, Any]) -> None:
        self._start_stream()
        events = [_sse({"role": "assistant", "content": None if turn.get("tool_calls") else ""}, model)]
        content = turn.get("content")
        if content:
            words = content.split(" ")
            events += [_sse({"content": w if i == 0 else " " + w}, model) for i, w in enumerate(words)]
        for index, call in enumerate(tool_calls_of(turn)):
            head = {"index": index, "id": call["id"], "type": "function"}
            head["function"] = {"name": call["function"]["name"], "arguments": ""}
            events.append(_sse({"tool_calls": [head]}, model))
            text = call["function"]["arguments"]
            cut = max(len(text) // 3, 1)
            for start in range(0, len(text), cut):
                fragment = {"index": index, "function": {"arguments": text[start : start + cut]}}
                events.append(_sse({"tool_calls": [fragment]}, model))
        reason = "tool_calls" if turn.get("tool_calls") else "stop"
        events.append(_sse({}, model, finish_reason=reason))
        if turn.get("usage"):
            last = {"id": "chatcmpl-test", "model": model, "choices": [], "usage": turn["usage"]}
            events.append(f"data: {json.dumps(last)}\n\n")
        events.append("data: [DONE]\n\n")
        for event in events:
            self._chunk(event.encode("utf-8"))
            time.sleep(STREAM_DELAY)
        self._end_stream()


def tool_calls_of(turn: dict[str, Any]) -> list[dict[str, Any]]:
    """A script turn's tool calls in the OpenAI format (ids ``call_<k>`` unless given)."""
    calls = []
    for index, call in enumerate(turn.get("tool_calls") or ()):
        arguments = call.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        calls.append(
            {
                "id": call.get("id", f"call_{index}"),
                "type": "function",
                "function": {"name": call["name"], "arguments": text},
            }
        )
    return calls


def turn_completion(model: str, turn: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object for one script turn."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.get("content")}
    calls = tool_calls_of(turn)
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": turn.get("usage") or _usage(messages, turn.get("content") or ""),
    }


def _sse(delta: dict[str, Any], model: str, finish_reason: str | None = None) -> str:
    chunk = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


def reply_for(messages: list[dict[str, Any]]) -> str:
    """The server's answer: ``"Echo: "`` and the last user message (first 300 chars)."""
    last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    text = last if isinstance(last, str) else json.dumps(last)
    return "Echo: " + " ".join(text.split())[:300]


def _usage(messages: list[dict[str, Any]], reply: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in messages)
    completion_tokens = len(reply.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def completion(model: str, reply: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
        ],
        "usage": _usage(messages, reply),
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: LLMTestServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or aborted resets its connection: expected here.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class LLMTestServer:
    """The server, its recorded requests and scenario counters.

    Use as a context manager, or :meth:`start` / :meth:`stop`.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.stream_finished_at: dict[str, float] = {}
        self.stopping = threading.Event()
        #: Where the redirect routes send a client (another server's ``url``).
        self.redirect_to = "http://127.0.0.1:9"
        #: The scripts of the ``agent-<name>`` models (see the module's docstring).
        self.scripts: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style API root: ``http://127.0.0.1:PORT/v1``."""
        return self.url + "/v1"

    def start(self) -> LLMTestServer:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="llm-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes handlers that are waiting on purpose."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Forget recorded requests and scenario counters."""
        with self._lock:
            self.requests.clear()
            self._counts.clear()
            self.stream_finished_at.clear()

    def script(self, name: str, turns: list[dict[str, Any]]) -> str:
        """Give model ``agent-<name>`` its turns; returns that model name."""
        with self._lock:
            self.scripts[name] = [dict(t) for t in turns]
        return "agent-" + name

    def turn_for(self, name: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The turn that answers ``messages``: one per assistant message already in it."""
        with self._lock:
            turns = self.scripts.get(name)
        if not turns:
            return {"content": f"no script named {name!r}"}
        done = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")
        return turns[min(done, len(turns) - 1)]

    def chat_requests(self) -> list[RecordedRequest]:
        """The ``POST /v1/chat/completions`` requests received so far."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path == "/v1/chat/completions"]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _count(self, model: str) -> int:
        with self._lock:
            self._counts[model] = self._counts.get(model, 0) + 1
            return self._counts[model]

    def _stream_done(self, model: str) -> None:
        """Note when the last event of a stream is about to be sent."""
        with self._lock:
            self.stream_finished_at[model] = time.monotonic()

    def __enter__(self) -> LLMTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve() -> Iterator[LLMTestServer]:
    """Generator for a pytest fixture: a started server, stopped afterwards."""
    with LLMTestServer() as server:
        yield server


if __name__ == "__main__":  # manual use: python tests/python/llm_server.py
    with LLMTestServer() as running:
        print(f"serving {running.base_url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
