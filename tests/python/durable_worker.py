"""A process that resumes one durable run from a SqliteStore (see test_checkpoint_processes).

Usage: python durable_worker.py DB RUN_ID WORKER WAIT LEASE. Each step execution is
recorded in the database's `executions` table; the outcome is printed as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sqlite_store import SqliteStore

from blazen_py import START_EVENT, STOP_EVENT, BlazenError, WorkflowBuilder

STEP_SECONDS = 0.5


def builder(db: str, worker: str) -> WorkflowBuilder:
    b = WorkflowBuilder("durable-chain")

    async def step(event, ctx):
        n = event.get("n", 0)
        with closing(sqlite3.connect(db, timeout=30, isolation_level=None)) as conn:
            conn.execute("insert into executions values (?, ?, ?)", (worker, n, time.time()))
        ctx.set("trace", (ctx.get("trace") or []) + [n])
        await asyncio.sleep(STEP_SECONDS)
        if n == 5:
            return {"type": STOP_EVENT, "result": ctx.get("trace")}
        return {"type": "Next", "n": n + 1}

    b.add_step("step", [START_EVENT, "Next"], step)
    return b


async def main(db: str, run_id: str, worker: str, wait: float, lease: float) -> dict:
    store = SqliteStore(db, lease=lease)
    try:
        handler = await builder(db, worker).build().resume_checkpoint(store, run_id, wait=wait)
        print(json.dumps({"worker": worker, "state": "running"}), flush=True)
        result = await handler.result()
    except BlazenError as exc:
        return {"worker": worker, "error": type(exc).__name__, "message": str(exc)}
    return {"worker": worker, "result": result.data}


if __name__ == "__main__":
    db, run_id, worker, wait, lease = sys.argv[1:6]
    print(json.dumps(asyncio.run(main(db, run_id, worker, float(wait), float(lease)))), flush=True)
