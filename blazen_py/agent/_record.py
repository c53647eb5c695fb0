"""Durable agents: ``ctx.run_agent`` keeps each completed turn and tool result in the run.

A run's state holds, under ``blazen::agent/<step>/<digest>/<n>`` (:func:`record_key`),
the record of one agent call: the turns the model completed, the results of the tool
calls that completed, and the approvals given. It is written *outside* the journal, so a
snapshot or checkpoint taken while the step still runs keeps it (the step's own writes
are left out, as always); after a resume the step runs again, ``ctx.run_agent`` finds the
record, and answers the recorded turns and results again instead of calling the model or
the tools: only the turn or tool call that was under way runs again. The record is
deleted *through* the journal when the agent returns, so it disappears from snapshots
only once the step that called it has finished.

The key names the step, a digest of what the call was given (conversation, tool
definitions, options), and a number that keeps apart live calls with the same digest:
the same step, run again on the same event, finds the same record.
Tool approvals are bound durable input requests (``blazen::bound/<key>/<turn>/<call id>``,
see :meth:`blazen_py.requests.InputRequests.wait_bound`): a snapshot keeps them open,
and the step, run again, waits on the same request.

Each turn and tool call is also put on the run's stream (``blazen::AgentTurn``,
``blazen::ToolCall``, ``blazen::ToolResult``, with ``agent`` the record key and
``replayed`` true for what a resumed run answers from the record), and a durable run is
asked to save a checkpoint after each record (:meth:`Run.checkpoint_now`).
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Mapping
from typing import Any, Protocol

from ._loop import AgentLog, prepare, run_agent

__all__ = ["AGENT_PREFIX", "DurableRun", "RunLog", "record_key"]

#: State key prefix of agent records.
AGENT_PREFIX = "blazen::agent/"
_BOUND = "blazen::bound/"  # requests.BOUND_PREFIX (that module sits above this one)
_VERSION = 1


class DurableRun(Protocol):
    """What a durable agent uses of its run (:class:`blazen_py.runtime.Run` provides it)."""

    run_id: str
    state: dict[str, Any]
    journal: Mapping[int, Any]

    def record_for(self, inv: int, key: str) -> None: ...

    def publish(self, etype: str, event: Mapping[str, Any]) -> None: ...

    def checkpoint_now(self) -> None: ...

    async def wait_bound(self, request_id: str, prompt: Any, metadata: Any, step: str | None) -> Any: ...


# Per run: the record keys that agent calls under way hold (taken by record_key, given
# back by release when the call ends, however it ends: returned, raised or cancelled).
_held: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def digest_of(step: str | None, given: Any) -> str:
    """A short digest of what an agent call was given (JSON, keys sorted)."""
    text = json.dumps([step, given], sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def record_key(run: DurableRun, inv: int, step: str | None, given: Any) -> str:
    """The state key of this agent call's record (see the module's docstring).

    Each live agent call holds a key of its own: two invocations of a step running at
    once on equal events (or one invocation calling twice with the same arguments) get
    two records, so neither answers from the other's turns and both run their tools. A
    call takes the lowest-numbered record in the state that no live call holds (what a
    resumed call was doing), else a new number.
    """
    prefix = f"{AGENT_PREFIX}{step}/{digest_of(step, given)}/"
    held = _held.get(run)
    if held is None:
        held = _held[run] = set()
    numbers = sorted(
        int(k[len(prefix) :]) for k in run.state if k.startswith(prefix) and k[len(prefix) :].isdigit()
    )
    free = [n for n in numbers if f"{prefix}{n}" not in held]
    n = free[0] if free else 0
    while not free and (f"{prefix}{n}" in held or f"{prefix}{n}" in run.state):
        n += 1
    key = f"{prefix}{n}"
    held.add(key)
    return key


def release(run: DurableRun, key: str) -> None:
    """The agent call holding ``key`` has ended: another call may take its record."""
    held = _held.get(run)
    if held is not None:
        held.discard(key)


def _valid(record: object) -> dict[str, Any] | None:
    """A record read back from state (a snapshot is hostile data): its shape checked."""
    if not isinstance(record, dict) or record.get("v") != _VERSION:
        return None
    turns, results, approvals = record.get("turns"), record.get("results"), record.get("approvals")
    if not isinstance(turns, list) or not isinstance(results, dict) or not isinstance(approvals, dict):
        return None
    for turn in turns:
        if not isinstance(turn, dict) or not isinstance(turn.get("content"), str):
            return None
        calls = turn.get("tool_calls")
        if not isinstance(calls, list) or not all(_call_ok(c) for c in calls):
            return None
        usage = turn.get("usage")
        if usage is not None and not (
            isinstance(usage, dict)
            and all(type(usage.get(k)) is int for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
        ):
            return None
        cost = turn.get("cost")
        if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float))):
            return None
    for result in results.values():
        if not isinstance(result, dict) or not isinstance(result.get("content"), str):
            return None
        if result.get("error") is not None and not isinstance(result["error"], str):
            return None
    return record


def _call_ok(call: object) -> bool:
    if not isinstance(call, dict) or not isinstance(call.get("id"), str):
        return False
    function = call.get("function")
    return (
        isinstance(function, dict)
        and isinstance(function.get("name"), str)
        and isinstance(function.get("arguments"), str)
    )


class RunLog(AgentLog):
    """The :class:`AgentLog` of ``ctx.run_agent``: records in the run's state."""

    __slots__ = ("_inv", "_key", "_run", "_step")

    def __init__(self, run: DurableRun, inv: int, step: str | None, key: str) -> None:
        self._run = run
        self._inv = inv
        self._step = step
        self._key = key

    @property
    def key(self) -> str:
        """The record's state key."""
        return self._key

    def _record(self) -> dict[str, Any]:
        found = _valid(self._run.state.get(self._key))
        return found if found is not None else {"v": _VERSION, "turns": [], "results": {}, "approvals": {}}

    def _write(self, record: dict[str, Any]) -> None:
        # A new dict each time (never mutated after): a snapshot being saved keeps its copy.
        self._run.state[self._key] = record
        self._run.checkpoint_now()

    def turn(self, index: int) -> dict[str, Any] | None:
        turns = self._record()["turns"]
        return turns[index] if index < len(turns) else None

    def save_turn(self, index: int, turn: dict[str, Any]) -> None:
        record = self._record()
        if index == len(record["turns"]):
            self._write({**record, "turns": [*record["turns"], turn]})

    def result(self, index: int, call_id: str) -> dict[str, Any] | None:
        found = self._record()["results"].get(f"{index}/{call_id}")
        return dict(found) if found is not None else None

    def save_result(self, index: int, call_id: str, result: dict[str, Any]) -> None:
        record = self._record()
        self._write({**record, "results": {**record["results"], f"{index}/{call_id}": result}})

    async def approve(self, index: int, call: dict[str, Any], arguments: dict[str, Any]) -> Any:
        slot = f"{index}/{call['id']}"
        given = self._record()["approvals"]
        if slot in given:
            return given[slot]
        name = call["function"]["name"]
        metadata = {
            "kind": "tool_approval",
            "tool": name,
            "arguments": arguments,
            "tool_call_id": call["id"],
            "iteration": index,
            "agent": self._key,
        }
        request_id = f"{_BOUND}{self._key[len(AGENT_PREFIX) :]}/{slot}"
        answer = await self._run.wait_bound(
            request_id, f"Allow the tool {name!r} to run?", metadata, self._step
        )
        verdict = answer if isinstance(answer, (bool, dict)) else answer is True
        record = self._record()
        self._write({**record, "approvals": {**record["approvals"], slot: verdict}})
        return verdict

    def publish(self, fields: dict[str, Any]) -> None:
        self._run.publish(fields["type"], {**fields, "agent": self._key})

    def close(self) -> None:
        """The agent returned: delete the record through the journal (see the module)."""
        state = self._run.state
        if self._key in state:
            self._run.record_for(self._inv, self._key)
            del state[self._key]


async def run_durable(
    run: DurableRun,
    inv: int,
    step: str | None,
    model: Any,
    messages: Any,
    tools: Any,
    options: dict[str, Any],
) -> Any:
    """``ctx.run_agent``: :func:`run_agent` with its turns recorded in ``run``'s state."""
    if options.get("approve") is not None or options.get("on_event") is not None:
        raise TypeError(
            "ctx.run_agent asks approvals through durable input requests and puts its items "
            "on the run's stream: approve= and on_event= are for run_agent outside a workflow"
        )
    conversation, checked = prepare(messages, tools, options.get("system_prompt"))
    settings = {k: v for k, v in options.items() if k != "on_chunk"}
    given = [conversation, [t.definition() for t in checked], settings]
    log = RunLog(run, inv, step, record_key(run, inv, step, given))
    try:
        result = await run_agent(model, conversation, checked, _log=log, **{**options, "system_prompt": None})
    except Exception:
        log.close()
        raise
    finally:
        # Cancelled (a retry, a StopEvent elsewhere), the record stays for the next attempt.
        release(run, log.key)
    log.close()
    return result
