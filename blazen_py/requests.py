"""A run's open input requests (human in the loop).

Two forms share one table of open requests, keyed by request id:

* the awaiter form, ``await ctx.request_input(prompt)``: the request holds the future the
  step waits on; in-process only (a pause interrupts the step, which asks again after
  resume);
* the durable form, a step returning a ``blazen::InputRequestEvent``: no future; the
  request is part of the run's snapshot, and the answer is routed as a
  ``blazen::InputResponseEvent``;
* the bound form (:meth:`InputRequests.wait_bound`, what ``ctx.run_agent`` asks tool
  approvals with): durable, with an id the step chooses, *and* awaited by the step. It
  is part of snapshots while open; a pause stops the step but keeps the request open; a
  restored run re-opens it, and the step, run again, waits on it once more. An answer
  that comes while no step waits is kept in the run's state under
  :data:`ANSWER_PREFIX` + the id (so a snapshot keeps it too) until the step takes it.

Both announce themselves on the run's stream with an ``InputRequested`` item.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .errors import InputRequestError, WorkflowError
from .events import INPUT_REQUESTED
from .stream import StreamEvent

__all__ = ["ANSWER_PREFIX", "BOUND_PREFIX", "InputRequests", "PausedForInput", "Request"]

#: State key prefix of an answer to a bound request that no step was waiting for.
ANSWER_PREFIX = "blazen::answer/"
#: The id of every bound request starts so (a restored one is known by it).
BOUND_PREFIX = "blazen::bound/"


class PausedForInput(BaseException):
    """Thrown into a step waiting in ``request_input`` when its run pauses."""


class Request:
    """One open input request; ``future`` is set for the awaiter form only."""

    __slots__ = ("bound", "future", "metadata", "prompt", "request_id", "step")

    def __init__(
        self,
        request_id: str,
        prompt: Any,
        metadata: Any,
        step: str | None,
        future: asyncio.Future[Any] | None,
    ) -> None:
        self.request_id = request_id
        self.prompt = prompt
        self.metadata = metadata
        self.step = step
        self.future = future
        self.bound = False  # durable although a step may wait on it (wait_bound)


class InputRequests:
    """The open requests of one run, and the ids already answered.

    ``announce`` puts a stream item on the run's stream (the run decides whether anyone
    listens). Truthy while any request is open; iterating gives the open request ids.
    """

    __slots__ = ("_announce", "_loop", "_open", "answered", "run_id")

    def __init__(
        self, run_id: str, loop: asyncio.AbstractEventLoop, announce: Callable[[StreamEvent], None]
    ) -> None:
        self.run_id = run_id
        self._loop = loop
        self._announce = announce
        self._open: dict[str, Request] = {}
        self.answered: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self._open)

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._open))

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._open

    def open(
        self,
        prompt: Any,
        metadata: Any,
        step: str | None,
        future: asyncio.Future[Any] | None = None,
        request_id: str | None = None,
    ) -> str:
        """Open a request (a new id unless ``request_id`` is given) and announce it."""
        request_id = request_id or str(uuid.uuid4())
        request = self._open[request_id] = Request(request_id, prompt, metadata, step, future)
        self._announce(_announcement(request))
        return request_id

    async def wait(self, prompt: Any, metadata: Mapping[str, Any] | None, step: str | None) -> Any:
        """The awaiter form: open a request and wait for its answer."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self.open(prompt, dict(metadata) if metadata is not None else None, step, future)
        return await future

    async def wait_bound(
        self, request_id: str, prompt: Any, metadata: Any, step: str | None, state: dict[str, Any]
    ) -> Any:
        """The bound form: wait for the answer to the durable request ``request_id``.

        An answer kept in ``state`` (given while no step waited) is taken at once; an
        open request (restored from a snapshot) is waited on without a new announcement;
        otherwise the request is opened and announced.

        Raises:
            InputRequestError: another step is already waiting on ``request_id``.
            ValueError: ``request_id`` does not start with :data:`BOUND_PREFIX`.
        """
        if not request_id.startswith(BOUND_PREFIX):
            raise ValueError(f"a bound request id starts with {BOUND_PREFIX!r}")
        kept = ANSWER_PREFIX + request_id
        if kept in state:
            return state.pop(kept)
        future: asyncio.Future[Any] = self._loop.create_future()
        request = self._open.get(request_id)
        if request is None:
            self.open(prompt, metadata, step, future, request_id=request_id)
            self._open[request_id].bound = True
        elif request.future is not None:
            raise InputRequestError(f"input request {request_id!r} is already awaited in run {self.run_id}")
        else:
            request.future = future
            request.bound = True
        return await future

    def lookup(self, request_id: object, *, ended: bool) -> Request:
        """The open request ``request_id``, to be answered.

        Raises:
            InputRequestError: the id is unknown, was already answered, or the run ended.
        """
        request = self._open.get(request_id) if isinstance(request_id, str) else None
        if request is None:
            state = "was already answered" if request_id in self.answered else "is unknown"
            raise InputRequestError(f"input request {request_id!r} {state} in run {self.run_id}")
        if ended:
            raise InputRequestError(
                f"run {self.run_id} has ended; input request {request_id!r} can no longer be answered"
            )
        return request

    def close(self, request: Request) -> None:
        """Mark ``request`` answered."""
        del self._open[request.request_id]
        self.answered.add(request.request_id)

    def restore(self, request_id: str, prompt: Any, metadata: Any, step: str | None) -> None:
        """Re-open a durable request read from a snapshot; :meth:`announce_open` announces it."""
        request = self._open[request_id] = Request(request_id, prompt, metadata, step, None)
        request.bound = request_id.startswith(BOUND_PREFIX)

    def announce_open(self) -> None:
        """Announce every open request again (a restored run starting)."""
        for request in list(self._open.values()):
            self._announce(_announcement(request))

    def durable(self) -> list[dict[str, Any]]:
        """The open requests of the durable form, as snapshots hold them."""
        return [
            {"request_id": r.request_id, "prompt": r.prompt, "metadata": r.metadata, "step": r.step}
            for r in self._open.values()
            if r.future is None or r.bound
        ]

    def interrupt_waiters(self) -> list[str | None]:
        """Stop every step waiting in the awaiter form (a pause); return their step names.

        Each waiting step sees :class:`PausedForInput` and runs again after resume.
        """
        steps = []
        for request in [r for r in self._open.values() if r.future is not None]:
            future = request.future
            if request.bound:  # stays open (durable); the step waits on it again later
                request.future = None
            else:
                del self._open[request.request_id]
            steps.append(request.step)
            if future is not None and not future.done():
                future.set_exception(PausedForInput())
        return steps

    def cancel_all(self) -> None:
        """The run ended: cancel every waiting step's future and forget every request."""
        for request in self._open.values():
            if request.future is not None and not request.future.done():
                request.future.cancel()
        self._open.clear()


def _announcement(request: Request) -> StreamEvent:
    fields = {"request_id": request.request_id, "prompt": request.prompt, "metadata": request.metadata}
    fields["step"] = request.step
    return StreamEvent(fields, INPUT_REQUESTED)


def ended_error(run_id: str, step: str | None) -> WorkflowError:
    """The error of asking for input in a run that has ended."""
    return WorkflowError(f"run {run_id} has ended", step=step, run_id=run_id)
