"""A page hands a run off to a blazen_py.server on 127.0.0.1 mid-way (handler.handOff),
closes; a new page reattaches by run id, answers the run's input request and gets the
result the server computed. The server refuses a tampered snapshot with a typed error
and a 4xx, and the page's run stays paused there."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jspage import BOOT_TIMEOUT_MS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from server_app import read_log
from server_proc import TOKEN, Server

pytest.importorskip("dbos", reason="blazen_py[server] is not installed")

# The page's half of tests/python/server_app.py's `relay` workflow: the same step names
# and event types, in JavaScript; the server has all four steps in Python.
RELAY = """
const wf = new Workflow('relay');
wf.addStep('first', ['blazen::StartEvent'], (event, ctx) => {
  ctx.set('n', event.n);
  return { type: 'A' };
});
wf.addStep('second', ['A'], (event, ctx) =>
  ({ type: 'blazen::InputRequestEvent', prompt: 'Continue?', metadata: { n: ctx.get('n') } }));
wf.addStep('decide', ['blazen::InputResponseEvent'], () => { throw new Error('runs on the server'); });
wf.addStep('finish', ['B'], () => { throw new Error('runs on the server'); });
"""


@pytest.fixture(scope="module")
def server(origin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("handoff-browser")
    page_origin = origin.rstrip("/")
    proc = Server(f"sqlite:///{folder / 'browser.sqlite'}", args=["--cors-origin", page_origin])
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def booted_page(context: Any, origin: str, errors: list[str]) -> Any:
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(BOOT_TIMEOUT_MS)
    page.goto(origin + "_test/blank.html")
    page.evaluate(
        "async () => { const b = await import('/blazen.js'); await b.default(); window.blazen = b; }"
    )
    return page


def test_a_page_hands_a_run_off_closes_and_a_new_page_finishes_it(
    browser: Any, origin: str, server: Server
) -> None:
    context = browser.new_context()
    errors: list[str] = []
    try:
        first = booted_page(context, origin, errors)
        handed = first.evaluate(
            """async ([url, token, relay]) => {
                const { Workflow } = window.blazen;
                eval(relay + '; window.relay = wf;');
                const handler = await window.relay.runWithHandler({ n: 5 }, { checkpoint: 'indexeddb' });
                await new Promise((resolve) => handler.streamEvents((ev) => {
                  if (ev.eventType === 'InputRequested') resolve();
                }));
                const remote = await handler.handOff(url, { token });
                const left = await window.relay.unfinishedRuns({ checkpoint: 'indexeddb' });
                return { runId: remote.runId, local: handler.runId, status: handler.status, left };
            }""",
            [server.url, TOKEN, RELAY],
        )
        assert handed["runId"] == handed["local"]
        assert handed["status"] == "paused"
        assert handed["left"] == [], "the page's checkpoint went with the run"
        first.close()

        second = booted_page(context, origin, errors)
        out = second.evaluate(
            """async ([url, token, runId]) => {
                const remote = await window.blazen.reattach(url, runId, { token });
                const seen = [];
                await remote.streamEvents(async (ev) => {
                  seen.push(ev.eventType);
                  if (ev.eventType === 'InputRequested') {
                    seen.push(JSON.stringify(ev.metadata), typeof ev.requestId);
                    await remote.respondToInput(ev.requestId,
                      { text: 'from the second page', raw: new Uint8Array([1, 2, 255]), big: 2n ** 60n, $k: 1 });
                  }
                });
                const result = await remote.result();
                const a = result.data.answer;
                result.data.answer = [a.text, a.raw instanceof Uint8Array ? Array.from(a.raw) : null,
                  typeof a.big === 'bigint' ? a.big.toString() : null, a.$k];
                let missing;
                try { await window.blazen.reattach(url, 'no-such-run', { token }); }
                catch (e) { missing = [e.name, e.status, e.errorType, e instanceof window.blazen.BlazenError]; }
                return { seen, result, missing };
            }""",
            [server.url, TOKEN, handed["runId"]],
        )
        assert out["seen"][:3] == ["InputRequested", '{"n":5}', "string"]
        assert out["seen"][-3:] == ["blazen::InputResponseEvent", "B", "blazen::StopEvent"]
        data = out["result"]["data"]
        assert data["n"] == 5
        # values cross in the codec both ways: bytes, an integer beyond 2^53, a $-key
        assert data["answer"] == ["from the second page", [1, 2, 255], str(2**60), 1]
        assert server.process is not None
        assert data["pid"] == server.process.pid, "the rest of the run ran on the server"
        assert out["result"]["runId"] == handed["runId"]
        assert out["missing"] == ["RemoteError", 404, "RunNotFoundError", True]
        second.close()
    finally:
        context.close()
    assert errors == []


def test_the_server_refuses_a_tampered_snapshot_and_the_run_stays_in_the_page(
    browser: Any, origin: str, server: Server
) -> None:
    context = browser.new_context()
    errors: list[str] = []
    try:
        page = booted_page(context, origin, errors)
        out = page.evaluate(
            """async ([url, token, relay]) => {
                const { Workflow, RemoteHandler } = window.blazen;
                eval(relay + '; window.relay = wf;');
                const handler = await window.relay.runWithHandler({ n: 1 });
                await new Promise((resolve) => handler.streamEvents((ev) => {
                  if (ev.eventType === 'InputRequested') resolve();
                }));
                const snapshot = await handler.pause();
                const describe = (e) => [e.name, e.status, e.errorType, e.message.includes('version')];
                const outcomes = [];
                const remote = new RemoteHandler(url, 'tampered-from-page', { token });
                try { await remote.continueFrom({ ...snapshot, run_id: 'tampered-from-page', version: 99 }); }
                catch (e) { outcomes.push(describe(e)); }
                try { await handler.handOff(url, { token: 'not-the-right-token' }); }
                catch (e) { outcomes.push(describe(e)); }
                const still = handler.status;
                await handler.resumeInPlace();
                return { outcomes, still };
            }""",
            [server.url, TOKEN, RELAY],
        )
        assert out["outcomes"] == [
            ["RemoteError", 422, "SnapshotError", True],
            ["RemoteError", 401, "AuthError", False],
        ]
        assert out["still"] == "paused"
    finally:
        context.close()
    assert errors == []


def test_a_page_stream_reconnects_after_the_server_is_killed_and_restarted(
    browser: Any, origin: str, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'restart.sqlite'}"
    args = ["--cors-origin", origin.rstrip("/"), "--worker-id", "solo"]
    log = tmp_path / "executions.jsonl"
    first = Server(db, log=log, args=args).start()
    second: Server | None = None
    context = browser.new_context()
    errors: list[str] = []
    try:
        status, body = first.call("POST", "/runs", {"workflow": "ten_steps", "input": {"pause": 0.8}})
        assert status == 202
        page = booted_page(context, origin, errors)
        page.evaluate(
            """([url, token, runId]) => {
                window.seen = [];
                window.done = (async () => {
                  const remote = await window.blazen.reattach(url, runId, { token });
                  await remote.streamEvents((ev) => { window.seen.push(ev.eventType); });
                  return (await remote.result()).data;
                })();
            }""",
            [first.url, TOKEN, body["run_id"]],
        )
        page.wait_for_function("window.seen.includes('Step3')", timeout=60_000)
        first.kill()  # steps take 0.8 s: the run is still going (asserted below)
        second = Server(db, log=log, args=args, port=first.port).start()
        data = page.evaluate("window.done")
        seen = page.evaluate("window.seen")
    finally:
        context.close()
        first.kill()
        if second is not None:
            second.stop()
    assert data == {"steps": [True] * 10}
    assert seen.count("blazen::StartEvent") == 1, "the page went on from the last item it saw"
    assert seen.count("blazen::StopEvent") == 1
    assert [t for t in dict.fromkeys(seen) if t.startswith("Step")] == [f"Step{i}" for i in range(1, 10)]
    ran_in = {e["pid"] for e in read_log(str(log)) if e["what"] == "end"}
    assert len(ran_in) == 2, "the kill came mid-run: both servers ran steps"
    assert errors == []
