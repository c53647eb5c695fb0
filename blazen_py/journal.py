"""The journal: what unfinished step invocations wrote to the run's state.

Every state write made inside a step invocation is recorded with the key's old value.
An invocation that finishes drops its entries (its writes are committed); one that is
interrupted (paused while waiting for input) has them rolled back; and a snapshot taken
while invocations are unfinished leaves their writes out (:meth:`Journal.committed`), so
a resumed run re-runs them from the state they started from and no write is doubled.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MISSING", "Journal"]

MISSING: Any = object()
"""The old value of a key that did not exist."""


class Journal(dict[int, list[tuple[int, str, Any]]]):
    """Invocation number -> ``(sequence, key, old value)`` of the writes it made.

    A ``dict`` so the dispatcher's hot path (``if journal: journal.pop(inv, None)`` when
    an invocation finishes) costs what a dict costs.
    """

    __slots__ = ("_seq",)

    def __init__(self) -> None:
        super().__init__()
        self._seq = 0

    def record(self, inv: int, key: str, state: dict[str, Any]) -> None:
        """Note ``key``'s value in ``state`` before invocation ``inv`` changes it."""
        self._seq += 1
        entries = self.get(inv)
        if entries is None:
            entries = self[inv] = []
        entries.append((self._seq, key, state.get(key, MISSING)))

    def rollback(self, inv: int, state: dict[str, Any]) -> None:
        """Undo, in ``state``, what invocation ``inv`` wrote, and forget it."""
        for _, key, old in reversed(self.pop(inv, ())):
            if old is MISSING:
                state.pop(key, None)
            else:
                state[key] = old

    def committed(self, state: dict[str, Any]) -> dict[str, Any]:
        """``state`` without the writes of unfinished invocations (``state`` itself if none)."""
        if not self:
            return state
        state = dict(state)
        # Undo newest first, across invocations, so interleaved writes to one key end at
        # the value it had before the oldest unfinished write.
        for _, key, old in sorted((e for es in self.values() for e in es), reverse=True):
            if old is MISSING:
                state.pop(key, None)
            else:
                state[key] = old
        return state
