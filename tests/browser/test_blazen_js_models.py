"""blazen.js with a model: the spec's summarizer, end to end, in headless Chromium.

The local OpenAI-compatible server of tests/python/llm_server.py stands in for
OpenRouter (through ``OPENROUTER_BASE_URL``) and serves the article the first step fetches.
A second one, on another port (another origin), is where its redirects point.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from llm_server import ARTICLE, LLMTestServer

FAKE_KEY = "sk-or-v1-js-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMTestServer]:
    with LLMTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def page(browser: Any, origin: str, llm: LLMTestServer) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.console_lines = []  # type: ignore[attr-defined]
    page.on("console", lambda msg: page.console_lines.append(msg.text))  # type: ignore[attr-defined]
    page.goto(origin + "_test/blank.html")
    yield page
    context.close()


def run(page: Any, body: str, env: dict[str, str]) -> Any:
    return json.loads(
        page.evaluate(
            """async ([body, env]) => {
                const blazen = await import('/blazen.js');
                const init = blazen.default;
                const { Workflow, ChatMessage, CompletionModel } = blazen;
                const logs = [];
                const console = { log: (...a) => logs.push(a.length === 1 ? a[0] : a) };
                try {
                    const value = await (new Function('init', 'Workflow', 'ChatMessage', 'CompletionModel', 'console', 'env', 'blazen',
                        `return (async () => { ${body} })();`))(init, Workflow, ChatMessage, CompletionModel, console, env, blazen);
                    return JSON.stringify({ value: value ?? null, logs });
                } catch (error) {
                    return JSON.stringify({ error: { name: error.name, message: error.message, status: error.status ?? null }, logs });
                }
            }""",
            [body, env],
        )
    )


SUMMARIZER = """
await init({ env });
const wf = new Workflow('summarizer');
wf.addStep('fetch_text', ['blazen::StartEvent'], async (event, ctx) => {
ctx.set('source', event.url);
const text = await fetch(event.url).then(r => r.text());
return { type: 'SummarizeEvent', text };
});
wf.addStep('summarize', ['SummarizeEvent'], async (event, ctx) => {
// The WASM SDK reads OPENROUTER_API_KEY from the runtime environment.
// Factory methods do not accept runtime keys -- configure the env var
// at deploy time (see the Edge Deployment guide for strategies).
const model = CompletionModel.openrouter();
const response = await model.complete([
ChatMessage.system('Summarize the following text in 2-3 sentences.'),
ChatMessage.user(event.text),
]);
return {
type: 'blazen::StopEvent',
result: { summary: response.content },
};
});
const result = await wf.run({ url: ARTICLE_URL });
console.log(result.data.summary);
return result.data;
"""


def test_spec_summarizer_end_to_end(page: Any, llm: LLMTestServer) -> None:
    llm.reset()
    env = {"OPENROUTER_API_KEY": FAKE_KEY, "OPENROUTER_BASE_URL": llm.base_url}
    out = run(page, SUMMARIZER.replace("ARTICLE_URL", json.dumps(llm.url + "/article")), env)
    assert "error" not in out, out
    assert out["value"] == {"summary": "Echo: " + ARTICLE}
    assert out["logs"] == ["Echo: " + ARTICLE]
    (request,) = llm.chat_requests()
    assert request.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert [m["role"] for m in request.json["messages"]] == ["system", "user"]
    assert not any(FAKE_KEY in line for line in page.console_lines)


def test_streaming_and_errors_through_js(page: Any, llm: LLMTestServer) -> None:
    env = {"OPENROUTER_API_KEY": FAKE_KEY, "OPENROUTER_BASE_URL": llm.base_url}
    out = run(
        page,
        """
        await init({ env });
        const model = CompletionModel.openaiCompatible({ baseUrl: env.OPENROUTER_BASE_URL, model: 'm' });
        const chunks = [];
        const response = await model.stream([ChatMessage.user('hello there')], (chunk) => { chunks.push(chunk.delta); });
        const failing = CompletionModel.openaiCompatible({ baseUrl: env.OPENROUTER_BASE_URL, model: 'error-400', maxRetries: 0 });
        let error;
        try { await failing.complete([ChatMessage.user('x')]); } catch (e) { error = [e.name, e.status, e instanceof Error]; }
        return [chunks.join(''), chunks.length > 1, response.content, response.finishReason, error];
        """,
        env,
    )
    assert "error" not in out, out
    joined, several, content, finish, error = out["value"]
    assert joined == content == "Echo: hello there"
    assert several
    assert finish == "stop"
    assert error == ["ModelHTTPError", 400, True]


def test_missing_key_names_the_variable(page: Any) -> None:
    out = run(
        page,
        """
        await init({ env: { OPENAI_API_KEY: '' } });
        CompletionModel.openai();
        """,
        {},
    )
    assert out["error"]["name"] == "MissingApiKeyError"
    assert "OPENAI_API_KEY" in out["error"]["message"]


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[LLMTestServer]:
    with LLMTestServer() as server:
        yield server


def test_a_js_model_never_follows_a_redirect(page: Any, llm: LLMTestServer, elsewhere: LLMTestServer) -> None:
    llm.reset()
    elsewhere.reset()
    llm.redirect_to = elsewhere.url
    env = {"REDIRECT_KEY": FAKE_KEY}
    out = run(
        page,
        f"""
        await init({{ env }});
        const model = CompletionModel.openaiCompatible({{ baseUrl: {json.dumps(llm.base_url)}, model: 'redirect-307', apiKeyEnv: 'REDIRECT_KEY' }});
        const seen = [];
        for (const call of [() => model.complete([ChatMessage.user('x')]), () => model.stream([ChatMessage.user('x')], () => {{}})]) {{
            try {{ await call(); seen.push('followed'); }}
            catch (e) {{ seen.push([e.name, e instanceof blazen.ModelRedirectError, e instanceof blazen.ModelHTTPError, e.status, e.message.includes('never follow redirects')]); }}
        }}
        return seen;
        """,
        env,
    )
    assert "error" not in out, out
    assert out["value"] == [["ModelRedirectError", True, True, None, True]] * 2
    assert [r.headers["authorization"] for r in llm.chat_requests()] == [f"Bearer {FAKE_KEY}"] * 2
    assert elsewhere.requests == []


def test_a_hostile_key_is_a_typed_error_that_never_shows_it(page: Any, llm: LLMTestServer) -> None:
    llm.reset()
    page.console_lines.clear()
    out = run(
        page,
        """
        const results = [];
        for (const key of ['sk-Qz7Xj4Wq\\nVk9Lp2Rm', 'sk-Qz7Xj4Wq\\u2019Vk9Lp2Rm', 'sk-Qz7Xj4Wq\\u0000Vk9Lp2Rm']) {
            try {
                await init({ env: { OPENROUTER_API_KEY: key } });
                CompletionModel.openrouter();
                results.push('accepted');
            } catch (e) {
                globalThis.console.log(String(e), e.stack);
                results.push([e.name, e instanceof blazen.InvalidApiKeyError, e instanceof blazen.MissingApiKeyError,
                              e instanceof blazen.BlazenError, e.message, String(e.stack)]);
            }
        }
        return results;
        """,
        {},
    )
    assert "error" not in out, out
    newline, non_latin1, nul = out["value"]
    assert newline[:4] == ["InvalidApiKeyError", True, True, True]
    assert non_latin1[:4] == ["InvalidApiKeyError", True, True, True]
    assert "OPENROUTER_API_KEY" in newline[4]
    # NUL cannot even enter the environment (os.environ refuses it): a typed error too.
    assert nul != "accepted"
    assert nul[3] is True, nul
    texts = json.dumps(out) + "\n".join(page.console_lines)
    assert not [part for part in ("Qz7X", "j4Wq", "Vk9L", "p2Rm") if part in texts], texts
    assert llm.requests == []
