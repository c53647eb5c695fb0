"""The workflow of the server load benchmark (bench/server_load.py): three short steps."""

from __future__ import annotations

from typing import Any

from blazen_py import START_EVENT, STOP_EVENT, Workflow

short = Workflow("short")


@short.step(accepts=[START_EVENT])
def _one(event: Any, ctx: Any) -> Any:
    ctx.set("steps", 1)
    return {"type": "Two", "n": event["n"]}


@short.step(accepts=["Two"])
def _two(event: Any, ctx: Any) -> Any:
    ctx.set("steps", ctx.get("steps") + 1)
    return {"type": "Three", "n": event["n"]}


@short.step(accepts=["Three"])
def _three(event: Any, ctx: Any) -> Any:
    return {"type": STOP_EVENT, "result": {"n": event["n"], "steps": ctx.get("steps") + 1}}


workflows = [short]
