"""A timeout that works wherever a step's code runs: no Task needed.

``asyncio.wait_for`` and ``asyncio.timeout`` need the current Task (on Python 3.12+ they
raise "Timeout should be used inside a task" without one), and the part of a step before
its first real suspension runs inside the dispatcher, where there is none, or a Task
that is not the step's (which a timeout would then cancel). :func:`within` cancels only
the operation it bounds, with a loop timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from ._types import TransportTimeoutError

__all__ = ["within"]

_T = TypeVar("_T")


async def within(awaitable: Awaitable[_T], seconds: float | None, what: str) -> _T:
    """Await ``awaitable``, giving up after ``seconds``.

    Args:
        awaitable: A coroutine or future; cancelled when the time is up.
        seconds: The limit; ``None`` waits forever.
        what: Names the operation in the error, e.g. ``"POST http://... "``.

    Returns:
        What ``awaitable`` returns.

    Raises:
        TransportTimeoutError: The time was up first.
    """
    if seconds is None:
        return await awaitable
    future = asyncio.ensure_future(awaitable)
    expired = False

    def expire() -> None:
        nonlocal expired
        if not future.done():
            expired = True
            future.cancel()

    handle = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        return await future
    except asyncio.CancelledError:
        if expired:
            raise TransportTimeoutError(f"{what} timed out after {seconds:g} s") from None
        raise
    finally:
        handle.cancel()
