"""Errors of the model layer: every one is a :class:`blazen_py.errors.ModelError`.

``except ModelError`` catches every failure of a model call; the subclasses say which
kind it was. No message, attribute, repr or chained cause of these errors ever holds an
API key or any part of one: keys are checked before they are used (the check's message
names the variable, never the value), and the provider's own messages are redacted before
they are stored.
"""

from __future__ import annotations

from typing import ClassVar

from ..errors import ModelError

__all__ = [
    "InvalidApiKeyError",
    "MissingApiKeyError",
    "ModelConnectionError",
    "ModelHTTPError",
    "ModelRedirectError",
    "ModelTimeoutError",
    "RateLimitError",
]


class MissingApiKeyError(ModelError):
    """The environment variable that should hold the API key is unset or empty.

    Its subclass :class:`InvalidApiKeyError` says the variable holds no usable key.

    Attributes:
        env_var: Name of the variable, e.g. ``"OPENROUTER_API_KEY"``.
    """

    js_fields: ClassVar[dict[str, str]] = {"env_var": "string"}

    def __init__(self, env_var: str, message: str | None = None) -> None:
        """Create the error.

        Args:
            env_var: Name of the missing environment variable.
            message: The message; by default, how to set the variable.
        """
        super().__init__(
            message
            or f"{env_var} is not set: put the API key in the environment variable {env_var} "
            "(in the browser: init({ env: { "
            + env_var
            + ": ... } }))"
        )
        self.env_var = env_var


class InvalidApiKeyError(MissingApiKeyError):
    """The environment variable holds something that cannot be an API key.

    Raised when the model is created, before any request: a key must be 1 to 4,096
    visible ASCII characters (no space, no control character such as a newline, carriage
    return or NUL, no non-ASCII character); surrounding whitespace is ignored. The message
    names the variable and the rule broken, never the value or any part of it.

    Attributes:
        env_var: Name of the variable.
        reason: The rule broken, e.g. ``"contains a control character"``.
    """

    js_fields: ClassVar[dict[str, str]] = {"reason": "string"}

    def __init__(self, env_var: str, reason: str) -> None:
        """Create the error.

        Args:
            env_var: Name of the environment variable.
            reason: The rule the value breaks (never the value).
        """
        super().__init__(
            env_var,
            f"{env_var} does not hold a usable API key: its value {reason} "
            "(a key is 1 to 4096 visible ASCII characters; the value is not shown)",
        )
        self.reason = reason


class ModelHTTPError(ModelError):
    """The provider answered with an error status (after any retries).

    Attributes:
        status: The HTTP status code (``None`` only for a :class:`ModelRedirectError` in a
            browser).
        provider_message: The provider's own error message (``{"error": {"message":
            ...}}``), or the start of the body when it has none; API keys redacted.
        attempts: How many requests were made, retries included.
    """

    js_fields: ClassVar[dict[str, str]] = {"provider_message": "string", "attempts": "number"}

    def __init__(self, message: str, *, status: int | None, provider_message: str, attempts: int = 1) -> None:
        """Create the error.

        Args:
            message: The full message.
            status: The HTTP status code.
            provider_message: The provider's error message (already redacted).
            attempts: Requests made, retries included.
        """
        super().__init__(message, status=status)
        self.provider_message = provider_message
        self.attempts = attempts


class RateLimitError(ModelHTTPError):
    """HTTP 429: too many requests, still refused after the allowed retries.

    Attributes:
        retry_after: Seconds the provider asked to wait (``Retry-After``), if it said.
    """

    js_fields: ClassVar[dict[str, str]] = {"retry_after": "number | null"}

    def __init__(
        self,
        message: str,
        *,
        status: int,
        provider_message: str,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """Create the error.

        Args:
            message: The full message.
            status: The HTTP status code (429).
            provider_message: The provider's error message (already redacted).
            attempts: Requests made, retries included.
            retry_after: Seconds the provider asked to wait, if it said.
        """
        super().__init__(message, status=status, provider_message=provider_message, attempts=attempts)
        self.retry_after = retry_after


class ModelRedirectError(ModelHTTPError):
    """The server answered with a redirect, which model calls never follow.

    Following it would send the request, and with it the API key and the conversation, to
    whatever address the server names; a redirect of a ``POST`` is a misconfiguration
    anyway (301/302/303 would turn it into a body-less ``GET``). Set ``base_url`` to the
    address the server names instead. Not retried.

    ``status`` is the 3xx code, or ``None`` in a browser, which hides both the code and
    the target of a redirect it did not follow (an "opaque redirect").

    Attributes:
        location: The address the server redirected to (its ``Location``), or ``None``
            when unknown (in a browser).
    """

    js_fields: ClassVar[dict[str, str]] = {"location": "string | null"}

    def __init__(self, message: str, *, status: int | None, location: str | None) -> None:
        """Create the error.

        Args:
            message: The full message.
            status: The 3xx status, or ``None`` when the platform hides it.
            location: The redirect's target, or ``None`` when unknown.
        """
        super().__init__(message, status=status, provider_message="", attempts=1)
        self.location = location


class ModelConnectionError(ModelError, ConnectionError):
    """No response arrived: connection refused, DNS failure, reset, or a CORS block.

    ``status`` is ``None``.
    """


class ModelTimeoutError(ModelConnectionError, TimeoutError):
    """The request, or a gap in a streamed response, took longer than the model's ``timeout``."""
