"""A ready queue for Pyodide's event loop: the page's ``call_soon`` callbacks in one JS task.

Pyodide's ``WebLoop`` turns every ``call_soon`` (each Task step, each Future done-callback)
into a JS task of its own (a MessageChannel message in a page, ``setImmediate`` in Node),
with a Handle, a one-shot proxy and a call into Python each: ~50 µs per callback in
Chromium. :func:`install` gives the loop a FIFO ready queue instead, as CPython's loop
has: ``call_soon`` appends a Handle, and one Pyodide callback (a *batch*) runs the queue,
callbacks scheduled meanwhile included, until it is empty or the budget (``BUDGET``
callbacks or ``TIME_BUDGET`` seconds) is spent. Then the rest waits for the host's turn:
a ``setTimeout(0)`` at most every ``_PAGE_YIELD_EVERY`` seconds in a visible page (the
yield of ``yield_to_host``, sharing its clock), Pyodide's own ``call_soon`` otherwise.

Kept as Pyodide has it: timers (``call_later``/``call_at``: JS timers, untouched), futures
settled from JS (their done-callbacks join the queue), a cancelled Handle (skipped), an
exception in a callback (``Handle._run`` reports it to the loop's exception handler and the
batch goes on), ``SystemExit``/``KeyboardInterrupt`` (the rest of the queue is scheduled,
then it propagates to Pyodide's handlers). Each batch is a genuine WebLoop callback, so
the running loop, async-generator hooks and ``run_sync`` (``run_until_complete`` in
Chromium, with JS promise integration) work inside it: where a callback may suspend the
batch that way, the next batch is scheduled before the first callback runs, so the queue
never waits for a suspended callback.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from pyodide.ffi import can_run_sync  # type: ignore[import-not-found]

from . import _pyodide

__all__ = ["BUDGET", "TIME_BUDGET", "install", "installed", "uninstall"]

# One batch runs at most this many callbacks or this long (the dispatcher's own budget for
# parked flights is the same, runtime.HOP_BUDGET / TIME_BUDGET).
BUDGET = 1000
TIME_BUDGET = 0.004


class _ReadyQueue:
    """The ready queue of one WebLoop, and the ``call_soon`` that feeds it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ready: deque[asyncio.Handle] = deque()
        self.pending = False  # a batch is scheduled (as a Pyodide callback or a timer)
        self.yield_next = False  # the scheduled batch must give the host its turn first
        self.soon: Callable[..., asyncio.Handle] = loop.call_soon  # Pyodide's own

    def call_soon(
        self, callback: Callable[..., object], *args: Any, context: contextvars.Context | None = None
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self.loop, context=context)
        self.ready.append(handle)
        if not self.pending:
            self.pending = True
            self.soon(self.batch)
        return handle

    def batch(self) -> None:
        """One Pyodide callback: run the ready queue FIFO until empty or the budget is spent."""
        self.pending = False
        ready = self.ready
        if self.yield_next:
            self.yield_next = False
            if ready:
                self._continue()
                return
        if ready and can_run_sync():
            # A callback may suspend this very call (run_sync): the next batch is already
            # on its way, so the rest of the queue runs meanwhile.
            self.pending = True
            self.soon(self.batch)
        popleft = ready.popleft
        clock = time.perf_counter
        count = 0
        deadline = clock() + TIME_BUDGET
        try:
            while ready:
                handle = popleft()
                if handle._cancelled:
                    continue
                handle._run()  # reports an exception to the loop's handler, as asyncio does
                count += 1
                # The clock is read after every callback: one may take milliseconds itself
                # (the dispatcher's pump runs 1,000 events in one), so counting alone would
                # let a batch of those run for tens of ms.
                if count >= BUDGET or clock() >= deadline:
                    break
        finally:
            if ready:  # budget spent (or SystemExit/KeyboardInterrupt): the rest after the host
                if self.pending:
                    self.yield_next = True
                else:
                    self._continue()

    def _continue(self) -> None:
        self.pending = True
        _pyodide.page_yield(self.soon, self.batch)


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ReadyQueue] = weakref.WeakKeyDictionary()


def _is_web_loop(loop: asyncio.AbstractEventLoop) -> bool:
    from pyodide.webloop import WebLoop  # type: ignore[import-not-found]

    return isinstance(loop, WebLoop)


def _web_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.get_event_loop()
    if not _is_web_loop(loop):
        raise TypeError(
            f"install_fast_loop() works on Pyodide's WebLoop; this page's event loop is a "
            f"{type(loop).__module__}.{type(loop).__qualname__}"
        )
    return loop


def installed() -> bool:
    """Whether the page's loop runs its callbacks through the ready queue."""
    loop = asyncio.get_event_loop()
    queue = _queues.get(loop)
    return queue is not None and vars(loop).get("call_soon") == queue.call_soon


def install() -> bool:
    """Give the page's WebLoop the ready queue; ``False`` when it already has it."""
    loop = _web_loop()
    if installed():
        return False
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = _ReadyQueue(loop)
    # Instance attributes: asyncio's Tasks and Futures (C code included) look call_soon up
    # on the loop object, so they find these first; deleting them restores the class's.
    setattr(loop, "call_soon", queue.call_soon)  # noqa: B010 - an instance attribute, on purpose
    setattr(loop, "call_soon_threadsafe", queue.call_soon)  # noqa: B010
    return True


def uninstall() -> bool:
    """Give the loop back Pyodide's one-task-per-callback ``call_soon``; ``False`` if it had it.

    Callbacks already queued still run, first and in order, in the batch already scheduled.
    """
    loop = _web_loop()
    if not installed():
        return False
    del loop.call_soon
    del loop.call_soon_threadsafe
    return True
