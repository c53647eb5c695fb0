"""Workflows the server tests run (`--app tests.python.server_app:workflows`).

Steps record what they do, one JSON line each, to the file $BLAZEN_TEST_LOG (appends of
one short line: whole lines even with several worker processes), so a test can count
how often each step of each run executed, in which process, and when.
$BLAZEN_TEST_BLOCK_AT=k makes step k of `ten_steps` hang (the worker gets killed there).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from blazen_py import INPUT_REQUEST_EVENT, INPUT_RESPONSE_EVENT, START_EVENT, STOP_EVENT, Workflow


def record(run_id: str, step: Any, what: str) -> None:
    path = os.environ.get("BLAZEN_TEST_LOG")
    if not path:
        return
    line = json.dumps({"run": run_id, "step": step, "what": what, "pid": os.getpid(), "t": time.time()})
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_log(path: str) -> list[dict[str, Any]]:
    try:
        with open(path) as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


ten_steps = Workflow("ten_steps")


def _make_step(i: int) -> None:
    async def step(event: Any, ctx: Any) -> Any:
        run_id = ctx.run_id()
        record(run_id, i, "start")
        if os.environ.get("BLAZEN_TEST_BLOCK_AT") == str(i):
            await asyncio.sleep(3600)  # the test kills the worker here
        await asyncio.sleep(float(event.get("pause", 0.02)))
        ctx.set(f"done_{i}", True)
        record(run_id, i, "end")
        if i == 9:
            return {"type": STOP_EVENT, "result": {"steps": [ctx.get(f"done_{k}") for k in range(10)]}}
        return {"type": f"Step{i + 1}", "pause": event.get("pause", 0.02)}

    ten_steps.add_step(f"s{i}", [START_EVENT if i == 0 else f"Step{i}"], step)


for _i in range(10):
    _make_step(_i)

echo = Workflow("echo")


@echo.step(accepts=[START_EVENT])
def _echo(event: Any, ctx: Any) -> Any:
    return {"type": STOP_EVENT, "result": {"echo": event.get("value")}}


ask = Workflow("ask")


@ask.step(accepts=[START_EVENT])
def _ask(event: Any, ctx: Any) -> Any:
    ctx.set("who", event.get("who", "?"))
    return {"type": INPUT_REQUEST_EVENT, "prompt": "Approve?", "metadata": {"who": event.get("who", "?")}}


@ask.step(accepts=[INPUT_RESPONSE_EVENT])
def _decide(event: Any, ctx: Any) -> Any:
    return {"type": STOP_EVENT, "result": {"who": ctx.get("who"), "answer": event["response"]}}


slow = Workflow("slow")


@slow.step(accepts=[START_EVENT])
async def _slow(event: Any, ctx: Any) -> Any:
    run_id = ctx.run_id()
    record(run_id, 0, "start")
    await asyncio.sleep(float(event.get("pause", 0.05)))
    record(run_id, 0, "end")
    return {"type": STOP_EVENT, "result": {"n": event.get("n")}}


fails = Workflow("fails")


@fails.step(accepts=[START_EVENT])
def _fails(event: Any, ctx: Any) -> Any:
    raise ValueError("the step says no")


# asks with the awaiter form (in no snapshot: answered while the step waits)
ask_await = Workflow("ask_await")


@ask_await.step(accepts=[START_EVENT])
async def _ask_await(event: Any, ctx: Any) -> Any:
    answer = await ctx.request_input("Name?", {"hint": "any"})
    return {"type": STOP_EVENT, "result": {"name": answer}}


# `relay` runs in a page (the same steps in JavaScript) or here until its input request,
# then is handed off; the server runs the rest (`finish` says in which process).
relay = Workflow("relay")


def _relay_first(event: Any, ctx: Any) -> Any:
    ctx.set("n", event.get("n", 1))
    return {"type": "A"}


def _relay_second(event: Any, ctx: Any) -> Any:
    return {"type": INPUT_REQUEST_EVENT, "prompt": "Continue?", "metadata": {"n": ctx.get("n")}}


def _relay_decide(event: Any, ctx: Any) -> Any:
    return {"type": "B", "answer": event["response"]}


def _relay_finish(event: Any, ctx: Any) -> Any:
    return {"type": STOP_EVENT, "result": {"n": ctx.get("n"), "answer": event["answer"], "pid": os.getpid()}}


relay.add_step("first", [START_EVENT], _relay_first)
relay.add_step("second", ["A"], _relay_second)
relay.add_step("decide", [INPUT_RESPONSE_EVENT], _relay_decide)
relay.add_step("finish", ["B"], _relay_finish)

workflows = [ten_steps, echo, ask, slow, fails, relay, ask_await]
