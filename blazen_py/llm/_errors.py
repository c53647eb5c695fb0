"""Errors of the model layer: every one is a :class:`blazen_py.errors.ModelError`.

``except ModelError`` catches every failure of a model call; the subclasses say which
kind it was. No message, attribute or repr of these errors ever holds an API key: the
provider's own messages are redacted before they are stored.
"""

from __future__ import annotations

from typing import ClassVar

from ..errors import ModelError

__all__ = [
    "MissingApiKeyError",
    "ModelConnectionError",
    "ModelHTTPError",
    "ModelTimeoutError",
    "RateLimitError",
]


class MissingApiKeyError(ModelError):
    """The environment variable that should hold the API key is unset or empty.

    Attributes:
        env_var: Name of the variable, e.g. ``"OPENROUTER_API_KEY"``.
    """

    js_fields: ClassVar[dict[str, str]] = {"env_var": "string"}

    def __init__(self, env_var: str) -> None:
        """Create the error.

        Args:
            env_var: Name of the missing environment variable.
        """
        super().__init__(
            f"{env_var} is not set: put the API key in the environment variable {env_var} "
            "(in the browser: init({ env: { " + env_var + ": ... } }))"
        )
        self.env_var = env_var


class ModelHTTPError(ModelError):
    """The provider answered with an error status (after any retries).

    Attributes:
        status: The HTTP status code.
        provider_message: The provider's own error message (``{"error": {"message":
            ...}}``), or the start of the body when it has none; API keys redacted.
        attempts: How many requests were made, retries included.
    """

    js_fields: ClassVar[dict[str, str]] = {"provider_message": "string", "attempts": "number"}

    def __init__(self, message: str, *, status: int, provider_message: str, attempts: int = 1) -> None:
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


class ModelConnectionError(ModelError, ConnectionError):
    """No response arrived: connection refused, DNS failure, reset, or a CORS block.

    ``status`` is ``None``.
    """


class ModelTimeoutError(ModelConnectionError, TimeoutError):
    """The request, or a gap in a streamed response, took longer than the model's ``timeout``."""
