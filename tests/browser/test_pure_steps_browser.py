"""Pure JS steps (``{pure: true}``) in Chromium, through blazen.js (issue 24, item 3).

A pure step is sync and uses no ctx, so the bridge may run a chain of them in one call
into JS. Every workflow here runs twice, declared pure and not: results, stream items,
snapshots and errors must be the same, the failing step named (not the chain's first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jspage import JsPage, booted_js_page

STOP = "blazen::StopEvent"
START = "blazen::StartEvent"


@pytest.fixture(scope="module")
def js(browser: Any, origin: str) -> Iterator[JsPage]:
    with booted_js_page(browser, origin) as page:
        yield page


def outcome(js: JsPage, pure: bool, body: str) -> Any:
    """Run ``body`` with ``P`` the step options (``{pure: true}`` or ``null``) and
    ``describe(error)`` in scope, under a deadline; its value."""
    out = js.value(
        f"""
        const P = {'{ pure: true }' if pure else 'null'};
        const describe = (e) => ({{ name: e.name, step: e.step ?? null, eventType: e.eventType ?? null,
                                   message: String(e.message) }});
        const deadline = new Promise((_, reject) =>
          setTimeout(() => reject(new Error('case timed out: it would hang')), 30000));
        return await Promise.race([(async () => {{ {body} }})(), deadline]);
        """
    )
    return out["value"]


def same(js: JsPage, body: str) -> Any:
    pure, plain = outcome(js, True, body), outcome(js, False, body)
    assert pure == plain
    return pure


# A chain s0 -> s1 -> ... -> s(n-1) -> stop; step `bad` (if any) throws.
CHAIN = f"""
const chain = (n, bad = -1, last = null) => {{
  const wf = new Workflow('chain');
  for (let i = 0; i < n; i++) {{
    wf.addStep(`s${{i}}`, [i === 0 ? '{START}' : `E${{i}}`], (e) => {{
      if (i === bad) throw new RangeError(`s${{i}} refuses ${{e.k}}`);
      if (i === n - 1) return last ?? {{ type: '{STOP}', result: {{ k: (e.k ?? 0) + 1, at: i }} }};
      return {{ type: `E${{i + 1}}`, k: (e.k ?? 0) + 1, s: 'x' }};
    }}, P);
  }}
  return wf;
}};
"""


@pytest.mark.parametrize("n", [1, 2, 10, 1000])
def test_a_chain_gives_the_same_result(js: JsPage, n: int) -> None:
    out = same(js, CHAIN + f"return (await chain({n}).run({{}})).data;")
    assert out == {"k": n, "at": n - 1}


def test_the_same_stream_items(js: JsPage) -> None:
    out = same(
        js,
        CHAIN + "const items = []; await chain(12).runStreaming({}, (i) => items.push(i)); return items;",
    )
    types = [i["eventType"] for i in out]
    assert types == [START] + [f"E{i}" for i in range(1, 12)] + [STOP]
    assert out[3] == {"type": "E3", "k": 3, "s": "x", "eventType": "E3"}


@pytest.mark.parametrize("bad", [0, 1, 5, 299])
def test_an_error_names_the_failing_step(js: JsPage, bad: int) -> None:
    out = same(js, CHAIN + f"try {{ await chain(300, {bad}).run({{}}); return 'ok'; }} catch (e) {{ return describe(e); }}")
    assert out["step"] == f"s{bad}", out
    assert out["eventType"] == (START if bad == 0 else f"E{bad}"), out
    assert f"RangeError: s{bad} refuses" in out["message"], out


@pytest.mark.parametrize(
    "last, fragment",
    [
        ("{ type: 'E1', x: NaN }", "field x is nan"),
        ("{ type: 42 }", "no string 'type'"),
        ("'text'", "returned a string"),
        ("{ type: 'Nowhere' }", None),
    ],
)
def test_a_bad_result_names_the_step_that_made_it(js: JsPage, last: str, fragment: str | None) -> None:
    out = same(
        js,
        CHAIN
        + f"""
        try {{
          const r = await chain(6, -1, {last}).run({{}});
          return {{ data: r.data }};
        }} catch (e) {{ return describe(e); }}
        """,
    )
    if fragment is None:  # an event no step accepts: the run stalls (idle), its producer named
        assert out["step"] is None or out["step"] == "s5", out
        assert "s5" in out["message"], out
    else:
        assert out["step"] == "s5", out
        assert fragment in out["message"], out


def test_snapshots_between_chains_are_the_same(js: JsPage) -> None:
    out = same(
        js,
        f"""
        let release;
        const gate = new Promise((r) => (release = r));
        const wf = new Workflow('snap');
        for (let i = 0; i < 20; i++) {{
          wf.addStep(`s${{i}}`, [i === 0 ? '{START}' : `E${{i}}`], (e) => ({{ type: i === 19 ? 'Wait' : `E${{i + 1}}`, k: (e.k ?? 0) + 1 }}), P);
        }}
        wf.addStep('wait', ['Wait'], async (e) => {{ await gate; return {{ type: '{STOP}', result: e.k }}; }});
        const handler = await wf.runWithHandler({{}});
        await new Promise((r) => setTimeout(r, 50));
        const snap = await handler.snapshot();
        release();
        const result = (await handler.result()).data;
        const resumed = (await (await wf.resume(JSON.parse(JSON.stringify(snap)))).result()).data;
        return {{ result, resumed, inputs: snap.step_inputs, queue: snap.queue, state: snap.state }};
        """,
    )
    assert out["result"] == 20
    assert out["resumed"] == 20


def test_a_plain_run_paused_mid_chain_resumes_the_same(js: JsPage) -> None:
    """wf.run has no listener, so its pure steps chain; a fan-out queues events, so
    those chains are off: the two interleave the same either way."""
    out = same(
        js,
        f"""
        const wf = new Workflow('fan');
        const seen = [];
        wf.addStep('split', ['{START}'], () => [0, 1, 2].map((i) => ({{ type: 'A', i, k: 0 }})));
        wf.addStep('a', ['A'], (e) => ({{ type: 'B', i: e.i, k: e.k + 1 }}), P);
        wf.addStep('b', ['B'], (e) => ({{ type: 'C', i: e.i, k: e.k + 1 }}), P);
        wf.addStep('join', ['C'], (e) => {{ seen.push(e.i); return seen.length === 3 ? {{ type: '{STOP}', result: seen }} : undefined; }});
        return (await wf.run({{}})).data;
        """,
    )
    assert out == [0, 1, 2]


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("(e, ctx) => { ctx.set('k', 1); return { type: 'blazen::StopEvent' }; }", "it read ctx.set"),
        ("(e, ctx) => ({ type: 'blazen::StopEvent', result: ctx.state })", "it read ctx.state"),
        ("(e, ctx) => { ctx.x = 1; return null; }", "it set ctx.x"),
        ("async (e) => ({ type: 'blazen::StopEvent' })", "returned a Promise"),
        ("(e) => Promise.resolve({ type: 'blazen::StopEvent' })", "returned a Promise"),
    ],
)
def test_a_pure_step_using_ctx_or_returning_a_promise_fails_clearly(js: JsPage, body: str, fragment: str) -> None:
    out = outcome(
        js,
        True,
        f"""
        const wf = new Workflow('impure');
        wf.addStep('before', ['{START}'], (e) => ({{ type: 'Go' }}), P);
        wf.addStep('bad', ['Go'], {body}, P);
        try {{ await wf.run({{}}); return 'ok'; }} catch (e) {{ return describe(e); }}
        """,
    )
    assert out["step"] == "bad", out
    assert "step 'bad' is pure ({pure: true})" in out["message"], out
    assert fragment in out["message"], out


def test_pure_must_be_a_boolean(js: JsPage) -> None:
    out = outcome(
        js,
        False,
        f"""
        const wf = new Workflow('p');
        try {{ wf.addStep('s', ['{START}'], () => null, {{ pure: 'yes' }}); return 'ok'; }}
        catch (e) {{ return describe(e); }}
        """,
    )
    assert out["name"] == "WorkflowDefinitionError", out
    assert "pure must be true or false" in out["message"], out


def test_a_retried_pure_step_in_a_chain_is_called_again(js: JsPage) -> None:
    out = same(
        js,
        f"""
        let calls = 0;
        const wf = new Workflow('retry');
        wf.addStep('a', ['{START}'], () => ({{ type: 'B' }}), P);
        wf.addStep('b', ['B'], () => {{ calls++; if (calls < 3) throw new Error('flaky'); return {{ type: 'C' }}; }},
                   {{ ...(P ?? {{}}), retry: {{ maxAttempts: 3, initialDelay: 0, jitter: false }} }});
        wf.addStep('c', ['C'], () => ({{ type: '{STOP}', result: 'done' }}), P);
        const data = (await wf.run({{}})).data;
        return {{ data, calls }};
        """,
    )
    assert out == {"data": "done", "calls": 3}


def test_a_chain_beside_another_step_of_the_same_event_keeps_the_order(js: JsPage) -> None:
    """Chaining is off while another step takes the same event: the join sees the events
    in the order the dispatcher gives them without chaining."""
    out = same(
        js,
        f"""
        const seen = [];
        const wf = new Workflow('siblings');
        wf.addStep('a', ['{START}'], () => ({{ type: 'B' }}), P);
        wf.addStep('b', ['B'], () => ({{ type: 'C' }}), P);
        wf.addStep('c', ['C'], () => ({{ type: 'D' }}), P);
        wf.addStep('d', ['D'], () => ({{ type: 'Done', from: 'chain' }}), P);
        wf.addStep('x', ['{START}'], () => ({{ type: 'X' }}));
        wf.addStep('y', ['X'], () => ({{ type: 'Done', from: 'other' }}));
        wf.addStep('join', ['Done'], (e) => {{ seen.push(e.from); return seen.length === 2 ? {{ type: '{STOP}', result: seen }} : undefined; }});
        return (await wf.run({{}})).data;
        """,
    )
    assert out == ["other", "chain"]


def test_a_long_chain_hands_back_to_the_dispatcher(js: JsPage) -> None:
    """A chain of 2,000 pure steps in one run ends right: chains of at most 256 steps,
    the budget of the dispatcher's periodic yield charged with the steps they ran."""
    out = same(js, CHAIN + "return (await chain(2000).run({})).data;")
    assert out == {"k": 2000, "at": 1999}
