"""The bridge under ``blazen.js``: JS handlers, JS contexts and JS values, in Pyodide.

``blazen.js`` calls the functions of :data:`EXPORTS`; everything it needs from Python goes
through them, and everything Python needs from JS goes through the helpers it passes to
:func:`install`. The design keeps the hot path short and proxy ownership trivial:

* Workflows, contexts and handlers are named by integers across the boundary, never by
  proxies, so JS holds no PyProxy but the exported functions (created once, owned by this
  module for the life of the page).
* A JS step is called through a JS trampoline (``callStep``). A sync result comes back as
  the return value; a Promise is settled later through one long-lived callback
  (:func:`_settle`) into a :class:`~blazen_py.runtime.Deferred`: no asyncio Task per step.
* Events a JS step returns keep their JS object as a twin (:class:`JsEvent`), so a JS step
  downstream receives the very object, with no conversion back.
* Async operations (run, result, pause...) answer through ``resolveCall``/``rejectCall``
  with JS values only; failures arrive as plain descriptors that ``blazen.js`` turns into
  typed ``Error`` subclasses.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import (  # type: ignore[import-not-found,attr-defined,unused-ignore]
    JsProxy,
    create_proxy,
    jsnull,
    to_js,
)

from .blazen_state import META_SUFFIX
from .context import Context
from .errors import BlazenError, InvalidEventError, ModelError, StateError, WorkflowError
from .events import INPUT_RESPONSE_EVENT
from .handler import WorkflowHandler
from .runtime import Deferred, Run, WorkflowResult
from .state import encode_state_value
from .stream import StreamEvent
from .workflow import Workflow

__all__ = ["EXPORTS", "JsEvent", "JsStepError", "install"]

_from_entries: Any = js.Object.fromEntries
_helpers: Any = None
_call_step: Any = None
_resolve_call: Any = None
_reject_call: Any = None

_ids = itertools.count(1)
_workflows: dict[int, Workflow] = {}
_handlers: dict[int, WorkflowHandler] = {}
_contexts: dict[int, Context] = {}
_context_ids: dict[Context, int] = {}
_run_contexts: dict[str, list[int]] = {}
_pending: dict[int, Deferred] = {}
_tokens = itertools.count(1)
_last_error: BaseException | None = None
_running: set[asyncio.Future[None]] = set()


class JsEvent(dict[str, Any]):
    """An event that came from JS: the Python mapping plus the JS object it was made from."""

    __slots__ = ("js",)

    js: Any


class JsStepError(Exception):
    """A JS step threw or its Promise rejected; ``js_error`` is what JS threw."""

    def __init__(self, message: str, js_error: Any) -> None:
        super().__init__(message)
        self.js_error = js_error


# -- conversions ---------------------------------------------------------------------------

# isinstance(x, JsProxy) goes through Pyodide's __subclasscheck__ (a Python function); the
# answer depends only on the concrete type, so the hot paths remember it per type.
_PROXY_TYPES: set[type] = set()
_PLAIN_TYPES: set[type] = {str, int, float, bool, dict, list, tuple, bytes, memoryview, type(None)}


def _is_proxy(value: Any) -> bool:
    """``isinstance(value, JsProxy)``, cached by type."""
    cls = type(value)
    if cls in _PROXY_TYPES:
        return True
    if cls in _PLAIN_TYPES:
        return False
    if isinstance(value, JsProxy):
        _PROXY_TYPES.add(cls)
        return True
    _PLAIN_TYPES.add(cls)
    return False


def _js_kind(value: Any) -> str:
    """What a value is called in JS, for error messages."""
    if isinstance(value, JsProxy):
        name = getattr(getattr(value, "constructor", None), "name", None)
        return f"a {name}" if isinstance(name, str) else f"a {value.typeof}"
    names = {str: "a string", bool: "a boolean", int: "a number", float: "a number", type(None): "undefined"}
    return names.get(type(value), type(value).__name__)


def _clean(value: Any) -> Any:
    """Finish ``to_py``: ``null`` becomes None and typed arrays become ``bytes``."""
    cls = type(value)
    if cls is dict:
        for key, item in value.items():
            if item is jsnull or type(item) in _FIX:
                value[key] = _clean(item)
        return value
    if cls is list:
        for index, item in enumerate(value):
            if item is jsnull or type(item) in _FIX:
                value[index] = _clean(item)
        return value
    if value is jsnull:
        return None
    if cls is memoryview:
        return value.tobytes()
    return value


_FIX = (dict, list, memoryview)


def from_js(value: Any) -> Any:
    """Convert a JS value to Python data (live JS objects stay JsProxies)."""
    if _is_proxy(value):
        if value.typeof != "object":
            return value  # a function or symbol: kept as is
        return _clean(value.to_py())
    return None if value is jsnull else value


def _event_from_js(value: Any) -> Any:
    """Convert what a JS step returned into events, keeping each JS object as a twin."""
    if value is None or value is jsnull:
        return None
    if not _is_proxy(value):
        return value  # a primitive: the engine reports it as not an event
    py = value.to_py()
    if type(py) is dict:
        event = JsEvent(_clean(py))
        event.js = value
        return event
    if type(py) is list:
        return [_twin(item, value[i]) for i, item in enumerate(py)]  # type: ignore[index,unused-ignore]
    return JsValue(py) if _is_proxy(py) else py


class JsValue:
    """A JS value that is no event (a function, a symbol, a Date...), as a step returned it.

    Wrapped so the engine reports it plainly (probing a JsProxy of a symbol throws).
    """

    __slots__ = ("_text",)

    def __init__(self, value: Any) -> None:
        self._text = f"{value.typeof} {js.String(value)}"

    def __repr__(self) -> str:
        return f"<JS {self._text}>"


def _twin(item: Any, js_item: Any) -> Any:
    if type(item) is dict:
        event = JsEvent(_clean(item))
        event.js = js_item
        return event
    return JsValue(item) if _is_proxy(item) else _clean(item)


def to_js_value(value: Any) -> Any:
    """Convert Python data to a JS value; None becomes ``null``, bytes a ``Uint8Array``."""
    if value is None:
        return jsnull
    cls = type(value)
    if cls is str or cls is int or cls is float or cls is bool or _is_proxy(value):
        return value
    if cls is JsEvent:
        return value.js
    return _data_to_js(value)


def _nulls(value: Any) -> Any:
    """Copy ``value`` for ``to_js``: None becomes ``null`` (``to_js`` would make it
    ``undefined``) and events that came from JS become their JS objects again."""
    cls = type(value)
    if value is None:
        return jsnull
    if cls is JsEvent:
        return value.js
    if cls is dict or cls is StreamEvent:
        return {k: _nulls(v) for k, v in value.items()}
    if cls is list or cls is tuple:
        return [_nulls(v) for v in value]
    return value


def _data_to_js(value: Any) -> Any:
    """Python data as JS data: objects (not Maps), ``null``, ``Uint8Array``; live JS
    values pass through. A Python object with no JS form raises ``ConversionError``."""
    return to_js(_nulls(value), dict_converter=_from_entries, create_pyproxies=False)


def _event_to_js(event: Mapping[str, Any]) -> Any:
    if type(event) is JsEvent:
        return event.js
    if event.get("type") == INPUT_RESPONSE_EVENT:
        event = {
            "type": INPUT_RESPONSE_EVENT,
            "requestId": event["request_id"],
            "response": event["response"],
        }
    try:
        return _data_to_js(event)
    except Exception as exc:
        raise InvalidEventError(
            f"event {event.get('type')!r} holds a value a JS step cannot receive: {exc}"
        ) from exc


_STREAM_KEYS = {"event_type": "eventType", "request_id": "requestId", "error_type": "errorType"}


def stream_item_to_js(item: StreamEvent) -> Any:
    """A stream item as the JS API shows it: ``eventType``, ``requestId``, ``errorType``."""
    return _data_to_js({_STREAM_KEYS.get(k, k): v for k, v in item.items()})


def _json_value(value: Any) -> str:
    """StateValue as JSON text (bytes tagged), parsed by blazen.js's reviver."""
    return json.dumps(encode_state_value(value), separators=(",", ":"))


# -- errors --------------------------------------------------------------------------------


def describe_error(error: BaseException) -> Any:
    """A plain JS object describing ``error`` for blazen.js to rethrow as a typed Error."""
    fields: dict[str, Any] = {"name": type(error).__name__, "message": str(error)}
    if isinstance(error, BlazenError):
        fields["blazen"] = True
    if isinstance(error, ModelError):
        fields["model"] = True
        fields["status"] = error.status
    if isinstance(error, WorkflowError):
        fields["step"] = error.step
        fields["eventType"] = error.event_type
        fields["runId"] = error.run_id
    cause = error.__cause__
    if isinstance(cause, JsStepError):
        fields["cause"] = cause.js_error
    elif cause is not None:
        fields["causeMessage"] = f"{type(cause).__name__}: {cause}"
    return _data_to_js(fields)


def take_last_error() -> Any:
    """The error the last synchronous bridge call raised, described (then forgotten)."""
    global _last_error
    error, _last_error = _last_error, None
    return describe_error(error) if error is not None else None


def _remember(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        global _last_error
        try:
            return fn(*args)
        except BaseException as exc:
            _last_error = exc
            raise

    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    return call


def _answer(token: int, work: Coroutine[Any, Any, Any]) -> None:
    """Run ``work`` and settle JS promise ``token`` with its JS result or its error."""

    async def complete() -> None:
        try:
            value = await work
        except BaseException as exc:
            _reject_call(token, describe_error(exc))
            if not isinstance(exc, Exception):
                raise
        else:
            _resolve_call(token, value)

    task = asyncio.ensure_future(complete())
    _running.add(task)  # a Task nobody references may be collected mid-flight
    task.add_done_callback(_running.discard)


def _answer_when_done(token: int, run: Run) -> None:
    """Settle JS promise ``token`` with the result of ``run`` the moment it ends.

    What :func:`_answer` does for ``await run.done``, without its Task: each of the Task's
    steps and done-callbacks is a JS task in Pyodide (a dozen per run), this is none.
    """

    def settle(run: Run) -> None:
        try:
            value = _result_to_js(run.done.result())
        except Exception as exc:
            _reject_call(token, describe_error(exc))
        else:
            _resolve_call(token, value)

    run.when_done(settle)


# -- JS steps ------------------------------------------------------------------------------


def _js_step(fn: Any) -> Callable[[Any, Context], Any]:
    """A step handler that calls the JS function ``fn`` through the trampoline."""

    def handler(event: Any, ctx: Context) -> Any:
        ctx_id = _context_ids.get(ctx)
        if ctx_id is None:
            ctx_id = _register_context(ctx)
        token = next(_tokens)
        out = _call_step(fn, _event_to_js(event), ctx_id, token)
        if out is None:  # the trampoline's sign for "a Promise; settled later"
            deferred = Deferred()
            _pending[token] = deferred
            return deferred
        return _event_from_js(out)

    return handler


def _settle(token: int, value: Any, ok: bool) -> None:
    deferred = _pending.pop(token, None)
    if deferred is None:
        return
    if ok:
        try:
            deferred.resolve(_event_from_js(value))
        except Exception as exc:
            deferred.reject(exc)
        return
    deferred.reject(JsStepError(_js_error_text(value), value))


def _js_error_text(value: Any) -> str:
    if isinstance(value, JsProxy):
        name = getattr(value, "name", None)
        message = getattr(value, "message", None)
        if isinstance(message, str):
            return f"{name}: {message}" if isinstance(name, str) else message
        return f"a non-Error value was thrown: {js.String(value)}"
    if value is None:
        return "a non-Error value was thrown: undefined"
    return f"a non-Error value was thrown: {value if value is not jsnull else 'null'!s}"


def _register_context(ctx: Context) -> int:
    ctx_id = next(_ids)
    _contexts[ctx_id] = ctx
    _context_ids[ctx] = ctx_id
    run = ctx._run
    ids = _run_contexts.get(run.run_id)
    if ids is None:
        ids = _run_contexts[run.run_id] = []
        run.when_done(_release_run)
    ids.append(ctx_id)
    return ctx_id


def _release_run(run: Run) -> None:
    """Forget a finished run's contexts and pending promises."""
    ids = _run_contexts.pop(run.run_id, [])
    for ctx_id in ids:
        ctx = _contexts.pop(ctx_id, None)
        if ctx is not None:
            _context_ids.pop(ctx, None)
    stale = [t for t, d in _pending.items() if d._flight is None or d._flight.run is run]
    for token in stale:
        del _pending[token]


def _ctx(ctx_id: int) -> Context:
    ctx = _contexts.get(ctx_id)
    if ctx is None:
        raise WorkflowError("this ctx belongs to a run that has ended")
    return ctx


# -- exported to blazen.js -----------------------------------------------------------------


def workflow_new(name: str, timeout: Any, policy: str) -> int:
    """Create a Python Workflow for a JS one; returns its id."""
    seconds = from_js(timeout)
    wf = Workflow(name, timeout=None if seconds is None else float(seconds), session_pause_policy=policy)
    wf_id = next(_ids)
    _workflows[wf_id] = wf
    return wf_id


def workflow_drop(wf_id: int) -> None:
    """Forget a workflow (its JS object was garbage-collected)."""
    _workflows.pop(wf_id, None)


def workflow_add_step(wf_id: int, name: str, accepts: Any, fn: Any, options: Any) -> None:
    """Add a JS step."""
    opts = from_js(options) or {}
    _workflows[wf_id].add_step(
        name,
        list(from_js(accepts)) if isinstance(accepts, JsProxy) else accepts,
        _js_step(fn),
        emits=opts.get("emits"),
        timeout=opts.get("timeout"),
        max_concurrency=opts.get("maxConcurrency"),
    )


def workflow_set_timeout(wf_id: int, seconds: Any) -> None:
    """``wf.setTimeout``."""
    value = from_js(seconds)
    _workflows[wf_id].set_timeout(None if value is None else value)


def workflow_set_policy(wf_id: int, policy: str) -> None:
    """``wf.setSessionPausePolicy``."""
    _workflows[wf_id].set_session_pause_policy(policy)


def workflow_register_ref(wf_id: int, tag: str, match: Any, serialize: Any) -> None:
    """``wf.registerSerializableRef``: ``match`` and ``serialize`` are JS functions."""

    def to_bytes(value: Any) -> bytes:
        out = serialize(value)
        if isinstance(out, JsProxy):
            return bytes(out.to_bytes())  # type: ignore[attr-defined,unused-ignore]
        return bytes(out)

    _workflows[wf_id].register_serializable_ref(tag, lambda v: bool(match(v)), to_bytes)


def workflow_validate(wf_id: int) -> Any:
    """``wf.validate()``: a list of problem descriptions."""
    problems = [
        {"kind": p.kind, "message": p.message, "step": p.step, "eventType": p.event_type}
        for p in _workflows[wf_id].validate()
    ]
    return _data_to_js(problems)


def _input(input: Any) -> Any:
    if input is None or input is jsnull:
        return None
    data = from_js(input)
    if not isinstance(data, dict):
        return data  # the engine raises its own clear error
    event = JsEvent(data)
    event.js = input
    return event


def _result_to_js(result: WorkflowResult) -> Any:
    event = result.event
    data = event.js.result if type(event) is JsEvent else to_js_value(result.data)
    return _data_to_js({"data": data, "runId": result.run_id})


DEFAULT_CHECKPOINT_STORE = "blazen_py-checkpoints"
_stores: dict[str, Any] = {}


def _checkpoint_store(options: Any) -> Any:
    """The store named by a JS ``{checkpoint: 'indexeddb' | {store: name}}`` option."""
    given = from_js(options) or {}
    choice = given.get("checkpoint") if isinstance(given, dict) else None
    if choice is None or choice is False:
        return None
    if choice in (True, "indexeddb"):
        name = DEFAULT_CHECKPOINT_STORE
    elif isinstance(choice, dict) and isinstance(choice.get("store"), str):
        name = choice["store"]
    else:
        raise TypeError(f"checkpoint must be 'indexeddb' or {{store: name}}, got {choice!r}")
    store = _stores.get(name)
    if store is None:
        from ._compat import IndexedDBStore

        store = _stores[name] = IndexedDBStore(name)
    return store


def workflow_run(token: int, wf_id: int, input: Any, options: Any = None) -> None:
    """``await wf.run(input, {checkpoint})``."""
    wf = _workflows[wf_id]
    store = _checkpoint_store(options)
    if store is None:
        _answer_when_done(token, wf._launch(_input(input)))
        return

    async def run() -> Any:
        return _result_to_js(await wf.run(_input(input), checkpoint=store))

    _answer(token, run())


def workflow_run_streaming(token: int, wf_id: int, input: Any, callback: Any) -> None:
    """``await wf.runStreaming(input, callback)``: ``callback`` gets JS stream items."""
    wf = _workflows[wf_id]

    async def run() -> Any:
        result = await wf.run_streaming(_input(input), lambda item: callback(stream_item_to_js(item)))
        return _result_to_js(result)

    _answer(token, run())


def _new_handler(handler: WorkflowHandler) -> int:
    handler_id = next(_ids)
    _handlers[handler_id] = handler
    return handler_id


def workflow_run_with_handler(token: int, wf_id: int, input: Any, options: Any = None) -> None:
    """``await wf.runWithHandler(input, {checkpoint})``: answers with a handler id."""
    wf = _workflows[wf_id]
    store = _checkpoint_store(options)

    async def run() -> Any:
        return _new_handler(await wf.run_with_handler(_input(input), checkpoint=store))

    _answer(token, run())


def workflow_checkpoints(token: int, wf_id: int, options: Any) -> None:
    """``await wf.unfinishedRuns({checkpoint})``: this workflow's saved durable runs."""
    wf = _workflows[wf_id]
    store = _checkpoint_store(options) or _checkpoint_store({"checkpoint": "indexeddb"})

    async def run() -> Any:
        found = await wf.checkpoints(store)
        return _data_to_js(
            [{"runId": c["run_id"], "createdAt": c["created_at"], "status": c["status"]} for c in found]
        )

    _answer(token, run())


def workflow_resume_checkpoint(token: int, wf_id: int, run_id: str, options: Any) -> None:
    """``await wf.resumeCheckpoint(runId, {checkpoint})``: answers with a handler id."""
    wf = _workflows[wf_id]
    store = _checkpoint_store(options) or _checkpoint_store({"checkpoint": "indexeddb"})

    async def run() -> Any:
        return _new_handler(await wf.resume_checkpoint(store, run_id))

    _answer(token, run())


def workflow_resume(token: int, wf_id: int, snapshot_json: str, deserializers: Any) -> None:
    """``wf.resume(snap)`` / ``resumeWithSerializableRefs(snap, {Tag: bytes => value})``."""
    wf = _workflows[wf_id]
    table: dict[str, Callable[[bytes], Any]] = {}
    if deserializers is not None and deserializers is not jsnull:
        for tag in js.Object.keys(deserializers):
            table[str(tag)] = _deserializer(getattr(deserializers, tag))

    async def run() -> Any:
        return _new_handler(await wf.resume_with_serializable_refs(snapshot_json, table))

    _answer(token, run())


def _deserializer(fn: Any) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        return fn(to_js(data))

    return deserialize


def handler_drop(handler_id: int) -> None:
    """Forget a handler (its JS object was garbage-collected)."""
    _handlers.pop(handler_id, None)


def handler_info(handler_id: int) -> Any:
    """Run id, workflow name and status of a handler."""
    h = _handlers[handler_id]
    return to_js(
        {"runId": h.run_id, "workflowName": h.workflow_name, "status": h.status}, dict_converter=_from_entries
    )


def handler_result(token: int, handler_id: int) -> None:
    """``await handler.result()``."""
    h = _handlers[handler_id]
    if h._checkpointer is None:  # a durable run's result waits for its checkpoint's deletion
        _answer_when_done(token, h._run)
        return

    async def run() -> Any:
        return _result_to_js(await h.result())

    _answer(token, run())


def handler_stream(token: int, handler_id: int, callback: Any) -> None:
    """``await handler.streamEvents(cb)``; an async ``cb`` is awaited item by item."""
    h = _handlers[handler_id]

    def deliver(item: StreamEvent) -> Any:
        out = callback(stream_item_to_js(item))
        return out if hasattr(out, "__await__") else None

    async def run() -> Any:
        await h.stream_events(deliver)
        return None

    _answer(token, run())


def handler_respond(handler_id: int, request_id: str, response: Any) -> None:
    """``handler.respondToInput(requestId, response)``."""
    _handlers[handler_id].respond_to_input(request_id, from_js(response))


def handler_snapshot(token: int, handler_id: int, metadata: Any) -> None:
    """``await handler.snapshot()``: answers with the snapshot's JSON text."""
    h = _handlers[handler_id]
    snap = h.snapshot(from_js(metadata))

    async def run() -> Any:
        return json.dumps(await snap)

    _answer(token, run())


def handler_pause(token: int, handler_id: int, metadata: Any) -> None:
    """``await handler.pause()``: answers with the snapshot's JSON text."""
    paused = _handlers[handler_id].pause(from_js(metadata))

    async def run() -> Any:
        return json.dumps(await paused)

    _answer(token, run())


def handler_resume_in_place(token: int, handler_id: int) -> None:
    """``await handler.resumeInPlace()``."""
    _answer(token, _handlers[handler_id].resume_in_place())


def handler_abort(handler_id: int) -> None:
    """``handler.abort()``."""
    _handlers[handler_id].abort()


def ctx_info(ctx_id: int) -> Any:
    """Run id and workflow name of a context, read once per JS ctx object."""
    ctx = _ctx(ctx_id)
    return to_js([ctx.run_id(), ctx.workflow_name, ctx.step_name])


def _acting(token: int) -> AbstractContextManager[None]:
    """Attribute state writes to the invocation ``token`` while its Promise is pending.

    (While a JS step runs synchronously, the engine already knows which one it is.)
    """
    deferred = _pending.get(token)
    return deferred.running() if deferred is not None else nullcontext()


def ctx_set(ctx_id: int, token: int, key: str, value: Any) -> None:
    """``ctx.set(key, value)`` for plain values (``Uint8Array`` stored as bytes)."""
    data = from_js(value)
    if isinstance(data, JsProxy):
        raise StateError(
            f"state value at {key!r} is a JS {data.typeof}, which cannot be persisted; "
            "store plain data in ctx.state, or keep live objects in ctx.session"
        )
    ctx = _ctx(ctx_id)
    with _acting(token):
        ctx.set(key, _reject_live(data, key))


def _reject_live(data: Any, path: str) -> Any:
    cls = type(data)
    if cls is dict:
        for k, v in data.items():
            _reject_live(v, f"{path}.{k}")
    elif cls is list:
        for i, v in enumerate(data):
            _reject_live(v, f"{path}[{i}]")
    elif isinstance(data, JsProxy):
        kind = getattr(getattr(data, "constructor", None), "name", None) or data.typeof
        raise StateError(
            f"state value at {path!r} is a JS {kind}, which cannot be persisted; "
            "store plain data (objects, arrays, strings, numbers, booleans, null, Uint8Array)"
        )
    return data


def ctx_set_meta(ctx_id: int, token: int, key: str, meta_json: str) -> None:
    """Store the metadata entry of a BlazenState object decomposed by blazen.js."""
    ctx = _ctx(ctx_id)
    with _acting(token):
        if key in ctx._run.state:
            ctx._run.record(key)
            del ctx._run.state[key]
        ctx._set_meta(key + META_SUFFIX, json.loads(meta_json))


def ctx_get(ctx_id: int, key: str) -> Any:
    """``ctx.get(key)``: ``'V'`` + JSON of the value, ``'M'`` + JSON of a BlazenState
    metadata entry, or ``None`` when missing."""
    state = _ctx(ctx_id)._run.state
    meta = state.get(key + META_SUFFIX)
    if meta is not None:
        return "M" + _json_value(meta)
    if key not in state:
        return None
    return "V" + _json_value(state[key])


def ctx_set_bytes(ctx_id: int, token: int, key: str, data: Any) -> None:
    """``ctx.setBytes(key, data)``."""
    if not isinstance(data, JsProxy) or not hasattr(data, "to_bytes"):
        raise StateError(f"setBytes({key!r}) takes a Uint8Array, got {_js_kind(data)}")
    ctx = _ctx(ctx_id)
    with _acting(token):
        ctx.set_bytes(key, data.to_bytes())


def ctx_get_bytes(ctx_id: int, key: str) -> Any:
    """``ctx.getBytes(key)``: a ``Uint8Array`` or ``null``."""
    data = _ctx(ctx_id).get_bytes(key)
    return jsnull if data is None else to_js(data)


def ctx_send(ctx_id: int, event: Any) -> None:
    """``ctx.sendEvent(event)``."""
    _ctx(ctx_id).send_event(_require_event(event))


def ctx_write(ctx_id: int, event: Any) -> None:
    """``ctx.writeEventToStream(event)``."""
    _ctx(ctx_id).write_event_to_stream(_require_event(event))


def _require_event(event: Any) -> Any:
    converted = _event_from_js(event)
    if isinstance(converted, list):
        raise InvalidEventError("sendEvent takes one event, not an array")
    return converted if converted is not None else event


def ctx_request_input(token: int, ctx_id: int, prompt: Any, metadata: Any) -> None:
    """``await ctx.requestInput(prompt, metadata)``."""
    ctx = _ctx(ctx_id)

    async def run() -> Any:
        return to_js_value(await ctx.request_input(from_js(prompt), from_js(metadata)))

    _answer(token, run())


def session_set(ctx_id: int, key: str, value: Any) -> None:
    """``ctx.session.set(key, value)``: the JS value itself is kept (identity preserved)."""
    _ctx(ctx_id).session.set(key, value)


def session_get(ctx_id: int, key: str) -> Any:
    """``ctx.session.get(key)``: the very JS value stored, or ``null``."""
    return to_js_value(_ctx(ctx_id).session.get(key))


def session_has(ctx_id: int, key: str) -> bool:
    """``ctx.session.has(key)``."""
    return _ctx(ctx_id).session.has(key)


def session_delete(ctx_id: int, key: str) -> None:
    """``ctx.session.delete(key)``."""
    _ctx(ctx_id).session.delete(key)


def session_keys(ctx_id: int) -> Any:
    """``ctx.session.keys()``."""
    return to_js(_ctx(ctx_id).session.keys())


def state_delete(ctx_id: int, token: int, key: str) -> None:
    """``ctx.state.delete(key)``."""
    ctx = _ctx(ctx_id)
    with _acting(token):
        ctx.state.delete(key)


def state_keys(ctx_id: int) -> Any:
    """``ctx.state.keys()``."""
    return to_js(_ctx(ctx_id).state.keys())


_MODEL_OPTIONS = {
    "model": "model",
    "baseUrl": "base_url",
    "apiKeyEnv": "api_key_env",
    "timeout": "timeout",
    "maxRetries": "max_retries",
    "retryBackoff": "retry_backoff",
    "maxRetryDelay": "max_retry_delay",
    "headers": "headers",
    "options": "options",
}
_models: dict[int, Any] = {}


def model_new(provider: str, options: Any) -> int:
    """``CompletionModel.openrouter/openai/openaiCompatible(options)``; returns a model id."""
    from .llm import CompletionModel

    given = from_js(options) or {}
    unknown = sorted(set(given) - set(_MODEL_OPTIONS))
    if unknown:
        raise TypeError(f"unknown CompletionModel option(s): {', '.join(unknown)}")
    kwargs = {_MODEL_OPTIONS[k]: v for k, v in given.items() if v is not None}
    factories: dict[str, Callable[..., Any]] = {
        "openrouter": CompletionModel.openrouter,
        "openai": CompletionModel.openai,
        "openaiCompatible": CompletionModel.openai_compatible,
    }
    factory = factories[provider]
    model_id = next(_ids)
    _models[model_id] = factory(**kwargs)
    return model_id


def model_drop(model_id: int) -> None:
    """Forget a model (its JS object was garbage-collected)."""
    _models.pop(model_id, None)


def _response_to_js(response: Any) -> Any:
    data = response.to_dict()
    usage = data["usage"]
    out = {
        "content": data["content"],
        "model": data["model"],
        "finishReason": data["finish_reason"],
        "id": data["id"],
        "usage": None
        if usage is None
        else {
            "promptTokens": usage["prompt_tokens"],
            "completionTokens": usage["completion_tokens"],
            "totalTokens": usage["total_tokens"],
        },
    }
    return _data_to_js(out)


def model_complete(token: int, model_id: int, messages: Any, options: Any) -> None:
    """``await model.complete(messages, options)``."""
    model = _models[model_id]
    msgs, opts = from_js(messages), from_js(options)

    async def run() -> Any:
        return _response_to_js(await model.complete(msgs, opts))

    _answer(token, run())


def model_stream(token: int, model_id: int, messages: Any, on_chunk: Any, options: Any) -> None:
    """``await model.stream(messages, onChunk, options)``: ``onChunk({delta, index})``."""
    model = _models[model_id]
    msgs, opts = from_js(messages), from_js(options)

    def deliver(chunk: Any) -> Any:
        out = on_chunk(_data_to_js(chunk.to_dict()))
        return out if hasattr(out, "__await__") else None

    async def run() -> Any:
        return _response_to_js(await model.stream(msgs, deliver, opts))

    _answer(token, run())


def set_env(env: Any) -> None:
    """``init({env})``: make the values visible to Python as ``os.environ``."""
    import os

    for key, value in (from_js(env) or {}).items():
        os.environ[str(key)] = str(value)


_SYNC = (
    workflow_new,
    workflow_drop,
    workflow_add_step,
    workflow_set_timeout,
    workflow_set_policy,
    workflow_register_ref,
    workflow_validate,
    handler_drop,
    handler_info,
    handler_respond,
    handler_abort,
    ctx_info,
    ctx_set,
    ctx_set_meta,
    ctx_get,
    ctx_set_bytes,
    ctx_get_bytes,
    ctx_send,
    ctx_write,
    session_set,
    session_get,
    session_has,
    session_delete,
    session_keys,
    state_delete,
    state_keys,
    set_env,
    model_new,
    model_drop,
)
_ASYNC = (
    workflow_run,
    workflow_run_streaming,
    workflow_run_with_handler,
    workflow_resume,
    workflow_checkpoints,
    workflow_resume_checkpoint,
    handler_result,
    handler_stream,
    handler_snapshot,
    handler_pause,
    handler_resume_in_place,
    ctx_request_input,
    model_complete,
    model_stream,
)

EXPORTS: dict[str, Callable[..., Any]] = {
    **{fn.__name__: _remember(fn) for fn in _SYNC},
    **{fn.__name__: _remember(fn) for fn in _ASYNC},
    "take_last_error": take_last_error,
}
"""The functions blazen.js calls, by name."""

_exported: Any = None


def _fresh_random_state() -> None:
    """Reseed :mod:`random` from the OS. After a boot from a memory snapshot its state is
    the one frozen into the snapshot: every page would otherwise draw the same numbers."""
    module = sys.modules.get("random")
    if module is not None:
        module.seed()


def install(helpers: Any) -> Any:
    """Connect to blazen.js: keep its helpers, return the exported functions as a JS object.

    Idempotent. The proxies made here are owned by this module for the life of the page.
    """
    global _helpers, _call_step, _resolve_call, _reject_call, _exported
    if _exported is None:
        _fresh_random_state()
    _helpers = helpers
    _call_step = helpers.callStep
    _resolve_call = helpers.resolveCall
    _reject_call = helpers.rejectCall
    if _exported is None:
        table = {name: create_proxy(fn) for name, fn in EXPORTS.items()}
        table["settle"] = create_proxy(_settle)
        _exported = to_js(table, dict_converter=_from_entries)
    return _exported
