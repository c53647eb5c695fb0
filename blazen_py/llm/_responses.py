"""What a chat model answers: :class:`CompletionResponse`, :class:`Usage`, :class:`CompletionChunk`.

Plain data with ``to_dict``/``from_dict`` (JSON-compatible), so a step can keep a response
in its state or return it as a result. None of them ever holds an API key.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["CompletionChunk", "CompletionResponse", "OnChunk", "Usage"]

_REPR_CONTENT = 60


def count_of(value: object) -> int | None:
    """A token count: a non-negative integer (an integral finite float too), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and value >= 0:
        return int(value)
    return None


class Usage:
    """Token counts the provider reported for one completion.

    Attributes:
        prompt_tokens: Tokens in the request's messages.
        completion_tokens: Tokens in the answer.
        total_tokens: Their sum, as the provider reported it.
    """

    __slots__ = ("completion_tokens", "prompt_tokens", "total_tokens")

    def __init__(
        self, prompt_tokens: int = 0, completion_tokens: int = 0, total_tokens: int | None = None
    ) -> None:
        """Create usage counts.

        Args:
            prompt_tokens: Tokens in the request's messages.
            completion_tokens: Tokens in the answer.
            total_tokens: Their sum; computed when ``None``.
        """
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.total_tokens = prompt_tokens + completion_tokens if total_tokens is None else total_tokens

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """Read the OpenAI ``usage`` object; missing or malformed counts read as 0.

        Args:
            data: ``{"prompt_tokens": ..., "completion_tokens": ..., "total_tokens": ...}``.

        Returns:
            The usage.
        """

        prompt = count_of(data.get("prompt_tokens")) or 0
        completion = count_of(data.get("completion_tokens")) or 0
        return cls(prompt, completion, count_of(data.get("total_tokens")))

    def to_dict(self) -> dict[str, int]:
        """Return the counts as the OpenAI ``usage`` object.

        Returns:
            ``{"prompt_tokens": ..., "completion_tokens": ..., "total_tokens": ...}``.
        """
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Usage):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Usage(prompt_tokens={self.prompt_tokens}, completion_tokens={self.completion_tokens}, "
            f"total_tokens={self.total_tokens})"
        )


class CompletionResponse:
    """The answer of a chat model.

    Attributes:
        content: The answer's text (``""`` when the model returned none).
        tool_calls: The tools the model asks to call, in the OpenAI format
            (``[{"id", "type": "function", "function": {"name", "arguments"}}]``, where
            ``arguments`` is the JSON text the model wrote); ``[]`` when none.
        cost: What the provider says the call cost, in USD (OpenRouter's
            ``usage.cost``), or ``None`` when it did not say.
        model: The model that answered, as the provider named it.
        usage: Token counts, or ``None`` when the provider reported none (streams
            usually do not, unless ``stream_options: {"include_usage": true}`` is passed).
        finish_reason: Why the answer ended (``"stop"``, ``"length"``, ...), or ``None``.
        id: The provider's id for the completion, or ``None``.
    """

    __slots__ = ("content", "cost", "finish_reason", "id", "model", "tool_calls", "usage")

    def __init__(
        self,
        content: str,
        model: str,
        usage: Usage | None = None,
        finish_reason: str | None = None,
        id: str | None = None,  # noqa: A002
        tool_calls: list[dict[str, Any]] | None = None,
        cost: float | None = None,
    ) -> None:
        """Create a response.

        Args:
            content: The answer's text.
            model: The model that answered.
            usage: Token counts, if known.
            finish_reason: Why the answer ended, if known.
            id: The provider's completion id, if known.
            tool_calls: The tool calls the model made (OpenAI format), if any.
            cost: The provider's cost of the call in USD, if known.
        """
        self.content = content
        self.model = model
        self.usage = usage
        self.finish_reason = finish_reason
        self.id = id
        self.tool_calls = tool_calls or []
        self.cost = cost

    def to_dict(self) -> dict[str, Any]:
        """Return the response as JSON-compatible data.

        Returns:
            ``{"content", "model", "usage", "finish_reason", "id", "tool_calls", "cost"}``;
            ``usage`` is a dict of token counts or ``None``.
        """
        return {
            "content": self.content,
            "model": self.model,
            "usage": None if self.usage is None else self.usage.to_dict(),
            "finish_reason": self.finish_reason,
            "id": self.id,
            "tool_calls": [_copy_call(c) for c in self.tool_calls],
            "cost": self.cost,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompletionResponse:
        """Create a response from :meth:`to_dict` output.

        Args:
            data: A mapping as returned by :meth:`to_dict`.

        Returns:
            The response.
        """
        usage = data.get("usage")
        calls = data.get("tool_calls")
        cost = data.get("cost")
        return cls(
            str(data.get("content") or ""),
            str(data.get("model") or ""),
            Usage.from_dict(usage) if isinstance(usage, Mapping) else None,
            data.get("finish_reason"),
            data.get("id"),
            [_copy_call(c) for c in calls if isinstance(c, Mapping)] if isinstance(calls, list) else None,
            float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompletionResponse):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        content = self.content
        if len(content) > _REPR_CONTENT:
            content = content[: _REPR_CONTENT - 3] + "..."
        calls = f", tool_calls={len(self.tool_calls)}" if self.tool_calls else ""
        return (
            f"CompletionResponse(content={content!r}, model={self.model!r}, usage={self.usage!r}, "
            f"finish_reason={self.finish_reason!r}{calls})"
        )


def _copy_call(call: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of one tool call (its ``function`` object copied too)."""
    out = dict(call)
    function = out.get("function")
    if isinstance(function, Mapping):
        out["function"] = dict(function)
    return out


class CompletionChunk:
    """One piece of a streamed answer, as passed to ``on_chunk``.

    Attributes:
        delta: The text this piece adds to the answer (never empty).
        index: 0 for the first piece passed to ``on_chunk``, then 1, 2, ...
    """

    __slots__ = ("delta", "index")

    def __init__(self, delta: str, index: int) -> None:
        """Create a chunk.

        Args:
            delta: The text this piece adds.
            index: Position of this piece among the pieces of the answer.
        """
        self.delta = delta
        self.index = index

    def to_dict(self) -> dict[str, Any]:
        """Return the chunk as JSON-compatible data.

        Returns:
            ``{"delta": ..., "index": ...}``.
        """
        return {"delta": self.delta, "index": self.index}

    def __str__(self) -> str:
        return self.delta

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompletionChunk):
            return NotImplemented
        return (self.delta, self.index) == (other.delta, other.index)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CompletionChunk(delta={self.delta!r}, index={self.index})"


#: The ``on_chunk`` callback of :meth:`CompletionModel.stream`: sync or async.
OnChunk = Callable[[CompletionChunk], "Awaitable[object] | object"]
