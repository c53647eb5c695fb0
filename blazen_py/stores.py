"""Snapshot stores: where snapshots are kept between runs and page loads.

A store is anything with four async methods (:class:`SnapshotStore`): ``save``,
``load``, ``list`` and ``delete``, keyed by a string. :class:`MemoryStore` keeps
snapshots in this process (as JSON text, so what comes back is what a fresh process
would read); the IndexedDB store for the browser lives behind the platform seam.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from .errors import StoreError
from .snapshot.format import dumps, loads

__all__ = ["MemoryStore", "SnapshotStore"]


@runtime_checkable
class SnapshotStore(Protocol):
    """The protocol every snapshot store follows."""

    async def save(self, key: str, snapshot: Mapping[str, Any]) -> None:
        """Store ``snapshot`` under ``key`` atomically, replacing any previous one."""

    async def load(self, key: str) -> dict[str, Any] | None:
        """Return the snapshot stored under ``key``, or ``None``."""

    async def list(self) -> list[str]:
        """Return the stored keys, sorted."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""


class MemoryStore:
    """A :class:`SnapshotStore` in this process's memory, holding JSON text."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[str, str] = {}

    async def save(self, key: str, snapshot: Mapping[str, Any]) -> None:
        """Store ``snapshot`` under ``key``.

        Raises:
            StoreError: ``key`` is not a non-empty string, or ``snapshot`` is not JSON data.
        """
        _check_key(key)
        try:
            text = dumps(snapshot)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"snapshot for {key!r} is not JSON data: {exc}") from exc
        self._items[key] = text

    async def load(self, key: str) -> dict[str, Any] | None:
        """Return a fresh copy of the snapshot under ``key``, or ``None``."""
        _check_key(key)
        text = self._items.get(key)
        if text is None:
            return None
        data = loads(text)
        return data if isinstance(data, dict) else None

    async def list(self) -> list[str]:
        """Return the stored keys, sorted."""
        return sorted(self._items)

    async def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        _check_key(key)
        self._items.pop(key, None)


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise StoreError(f"a snapshot key must be a non-empty string, got {key!r}")
