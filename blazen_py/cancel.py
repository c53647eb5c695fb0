"""A run's cancellation signal: ``ctx.signal``.

It fires once, when the run stops its steps: aborted, timed out (the run's or a step's
timeout), failed, or ended by the first StopEvent (also one held by a pause, which
cancels the steps still running). Work a step started that the engine cannot cancel by
itself (a JS ``fetch``, a thread, a child process) listens to it; in blazen.js it is a
real ``AbortSignal``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any

__all__ = ["CancelSignal"]


class CancelSignal:
    """Fires once when the run stops its steps; ``reason`` says why.

    ``await signal`` (or ``await signal.wait()``) returns the reason when it fires;
    :meth:`add_callback` calls a function then (at once if it has fired).
    """

    __slots__ = ("_callbacks", "_future", "aborted", "reason")

    def __init__(self) -> None:
        self.aborted = False
        self.reason: str | None = None
        self._callbacks: list[Callable[[str], Any]] = []
        self._future: asyncio.Future[str] | None = None

    def add_callback(self, fn: Callable[[str], Any]) -> None:
        """Call ``fn(reason)`` when the signal fires (now if it has)."""
        if self.aborted:
            fn(self.reason or "")
        else:
            self._callbacks.append(fn)

    async def wait(self) -> str:
        """Wait until the signal fires; return its reason."""
        if self.aborted:
            return self.reason or ""
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._future)

    def __await__(self) -> Generator[Any, None, str]:
        return self.wait().__await__()

    def fire(self, reason: str) -> None:
        """Fire (once): the run stops its steps because of ``reason``."""
        if self.aborted:
            return
        self.aborted = True
        self.reason = reason
        callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            try:
                fn(reason)
            except Exception as exc:  # a listener must not break the run's ending
                asyncio.get_event_loop().call_exception_handler(
                    {"message": "error in a cancellation signal callback", "exception": exc}
                )
        future = self._future
        if future is not None and not future.done():
            future.set_result(reason)

    def __repr__(self) -> str:
        return f"<CancelSignal aborted={self.aborted} reason={self.reason!r}>"
