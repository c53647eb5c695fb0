"""blazen_py.server on DBOS: a worker killed with SIGKILL in the middle of a run, then
restarted, finishes it without running a completed step again; a run id starts one run;
the queue's concurrency limit holds. On SQLite always, on Postgres when the build started
one ($BLAZEN_POSTGRES_URL, see blazen_build/postgres.py).
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from server_app import read_log
from server_proc import Server

pytest.importorskip("dbos", reason="blazen_py[server] is not installed")

POSTGRES = os.environ.get("BLAZEN_POSTGRES_URL")


def databases() -> list[Any]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgres",
            id="postgres",
            marks=pytest.mark.skipif(
                not POSTGRES,
                reason="no Postgres: BLAZEN_POSTGRES_URL is unset "
                "(python build.py test starts one on Debian as root)",
            ),
        ),
    ]


def database_url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'server.sqlite'}"
    assert POSTGRES
    return fresh_postgres_database(POSTGRES)


def fresh_postgres_database(url: str) -> str:
    """A new, empty database on the test cluster (each test its own)."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.rsplit("/", 1)[0] + f"/{name}"


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def checkpoint_holds(db: str, run_id: str, key: str) -> bool:
    """Whether the run's checkpoint in the database has the state key ``key``."""
    from blazen_py.server._db import Database

    database = Database(db)
    try:
        text = database.load_checkpoint(run_id)
    finally:
        database.close()
    return text is not None and f'"{key}"' in text


@pytest.mark.parametrize("kind", databases())
def test_a_worker_killed_mid_run_twice_resumes_it_from_its_checkpoint_on_restart(
    kind: str, tmp_path: Path
) -> None:
    db = database_url(kind, tmp_path)
    log = tmp_path / "executions.jsonl"
    first = Server(db, log=log, env={"BLAZEN_TEST_BLOCK_AT": "5"}, args=["--worker-id", "w1"]).start()
    try:
        status, body = first.call("POST", "/runs", {"workflow": "ten_steps", "input": {"pause": 0.05}})
        assert status == 202, body
        run_id = body["run_id"]
        wait_for(lambda: any(e["step"] == 5 for e in read_log(str(log))), 60, "step 5 to start")

        # SIGKILL once the checkpoint holds step 5's input (steps 0-4 recorded as done)
        wait_for(lambda: checkpoint_holds(db, run_id, "done_4"), 30, "the checkpoint after step 4")
        first.kill()
    finally:
        first.kill()
    before = read_log(str(log))
    assert [e["step"] for e in before if e["what"] == "end"] == [0, 1, 2, 3, 4]

    # the restarted worker is killed too, in its recovery of the run, at step 7
    second = Server(db, log=log, env={"BLAZEN_TEST_BLOCK_AT": "7"}, args=["--worker-id", "w1"]).start()
    try:
        wait_for(lambda: any(e["step"] == 7 for e in read_log(str(log))), 60, "step 7 to start")
        wait_for(lambda: checkpoint_holds(db, run_id, "done_6"), 30, "the checkpoint after step 6")
    finally:
        second.kill()

    third = Server(db, log=log, args=["--worker-id", "w1"]).start()
    try:
        info = third.wait(run_id, timeout=90)
    finally:
        third.stop()
    assert info["status"] == "completed", info
    assert info["result"] == {"steps": [True] * 10}
    runs = read_log(str(log))
    starts = Counter(e["step"] for e in runs if e["what"] == "start")
    ends = Counter(e["step"] for e in runs if e["what"] == "end")
    assert ends == Counter(range(10)), "every step completed exactly once"
    assert {s: starts[s] for s in range(10)} == {**dict.fromkeys(range(10), 1), 5: 2, 7: 2}, (
        "only the steps in flight at the kills ran again"
    )
    assert len({e["pid"] for e in runs}) == 3


@pytest.mark.parametrize("kind", databases())
def test_a_run_id_starts_one_run_and_the_queue_limits_concurrency(kind: str, tmp_path: Path) -> None:
    db = database_url(kind, tmp_path)
    log = tmp_path / "executions.jsonl"
    server = Server(db, log=log, args=["--concurrency", "2"]).start()
    try:
        ids = [f"limited-{i}" for i in range(6)]
        for n, run_id in enumerate(ids):
            status, body = server.call(
                "POST", "/runs", {"workflow": "slow", "input": {"pause": 0.8, "n": n}, "run_id": run_id}
            )
            assert (status, body["run_id"]) == (202, run_id)
        status, body = server.call(
            "POST", "/runs", {"workflow": "slow", "input": {"n": 99}, "run_id": ids[0]}
        )
        assert status == 409
        assert body["error"]["type"] == "RunExistsError"
        # beyond the limit, runs wait in the queue
        wait_for(lambda: sum(e["what"] == "start" for e in read_log(str(log))) >= 2, 30, "two runs to start")
        statuses = [server.call("GET", f"/runs/{r}")[1]["status"] for r in ids]
        assert statuses.count("queued") >= 2, statuses
        results = [server.wait(r) for r in ids]
    finally:
        server.stop()
    assert [r["result"] for r in results] == [{"n": n} for n in range(6)]
    runs = read_log(str(log))
    assert Counter(e["run"] for e in runs if e["what"] == "end") == Counter(ids)
    assert max_overlap(runs) <= 2


def max_overlap(entries: list[dict[str, Any]]) -> int:
    """The most runs between their start and end at one time, in one process."""
    worst = 0
    for pid in {e["pid"] for e in entries}:
        active = 0
        for entry in sorted(
            (e for e in entries if e["pid"] == pid), key=lambda e: (e["t"], e["what"] == "start")
        ):
            active += 1 if entry["what"] == "start" else -1
            worst = max(worst, active)
    return worst


@pytest.mark.skipif(
    not POSTGRES, reason="no Postgres: BLAZEN_POSTGRES_URL is unset (python build.py test starts one)"
)
def test_two_workers_on_one_postgres_take_200_queued_runs_each_exactly_once(tmp_path: Path) -> None:
    assert POSTGRES
    db = fresh_postgres_database(POSTGRES)
    log = tmp_path / "executions.jsonl"
    limit = 3
    # started one after the other: DBOS creates its schema on first launch
    first = Server(db, log=log, args=["--worker-id", "w1", "--concurrency", str(limit)]).start()
    second = Server(db, log=log, args=["--worker-id", "w2", "--concurrency", str(limit)]).start()
    try:
        ids = []
        for n in range(200):
            front = first if n % 2 else second
            status, body = front.call(
                "POST", "/runs", {"workflow": "slow", "input": {"n": n, "pause": 0.05}, "run_id": f"bulk-{n}"}
            )
            assert status == 202, body
            ids.append(body["run_id"])
        results = [first.wait(r, timeout=180) for r in ids]
    finally:
        first.stop()
        second.stop()
    assert [r["status"] for r in results] == ["completed"] * 200
    assert [r["result"] for r in results] == [{"n": n} for n in range(200)]
    runs = read_log(str(log))
    assert Counter(e["run"] for e in runs if e["what"] == "start") == Counter(ids), "each run executed once"
    assert Counter(e["run"] for e in runs if e["what"] == "end") == Counter(ids)
    per_worker = Counter(e["pid"] for e in runs if e["what"] == "end")
    assert len(per_worker) == 2, f"both workers took runs: {per_worker}"
    assert max_overlap(runs) <= limit


def test_a_queued_run_aborted_before_it_starts_never_runs_a_step(tmp_path: Path) -> None:
    log = tmp_path / "executions.jsonl"
    server = Server(f"sqlite:///{tmp_path / 'q.sqlite'}", log=log, args=["--concurrency", "1"]).start()
    try:
        for run_id in ("holds-the-slot", "waits"):
            body = {"workflow": "slow", "input": {"pause": 2.5, "n": run_id}, "run_id": run_id}
            assert server.call("POST", "/runs", body)[0] == 202
        wait_for(
            lambda: server.call("GET", "/runs/holds-the-slot")[1]["status"] == "running", 30, "the first run"
        )
        assert server.call("GET", "/runs/waits")[1]["status"] == "queued"
        assert server.call("POST", "/runs/waits/abort")[0] == 202
        first, second = server.wait("holds-the-slot"), server.wait("waits")
    finally:
        server.stop()
    assert first["result"] == {"n": "holds-the-slot"}
    assert (second["status"], second["error_type"]) == ("failed", "WorkflowAbortedError")
    assert {e["run"] for e in read_log(str(log))} == {"holds-the-slot"}, "the aborted run ran no step"


@pytest.mark.skipif(
    not POSTGRES, reason="no Postgres: BLAZEN_POSTGRES_URL is unset (python build.py test starts one)"
)
def test_a_run_on_one_worker_is_followed_and_answered_through_another(tmp_path: Path) -> None:
    assert POSTGRES
    db = fresh_postgres_database(POSTGRES)
    # only the first worker takes runs (the second's queue slots are all its own: 1 each,
    # and the run is started before the second exists)
    first = Server(db, args=["--worker-id", "a"]).start()
    second = None
    try:
        status, body = first.call("POST", "/runs", {"workflow": "ask", "input": {"who": "cross"}})
        assert status == 202
        run_id = body["run_id"]
        wait_for(
            lambda: first.call("GET", f"/runs/{run_id}")[1]["status"] == "running", 30, "the run to start"
        )
        second = Server(db, args=["--worker-id", "b"]).start()
        request = next(d for _, _, d in second.events(run_id) if d["event_type"] == "InputRequested")
        answer = {"request_id": request["request_id"], "response": "via b"}
        assert second.call("POST", f"/runs/{run_id}/input", answer)[0] == 202
        assert second.call("POST", f"/runs/{run_id}/input", answer)[0] == 409
        info = second.wait(run_id)
        assert info["result"] == {"who": "cross", "answer": "via b"}
        assert first.call("GET", f"/runs/{run_id}")[1] == info
    finally:
        first.stop()
        if second is not None:
            second.stop()
