"""Durable runs in the browser, beyond reloads.

One owner per durable run across tabs: tabs of one browser context resuming the same
unfinished run execute it exactly once (the Web Lock of the run goes to one tab, the
others get RunOwnedError, or wait when asked); a closed tab's lock is released by the
browser and a waiting tab takes the run over. And a run whose IndexedDB connection was
closed under it (site data cleared) recovers without a reload.

The page (pages/durable-tabs.js) logs every step execution per tab in localStorage.
"""

from __future__ import annotations

from typing import Any

from test_durable_reload import assert_no_saved_step_ran_again

STEPS = list(range(7))
RESULT = "ran:" + ",".join(map(str, STEPS)).join("[]")
URL = "_test/durable-tabs.html"


def storage(page: Any, tabs: dict[str, Any] | None = None) -> dict[str, str]:
    """localStorage as ``page`` sees it, with each open tab of ``tabs`` read by itself for its
    own keys: another tab's writes reach a page a moment later (seen on a loaded machine: a
    tab's outcome not yet there when every tab had settled)."""
    store = page.evaluate("() => Object.fromEntries(Object.entries(localStorage))")
    for tab, other in (tabs or {}).items():
        if other.is_closed():
            continue
        own = other.evaluate(
            "(tab) => [localStorage.getItem(`outcome:${tab}`), localStorage.getItem(`exec:${tab}`)]", tab
        )
        for key, value in zip((f"outcome:{tab}", f"exec:{tab}"), own, strict=True):
            if value is not None:
                store[key] = value
    return store


def log_of(store: dict[str, str], tab: str) -> list[str]:
    return [x for x in store.get(f"exec:{tab}", "").split(",") if x]


def seed_and_crash(context: Any, origin: str, *, crash: bool = True, ms: int = 150) -> Any:
    """Start the run in a tab and close that tab while step 2 runs: a crashed tab
    (``crash=False``: leave it running, and return it)."""
    seed = context.new_page()
    seed.set_default_timeout(120_000)
    seed.goto(origin + "_test/blank.html")  # a page of the origin: clear what earlier tests left
    seed.evaluate("""() => new Promise((resolve) => {
        localStorage.clear();
        const request = indexedDB.deleteDatabase('blazen_py-checkpoints');
        request.onsuccess = request.onerror = request.onblocked = () => resolve();
    })""")
    seed.goto(origin + URL + f"?tab=seed&mode=seed&ms={ms}")
    seed.wait_for_function("(localStorage.getItem('exec:seed') ?? '').includes('2,')")
    if crash:
        seed.close()
    return seed


def open_tabs(
    context: Any, origin: str, tabs: dict[str, str], ms: dict[str, int] | None = None
) -> dict[str, Any]:
    """Open a resuming tab per name (value: its wait option; ``ms``: how long each of a
    tab's steps takes, 150 unless given) and wait until each is ready."""
    pages = {}
    for name, wait in tabs.items():
        page = context.new_page()
        page.set_default_timeout(120_000)
        step_ms = (ms or {}).get(name, 150)
        page.goto(f"{origin}{URL}?tab={name}&mode=resume&wait={wait}&ms={step_ms}", wait_until="commit")
        pages[name] = page
    for page in pages.values():
        page.wait_for_function("['ready', 'error'].includes(document.body.dataset.state)")
        assert page.evaluate("document.body.dataset.state") == "ready", page.inner_text("#status")
    return pages


def go(page: Any, *tabs: str) -> None:
    page.evaluate("(tabs) => { for (const tab of tabs) localStorage.setItem(`go:${tab}`, '1'); }", list(tabs))


def settled(page: Any) -> None:
    page.wait_for_function("['done', 'error'].includes(document.body.dataset.state)")


def test_tabs_resuming_one_run_execute_it_exactly_once(browser: Any, origin: str) -> None:
    context = browser.new_context()
    try:
        seed_and_crash(context, origin)
        # b and c do not wait: one gets the run, the other RunOwnedError. w waits: when the
        # owner has finished the run, its checkpoint is gone (SnapshotError).
        pages = open_tabs(context, origin, {"b": "0", "c": "0", "w": "forever"})
        go(pages["b"], "b", "c", "w")
        for page in pages.values():
            settled(page)
        store = storage(pages["b"], pages)
        outcomes = {tab: store.get(f"outcome:{tab}", "") for tab in pages}
        winners = [tab for tab, outcome in outcomes.items() if outcome.startswith("ran:")]
        assert len(winners) == 1, outcomes
        winner = winners[0]
        assert outcomes[winner] == RESULT
        for tab, outcome in outcomes.items():
            if tab == winner:
                continue
            if tab == "w":
                assert outcome.startswith("SnapshotError:no checkpoint of run"), outcomes
            else:
                assert outcome.startswith("RunOwnedError:"), outcomes
                assert "owned elsewhere" in outcome, outcomes
        losers = [tab for tab in pages if tab != winner]
        assert all(log_of(store, tab) == [] for tab in losers), store  # nothing ran in them
        resumed = log_of(store, winner)
        assert resumed[0].startswith("R"), resumed
        saved = int(resumed[0][1:])
        assert resumed[1:] == [str(n) for n in STEPS[saved:]], resumed  # each step once
        assert_no_saved_step_ran_again(log_of(store, "seed") + resumed, f"tabs: {store}")
    finally:
        context.close()


def test_a_tab_cannot_resume_a_run_that_the_tab_that_started_it_still_runs(browser: Any, origin: str) -> None:
    context = browser.new_context()
    try:
        seed = seed_and_crash(context, origin, crash=False, ms=1500)
        pages = open_tabs(context, origin, {"b": "0"})
        go(pages["b"], "b")
        settled(pages["b"])
        settled(seed)
        store = storage(seed, {"seed": seed, **pages})
        assert store.get("outcome:b", "").startswith("RunOwnedError:"), store
        assert store.get("outcome:seed") == RESULT, store
        assert log_of(store, "b") == []
        assert log_of(store, "seed") == [str(n) for n in STEPS]
    finally:
        context.close()


def test_a_closed_tabs_lock_is_released_and_a_waiting_tab_takes_over(browser: Any, origin: str) -> None:
    context = browser.new_context()
    try:
        seed_and_crash(context, origin)
        # b may wait too: the browser releases the crashed seed tab's lock a moment after the
        # tab is gone (in full runs b met it still held and was refused at once, and once
        # still held after 30 s on a loaded machine)
        # b's steps are slow so that it is still running when looked at and closed mid-run
        # (at 150 ms a step, a loaded CI machine once saw it already done)
        pages = open_tabs(context, origin, {"b": "90", "w": "90"}, ms={"b": 2000})
        go(pages["b"], "b")
        pages["b"].wait_for_function("['running', 'done', 'error'].includes(document.body.dataset.state)")
        assert pages["b"].evaluate("document.body.dataset.state") == "running", storage(pages["b"])
        go(pages["b"], "w")
        pages["w"].wait_for_function("document.body.dataset.state === 'resuming'")
        # b runs a step or two while w waits for the lock; then b's tab closes mid-run.
        pages["b"].wait_for_function("(localStorage.getItem('exec:b') ?? '').split(',').length >= 3")
        assert pages["w"].evaluate("document.body.dataset.state") == "resuming"
        pages["b"].close()
        settled(pages["w"])
        store = storage(pages["w"], pages)
        assert store.get("outcome:w") == RESULT, store
        log = log_of(store, "seed") + log_of(store, "b") + log_of(store, "w")
        assert_no_saved_step_ran_again(log, f"takeover: {store}")
        assert sorted({int(x) for x in log if not x.startswith("R")}) == STEPS
        left = pages["w"].evaluate("""async () => {
            const { Workflow } = await import('/blazen.js');
            return (await new Workflow('durable-tabs').unfinishedRuns()).length;
        }""")
        assert left == 0
    finally:
        context.close()


def test_a_run_whose_connection_was_closed_under_it_recovers_without_a_reload(
    browser: Any, origin: str
) -> None:
    """Site data cleared while a durable run goes on (the browser closes the IndexedDB
    connection under it): the run's next save opens it again, the run ends, and later
    durable runs and listing work, all without a reload."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(origin + "_test/blank.html")
        page.evaluate("""async () => {
            const blazen = await import('/blazen.js');
            await blazen.default();
            const wf = new blazen.Workflow('closed-under');
            let open;
            window.gate = new Promise((resolve) => { open = resolve; });
            window.openGate = open;
            wf.addStep('a', ['blazen::StartEvent'], async () => { await window.gate; return { type: 'B' }; });
            wf.addStep('b', ['B'], () => ({ type: 'blazen::StopEvent', result: 'ok' }));
            window.wf = wf;
            window.first = await wf.runWithHandler({}, { checkpoint: 'indexeddb' });
            return (await wf.unfinishedRuns()).length;
        }""")
        cdp = context.new_cdp_session(page)
        cdp.send("Storage.clearDataForOrigin", {"origin": origin.rstrip("/"), "storageTypes": "indexeddb"})
        assert page.evaluate("async () => (await window.wf.unfinishedRuns()).length") == 0  # cleared
        outcome = page.evaluate("""async () => {
            window.openGate();
            const first = await window.first.result();
            const second = await window.wf.run({}, { checkpoint: 'indexeddb' });
            return [first.data, second.data, (await window.wf.unfinishedRuns()).length];
        }""")
        assert outcome == ["ok", "ok", 0]
    finally:
        context.close()


def test_unfinished_runs_reports_bad_entries_and_lists_the_others(browser: Any, origin: str) -> None:
    """Entries another page (or an attacker) wrote into the checkpoint database: one under
    a key that is not its run id, one with a created_at string, one that is not text, one
    that is not JSON. Each is reported (BadCheckpointError with its key) and skipped; the
    good run is listed and resumes; the mis-keyed one is refused by resumeCheckpoint."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    try:
        page.goto(origin + "_test/blank.html")
        outcome = page.evaluate("""async () => {
            const blazen = await import('/blazen.js');
            await blazen.default();
            const wf = new blazen.Workflow('listing');
            let open;
            const gate = new Promise((resolve) => { open = resolve; });
            wf.addStep('a', ['blazen::StartEvent'], async () => { await gate; return { type: 'blazen::StopEvent', result: 'ok' }; });
            const handler = await wf.runWithHandler({}, { checkpoint: 'indexeddb' });
            const db = await new Promise((resolve, reject) => {
                const request = indexedDB.open('blazen_py-checkpoints', 1);
                request.onsuccess = () => resolve(request.result);
                request.onerror = () => reject(request.error);
            });
            const tx = (mode) => db.transaction('snapshots', mode).objectStore('snapshots');
            const text = await new Promise((resolve) => { tx('readonly').get(handler.runId).onsuccess = (e) => resolve(e.target.result); });
            const snap = JSON.parse(text);
            await new Promise((resolve) => {
                const store = db.transaction('snapshots', 'readwrite');
                const s = store.objectStore('snapshots');
                s.put(text, 'elsewhere');
                s.put(JSON.stringify({ ...snap, run_id: 'bad-time', created_at: 'yesterday' }), 'bad-time');
                s.put({ not: 'text' }, 'object');
                s.put('{"truncated', 'truncated');
                store.oncomplete = resolve;
            });
            db.close();
            const bad = [];
            const runs = await wf.unfinishedRuns({ onBad: (error) => bad.push(error) });
            const byDefault = await wf.unfinishedRuns();
            let refused = null;
            try { await wf.resumeCheckpoint('elsewhere'); } catch (error) { refused = [error.name, error.key, error instanceof blazen.CheckpointError]; }
            let badOption = null;
            try { await wf.unfinishedRuns({ onBad: 'no' }); } catch (error) { badOption = error.message; }
            open();
            const result = await handler.result();
            return {
                runs: runs.map((r) => r.runId === handler.runId),
                byDefault: byDefault.length,
                bad: bad.map((e) => [e.name, e.key, e instanceof blazen.BadCheckpointError]).sort(),
                messages: bad.map((e) => e.message),
                refused,
                badOption,
                result: result.data,
            };
        }""")
        assert outcome["runs"] == [True]
        assert outcome["byDefault"] == 1
        assert outcome["bad"] == [
            ["BadCheckpointError", key, True]
            for key in sorted(["bad-time", "elsewhere", "object", "truncated"])
        ]
        assert any("must be its run id" in m for m in outcome["messages"])
        assert outcome["refused"] == ["BadCheckpointError", "elsewhere", True]
        assert outcome["badOption"] == "onBad must be a function"
        assert outcome["result"] == "ok"
        assert sum("skipping checkpoint" in w for w in warnings) == 4, warnings
    finally:
        context.close()


def test_a_reload_right_after_run_with_handler_resolved_finds_the_run(browser: Any, origin: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    define = """async () => {
        const blazen = await import('/blazen.js');
        await blazen.default();
        const wf = new blazen.Workflow('first-step');
        wf.addStep('a', ['blazen::StartEvent'], async (event) => {
            localStorage.setItem('ran', (localStorage.getItem('ran') ?? '') + event.tag);
            await new Promise((resolve) => setTimeout(resolve, 60_000));
            return { type: 'blazen::StopEvent', result: event.tag };
        });
        window.wf = wf;
    }"""
    try:
        page.goto(origin + "_test/blank.html")
        page.evaluate(define)
        with page.expect_navigation():
            page.evaluate("""() => {
                window.wf.runWithHandler({ tag: 'x' }, { checkpoint: 'indexeddb' }).then((handler) => {
                    localStorage.setItem('runId', handler.runId);
                    location.reload();  // at once: the first step has barely begun, if at all
                });
            }""")
        page.wait_for_load_state()
        run_id = page.evaluate("localStorage.getItem('runId')")
        assert run_id
        page.evaluate(define)
        runs = page.evaluate("async () => (await window.wf.unfinishedRuns()).map((r) => r.runId)")
        assert runs == [run_id]
        snap = page.evaluate(
            """async (runId) => new Promise((resolve) => {
                indexedDB.open('blazen_py-checkpoints', 1).onsuccess = (e) => {
                    const db = e.target.result;
                    db.transaction('snapshots').objectStore('snapshots').get(runId).onsuccess = (g) => {
                        db.close();
                        resolve(JSON.parse(g.target.result));
                    };
                };
            })""",
            run_id,
        )
        assert [(e["type"], e.get("tag")) for e in snap["queue"]] == [("blazen::StartEvent", "x")]
        assert snap["step_inputs"] == []
    finally:
        context.close()


def test_resume_checkpoint_options_and_ids_are_checked(browser: Any, origin: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(origin + "_test/blank.html")
        out = page.evaluate("""async () => {
            const blazen = await import('/blazen.js');
            await blazen.default();
            const wf = new blazen.Workflow('checked');
            wf.addStep('a', ['blazen::StartEvent'], () => ({ type: 'blazen::StopEvent', result: 1 }));
            const outcome = async (promise) => {
                try { await promise; return 'resolved'; } catch (error) { return `${error.name}: ${error.message}`; }
            };
            return [
                await outcome(wf.resumeCheckpoint('nope', { wait: 'soon' })),
                await outcome(wf.resumeCheckpoint('nope', { wait: -1 })),
                await outcome(wf.resumeCheckpoint('nope', { wait: NaN })),
                await outcome(wf.resumeCheckpoint('nope')),
                await outcome(wf.resumeCheckpoint('nope', { wait: 0.05 })),
                await outcome(wf.resumeCheckpoint('')),
                await (async () => {
                    // A run this page is running: a second owner in the same page is refused.
                    let release;
                    const gate = new Promise((resolve) => { release = resolve; });
                    const slow = new blazen.Workflow('checked-slow');
                    slow.addStep('a', ['blazen::StartEvent'], async () => { await gate; return { type: 'blazen::StopEvent', result: 2 }; });
                    const handler = await slow.runWithHandler({}, { checkpoint: 'indexeddb' });
                    const second = await outcome(slow.resumeCheckpoint(handler.runId));
                    release();
                    return [second, (await handler.result()).data];
                })(),
            ];
        }""")
        assert out[0].startswith("CheckpointError: wait must be a number of seconds"), out
        assert out[1].startswith("CheckpointError: wait must be a number of seconds"), out
        assert out[2].startswith("CheckpointError: wait must be a number of seconds"), out
        assert out[3].startswith("SnapshotError: no checkpoint of run 'nope'"), out
        assert out[4].startswith("SnapshotError: no checkpoint of run 'nope'"), out
        assert out[5].startswith("StoreError: a run id"), out
        assert out[6][0].startswith("RunOwnedError: run "), out
        assert "already running in this process" in out[6][0], out
        assert out[6][1] == 2
    finally:
        context.close()
