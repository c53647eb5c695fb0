"""blazen.js in headless Chromium: every example of the spec, with the outputs it states,
and the engine's conformance cases through the JS API.

Each spec example is the spec's code with only its import line changed (and URLs
pointing at the local test server); ``console.log`` output is captured and asserted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jspage import BOOT_TIMEOUT_MS, JsPage

from blazen_build.paths import DIST, ROOT

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module", params=[True, False], ids=["snapshot", "no-snapshot"])
def js(request: pytest.FixtureRequest, browser: Any, origin: str) -> Iterator[JsPage]:
    """A page booted from the build's memory snapshot, or booted normally: every test of
    this module runs both ways."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(BOOT_TIMEOUT_MS)
    page.goto(origin + "_test/blank.html")
    stages = page.evaluate(
        """async (snapshot) => {
            const stages = [];
            await (await import('/blazen.js')).default({ snapshot, onProgress: (p) => stages.push(p.stage) });
            return stages;
        }""",
        request.param,
    )
    assert "fallback" not in stages
    assert ("snapshot" in stages) is request.param, stages
    yield JsPage(page)
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


# -- the spec's examples ------------------------------------------------------------------


def test_store_and_retrieve_values(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('store-read');
        wf.addStep('store', ['blazen::StartEvent'], async (event, ctx) => {
          ctx.set('user', event.name);
          ctx.set('count', 42);
          ctx.set('tags', ['intro', 'demo']);
          return { type: 'NextEvent' };
        });
        wf.addStep('read', ['NextEvent'], async (event, ctx) => {
          const user = ctx.get('user'); // 'Alice'
          const count = ctx.get('count'); // 42
          const missing = ctx.get('nope'); // null
          console.log([user, count, missing, ctx.get('tags')]);
          return { type: 'blazen::StopEvent', result: { user, count } };
        });
        const result = await wf.run({ name: 'Alice' });
        return result.data;
    """)
    assert out["value"] == {"user": "Alice", "count": 42}
    assert out["logs"] == [["Alice", 42, None, ["intro", "demo"]]]


def test_state_and_session_namespaces(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('share');
        wf.addStep('share_live', ['blazen::StartEvent'], (event, ctx) => {
          ctx.state.set('counter', 5);
          const liveObj = { tag: 'live', count: 0 };
          ctx.session.set('shared', liveObj);
          console.log(ctx.session.get('shared') === liveObj); // true -- identity preserved
          liveObj.count += 1;
          console.log(ctx.session.get('shared').count); // 1 -- same object reference
          console.log(ctx.state.get('counter'));
          return { type: 'blazen::StopEvent', result: {} };
        });
        return (await wf.run({})).data;
    """)
    assert out["value"] == {}
    assert out["logs"] == [True, 1, 5]


def test_binary_data(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('binary');
        wf.addStep('binary', ['blazen::StartEvent'], async (event, ctx) => {
          const data = new Uint8Array([0x48, 0x65, 0x6c, 0x6c, 0x6f]);
          ctx.set('via_set', data); // auto-detected as binary
          ctx.setBytes('via_explicit', data); // explicit binary storage
          const a = ctx.get('via_set'); // Uint8Array
          const b = ctx.getBytes('via_explicit'); // Uint8Array | null
          console.log([a instanceof Uint8Array, b instanceof Uint8Array, a, b, ctx.getBytes('none')]);
          return { type: 'blazen::StopEvent', result: { ok: true } };
        });
        return (await wf.run({})).data;
    """)
    assert out["value"] == {"ok": True}
    hello = {"uint8": [72, 101, 108, 108, 111]}
    assert out["logs"] == [[True, True, hello, hello, None]]


def test_send_event(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('kickoff');
        wf.addStep('kickoff', ['blazen::StartEvent'], async (event, ctx) => {
          ctx.sendEvent({ type: 'SideTask', payload: 'extra work' });
          return { type: 'MainTask' };
        });
        wf.addStep('side', ['SideTask'], (event) => { console.log('side: ' + event.payload); });
        wf.addStep('main', ['MainTask'], () => { console.log('main'); return { type: 'blazen::StopEvent', result: 'done' }; });
        return (await wf.run({})).data;
    """)
    assert out["value"] == "done"
    assert out["logs"] == ["side: extra work", "main"]


def test_run_id_and_workflow_name(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('summarizer');
        wf.addStep('log', ['blazen::StartEvent'], async (event, ctx) => {
          console.log('Run:', ctx.runId());
          console.log(ctx.workflowName); // 'summarizer'
          return { type: 'blazen::StopEvent', result: {} };
        });
        const result = await wf.run({});
        return result.runId;
    """)
    (label, run_id), name = out["logs"]
    assert label == "Run:"
    assert UUID4.match(run_id)
    assert out["value"] == run_id
    assert name == "summarizer"


def test_blazen_state(js: JsPage) -> None:
    out = js.value("""
        const createConnection = (url, token) => ({ url, token, open: true });
        class SessionState {
          url = '';
          token = '';
          conn = null; // non-serializable -- will be recreated
          requestCount = 0;
          static meta = {
            transient: ['conn'], // excluded from storage
            storeBy: {}, // custom FieldStore per field (optional)
            restore: 'reconnect', // method name called after reconstruction
          };
          reconnect() {
            if (this.url && this.token) {
              this.conn = createConnection(this.url, this.token);
            }
          }
        }
        const wf = new Workflow('blazen-state');
        wf.addStep('init', ['blazen::StartEvent'], async (event, ctx) => {
          const state = new SessionState();
          state.url = event.url;
          state.token = event.token;
          state.requestCount = 7;
          state.conn = { live: () => 1 };
          state.__blazen_state__ = true;
          ctx.set('session', state); // auto-decomposes per field
          console.log(ctx.state.keys().sort());
          return { type: 'ProcessEvent' };
        });
        wf.addStep('process', ['ProcessEvent'], async (event, ctx) => {
          const state = ctx.get('session'); // auto-reconstructs, calls reconnect()
          console.log(state.url); // preserved
          console.log(state.conn); // recreated by reconnect()
          console.log([state instanceof SessionState, state.__blazen_state__]);
          return { type: 'blazen::StopEvent', result: { requests: state.requestCount } };
        });
        return (await wf.run({ url: 'https://db.local', token: 't0k' })).data;
    """)
    assert out["value"] == {"requests": 7}
    keys, url, conn, flags = out["logs"]
    assert keys == ["session.__blazen_meta__", "session.requestCount", "session.token", "session.url"]
    assert url == "https://db.local"
    assert conn == {"url": "https://db.local", "token": "t0k", "open": True}
    assert flags == [True, True]


def test_blazen_state_store_by(js: JsPage) -> None:
    out = js.value("""
        const externalCache = {
          save(key, value, ctx) { localStorage.setItem(key, JSON.stringify(value)); },
          load(key, ctx) { return JSON.parse(localStorage.getItem(key) ?? 'null'); },
        };
        class AppState {
          preferences = {};
          activeTab = 'home';
          static meta = {
            storeBy: { preferences: externalCache },
          };
        }
        const wf = new Workflow('store-by');
        wf.addStep('put', ['blazen::StartEvent'], (event, ctx) => {
          const app = new AppState();
          app.preferences = { theme: 'dark' };
          app.activeTab = 'settings';
          app.__blazen_state__ = true;
          ctx.set('app', app);
          return { type: 'Next' };
        });
        wf.addStep('read', ['Next'], (event, ctx) => {
          const app = ctx.get('app');
          return { type: 'blazen::StopEvent', result: {
            tab: app.activeTab, theme: app.preferences.theme, inState: ctx.state.has('app.preferences'),
            stored: localStorage.getItem('app.preferences') } };
        });
        return (await wf.run({})).data;
    """)
    assert out["value"] == {
        "tab": "settings",
        "theme": "dark",
        "inState": False,
        "stored": '{"theme":"dark"}',
    }


def test_streaming_events(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('streaming');
        wf.addStep('process', ['blazen::StartEvent'], async (event, ctx) => {
          for (let i = 0; i < 5; i++) {
            ctx.sendEvent({ type: 'Progress', step: i });
          }
          return { type: 'blazen::StopEvent', result: { done: true } };
        });
        const result = await wf.runStreaming({}, (event) => {
          console.log(event.eventType, event);
        });
        return result.data;
    """)
    assert out["value"] == {"done": True}
    types = [entry[0] for entry in out["logs"]]
    assert types == ["blazen::StartEvent"] + ["Progress"] * 5 + ["blazen::StopEvent"]
    assert [entry[1].get("step") for entry in out["logs"][1:6]] == [0, 1, 2, 3, 4]


def test_handler_based_execution(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('handler');
        wf.addStep('fetch', ['blazen::StartEvent'], async (event) => ({ type: 'Fetched', url: event.url }));
        wf.addStep('done', ['Fetched'], (event) => ({ type: 'blazen::StopEvent', result: event.url }));
        const handler = await wf.runWithHandler({ url: 'http://127.0.0.1/article' });
        // Stream events through the handler instead of waiting for a final result.
        await handler.streamEvents((ev) => {
          console.log(ev.eventType);
        });
        return [(await handler.result()).data, handler instanceof WorkflowHandler, handler.status];
    """)
    assert out["value"] == ["http://127.0.0.1/article", True, "completed"]
    assert out["logs"] == ["blazen::StartEvent", "Fetched", "blazen::StopEvent"]


def test_human_in_the_loop(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('hitl');
        wf.addStep('ask', ['blazen::StartEvent'], async (event, ctx) => {
          const answer = await ctx.requestInput('Approve?', { amount: event.amount });
          return { type: 'blazen::StopEvent', result: { answer } };
        });
        const input = { amount: 5 };
        const handler = await wf.runWithHandler(input);
        await handler.streamEvents((ev) => {
          if (ev.eventType === 'InputRequested') {
            console.log([ev.prompt, ev.metadata, typeof ev.requestId]);
            // Reply to the specific request by id. The step's awaiter resumes
            // with the supplied response value.
            handler.respondToInput(ev.requestId, 'answer');
          }
        });
        return (await handler.result()).data;
    """)
    assert out["value"] == {"answer": "answer"}
    assert out["logs"] == [["Approve?", {"amount": 5}, "string"]]


def test_snapshot_pause_and_resume_in_place(js: JsPage) -> None:
    out = js.value("""
        let release;
        const gate = new Promise((resolve) => { release = resolve; });
        const wf = new Workflow('snap');
        wf.addStep('first', ['blazen::StartEvent'], async (event, ctx) => {
          ctx.set('phase', 'one');
          await gate;
          return { type: 'Second' };
        });
        wf.addStep('second', ['Second'], (event, ctx) => ({ type: 'blazen::StopEvent', result: ctx.get('phase') }));
        const handler = await wf.runWithHandler({ n: 1 });
        await new Promise((r) => setTimeout(r, 20));
        // Capture state mid-run without affecting execution.
        const snap = await handler.snapshot();
        console.log([snap.version, snap.state, snap.step_inputs.map((s) => s.step), handler.status]);
        const paused = handler.pause();
        release();
        const snap2 = await paused;
        console.log([handler.status, snap2.queue.map((e) => e.type)]);
        // ...later, after the workflow has paused itself...
        await handler.resumeInPlace();
        return (await handler.result()).data;
    """)
    assert out["value"] == "one"
    # The unfinished step's write is not in the snapshot: it runs again on resume.
    assert out["logs"] == [[2, {}, ["first"], "running"], ["paused", ["Second"]]]


def test_abort(js: JsPage) -> None:
    out = js.run("""
        const wf = new Workflow('abort');
        wf.addStep('slow', ['blazen::StartEvent'], () => new Promise(() => {}));
        const handler = await wf.runWithHandler({});
        handler.abort();
        await handler.result();
    """)
    assert out["error"]["name"] == "WorkflowAbortedError"
    assert out["error"]["blazen"] is True


def test_session_pause_policy(js: JsPage) -> None:
    out = js.value("""
        function build(policy) {
          const builder = new WorkflowBuilder('policy');
          builder.addStep('begin', ['blazen::StartEvent'], (event, ctx) => {
            ctx.session.set('client', { name: 'db' });
            return { type: 'blazen::InputRequestEvent', prompt: 'go?' };
          });
          builder.addStep('finish', ['blazen::InputResponseEvent'], (event, ctx) => {
            const client = ctx.session.get('client');
            return { type: 'blazen::StopEvent', result: client ? client.name : null };
          });
          // On the builder before constructing the workflow:
          return builder.setSessionPausePolicy(policy).build();
        }
        const results = [];
        for (const policy of ['pause', 'continue']) {
          const workflow = build('continue');
          // Or directly on an already-built workflow:
          workflow.setSessionPausePolicy(policy);
          const handler = await workflow.runWithHandler({});
          let requestId;
          await new Promise((resolve) => {
            handler.streamEvents((ev) => { if (ev.eventType === 'InputRequested') { requestId = ev.requestId; resolve(); } });
          });
          await handler.pause();
          await handler.resumeInPlace();
          handler.respondToInput(requestId, 'yes');
          results.push((await handler.result()).data);
        }
        return results;
    """)
    assert out["value"] == ["db", None]


def test_resume_with_serializable_refs(js: JsPage) -> None:
    out = js.value("""
        class MyType { constructor(name) { this.name = name; } }
        const myDeserialize = (bytes) => new MyType(new TextDecoder().decode(bytes) + '!');
        const builder = new WorkflowBuilder('refs');
        builder.addStep('begin', ['blazen::StartEvent'], (event, ctx) => {
          ctx.session.set('client', new MyType('db'));
          return { type: 'blazen::InputRequestEvent', prompt: 'go?' };
        });
        builder.addStep('finish', ['blazen::InputResponseEvent'], (event, ctx) => {
          const client = ctx.session.get('client');
          return { type: 'blazen::StopEvent', result: [client instanceof MyType, client.name, event.response, typeof event.requestId] };
        });
        builder.registerSerializableRef('MyType', MyType, (value) => new TextEncoder().encode(value.name));
        const handler = await builder.build().runWithHandler({});
        let requestId;
        await new Promise((resolve) => {
          handler.streamEvents((ev) => { if (ev.eventType === 'InputRequested') { requestId = ev.requestId; resolve(); } });
        });
        // Persist the snapshot somewhere durable.
        const kv = new Map();
        const snap = await handler.snapshot();
        await kv.set('wf-snap', JSON.stringify(snap));
        handler.abort();
        // Later, in a new process or worker invocation:
        const restored = await Workflow.fromBuilder(builder).resumeWithSerializableRefs(
          JSON.parse(kv.get('wf-snap')),
          {
            MyType: (bytes) => myDeserialize(bytes),
          },
        );
        restored.respondToInput(requestId, 'yes');
        return (await restored.result()).data;
    """)
    assert out["value"] == [True, "db!", "yes", "string"]


def test_branching(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('classify');
        wf.addStep('classify', ['blazen::StartEvent'], async (event, ctx) => {
          return [
            { type: 'PositiveEvent', text: event.text },
            { type: 'NegativeEvent', text: event.text },
          ];
        });
        wf.addStep('pos', ['PositiveEvent'], (e) => { console.log('pos ' + e.text); return { type: 'Scored', s: 1 }; });
        wf.addStep('neg', ['NegativeEvent'], (e) => { console.log('neg ' + e.text); return { type: 'Scored', s: -1 }; });
        wf.addStep('join', ['Scored'], (e, ctx) => {
          const seen = [...(ctx.get('seen') ?? []), e.s];
          ctx.set('seen', seen);
          if (seen.length === 2) return { type: 'blazen::StopEvent', result: seen };
        });
        return (await wf.run({ text: 'great' })).data;
    """)
    assert out["value"] == [1, -1]
    assert out["logs"] == ["pos great", "neg great"]


def test_timeouts(js: JsPage) -> None:
    out = js.run("""
        const wf = new Workflow('slow');
        wf.setTimeout(30); // 30 seconds
        wf.setTimeout(0.05);
        wf.addStep('slow', ['blazen::StartEvent'], () => new Promise((r) => setTimeout(r, 5000)));
        const started = performance.now();
        try { await wf.run({}); } finally { console.log(performance.now() - started); }
    """)
    assert out["error"]["name"] == "WorkflowTimeoutError"
    assert "timed out after 0.05 s" in out["error"]["message"]
    assert out["logs"][0] < 2000


# -- conformance through the JS API -------------------------------------------------------


@pytest.mark.parametrize(
    "body, name, fragment",
    [
        ("return 42;", "InvalidEventError", "returned a number 42"),
        ("return { no: 'type' };", "InvalidEventError", "no string 'type'"),
        ("throw new TypeError('bad');", "StepError", "TypeError: bad"),
        ("throw 'a string';", "StepError", "a non-Error value was thrown: a string"),
        ("return Promise.reject(new RangeError('no'));", "StepError", "RangeError: no"),
        ("return Promise.reject(undefined);", "StepError", "a non-Error value was thrown"),
        ("return undefined;", "WorkflowStallError", "stalled"),
        ("return { type: 'Nobody' };", "WorkflowStallError", "'Nobody' (from 's')"),
        ("ctx.set('x', () => 1);", "StepError", "cannot be persisted"),
        ("ctx.set('x', { when: new Date() });", "StepError", "JS Date"),
        ("ctx.setBytes('x', 'text');", "StepError", "takes a Uint8Array, got a string"),
        ("ctx.sendEvent({ payload: 1 });", "StepError", "no string 'type'"),
    ],
)
def test_failures_are_typed_errors(js: JsPage, body: str, name: str, fragment: str) -> None:
    out = js.run(f"""
        const wf = new Workflow('fail');
        wf.addStep('s', ['blazen::StartEvent'], (event, ctx) => {{ {body} }});
        await wf.run({{}});
    """)
    error = out["error"]
    assert error["name"] == name
    assert fragment in error["message"]
    assert error["isError"]
    assert error["blazen"]
    if name != "WorkflowStallError":
        assert error["step"] == "s"
        assert error["eventType"] == "blazen::StartEvent"


def test_step_error_keeps_the_thrown_error_as_cause(js: JsPage) -> None:
    out = js.run("""
        const wf = new Workflow('cause');
        wf.addStep('s', ['blazen::StartEvent'], async () => { throw new SyntaxError('original'); });
        await wf.run({});
    """)
    assert out["error"]["cause"] == "original"


def test_workflow_runs_again_after_failures(js: JsPage) -> None:
    out = js.value("""
        let mode = 'throw';
        const wf = new Workflow('again');
        wf.addStep('s', ['blazen::StartEvent'], async () => {
          if (mode === 'throw') throw new Error('x');
          if (mode === 'bad') return 5;
          return { type: 'blazen::StopEvent', result: 'ok' };
        });
        const names = [];
        for (mode of ['throw', 'bad']) { try { await wf.run({}); } catch (e) { names.push(e.name); } }
        mode = 'ok';
        names.push((await wf.run({})).data);
        return names;
    """)
    assert out["value"] == ["StepError", "InvalidEventError", "ok"]


def test_fan_out_of_1000_then_join(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('fan');
        wf.addStep('fan', ['blazen::StartEvent'], (e) => Array.from({ length: 1000 }, (_, i) => ({ type: 'Item', i })));
        wf.addStep('work', ['Item'], async (e) => ({ type: 'Done', i: e.i }));
        let count = 0, sum = 0;
        wf.addStep('join', ['Done'], (e) => { count++; sum += e.i; if (count === 1000) return { type: 'blazen::StopEvent', result: sum }; });
        return (await wf.run({})).data;
    """)
    assert out["value"] == sum(range(1000))


def test_durable_input_request_snapshot_and_resume(js: JsPage) -> None:
    out = js.value("""
        const builder = new WorkflowBuilder('durable');
        builder.addStep('ask', ['blazen::StartEvent'], (e, ctx) => {
          ctx.set('amount', e.amount);
          return { type: 'blazen::InputRequestEvent', prompt: 'Approve?', metadata: { amount: e.amount } };
        });
        builder.addStep('decide', ['blazen::InputResponseEvent'], (e, ctx) =>
          ({ type: 'blazen::StopEvent', result: { approved: e.response === 'yes', amount: ctx.get('amount') } }));
        const handler = await builder.build().runWithHandler({ amount: 9 });
        let request;
        await new Promise((resolve) => handler.streamEvents((ev) => { if (ev.eventType === 'InputRequested') { request = ev; resolve(); } }));
        const snap = await handler.pause();
        handler.abort();
        const text = JSON.stringify(snap);
        const resumed = await Workflow.fromBuilder(builder).resume(text);
        let again;
        await new Promise((resolve) => resumed.streamEvents((ev) => { if (ev.eventType === 'InputRequested') { again = ev; resolve(); } }));
        let unknown;
        try { resumed.respondToInput('nope', 'yes'); } catch (e) { unknown = e.name; }
        resumed.respondToInput(request.requestId, 'yes');
        return [again.requestId === request.requestId, unknown, (await resumed.result()).data];
    """)
    assert out["value"] == [True, "InputRequestError", {"approved": True, "amount": 9}]


def test_bad_snapshot_is_a_snapshot_error(js: JsPage) -> None:
    out = js.run("""
        const wf = new Workflow('x');
        wf.addStep('s', ['blazen::StartEvent'], () => undefined);
        await wf.resume('{"format": "blazen_py/snapshot", "version": 99}');
    """)
    assert out["error"]["name"] == "SnapshotError"
    assert "newer than this blazen_py reads" in out["error"]["message"]


def test_validate_and_definition_errors(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('v');
        wf.addStep('a', ['blazen::StartEvent'], () => undefined, { emits: ['Nobody'] });
        let error;
        try { wf.addStep('a', ['X'], () => undefined); } catch (e) { error = e.name; }
        return [wf.validate().map((p) => p.kind).sort(), error];
    """)
    assert out["value"] == [["no-stop-path", "unaccepted-event"], "WorkflowDefinitionError"]


def test_init_is_idempotent_and_reports_progress(js: JsPage) -> None:
    out = js.value("""
        const stages = [];
        const a = await init({ onProgress: (p) => stages.push(p.stage) });
        const b = await init();
        return [a === b, stages];
    """)
    assert out["value"] == [True, []]  # already booted: nothing more to report


def test_init_refuses_a_snapshot_option_that_is_not_a_boolean(js: JsPage) -> None:
    out = js.run("await init({ snapshot: 'no' });")
    assert out["error"]["name"] == "BlazenError"
    assert "snapshot must be true or false, got string" in out["error"]["message"]


def test_js_steps_see_events_from_python_built_events(js: JsPage) -> None:
    out = js.value("""
        const wf = new Workflow('null');
        wf.addStep('s', ['blazen::StartEvent'], (e) => ({ type: 'blazen::StopEvent', result: { n: e.n, nil: e.nil, bytes: e.bytes instanceof Uint8Array } }));
        return (await wf.run({ n: 1, nil: null, bytes: new Uint8Array([1]) })).data;
    """)
    assert out["value"] == {"n": 1, "nil": None, "bytes": True}


def declared_names(dts: Path) -> set[str]:
    """What a .d.ts file declares, following its `export * from "./x.js"` to x.d.ts."""
    text = dts.read_text()
    names = set(re.findall(r"^export (?:class|function) (\w+)", text, re.M))
    for module in re.findall(r'^export \* from "\./([\w.]+)\.js";', text, re.M):
        names |= declared_names(dts.with_name(f"{module}.d.ts"))
    return names


def test_type_declarations_cover_every_export(js: JsPage) -> None:
    declared = declared_names(ROOT / "web" / "blazen.d.ts")
    declared.add("default")
    exported = set(js.value("return Object.keys(blazen);")["value"])
    assert exported == declared
    assert (DIST / "blazen.d.ts").is_file()
