"""A run on a blazen_py.server, followed from here: what ``handler.hand_off()`` returns.

:class:`RemoteHandler` has the handler's ``stream_events`` / ``events``,
``respond_to_input``, ``result`` and ``abort``, over the service's HTTP API (the platform
transport: urllib on CPython, fetch in the browser). The stream reattaches by itself
after a dropped connection, from the last item it saw (``Last-Event-ID``), and
:meth:`RemoteHandler.attach` follows a run by its id from another process or page.
Everything the server sends is checked before use: JSON of bounded size, the codec's
values only.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from . import _compat
from .errors import (
    HandlerStateError,
    InputRequestError,
    RemoteError,
    SnapshotError,
    WorkflowError,
)
from .events import STOP_EVENT
from .llm._sse import SSEParser
from .runtime import WorkflowResult
from .snapshot.restore import _error_classes
from .state import decode_state_value, encode_state_value
from .stream import StreamEvent

__all__ = ["RUN_ENDED", "RemoteHandler", "send_snapshot"]

RUN_ENDED = "blazen::RunEnded"
"""``event_type`` of a remote run's last stream item: its outcome (not passed to callbacks)."""
_MAX_ANSWER = 16 << 20
_ENGINE = ("InputRequested", "Error")
_ENDED = ("completed", "failed", "cancelled")
_RECONNECTS = 40  # about a minute of retries (0.1 s more each time, at most 2 s apart)


def _base(url: object) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise RemoteError(f"the server URL must be an absolute http(s) URL, got {url!r}")
    return url.rstrip("/")


class RemoteHandler:
    """A run executing on a blazen_py.server (see :meth:`WorkflowHandler.hand_off`).

    Args:
        url: The service's base URL, e.g. ``"http://127.0.0.1:8765"``.
        run_id: The run's id.
        token: The service's bearer token, if it has one.
        timeout: Seconds one request may take (streams: between two pieces).
    """

    __slots__ = ("_headers", "_seen", "_timeout", "_url", "run_id")

    def __init__(self, url: str, run_id: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self._url = _base(url)
        if not isinstance(run_id, str) or not run_id:
            raise RemoteError(f"run_id must be a non-empty string, got {run_id!r}")
        self.run_id = run_id
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._seen = -1

    @classmethod
    async def attach(cls, url: str, run_id: str, *, token: str | None = None) -> RemoteHandler:
        """Follow the run ``run_id`` on the server at ``url`` (from any process or page).

        Raises:
            RemoteError: the server does not know the run (``status`` 404), refused the
                token (401), or could not be reached (``status`` ``None``).
        """
        handler = cls(url, run_id, token=token)
        await handler.status()
        return handler

    def __repr__(self) -> str:
        return f"<RemoteHandler run={self.run_id} at {self._url}>"

    # -- HTTP --------------------------------------------------------------------------------

    def _path(self, suffix: str = "") -> str:
        return f"{self._url}/runs/{quote(self.run_id, safe='')}{suffix}"

    async def _call(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, allow_nan=False).encode()
        request = _compat.HttpRequest(
            method, url, headers=headers, body=data, timeout=self._timeout, max_body_bytes=_MAX_ANSWER
        )
        try:
            response = await _compat.TRANSPORT.send(request)
        except _compat.TransportError as exc:
            raise RemoteError(f"the server at {self._url} could not be reached: {exc}") from exc
        try:
            answer = response.json() if response.body else None
        except ValueError:
            answer = None
        return response.status, answer

    async def status(self) -> dict[str, Any]:
        """The run's status on the server: ``{"run_id", "workflow", "status", ...}``
        (``queued``, ``running``, ``completed``, ``failed``, ``cancelled``; the outcome
        once ended).

        Raises:
            RemoteError: the server refused or does not know the run.
        """
        return await self._status("")

    async def _status(self, query: str, *, patient: bool = False) -> dict[str, Any]:
        # patient: a GET is safe to repeat, so ride out a server restarting (connection refused).
        for failures in range(_RECONNECTS + 1):
            try:
                status, answer = await self._call("GET", self._path(query))
                break
            except RemoteError as exc:
                if not patient or exc.status is not None or failures == _RECONNECTS:
                    raise
                await asyncio.sleep(min(0.1 * (failures + 1), 2.0))
        if (
            status != 200
            or not isinstance(answer, dict)
            or answer.get("status") not in (*_ENDED, "queued", "running")
        ):
            raise _refused(status, answer, f"status of run {self.run_id}")
        return answer

    # -- the handler's API -------------------------------------------------------------------

    async def result(self) -> WorkflowResult:
        """Wait for the run to end on the server and return its result.

        Raises:
            WorkflowError: the run failed (rebuilt as its class: StepError,
                WorkflowAbortedError, ...).
            RemoteError: the server refused or could not be reached.
        """
        while True:
            info = await self._status("?wait=25", patient=True)
            if info["status"] in _ENDED:
                break
        if info["status"] == "completed":
            data = decode_state_value(info.get("result"), path="result")
            return WorkflowResult(data, self.run_id, {"type": STOP_EVENT, "result": data})
        raise self._failure(info)

    def _failure(self, info: Mapping[str, Any]) -> WorkflowError:
        name = info.get("error_type")
        cls = _error_classes().get(name if isinstance(name, str) else "", WorkflowError)
        error = cls.__new__(cls)  # as a snapshot's failure is rebuilt: each class takes other fields
        message = info.get("error")
        Exception.__init__(
            error, message if isinstance(message, str) else f"run {self.run_id} {info['status']}"
        )
        step = info.get("step")
        error.step = step if isinstance(step, str) else None
        error.event_type = None
        error.run_id = self.run_id
        if hasattr(cls, "active_steps"):
            error.active_steps = []  # type: ignore[attr-defined]
        if hasattr(cls, "unrouted"):
            error.unrouted = {}  # type: ignore[attr-defined]
        return error

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Every stream item of the run, from its start on the server (or after the last
        item this handler saw) until it ends; reconnects after a dropped connection."""
        failures = 0
        while True:
            headers = {**self._headers, "Accept": "text/event-stream"}
            if self._seen >= 0:
                headers["Last-Event-ID"] = str(self._seen)
            try:
                async with _compat.http_stream(
                    "GET", self._path("/events"), headers=headers, timeout=self._timeout + 20
                ) as response:
                    if response.status != 200:
                        body = await response.read()
                        raise _refused(response.status, _json_or_none(body), f"events of run {self.run_id}")
                    parser = SSEParser()
                    async for chunk in response:
                        for message in parser.feed(chunk):
                            item = self._item(message.id, message.data)
                            if item is None:
                                return
                            failures = 0
                            yield item
            except _compat.TransportError:
                failures += 1
                if failures > _RECONNECTS:
                    raise RemoteError(f"lost the event stream of run {self.run_id}") from None
                await asyncio.sleep(min(0.1 * failures, 2.0))
                continue
            return  # the server closed the stream without the end: the run is over there

    def _item(self, event_id: str | None, data: str) -> StreamEvent | None:
        if event_id is None or not event_id.isdigit():
            raise RemoteError("the server sent a stream item without a numeric id")
        self._seen = int(event_id)
        try:
            fields = decode_state_value(json.loads(data), path="item")
        except (ValueError, SnapshotError) as exc:
            raise RemoteError(f"the server sent an unreadable stream item: {exc}") from None
        if not isinstance(fields, dict) or not isinstance(fields.get("event_type"), str):
            raise RemoteError("the server sent a stream item that is not an object with an event_type")
        kind = fields["event_type"]
        if kind == RUN_ENDED:
            return None
        if kind in _ENGINE or "type" not in fields:
            return StreamEvent(fields, kind)
        event = {k: v for k, v in fields.items() if k != "event_type" or fields.get("type") != kind}
        return StreamEvent(fields, kind, event)

    async def stream_events(self, callback: Callable[[StreamEvent], Any]) -> None:
        """Call ``callback`` (sync or async) with every stream item until the run ends."""
        async for item in self.events():
            out = callback(item)
            if inspect.isawaitable(out):
                await out

    async def respond_to_input(self, request_id: str, response: Any) -> None:
        """Answer the run's input request ``request_id`` (await it: it goes over HTTP).

        Raises:
            InputRequestError: no such open request, or it was already answered.
            HandlerStateError: the run has already ended.
            StateError: ``response`` is not a StateValue.
        """
        body = {"request_id": request_id, "response": encode_state_value(response)}
        status, answer = await self._call("POST", self._path("/input"), body)
        if status != 202:
            raise _refused(status, answer, f"the answer to {request_id!r}")

    async def abort(self) -> None:
        """Cancel the run on the server; :meth:`result` then raises WorkflowAbortedError.

        Does nothing if the run has already ended.
        """
        status, answer = await self._call("POST", self._path("/abort"))
        if status == 409:
            return
        if status != 202:
            raise _refused(status, answer, f"abort of run {self.run_id}")


async def send_snapshot(remote: RemoteHandler, snapshot: Mapping[str, Any]) -> None:
    """Give the server ``snapshot`` to continue (``POST /runs/continue``). A 409 means it
    already has this run (a retried hand-off whose first answer was lost): that is success.

    Raises:
        RemoteError: refused (a tampered or unfitting snapshot: ``SnapshotError``) or
            not reached.
    """
    status, answer = await remote._call("POST", f"{remote._url}/runs/continue", {"snapshot": dict(snapshot)})
    if status == 202 or (status == 409 and _kind(answer) == "RunExistsError"):
        return
    raise _refused(status, answer, f"hand-off of run {remote.run_id}")


def _kind(answer: Any) -> Any:
    error = answer.get("error") if isinstance(answer, dict) else None
    return error.get("type") if isinstance(error, dict) else None


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _refused(status: int, answer: Any, what: str) -> Exception:
    """The error for a refusal: the server's own type where the API has one."""
    error = answer.get("error") if isinstance(answer, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    text = f"{what}: the server answered {status}" + (f": {str(message)[:500]}" if message else "")
    if kind == "InputRequestError":
        return InputRequestError(text)
    if kind == "HandlerStateError":
        return HandlerStateError(text)
    return RemoteError(text, status=status, error_type=kind if isinstance(kind, str) else None)
