"""The HTTP service: a Starlette app in front of a :class:`~._worker.Worker`.

Routes (JSON in and out; every error is ``{"error": {"type", "message"}}`` with a 4xx):

* ``GET  /health``: ``{"ok": true}``. ``GET /workflows``: the workflow names.
* ``POST /runs``: ``{"workflow", "input"?, "run_id"?}`` queues a run; 202 ``{"run_id"}``,
  409 when the run id was already used (a run id starts at most one run).
* ``POST /runs/continue``: ``{"snapshot"}`` queues the run a page paused; the snapshot
  is validated as a resume validates it (422 ``SnapshotError`` when it does not hold up).
* ``GET  /runs/{id}``: status, and the outcome once ended (``?wait=S``: wait up to S s).
* ``GET  /runs/{id}/events``: the stream as server-sent events, each with ``id:`` its
  offset; ``Last-Event-ID`` (or ``?after=N``) resumes after that item.
* ``POST /runs/{id}/input``: ``{"request_id", "response"}``; 409 when already answered.
* ``POST /runs/{id}/abort``.

Bearer-token auth on every route when a token is set (required unless bound to
127.0.0.1 or ::1), CORS only for the configured origins, body size and depth limits.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import SnapshotError, StateError
from ..state import decode_state_value, encode_state_value
from ._body import BodyError, read_json
from ._worker import RUN_ENDED, RunExistsError, RunNotFoundError, Worker, check_run_id

__all__ = ["LOCAL_HOSTS", "create_app"]

LOCAL_HOSTS = ("127.0.0.1", "::1")
MAX_DEPTH = 64
MAX_SNAPSHOT_DEPTH = 300  # a snapshot may nest up to 256 levels of state (snapshot/format.py)
MAX_WAIT = 30.0
_KEEPALIVE = 15.0
_ENDED = ("completed", "failed", "cancelled")


def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error answer every route uses."""
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status, headers=headers)


class BearerAuth:
    """ASGI middleware: every HTTP request needs ``Authorization: Bearer <token>``
    (CORS preflights, answered by the CORS middleware outside this one, excepted)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = error(
                    401, "AuthError", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except BodyError as exc:
            return error(exc.status, exc.kind, str(exc))
        except RunNotFoundError as exc:
            return error(404, "RunNotFoundError", str(exc))
        except RunExistsError as exc:
            return error(409, "RunExistsError", str(exc))
        except SnapshotError as exc:
            return error(422, "SnapshotError", str(exc))
        except StateError as exc:
            return error(422, "StateError", str(exc))

    return guarded


def create_app(
    worker: Worker,
    *,
    token: str | None = None,
    cors_origins: Sequence[str] = (),
    max_body: int = 1 << 20,
    max_snapshot: int = 16 << 20,
) -> Starlette:
    """The ASGI app of ``worker``: it launches the worker on startup and stops it on shutdown."""

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "worker": worker.worker_id})

    async def workflows(request: Request) -> Response:
        return JSONResponse({"workflows": sorted(worker.workflows)})

    async def start(request: Request) -> Response:
        body = await read_json(request, max_body, MAX_DEPTH)
        if not isinstance(body, dict):
            raise BodyError(400, "BadRequestError", "the body must be a JSON object")
        name = body.get("workflow")
        if not isinstance(name, str):
            raise BodyError(400, "BadRequestError", "'workflow' must be a string")
        if name not in worker.workflows:
            return error(404, "WorkflowNotFoundError", f"no workflow named {name[:100]!r}")
        data = body.get("input", {})
        if not isinstance(data, dict):
            raise BodyError(400, "BadRequestError", "'input' must be a JSON object")
        data = _decoded(data, "input")
        run_id = body.get("run_id")
        if run_id is not None:
            try:
                check_run_id(run_id)
            except ValueError as exc:
                raise BodyError(400, "BadRequestError", str(exc)) from None
        run_id = await worker.start(name, data, run_id)
        return JSONResponse({"run_id": run_id, "status": "queued"}, status_code=202)

    async def continue_run(request: Request) -> Response:
        body = await read_json(request, max_snapshot, MAX_SNAPSHOT_DEPTH)
        if not isinstance(body, dict) or not isinstance(body.get("snapshot"), dict):
            raise BodyError(400, "BadRequestError", 'the body must be {"snapshot": {...}}')
        run_id = await worker.continue_from(body["snapshot"])
        return JSONResponse({"run_id": run_id, "status": "queued"}, status_code=202)

    async def status(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        wait = _number(request.query_params.get("wait"), 0.0, MAX_WAIT, "wait")
        deadline = time.monotonic() + wait
        info = await worker.status(run_id)
        pause = 0.01  # short runs answer fast; long waits cost the database little
        while info["status"] not in _ENDED and time.monotonic() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 0.25)
            info = await worker.status(run_id)
        return JSONResponse(info)

    async def events(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        last = request.headers.get("last-event-id") or request.query_params.get("after")
        offset = 0 if last is None else int(_number(last, -1, 1 << 40, "Last-Event-ID")) + 1
        await worker.status(run_id)  # 404 for an unknown run
        return StreamingResponse(
            _sse(worker, run_id, offset),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def respond(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        body = await read_json(request, max_body, MAX_DEPTH)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("request_id"), str)
            or "response" not in body
        ):
            raise BodyError(
                400, "BadRequestError", 'the body must be {"request_id": string, "response": ...}'
            )
        request_id = body["request_id"]
        if not 0 < len(request_id) <= 200:
            raise BodyError(400, "BadRequestError", "'request_id' must be 1 to 200 characters")
        response = _decoded(body["response"], "response")
        info = await worker.status(run_id)
        if info["status"] in _ENDED:
            return error(409, "HandlerStateError", f"run {run_id} has already {info['status']}")
        if not await _request_open(worker, run_id, request_id):
            return error(
                404, "InputRequestError", f"run {run_id} has no open input request {request_id[:100]!r}"
            )
        if not await worker.post(run_id, f"input:{request_id}", encode_state_value(response)):
            return error(409, "InputRequestError", f"input request {request_id[:100]!r} was already answered")
        return JSONResponse({"run_id": run_id, "request_id": request_id}, status_code=202)

    async def abort(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        info = await worker.status(run_id)
        if info["status"] in _ENDED:
            return error(409, "HandlerStateError", f"run {run_id} has already {info['status']}")
        await worker.post(run_id, "abort", True)
        return JSONResponse({"run_id": run_id}, status_code=202)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await worker.launch()
        try:
            yield
        finally:
            await worker.shutdown()

    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
                max_age=600,
            )
        )
    if token is not None:
        middleware.append(Middleware(BearerAuth, token=token))
    routes = [
        Route("/health", _guarded(health)),
        Route("/workflows", _guarded(workflows)),
        Route("/runs", _guarded(start), methods=["POST"]),
        Route("/runs/continue", _guarded(continue_run), methods=["POST"]),
        Route("/runs/{run_id}", _guarded(status)),
        Route("/runs/{run_id}/events", _guarded(events)),
        Route("/runs/{run_id}/input", _guarded(respond), methods=["POST"]),
        Route("/runs/{run_id}/abort", _guarded(abort), methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def _decoded(data: Any, path: str) -> Any:
    # Values cross as the snapshot codec writes them (bytes as {"$bytes": base64}).
    try:
        return decode_state_value(data, path=path)
    except SnapshotError as exc:
        raise BodyError(422, "StateError", str(exc)) from None


def _number(text: str | None, low: float, high: float, name: str) -> float:
    if text is None:
        return low if low >= 0 else 0.0
    try:
        value = float(text)
    except ValueError:
        raise BodyError(400, "BadRequestError", f"{name} must be a number") from None
    if not low <= value <= high:
        raise BodyError(400, "BadRequestError", f"{name} must be between {low} and {high}")
    return value


async def _request_open(worker: Worker, run_id: str, request_id: str) -> bool:
    # A durable request is open in the run's latest checkpoint (saved once the asking step
    # has completed, a moment after the stream announced it: wait a little for it). A
    # step awaiting ctx.request_input() is in no snapshot: its request was announced on
    # the run's stream (in the database, whichever worker runs it).
    deadline = time.monotonic() + 3.0
    while True:
        snap = await worker.checkpoint(run_id)
        requests = snap.get("input_requests") if snap else None
        if isinstance(requests, list) and any(
            isinstance(r, dict) and r.get("request_id") == request_id for r in requests
        ):
            return True
        if await _announced(worker, run_id, request_id):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)


async def _announced(worker: Worker, run_id: str, request_id: str) -> bool:
    needle = json.dumps(request_id)
    try:
        async for _, text in _with_timeout(worker.events(run_id, 0), 0.2):
            if needle in text:
                item = json.loads(text)
                if item.get("event_type") == "InputRequested" and item.get("request_id") == request_id:
                    return True
    except TimeoutError:
        pass  # no more items for now
    return False


async def _sse(worker: Worker, run_id: str, offset: int) -> AsyncIterator[bytes]:
    while True:
        try:
            async for index, text in _with_timeout(worker.events(run_id, offset), _KEEPALIVE):
                offset = index + 1
                kind = "end" if json.loads(text).get("event_type") == RUN_ENDED else "item"
                yield f"id: {index}\nevent: {kind}\ndata: {text}\n\n".encode()
                if kind == "end":
                    return
            return
        except TimeoutError:
            yield b": keep-alive\n\n"


async def _with_timeout(items: Any, seconds: float) -> AsyncIterator[Any]:
    iterator = items.__aiter__()
    try:
        while True:
            try:
                item = await asyncio.wait_for(iterator.__anext__(), seconds)
            except StopAsyncIteration:
                return
            yield item
    finally:
        await iterator.aclose()
