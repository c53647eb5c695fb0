"""Chat messages in the OpenAI chat-completions format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ROLES", "ChatMessage"]

#: The roles a message may have.
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})

_REPR_CONTENT = 60


class ChatMessage:
    """One message of a conversation with a chat model.

    Build messages with the constructors :meth:`system`, :meth:`user`, :meth:`assistant`
    and :meth:`tool`; :meth:`to_dict` gives the OpenAI chat format that OpenRouter,
    OpenAI, llama.cpp, Ollama and vLLM all accept. Messages are immutable values: equal
    when their fields are equal.

    Attributes:
        role: ``"system"``, ``"developer"``, ``"user"``, ``"assistant"`` or ``"tool"``.
        content: The text, or a list of content parts (``[{"type": "text", ...},
            {"type": "image_url", ...}]``), or ``None`` for an assistant message that
            only calls tools.
        name: Optional participant name.
        tool_call_id: For a ``tool`` message: the id of the call it answers.
        tool_calls: For an ``assistant`` message: the tool calls it made (OpenAI format).

    Example:
        >>> ChatMessage.user("Hi").to_dict()
        {'role': 'user', 'content': 'Hi'}
    """

    __slots__ = ("content", "name", "role", "tool_call_id", "tool_calls")

    role: str
    content: str | list[dict[str, Any]] | None
    name: str | None
    tool_call_id: str | None
    tool_calls: list[dict[str, Any]] | None

    def __init__(
        self,
        role: str,
        content: str | Sequence[Mapping[str, Any]] | None,
        *,
        name: str | None = None,
        tool_call_id: str | None = None,
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Create a message; prefer the role constructors.

        Args:
            role: One of :data:`ROLES`.
            content: Text, a list of content parts, or ``None`` (assistant tool calls only).
            name: Optional participant name.
            tool_call_id: The id of the tool call a ``tool`` message answers (required there).
            tool_calls: Tool calls of an ``assistant`` message.

        Raises:
            ValueError: Unknown role, missing ``tool_call_id`` on a tool message, or
                ``None`` content where it is not allowed.
            TypeError: A field has the wrong type.
        """
        if role not in ROLES:
            raise ValueError(f"unknown chat role {role!r}; expected one of {sorted(ROLES)}")
        parts: str | list[dict[str, Any]] | None
        if content is None:
            if role != "assistant" or not tool_calls:
                raise ValueError(f"a {role} message needs content (None is only for assistant tool calls)")
            parts = None
        elif isinstance(content, str):
            parts = content
        elif isinstance(content, Sequence) and all(isinstance(p, Mapping) for p in content):
            parts = [{str(k): v for k, v in p.items()} for p in content if isinstance(p, Mapping)]
        else:
            raise TypeError(
                f"message content must be a string or a list of content parts, not {type(content).__name__}"
            )
        if role == "tool" and not tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        for label, value in (("name", name), ("tool_call_id", tool_call_id)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{label} must be a string, not {type(value).__name__}")
        set_ = object.__setattr__
        set_(self, "role", role)
        set_(self, "content", parts)
        set_(self, "name", name)
        set_(self, "tool_call_id", tool_call_id)
        set_(self, "tool_calls", [dict(c) for c in tool_calls] if tool_calls else None)

    @classmethod
    def system(cls, content: str | Sequence[Mapping[str, Any]], *, name: str | None = None) -> ChatMessage:
        """Create a system message (instructions for the model).

        Args:
            content: The instructions.
            name: Optional participant name.

        Returns:
            The message.
        """
        return cls("system", content, name=name)

    @classmethod
    def user(cls, content: str | Sequence[Mapping[str, Any]], *, name: str | None = None) -> ChatMessage:
        """Create a user message.

        Args:
            content: The text, or a list of content parts (text, images).
            name: Optional participant name.

        Returns:
            The message.
        """
        return cls("user", content, name=name)

    @classmethod
    def assistant(
        cls,
        content: str | Sequence[Mapping[str, Any]] | None,
        *,
        name: str | None = None,
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
    ) -> ChatMessage:
        """Create an assistant message (a previous answer of the model).

        Args:
            content: The answer's text; ``None`` when it only made tool calls.
            name: Optional participant name.
            tool_calls: The tool calls it made, in OpenAI format.

        Returns:
            The message.
        """
        return cls("assistant", content, name=name, tool_calls=tool_calls)

    @classmethod
    def tool(cls, content: str | Sequence[Mapping[str, Any]], tool_call_id: str) -> ChatMessage:
        """Create a tool message: the result of one tool call.

        Args:
            content: The tool's result, as text.
            tool_call_id: The id of the tool call this answers.

        Returns:
            The message.
        """
        return cls("tool", content, tool_call_id=tool_call_id)

    def to_dict(self) -> dict[str, Any]:
        """Return the message in the OpenAI chat format.

        Returns:
            ``{"role": ..., "content": ...}`` plus ``name``, ``tool_call_id`` and
            ``tool_calls`` when set. Content parts are copied.
        """
        content = [dict(p) for p in self.content] if isinstance(self.content, list) else self.content
        out: dict[str, Any] = {"role": self.role, "content": content}
        if self.name is not None:
            out["name"] = self.name
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.tool_calls is not None:
            out["tool_calls"] = [dict(c) for c in self.tool_calls]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChatMessage:
        """Create a message from the OpenAI chat format (the inverse of :meth:`to_dict`).

        Args:
            data: A mapping with ``role`` and ``content`` (and optionally ``name``,
                ``tool_call_id``, ``tool_calls``); other keys are ignored.

        Returns:
            The message.

        Raises:
            ValueError: ``role`` is missing or unknown, or a field is invalid.
            TypeError: ``data`` is not a mapping, or a field has the wrong type.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a chat message must be a mapping, not {type(data).__name__}")
        if "role" not in data:
            raise ValueError("a chat message needs a 'role'")
        return cls(
            data["role"],
            data.get("content"),
            name=data.get("name"),
            tool_call_id=data.get("tool_call_id"),
            tool_calls=data.get("tool_calls"),
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ChatMessage is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ChatMessage is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChatMessage):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.role, repr(self.content), self.name, self.tool_call_id, repr(self.tool_calls)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (ChatMessage.from_dict, (self.to_dict(),))

    def _key(self) -> tuple[Any, ...]:
        return (self.role, self.content, self.name, self.tool_call_id, self.tool_calls)

    def __repr__(self) -> str:
        if isinstance(self.content, str) and len(self.content) > _REPR_CONTENT:
            shown = repr(self.content[: _REPR_CONTENT - 3] + "...")
        else:
            shown = repr(self.content)
        extra = "".join(
            f", {label}={value!r}"
            for label, value in (
                ("name", self.name),
                ("tool_call_id", self.tool_call_id),
                ("tool_calls", self.tool_calls),
            )
            if value is not None
        )
        return f"ChatMessage(role={self.role!r}, content={shown}{extra})"
