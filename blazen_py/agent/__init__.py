"""Tool-calling agents: a model that calls your functions until it has an answer.

:func:`run_agent` runs the loop (``runAgent`` in ``blazen.js``); :class:`Tool` declares a
function the model may call, with a JSON Schema that its arguments are validated
against before the handler runs (:mod:`._schema`: a small validator of the common
subset); :func:`extract` gets structured output through a single-purpose tool. Inside a
workflow step, ``await ctx.run_agent(...)`` runs the same loop durably: each completed
turn and tool result is kept in the run, so a run resumed from a snapshot or checkpoint
goes on after the last completed one, and tools declared ``needs_approval`` wait for a
durable input request (:mod:`._record`).

Example:
    >>> from blazen_py.llm import ChatMessage, CompletionModel
    >>> multiply = Tool(
    ...     "multiply",
    ...     "Multiply two numbers",
    ...     {
    ...         "type": "object",
    ...         "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
    ...         "required": ["a", "b"],
    ...     },
    ...     lambda args: {"result": args["a"] * args["b"]},
    ... )
    >>> async def main():
    ...     model = CompletionModel.openrouter()
    ...     result = await run_agent(model, [ChatMessage.user("What is 15*7?")], [multiply],
    ...                              tool_concurrency=2, max_iterations=5)
    ...     return result.content
"""

from __future__ import annotations

from ._loop import DEFAULT_MAX_ITERATIONS, TOOL_CALL, TOOL_RESULT, TURN, AgentResult, extract, run_agent
from ._schema import MAX_ARGUMENTS_CHARS, check_schema, schema_problem
from ._tools import FINISH_TOOL, Tool, ToolOutput

__all__ = [
    "DEFAULT_MAX_ITERATIONS",
    "FINISH_TOOL",
    "MAX_ARGUMENTS_CHARS",
    "TOOL_CALL",
    "TOOL_RESULT",
    "TURN",
    "AgentResult",
    "Tool",
    "ToolOutput",
    "check_schema",
    "extract",
    "run_agent",
    "schema_problem",
]
