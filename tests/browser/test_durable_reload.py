"""Durable runs survive reloads: the page is reloaded at random moments while a run goes
on (some trials aim at the first step, some at a save in progress); after each trial the
one run that was started has resumed and ended with the uninterrupted result (no run
lost, none started twice), no step completed in a saved checkpoint ran again, and no
checkpoint is left behind. The page says where each reload cut (see pages/durable.js):
the trials must have cut the first step and a save several times.

``BLAZEN_RELOAD_TRIALS`` sets the number of trials (default 20; a longer run, e.g. 300,
is opt-in).
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

STEPS = 20
TRIALS = int(os.environ.get("BLAZEN_RELOAD_TRIALS", "20"))
EXPECTED = list(range(STEPS + 1))
SETTLED = "['running', 'done', 'error']"


def storage(page: Any) -> dict[str, Any]:
    return page.evaluate("() => Object.fromEntries(Object.entries(localStorage))")


def assert_no_saved_step_ran_again(log: list[str], where: str) -> None:
    """``log``: step numbers as they ran, with ``R<count>`` where a resumed run began from
    a checkpoint holding steps 0..count-1 as completed. A resumed run starts right after
    them, and only steps the checkpoint did not hold (running, or completed after the last
    save) may run again."""
    done: set[int] = set()
    saved: int | None = None
    for entry in log:
        if entry.startswith("R"):
            saved = int(entry[1:])
            assert set(range(saved)) <= done, f"{where}: resumed from {saved} steps that never ran"
            continue
        n = int(entry)
        if saved is not None:
            assert n == saved, f"{where}: a run resumed from {saved} saved steps began at step {n}"
            saved = None
        done.add(n)


def reload_at(page: Any, kind: str, rng: random.Random) -> None:
    """Reload ``page`` at a moment of kind ``first`` (during the first step), ``save``
    (while an IndexedDB put is in progress) or ``random``."""
    if kind == "first":
        page.wait_for_timeout(rng.uniform(0, 100))  # step 0 takes 120 ms
    elif kind == "save":
        page.wait_for_function(
            "(localStorage.getItem('saves') ?? '').endsWith('s') || document.body.dataset.state !== 'running'",
            polling="raf",
        )
    else:
        page.wait_for_timeout(rng.uniform(0, 260))
    page.reload()


def test_durable_runs_resume_after_reloads_at_random_moments(browser: Any, origin: str) -> None:
    rng = random.Random(20261125)
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    url = origin + "_test/durable.html"
    resumed = 0
    cuts: list[str] = []
    try:
        for trial in range(TRIALS):
            page.goto(url + "?reset")
            page.wait_for_function("document.body.dataset.state === 'reset'")
            page.goto(url)
            for reload in range(rng.choice([1, 1, 2, 3])):
                page.wait_for_function(f"{SETTLED}.includes(document.body.dataset.state)")
                if page.evaluate("document.body.dataset.state") != "running":
                    break  # the run ended before this reload came
                kind = (
                    rng.choice(["first", "save", "random"]) if reload == 0 else rng.choice(["save", "random"])
                )
                reload_at(page, kind, rng)
            page.wait_for_function("['done', 'error'].includes(document.body.dataset.state)")
            assert page.evaluate("document.body.dataset.state") == "done", page.inner_text("#status")
            store = storage(page)
            loads = [x for x in store.get("loads", "").split(",") if x]
            log = [x for x in store.get("exec", "").split(",") if x]
            cuts += [x for x in store.get("cuts", "").split(",") if x]
            executions = [int(x) for x in log if not x.startswith("R")]
            where = f"trial {trial}: loads {loads}, executions {log}"
            assert json.loads(store["result"]) == EXPECTED, where
            assert json.loads(store["left"]) == [], where
            reloads = sum(1 for x in loads if x.startswith("resume"))
            resumed += reloads
            assert sorted(set(executions)) == EXPECTED, where
            assert_no_saved_step_ran_again(log, where)
            # No run lost, none started twice: every load that found a run found this one
            # (a reload during the first save may leave no run; then no step had run).
            assert len({x.split(":", 1)[1] for x in loads}) == 1, where
            assert sum(1 for x in loads if x.startswith("start")) <= 1, where
    finally:
        context.close()
    assert errors == []
    assert resumed >= TRIALS // 2, f"only {resumed} resumes in {TRIALS} trials: reloads came too late?"
    # The trials really cut where they aimed (counted by the page itself).
    assert cuts.count("first") >= TRIALS // 10, cuts
    assert cuts.count("save") >= TRIALS // 10, cuts
    print(
        f"{TRIALS} trials: {resumed} resumes; reloads cut the first step {cuts.count('first')} times, a save {cuts.count('save')} times"
    )
