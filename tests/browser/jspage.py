"""A page with blazen.js booted, running async JS bodies: shared by the blazen.js tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

BOOT_TIMEOUT_MS = 120_000

PRELUDE = """
const blazen = await import('/blazen.js');
const init = blazen.default;
const { Workflow, WorkflowBuilder, WorkflowHandler, ChatMessage, CompletionModel } = blazen;
await init();
const logs = [];
const console = { log: (...args) => logs.push(args.length === 1 ? args[0] : args) };
"""


class JsPage:
    """A page of the test origin with blazen.js booted; runs async JS bodies."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def run(self, body: str) -> Any:
        """Run ``body`` (may ``await``; ``console.log`` is captured) and return
        ``{value, logs}`` for what it returns, or ``{error: {...}}`` for what it throws."""
        script = f"""async () => {{
            {PRELUDE}
            try {{
                const value = await (async () => {{ {body} }})();
                return JSON.stringify({{ value: value === undefined ? null : value, logs }}, replacer);
            }} catch (error) {{
                return JSON.stringify({{ error: describe(error), logs }}, replacer);
            }}
            function describe(error) {{
                return {{
                    name: error && error.name, message: String(error && error.message),
                    step: error && error.step, eventType: error && error.eventType,
                    isError: error instanceof Error, blazen: error instanceof blazen.BlazenError,
                    cause: error && error.cause !== undefined ? String(error.cause && error.cause.message || error.cause) : null,
                }};
            }}
            function replacer(key, value) {{
                if (value instanceof Uint8Array) return {{ uint8: Array.from(value) }};
                if (value === undefined) return '<undefined>';
                return value;
            }}
        }}"""
        return json.loads(self.page.evaluate(script))

    def value(self, body: str) -> Any:
        """Like :meth:`run`, failing the test if the body threw."""
        out = self.run(body)
        if "error" in out:
            pytest.fail(f"JS threw: {out['error']}")
        return out


@contextmanager
def booted_js_page(browser: Any, origin: str) -> Iterator[JsPage]:
    """A new context's page of the test origin with blazen.js booted; on exit the context
    closes and no uncaught page error may have happened."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(BOOT_TIMEOUT_MS)
    page.goto(origin + "_test/blank.html")
    page.evaluate("async () => { await (await import('/blazen.js')).default(); }")
    try:
        yield JsPage(page)
    finally:
        context.close()
    assert errors == []
