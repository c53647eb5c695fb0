"""The journal: what unfinished step invocations wrote to the run's state.

Every state write made inside a step invocation is recorded with the key's old value.
An invocation that finishes drops its entries (its writes are committed); one that is
interrupted (paused while waiting for input) has them rolled back; and a snapshot taken
while invocations are unfinished leaves their writes out (:meth:`Journal.committed`), so
a resumed run re-runs them from the state they started from and no write is doubled.

Run state kept outside ``state`` (the buffers of ``ctx.collect_events``, the durable
calls of ``ctx.sleep`` / ``ctx.wait_for_event``) journals an *undo* instead: an entry
whose key is ``None`` and whose old value is a function. Rolling back calls it with
``None`` (undo in the live run); a snapshot calls it with the copies it is about to
encode (:meth:`Journal.undo_into`), so they leave out what unfinished invocations did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["MISSING", "Journal", "Undo"]

Undo = Callable[[Any], None]
"""Undoes one change of run state kept outside ``state``: called with ``None`` (the live
run) or with the copies a snapshot encodes."""

MISSING: Any = object()
"""The old value of a key that did not exist."""


class Journal(dict[int, list[tuple[int, str | None, Any]]]):
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

    def record_undo(self, inv: int, undo: Undo) -> None:
        """Note how to undo a change invocation ``inv`` made outside the state."""
        self._seq += 1
        entries = self.get(inv)
        if entries is None:
            entries = self[inv] = []
        entries.append((self._seq, None, undo))  # None: an undo entry

    def rollback(self, inv: int, state: dict[str, Any]) -> None:
        """Undo, in ``state`` (and the run's other parts), what invocation ``inv`` did, and
        forget it."""
        for _, key, old in reversed(self.pop(inv, ())):
            if key is None:
                old(None)
            elif old is MISSING:
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
            if key is None:
                continue
            if old is MISSING:
                state.pop(key, None)
            else:
                state[key] = old
        return state

    def undo_into(self, copies: Any) -> None:
        """Apply every undo entry, newest first, to ``copies`` (a snapshot's copies of run
        state kept outside ``state``)."""
        undos = [(seq, old) for es in self.values() for seq, key, old in es if key is None]
        for _, undo in sorted(undos, key=lambda pair: pair[0], reverse=True):
            undo(copies)
