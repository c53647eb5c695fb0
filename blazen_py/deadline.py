"""A run's deadline (``Workflow.set_timeout``): a timer that stops while the run is paused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Deadline"]


class Deadline:
    """Calls ``on_expiry`` once ``seconds`` of unpaused time have passed since :meth:`start`."""

    __slots__ = ("_at", "_loop", "_on_expiry", "_remaining", "_timer", "seconds")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, seconds: float, on_expiry: Callable[[], None]
    ) -> None:
        self._loop = loop
        self.seconds = seconds
        self._on_expiry = on_expiry
        self._remaining: float = seconds
        self._at: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start (or restart after :meth:`pause`) counting the time left."""
        if self._timer is None:
            self._at = self._loop.time() + self._remaining
            self._timer = self._loop.call_later(self._remaining, self._expire)

    def pause(self) -> None:
        """Stop counting; :meth:`start` continues with the time that was left."""
        if self._timer is not None and self._at is not None:
            self._timer.cancel()
            self._timer = None
            self._remaining = max(self._at - self._loop.time(), 0.0)

    def cancel(self) -> None:
        """Stop for good."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        self._on_expiry()
