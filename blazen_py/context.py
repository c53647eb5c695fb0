"""The context a step receives: state, session, events, run identity.

One :class:`Context` exists per step per run; all of its methods are synchronous except
:meth:`Context.request_input`. State (``set``/``get``, ``ctx.state``) holds persistable
StateValues and goes into snapshots; the session (``ctx.session``) holds live objects,
keeps their identity, and never goes into a snapshot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Protocol

from .agent import AgentResult
from .agent._record import run_durable
from .blazen_state import (
    MAX_NESTING,
    META_SUFFIX,
    FieldStore,
    check_meta,
    decompose,
    is_blazen_state,
    reassemble,
)
from .cancel import CancelSignal
from .collect import Collected
from .errors import InvalidEventError, StateError, WorkflowError
from .events import event_type_of, kind, shown
from .state import MAX_INT_BITS, StateValue, bad_number, check_int, copy_state_value
from .waiters import Waiters

__all__ = ["Context", "RetryingContext", "RunAccess", "SessionNamespace", "StateNamespace"]

_SCALARS = (str, int, bool, type(None))
_DECOMPOSING: set[int] = set()
_BINARY = (bytes, bytearray, memoryview)


class RunAccess(Protocol):
    """What a context uses of its run (:class:`blazen_py.runtime.Run` provides it).

    Declared here so that this module sits below the dispatcher, which creates contexts.
    """

    run_id: str
    workflow_name: str
    state: dict[str, Any]
    session: dict[str, Any]
    has_meta: bool
    current: int
    collected: Collected
    waiters: Waiters
    signal: CancelSignal

    def record(self, key: str) -> None: ...

    def produce(self, event: Mapping[str, Any], producer: str | None) -> None: ...

    def publish(self, etype: str, event: Mapping[str, Any]) -> None: ...

    def send_to(self, name: object, event: Mapping[str, Any], producer: str | None) -> None: ...

    def withhold(self, event: Mapping[str, Any], producer: str | None, target: object = None) -> None: ...

    def attempt_of(self, inv: int) -> int: ...

    def retry_info(self, step: str | None) -> dict[str, Any]: ...

    async def request_input(
        self, prompt: Any, metadata: Mapping[str, Any] | None, step: str | None
    ) -> Any: ...

    journal: Mapping[int, Any]

    def record_for(self, inv: int, key: str) -> None: ...

    def checkpoint_now(self) -> None: ...

    async def wait_bound(self, request_id: str, prompt: Any, metadata: Any, step: str | None) -> Any: ...


class Context:
    """What a step sees of its run. Created by the engine, one per step per run."""

    __slots__ = ("_run", "_session_ns", "_state_ns", "_step")

    def __init__(self, run: RunAccess, step: str | None) -> None:
        self._run = run
        self._step = step
        self._state_ns: StateNamespace | None = None
        self._session_ns: SessionNamespace | None = None

    # -- state ---------------------------------------------------------------------------

    def set(self, key: str, value: object) -> None:
        """Store a StateValue (``bytes`` stored as binary; BlazenState objects decomposed).

        Raises:
            StateError: ``value`` cannot be persisted (keep live objects in ``session``).
        """
        run = self._run
        state = run.state
        if type(key) is not str:
            raise StateError(f"state keys are strings, got {shown(key)}")
        if key.endswith(META_SUFFIX):
            raise StateError(
                f"state key {key!r} ends with {META_SUFFIX!r}, which the BlazenState protocol reserves"
            )
        if run.current:  # inside a step: journal the old values (see Run.committed_state)
            run.record(key)
            if run.has_meta:
                run.record(key + META_SUFFIX)
        if run.has_meta:
            state.pop(key + META_SUFFIX, None)
        cls = type(value)
        if cls in _SCALARS:
            if cls is int and value.bit_length() > MAX_INT_BITS:  # type: ignore[attr-defined]
                check_int(value, key)  # type: ignore[arg-type]
            state[key] = value
        elif is_blazen_state(value):
            self._store_object(key, value)
        else:
            state[key] = copy_state_value(value, key=key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value stored at ``key`` (a copy), or ``default`` when the key is
        missing or holds ``None`` (:meth:`StateNamespace.has` tells the two apart).

        Keys are flat: ``"user.name"`` is one key, not a path into ``"user"``
        (BlazenState objects keep their fields under ``{key}.{field}``).
        A BlazenState object is rebuilt from its fields and its ``restore`` method called.

        Raises:
            StateError: ``key`` is not a string.
        """
        if type(key) is not str:
            raise StateError(f"state keys are strings, got {shown(key)}")
        state = self._run.state
        if self._run.has_meta:
            meta = state.get(key + META_SUFFIX)
            if meta is not None:
                return reassemble(key, meta, self._plain, self._load_field, self._meta_at)
        return self._plain(key, default)

    def _plain(self, key: str, default: Any = None) -> Any:
        value = self._run.state.get(key)
        if value is None:
            return default
        if type(value) is list or type(value) is dict:
            return copy_state_value(value, key=key)
        return value

    def set_bytes(self, key: str, data: bytes | bytearray | memoryview) -> None:
        """Store binary data explicitly.

        Raises:
            StateError: ``data`` is not bytes-like.
        """
        if not isinstance(data, _BINARY):
            raise StateError(f"set_bytes({key!r}) takes bytes, got {kind(data)}")
        self.set(key, bytes(data))

    def get_bytes(self, key: str, default: bytes | None = None) -> bytes | None:
        """Return the binary data stored at ``key``, or ``default`` when missing (or None).

        Raises:
            StateError: ``key`` is not a string, or holds a value that is not binary.
        """
        if type(key) is not str:
            raise StateError(f"state keys are strings, got {shown(key)}")
        value = self._run.state.get(key)
        if value is None:
            return default
        if type(value) is bytes:
            return value
        raise StateError(f"state key {key!r} holds a {type(value).__name__}, not bytes")

    def _store_object(self, key: str, obj: object) -> None:
        # Objects being decomposed right now (a field may hold another BlazenState object):
        # a cycle would recurse forever, a chain deeper than get rebuilds is refused here.
        marker = id(obj)
        if marker in _DECOMPOSING:
            raise StateError(f"BlazenState object at {key!r} contains itself (a cycle)")
        if len(_DECOMPOSING) >= MAX_NESTING:
            raise StateError(f"BlazenState objects at {key!r} are nested more than {MAX_NESTING} deep")
        _DECOMPOSING.add(marker)
        try:
            fields, meta = decompose(key, obj)
            for field_key, value, store in fields:
                if store is not None:
                    store.save(field_key, value, self)
                else:
                    self.set(field_key, value)
            self.set_object_meta(key, meta)
        finally:
            _DECOMPOSING.discard(marker)

    def _load_field(self, store: FieldStore, field_key: str) -> Any:
        return store.load(field_key, self)

    def _meta_at(self, key: str) -> Any:
        return self._run.state.get(key + META_SUFFIX)

    def set_object_meta(self, key: str, meta: Mapping[str, Any]) -> None:
        """Record ``key`` as a decomposed object with metadata ``meta`` (its fields are
        already stored). A documented internal: the JS bridge decomposes JS objects itself.
        """
        class_key, fields = check_meta(key, dict(meta) if isinstance(meta, Mapping) else meta)
        run = self._run
        state = run.state
        if key in state:
            run.record(key)
            del state[key]
        meta_key = key + META_SUFFIX
        run.record(meta_key)
        run.has_meta = True
        state[meta_key] = {"class": class_key, "fields": list(fields)}

    def lookup(self, key: str) -> tuple[bool, Any] | None:
        """What is stored at ``key`` as the store holds it: ``(False, value)``, ``(True,
        metadata)`` for a decomposed object (validated: ``{"class", "fields"}`` only), or
        ``None`` when missing. No copy is made of a value. A documented internal, for
        bridges that rebuild values on their side.

        Raises:
            StateError: the key's metadata entry is malformed.
        """
        _check_key(key)
        state = self._run.state
        meta = state.get(key + META_SUFFIX)
        if meta is not None:
            class_key, fields = check_meta(key, meta)
            return True, {"class": class_key, "fields": fields}
        if key not in state:
            return None
        return False, state[key]

    @property
    def run(self) -> RunAccess:
        """The run this context belongs to (a documented internal, for bridges)."""
        return self._run

    @property
    def state(self) -> StateNamespace:
        """Persistable values: the same store as :meth:`set` / :meth:`get`."""
        ns = self._state_ns
        if ns is None:
            ns = self._state_ns = StateNamespace(self)
        return ns

    @property
    def session(self) -> SessionNamespace:
        """Live in-process objects: identity preserved, never persisted."""
        ns = self._session_ns
        if ns is None:
            ns = self._session_ns = SessionNamespace(self._run.session)
        return ns

    # -- events --------------------------------------------------------------------------

    def send_event(self, event: Mapping[str, Any], step: str | None = None) -> None:
        """Queue ``event`` for routing now, before whatever this step returns.

        With ``step``, deliver it to that step only (no other step accepting its type
        sees it). The targeted event is a step input at once: snapshots hold it.

        Raises:
            InvalidEventError: ``event`` is not a mapping with a string ``type``.
            UnknownStepError: the workflow has no step ``step``, or it does not accept the
                event's type (raised in the step, it fails the run with this error).
        """
        etype = event_type_of(event, step=self._step)
        _check_numbers(etype, event, self._step)
        if step is None:
            self._run.produce(event, self._step)
        else:
            self._run.send_to(step, event, self._step)

    def collect_events(
        self, event: Mapping[str, Any], expected: list[str] | tuple[str, ...]
    ) -> list[Any] | None:
        """Fan-in: buffer ``event`` until one event of each type in ``expected`` has
        arrived for this step, then return them in the listed order (else ``None``).

        List a type twice to wait for two of it. An event whose type is not listed is not
        buffered (``None``); an empty ``expected`` gives ``[]``. The buffer is run state:
        snapshots hold it and a resumed run continues it. Call it before the step's first
        ``await``: a step still unfinished at a snapshot runs again on resume, and what
        it buffered is left out of the snapshot so that it is not buffered twice.

        Example::

            from blazen_py import START_EVENT, STOP_EVENT, Workflow

            wf = Workflow("order")
            wf.add_step("ask", [START_EVENT], lambda e, ctx: [{"type": "Price", "eur": 3},
                                                              {"type": "Stock", "n": 4}])

            @wf.step(accepts=["Price", "Stock"])
            def join(event, ctx):
                both = ctx.collect_events(event, ["Price", "Stock"])
                if both is None:
                    return None  # wait for the other one
                price, stock = both
                return {"type": STOP_EVENT, "result": price["eur"] * stock["n"]}

            result = await wf.run({})
            assert result.data == 12

        Raises:
            InvalidEventError: ``event`` is not an event, or ``expected`` is not a list
                of event type strings.
        """
        run = self._run
        return run.collected.collect(run, self._step, event, expected)

    def wait_for_event(
        self, event_type: str, where: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> Awaitable[Any]:
        """Wait until an event of ``event_type`` (with the ``where`` fields equal) is
        produced by a step or sent from outside (``handler.send_event``); await it for the
        event. The waiter takes the event: no step gets it.

        Durable: a pause stops the waiting step and it runs again on resume (like a step
        waiting for input); an event sent while paused is kept for it, and the timeout is
        an absolute deadline, saved in snapshots, so the repeat waits only for the rest.
        Calls are matched to the repeat's calls by their order.

        Example (the step waits for an approval that comes from outside the run)::

            import asyncio

            from blazen_py import START_EVENT, STOP_EVENT, Workflow

            async def decide(event, ctx):
                approval = await ctx.wait_for_event("Approval", where={"id": 3}, timeout=60)
                return {"type": STOP_EVENT, "result": approval["ok"]}

            wf = Workflow("refund")
            wf.add_step("decide", [START_EVENT], decide)
            handler = await wf.run_with_handler({})
            await asyncio.sleep(0.05)  # (the step is waiting by now)
            handler.send_event({"type": "Approval", "id": 2, "ok": False})  # not this one
            handler.send_event({"type": "Approval", "id": 3, "ok": True})
            assert (await handler.result()).data is True

        Raises:
            InvalidEventError: a bad event type or ``where``.
            WorkflowDefinitionError: ``timeout`` is not a number of seconds >= 0.
            WaitTimeoutError: (when awaited) no such event came in time; not caught, it
                is the run's failure.
        """
        return self._run.waiters.wait(self._step, event_type, where, timeout)

    def sleep(self, seconds: float) -> Awaitable[None]:
        """A durable sleep: await it to wait ``seconds``. Its deadline is absolute and
        saved: a run resumed (in this process or another) 7 s into a 10 s sleep wakes
        about 3 s later. A pause stops the sleeping step; it runs again on resume.

        Raises:
            WorkflowDefinitionError: ``seconds`` is not a finite number >= 0.
        """
        return self._run.waiters.sleep(self._step, seconds)

    def write_event_to_stream(self, event: Mapping[str, Any]) -> None:
        """Put ``event`` on the run's stream without routing it to any step."""
        etype = event_type_of(event, step=self._step)
        _check_numbers(etype, event, self._step)
        self._run.publish(etype, event)

    async def request_input(self, prompt: str, metadata: Mapping[str, Any] | None = None) -> Any:
        """Ask the host for input and wait for :meth:`WorkflowHandler.respond_to_input`.

        Streams an ``InputRequested`` item with a ``request_id``. In-process only: after
        a snapshot and resume, the step runs again and asks again. For requests that
        survive a snapshot, return a ``blazen::InputRequestEvent`` instead.
        """
        return await self._run.request_input(prompt, metadata, self._step)

    @property
    def signal(self) -> CancelSignal:
        """The run's cancellation signal: fires when the run is aborted, times out, fails,
        or is ended by its first StopEvent. ``await ctx.signal`` gives the reason
        (``"aborted"``, ``"timeout"``, ``"failed"``, ``"stopped"``); ``ctx.signal.aborted``
        tells whether it fired; ``add_callback`` stops work the engine cannot cancel.
        """
        return self._run.signal

    def run_agent(
        self,
        model: Any,
        messages: Iterable[Any],
        tools: Iterable[Any] = (),
        **options: Any,
    ) -> Awaitable[AgentResult]:
        """Run a tool-calling agent durably (see :func:`blazen_py.agent.run_agent`).

        ``await ctx.run_agent(model, messages, tools, max_iterations=..., ...)`` takes
        the options of :func:`~blazen_py.agent.run_agent` but ``approve`` and
        ``on_event``. Each completed model turn and tool result is kept in the run, so a
        snapshot or checkpoint taken mid-agent, resumed anywhere, goes on after the last
        completed one: no completed model call or tool call runs again (the one under
        way does). Tools declared ``needs_approval`` wait for a durable input request
        (an ``InputRequested`` item whose metadata holds ``tool`` and ``arguments``;
        answer ``True``, ``False`` or ``{"approved": bool, "reason": text}``); a
        rejection is the tool's result for the model. Turns and tool calls appear on
        the run's stream (``blazen::AgentTurn``, ``blazen::ToolCall``,
        ``blazen::ToolResult``).

        Call it from the step's own code (it notes which invocation asks, at the call).

        Raises:
            WorkflowError: called outside a step invocation.
            MaxIterationsError: see :func:`~blazen_py.agent.run_agent`.
        """
        run = self._run
        inv = run.current
        if not inv:
            raise WorkflowError("ctx.run_agent must be called by a running step", step=self._step)
        return run_durable(run, inv, self._step, model, messages, tools, options)

    # -- retries -------------------------------------------------------------------------

    @property
    def attempt(self) -> int:
        """Which attempt of the running step invocation this is: 1, then 2, 3... as its
        retry policy tries it again (the count survives a snapshot and resume)."""
        run = self._run
        return run.attempt_of(run.current)

    def retry_info(self) -> dict[str, Any]:
        """The running invocation's retries: ``{"attempt", "max_attempts", "last_error"
        ({"name", "message"} of the previous attempt's error, or None), "next_delay"
        (seconds before another attempt if this one fails, before jitter; None when this
        is the last)}``."""
        return self._run.retry_info(self._step)

    # -- identity ------------------------------------------------------------------------

    def run_id(self) -> str:
        """Return the run's id (a UUID v4 string)."""
        return self._run.run_id

    @property
    def workflow_name(self) -> str:
        """The workflow's name."""
        return self._run.workflow_name

    @property
    def step_name(self) -> str | None:
        """The name of the step holding this context."""
        return self._step

    def __repr__(self) -> str:
        return f"<Context workflow={self.workflow_name!r} run={self._run.run_id} step={self._step!r}>"


class RetryingContext(Context):
    """The context of a step with a retry policy: events it sends are held back until
    its attempt succeeds (a failed attempt's events are dropped, as are its state writes)."""

    __slots__ = ()

    def send_event(self, event: Mapping[str, Any], step: str | None = None) -> None:
        """Queue ``event``, once this attempt has succeeded (see :meth:`Context.send_event`).

        Raises:
            InvalidEventError: ``event`` is not a mapping with a string ``type``.
            UnknownStepError: see :meth:`Context.send_event` (checked at the call).
        """
        etype = event_type_of(event, step=self._step)
        _check_numbers(etype, event, self._step)
        self._run.withhold(event, self._step, step)


class StateNamespace(MutableMapping[str, Any]):
    """``ctx.state``: persistable values, routed exactly like ``ctx.set`` / ``ctx.get``.

    Also a mapping: ``ctx.state["k"] = v``, ``ctx.state["k"]`` (``KeyError`` when
    missing), ``"k" in ctx.state``, ``del ctx.state["k"]``, ``len``, iteration over keys.
    """

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def set(self, key: str, value: StateValue) -> None:
        """Store a StateValue; see :meth:`Context.set`."""
        self._ctx.set(key, value)

    def get(self, key: str, default: Any = None) -> Any:
        """Return a stored value, or ``default``; see :meth:`Context.get`."""
        return self._ctx.get(key, default)

    def set_bytes(self, key: str, data: bytes | bytearray | memoryview) -> None:
        """Store binary data; see :meth:`Context.set_bytes`."""
        self._ctx.set_bytes(key, data)

    def get_bytes(self, key: str, default: bytes | None = None) -> bytes | None:
        """Return binary data, or ``default``; see :meth:`Context.get_bytes`."""
        return self._ctx.get_bytes(key, default)

    def delete(self, key: str) -> None:
        """Remove ``key`` (and a decomposed object's fields); missing keys are ignored."""
        _check_key(key)
        run = self._ctx._run
        state = run.state
        meta = state.get(key + META_SUFFIX)
        doomed = [key, key + META_SUFFIX]
        if meta is not None:
            try:
                _, fields = check_meta(key, meta)
            except StateError:
                fields = []  # malformed: drop the entry, touch no other key
            doomed += [f"{key}.{field}" for field in fields]
        for name in doomed:
            if name in state:
                run.record(name)
                del state[name]

    def has(self, key: str) -> bool:
        """Return whether ``key`` holds a value (``None`` included).

        Raises:
            StateError: ``key`` is not a string.
        """
        _check_key(key)
        state = self._ctx._run.state
        return key in state or key + META_SUFFIX in state

    def keys(self) -> list[str]:  # type: ignore[override]
        """Return the stored keys (decomposed objects appear as their fields' keys)."""
        return list(self._ctx._run.state)

    def __getitem__(self, key: str) -> Any:
        if not self.has(key):
            raise KeyError(key)
        return self._ctx.get(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._ctx.set(key, value)

    def __delitem__(self, key: str) -> None:
        if not self.has(key):
            raise KeyError(key)
        self.delete(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.has(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._ctx._run.state)


class SessionNamespace(MutableMapping[str, Any]):
    """``ctx.session``: live objects for this run, identity preserved, never persisted.

    Also a mapping, like :class:`StateNamespace`.
    """

    __slots__ = ("_map",)

    def __init__(self, session: dict[str, Any]) -> None:
        self._map = session

    def set(self, key: str, value: object) -> None:
        """Keep ``value`` (any object) under ``key``."""
        _check_key(key)
        self._map[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        """Return the very object stored under ``key``, or ``default`` when missing (or None)."""
        _check_key(key)
        value = self._map.get(key)
        return default if value is None else value

    def has(self, key: str) -> bool:
        """Return whether ``key`` holds a value."""
        _check_key(key)
        return key in self._map

    def delete(self, key: str) -> None:
        """Remove ``key``; missing keys are ignored."""
        _check_key(key)
        self._map.pop(key, None)

    def keys(self) -> list[str]:  # type: ignore[override]
        """Return the keys in insertion order."""
        return list(self._map)

    def __getitem__(self, key: str) -> Any:
        _check_key(key)
        return self._map[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        _check_key(key)
        del self._map[key]

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._map))

    def __len__(self) -> int:
        return len(self._map)


def _check_key(key: object) -> None:
    if type(key) is not str:
        raise StateError(f"state and session keys are strings, got {shown(key)}")


def _check_numbers(etype: str, event: Mapping[str, Any], step: str | None) -> None:
    bad = bad_number(event if type(event) is dict else dict(event))
    if bad is not None:
        raise InvalidEventError(
            f"step {step!r} sent a {etype!r} event whose field {bad.lstrip('.')}; events carry "
            "finite numbers and integers of at most 4300 digits, and no cycles",
            step=step,
            event_type=etype,
        )
