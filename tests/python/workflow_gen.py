"""Random workflows for differential tests: fan-out, loops, send_event, state, input requests,
fan-in (collect_events), waiting for events sent from outside (wait_for_event), durable sleep,
sub-workflows, flaky steps retried under a policy, and durable tool-calling agents
(``ctx.run_agent``) against a deterministic in-process model.

Every step's outputs depend only on the event it handles, so the number of events that
reach the sink is known in advance (:attr:`Generated.expected_sinks`); the sink stops the
run once all of them arrived. State records an order-sensitive trace, so a resumed run
that lost or duplicated an event ends with a different result. A flaky step fails its
first attempts (how many depends only on its event) after writing to the state and
sending an event: a retry that kept a failed attempt's writes or events would show.

An agent step asks its model (a MockTransport whose answer depends only on the request's
messages: a tool call per round, then an answer) and runs the tool it calls; each model
turn and tool call is counted in :attr:`Generated.model_calls` / :attr:`Generated.tool_calls`
by its agent's key (step, n) and round, and :attr:`Generated.agents_running` holds the
agents started and not finished, so a test can tell which calls a resume may repeat (only
the turn under way of an unfinished agent).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from blazen_py import (
    INPUT_REQUEST_EVENT,
    INPUT_RESPONSE_EVENT,
    START_EVENT,
    STOP_EVENT,
    ChatMessage,
    CompletionModel,
    HttpResponse,
    MockTransport,
    Tool,
    Workflow,
    WorkflowBuilder,
)

KINDS = (
    "forward", "fanout", "send", "ask", "loop", "join", "wait", "sleep", "child", "flaky", "map", "parallel",
)
AGENT_KINDS = (*KINDS, "agent")
"""KINDS with durable agents (ctx.run_agent) in place of some forward steps."""
WANT = "WantOk"
"""Stream item of a waiting generated step: the host answers with the event it names."""

FLAKY_RETRY = {"max_attempts": 3, "initial_delay": 0, "backoff": "fixed"}

SERVER_KINDS = ("forward", "fanout", "send", "ask", "loop", "join", "sleep", "child", "flaky")
"""The kinds a run handed to a blazen_py.server can finish: a "wait" step needs its host to
send the event it names, and RemoteHandler has no send_event yet."""

AGENT_ROUNDS = 2
"""Tool rounds of a generated agent: it then answers (AGENT_ROUNDS + 1 model turns)."""
AGENT_SCHEMA = {"type": "object", "properties": {"key": {"type": "string"}, "k": {"type": "integer"}},
                "required": ["key", "k"]}


BIG = 2**64  # beyond a JS number's exact range


class Generated:
    """A generated workflow and what an uninterrupted run must produce."""

    def __init__(self, seed: int, kinds: tuple[str, ...] = KINDS) -> None:
        rng = random.Random(seed)
        agents = random.Random(f"agents-{seed}")
        drawn = tuple(k for k in kinds if k != "agent")
        self.seed = seed
        self.types = [f"T{i}" for i in range(rng.randint(2, 4))]
        self.depth = rng.randint(2, 4)
        self.plans: dict[str, list[tuple[str, str, list[str], bool]]] = {}
        # For each type: the steps that accept it, each (name, kind, targets, suspends).
        names = 0
        for etype in self.types:
            plans = []
            for _ in range(1 if rng.random() < 0.7 else 2):
                kind = rng.choice(drawn)
                # Agents replace some forward steps, drawn from a generator of their own:
                # the other kinds' workflows stay those of earlier versions of this module.
                if kind == "forward" and "agent" in kinds and agents.random() < 0.5:
                    kind = "agent"
                width = 2 if kind in ("fanout", "send", "flaky") else 1
                targets = [rng.choice(self.types) for _ in range(width)]
                plans.append((f"s{names}", kind, targets, rng.random() < 0.3))
                names += 1
            self.plans[etype] = plans
        self.first = rng.choice(self.types)
        self.expected_sinks = self._count(self.first, 0)
        while self.expected_sinks > 24 and self.depth > 1:  # keep each run small
            self.depth -= 1
            self.expected_sinks = self._count(self.first, 0)
        self.hook: Callable[[], None] | None = None
        self.model_calls: Counter[tuple[str, int]] = Counter()
        self.tool_calls: Counter[tuple[str, int]] = Counter()
        self.agents_running: Counter[str] = Counter()
        self.expected_agents: tuple[Any, ...] = ((), ())
        self.has_agents = any(k == "agent" for plans in self.plans.values() for _, k, _, _ in plans)
        self.model: CompletionModel | None = None
        if self.has_agents:
            model = CompletionModel.openai_compatible(base_url="http://llm.test/v1", model="gen")
            self.model = model.with_transport(MockTransport(self._answer_turn))

    def _count(self, etype: str, n: int) -> int:
        if n >= self.depth:
            return 1
        total = 0
        for _, kind, targets, _ in self.plans[etype]:
            if kind == "loop":
                total += self._count(etype, n + 1)
            elif kind == "join":  # two halves, joined into one event
                total += self._count(targets[0], n + 1)
            else:
                total += sum(self._count(t, n + 1) for t in targets)
        return total

    def builder(self) -> WorkflowBuilder:
        """A builder of the workflow (fresh Workflow per build)."""
        b = WorkflowBuilder(f"gen-{self.seed}")
        b.add_step("start", [START_EVENT], self._start)
        for etype, plans in self.plans.items():
            for name, kind, targets, suspends in plans:
                if kind == "child":
                    out = self._child_output(targets)
                    b.add_subworkflow_step(name, [etype], CHILD, input=_child_input, output=out)
                    continue
                if kind == "map":
                    out = self._map_output(targets)
                    b.add_map_step(name, [etype], ITEM_CHILD, items=_map_items, output=out, concurrency=2)
                    continue
                if kind == "parallel":
                    # join="first" when suspends: which child wins may vary, the output may not
                    join = "first" if suspends else "all"
                    b.add_parallel_subworkflows(name, [etype], [CHILD, ITEM_CHILD], input=_child_input,
                                                output=self._parallel_output(targets, join), join=join)
                    continue
                retry = FLAKY_RETRY if kind == "flaky" else None
                b.add_step(name, [etype], self._make(name, kind, targets, suspends), retry=retry)
                if kind == "join":
                    halves = [f"{name}.a", f"{name}.b"]
                    b.add_step(f"{name}_join", halves, self._joiner(name, targets, suspends))
        b.add_step("answer", [INPUT_RESPONSE_EVENT], self._answer)
        b.add_step("sink", ["Sink"], self._sink)
        return b

    def _tick(self, ctx: Any, label: str) -> None:
        trace = ctx.get("trace") or []
        trace.append(label)
        ctx.set("trace", trace)
        if self.hook is not None:
            self.hook()

    def _start(self, event: Any, ctx: Any) -> Any:
        self._tick(ctx, "start")
        return self._event(self.first, 0)

    def _event(self, etype: str, n: int) -> dict[str, Any]:
        if n >= self.depth:
            return {"type": "Sink", "from": etype}
        # An integer beyond 2**53 and a `__proto__` key ride along: a resume from JSON must
        # give both back exactly (the $int tag, keys as plain data).
        return {"type": etype, "n": n, "big": BIG + n, "__proto__": {"n": n}}

    def _make(self, name: str, kind: str, targets: list[str], suspends: bool) -> Any:
        if kind in ("wait", "sleep"):
            return self._waiting(name, kind, targets)
        if kind == "agent":
            return self._agent(name, targets)

        def outputs(event: Any, ctx: Any) -> Any:
            n = event["n"]
            intact = event["big"] == BIG + n and event["__proto__"] == {"n": n}
            self._tick(ctx, f"{name}:{event['type']}:{n}" + ("" if intact else ":CHANGED"))
            ctx.state.set(f"count.{name}", (ctx.get(f"count.{name}") or BIG) + 1)
            if kind == "forward":
                return self._event(targets[0], n + 1)
            if kind == "loop":
                return self._event(event["type"], n + 1)
            if kind == "fanout":
                return [self._event(t, n + 1) for t in targets]
            if kind == "join":
                return [{"type": f"{name}.b", "n": n}, {"type": f"{name}.a", "n": n}]
            if kind == "send":
                ctx.send_event(self._event(targets[0], n + 1))
                return self._event(targets[1], n + 1)
            if kind == "flaky":
                ctx.send_event(self._event(targets[0], n + 1))  # held back until it succeeds
                if ctx.attempt <= (n + len(name)) % 3:
                    ctx.set("kept_a_failed_write", True)  # rolled back with the attempt
                    raise ConnectionError(f"{name} attempt {ctx.attempt}")
                return self._event(targets[1], n + 1)
            nxt = self._event(targets[0], n + 1)
            return {"type": INPUT_REQUEST_EVENT, "prompt": f"{name}@{n}", "metadata": {"next": nxt}}

        if not suspends:
            return outputs

        async def suspending(event: Any, ctx: Any) -> Any:
            await asyncio.sleep(0)
            return outputs(event, ctx)

        return suspending

    def _waiting(self, name: str, kind: str, targets: list[str]) -> Any:
        async def step(event: Any, ctx: Any) -> Any:
            n = event["n"]
            if kind == "wait":
                ctx.write_event_to_stream({"type": WANT, "want": f"{name}.ok", "n": n})
                got = await ctx.wait_for_event(f"{name}.ok", where={"n": n}, timeout=30)
                assert got["n"] == n
            else:
                await ctx.sleep(0.002)
            self._tick(ctx, f"{name}:{event['type']}:{n}")  # state written after the wait
            return self._event(targets[0], n + 1)

        return step

    def _agent(self, name: str, targets: list[str]) -> Any:
        async def step(event: Any, ctx: Any) -> Any:
            n = event["n"]
            key = f"{name}@{n}"
            self.agents_running[key] += 1
            result = await ctx.run_agent(self.model, [ChatMessage.user(key)], [self._tool], max_iterations=4)
            self.agents_running[key] -= 1
            assert result.content == f"done {key}", result.content
            self._tick(ctx, f"{name}:{event['type']}:{n}:{result.iterations}")
            return self._event(targets[0], n + 1)

        return step

    def _answer_turn(self, request: Any) -> HttpResponse:
        """The model: a tool call for each of the first AGENT_ROUNDS rounds, then an answer."""
        messages = json.loads(request.body)["messages"]
        key = messages[0]["content"]
        done = sum(1 for m in messages if m["role"] == "tool")
        self.model_calls[(key, done)] += 1
        if self.hook is not None and done == 1:
            # A boundary mid-agent, while its second model call is under way (its first
            # turn and tool call completed); one per agent keeps the module's time down.
            self.hook()
        if done < AGENT_ROUNDS:
            arguments = json.dumps({"key": key, "k": done})
            function = {"name": "bump", "arguments": arguments}
            call = {"id": f"c{done}", "type": "function", "function": function}
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
        else:
            message = {"role": "assistant", "content": f"done {key}"}
        body = json.dumps({"choices": [{"message": message, "finish_reason": "stop"}]}).encode()
        return HttpResponse(200, {"content-type": "application/json"}, body)

    @property
    def _tool(self) -> Tool:
        def bump(args: dict[str, Any]) -> dict[str, Any]:
            self.tool_calls[(args["key"], args["k"])] += 1
            return {"bumped": args["k"]}

        return Tool("bump", "Count a round", AGENT_SCHEMA, bump)

    def _child_output(self, targets: list[str]) -> Any:
        def output(result: Any, event: Any) -> Any:
            n, seen = result.data
            assert n == event["n"]
            assert seen == [n, n]  # the child's own state, continued across resumes
            return self._event(targets[0], n + 1)

        return output

    def _map_output(self, targets: list[str]) -> Any:
        def output(results: Any, event: Any) -> Any:
            n = event["n"]
            # items: {"n": n} is the child's start input, n + 1 arrives as {"item": n + 1}
            assert [r.data for r in results] == [[n, [n, n]], [n + 1, [n + 1, n + 1]]]
            assert len({r.run_id for r in results}) == 2
            return self._event(targets[0], n + 1)

        return output

    def _parallel_output(self, targets: list[str], join: str) -> Any:
        def output(results: Any, event: Any) -> Any:
            n = event["n"]
            rows = [results] if join == "first" else results
            for r in rows:
                assert r.data == [n, [n, n]]
            assert len(rows) == (1 if join == "first" else 2)
            return self._event(targets[0], n + 1)

        return output

    def _joiner(self, name: str, targets: list[str], suspends: bool) -> Any:
        def forward(event: Any, ctx: Any, got: Any) -> Any:
            self._tick(ctx, f"{name}_join:{event['type']}:{event['n']}")
            if got is None:
                return None
            return self._event(targets[0], got[0]["n"] + 1)  # the n of the "a" half

        halves = [f"{name}.a", f"{name}.b"]
        if not suspends:
            return lambda event, ctx: forward(event, ctx, ctx.collect_events(event, halves))

        async def suspending(event: Any, ctx: Any) -> Any:
            got = ctx.collect_events(event, halves)
            # Unfinished after collecting, with no state written yet: a snapshot taken now
            # leaves out what it buffered or took, and a finished join may take its event.
            await asyncio.sleep(0)
            return forward(event, ctx, got)

        return suspending

    def _answer(self, event: Any, ctx: Any) -> Any:
        self._tick(ctx, f"answer:{event['response']}")
        return event["response"]["next"]

    def _sink(self, event: Any, ctx: Any) -> Any:
        self._tick(ctx, f"sink:{event['from']}")
        sinks = (ctx.get("sinks") or 0) + 1
        ctx.set("sinks", sinks)
        if sinks == self.expected_sinks:
            # Sorted: when the host answers input requests is up to the host, so only the
            # multiset of steps run (no loss, no duplicate) and the state are deterministic.
            state = {k: ctx.get(k) for k in sorted(ctx.state.keys()) if k != "trace"}
            return {
                "type": STOP_EVENT,
                "result": {"sinks": sinks, "trace": sorted(ctx.get("trace")), "state": state},
            }
        return None


def _child_input(event: Any) -> Any:
    return {"n": event["n"]}


def _map_items(event: Any) -> Any:
    return [{"n": event["n"]}, event["n"] + 1]


def _item_build() -> Workflow:
    """The second child of generated parallel steps and the "item" reading of map items:
    takes ``n`` or ``item``, a durable sleep, state."""
    child = Workflow("gen-item")

    async def only(event: Any, ctx: Any) -> Any:
        n = event["n"] if "n" in event else event["item"]
        ctx.set("seen", [n])
        await ctx.sleep(0.002)
        return {"type": STOP_EVENT, "result": [n, [*ctx.get("seen"), n]]}

    child.add_step("only", [START_EVENT], only)
    return child


def _child_build() -> Workflow:
    """The child of generated sub-workflow steps: two steps, a durable sleep between, state."""
    child = Workflow("gen-child")

    def first(event: Any, ctx: Any) -> Any:
        ctx.set("seen", [event["n"]])
        return {"type": "Half", "n": event["n"]}

    async def second(event: Any, ctx: Any) -> Any:
        await ctx.sleep(0.003)
        seen = (ctx.get("seen") or []) + [event["n"]]
        return {"type": STOP_EVENT, "result": [event["n"], seen]}

    child.add_step("first", [START_EVENT], first)
    child.add_step("second", ["Half"], second)
    return child


CHILD = _child_build()
ITEM_CHILD = _item_build()


def answer(handler: Any, item: Any) -> None:
    """The host's part: answer input requests, send the events waiting steps want."""
    if item.event_type == "InputRequested":
        handler.respond_to_input(item["request_id"], answer_for(item))
    elif item.event_type == WANT:
        send_wanted(handler, item)


def send_wanted(handler: Any, item: Any) -> None:
    """Send the event a waiting step announced (sent twice, the second finds no taker)."""
    if not handler.done:
        handler.send_event({"type": item["want"], "n": item["n"]})


def answer_for(item: Any) -> Any:
    """The host's answer to an input request of a generated workflow."""
    return item["metadata"]
