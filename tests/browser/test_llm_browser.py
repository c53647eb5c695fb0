"""The model layer in headless Chromium: Python in Pyodide calls a local model server via fetch.

blazen_py is installed from dist/ (its wheel, via the lock, as the page does) together with
pyodide-http. The OpenAI-compatible server of tests/python/llm_server.py runs on another
port of 127.0.0.1, so every call is a real cross-origin fetch that needs its CORS headers
(an ``Authorization`` header also makes Chromium send a preflight).

Covered: the seam picks fetch; complete and stream (the stream's pieces reach Python
while the server is still sending, so the body is read from fetch's ReadableStream);
errors, retries, timeouts and refused connections; the spec's summarizer workflow end to
end (the article fetched from the local server, then summarized); a model call never
follows a redirect, so the key never reaches a second server on another port (another
origin), and what Chromium itself does with Authorization when a fetch does follow one;
hostile keys are refused before any request; the API key never shows on the console.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from llm_server import ARTICLE, PROVIDER_400_MESSAGE, LLMTestServer

FAKE_KEY = "sk-or-v1-browser-0123456789abcdef0123456789abcdef"
BOOT_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 60_000


class PyodidePage:
    """A page on dist/'s origin with Pyodide, blazen_py and pyodide-http loaded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []

    def run(self, code: str) -> Any:
        """Run Python (top-level await allowed) whose last expression is a JSON string."""
        result = self.page.evaluate(
            """async ([code, ms]) => {
                const timeout = new Promise((_, reject) =>
                    setTimeout(() => reject(new Error(`no result within ${ms} ms`)), ms));
                return await Promise.race([window.__py.runPythonAsync(code), timeout]);
            }""",
            [code, RUN_TIMEOUT_MS],
        )
        return json.loads(result)


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMTestServer]:
    with LLMTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[LLMTestServer]:
    """A second server on another port: another origin, where redirects point."""
    with LLMTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def py(browser: Any, base_url: str, llm: LLMTestServer) -> Iterator[PyodidePage]:
    context = browser.new_context()
    page = context.new_page()
    wrapper = PyodidePage(page)
    page.on("console", lambda msg: wrapper.console.append(msg.text))
    page.on("pageerror", lambda error: wrapper.console.append(f"uncaught: {error}"))
    # Any document that dist/'s server really serves will do. (Not one made up with
    # page.route: Chromium counts such a page as public, and its Local Network Access
    # checks then refuse its fetches to 127.0.0.1.)
    page.goto(base_url.rstrip("/") + "/build-info.json")
    page.evaluate(
        """async ([ms]) => {
            const base = new URL("./pyodide/", location.href).href;
            const { loadPyodide } = await import(base + "pyodide.mjs");
            const py = await loadPyodide({ indexURL: base });
            const problems = [];
            await py.loadPackage(["blazen-py", "pyodide-http"], {
                messageCallback: () => {},
                errorCallback: (m) => problems.push(m),
            });
            if (problems.length) throw new Error(problems.join("; "));
            window.__py = py;
        }""",
        [BOOT_TIMEOUT_MS],
    )
    wrapper.run(
        f"""
import json, os
os.environ["OPENROUTER_API_KEY"] = {FAKE_KEY!r}
os.environ["OPENROUTER_BASE_URL"] = {llm.base_url!r}
SERVER = {llm.url!r}
json.dumps(True)
"""
    )
    yield wrapper
    context.close()


@pytest.fixture
def server(llm: LLMTestServer) -> LLMTestServer:
    llm.reset()
    return llm


def test_the_seam_uses_fetch_and_patches_urllib(py: PyodidePage, server: LLMTestServer) -> None:
    result = py.run(
        """
import sys, urllib.request
from blazen_py import _compat
patched = _compat.patch_http()
with urllib.request.urlopen(SERVER + "/article") as response:  # through pyodide-http
    text = response.read().decode()
json.dumps({"platform": sys.platform, "in_pyodide": _compat.IN_PYODIDE,
            "module": type(_compat.TRANSPORT).__module__, "patched": patched, "text": text})
"""
    )
    assert result == {
        "platform": "emscripten",
        "in_pyodide": True,
        "module": "blazen_py._compat._pyodide",
        "patched": True,
        "text": ARTICLE,
    }


def test_complete_through_fetch(py: PyodidePage, server: LLMTestServer) -> None:
    result = py.run(
        """
from blazen_py.llm import ChatMessage, CompletionModel
model = CompletionModel.openai_compatible(base_url=SERVER + "/v1", model="local-model")
response = await model.complete([ChatMessage.system("Be brief."), ChatMessage.user("hello browser")],
                                {"temperature": 0})
json.dumps(response.to_dict())
"""
    )
    assert result["content"] == "Echo: hello browser"
    assert result["model"] == "local-model"
    assert result["finish_reason"] == "stop"
    assert result["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    [request] = server.chat_requests()
    assert request.headers["origin"].startswith("http://127.0.0.1:")  # a cross-origin fetch
    assert "authorization" not in request.headers
    assert request.json["messages"][1] == {"role": "user", "content": "hello browser"}
    assert request.json["temperature"] == 0


def test_openrouter_key_from_the_environment_reaches_the_server(
    py: PyodidePage, server: LLMTestServer
) -> None:
    result = py.run(
        """
from blazen_py.llm import ChatMessage, CompletionModel
model = CompletionModel.openrouter()
response = await model.complete([ChatMessage.user("with a key")])
json.dumps({"content": response.content, "repr": repr(model)})
"""
    )
    assert result["content"] == "Echo: with a key"
    assert FAKE_KEY not in result["repr"]
    [request] = server.chat_requests()
    assert request.headers["authorization"] == "Bearer " + FAKE_KEY
    assert any(r.method == "OPTIONS" for r in server.requests), "expected a CORS preflight"


def test_stream_reads_the_body_as_it_arrives(py: PyodidePage, server: LLMTestServer) -> None:
    result = py.run(
        """
import time
from blazen_py.llm import ChatMessage, CompletionModel
model = CompletionModel.openai_compatible(base_url=SERVER + "/v1", model="slow-stream")
arrivals = []
started = time.monotonic()

async def on_chunk(chunk):
    arrivals.append([time.monotonic() - started, chunk.delta])

response = await model.stream([ChatMessage.user("one two three four")], on_chunk)
json.dumps({"arrivals": arrivals, "total": time.monotonic() - started, "content": response.content,
            "finish_reason": response.finish_reason})
"""
    )
    assert [delta for _, delta in result["arrivals"]] == ["Echo:", " one", " two", " three", " four"]
    assert result["content"] == "Echo: one two three four"
    assert result["finish_reason"] == "stop"
    first = result["arrivals"][0][0]
    # the server sends a word every 0.15 s: the first one arrived long before the end
    assert result["total"] - first > 0.45, result
    [request] = server.chat_requests()
    assert request.json["stream"] is True


def test_stream_in_tiny_chunks(py: PyodidePage, server: LLMTestServer) -> None:
    result = py.run(
        """
from blazen_py.llm import ChatMessage, CompletionModel
model = CompletionModel.openai_compatible(base_url=SERVER + "/v1", model="tiny-chunks")
pieces = []
response = await model.stream([ChatMessage.user("héllo ✓ 日本語")], lambda c: pieces.append(c.delta))
json.dumps({"pieces": pieces, "content": response.content})
"""
    )
    assert result["content"] == "Echo: héllo ✓ 日本語"
    assert "".join(result["pieces"]) == result["content"]


def test_errors_retries_and_timeouts(py: PyodidePage, server: LLMTestServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    result = py.run(
        f"""
import time
from blazen_py.llm import ChatMessage, CompletionModel
from blazen_py.errors import ModelError
out = {{}}
async def attempt(name, model_name, method="complete", **kwargs):
    base = kwargs.pop("base", SERVER + "/v1")
    model = CompletionModel.openai_compatible(base_url=base, model=model_name, retry_backoff=0.01, **kwargs)
    started = time.monotonic()
    try:
        if method == "complete":
            response = await model.complete([ChatMessage.user("x")])
        else:
            response = await model.stream([ChatMessage.user("x")], lambda c: None)
        out[name] = {{"content": response.content}}
    except ModelError as exc:
        out[name] = {{"type": type(exc).__name__, "status": exc.status, "message": str(exc),
                     "provider": getattr(exc, "provider_message", None),
                     "retry_after": getattr(exc, "retry_after", None),
                     "seconds": time.monotonic() - started}}
await attempt("400", "error-400")
await attempt("400-stream", "error-400", "stream")
await attempt("429-then-ok", "flaky-429")
await attempt("503-then-ok-stream", "flaky-503", "stream")
await attempt("500", "always-500", max_retries=2)
await attempt("429-too-long", "always-429", max_retry_delay=5)
await attempt("slow", "slow", timeout=0.5)
await attempt("stall", "stall-stream", "stream", timeout=0.5)
await attempt("refused", "m", base="http://127.0.0.1:{closed}/v1", max_retries=0)
json.dumps(out)
"""
    )
    assert result["400"]["type"] == "ModelHTTPError"
    assert result["400"]["status"] == 400
    assert result["400"]["provider"] == PROVIDER_400_MESSAGE
    assert result["400-stream"]["provider"] == PROVIDER_400_MESSAGE
    assert result["429-then-ok"] == {"content": "Echo: x"}
    assert result["503-then-ok-stream"] == {"content": "Echo: x"}
    assert result["500"]["status"] == 500
    assert "after 3 attempts" in result["500"]["message"]
    # Retry-After is readable across origins because the server exposes it
    assert result["429-too-long"]["type"] == "RateLimitError"
    assert result["429-too-long"]["retry_after"] == 120
    assert result["slow"]["type"] == "ModelTimeoutError"
    assert result["slow"]["seconds"] < 2
    assert result["stall"]["type"] == "ModelTimeoutError"
    assert result["refused"]["type"] == "ModelConnectionError"
    assert result["refused"]["status"] is None
    models = [r.json["model"] for r in server.chat_requests()]
    assert models.count("flaky-429") == 3
    assert models.count("always-500") == 3


def test_spec_summarizer_workflow(py: PyodidePage, server: LLMTestServer) -> None:
    result = py.run(
        """
from blazen_py import START_EVENT, STOP_EVENT, Workflow
from blazen_py._compat import http_request
from blazen_py.llm import ChatMessage, CompletionModel

wf = Workflow("summarizer")

async def fetch_text(event, ctx):
    ctx.set("source", event["url"])
    text = (await http_request("GET", event["url"])).text()
    return {"type": "SummarizeEvent", "text": text}

async def summarize(event, ctx):
    # reads OPENROUTER_API_KEY (and OPENROUTER_BASE_URL) from the environment
    model = CompletionModel.openrouter()
    response = await model.complete([
        ChatMessage.system("Summarize the following text in 2-3 sentences."),
        ChatMessage.user(event["text"]),
    ])
    return {"type": STOP_EVENT, "result": {"summary": response.content}}

wf.add_step("fetch_text", [START_EVENT], fetch_text)
wf.add_step("summarize", ["SummarizeEvent"], summarize)
result = await wf.run({"url": SERVER + "/article"})
json.dumps({"data": result.data, "run_id": result.run_id})
"""
    )
    assert result["data"]["summary"].startswith("Echo: WebAssembly lets Python run in the browser.")
    assert len(result["run_id"]) == 36
    paths = [(r.method, r.path) for r in server.requests]
    assert ("GET", "/article") in paths
    [request] = server.chat_requests()
    assert request.json["messages"][1] == {"role": "user", "content": ARTICLE}
    assert request.headers["authorization"] == "Bearer " + FAKE_KEY


@pytest.fixture
def two_origins(server: LLMTestServer, elsewhere: LLMTestServer) -> tuple[LLMTestServer, LLMTestServer]:
    elsewhere.reset()
    server.redirect_to = elsewhere.url
    return server, elsewhere


def test_a_model_call_never_follows_a_redirect(
    py: PyodidePage, two_origins: tuple[LLMTestServer, LLMTestServer]
) -> None:
    first, second = two_origins
    result = py.run(
        """
from blazen_py.llm import ChatMessage, CompletionModel, ModelRedirectError
out = []
for status in (301, 302, 303, 307, 308):
    for method in ("complete", "stream"):
        model = CompletionModel.openrouter(base_url=SERVER + "/v1", model=f"redirect-{status}", max_retries=2)
        try:
            if method == "complete":
                await model.complete([ChatMessage.user("a secret conversation")])
            else:
                await model.stream([ChatMessage.user("a secret conversation")], lambda c: None)
            out.append({"status": status, "method": method, "followed": True})
        except ModelRedirectError as exc:
            out.append({"status": status, "method": method, "error": type(exc).__name__,
                        "code": exc.status, "location": exc.location, "message": str(exc)})
json.dumps(out)
"""
    )
    assert len(result) == 10
    for entry in result:
        # The browser hides an unfollowed redirect (an opaque redirect): no code, no target.
        assert (entry.get("error"), entry.get("code"), entry.get("location")) == (
            "ModelRedirectError",
            None,
            None,
        ), entry
        assert "never follow redirects" in entry["message"]
    models = [r.json["model"] for r in first.chat_requests()]
    assert sorted(models) == sorted(
        f"redirect-{s}" for s in (301, 302, 303, 307, 308) for _ in range(2)
    )  # no retry
    assert all(r.headers["authorization"] == "Bearer " + FAKE_KEY for r in first.chat_requests())
    assert second.requests == []  # neither the key nor the conversation reached the other origin


def test_chromium_drops_authorization_when_fetch_follows_to_another_origin(
    py: PyodidePage, two_origins: tuple[LLMTestServer, LLMTestServer]
) -> None:
    """What the browser does itself (the Fetch standard since 2023), when a request follows."""
    first, second = two_origins
    result = py.run(
        f"""
from blazen_py._compat import http_request
out = {{}}
for status in (301, 302, 303, 307, 308):
    response = await http_request("GET", SERVER + f"/redirect/{{status}}",
                                  headers={{"Authorization": "Bearer {FAKE_KEY}"}}, timeout=10)
    out[status] = [response.status, response.url, response.text()]
# fetch would send any header but Authorization on: one with X-Api-Key does not follow.
custom = await http_request("GET", SERVER + "/redirect/307", headers={{"X-Api-Key": "{FAKE_KEY}"}}, timeout=10)
out["x-api-key"] = [custom.status, custom.url, custom.text()]
json.dumps(out)
"""
    )
    assert result.pop("x-api-key") == [0, first.url + "/redirect/307", ""]
    for status, (code, url, text) in result.items():
        assert (code, url, text) == (200, second.url + "/article", ARTICLE), status
    arrived = [r for r in second.requests if r.method == "GET"]
    assert len(arrived) == 5
    assert all("authorization" not in r.headers for r in arrived)
    assert not any(FAKE_KEY in repr(r.headers) for r in second.requests)
    gets = [r for r in first.requests if r.method == "GET"]
    assert [r.headers.get("authorization") for r in gets] == ["Bearer " + FAKE_KEY] * 5 + [None]
    assert gets[-1].headers["x-api-key"] == FAKE_KEY  # it reached its own origin, and only that


def test_a_hostile_key_is_refused_before_any_request(py: PyodidePage, server: LLMTestServer) -> None:
    result = py.run(
        """
import os, traceback
from blazen_py.llm import CompletionModel, InvalidApiKeyError
out = []
saved = os.environ["OPENROUTER_API_KEY"]
for key in ["sk-Qz7Xj4Wq\\nVk9Lp2Rm", "sk-Qz7Xj4Wq\\r\\nX-Injected: Vk9Lp2Rm", "sk-Qz7Xj4Wq\\u2019Vk9Lp2Rm",
            "sk-Qz7Xj4Wq Vk9Lp2Rm", "sk-" + "Qz7Xj4WqVk9Lp2Rm" * 300]:
    os.environ["OPENROUTER_API_KEY"] = key
    try:
        CompletionModel.openrouter()
        out.append("accepted")
    except InvalidApiKeyError as exc:
        print("error:", exc)
        out.append("".join(traceback.format_exception(exc)) + repr(exc) + repr(vars(exc)))
os.environ["OPENROUTER_API_KEY"] = saved
json.dumps(out)
"""
    )
    assert len(result) == 5
    for text in result:
        assert "OPENROUTER_API_KEY" in text
        assert not [part for part in ("Qz7X", "j4Wq", "Vk9L", "p2Rm") if part in text], text
    assert server.requests == []
    assert not [line for line in py.console if "Qz7X" in line or "Vk9L" in line]


def test_api_key_never_on_the_console(py: PyodidePage) -> None:
    # runs last in this module: everything above has logged what it logs
    py.run(
        """
import logging
logging.basicConfig(level=logging.DEBUG, force=True)
from blazen_py.llm import ChatMessage, CompletionModel
model = CompletionModel.openrouter(model="error-401", max_retries=0)
try:
    await model.complete([ChatMessage.user("x")])
except Exception as exc:
    print("error:", exc, repr(exc))
print("model:", model)
json.dumps(True)
"""
    )
    text = "\n".join(py.console)
    assert "Incorrect API key provided: ***" in text
    assert "HTTP 401" in text
    assert FAKE_KEY not in text
