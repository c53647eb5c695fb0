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
* Events a JS step returns keep their JS object, so a JS step downstream receives the
  very object, with no conversion back: a flat event stays in blazen.js under a number
  (:class:`LazyJsEvent`), any other is converted with its object as a twin (:class:`JsEvent`).
* Async operations (run, result, pause...) answer through ``resolveCall``/``rejectCall``
  with JS values only; failures arrive as plain descriptors that ``blazen.js`` turns into
  typed ``Error`` subclasses.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import sys
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager, nullcontext
from types import FrameType
from typing import Any, cast

import js  # type: ignore[import-not-found]
from pyodide.ffi import (  # type: ignore[import-not-found,attr-defined,unused-ignore]
    JsProxy,
    create_proxy,
    jsnull,
    to_js,
)

from ._boundary import EXPORTS, error_fields, export, export_async
from ._jsvalues import (
    JsEvent,
    LazyJsEvent,
    data_to_js,
    event_from_js,
    event_to_js,
    flush_released,
    from_js,
    js_kind,
    json_value,
    release_ref,
    set_event_json,
    set_lazy_table,
    stream_item_to_js,
    to_js_value,
)
from .context import Context
from .errors import (
    CheckpointError,
    InvalidEventError,
    SnapshotError,
    StateError,
    WorkflowDefinitionError,
    WorkflowError,
)
from .events import message_language
from .handler import WorkflowHandler
from .retry import RetryPolicy
from .runtime import Deferred, Run, WorkflowResult
from .snapshot import dumps
from .state import decode_state_value
from .stream import StreamEvent
from .workflow import Workflow

__all__ = ["JsStepError", "install"]

_from_entries: Any = js.Object.fromEntries
_call_step: Any = None
_call_pure: Any = None
_helpers: Any = None
# Lazy JS events (see LazyJsEvent). A private switch, so that bench/ can measure the
# eager design (every returned object converted whole) beside it in one run.
_lazy_events = True
_abort_signal: Any = None
_resolve_call: Any = None
_reject_call: Any = None

# Ids across the boundary. Object ids name workflows, handlers, contexts and models (one
# counter); a call id names one pending async call from JS (chosen by blazen.js); an
# invocation id names one call of a JS step, whose Promise may settle later.
_ids = itertools.count(1)
_workflows: dict[int, Workflow] = {}
_handlers: dict[int, WorkflowHandler] = {}
_contexts: dict[int, Context] = {}
_context_ids: dict[Context, int] = {}
_run_contexts: dict[str, list[int]] = {}
_invocations = itertools.count(1)
_pending: dict[int, Deferred] = {}
_last_error: BaseException | None = None
_running: set[asyncio.Future[None]] = set()
_calls: dict[int, asyncio.Future[None]] = {}  # call id -> its Task, for call_cancel


class JsStepError(Exception):
    """A JS step threw or its Promise rejected; ``js_error`` is what JS threw.

    What a retry policy asks of an error is read from the JS value once, here:
    ``error_name`` (its ``name``), ``retryable`` (its own ``retryable`` when a boolean;
    ``NonRetryableError`` / ``RetryableError`` by name) and ``retry_delay`` (a
    ``RetryableError``'s ``delay``).
    """

    # Its message is what JS threw, with its own kind ("SyntaxError: ..."): a StepError
    # quotes it as it is, not as "JsStepError: SyntaxError: ...".
    names_its_kind = True

    def __init__(self, message: str, js_error: Any) -> None:
        super().__init__(message)
        self.js_error = js_error
        self.error_name: str | None = None
        self.retryable: bool | None = None
        self.retry_delay: float | None = None
        self.error_message: str | None = None
        if isinstance(js_error, JsProxy) and js_error.typeof == "object":
            try:
                self._read_retry_fields(js_error)
            except Exception:  # a revoked Proxy, a throwing getter: nothing to read, no retry hints
                self.error_name = self.retryable = self.retry_delay = self.error_message = None

    def _read_retry_fields(self, js_error: Any) -> None:
        name = getattr(js_error, "name", None)
        own = getattr(js_error, "retryable", None)
        delay = getattr(js_error, "delay", None)
        self.error_name = name if isinstance(name, str) and name else None
        text = getattr(js_error, "message", None)
        self.error_message = text if isinstance(text, str) else None
        if isinstance(own, bool):
            self.retryable = own
        elif name == "NonRetryableError":
            self.retryable = False
        elif name == "RetryableError":
            self.retryable = True
        if name == "RetryableError" and isinstance(delay, (int, float)) and not isinstance(delay, bool):
            self.retry_delay = float(delay)


# -- errors --------------------------------------------------------------------------------


def describe_error(error: BaseException) -> Any:
    """A plain JS object describing ``error`` for blazen.js to rethrow as a typed Error
    (the fields declared in ``_boundary``, and what caused it)."""
    fields = error_fields(error)
    cause = error.__cause__
    if isinstance(cause, JsStepError):
        fields["cause"] = cause.js_error
    elif cause is not None:
        fields["causeMessage"] = f"{type(cause).__name__}: {cause}"
    return data_to_js(fields)


def take_last_error() -> Any:
    """The error the last synchronous bridge call raised, described (then forgotten)."""
    global _last_error
    error, _last_error = _last_error, None
    return describe_error(error) if error is not None else None


def _remember(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        global _last_error
        # Messages of what JS calls speak JS (null, a string): see events.message_language.
        # The runs started here inherit it through the context their tasks copy.
        token = message_language.set("js")
        try:
            return fn(*args)
        except BaseException as exc:
            _last_error = exc
            raise
        finally:
            message_language.reset(token)

    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    return call


def _called_from_host() -> bool:
    """Whether the bridge export running now was called by JS with no Python below it: no
    frame on the stack but the bridge's own (not a step, a loop callback or a Task)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is not _BRIDGE_GLOBALS:
            return False
        frame = frame.f_back
    return True


_BRIDGE_GLOBALS = globals()


def _answer(call_id: int, work: Coroutine[Any, Any, Any]) -> None:
    """Run ``work`` and settle the JS call ``call_id`` with its JS result or its error."""

    async def complete() -> None:
        try:
            value = await work
        except BaseException as exc:
            _reject_call(call_id, describe_error(exc))
            if not isinstance(exc, Exception):
                raise
        else:
            _resolve_call(call_id, value)

    task = asyncio.ensure_future(complete())
    _running.add(task)  # a Task nobody references may be collected mid-flight
    task.add_done_callback(_running.discard)
    _calls[call_id] = task
    task.add_done_callback(lambda _: _calls.pop(call_id, None))


def _answer_when_done(call_id: int, run: Run) -> None:
    """Settle the JS call ``call_id`` with the result of ``run`` the moment it ends.

    What :func:`_answer` does for ``await run.done``, without its Task: each of the Task's
    steps and done-callbacks is a JS task in Pyodide (a dozen per run), this is none.
    """

    def settle(run: Run) -> None:
        try:
            value = _result_to_js(run.done.result())
        except Exception as exc:
            _reject_call(call_id, describe_error(exc))
        else:
            _resolve_call(call_id, value)
        flush_released()  # the run's dropped events need not wait for the next batch

    run.when_done(settle)


# -- JS steps ------------------------------------------------------------------------------


def _js_step(fn: Any) -> Callable[[Any, Context], Any]:
    """A step handler that calls the JS function ``fn`` through the trampoline."""

    def handler(event: Any, ctx: Context) -> Any:
        ctx_id = _context_ids.get(ctx)
        if ctx_id is None:
            ctx_id = _register_context(ctx)
        invocation = next(_invocations)
        # A lazy event crosses as its number (blazen.js keeps the object), no JsProxy.
        js_event = event.ref if type(event) is LazyJsEvent else event_to_js(event)
        out = _call_step(fn, js_event, ctx_id, invocation)
        if type(out) is str:  # a flat event's type: blazen.js keeps it under `invocation`
            return LazyJsEvent(invocation, out)
        if out is None:  # the trampoline's sign for "a Promise; settled later"
            deferred = Deferred()
            _pending[invocation] = deferred
            return deferred
        if out is False:  # a string or boolean, kept aside by blazen.js (see answerResult)
            out = _helpers.plainResult
        return event_from_js(out)

    return handler


# Pure steps ({pure: true}): a chain runs at most this many steps in one call into JS, so
# the dispatcher's periodic yield to the page still comes within a few hundred events.
_MAX_CHAIN = 256
_pure_steps: dict[Callable[..., Any], tuple[str, Any]] = {}  # handler -> (name, JS fn)
_chain_tables: dict[int, tuple[Any, Any]] = {}  # id(routes) -> (routes, its JS Map)


def _pure_js_step(name: str, fn: Any) -> Callable[[Any, Context], Any]:
    """The handler of a pure JS step: called with no ctx, chained in JS to the pure steps
    its results go to while the run has nothing to interleave with (see callPure)."""

    def handler(event: Any, ctx: Context) -> Any:
        run = cast(Run, ctx.run)
        table = None
        # Chaining is exact only while nothing observes or interleaves with the steps it
        # skips: no stream listener (a handler, spans), no checkpoint, no waiters, and no
        # other event queued (chaining would run this chain before it).
        # Nor while other steps take this same event or other step inputs are pending.
        if (
            run.listener is None
            and run.on_step_done is None
            and not run.waiters
            and not run.queue
            and not run.pending
            and len(run.routes.get(event["type"], ())) == 1
        ):
            table = _chain_table(run.routes)
        ref = next(_invocations)
        js_event = event.ref if type(event) is LazyJsEvent else event_to_js(event)
        out = _call_pure(fn, name, js_event, table, _MAX_CHAIN if table is not None else 1, ref)
        if table is not None:
            hops = _helpers.pureHops  # the steps the chain ran after this one
            if hops:
                run.spend_budget(hops)
        if type(out) is str:  # a flat event's type, kept under `ref` (as for callStep)
            return LazyJsEvent(ref, out)
        if out is None:  # it threw
            text = _helpers.pureErrorText
            error = _helpers.pureError
            _helpers.pureError = None
            raise JsStepError(text if isinstance(text, str) else "a non-Error value was thrown", error)
        if out is False:  # a string or boolean (as for callStep)
            out = _helpers.plainResult
        return event_from_js(out)

    _pure_steps[handler] = (name, fn)
    return handler


def _chain_table(routes: Any) -> Any:
    """A JS Map of the event types that go to exactly one step, a pure one: type ->
    [step name, its JS function]. Made once per workflow definition (its routes)."""
    known = _chain_tables.get(id(routes))
    if known is not None and known[0] is routes:
        return known[1]
    pairs = []
    for etype, steps in routes.items():
        if len(steps) == 1 and steps[0].handler in _pure_steps:
            name, fn = _pure_steps[steps[0].handler]
            pairs.append(to_js([etype, to_js([name, fn])]))
    table = js.Map.new(to_js(pairs))
    _chain_tables[id(routes)] = (routes, table)
    return table


def _set_lazy_events(on: bool) -> None:
    """Switch lazy JS events on or off (bench/ measures both designs in one page)."""
    global _lazy_events
    _lazy_events = bool(on)
    if _helpers is not None:
        _helpers.lazy = _lazy_events


def _settle(invocation: int, value: Any, ok: bool, description: Any = None) -> None:
    """Settle a JS step's pending Promise. ``description`` (a failure's text) was made by
    blazen.js, which can describe any thrown value without throwing; nothing here probes
    the thrown value itself, so the run always ends (never hangs on an odd value)."""
    deferred = _pending.pop(invocation, None)
    if deferred is None:
        if ok and type(description) is str:
            release_ref(invocation)  # a flat event nobody waits for any more
        return
    # What the engine says about the value (a bad event) speaks JS, as for a sync step.
    token = message_language.set("js")
    try:
        _settle_deferred(deferred, invocation, value, ok, description)
    finally:
        message_language.reset(token)


def _settle_deferred(deferred: Deferred, invocation: int, value: Any, ok: bool, description: Any) -> None:
    if ok:
        if type(description) is str:  # a flat event's type, kept under `invocation` (see callStep)
            deferred.resolve(LazyJsEvent(invocation, description))
            return
        try:
            deferred.resolve(event_from_js(value))
        except Exception as exc:
            deferred.reject(exc)
        return
    text = description if isinstance(description, str) else "a non-Error value was thrown"
    deferred.reject(JsStepError(text, value))


def _register_context(ctx: Context) -> int:
    ctx_id = next(_ids)
    _contexts[ctx_id] = ctx
    _context_ids[ctx] = ctx_id
    run = cast(Run, ctx.run)  # a context's run is the dispatcher that made it
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
    stale = [i for i, d in _pending.items() if d.run is None or d.run is run]
    for invocation in stale:
        del _pending[invocation]


def _ctx(ctx_id: int) -> Context:
    ctx = _contexts.get(ctx_id)
    if ctx is None:
        raise WorkflowError("this ctx belongs to a run that has ended")
    return ctx


# -- exported to blazen.js -----------------------------------------------------------------


@export
def workflow_new(name: str, timeout: Any, policy: str) -> int:
    """Create a Python Workflow for a JS one; returns its id."""
    seconds = from_js(timeout)
    wf = Workflow(name, timeout=None if seconds is None else float(seconds), session_pause_policy=policy)
    wf_id = next(_ids)
    _workflows[wf_id] = wf
    return wf_id


@export
def workflow_drop(wf_id: int) -> None:
    """Forget a workflow (its JS object was garbage-collected)."""
    _workflows.pop(wf_id, None)


@export
def workflow_add_step(wf_id: int, name: str, accepts: Any, fn: Any, options: Any) -> None:
    """Add a JS step."""
    opts = from_js(options) or {}
    pure = opts.get("pure")
    if pure is not None and not isinstance(pure, bool):
        raise WorkflowDefinitionError(f"step {name!r}: pure must be true or false, got {js_kind(pure)}")
    _workflows[wf_id].add_step(
        name,
        list(from_js(accepts)) if isinstance(accepts, JsProxy) else accepts,
        _pure_js_step(name, fn) if pure else _js_step(fn),
        emits=opts.get("emits"),
        timeout=opts.get("timeout"),
        max_concurrency=opts.get("maxConcurrency"),
        retry=_retry_policy(opts.get("retry")),
    )


_RETRY_OPTIONS = {
    "maxAttempts": "max_attempts",
    "initialDelay": "initial_delay",
    "maxDelay": "max_delay",
    "backoff": "backoff",
    "jitter": "jitter",
    "retryOn": "retry_on",
}


def _retry_policy(options: Any) -> RetryPolicy | None:
    """A JS ``{maxAttempts, initialDelay, maxDelay, backoff, jitter, retryOn}`` as a policy;
    ``retryOn`` is a list of error names or a predicate called with the JS error."""
    if options is None or options is jsnull:
        return None
    if not isinstance(options, dict):
        raise WorkflowDefinitionError(f"retry must be an object of options or null, got {js_kind(options)}")
    unknown = [k for k in options if k not in _RETRY_OPTIONS]
    if unknown:
        raise WorkflowDefinitionError(
            f"unknown retry option(s) {unknown!r}; the options are {', '.join(_RETRY_OPTIONS)}"
        )
    kwargs = {_RETRY_OPTIONS[k]: v for k, v in options.items() if v is not None and v is not jsnull}
    retry_on = kwargs.get("retry_on")
    if isinstance(retry_on, JsProxy):
        if retry_on.typeof != "function":
            raise WorkflowDefinitionError("retryOn must be a list of error names or a function")
        kwargs["retry_on"] = _js_predicate(retry_on)
    elif isinstance(retry_on, list) and not all(isinstance(n, str) and n for n in retry_on):
        raise WorkflowDefinitionError(f"retryOn must list error names (strings), got {retry_on!r}")
    elif retry_on is not None and not isinstance(retry_on, list):
        raise WorkflowDefinitionError(
            f"retryOn must be a list of error names or a function, got {retry_on!r}"
        )
    for key in ("max_attempts",):  # JS numbers come as floats when they have a fraction
        value = kwargs.get(key)
        if isinstance(value, float) and value.is_integer():
            kwargs[key] = int(value)
    try:
        return RetryPolicy(**kwargs)
    except WorkflowDefinitionError as exc:
        raise WorkflowDefinitionError(str(exc).replace("retry max_attempts", "retry maxAttempts")) from None


def _js_predicate(fn: Any) -> Callable[[BaseException], bool]:
    def retry_on(error: BaseException) -> bool:
        if isinstance(error, JsStepError) and isinstance(error.js_error, JsProxy):
            return bool(fn(error.js_error))
        return bool(fn(describe_error(error)))  # a Python error (a timeout): {name, message, ...}

    return retry_on


@export
def workflow_set_retry_policy(wf_id: int, options: Any) -> None:
    """``wf.setRetryPolicy(options)`` (``null`` removes it)."""
    _workflows[wf_id].set_retry_policy(_retry_policy(from_js(options)))


@export
def workflow_add_subworkflow_step(wf_id: int, name: str, accepts: Any, child_id: int, *fns: Any) -> None:
    """``wf.addSubworkflowStep(name, accepts, child, {input, output, timeout})``: ``fns``
    are the input and output JS functions (or null) and the other options."""
    input_fn, output_fn, options = fns
    opts = from_js(options) or {}
    child = _workflows.get(child_id)
    if child is None:
        raise TypeError("addSubworkflowStep: child must be a Workflow of this page")

    def map_in(event: Any) -> Any:
        return from_js(input_fn(event_to_js(event)))

    def map_out(result: WorkflowResult, event: Any) -> Any:
        return event_from_js(output_fn(_result_to_js(result), event_to_js(event)))

    _workflows[wf_id].add_subworkflow_step(
        name,
        list(from_js(accepts)) if isinstance(accepts, JsProxy) else accepts,
        child,
        input=None if input_fn is None or input_fn is jsnull else map_in,
        output=None if output_fn is None or output_fn is jsnull else map_out,
        timeout=opts.get("timeout"),
    )


@export
def workflow_add_map_step(wf_id: int, name: str, accepts: Any, child_id: int, *fns: Any) -> None:
    """``wf.addMapStep(name, accepts, child, {items, output, concurrency})``: ``fns`` are
    the items and output JS functions (output may be null) and the other options."""
    items_fn, output_fn, options = fns
    opts = from_js(options) or {}
    child = _workflows.get(child_id)
    if child is None:
        raise TypeError("addMapStep: child must be a Workflow of this page")
    if not isinstance(items_fn, JsProxy):
        raise TypeError("addMapStep: options.items must be a function (event) => array")

    def items(event: Any) -> Any:
        values = from_js(items_fn(event_to_js(event)))
        if not isinstance(values, list):
            raise TypeError(f"addMapStep {name!r}: items() must return an array, got {js_kind(values)}")
        return values

    def map_out(results: list[WorkflowResult], event: Any) -> Any:
        converted = to_js([_result_to_js(r) for r in results], create_pyproxies=False)
        return event_from_js(output_fn(converted, event_to_js(event)))

    _workflows[wf_id].add_map_step(
        name,
        list(from_js(accepts)) if isinstance(accepts, JsProxy) else accepts,
        child,
        items=items,
        output=None if output_fn is None or output_fn is jsnull else map_out,
        concurrency=opts.get("concurrency", 8),
    )


@export
def workflow_add_parallel_subworkflows(
    wf_id: int, name: str, accepts: Any, child_ids: Any, *fns: Any
) -> None:
    """``wf.addParallelSubworkflows(name, accepts, children, {input, output, join, timeout})``:
    ``child_ids`` are the children's ids (null where an entry is not a Workflow of this
    page), ``fns`` the input and output JS functions (or null) and the other options."""
    input_fn, output_fn, options = fns
    opts = from_js(options) or {}
    ids = from_js(child_ids)
    children = [_workflows.get(i) if isinstance(i, int) else None for i in ids]
    for i, child in enumerate(children):
        if child is None:
            raise TypeError(f"addParallelSubworkflows: children[{i}] must be a Workflow of this page")
    join = opts.get("join", "all")

    def map_in(event: Any) -> Any:
        return from_js(input_fn(event_to_js(event)))

    def map_out(results: Any, event: Any) -> Any:
        if isinstance(results, list):
            converted = to_js([_result_to_js(r) for r in results], create_pyproxies=False)
        else:
            converted = _result_to_js(results)
        return event_from_js(output_fn(converted, event_to_js(event)))

    _workflows[wf_id].add_parallel_subworkflows(
        name,
        list(from_js(accepts)) if isinstance(accepts, JsProxy) else accepts,
        children,  # type: ignore[arg-type]
        input=None if input_fn is None or input_fn is jsnull else map_in,
        output=None if output_fn is None or output_fn is jsnull else map_out,
        join=join,
        timeout=opts.get("timeout"),
    )


@export
def workflow_set_timeout(wf_id: int, seconds: Any) -> None:
    """``wf.setTimeout``."""
    value = from_js(seconds)
    _workflows[wf_id].set_timeout(None if value is None else value)


@export
def workflow_set_policy(wf_id: int, policy: str) -> None:
    """``wf.setSessionPausePolicy``."""
    _workflows[wf_id].set_session_pause_policy(policy)


@export
def workflow_register_ref(wf_id: int, tag: str, match: Any, serialize: Any) -> None:
    """``wf.registerSerializableRef``: ``match`` and ``serialize`` are JS functions."""

    def to_bytes(value: Any) -> bytes:
        out = serialize(value)
        if isinstance(out, JsProxy):
            return bytes(out.to_bytes())  # type: ignore[attr-defined,unused-ignore]
        return bytes(out)

    _workflows[wf_id].register_serializable_ref(tag, lambda v: bool(match(v)), to_bytes)


@export
def workflow_validate(wf_id: int) -> Any:
    """``wf.validate()``: a list of problem descriptions."""
    problems = [
        {
            "kind": p.kind,
            "message": p.message,
            "step": p.step,
            "eventType": p.event_type,
            "steps": list(p.steps),
        }
        for p in _workflows[wf_id].validate()
    ]
    return data_to_js(problems)


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
    """``{data, runId, type, event}``: the StopEvent's result, the run id, and the StopEvent."""
    event = result.event
    if type(event) is LazyJsEvent:
        # the very JS value of its result (null when it has none), as for a JsEvent
        data, stop = (event.js.result if "result" in event else None), event.js
    elif type(event) is JsEvent:
        # a StopEvent without a result: null, as in Python (a missing JS property would raise)
        data, stop = (event.js.result if "result" in event else None), event.js
    else:
        data, stop = to_js_value(result.data), event_to_js(event)
    return data_to_js({"data": data, "runId": result.run_id, "type": event["type"], "event": stop})


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


def _allow_definition_change(options: Any) -> bool:
    """The ``{allowDefinitionChange: true}`` option of resume / resumeCheckpoint."""
    given = from_js(options)
    return isinstance(given, dict) and given.get("allowDefinitionChange") is True


def _wait(options: Any) -> float:
    """The ``{wait: seconds | true}`` option of ``resumeCheckpoint`` (true: no limit)."""
    given = from_js(options)
    wait = given.get("wait", 0) if isinstance(given, dict) else 0
    if wait is True:
        return math.inf
    if wait is None or wait is False:
        return 0.0
    if isinstance(wait, (int, float)) and not isinstance(wait, bool):
        return float(wait)  # range checked by resume_checkpoint
    raise CheckpointError(f"wait must be a number of seconds or true, got {wait!r}")


def _spans(options: Any) -> bool:
    """The ``{spans: true}`` option: put step span items on the run's stream."""
    given = from_js(options)
    return isinstance(given, dict) and given.get("spans") is True


@export_async
def workflow_run(call_id: int, wf_id: int, input: Any, options: Any = None) -> None:
    """``await wf.run(input, {checkpoint})``."""
    wf = _workflows[wf_id]
    store = _checkpoint_store(options)
    if store is None:
        # Called from JS's own code, the run's first steps run now, not a loop turn later:
        # two JS tasks fewer per run in Chromium (a one-step run of pure steps then ends
        # within this call). Not below a step (a JS step starting a run), which must not
        # have another run's steps run inside it.
        _answer_when_done(call_id, wf.start(_input(input), now=_called_from_host()))
        return

    async def run() -> Any:
        return _result_to_js(await wf.run(_input(input), checkpoint=store))

    _answer(call_id, run())


@export_async
def workflow_run_streaming(call_id: int, wf_id: int, input: Any, callback: Any, options: Any = None) -> None:
    """``await wf.runStreaming(input, callback, {spans})``: ``callback`` gets JS stream items."""
    wf = _workflows[wf_id]
    spans = _spans(options)

    async def run() -> Any:
        result = await wf.run_streaming(
            _input(input), lambda item: callback(stream_item_to_js(item)), spans=spans
        )
        return _result_to_js(result)

    _answer(call_id, run())


def _new_handler(handler: WorkflowHandler) -> int:
    handler_id = next(_ids)
    _handlers[handler_id] = handler
    return handler_id


@export_async
def workflow_run_with_handler(call_id: int, wf_id: int, input: Any, options: Any = None) -> None:
    """``await wf.runWithHandler(input, {checkpoint, spans})``: answers with a handler id."""
    wf = _workflows[wf_id]
    store = _checkpoint_store(options)
    spans = _spans(options)

    async def run() -> Any:
        return _new_handler(await wf.run_with_handler(_input(input), checkpoint=store, spans=spans))

    _answer(call_id, run())


def _js_time(seconds: Any) -> int | None:
    """Seconds since the epoch (a snapshot's ``created_at``) as JS time: whole milliseconds,
    so ``new Date(createdAt)`` is right; null when the stored value is not a time."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return None
    return round(seconds * 1000)


@export_async
def workflow_checkpoints(call_id: int, wf_id: int, options: Any) -> None:
    """``await wf.unfinishedRuns({checkpoint})``: this workflow's saved durable runs."""
    wf = _workflows[wf_id]
    store = _checkpoint_store(options) or _checkpoint_store({"checkpoint": "indexeddb"})

    async def run() -> Any:
        bad: list[dict[str, Any]] = []
        found = await wf.checkpoints(store, on_bad=lambda error: bad.append(error_fields(error)))
        runs = [
            {"runId": c["run_id"], "createdAt": _js_time(c["created_at"]), "status": c["status"]}
            for c in found
        ]
        return data_to_js({"runs": runs, "bad": bad})

    _answer(call_id, run())


@export_async
def workflow_resume_checkpoint(call_id: int, wf_id: int, run_id: str, options: Any) -> None:
    """``await wf.resumeCheckpoint(runId, {checkpoint, spans, wait})``: answers with a handler id."""
    wf = _workflows[wf_id]
    store = _checkpoint_store(options) or _checkpoint_store({"checkpoint": "indexeddb"})
    spans = _spans(options)
    allow = _allow_definition_change(options)
    wait = _wait(options)

    async def run() -> Any:
        return _new_handler(
            await wf.resume_checkpoint(store, run_id, spans=spans, wait=wait, allow_definition_change=allow)
        )

    _answer(call_id, run())


@export_async
def workflow_resume(call_id: int, wf_id: int, snapshot: str, deserializers: Any, options: Any = None) -> None:
    """``wf.resume(snap)`` / ``resumeWithSerializableRefs(snap, {Tag: bytes => value}, {spans})``."""
    wf = _workflows[wf_id]
    spans = _spans(options)
    allow = _allow_definition_change(options)
    table: dict[str, Callable[[bytes], Any]] = {}
    if deserializers is not None and deserializers is not jsnull:
        for tag in js.Object.keys(deserializers):
            table[str(tag)] = _deserializer(getattr(deserializers, tag))

    async def run() -> Any:
        return _new_handler(
            await wf.resume_with_serializable_refs(
                snapshot, table, spans=spans, allow_definition_change=allow
            )
        )

    _answer(call_id, run())


def _deserializer(fn: Any) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        return fn(to_js(data))

    return deserialize


@export
def handler_drop(handler_id: int) -> None:
    """Forget a handler (its JS object was garbage-collected)."""
    _handlers.pop(handler_id, None)


@export
def handler_info(handler_id: int) -> Any:
    """Run id, workflow name and status of a handler."""
    h = _handlers[handler_id]
    return to_js(
        {"runId": h.run_id, "workflowName": h.workflow_name, "status": h.status}, dict_converter=_from_entries
    )


@export_async
def handler_result(call_id: int, handler_id: int) -> None:
    """``await handler.result()``."""
    h = _handlers[handler_id]
    if not h.durable:  # a durable run's result waits for its checkpoint's deletion
        _answer_when_done(call_id, h.run)
        return

    async def run() -> Any:
        return _result_to_js(await h.result())

    _answer(call_id, run())


@export_async
def handler_stream(call_id: int, handler_id: int, callback: Any) -> None:
    """``await handler.streamEvents(cb)``; an async ``cb`` is awaited item by item."""
    h = _handlers[handler_id]

    def deliver(item: StreamEvent) -> Any:
        out = callback(stream_item_to_js(item))
        return out if hasattr(out, "__await__") else None

    async def run() -> Any:
        await h.stream_events(deliver)
        return None

    _answer(call_id, run())


@export
def handler_respond(handler_id: int, request_id: str, response: Any) -> None:
    """``handler.respondToInput(requestId, response)``."""
    _handlers[handler_id].respond_to_input(request_id, from_js(response))


@export_async
def handler_snapshot(call_id: int, handler_id: int, metadata: Any) -> None:
    """``await handler.snapshot()``: answers with the snapshot's JSON text."""
    h = _handlers[handler_id]
    snap = h.snapshot(from_js(metadata))

    async def run() -> Any:
        return dumps(await snap)

    _answer(call_id, run())


@export_async
def handler_pause(call_id: int, handler_id: int, metadata: Any) -> None:
    """``await handler.pause()``: answers with the snapshot's JSON text."""
    paused = _handlers[handler_id].pause(from_js(metadata))

    async def run() -> Any:
        return dumps(await paused)

    _answer(call_id, run())


@export_async
def handler_resume_in_place(call_id: int, handler_id: int) -> None:
    """``await handler.resumeInPlace()``."""
    _answer(call_id, _handlers[handler_id].resume_in_place())


@export_async
def handler_discard_checkpoint(call_id: int, handler_id: int) -> None:
    """``handler.handOff()``, once the server has the run: its local checkpoint goes."""
    _answer(call_id, _handlers[handler_id].discard_checkpoint())


@export
def handler_abort(handler_id: int) -> None:
    """``handler.abort()``."""
    _handlers[handler_id].abort()


@export
def ctx_info(ctx_id: int) -> Any:
    """Run id and workflow name of a context, read once per JS ctx object."""
    ctx = _ctx(ctx_id)
    return to_js([ctx.run_id(), ctx.workflow_name, ctx.step_name])


def _acting(invocation: int) -> AbstractContextManager[None]:
    """Attribute state writes to JS step invocation ``invocation`` while its Promise is pending.

    (While a JS step runs synchronously, the engine already knows which one it is.)
    """
    deferred = _pending.get(invocation)
    return deferred.running() if deferred is not None else nullcontext()


@export
def ctx_set(ctx_id: int, invocation: int, key: str, text: str) -> None:
    """``ctx.set(key, value)`` for plain values: blazen.js checked the value and sends it
    as the state codec's JSON text (``Uint8Array`` as ``$bytes``, big integers as ``$int``),
    so no key or number depends on Pyodide's conversion."""
    try:
        data = decode_state_value(json.loads(text), path=key)
    except (ValueError, SnapshotError) as exc:
        raise StateError(f"state value at {key!r} cannot be stored: {exc}") from None
    ctx = _ctx(ctx_id)
    with _acting(invocation):
        ctx.set(key, data)


@export
def ctx_set_meta(ctx_id: int, invocation: int, key: str, meta_json: str) -> None:
    """Store the metadata entry of a BlazenState object decomposed by blazen.js."""
    ctx = _ctx(ctx_id)
    try:
        meta = json.loads(meta_json)
    except ValueError as exc:
        raise StateError(f"the BlazenState metadata of {key!r} is not JSON: {exc}") from None
    with _acting(invocation):
        ctx.set_object_meta(key, meta)


@export
def ctx_get(ctx_id: int, key: str) -> Any:
    """``ctx.get(key)``: ``'V'`` + JSON of the value, ``'M'`` + JSON of a BlazenState
    metadata entry, or ``None`` when missing."""
    found = _ctx(ctx_id).lookup(key)
    if found is None:
        return None
    is_object, value = found
    return ("M" if is_object else "V") + json_value(value)


@export
def ctx_set_bytes(ctx_id: int, invocation: int, key: str, data: Any) -> None:
    """``ctx.setBytes(key, data)``."""
    if not isinstance(data, JsProxy) or not hasattr(data, "to_bytes"):
        raise StateError(f"setBytes({key!r}) takes a Uint8Array, got {js_kind(data)}")
    ctx = _ctx(ctx_id)
    with _acting(invocation):
        ctx.set_bytes(key, data.to_bytes())


@export
def ctx_get_bytes(ctx_id: int, key: str) -> Any:
    """``ctx.getBytes(key)``: a ``Uint8Array`` or ``null``."""
    data = _ctx(ctx_id).get_bytes(key)
    return jsnull if data is None else to_js(data)


def _target_step(options: Any) -> Any:
    """The ``{step}`` option of ``sendEvent``: a step name, or None."""
    given = from_js(options)
    if given is None:
        return None
    if not isinstance(given, dict):
        raise TypeError(f"sendEvent options must be an object like {{step: 'name'}}, got {js_kind(options)}")
    return given.get("step")


@export
def ctx_send(ctx_id: int, invocation: int, event: Any, options: Any = None) -> None:
    """``ctx.sendEvent(event, {step})`` (held back until the attempt succeeds, under a retry policy)."""
    ctx = _ctx(ctx_id)
    step = _target_step(options)
    with _acting(invocation):
        ctx.send_event(_require_event(event), step=step)


@export
def handler_send(handler_id: int, event: Any, options: Any = None) -> None:
    """``handler.sendEvent(event, {step})``: an event from outside the run."""
    _handlers[handler_id].send_event(_require_event(event), step=_target_step(options))


@export
def ctx_collect(ctx_id: int, invocation: int, event: Any, expected: Any) -> Any:
    """``ctx.collectEvents(event, types)``: the listed events (JS objects) or ``null``."""
    ctx = _ctx(ctx_id)
    types = from_js(expected)
    with _acting(invocation):
        taken = ctx.collect_events(_require_event(event), types)
    if taken is None:
        return jsnull
    return to_js([event_to_js(e) for e in taken], create_pyproxies=False)


@export
def ctx_signal(ctx_id: int) -> None:
    """``ctx.signal``: the run's signal aborts the JS ``AbortSignal`` of this ctx id
    (blazen.js forgets the controller then; now when it has already fired)."""
    run = cast(Run, _ctx(ctx_id).run)
    run.signal.add_callback(lambda reason: _abort_signal(ctx_id, reason))


@export
def ctx_retry_info(ctx_id: int, invocation: int) -> Any:
    """``ctx.attempt`` / ``ctx.retryInfo()``: {attempt, maxAttempts, lastError, nextDelay}."""
    ctx = _ctx(ctx_id)
    with _acting(invocation):
        info = ctx.retry_info()
    return data_to_js(
        {
            "attempt": info["attempt"],
            "maxAttempts": info["max_attempts"],
            "lastError": info["last_error"],
            "nextDelay": info["next_delay"],
        }
    )


@export
def ctx_write(ctx_id: int, event: Any) -> None:
    """``ctx.writeEventToStream(event)``."""
    _ctx(ctx_id).write_event_to_stream(_require_event(event))


def _require_event(event: Any) -> Any:
    converted = event_from_js(event)
    if isinstance(converted, list):
        raise InvalidEventError("sendEvent takes one event, not an array")
    return converted if converted is not None else event


@export_async
def ctx_request_input(call_id: int, ctx_id: int, prompt: Any, metadata: Any) -> None:
    """``await ctx.requestInput(prompt, metadata)``."""
    ctx = _ctx(ctx_id)

    async def run() -> Any:
        return to_js_value(await ctx.request_input(from_js(prompt), from_js(metadata)))

    _answer(call_id, run())


@export_async
def ctx_wait_for_event(call_id: int, ctx_id: int, invocation: int, etype: Any, options: Any) -> None:
    """``await ctx.waitForEvent(type, {where, timeout})``: the event (its JS object)."""
    ctx = _ctx(ctx_id)
    given = from_js(options) or {}
    if not isinstance(given, dict):
        raise TypeError(f"waitForEvent options must be an object {{where, timeout}}, got {js_kind(options)}")
    with _acting(invocation):  # registered now, as this invocation's call
        waiting = ctx.wait_for_event(from_js(etype), where=given.get("where"), timeout=given.get("timeout"))

    async def run() -> Any:
        return event_to_js(await waiting)

    _answer(call_id, run())


@export_async
def ctx_sleep(call_id: int, ctx_id: int, invocation: int, seconds: Any) -> None:
    """``await ctx.sleep(seconds)``: a durable sleep."""
    ctx = _ctx(ctx_id)
    with _acting(invocation):
        sleeping = ctx.sleep(from_js(seconds))

    async def run() -> Any:
        await sleeping
        return None

    _answer(call_id, run())


@export
def session_set(ctx_id: int, key: str, value: Any) -> None:
    """``ctx.session.set(key, value)``: the JS value itself is kept (identity preserved)."""
    _ctx(ctx_id).session.set(key, value)


@export
def session_get(ctx_id: int, key: str) -> Any:
    """``ctx.session.get(key)``: the very JS value stored, or ``null``."""
    return to_js_value(_ctx(ctx_id).session.get(key))


@export
def session_has(ctx_id: int, key: str) -> bool:
    """``ctx.session.has(key)``."""
    return _ctx(ctx_id).session.has(key)


@export
def session_delete(ctx_id: int, key: str) -> None:
    """``ctx.session.delete(key)``."""
    _ctx(ctx_id).session.delete(key)


@export
def session_keys(ctx_id: int) -> Any:
    """``ctx.session.keys()``."""
    return to_js(_ctx(ctx_id).session.keys())


@export
def state_delete(ctx_id: int, invocation: int, key: str) -> None:
    """``ctx.state.delete(key)``."""
    ctx = _ctx(ctx_id)
    with _acting(invocation):
        ctx.state.delete(key)


@export
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


@export
def model_new(provider: str, options: Any) -> int:
    """``CompletionModel.openrouter/openai/openaiCompatible(options)``; returns a model id."""
    from .llm import CompletionModel
    from .llm._providers import PROVIDERS

    given = from_js(options) or {}
    unknown = sorted(set(given) - set(_MODEL_OPTIONS))
    if unknown:
        raise TypeError(f"unknown CompletionModel option(s): {', '.join(unknown)}")
    kwargs = {_MODEL_OPTIONS[k]: v for k, v in given.items() if v is not None}
    names = {row.js_name: row.name for row in PROVIDERS.values()}
    factory: Callable[..., Any] = getattr(CompletionModel, names[provider])
    model_id = next(_ids)
    _models[model_id] = factory(**kwargs)
    return model_id


@export
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
        "toolCalls": data["tool_calls"],
        "cost": data["cost"],
        "usage": None
        if usage is None
        else {
            "promptTokens": usage["prompt_tokens"],
            "completionTokens": usage["completion_tokens"],
            "totalTokens": usage["total_tokens"],
        },
    }
    return data_to_js(out)


@export_async
def model_complete(call_id: int, model_id: int, messages: Any, options: Any) -> None:
    """``await model.complete(messages, options)``."""
    model = _models[model_id]
    msgs, opts = from_js(messages), from_js(options)

    async def run() -> Any:
        return _response_to_js(await model.complete(msgs, opts))

    _answer(call_id, run())


@export_async
def model_stream(call_id: int, model_id: int, messages: Any, on_chunk: Any, options: Any) -> None:
    """``await model.stream(messages, onChunk, options)``: ``onChunk({delta, index})``."""
    model = _models[model_id]
    msgs, opts = from_js(messages), from_js(options)

    def deliver(chunk: Any) -> Any:
        out = on_chunk(data_to_js(chunk.to_dict()))
        return out if hasattr(out, "__await__") else None

    async def run() -> Any:
        return _response_to_js(await model.stream(msgs, deliver, opts))

    _answer(call_id, run())


# -- cassettes -------------------------------------------------------------------------------

_cassettes: dict[int, Any] = {}


@export
def cassette_new(text: Any) -> int:
    """``new Cassette()`` (``text`` null) or ``Cassette.fromJSON(data)`` (JSON text, checked)."""
    from .llm import Cassette

    tape = Cassette() if text is None or text is jsnull else Cassette.from_json(str(text))
    cassette_id = next(_ids)
    _cassettes[cassette_id] = tape
    return cassette_id


@export
def cassette_dump(cassette_id: int) -> str:
    """``cassette.toJSON()``: the cassette's JSON text."""
    return str(_cassettes[cassette_id].to_json())


@export
def cassette_drop(cassette_id: int) -> None:
    """Forget a cassette (its JS object was garbage-collected)."""
    _cassettes.pop(cassette_id, None)


@export
def model_record(model_id: int, cassette_id: int) -> int:
    """``CompletionModel.record(model, cassette)``: a new model id."""
    from .llm import CompletionModel

    recording = CompletionModel.record(_models[model_id], _cassettes[cassette_id])
    model_id = next(_ids)
    _models[model_id] = recording
    return model_id


@export
def model_replay(cassette_id: int) -> int:
    """``CompletionModel.replay(cassette)``: a new model id."""
    from .llm import CompletionModel

    replaying = CompletionModel.replay(_cassettes[cassette_id])
    model_id = next(_ids)
    _models[model_id] = replaying
    return model_id


# -- agents ----------------------------------------------------------------------------------

_AGENT_OPTIONS = {
    "toolConcurrency": "tool_concurrency",
    "maxIterations": "max_iterations",
    "systemPrompt": "system_prompt",
    "temperature": "temperature",
    "maxTokens": "max_tokens",
    "addFinishTool": "add_finish_tool",
    "options": "options",
}
_AGENT_CALLBACKS = ("onChunk", "onEvent", "approve")
_MAX_TOOL_JSON = 4 * 1024 * 1024  # characters of a JS tool's result, as JSON text


def _awaited(value: Any) -> Any:
    """``value``, awaited when it is a JS Promise (or a Python awaitable)."""

    async def wait() -> Any:
        return await value

    return wait() if hasattr(value, "then") or hasattr(value, "__await__") else None


def _js_tools(specs: Any, call_tool: Any, needs: Any) -> list[Any]:
    """The Python tools of a JS ``runAgent``: each handler calls ``callTool(index, json)``,
    which answers ``{ok, json}`` or ``{ok: false, error}`` (the JS value crosses as JSON
    text, so nothing live reaches Python)."""
    from .agent import Tool
    from .agent._tools import ToolFailure

    tools = []
    for index, spec in enumerate(from_js(specs) or []):
        if not isinstance(spec, dict):
            raise TypeError("each tool must be an object {name, description, parameters, handler}")

        async def handler(arguments: dict[str, Any], index: int = index) -> Any:
            out = from_js(await call_tool(index, json.dumps(arguments)))
            if not isinstance(out, dict) or out.get("ok") is not True:
                error = out.get("error") if isinstance(out, dict) else None
                raise ToolFailure(str(error) if error is not None else "the handler failed")
            text = out.get("json")
            if not isinstance(text, str) or len(text) > _MAX_TOOL_JSON:
                raise ToolFailure(f"the handler's result is not JSON of at most {_MAX_TOOL_JSON} characters")
            return json.loads(text)

        async def predicate(arguments: dict[str, Any], index: int = index) -> bool:
            verdict = needs(index, json.dumps(arguments))
            waiting = _awaited(verdict)
            return bool(from_js(await waiting if waiting is not None else verdict))

        rule = spec.get("needsApproval", False)
        tools.append(
            Tool(
                spec.get("name"),  # type: ignore[arg-type]
                spec.get("description", ""),
                spec.get("parameters"),
                handler,
                needs_approval=predicate if rule == "predicate" else rule is True,
            )
        )
    return tools


def _agent_options(options: Any, *, durable: bool) -> dict[str, Any]:
    given = from_js(options) or {}
    if not isinstance(given, dict):
        raise TypeError("runAgent options must be an object")
    allowed = set(_AGENT_OPTIONS) | ({"onChunk"} if durable else set(_AGENT_CALLBACKS))
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise TypeError(f"unknown runAgent option(s): {', '.join(unknown)}")
    out = {_AGENT_OPTIONS[k]: v for k, v in given.items() if k in _AGENT_OPTIONS and v is not None}
    on_chunk, on_event, approve = (given.get(k) for k in _AGENT_CALLBACKS)
    if on_chunk is not None:

        def deliver(chunk: Any) -> Any:
            return _awaited(on_chunk(data_to_js(chunk.to_dict())))

        out["on_chunk"] = deliver
    if on_event is not None:
        out["on_event"] = lambda fields: on_event(data_to_js(fields))
    if approve is not None:

        async def decide(name: str, arguments: dict[str, Any]) -> Any:
            verdict = approve(name, data_to_js(arguments))
            waiting = _awaited(verdict)
            return from_js(await waiting if waiting is not None else verdict)

        out["approve"] = decide
    return out


def _agent_result_to_js(result: Any) -> Any:
    usage = result.total_usage
    return data_to_js(
        {
            "content": result.content,
            "messages": result.messages,
            "iterations": result.iterations,
            "totalUsage": None
            if usage is None
            else {
                "promptTokens": usage["prompt_tokens"],
                "completionTokens": usage["completion_tokens"],
                "totalTokens": usage["total_tokens"],
            },
            "totalCost": result.total_cost,
            "toolResults": result.tool_results,
            "finishReason": result.finish_reason,
        }
    )


@export_async
def agent_run(
    call_id: int, model_id: int, messages: Any, specs: Any, call_tool: Any, needs: Any, options: Any
) -> None:
    """``await runAgent(model, messages, tools, options)``."""
    from .agent import run_agent

    model = _models[model_id]
    msgs = from_js(messages)
    tools = _js_tools(specs, call_tool, needs)
    opts = _agent_options(options, durable=False)

    async def run() -> Any:
        return _agent_result_to_js(await run_agent(model, msgs, tools, **opts))

    _answer(call_id, run())


@export_async
def ctx_run_agent(
    call_id: int,
    ctx_id: int,
    invocation: int,
    model_id: int,
    messages: Any,
    specs: Any,
    call_tool: Any,
    needs: Any,
    options: Any,
) -> None:
    """``await ctx.runAgent(model, messages, tools, options)``: durable (see Context.run_agent)."""
    ctx = _ctx(ctx_id)
    model = _models[model_id]
    msgs = from_js(messages)
    tools = _js_tools(specs, call_tool, needs)
    opts = _agent_options(options, durable=True)
    with _acting(invocation):  # the invocation that asks is noted at the call
        running = ctx.run_agent(model, msgs, tools, **opts)

    async def run() -> Any:
        return _agent_result_to_js(await running)

    _answer(call_id, run())


@export_async
def agent_extract(call_id: int, model_id: int, messages: Any, schema: Any, options: Any) -> None:
    """``await extract(model, messages, schema, {maxAttempts, systemPrompt, ...})``."""
    from .agent import extract

    model = _models[model_id]
    msgs, given = from_js(messages), from_js(options) or {}
    names = {"maxAttempts": "max_attempts", "systemPrompt": "system_prompt"}
    names |= {"temperature": "temperature", "maxTokens": "max_tokens"}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise TypeError(f"unknown extract option(s): {', '.join(unknown)}")
    opts = {names[k]: v for k, v in given.items() if v is not None}
    shape = from_js(schema)

    async def run() -> Any:
        return data_to_js(await extract(model, msgs, shape, **opts))

    _answer(call_id, run())


@export
def call_cancel(pending: int) -> None:
    """An ``AbortSignal`` given to a model call fired: cancel the pending async call of
    that id (its Task; the fetch it awaits is aborted)."""
    task = _calls.pop(pending, None)
    if task is not None:
        task.cancel()


@export
def set_env(env: Any) -> None:
    """``init({env})``: make the values visible to Python as ``os.environ``."""
    import os

    for key, value in (from_js(env) or {}).items():
        os.environ[str(key)] = str(value)


@export
def install_fast_loop() -> bool:
    """``init({fastLoop: true})``: the page's asyncio callbacks from one ready queue
    (``blazen_py.install_fast_loop``); ``False`` when it was installed already."""
    from ._compat import install_fast_loop as install_it

    return install_it()


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
    global _call_step, _resolve_call, _reject_call, _exported, _abort_signal, _helpers, _call_pure
    if _exported is None:
        _fresh_random_state()
    _call_step = helpers.callStep
    _call_pure = helpers.callPure
    _helpers = helpers
    helpers.lazy = _lazy_events
    set_event_json(helpers.eventJson)
    set_lazy_table(helpers.lazyEvent, helpers.releaseEvents)
    _abort_signal = helpers.abortSignal
    _resolve_call = helpers.resolveCall
    _reject_call = helpers.rejectCall
    if _exported is None:
        table = {name: create_proxy(_remember(fn)) for name, (_, fn) in EXPORTS.items()}
        table["take_last_error"] = create_proxy(take_last_error)
        table["settle"] = create_proxy(_settle)
        _exported = to_js(table, dict_converter=_from_entries)
    return _exported
