"""Values across the JS boundary: JS values as Python data, Python data as JS values.

Pyodide's ``to_py``/``to_js`` do most of the work; this module fixes what they leave for
the engine: ``null`` (``jsnull``) becomes None and None becomes ``null`` (``to_js`` would
make it ``undefined``, which vanishes from JSON), typed arrays become ``bytes``, dicts
become plain objects (not ``Map``s), and an event that came from JS keeps its JS object as
a twin (:class:`JsEvent`), so a JS step downstream receives the very object.
Used by the bridge only (Pyodide only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import (  # type: ignore[import-not-found,attr-defined,unused-ignore]
    JsProxy,
    jsnull,
    to_js,
)

from .errors import InvalidEventError
from .events import INPUT_RESPONSE_EVENT, CheckedEvent
from .state import MAX_SAFE_INT, decode_state_value, encode_state_value
from .stream import StreamEvent

__all__ = [
    "JsEvent",
    "JsValue",
    "LazyJsEvent",
    "data_to_js",
    "event_from_js",
    "event_to_js",
    "flush_released",
    "from_js",
    "is_proxy",
    "js_kind",
    "json_value",
    "release_ref",
    "set_event_json",
    "set_lazy_table",
    "stream_item_to_js",
    "to_js_value",
]

_from_entries: Any = js.Object.fromEntries
_EDGE = 2**52  # below it, to_js makes numbers of ints (above MAX_SAFE_INT, BigInts)


class JsEvent(dict[str, Any]):
    """An event that came from JS: the Python mapping plus the JS object it was made from."""

    __slots__ = ("js",)

    js: Any


class LazyJsEvent(CheckedEvent):
    """An event a JS step returned, kept in blazen.js: converted only when read.

    blazen.js read its ``type`` once, checked that it is flat (its own values are strings,
    booleans, null or finite numbers) and keeps the object under the integer :attr:`ref`
    (``lazyEvents``), so the dispatcher routes it with no conversion and no JsProxy, and a
    JS step downstream receives the very object. The first read of a field (a Python step,
    the stream, a snapshot, the result) converts it whole, once; ``["type"]`` stays the
    type read at return. A JS step that mutates the object after returning it changes what
    a later first read sees (docs/js-api.md): do not.

    The object is kept while this event lives: dropping the event hands ``ref`` back to
    blazen.js (in batches, see :func:`release_ref`). A copy or pickle is a plain dict.
    """

    __slots__ = ("_fields", "ref")

    ref: int
    _fields: dict[str, Any] | None

    def __init__(self, ref: int, etype: str) -> None:
        self.ref = ref
        self.etype = etype
        self._fields = None

    def __del__(self) -> None:
        release_ref(self.ref)

    @property
    def js(self) -> Any:
        """The JS object (a JsProxy made on each read: the hot path never reads it)."""
        return _lazy_event(self.ref)

    def __reduce__(self) -> Any:
        # A copy holding the same ref would hand it back twice: copies are data.
        return (dict, (dict(self.fields()),))

    def fields(self) -> dict[str, Any]:
        """The event as Python data (converted on the first call)."""
        fields = self._fields
        if fields is None:
            converted = event_from_js(self.js)
            # The object passed blazen.js's flat check, so it converts to a mapping.
            fields = dict(converted) if isinstance(converted, Mapping) else {}
            fields["type"] = self.etype
            self._fields = fields
        return fields

    def __getitem__(self, key: str) -> Any:
        if key == "type":
            return self.etype
        return self.fields()[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key == "type":
            return self.etype
        return self.fields().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key == "type" or key in self.fields()

    def __iter__(self) -> Any:
        return iter(self.fields())

    def __len__(self) -> int:
        return len(self.fields())

    def __repr__(self) -> str:
        return repr(self.fields())


# blazen.js's lazyEvent(ref) and releaseEvents(refs) (set by set_lazy_table), and the refs
# of dropped LazyJsEvents not yet handed back: one call per _RELEASE_BATCH events.
_lazy_event: Any = None
_release_events: Any = None
_released: list[int] = []
_RELEASE_BATCH = 256


def set_lazy_table(lazy_event: Any, release_events: Any) -> None:
    """Keep blazen.js's accessors of the flat events it keeps (see :class:`LazyJsEvent`)."""
    global _lazy_event, _release_events
    _lazy_event, _release_events = lazy_event, release_events


def release_ref(ref: int) -> None:
    """Hand ``ref`` back to blazen.js: its object is no longer needed (batched)."""
    released = _released
    released.append(ref)
    if len(released) >= _RELEASE_BATCH:
        flush_released()


def flush_released() -> None:
    """Hand back every ref released since the last batch."""
    if not _released or _release_events is None:
        return
    refs = to_js(_released)
    _released.clear()
    _release_events(refs)


# isinstance(x, JsProxy) goes through Pyodide's __subclasscheck__ (a Python function); the
# answer depends only on the concrete type, so the hot paths remember it per type.
_PROXY_TYPES: set[type] = set()
_PLAIN_TYPES: set[type] = {str, int, float, bool, dict, list, tuple, bytes, memoryview, type(None)}


def is_proxy(value: Any) -> bool:
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


def js_kind(value: Any) -> str:
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
    if is_proxy(value):
        if value.typeof != "object":
            return value  # a function or symbol: kept as is
        return _clean(value.to_py())
    return None if value is jsnull else value


def event_from_js(value: Any) -> Any:
    """Convert what a JS step returned into events, keeping each JS object as a twin."""
    if value is None or value is jsnull:
        return None
    if not is_proxy(value):
        return value  # a primitive: the engine reports it as not an event
    py = value.to_py()
    if type(py) is dict:
        event = JsEvent(_clean(py))
        event.js = value
        return event
    if is_proxy(py) and _event_json is not None and py.typeof == "object":
        # A plain object Pyodide did not convert (an own `constructor` key): as JSON data.
        text = _event_json(value)
        if isinstance(text, str):
            decoded = decode_state_value(json.loads(text))
            if type(decoded) is dict:
                event = JsEvent(decoded)
                event.js = value
                return event
    if type(py) is list:
        return [_twin(item, value[i]) for i, item in enumerate(py)]  # type: ignore[index,unused-ignore]
    return JsValue(py) if is_proxy(py) else py


class JsValue:
    """A JS value that is no event (a function, a symbol, a Date...), as a step returned it.

    Wrapped so the engine reports it plainly (probing a JsProxy of a symbol throws).
    """

    __slots__ = ("_text",)

    def __init__(self, value: Any) -> None:
        self._text = f"{value.typeof} {js.String(value)}"

    def __repr__(self) -> str:
        return f"<JS {self._text}>"


_event_json: Any = None


def set_event_json(fn: Any) -> None:
    """Keep blazen.js's ``eventJson`` helper (see :func:`event_from_js`)."""
    global _event_json
    _event_json = fn


def _twin(item: Any, js_item: Any) -> Any:
    if type(item) is dict:
        event = JsEvent(_clean(item))
        event.js = js_item
        return event
    return JsValue(item) if is_proxy(item) else _clean(item)


def to_js_value(value: Any) -> Any:
    """Convert Python data to a JS value; None becomes ``null``, bytes a ``Uint8Array``."""
    if value is None:
        return jsnull
    cls = type(value)
    if cls is int and _EDGE < abs(value) <= MAX_SAFE_INT:
        return float(value)  # a number, as the rule says (to_js would make a BigInt)
    if cls is str or cls is int or cls is float or cls is bool or is_proxy(value):
        return value
    if cls is JsEvent or cls is LazyJsEvent:
        return value.js
    return data_to_js(value)


def _nulls(value: Any) -> Any:
    """Copy ``value`` for ``to_js``: None becomes ``null`` (``to_js`` would make it
    ``undefined``) and events that came from JS become their JS objects again."""
    cls = type(value)
    if value is None:
        return jsnull
    if cls is int and _EDGE < abs(value) <= MAX_SAFE_INT:
        return float(value)  # to_js makes a BigInt of ±(2**53 - 1): the rule says a number
    if cls is JsEvent or cls is LazyJsEvent:
        return value.js
    if cls is dict or cls is StreamEvent:
        return {k: _nulls(v) for k, v in value.items()}
    if cls is list or cls is tuple:
        return [_nulls(v) for v in value]
    return value


def data_to_js(value: Any) -> Any:
    """Python data as JS data: objects (not Maps), ``null``, ``Uint8Array``; live JS
    values pass through. A Python object with no JS form raises ``ConversionError``."""
    return to_js(_nulls(value), dict_converter=_from_entries, create_pyproxies=False)


def event_to_js(event: Mapping[str, Any]) -> Any:
    cls = type(event)
    if cls is LazyJsEvent or cls is JsEvent:
        return event.js  # type: ignore[attr-defined]
    if event.get("type") == INPUT_RESPONSE_EVENT:
        event = {
            "type": INPUT_RESPONSE_EVENT,
            "requestId": event["request_id"],
            "response": event["response"],
        }
    try:
        return data_to_js(event)
    except Exception as exc:
        raise InvalidEventError(
            f"event {event.get('type')!r} holds a value a JS step cannot receive: {exc}"
        ) from exc


_ENGINE_KEYS = {
    "event_type": "eventType",
    "request_id": "requestId",
    "error_type": "errorType",
    "active_steps": "activeSteps",
    "max_attempts": "maxAttempts",
    "error_name": "errorName",
}


def stream_item_to_js(item: StreamEvent) -> Any:
    """A stream item as the JS API shows it.

    An event keeps its own fields as they are, plus ``eventType`` (unless it has a field
    of that name); the engine's items (input requests, errors) name the engine's keys
    in JS style: ``eventType``, ``requestId``, ``errorType``, ``activeSteps``, and for
    retries ``maxAttempts``, ``errorName``.
    """
    event = item.event
    if event is None:
        fields = {_ENGINE_KEYS.get(k, k): v for k, v in item.items()}
        active = fields.get("activeSteps")
        if active:
            fields["activeSteps"] = [{"step": a["step"], "eventType": a["event_type"]} for a in active]
        return data_to_js(fields)
    fields = dict(event)
    fields.setdefault("eventType", item.event_type)
    return data_to_js(fields)


def json_value(value: Any) -> str:
    """StateValue as JSON text (bytes tagged), parsed by blazen.js's reviver."""
    return json.dumps(encode_state_value(value), separators=(",", ":"))
