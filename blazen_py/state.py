"""StateValues: what persistable state may hold, and their JSON encoding.

A StateValue is ``None``, ``bool``, ``int``, a finite ``float``, ``str``, ``bytes``, a list
of StateValues, or a dict with string keys and StateValue values (the spec's
``type StateValue``). Tuples and ``bytearray``/``memoryview`` are accepted on the way in
and stored as lists and ``bytes``.

Numbers follow one rule everywhere (state, events, snapshots, both runtimes): integers
are exact, up to :data:`MAX_INT_DIGITS` decimal digits (more is refused, as Python's own
``int``/``str`` conversion limit would refuse it later); floats must be finite (NaN and
the infinities are refused: JSON has no form for them). In JS an integer is a ``number``
while it is a safe integer (``|n| <= 2**53 - 1``) and a ``BigInt`` beyond.

The JSON encoding, used by snapshots, is plain JSON except for three tagged forms, so that
it round-trips exactly, through any JSON reader (JS's included):

* ``bytes`` become ``{"$bytes": "<base64>"}``;
* an integer beyond the safe range becomes ``{"$int": "<decimal digits>"}``;
* a dict with a key starting with ``$`` is wrapped as ``{"$map": {...}}`` so that user
  data can never be mistaken for a tag.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from .errors import SnapshotError, StateError

__all__ = [
    "BYTES_TAG",
    "INT_TAG",
    "MAP_TAG",
    "MAX_INT_BITS",
    "MAX_INT_DIGITS",
    "MAX_SAFE_INT",
    "StateValue",
    "bad_number",
    "check_int",
    "copy_state_value",
    "decode_state_value",
    "encode_state_value",
]

BYTES_TAG = "$bytes"
"""Tag of encoded ``bytes``: ``{"$bytes": "<base64>"}``."""
MAP_TAG = "$map"
"""Tag of an encoded dict that has a key starting with ``$``: ``{"$map": {...}}``."""
INT_TAG = "$int"
"""Tag of an encoded integer beyond the safe range: ``{"$int": "<decimal digits>"}``."""
MAX_SAFE_INT = 2**53 - 1
"""The largest integer a JS ``number`` holds exactly (``Number.MAX_SAFE_INTEGER``)."""
MAX_INT_DIGITS = 4300
"""Most decimal digits of a storable integer (CPython's default conversion limit)."""
MAX_INT_BITS = int((MAX_INT_DIGITS - 1) * 3.3219)
"""Integers of at most this many bits surely have at most :data:`MAX_INT_DIGITS` digits."""

StateValue = Any
"""A value persistable state can hold: ``None``, ``bool``, ``int``, a finite ``float``,
``str``, ``bytes``, a list of StateValues, or a dict with string keys and StateValue values
(in JS: null, booleans, numbers, strings, ``Uint8Array``, arrays and plain objects of them).
Tuples and ``bytearray``/``memoryview`` are accepted on the way in and stored as lists and
``bytes``. Anything else (a set, an object, NaN) is refused with ``StateError``. Its type
hint is ``Any``: the check is made when the value is stored."""

_MAX_DEPTH = 200
_DIGITS = re.compile(rf"-?[0-9]{{1,{MAX_INT_DIGITS}}}")
_SCALARS = (str, int, bool, type(None))


def copy_state_value(value: object, *, key: str = "") -> StateValue:
    """Check that ``value`` is a StateValue and return an independent copy of it.

    Args:
        value: The value to store.
        key: The state key, named in the error message.

    Raises:
        StateError: ``value`` (or something nested in it) is not a StateValue.
    """
    return _copy(value, key, 0, set())


def _too_long(value: int) -> bool:
    try:
        return len(str(abs(value))) > MAX_INT_DIGITS
    except ValueError:  # over this interpreter's own conversion limit
        return True


def check_int(value: int, path: str) -> None:
    """Refuse an integer of more than :data:`MAX_INT_DIGITS` digits.

    Raises:
        StateError: it has more.
    """
    if value.bit_length() > MAX_INT_BITS and _too_long(value):
        raise StateError(
            f"state value at {path!r} is an integer of over {MAX_INT_DIGITS} digits, which cannot be stored"
        )


def bad_number(value: object) -> str | None:
    """What in ``value`` breaks the number rule (a NaN or infinite float, an integer of
    over :data:`MAX_INT_DIGITS` digits) or is cyclic, described with its path; ``None``
    when nothing does. Other values (even ones that are no StateValue) are not judged.

    Cheap on flat events: a type test per field (this runs for every event produced).
    """
    if type(value) is dict and flat_scalars(value):
        return None
    return _bad(value, "", 0, None)


def flat_scalars(event: dict[str, Any]) -> bool:
    """Whether every field of ``event`` is a scalar :func:`bad_number` accepts at a glance
    (a string, bool, None, small int or finite float): then it has nothing to report. The
    dispatcher's fast path calls it directly."""
    for item in event.values():
        cls = type(item)
        if cls is str or cls is bool or item is None:
            continue
        if cls is int and item.bit_length() <= MAX_INT_BITS:
            continue
        if cls is float and item - item == 0.0:  # false for NaN and the infinities
            continue
        return False  # a container, or something to look at closely
    return True


def _bad(value: Any, path: str, depth: int, seen: set[int] | None) -> str | None:
    cls = type(value)
    if cls is float:
        return None if math.isfinite(value) else f"{path or 'the event'} is {value!r}"
    if cls is int:
        if value.bit_length() > MAX_INT_BITS and _too_long(value):
            return f"{path or 'the event'} is an integer of over {MAX_INT_DIGITS} digits"
        return None
    if cls is dict or cls is list or cls is tuple or isinstance(value, (dict, list)):
        if seen is None:
            seen = set()
        marker = id(value)
        if marker in seen:
            return f"{path or 'the event'} is cyclic (it contains itself)"
        if depth > _MAX_DEPTH:
            return f"{path or 'the event'} is nested more than {_MAX_DEPTH} levels deep"
        seen.add(marker)
        if isinstance(value, dict):
            items: Any = value.items()
        else:
            items = enumerate(value)
        for k, v in items:
            if type(v) in _SCALARS and type(v) is not int:
                continue
            found = _bad(v, f"{path}.{k}" if isinstance(k, str) else f"{path}[{k}]", depth + 1, seen)
            if found is not None:
                return found
        seen.discard(marker)
    elif isinstance(value, float):
        return _bad(float(value), path, depth, seen)
    return None


def _copy(value: Any, path: str, depth: int, stack: set[int]) -> StateValue:
    cls = type(value)
    if cls in _SCALARS:
        if cls is int and value.bit_length() > MAX_INT_BITS:
            check_int(value, path)
        return value
    if isinstance(value, float) and cls is float:
        if not math.isfinite(value):
            raise StateError(f"state value at {path!r} is {value!r}: only finite numbers can be stored")
        return value
    if depth > _MAX_DEPTH:
        raise StateError(f"state value at {path!r} is nested more than {_MAX_DEPTH} levels deep")
    if cls is list or cls is tuple or cls is dict:
        marker = id(value)
        if marker in stack:
            raise StateError(f"state value at {path!r} is cyclic (it contains itself)")
        stack.add(marker)
        try:
            if cls is dict:
                out: dict[str, StateValue] = {}
                for k, v in value.items():
                    if type(k) is not str:
                        raise StateError(f"state value at {path!r} has a non-string key {k!r}")
                    out[k] = _copy(v, f"{path}.{k}", depth + 1, stack)
                return out
            return [_copy(item, f"{path}[{i}]", depth + 1, stack) for i, item in enumerate(value)]
        finally:
            stack.discard(marker)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (str, int, float)):  # subclasses (enums, numpy-free bools...)
        return _copy(_plain(value), path, depth, stack)
    if isinstance(value, (list, tuple)):
        return _copy(list(value), path, depth, stack)
    if isinstance(value, dict):
        return _copy(dict(value), path, depth, stack)
    raise StateError(
        f"state value at {path!r} is a {cls.__qualname__}, which cannot be persisted; "
        "store StateValues (None, bool, int, float, str, bytes, lists and dicts of them) in "
        "ctx.state, or keep live objects in ctx.session"
    )


def _plain(value: str | int | float) -> str | int | float:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str.__str__(value)  # not str(): an enum's __str__ adds its class name


def encode_state_value(value: StateValue, *, path: str = "") -> Any:
    """Encode a StateValue as JSON-compatible data (an unchecked one is checked first).

    Raises:
        StateError: something in ``value`` is no StateValue, breaks the number rule, or
            is nested too deep (a cycle).
    """
    return _encode(value, path, 0)


def _encode(value: StateValue, path: str, depth: int) -> Any:
    cls = type(value)
    if cls is int:
        if -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            return value
        check_int(value, path)
        return {INT_TAG: str(value)}
    if cls is str or cls is bool or value is None:
        return value
    if cls is float:
        if not math.isfinite(value):
            raise StateError(f"value at {path!r} is {value!r}: only finite numbers can be stored")
        return value
    if depth > _MAX_DEPTH:
        raise StateError(f"value at {path!r} is nested more than {_MAX_DEPTH} levels deep (or cyclic)")
    if cls is bytes:
        return {BYTES_TAG: base64.b64encode(value).decode("ascii")}
    if cls is list:
        return [_encode(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if cls is dict:
        body = {}
        for k, v in value.items():
            if type(k) is not str:
                raise StateError(f"value at {path!r} has a non-string key {k!r}")
            body[k] = _encode(v, f"{path}.{k}", depth + 1)
        if any(k.startswith("$") for k in body):
            return {MAP_TAG: body}
        return body
    # Not checked yet (e.g. an event payload): check and copy, then encode.
    return _encode(copy_state_value(value, key=path), path, depth)


def decode_state_value(data: Any, *, path: str = "$") -> StateValue:
    """Decode JSON data made by :func:`encode_state_value`.

    Raises:
        SnapshotError: ``data`` is not a valid encoding.
    """
    return _decode(data, path, 0)


def _decode(data: Any, path: str, depth: int) -> StateValue:
    cls = type(data)
    if cls in _SCALARS:
        if cls is int and data.bit_length() > MAX_INT_BITS and _too_long(data):
            raise SnapshotError(f"invalid number at {path}: an integer of over {MAX_INT_DIGITS} digits")
        return data
    if cls is float:
        if not math.isfinite(data):
            raise SnapshotError(f"invalid number at {path}: {data!r}")
        return data
    if depth > _MAX_DEPTH:
        raise SnapshotError(f"value at {path} is nested more than {_MAX_DEPTH} levels deep (or cyclic)")
    if cls is list:
        return [_decode(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(data)]
    if cls is not dict:
        raise SnapshotError(f"invalid value at {path}: {type(data).__name__} is not JSON data")
    tagged = [k for k in data if type(k) is str and k.startswith("$")]
    if not tagged:
        out = {}
        for k, v in data.items():
            if type(k) is not str:
                raise SnapshotError(f"invalid key at {path}: {k!r}")
            out[k] = _decode(v, f"{path}.{k}", depth + 1)
        return out
    if len(data) != 1:
        raise SnapshotError(f"invalid tagged value at {path}: keys {sorted(map(str, data))}")
    tag, body = next(iter(data.items()))
    if tag == BYTES_TAG:
        if type(body) is not str:
            raise SnapshotError(f"invalid $bytes at {path}: expected base64 text")
        try:
            return base64.b64decode(body.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise SnapshotError(f"invalid $bytes at {path}: {exc}") from None
    if tag == INT_TAG:
        if type(body) is not str or not _DIGITS.fullmatch(body):
            raise SnapshotError(f"invalid $int at {path}: expected decimal digits (at most {MAX_INT_DIGITS})")
        return int(body)
    if tag == MAP_TAG:
        if type(body) is not dict:
            raise SnapshotError(f"invalid $map at {path}: expected an object")
        out = {}
        for k, v in body.items():
            if type(k) is not str:
                raise SnapshotError(f"invalid key at {path}: {k!r}")
            out[k] = _decode(v, f"{path}.{k}", depth + 1)
        return out
    raise SnapshotError(f"unknown tag {tag!r} at {path}")
