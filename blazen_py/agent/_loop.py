"""The tool-calling loop: ask the model, run the tools it calls, repeat.

:func:`run_agent` sends the conversation with the tools' definitions; when the answer
calls tools, it validates each call's arguments against the tool's schema, runs the
handlers (at most ``tool_concurrency`` at once), appends the answer and one ``tool``
message per call, and asks again, until an answer calls no tool (its text is the
result), the model calls the finish tool, or ``max_iterations`` rounds of tool calls
have run and the model still calls tools (:class:`~blazen_py.errors.MaxIterationsError`).

The model is any object with ``async complete(messages, options)`` (and ``stream``, for
``on_chunk``) answering like :class:`blazen_py.llm.CompletionResponse`: this module sits
below the model layer (so that a step's context can run agents durably, see
:mod:`._record`) and reads answers by their attributes only. Every turn is reduced at
once to plain JSON data (:func:`turn_of`): that is what a durable run records.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from ..errors import AgentError, MaxIterationsError
from ._schema import SchemaProblem, check_schema, parse_arguments
from ._tools import (
    FINISH_TOOL,
    Tool,
    arguments_of,
    as_tools,
    call_result,
    error_result,
    finish_tool,
)

__all__ = [
    "DEFAULT_MAX_ITERATIONS",
    "TOOL_CALL",
    "TOOL_RESULT",
    "TURN",
    "AgentLog",
    "AgentResult",
    "extract",
    "run_agent",
    "turn_of",
]

#: Default ``max_iterations``: rounds of tool calls before :class:`MaxIterationsError`.
DEFAULT_MAX_ITERATIONS = 10
#: Stream items (and ``on_event`` items) of an agent run.
TURN = "blazen::AgentTurn"
TOOL_CALL = "blazen::ToolCall"
TOOL_RESULT = "blazen::ToolResult"

_EXTRACT_TOOL = "respond"
_REJECTED = "the user did not approve this call"


class AgentLog(Protocol):
    """Where a run keeps its turns and tool results (a durable run: the run's state).

    The plain loop keeps nothing (:class:`_NoLog`); ``ctx.run_agent`` gives one that
    records each completed turn and result in the run's state and answers them again
    after a resume (:mod:`._record`).
    """

    def turn(self, index: int) -> dict[str, Any] | None: ...

    def save_turn(self, index: int, turn: dict[str, Any]) -> None: ...

    def result(self, index: int, call_id: str) -> dict[str, Any] | None: ...

    def save_result(self, index: int, call_id: str, result: dict[str, Any]) -> None: ...

    async def approve(self, index: int, call: dict[str, Any], arguments: dict[str, Any]) -> Any: ...

    def publish(self, fields: dict[str, Any]) -> None: ...


class _NoLog:
    """A run in memory only: approvals go to ``approve`` (or are impossible)."""

    __slots__ = ("_approve", "_on_event")

    def __init__(
        self, approve: Callable[..., Any] | None, on_event: Callable[[dict[str, Any]], Any] | None
    ) -> None:
        self._approve = approve
        self._on_event = on_event

    def turn(self, index: int) -> dict[str, Any] | None:
        return None

    def save_turn(self, index: int, turn: dict[str, Any]) -> None:
        pass

    def result(self, index: int, call_id: str) -> dict[str, Any] | None:
        return None

    def save_result(self, index: int, call_id: str, result: dict[str, Any]) -> None:
        pass

    async def approve(self, index: int, call: dict[str, Any], arguments: dict[str, Any]) -> Any:
        if self._approve is None:  # checked before the run starts
            return False
        verdict = self._approve(call["function"]["name"], arguments)
        if asyncio.iscoroutine(verdict) or hasattr(verdict, "__await__"):
            verdict = await verdict
        return verdict

    def publish(self, fields: dict[str, Any]) -> None:
        if self._on_event is not None:
            self._on_event(fields)


class AgentResult:
    """What an agent run ends with.

    Attributes:
        content: The final answer's text (the finish tool's ``answer`` when it ended so).
        messages: The whole conversation, OpenAI format (system prompt first when one was
            given, then the messages, each answer, each tool result, the final answer).
        iterations: Rounds of tool calls that ran.
        total_usage: Token counts summed over every turn that reported them
            (``{"prompt_tokens", "completion_tokens", "total_tokens"}``), or ``None``.
        total_cost: The cost (USD) summed over every turn whose provider reported one,
            or ``None``.
        tool_results: Every tool call: ``{"id", "name", "arguments", "data", "error",
            "content"}``, in order (``data`` what the handler returned, ``content`` what
            the model read).
        finish_reason: ``"stop"`` (an answer without tool calls), ``"finish_tool"`` or
            the provider's reason.
    """

    __slots__ = (
        "content",
        "finish_reason",
        "iterations",
        "messages",
        "tool_results",
        "total_cost",
        "total_usage",
    )

    def __init__(
        self,
        content: str,
        messages: list[dict[str, Any]],
        iterations: int,
        total_usage: dict[str, int] | None,
        total_cost: float | None,
        tool_results: list[dict[str, Any]],
        finish_reason: str | None,
    ) -> None:
        """Create a result (the loop does)."""
        self.content = content
        self.messages = messages
        self.iterations = iterations
        self.total_usage = total_usage
        self.total_cost = total_cost
        self.tool_results = tool_results
        self.finish_reason = finish_reason

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-compatible data (snake_case keys)."""
        return {
            "content": self.content,
            "messages": self.messages,
            "iterations": self.iterations,
            "total_usage": self.total_usage,
            "total_cost": self.total_cost,
            "tool_results": self.tool_results,
            "finish_reason": self.finish_reason,
        }

    def __repr__(self) -> str:
        return (
            f"AgentResult(content={self.content[:60]!r}, iterations={self.iterations}, "
            f"total_usage={self.total_usage!r}, total_cost={self.total_cost!r})"
        )


class _CompletionModel(Protocol):
    async def complete(self, messages: Any, options: Any = None) -> Any: ...

    async def stream(self, messages: Any, on_chunk: Any, options: Any = None) -> Any: ...


def turn_of(response: Any) -> dict[str, Any]:
    """One answer as plain JSON data: content, tool calls, usage, cost, finish reason."""
    usage = getattr(response, "usage", None)
    counts = None
    if usage is not None:
        counts = {
            "prompt_tokens": int(usage.prompt_tokens),
            "completion_tokens": int(usage.completion_tokens),
            "total_tokens": int(usage.total_tokens),
        }
    calls = [
        {
            "id": str(c["id"]),
            "type": "function",
            "function": {"name": str(c["function"]["name"]), "arguments": str(c["function"]["arguments"])},
        }
        for c in getattr(response, "tool_calls", None) or ()
    ]
    cost = getattr(response, "cost", None)
    return {
        "content": str(getattr(response, "content", "") or ""),
        "tool_calls": calls,
        "usage": counts,
        "cost": float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None,
        "finish_reason": getattr(response, "finish_reason", None),
    }


def _message_of(message: Any) -> dict[str, Any]:
    if hasattr(message, "to_dict"):
        data = message.to_dict()
    elif isinstance(message, Mapping):
        data = {str(k): v for k, v in message.items()}
    else:
        raise TypeError(f"messages must be ChatMessage objects or mappings, not {type(message).__name__}")
    if not isinstance(data, dict) or "role" not in data:
        raise ValueError("a chat message needs a 'role'")
    return data


def _check_count(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return value


class _Settings:
    """The options of one run, checked once."""

    __slots__ = ("add_finish_tool", "max_iterations", "on_chunk", "request_options", "tool_concurrency")

    def __init__(
        self,
        *,
        tool_concurrency: int,
        max_iterations: int,
        temperature: float | None,
        max_tokens: int | None,
        add_finish_tool: bool,
        on_chunk: Callable[[Any], Any] | None,
        options: Mapping[str, Any] | None,
    ) -> None:
        self.tool_concurrency = _check_count("tool_concurrency", tool_concurrency, 0)
        self.max_iterations = _check_count("max_iterations", max_iterations, 0)
        self.add_finish_tool = bool(add_finish_tool)
        if on_chunk is not None and not callable(on_chunk):
            raise TypeError("on_chunk must be callable")
        self.on_chunk = on_chunk
        extra: dict[str, Any] = dict(options or {})
        if temperature is not None:
            if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
                raise TypeError("temperature must be a number")
            extra["temperature"] = temperature
        if max_tokens is not None:
            extra["max_tokens"] = _check_count("max_tokens", max_tokens, 1)
        self.request_options = extra


class _Loop:
    """One agent run."""

    def __init__(
        self,
        model: _CompletionModel,
        messages: list[dict[str, Any]],
        tools: list[Tool],
        settings: _Settings,
        log: AgentLog,
    ) -> None:
        self.model = model
        self.messages = messages
        self.settings = settings
        self.log = log
        self.tools = {t.name: t for t in tools}
        if settings.add_finish_tool and FINISH_TOOL not in self.tools:
            self.tools[FINISH_TOOL] = finish_tool()
        self.definitions = [t.definition() for t in self.tools.values()]
        self.usage: dict[str, int] | None = None
        self.cost: float | None = None
        self.results: list[dict[str, Any]] = []
        self.limit = asyncio.Semaphore(settings.tool_concurrency) if settings.tool_concurrency else None

    async def run(self) -> AgentResult:
        rounds = self.settings.max_iterations
        for index in range(rounds + 1):
            turn = await self._turn(index)
            calls = turn["tool_calls"]
            if not calls:
                self.messages.append({"role": "assistant", "content": turn["content"]})
                return self._result(turn["content"], index, turn["finish_reason"] or "stop")
            self.messages.append(
                {"role": "assistant", "content": turn["content"] or None, "tool_calls": calls}
            )
            answer = self._finish_answer(calls) if self.settings.add_finish_tool else None
            if answer is not None:
                finish_call = next(c for c in calls if c["function"]["name"] == FINISH_TOOL)
                for call in calls:  # every call gets its answer: the history stays well formed
                    done = call is finish_call
                    content = "finished" if done else json.dumps({"error": "not run: the agent finished"})
                    self.messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})
                return self._result(answer, index, "finish_tool")
            if index == rounds:
                raise MaxIterationsError(
                    f"the model still called tools after {rounds} rounds of tool calls "
                    f"(max_iterations={rounds}): {', '.join(c['function']['name'] for c in calls)}",
                    iterations=rounds,
                    messages=self.messages,
                )
            results = await asyncio.gather(*(self._call(index, call) for call in calls))
            for call, result in zip(calls, results, strict=True):  # in the answer's order
                self.messages.append(
                    {"role": "tool", "tool_call_id": call["id"], "content": result["content"]}
                )
                self.results.append(
                    {
                        "id": call["id"],
                        "name": call["function"]["name"],
                        "arguments": _shown_call(call)["arguments"],
                        "data": result["data"],
                        "error": result["error"],
                        "content": result["content"],
                    }
                )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _turn(self, index: int) -> dict[str, Any]:
        turn = self.log.turn(index)
        replayed = turn is not None
        if turn is None:
            options = {**self.settings.request_options}
            if self.definitions:
                options["tools"] = self.definitions
            if self.settings.on_chunk is not None:
                response = await self.model.stream(list(self.messages), self.settings.on_chunk, options)
            else:
                response = await self.model.complete(list(self.messages), options)
            turn = turn_of(response)
            self.log.save_turn(index, turn)
        self._count(turn)
        self.log.publish(
            {
                "type": TURN,
                "iteration": index,
                "content": turn["content"],
                "tool_calls": [_shown_call(c) for c in turn["tool_calls"]],
                "usage": turn["usage"],
                "replayed": replayed,
            }
        )
        return turn

    def _count(self, turn: dict[str, Any]) -> None:
        usage = turn["usage"]
        if usage is not None:
            if self.usage is None:
                self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            for key in self.usage:
                self.usage[key] += usage[key]
        if turn["cost"] is not None:
            self.cost = (self.cost or 0.0) + turn["cost"]

    def _finish_answer(self, calls: list[dict[str, Any]]) -> str | None:
        for call in calls:
            if call["function"]["name"] == FINISH_TOOL:
                arguments, problem = arguments_of(self.tools[FINISH_TOOL], call["function"]["arguments"])
                if problem is None and arguments is not None:
                    return str(arguments["answer"])
        return None  # a malformed finish call is reported to the model like any other

    async def _call(self, index: int, call: dict[str, Any]) -> dict[str, Any]:
        name = call["function"]["name"]
        self.log.publish({"type": TOOL_CALL, "iteration": index, **_shown_call(call)})
        result = self.log.result(index, call["id"])
        replayed = result is not None
        if result is None:
            result = await self._outcome(index, call)
            self.log.save_result(index, call["id"], result)
        self.log.publish(
            {
                "type": TOOL_RESULT,
                "iteration": index,
                "id": call["id"],
                "name": name,
                "content": result["content"],
                "error": result["error"],
                "replayed": replayed,
            }
        )
        return result

    async def _outcome(self, index: int, call: dict[str, Any]) -> dict[str, Any]:
        name = call["function"]["name"]
        tool = self.tools.get(name)
        if tool is None:
            return error_result(f"unknown tool {name!r}; available tools: {', '.join(self.tools) or 'none'}")
        arguments, problem = arguments_of(tool, call["function"]["arguments"])
        if problem is not None or arguments is None:
            return error_result(problem or "invalid arguments")
        if await tool.wants_approval(arguments):
            verdict = await self.log.approve(index, call, arguments)
            approved, reason = _verdict(verdict)
            if not approved:
                message = _REJECTED + (f": {reason}" if reason else "")
                return {**error_result(message), "rejected": True}
        if self.limit is None:
            return await call_result(tool, arguments)
        async with self.limit:
            return await call_result(tool, arguments)

    def _result(self, content: str, iterations: int, reason: str | None) -> AgentResult:
        return AgentResult(content, self.messages, iterations, self.usage, self.cost, self.results, reason)


def _verdict(answer: Any) -> tuple[bool, str | None]:
    """An approval answer: ``True``/``False``, or ``{"approved": bool, "reason": text}``."""
    if isinstance(answer, Mapping):
        reason = answer.get("reason")
        return answer.get("approved") is True, str(reason)[:500] if reason is not None else None
    return answer is True, None


def _shown_call(call: dict[str, Any]) -> dict[str, Any]:
    """A call as stream items show it: its arguments parsed when they are JSON."""
    text = call["function"]["arguments"]
    try:
        arguments: Any = parse_arguments(text)
    except SchemaProblem:
        arguments = text
    return {"id": call["id"], "name": call["function"]["name"], "arguments": arguments}


def prepare(
    messages: Iterable[Any], tools: object, system_prompt: str | None
) -> tuple[list[dict[str, Any]], list[Tool]]:
    """The conversation as dicts (system prompt first) and the tools, checked."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
        raise TypeError("messages must be a list of ChatMessage objects or mappings")
    conversation = [_message_of(m) for m in messages]
    if system_prompt is not None:
        if not isinstance(system_prompt, str):
            raise TypeError("system_prompt must be a string")
        conversation.insert(0, {"role": "system", "content": system_prompt})
    if not conversation:
        raise ValueError("messages must not be empty")
    return conversation, as_tools(tools)


async def run_agent(
    model: Any,
    messages: Iterable[Any],
    tools: Iterable[Tool | Mapping[str, Any]] = (),
    *,
    tool_concurrency: int = 0,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    system_prompt: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    add_finish_tool: bool = False,
    on_chunk: Callable[[Any], Any] | None = None,
    on_event: Callable[[dict[str, Any]], Any] | None = None,
    approve: Callable[[str, dict[str, Any]], Any] | None = None,
    options: Mapping[str, Any] | None = None,
    _log: AgentLog | None = None,
) -> AgentResult:
    """Run a tool-calling agent: call the model, run the tools it asks for, repeat.

    Args:
        model: A :class:`~blazen_py.llm.CompletionModel` (or anything with its
            ``complete``/``stream``).
        messages: The conversation: ChatMessage objects or OpenAI-format mappings.
        tools: :class:`Tool` objects, or mappings with their fields.
        tool_concurrency: Most tool calls of one answer running at once; 0: no limit.
        max_iterations: Most rounds of tool calls; an answer that calls tools after
            that many raises :class:`~blazen_py.errors.MaxIterationsError` (the model is
            asked at most ``max_iterations + 1`` times).
        system_prompt: Put first, as a system message.
        temperature: Sent with every request.
        max_tokens: Sent with every request.
        add_finish_tool: Offer a ``finish`` tool; calling it with ``answer`` ends the run
            with that answer.
        on_chunk: Stream every turn, calling ``on_chunk(chunk)`` per piece of text.
        on_event: Called with each ``blazen::AgentTurn`` / ``blazen::ToolCall`` /
            ``blazen::ToolResult`` item (plain dicts) as it happens.
        approve: ``approve(tool_name, arguments)`` (sync or async) decides calls of tools
            declared ``needs_approval``: ``True``, ``False``, or ``{"approved", "reason"}``.
            Inside a workflow, ``ctx.run_agent`` asks through a durable input request.
        options: More request options (``tool_choice``, ``seed``, ...).

    Returns:
        The :class:`AgentResult`.

    Raises:
        MaxIterationsError: Tools were still called after ``max_iterations`` rounds.
        AgentError: A tool needs approval and there is no ``approve``.
        ModelError: A model call failed (tool failures never raise: the model reads them).
        ValueError: A tool or option is invalid.
        TypeError: An argument has the wrong type.
    """
    settings = _Settings(
        tool_concurrency=tool_concurrency,
        max_iterations=max_iterations,
        temperature=temperature,
        max_tokens=max_tokens,
        add_finish_tool=add_finish_tool,
        on_chunk=on_chunk,
        options=options,
    )
    conversation, checked = prepare(messages, tools, system_prompt)
    if _log is None:
        if approve is None:
            gated = [t.name for t in checked if t.needs_approval is not False]
            if gated:
                raise AgentError(
                    f"tool(s) {', '.join(gated)} need approval: pass approve=..., or run the agent "
                    "in a workflow step with ctx.run_agent, which asks through a durable input request"
                )
        elif not callable(approve):
            raise TypeError("approve must be callable")
        _log = _NoLog(approve, on_event)
    return await _Loop(model, conversation, checked, settings, _log).run()


async def extract(
    model: Any,
    messages: Iterable[Any],
    schema: Mapping[str, Any],
    *,
    max_attempts: int = 3,
    system_prompt: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> Any:
    """Structured output through a single-purpose tool: the model must call ``respond``.

    The model is offered one tool whose parameters are ``schema`` and told to call it
    (``tool_choice``); its arguments, validated against the schema, are the result.
    Arguments that fail validation are reported back, and the model tries again, up to
    ``max_attempts`` times.

    Args:
        model: The model.
        messages: The conversation.
        schema: The JSON Schema of the result (an object schema).
        max_attempts: Most model calls.
        system_prompt: Put first, as a system message.
        temperature: Sent with every request.
        max_tokens: Sent with every request.

    Returns:
        The arguments of the model's ``respond`` call: a dict matching ``schema``.

    Raises:
        AgentError: No valid ``respond`` call after ``max_attempts`` calls.
        ValueError: ``schema`` uses what the validator does not support.
    """
    try:
        check_schema(schema, "schema")
    except SchemaProblem as exc:
        raise ValueError(str(exc)) from None
    attempts = _check_count("max_attempts", max_attempts, 1)
    tool = Tool(_EXTRACT_TOOL, "Respond with the requested data.", schema, lambda arguments: arguments)
    conversation, _ = prepare(messages, [], system_prompt)
    settings = _Settings(
        tool_concurrency=0,
        max_iterations=0,
        temperature=temperature,
        max_tokens=max_tokens,
        add_finish_tool=False,
        on_chunk=None,
        options={
            "tools": [tool.definition()],
            "tool_choice": {"type": "function", "function": {"name": _EXTRACT_TOOL}},
        },
    )
    problem = "the model did not call the respond tool"
    for _ in range(attempts):
        turn = turn_of(await model.complete(list(conversation), settings.request_options))
        calls = [c for c in turn["tool_calls"] if c["function"]["name"] == _EXTRACT_TOOL]
        if not calls:
            problem = "the model answered without calling the respond tool"
            conversation.append({"role": "assistant", "content": turn["content"]})
            conversation.append({"role": "user", "content": f"Call the {_EXTRACT_TOOL} tool with the data."})
            continue
        call = calls[0]
        arguments, problem_text = arguments_of(tool, call["function"]["arguments"])
        if arguments is not None and problem_text is None:
            return arguments
        problem = problem_text or "invalid arguments"
        conversation.append({"role": "assistant", "content": turn["content"] or None, "tool_calls": [call]})
        conversation.append(
            {"role": "tool", "tool_call_id": call["id"], "content": json.dumps({"error": problem})}
        )
    raise AgentError(f"extract: no valid answer after {attempts} attempt(s): {problem}")
