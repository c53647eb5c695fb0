"""StateValues: what persistable state may hold, and their JSON encoding.

A StateValue is ``None``, ``bool``, ``int``, a finite ``float``, ``str``, ``bytes``, a list
of StateValues, or a dict with string keys and StateValue values (the spec's
``type StateValue``). Tuples and ``bytearray``/``memoryview`` are accepted on the way in
and stored as lists and ``bytes``.

The JSON encoding, used by snapshots, is plain JSON except for two tagged forms, so that
it round-trips exactly:

* ``bytes`` become ``{"$bytes": "<base64>"}``;
* a dict with a key starting with ``$`` is wrapped as ``{"$map": {...}}`` so that user
  data can never be mistaken for a tag.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from .errors import SnapshotError, StateError

__all__ = [
    "BYTES_TAG",
    "MAP_TAG",
    "StateValue",
    "copy_state_value",
    "decode_state_value",
    "encode_state_value",
]

BYTES_TAG = "$bytes"
"""Tag of encoded ``bytes``: ``{"$bytes": "<base64>"}``."""
MAP_TAG = "$map"
"""Tag of an encoded dict that has a key starting with ``$``: ``{"$map": {...}}``."""

StateValue = Any
"""A value that persistable state can hold (see the module docstring)."""

_MAX_DEPTH = 200
_SCALARS = (str, int, bool, type(None))


def copy_state_value(value: object, *, key: str = "") -> StateValue:
    """Check that ``value`` is a StateValue and return an independent copy of it.

    Args:
        value: The value to store.
        key: The state key, named in the error message.

    Raises:
        StateError: ``value`` (or something nested in it) is not a StateValue.
    """
    return _copy(value, key, 0)


def _copy(value: object, path: str, depth: int) -> StateValue:
    cls = type(value)
    if cls in _SCALARS:
        return value
    if isinstance(value, float) and cls is float:
        if not math.isfinite(value):
            raise StateError(f"state value at {path!r} is {value!r}: only finite numbers can be stored")
        return value
    if depth > _MAX_DEPTH:
        raise StateError(f"state value at {path!r} is nested more than {_MAX_DEPTH} levels deep")
    if isinstance(value, (list, tuple)) and (cls is list or cls is tuple):
        return [_copy(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict) and cls is dict:
        out: dict[str, StateValue] = {}
        for k, v in value.items():
            if type(k) is not str:
                raise StateError(f"state value at {path!r} has a non-string key {k!r}")
            out[k] = _copy(v, f"{path}.{k}", depth + 1)
        return out
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (str, int, float)):  # subclasses (enums, numpy-free bools...)
        return _copy(_plain(value), path, depth)
    if isinstance(value, (list, tuple)):
        return _copy(list(value), path, depth)
    if isinstance(value, dict):
        return _copy(dict(value), path, depth)
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


def encode_state_value(value: StateValue) -> Any:
    """Encode a StateValue (already checked) as JSON-compatible data."""
    cls = type(value)
    if cls in _SCALARS or cls is float:
        return value
    if cls is bytes:
        return {BYTES_TAG: base64.b64encode(value).decode("ascii")}
    if cls is list:
        return [encode_state_value(v) for v in value]
    if cls is dict:
        body = {k: encode_state_value(v) for k, v in value.items()}
        if any(k.startswith("$") for k in body):
            return {MAP_TAG: body}
        return body
    # Not checked yet (e.g. an event payload): check and copy, then encode.
    return encode_state_value(copy_state_value(value))


def decode_state_value(data: Any, *, path: str = "$") -> StateValue:
    """Decode JSON data made by :func:`encode_state_value`.

    Raises:
        SnapshotError: ``data`` is not a valid encoding.
    """
    return _decode(data, path, 0)


def _decode(data: Any, path: str, depth: int) -> StateValue:
    cls = type(data)
    if cls in _SCALARS:
        return data
    if cls is float:
        if not math.isfinite(data):
            raise SnapshotError(f"invalid number at {path}: {data!r}")
        return data
    if depth > _MAX_DEPTH:
        raise SnapshotError(f"value at {path} is nested more than {_MAX_DEPTH} levels deep")
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
