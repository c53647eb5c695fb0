"""API keys and request settings, checked before any request is made.

A key is read from the environment once, when a model is created, and checked at once:
a value that could not travel in an HTTP header (a newline, a carriage return, NUL,
another control character, a space, a non-ASCII character, or an absurd length) is
refused with :class:`InvalidApiKeyError`, whose message names the variable and the rule,
never the value. Otherwise the platform's HTTP code would refuse it later, at request
time, with an error that quotes the header, key included.

The key then lives in a :class:`_Secret` that prints as ``***``, refuses to be pickled,
and is unwrapped only to build the ``Authorization`` header.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import NoReturn
from urllib.parse import urlsplit

from ._errors import InvalidApiKeyError, MissingApiKeyError

__all__ = ["MAX_API_KEY_LENGTH", "check_base_url", "check_headers", "read_api_key"]

#: The longest API key accepted, in characters (provider keys are a few hundred at most).
MAX_API_KEY_LENGTH = 4096

_KEY = re.compile(r"[\x21-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")  # Latin-1, no control but tab


class _Secret:
    """Holds an API key; prints as ``***`` and refuses to be pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "an API key cannot be pickled or serialized; create the model again from the environment"
        )

    def __copy__(self) -> _Secret:
        return self

    def __deepcopy__(self, memo: object) -> _Secret:
        return self


def _key_problem(key: str) -> str | None:
    """The rule ``key`` breaks, in words that say nothing about its content; or None."""
    if len(key) > MAX_API_KEY_LENGTH:
        return f"is longer than {MAX_API_KEY_LENGTH} characters"
    if _KEY.fullmatch(key):
        return None
    if _CONTROL.search(key):
        return "contains a control character (such as a newline, carriage return or NUL)"
    if not key.isascii():
        return "contains a non-ASCII character"
    return "contains a space"


def read_api_key(env_var: str, environ: Mapping[str, str] | None = None) -> _Secret:
    """Read and check the API key in ``env_var``.

    Args:
        env_var: The variable's name.
        environ: Where to read it; ``os.environ`` by default.

    Returns:
        The key, wrapped.

    Raises:
        MissingApiKeyError: The variable is unset, empty or only whitespace.
        InvalidApiKeyError: Its value cannot be an API key (see the class).
    """
    key = (os.environ if environ is None else environ).get(env_var, "").strip()
    if not key:
        raise MissingApiKeyError(env_var)
    problem = _key_problem(key)
    if problem is not None:
        # Raised here, outside any handler, so no exception holding the key is chained.
        raise InvalidApiKeyError(env_var, problem)
    return _Secret(key)


def check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Check extra request headers; a value is never quoted (it may be a credential).

    Args:
        headers: Header names and values.

    Returns:
        A copy.

    Raises:
        TypeError: A name or value is not a string.
        ValueError: A name is not an HTTP token, or a value holds a line break, another
            control character, or a character beyond Latin-1.
    """
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("header names and values must be strings")
        if not _TOKEN.fullmatch(name):
            raise ValueError("a header name must be a non-empty HTTP token (letters, digits, -, ...)")
        if not _HEADER_VALUE.fullmatch(value):
            raise ValueError(
                f"the value of header {name} holds a line break, a control character or a "
                "character beyond Latin-1 (the value is not shown)"
            )
        checked[name] = value
    return checked


def check_base_url(base_url: str) -> str:
    """Check a model's API root and return it without surrounding space or trailing ``/``.

    Args:
        base_url: ``http(s)://host[:port]/path``, or in a browser a path such as ``/v1``.

    Returns:
        The normalized URL.

    Raises:
        ValueError: It is empty, has another scheme, or holds credentials
            (``user:pass@``), a query or a fragment (the URL is not shown: it may hold a
            credential).
    """
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError("base_url must be a non-empty URL")
    url = base_url.strip().rstrip("/")
    if _CONTROL.search(url) or " " in url:
        raise ValueError("base_url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise ValueError("base_url is not a valid URL (the value is not shown)") from None
    absolute = parts.scheme in ("http", "https") and bool(parts.hostname)
    if not absolute and (parts.scheme or parts.netloc or not url.startswith("/")):
        raise ValueError("base_url must start with http:// or https:// (or, in a browser, /)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError(
            "base_url must not hold credentials (user:password@): keys come from the environment"
        )
    if "?" in url or "#" in url:
        raise ValueError("base_url must not have a query or a fragment (the value is not shown)")
    return url
