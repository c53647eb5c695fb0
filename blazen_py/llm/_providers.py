"""The providers ``CompletionModel``'s factories know: one row each.

A row says where a provider's API is (a default, overridable by an environment variable),
which environment variable holds its key, the headers it always gets, and how it is
called from JavaScript. ``CompletionModel.openrouter()``, ``.openai()`` and
``.openai_compatible()`` keep their own signatures and docstrings, and each hands its
arguments with its row's name to one constructor; the JS bridge finds the factories by
:attr:`Provider.js_name`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["OPENAI_BASE_URL", "OPENROUTER_BASE_URL", "PROVIDERS", "Provider", "label_for"]

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
OPENAI_BASE_URL = "https://api.openai.com/v1"


class Provider:
    """One provider's row.

    Attributes:
        name: The factory's name and the model's ``provider`` (``"openrouter"``).
        label: How messages name it (``"OpenRouter"``), or ``None``: "the model server at
            <base_url>".
        js_name: The factory's name in blazen.js (``"openaiCompatible"``).
        default_base_url: The API root when neither ``base_url`` nor ``base_url_env`` says.
        base_url_env: Environment variable that may override the default API root.
        api_key_env: Environment variable holding the key, or ``None`` for no key.
        headers: Headers every request to it carries (the caller's ``headers`` win).
    """

    __slots__ = (
        "api_key_env",
        "base_url_env",
        "default_base_url",
        "headers",
        "js_name",
        "label",
        "name",
    )

    def __init__(
        self,
        name: str,
        *,
        label: str | None,
        js_name: str,
        default_base_url: str | None = None,
        base_url_env: str | None = None,
        api_key_env: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.label = label
        self.js_name = js_name
        self.default_base_url = default_base_url
        self.base_url_env = base_url_env
        self.api_key_env = api_key_env
        self.headers: Mapping[str, str] = MappingProxyType(dict(headers or {}))

    def base_url(self, given: str | None) -> str | None:
        """The API root: ``given``, else the environment's override, else the default."""
        from_env = os.environ.get(self.base_url_env) if self.base_url_env else None
        return given or from_env or self.default_base_url

    def __repr__(self) -> str:
        return f"Provider({self.name!r})"


PROVIDERS: Mapping[str, Provider] = MappingProxyType(
    {
        row.name: row
        for row in (
            Provider(
                "openrouter",
                label="OpenRouter",
                js_name="openrouter",
                default_base_url=OPENROUTER_BASE_URL,
                base_url_env="OPENROUTER_BASE_URL",
                api_key_env="OPENROUTER_API_KEY",
            ),
            Provider(
                "openai",
                label="OpenAI",
                js_name="openai",
                default_base_url=OPENAI_BASE_URL,
                base_url_env="OPENAI_BASE_URL",
                api_key_env="OPENAI_API_KEY",
            ),
            Provider("openai_compatible", label=None, js_name="openaiCompatible"),
        )
    }
)


def label_for(provider: str, base_url: str) -> str:
    """How error messages name a model's server."""
    row = PROVIDERS.get(provider)
    if row is not None and row.label is not None:
        return row.label
    return f"the model server at {base_url}"
