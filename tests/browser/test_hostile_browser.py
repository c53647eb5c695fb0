"""Hostile data in Chromium, through blazen.js: BlazenState metadata, thrown values with no
string form, ``__proto__`` keys, the number rule, values state refuses, snapshot content
and the definition fingerprint.

One page boots blazen.js once; every case runs in it under a JS deadline
(``Promise.race`` with a timer), so a case that would hang fails instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

CASE_MS = 20_000

HELPERS = r"""
window.hostile = (() => {
  const { Workflow } = window.blazen;
  const describe = (e) => ({ name: e && e.name, message: String(e && e.message) });
  // A snapshot of the 'reader' workflow, as an attacker writes it.
  function crafted(state, extra = {}) {
    return Object.assign({
      format: 'blazen_py/snapshot', version: 2, workflow: 'reader',
      definition: { steps: [{ name: 'read', accepts: ['Go'] }] },
      run_id: 'r-hostile', status: 'running', created_at: 0, state,
      queue: [{ type: 'Go' }], step_inputs: [], input_requests: [], session_refs: [],
      unrouted: {}, metadata: {},
    }, extra);
  }
  // The reader: its step reads ctx.get('obj') and reports what it got (or the error).
  function reader() {
    const wf = new Workflow('reader');
    wf.addStep('read', ['Go'], (event, ctx) => {
      try {
        const obj = ctx.get('obj');
        const fields = {};
        for (const k of Object.keys(obj)) if (k !== '__blazen_state__') fields[k] = obj[k];
        return { type: 'blazen::StopEvent', result: { cls: obj.constructor.name, fields } };
      } catch (e) {
        return { type: 'blazen::StopEvent', result: { error: describe(e) } };
      }
    });
    return wf;
  }
  async function readBack(state) {
    const handler = await reader().resume(crafted(state));
    return (await handler.result()).data;
  }
  // A one-step workflow whose step is `fn`; the run's outcome.
  async function outcome(fn, options = null) {
    const wf = new Workflow('one');
    wf.addStep('s', ['blazen::StartEvent'], fn, options);
    wf.addStep('next', ['Next'], (e) => ({ type: 'blazen::StopEvent', result: e }));
    try {
      return { data: (await wf.run({})).data };
    } catch (e) {
      return { error: describe(e) };
    }
  }
  return { crafted, reader, readBack, outcome, describe };
})();
"""


@pytest.fixture(scope="module")
def page(browser: Any, origin: str) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(origin + "_test/blank.html")
    page.evaluate(
        "async () => { const m = await import('/blazen.js'); window.blazen = m; await m.default(); }"
    )
    page.evaluate(HELPERS)
    yield page
    context.close()


def run(page: Any, body: str) -> Any:
    """Run the async JS ``body`` (with blazen's exports and the helpers in scope) under a
    deadline; return its value, or ``{"thrown": {name, message}}``."""
    script = f"""async () => {{
        const {{ Workflow, registerStateClass }} = window.blazen;
        const {{ crafted, reader, readBack, outcome, describe }} = window.hostile;
        const deadline = new Promise((_, reject) =>
          setTimeout(() => reject(new Error('case timed out: it would hang')), {CASE_MS}));
        const replacer = (k, v) => typeof v === 'bigint' ? {{ bigint: v.toString() }}
          : v instanceof Uint8Array ? {{ uint8: Array.from(v) }}
          : typeof v === 'number' && !Number.isFinite(v) ? {{ number: String(v) }} : v;
        try {{
          const value = await Promise.race([(async () => {{ {body} }})(), deadline]);
          return JSON.stringify({{ value: value === undefined ? null : value }}, replacer);
        }} catch (e) {{
          return JSON.stringify({{ thrown: describe(e) }});
        }}
    }}"""
    out = json.loads(page.evaluate(script))
    if "thrown" in out:
        assert "case timed out" not in out["thrown"]["message"], out
        return out
    return out["value"]


def thrown(page: Any, body: str) -> dict[str, str]:
    out = run(page, body)
    assert isinstance(out, dict), out
    assert "thrown" in out, out
    return out["thrown"]


# -- BlazenState metadata -------------------------------------------------------------------

M = ".__blazen_meta__"
MALFORMED = [
    ("a string", '"js:Object"'),
    ("a number", "7"),
    ("a list", '["class"]'),
    ("no class", '{"fields": []}'),
    ("fields a string", '{"class": "js:Object", "fields": "abc"}'),
    ("a field not a string", '{"class": "js:Object", "fields": [1]}'),
    ("a repeated field", '{"class": "js:Object", "fields": ["a", "a"]}'),
    ("a __proto__ field", '{"class": "js:Object", "fields": ["__proto__"]}'),
    ("a constructor field", '{"class": "js:Object", "fields": ["constructor"]}'),
    ("a prototype field", '{"class": "js:Object", "fields": ["prototype"]}'),
    ("a dunder field", '{"class": "js:Object", "fields": ["__init__"]}'),
    ("a dotted field", '{"class": "js:Object", "fields": ["a.b"]}'),
    ("an unknown entry", '{"class": "js:Object", "fields": [], "evil": 1}'),
]


@pytest.mark.parametrize("meta", [m for _, m in MALFORMED], ids=[n for n, _ in MALFORMED])
def test_malformed_metadata_is_a_snapshot_error(page: Any, meta: str) -> None:
    error = thrown(page, f"await readBack({{ 'obj{M}': {meta}, 'obj.a': 1 }});")
    assert error["name"] == "SnapshotError", error
    assert "obj.__blazen_meta__" in error["message"]


def test_stored_restore_is_never_called(page: Any) -> None:
    out = run(
        page,
        f"""
        const calls = [];
        class Vault {{
          static meta = {{ restore: 'reopen' }};
          reopen() {{ calls.push('reopen'); }}
          closeAccount() {{ calls.push('closeAccount'); }}
        }}
        registerStateClass(Vault, 'hostile.Vault');
        const data = await readBack({{ 'obj{M}': {{ class: 'js:hostile.Vault', fields: ['owner'],
          restore: 'closeAccount' }}, 'obj.owner': 'mallory' }});
        return {{ data, calls }};
        """,
    )
    assert out == {"data": {"cls": "Vault", "fields": {"owner": "mallory"}}, "calls": ["reopen"]}


@pytest.mark.parametrize("class_key", ["js:Nope", "hostile.Account", "js:", "builtins.dict"])
def test_unregistered_or_foreign_class_is_a_state_error(page: Any, class_key: str) -> None:
    out = run(
        page, f"return await readBack({{ 'obj{M}': {{ class: {json.dumps(class_key)}, fields: [] }} }});"
    )
    assert out["error"]["name"] == "StateError", out


def test_two_classes_named_state_are_kept_apart(page: Any) -> None:
    out = run(
        page,
        """
        const make = () => class State { constructor() { this.n = 0; } };
        const A = make(), B = make();
        registerStateClass(A, 'orders.State');
        registerStateClass(B, 'users.State');
        const wf = new Workflow('two-states');
        wf.addStep('put', ['blazen::StartEvent'], (e, ctx) => {
          const a = new A(), b = new B();
          a.__blazen_state__ = b.__blazen_state__ = true;
          a.n = 1; b.n = 2;
          ctx.set('a', a); ctx.set('b', b);
          return { type: 'Read' };
        });
        wf.addStep('read', ['Read'], (e, ctx) => ({ type: 'blazen::StopEvent', result:
          [ctx.get('a') instanceof A, ctx.get('b') instanceof B, ctx.get('a').n, ctx.get('b').n] }));
        return (await wf.run({})).data;
        """,
    )
    assert out == [True, True, 1, 2]


def test_an_implicit_registration_never_takes_a_name_another_class_holds(page: Any) -> None:
    out = run(
        page,
        """
        const make = () => class Twin {};
        const A = make(), B = make();
        return await outcome((e, ctx) => {
          for (const C of [A, B]) { const o = new C(); o.__blazen_state__ = true; o.x = 1; ctx.set(C.name + Math.random(), o); }
        });
        """,
    )
    assert out["error"]["name"] == "StepError", out
    assert "another class is registered as 'Twin'" in out["error"]["message"]


def test_exponential_metadata_is_refused_fast(page: Any) -> None:
    out = run(
        page,
        f"""
        const state = {{}};
        let key = 'obj';
        for (let i = 0; i < 30; i++) {{
          state[key + '{M}'] = {{ class: 'js:Object', fields: Array(30).fill('n') }};
          key += '.n';
        }}
        state[key] = 1;
        const started = performance.now();
        let error = null;
        try {{ await readBack(state); }} catch (e) {{ error = describe(e); }}
        return {{ error, ms: performance.now() - started }};
        """,
    )
    assert out["error"]["name"] == "SnapshotError"
    assert "more than once" in out["error"]["message"]
    assert out["ms"] < 5000


@pytest.mark.parametrize("depth, ok", [(60, True), (100, False)])
def test_deep_nesting_is_bounded(page: Any, depth: int, ok: bool) -> None:
    out = run(
        page,
        f"""
        const state = {{}};
        let key = 'obj';
        for (let i = 0; i < {depth}; i++) {{ state[key + '{M}'] = {{ class: 'js:Object', fields: ['n'] }}; key += '.n'; }}
        state[key] = 1;
        return await readBack(state);
        """,
    )
    if ok:
        assert out["cls"] == "Object"
    else:
        assert out["error"]["name"] == "StateError"
        assert "nested more than 64" in out["error"]["message"]


@pytest.mark.parametrize("field", ["__proto__", "constructor", "a.b", "__x__"])
def test_decompose_refuses_field_names_the_protocol_cannot_store(page: Any, field: str) -> None:
    out = run(
        page,
        f"""
        return await outcome((e, ctx) => {{
          const o = {{ __blazen_state__: true }};
          Object.defineProperty(o, {json.dumps(field)}, {{ value: 1, enumerable: true }});
          ctx.set('o', o);
        }});
        """,
    )
    assert out["error"]["name"] == "StepError", out
    assert "field name" in out["error"]["message"]


def test_reserved_suffix_is_refused_as_a_user_key(page: Any) -> None:
    out = run(
        page,
        f"""
        return await outcome((e, ctx) => {{
          try {{ ctx.set('x{M}', {{ class: 'js:Object', fields: [] }}); }} catch (err) {{
            return {{ type: 'blazen::StopEvent', result: describe(err) }};
          }}
        }});
        """,
    )
    assert out["data"]["name"] == "StateError"
    assert "reserves" in out["data"]["message"]


# -- thrown values with no string form ---------------------------------------------------------

THROWN = [
    ("null-prototype object", "Object.create(null)"),
    ("throwing toString", "({ toString() { throw new Error('no'); } })"),
    ("Symbol", "Symbol('s')"),
    ("revoked Proxy", "(() => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy; })()"),
    ("throwing message getter", "({ get message() { throw new Error('no'); } })"),
    ("BigInt", "10n"),
    ("function", "(() => 1)"),
    ("undefined", "undefined"),
    ("Error with Symbol name", "Object.assign(new Error('m'), { name: Symbol('n') })"),
]


@pytest.mark.parametrize("value", [v for _, v in THROWN], ids=[n for n, _ in THROWN])
@pytest.mark.parametrize("how", ["throw", "reject", "async throw"])
def test_any_thrown_value_ends_the_run(page: Any, value: str, how: str) -> None:
    fn = {
        "throw": f"() => {{ throw {value}; }}",
        "reject": f"() => Promise.reject({value})",
        "async throw": f"async () => {{ throw {value}; }}",
    }[how]
    out = run(page, f"return await outcome({fn});")
    assert out["error"]["name"] == "StepError", out
    assert "step 's'" in out["error"]["message"]


@pytest.mark.parametrize(
    "result",
    [
        "(() => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy; })()",
        "({ get then() { throw new Error('then getter'); } })",
        "({ then() { throw new Error('then call'); } })",
    ],
    ids=["revoked Proxy", "throwing then getter", "throwing then"],
)
def test_odd_results_end_the_run(page: Any, result: str) -> None:
    out = run(page, f"return await outcome(() => {result});")
    assert "error" in out, out


# -- __proto__ and constructor stay own data properties ---------------------------------------

SPECIAL = ["__proto__", "constructor", "prototype", "toString", "$map", "$int"]


@pytest.mark.parametrize("key", SPECIAL)
def test_special_keys_stay_own_properties_in_state(page: Any, key: str) -> None:
    out = run(
        page,
        f"""
        const value = JSON.parse('{{"{key}": {{"isAdmin": true}}, "plain": 1}}');
        return await outcome((e, ctx) => {{
          ctx.set('v', value);
          const got = ctx.get('v');
          return {{ type: 'blazen::StopEvent', result: {{
            own: Object.hasOwn(got, {json.dumps(key)}), isAdmin: got.isAdmin === true,
            inner: got[{json.dumps(key)}].isAdmin, proto: Object.getPrototypeOf(got) === Object.prototype,
            keys: Object.keys(got) }} }};
        }});
        """,
    )
    assert out["data"] == {
        "own": True,
        "isAdmin": False,
        "inner": True,
        "proto": True,
        "keys": [key, "plain"],
    }


@pytest.mark.parametrize("key", ["__proto__", "constructor"])
def test_special_keys_survive_a_snapshot_in_state_and_events(page: Any, key: str) -> None:
    out = run(
        page,
        f"""
        const build = () => {{
          const wf = new Workflow('special-snap');
          wf.addStep('put', ['blazen::StartEvent'], async (e, ctx) => {{
            ctx.set('v', JSON.parse('{{"{key}": {{"isAdmin": true}}}}'));
            await new Promise((r) => setTimeout(r, 50));
            return JSON.parse('{{"type": "Read", "{key}": {{"isAdmin": true}}}}');
          }});
          wf.addStep('read', ['Read'], (e, ctx) => {{
            const v = ctx.get('v');
            return {{ type: 'blazen::StopEvent', result: {{
              stateOwn: Object.hasOwn(v, {json.dumps(key)}), stateAdmin: v.isAdmin === true,
              eventOwn: Object.hasOwn(e, {json.dumps(key)}), eventAdmin: e.isAdmin === true }} }};
          }});
          return wf;
        }};
        const handler = await build().runWithHandler({{}});
        await new Promise((r) => setTimeout(r, 5));
        const snap = await handler.pause();
        handler.abort();
        const resumed = await build().resume(snap);
        return {{ queued: snap.queue.map((q) => Object.keys(q)), data: (await resumed.result()).data }};
        """,
    )
    assert out["queued"] == [["type", key]], out
    assert out["data"] == {"stateOwn": True, "stateAdmin": False, "eventOwn": True, "eventAdmin": False}


# -- the number rule, and values ctx.set refuses -------------------------------------------------

EXACT = [
    ("2n**64n", {"bigint": str(2**64)}),
    ("-(2n**70n)", {"bigint": str(-(2**70))}),
    ("2n**53n", {"bigint": str(2**53)}),
    ("9007199254740991", 9007199254740991),
    ("5n", 5),
    ("-0.5", -0.5),
    ("1e308", 1e308),
    ("Number.MIN_VALUE", 5e-324),
    ("[1n, 2n**60n, {x: 2n**99n}]", [1, {"bigint": str(2**60)}, {"x": {"bigint": str(2**99)}}]),
]


@pytest.mark.parametrize("expr, expected", list(EXACT), ids=[c[0] for c in EXACT])
def test_numbers_round_trip_exactly_in_state(page: Any, expr: str, expected: Any) -> None:
    out = run(
        page,
        f"""
        return await outcome((e, ctx) => {{ ctx.set('v', {expr}); return {{ type: 'blazen::StopEvent', result: [ctx.get('v')] }}; }});
        """,
    )
    assert out["data"] == [expected]


def test_big_ints_survive_a_snapshot_in_state_and_events(page: Any) -> None:
    out = run(
        page,
        """
        const big = 2n ** 80n + 1n;
        const build = () => {
          const wf = new Workflow('big');
          wf.addStep('put', ['blazen::StartEvent'], async (e, ctx) => {
            ctx.set('v', big);
            await new Promise((r) => setTimeout(r, 50));
            return { type: 'Read', v: big };
          });
          wf.addStep('read', ['Read'], (e, ctx) => ({ type: 'blazen::StopEvent', result:
            [ctx.get('v') === big, e.v === big, typeof e.v] }));
          return wf;
        };
        const handler = await build().runWithHandler({});
        await new Promise((r) => setTimeout(r, 5));
        const snap = await handler.pause();
        handler.abort();
        const text = JSON.stringify(snap);  // a snapshot object holds no BigInt: plain JSON
        return { tagged: text.includes('"$int":"1208925819614629174706177"'),
                 data: (await (await build().resume(text)).result()).data };
        """,
    )
    assert out == {"tagged": True, "data": [True, True, "bigint"]}


REFUSED = [
    ("NaN", "NaN", "NaN"),
    ("Infinity", "Infinity", "Infinity"),
    ("-Infinity", "-Infinity", "-Infinity"),
    ("nested NaN", "{ a: [1, NaN] }", "NaN"),
    ("Float32Array", "new Float32Array(2)", "Float32Array"),
    ("Float64Array", "new Float64Array(2)", "Float64Array"),
    ("Int32Array", "new Int32Array(2)", "Int32Array"),
    ("Uint16Array", "new Uint16Array(2)", "Uint16Array"),
    ("Uint8ClampedArray", "new Uint8ClampedArray(2)", "Uint8ClampedArray"),
    ("BigInt64Array", "new BigInt64Array(2)", "BigInt64Array"),
    ("ArrayBuffer", "new ArrayBuffer(4)", "ArrayBuffer"),
    ("DataView", "new DataView(new ArrayBuffer(4))", "DataView"),
    ("Map", "new Map([['a', 1]])", "Map"),
    ("Set", "new Set([1])", "Set"),
    ("nested Map", "{ m: new Map() }", "Map"),
    ("cycle", "(() => { const o = {}; o.self = o; return o; })()", "cyclic"),
    ("array cycle", "(() => { const a = []; a.push(a, a); return a; })()", "cyclic"),
    ("Symbol", "Symbol('s')", "symbol"),
    ("function", "() => 1", "function"),
    ("Date", "new Date(0)", "Date"),
    ("huge BigInt", "10n ** 4400n", "at most 4300"),
]


@pytest.mark.parametrize("expr, fragment", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_values_refused_at_set_naming_the_type(page: Any, expr: str, fragment: str) -> None:
    out = run(
        page,
        f"""
        return await outcome((e, ctx) => {{
          try {{ ctx.set('v', {expr}); }} catch (err) {{
            return {{ type: 'blazen::StopEvent', result: {{ ...describe(err), has: ctx.state.has('v') }} }};
          }}
          return {{ type: 'blazen::StopEvent', result: 'accepted' }};
        }});
        """,
    )
    assert out["data"]["name"] == "StateError", out
    assert fragment in out["data"]["message"]
    assert out["data"]["has"] is False


def test_uint8array_round_trips(page: Any) -> None:
    out = run(
        page,
        "return await outcome((e, ctx) => { ctx.set('v', new Uint8Array([1, 2, 255])); "
        "const v = ctx.get('v'); return { type: 'blazen::StopEvent', result: [v instanceof Uint8Array, Array.from(v)] }; });",
    )
    assert out["data"] == [True, [1, 2, 255]]


@pytest.mark.parametrize("expr", ["NaN", "Infinity", "-Infinity", "{ deep: [NaN] }"])
@pytest.mark.parametrize("how", ["returned", "sent"])
def test_events_with_non_finite_numbers_are_refused(page: Any, expr: str, how: str) -> None:
    fn = (
        f"() => ({{ type: 'Next', x: {expr} }})"
        if how == "returned"
        else f"(e, ctx) => {{ ctx.sendEvent({{ type: 'Next', x: {expr} }}); }}"
    )
    out = run(page, f"return await outcome({fn});")
    assert out["error"]["name"] in ("InvalidEventError", "StepError"), out
    assert "finite numbers" in out["error"]["message"]


@pytest.mark.parametrize("timeout", ["NaN", "-1", "0", "Infinity"])
def test_step_timeouts_that_are_no_duration_are_refused_when_added(page: Any, timeout: str) -> None:
    error = thrown(
        page, f"new Workflow('t').addStep('s', ['blazen::StartEvent'], () => null, {{ timeout: {timeout} }});"
    )
    assert error["name"] == "WorkflowDefinitionError", error
    assert "timeout must be a positive number" in error["message"]


# -- snapshot content and the definition fingerprint -------------------------------------------

BAD_SNAPSHOTS = [
    ("BigInt", "crafted({}, { metadata: { n: 10n } })", "BigInt"),
    ("cycle", "(() => { const s = crafted({}); s.metadata.self = s; return s; })()", "not JSON data"),
    ("NaN", "crafted({ x: NaN })", "NaN"),
    ("an array", "[]", "JSON object"),
    ("a number", "5", "JSON object"),
    (
        "duplicate request ids",
        "crafted({}, { input_requests: [{ request_id: 'a', prompt: 1, metadata: null, step: 'read' },"
        " { request_id: 'a', prompt: 2, metadata: null, step: 'read' }] })",
        "more than once",
    ),
    (
        "step input not accepted",
        "crafted({}, { step_inputs: [{ step: 'read', event: { type: 'Other' } }] })",
        "does not accept",
    ),
    (
        "unknown step input",
        "crafted({}, { step_inputs: [{ step: 'ghost', event: { type: 'Go' } }] })",
        "ghost",
    ),
    (
        "text with NaN",
        'JSON.stringify(crafted({})).replace(\'"state":{}\', \'"state":{"x":NaN}\')',
        "invalid number",
    ),
    (
        "text with 1e400",
        'JSON.stringify(crafted({})).replace(\'"state":{}\', \'"state":{"x":1e400}\')',
        "invalid number",
    ),
    ("bad $int", "crafted({ x: { $int: '0x1f' } })", "invalid $int"),
    ("truncated text", "JSON.stringify(crafted({})).slice(0, 40)", "not valid JSON"),
    (
        "no definition",
        "(() => { const s = crafted({}); delete s.definition; return s; })()",
        "missing 'definition'",
    ),
]


@pytest.mark.parametrize("expr, fragment", [c[1:] for c in BAD_SNAPSHOTS], ids=[c[0] for c in BAD_SNAPSHOTS])
def test_bad_snapshots_are_snapshot_errors(page: Any, expr: str, fragment: str) -> None:
    error = thrown(page, f"await reader().resume({expr});")
    assert error["name"] == "SnapshotError", error
    assert fragment in error["message"]


def test_a_changed_definition_is_refused_then_allowed(page: Any) -> None:
    out = run(
        page,
        """
        const changed = () => { const wf = reader(); wf.addStep('audit', ['Audit'], () => null); return wf; };
        let error = null;
        try { await changed().resume(crafted({})); } catch (e) { error = describe(e); }
        const handler = await changed().resume(crafted({}), { allowDefinitionChange: true });
        return { error, data: (await handler.result()).data };
        """,
    )
    assert out["error"]["name"] == "SnapshotError"
    assert "step 'audit' is in this workflow but not in the snapshot" in out["error"]["message"]
    assert out["data"]["error"]["name"] == "TypeError"  # ctx.get("obj") is null: nothing was stored


def test_a_version_1_snapshot_without_fingerprint_resumes(page: Any) -> None:
    out = run(
        page,
        """
        const snap = crafted({ 'obj.__blazen_meta__': { class: 'js:Object', fields: ['a'] }, 'obj.a': 1 });
        snap.version = 1;
        delete snap.definition;
        return (await (await reader().resume(snap)).result()).data;
        """,
    )
    assert out == {"cls": "Object", "fields": {"a": 1}}


@pytest.mark.parametrize(
    "make, fragment",
    [
        ("(() => { const o = { __blazen_state__: true }; o.me = o; return o; })()", "contains itself"),
        (
            "(() => { const a = { __blazen_state__: true }, b = { __blazen_state__: true };"
            " a.b = b; b.a = a; return a; })()",
            "contains itself",
        ),
        (
            "(() => { const head = { __blazen_state__: true }; let n = head;"
            " for (let i = 0; i < 100; i++) { n.next = { __blazen_state__: true }; n = n.next; } return head; })()",
            "nested more than 64",
        ),
    ],
    ids=["holds itself", "two hold each other", "a chain of 100"],
)
def test_blazen_state_cycles_and_deep_chains_are_refused_at_set(page: Any, make: str, fragment: str) -> None:
    out = run(
        page,
        f"""
        return await outcome((e, ctx) => {{
          try {{ ctx.set('obj', {make}); }} catch (err) {{ return {{ type: 'blazen::StopEvent', result: describe(err) }}; }}
          return {{ type: 'blazen::StopEvent', result: 'accepted' }};
        }});
        """,
    )
    assert out["data"]["name"] == "StateError", out
    assert fragment in out["data"]["message"]


@pytest.mark.parametrize("expr", ["9007199254740991", "-9007199254740991", "2**52 + 1", "2**53 + 2", "1e20"])
def test_numbers_at_the_edge_of_the_safe_range_stay_numbers(page: Any, expr: str) -> None:
    out = run(
        page,
        f"""
        const wf = new Workflow('edge');
        wf.addStep('s', ['blazen::StartEvent'], (e, ctx) => ({{ type: 'blazen::StopEvent', result: {expr} }}));
        const r = await wf.run({{}});
        return [typeof r.data, r.data === {expr}];
        """,
    )
    assert out == ["number", True]
