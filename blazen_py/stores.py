"""Snapshot stores: where snapshots are kept between runs and page loads.

A store is anything with four async methods (:class:`SnapshotStore`): ``save``,
``load``, ``list`` and ``delete``, keyed by a string. A store that several processes (or
tabs) share can also say who owns a key (:class:`ClaimingStore`): ``claim`` and
``release``, with ``save`` and ``delete`` fenced by the owner's token, so that one durable
run has one owner and a stale owner cannot overwrite the new one's checkpoint.
:class:`MemoryStore` keeps snapshots in this process (as JSON text, so what comes back
is what a fresh process would read) and implements both; the IndexedDB store for the
browser lives behind the platform seam and claims with Web Locks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from .errors import RunOwnedError, StoreError
from .snapshot.format import dumps, loads

__all__ = ["ClaimingStore", "MemoryStore", "SnapshotStore"]


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


@runtime_checkable
class ClaimingStore(SnapshotStore, Protocol):
    """A store that knows who owns each key: one owner per durable run across processes.

    ``claim`` is a compare-and-set on an owner token (any string unique to the claimant):
    it succeeds when the key has no owner, when its owner's lease has expired, or when
    ``owner`` already holds it (which renews the lease). ``save`` and ``delete`` given
    ``owner=`` are fenced: they raise :class:`~blazen_py.RunOwnedError` unless ``owner``
    holds the key, so a process that lost its lease (paused, partitioned) cannot write
    over the checkpoint of the one that took the run over. Durable runs use these
    methods when the store has them; a plain :class:`SnapshotStore` keeps working, with
    only the in-process guard against a second owner.

    Attributes:
        lease: Seconds a claim lasts unless renewed (the owner renews it every third of
            that), or ``None`` when it lasts until released or the holder dies (Web
            Locks: the browser releases a closed or crashed tab's locks).
    """

    lease: float | None

    async def claim(self, key: str, owner: str, *, wait: float = 0.0) -> bool:
        """Take or renew ``key`` for ``owner``; wait up to ``wait`` seconds for it to be
        free. Returns whether ``owner`` now holds it."""

    async def release(self, key: str, owner: str) -> None:
        """Give ``key`` up if ``owner`` holds it."""

    async def save(self, key: str, snapshot: Mapping[str, Any], *, owner: str | None = None) -> None:
        """Store ``snapshot``; with ``owner``, only while ``owner`` holds ``key``."""

    async def delete(self, key: str, *, owner: str | None = None) -> None:
        """Remove ``key``; with ``owner``, refused while another owner holds it."""


class MemoryStore:
    """A :class:`ClaimingStore` in this process's memory, holding JSON text.

    Args:
        lease: Seconds a claim lasts unless renewed (default 30).
    """

    __slots__ = ("_claims", "_items", "lease")

    def __init__(self, *, lease: float = 30.0) -> None:
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not (0 < lease < math.inf):
            raise StoreError(f"lease must be a positive number of seconds, got {lease!r}")
        self._items: dict[str, str] = {}
        self._claims: dict[str, tuple[str, float]] = {}  # key -> (owner, expiry on the monotonic clock)
        self.lease: float | None = float(lease)

    async def save(self, key: str, snapshot: Mapping[str, Any], *, owner: str | None = None) -> None:
        """Store ``snapshot`` under ``key`` (with ``owner``: fenced, and the lease renewed).

        Raises:
            StoreError: ``key`` is not a non-empty string, or ``snapshot`` is not JSON data.
            RunOwnedError: ``owner`` does not hold ``key``.
        """
        _check_key(key)
        try:
            text = dumps(snapshot)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"snapshot for {key!r} is not JSON data: {exc}") from exc
        if owner is not None:
            held = self._claims.get(key)
            if held is None or held[0] != owner:
                raise RunOwnedError(f"run {key!r} is no longer owned by this run: not saved", run_id=key)
            self._claims[key] = (owner, time.monotonic() + (self.lease or 0.0))
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

    async def delete(self, key: str, *, owner: str | None = None) -> None:
        """Remove ``key`` if present.

        Raises:
            RunOwnedError: ``owner`` is given and another owner holds ``key``.
        """
        _check_key(key)
        if owner is not None:
            held = self._claims.get(key)
            if held is not None and held[0] != owner:
                raise RunOwnedError(f"run {key!r} is owned by another run: not deleted", run_id=key)
        self._items.pop(key, None)

    async def claim(self, key: str, owner: str, *, wait: float = 0.0) -> bool:
        """Take ``key`` for ``owner`` if free, expired or already ``owner``'s (see
        :class:`ClaimingStore`); poll for up to ``wait`` seconds otherwise."""
        _check_key(key)
        _check_key(owner)
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            now = time.monotonic()
            held = self._claims.get(key)
            if held is None or held[0] == owner or held[1] <= now:
                self._claims[key] = (owner, now + (self.lease or 0.0))
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(min(0.02, deadline - now, held[1] - now))

    async def release(self, key: str, owner: str) -> None:
        """Drop ``owner``'s claim on ``key``; another's claim is left alone."""
        held = self._claims.get(key)
        if held is not None and held[0] == owner:
            del self._claims[key]

    def owner(self, key: str) -> str | None:
        """The owner token holding ``key`` now (an unexpired claim), or ``None``."""
        held = self._claims.get(key)
        return held[0] if held is not None and held[1] > time.monotonic() else None


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise StoreError(f"a snapshot key must be a non-empty string, got {key!r}")
