"""Tools an agent may call: their declaration, and one call of one tool.

A tool is a name, a description, a JSON Schema of its arguments and a handler (sync or
async) that takes the arguments as a dict and returns a value, or a :class:`ToolOutput`
(``data`` for the caller, ``llm_override`` for what the model reads instead). Whatever
goes wrong in one call (unknown tool, arguments that are not JSON or break the schema,
a handler that raises, a rejected approval) becomes that call's result, with an
``error``, so the model can read it and recover: only cancellation propagates.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ._schema import SchemaProblem, check_schema, parse_arguments, schema_problem

__all__ = [
    "FINISH_TOOL",
    "MAX_RESULT_CHARS",
    "Tool",
    "ToolFailure",
    "ToolOutput",
    "as_tools",
    "call_result",
    "error_result",
    "finish_tool",
]

#: The name of the finish tool (``add_finish_tool``).
FINISH_TOOL = "finish"
#: The longest text a tool's result may give the model.
MAX_RESULT_CHARS = 1024 * 1024

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: ``needs_approval``: always, never, or a predicate over the arguments.
Approval = bool | Callable[[dict[str, Any]], Any]
Handler = Callable[[dict[str, Any]], Any]


class ToolFailure(Exception):
    """Raised by a handler (a bridge's) to report exactly its message as the failure."""


class ToolOutput:
    """A tool's result in two parts: ``data`` for the caller, ``llm_override`` for the model.

    A handler returning ``{"data": ..., "llm_override": ...}`` (or ``"llmOverride"``, and
    no other keys) means the same.

    Attributes:
        data: What the agent's ``tool_results`` keep (JSON-compatible, ideally).
        llm_override: What the model reads instead of ``data`` (text as is, anything
            else as JSON), or ``None`` to show it ``data``.
    """

    __slots__ = ("data", "llm_override")

    def __init__(self, data: Any, llm_override: Any = None) -> None:
        """Create an output.

        Args:
            data: The result, for the caller.
            llm_override: What the model is shown instead, or ``None``.
        """
        self.data = data
        self.llm_override = llm_override

    def __repr__(self) -> str:
        return f"ToolOutput(data={self.data!r}, llm_override={self.llm_override!r})"


class Tool:
    """A function the model may call.

    Attributes:
        name: What the model calls it (letters, digits, ``_`` and ``-``, at most 64).
        description: What it does, for the model.
        parameters: The JSON Schema of its arguments (an object schema); arguments
            are validated against it before the handler runs.
        handler: ``handler(arguments)``, sync or async.
        needs_approval: ``True`` (or a predicate over the arguments returning true)
            makes each call wait for a person's approval first.

    Example:
        >>> add = Tool("add", "Add two numbers", {
        ...     "type": "object",
        ...     "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        ...     "required": ["a", "b"],
        ... }, lambda args: args["a"] + args["b"])
        >>> add.definition()["function"]["name"]
        'add'
    """

    __slots__ = ("description", "handler", "name", "needs_approval", "parameters")

    def __init__(
        self,
        name: str,
        description: str,
        parameters: Mapping[str, Any] | None,
        handler: Handler,
        *,
        needs_approval: Approval = False,
    ) -> None:
        """Declare a tool.

        Args:
            name: The tool's name.
            description: What it does.
            parameters: JSON Schema of the arguments; ``None`` for no arguments.
            handler: Called with the validated arguments.
            needs_approval: ``True``, ``False``, or ``predicate(arguments)``.

        Raises:
            ValueError: The name is not a valid tool name, or the schema uses what the
                validator does not support (see :mod:`blazen_py.agent._schema`).
            TypeError: A field has the wrong type.
        """
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"a tool name is 1 to 64 letters, digits, '_' or '-', got {name!r}")
        if not isinstance(description, str):
            raise TypeError(f"tool {name!r}: description must be a string")
        schema = dict(parameters) if parameters is not None else {"type": "object", "properties": {}}
        try:
            check_schema(schema, f"tool {name!r} parameters")
        except SchemaProblem as exc:
            raise ValueError(str(exc)) from None
        if not callable(handler):
            raise TypeError(f"tool {name!r}: handler must be callable")
        if not isinstance(needs_approval, bool) and not callable(needs_approval):
            raise TypeError(f"tool {name!r}: needs_approval must be a bool or a predicate")
        self.name = name
        self.description = description
        self.parameters = schema
        self.handler = handler
        self.needs_approval = needs_approval

    def definition(self) -> dict[str, Any]:
        """The tool as the OpenAI ``tools`` list declares it."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    async def wants_approval(self, arguments: dict[str, Any]) -> bool:
        """Whether this call waits for approval (the predicate may be async)."""
        rule = self.needs_approval
        if isinstance(rule, bool):
            return rule
        verdict = rule(arguments)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        return bool(verdict)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def as_tools(tools: object) -> list[Tool]:
    """``tools`` as :class:`Tool` objects: each a Tool or a mapping with its fields
    (``name``, ``description``, ``parameters``, ``handler``, ``needs_approval``).

    Raises:
        ValueError: Two tools share a name, or one is invalid.
        TypeError: ``tools`` is not a list of tools.
    """
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, (list, tuple)):
        raise TypeError("tools must be a list of Tool objects (or mappings with their fields)")
    out = []
    for tool in tools:
        if isinstance(tool, Tool):
            out.append(tool)
        elif isinstance(tool, Mapping):
            out.append(
                Tool(
                    tool.get("name"),  # type: ignore[arg-type]
                    tool.get("description", ""),
                    tool.get("parameters"),
                    tool.get("handler"),  # type: ignore[arg-type]
                    needs_approval=tool.get("needs_approval", tool.get("needsApproval", False)),
                )
            )
        else:
            raise TypeError(f"a tool must be a Tool or a mapping, not {type(tool).__name__}")
    names = [t.name for t in out]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"two tools are named {name!r}")
    return out


def finish_tool() -> Tool:
    """The finish tool: the model calls it with its final ``answer`` to end the loop."""
    return Tool(
        FINISH_TOOL,
        "Call this when you have the final answer, to stop using tools. Pass the final answer as 'answer'.",
        {
            "type": "object",
            "properties": {"answer": {"type": "string", "description": "The final answer."}},
            "required": ["answer"],
        },
        lambda arguments: arguments["answer"],
    )


def error_result(message: str) -> dict[str, Any]:
    """A call's result that reports ``message`` to the model."""
    return {"content": json.dumps({"error": message}, ensure_ascii=False), "data": None, "error": message}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=repr, allow_nan=False)


def _json_data(value: Any) -> Any:
    """``value`` as JSON data (what a durable record can keep): a copy, or its text."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def output_of(value: Any) -> dict[str, Any]:
    """A handler's return value as a call's result (``content`` for the model)."""
    if isinstance(value, ToolOutput):
        data, override = value.data, value.llm_override
    elif (
        isinstance(value, dict) and "data" in value and set(value) <= {"data", "llm_override", "llmOverride"}
    ):
        data, override = value["data"], value.get("llm_override", value.get("llmOverride"))
    else:
        data, override = value, None
    try:
        content = _text(data if override is None else override)
    except (TypeError, ValueError, RecursionError) as exc:
        return error_result(f"the tool's result cannot be shown to the model: {exc}")
    if len(content) > MAX_RESULT_CHARS:
        return error_result(f"the tool's result is longer than {MAX_RESULT_CHARS} characters")
    return {"content": content, "data": _json_data(data), "error": None}


def arguments_of(tool: Tool, text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The validated arguments of a call, or the problem to report to the model."""
    try:
        arguments = parse_arguments(text)
    except SchemaProblem as exc:
        return None, f"invalid arguments for tool {tool.name!r}: {exc}"
    problem = schema_problem(arguments, tool.parameters)
    if problem is not None:
        return None, f"invalid arguments for tool {tool.name!r}: {problem}"
    return arguments, None


async def call_result(tool: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run the handler on validated arguments; an exception becomes the result's error."""
    try:
        value = tool.handler(arguments)
        if inspect.isawaitable(value):
            value = await value
    except ToolFailure as exc:
        return error_result(f"tool {tool.name!r} failed: {exc}")
    except Exception as exc:  # reported to the model, which may recover
        return error_result(f"tool {tool.name!r} failed: {type(exc).__name__}: {exc}")
    return output_of(value)


Awaiting = Awaitable[Any]
