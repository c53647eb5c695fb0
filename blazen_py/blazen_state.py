"""The BlazenState protocol: objects stored field by field.

An object whose ``__blazen_state__`` attribute is ``True`` is decomposed by ``ctx.set``:
each field of ``vars(obj)`` (except the marker and the ``transient`` fields) is stored at
``{key}.{field}``, or handed to a :class:`FieldStore` named in ``store_by``, and a
metadata entry at ``{key}.__blazen_meta__`` records the class, the fields and the
configuration. ``ctx.get`` sees the metadata entry, rebuilds the object without calling
``__init__``, sets the marker, and calls the ``restore`` method if one is named.

The class declares its configuration in a class attribute ``meta``::

    class SessionState:
        meta = {"transient": ["conn"], "store_by": {}, "restore": "reconnect"}

Rebuilding needs the class itself. Classes are found in a registry: a class is
registered when one of its instances is stored, and in a fresh process (resuming a
snapshot) by :func:`register_state_class`. Nothing named in a snapshot is ever imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from .errors import StateError

__all__ = ["META_SUFFIX", "FieldStore", "decompose", "is_blazen_state", "reassemble", "register_state_class"]

META_SUFFIX = ".__blazen_meta__"
"""Suffix of the state key holding a decomposed object's metadata."""

_MARKER = "__blazen_state__"
_registry: dict[str, type] = {}
T = TypeVar("T", bound=type)


class FieldStore(Protocol):
    """Custom persistence for one field of a BlazenState object (``meta["store_by"]``).

    Both methods are synchronous; ``key`` is the field's state key (``{key}.{field}``) and
    ``ctx`` the step's :class:`~blazen_py.context.Context`.
    """

    def save(self, key: str, value: Any, ctx: Any) -> None:
        """Persist ``value`` under ``key``."""

    def load(self, key: str, ctx: Any) -> Any:
        """Return the value persisted under ``key``."""


def is_blazen_state(value: object) -> bool:
    """Return whether ``value`` follows the BlazenState protocol."""
    return getattr(value, _MARKER, False) is True


def register_state_class(cls: T) -> T:
    """Register a BlazenState class so ``ctx.get`` can rebuild it in a fresh process.

    Usable as a class decorator. Returns ``cls`` unchanged.
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_state_class() takes a class, got {cls!r}")
    _registry[_class_id(cls)] = cls
    return cls


def _class_id(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _meta_of(cls: type) -> tuple[list[str], dict[str, Any], str | None]:
    meta = getattr(cls, "meta", None) or {}
    if not isinstance(meta, Mapping):
        meta = {
            name: getattr(meta, name) for name in ("transient", "store_by", "restore") if hasattr(meta, name)
        }
    transient = list(meta.get("transient") or [])
    store_by = dict(meta.get("store_by") or meta.get("storeBy") or {})
    restore = meta.get("restore")
    if restore is not None and not isinstance(restore, str):
        raise StateError(f"{cls.__qualname__}.meta['restore'] must name a method, got {restore!r}")
    return transient, store_by, restore


def decompose(key: str, obj: object) -> tuple[list[tuple[str, Any, FieldStore | None]], dict[str, Any]]:
    """Split ``obj`` into its fields, to be stored under ``key`` (see the module docstring).

    Returns:
        ``(fields, meta)``: each field's state key, value and custom store (or ``None``),
        and the metadata entry to store at ``key + META_SUFFIX``. Nothing is stored here:
        the context stores them (this module knows no context).
    """
    cls = type(obj)
    transient, store_by, restore = _meta_of(cls)
    try:
        fields = vars(obj)
    except TypeError:
        raise StateError(
            f"BlazenState object at {key!r} ({cls.__qualname__}) has no __dict__ of fields"
        ) from None
    parts: list[tuple[str, Any, FieldStore | None]] = []
    stored: list[str] = []
    for field, value in fields.items():
        if field == _MARKER or field in transient:
            continue
        parts.append((f"{key}.{field}", value, store_by.get(field)))
        stored.append(field)
    register_state_class(cls)
    meta = {
        "class": _class_id(cls),
        "class_name": cls.__qualname__,
        "fields": stored,
        "transient": transient,
        "store_by": sorted(store_by),
        "restore": restore,
    }
    return parts, meta


def reassemble(
    key: str, meta: Mapping[str, Any], load: Callable[[str], Any], load_with: Callable[[FieldStore, str], Any]
) -> object:
    """Rebuild the object stored under ``key`` from its metadata entry.

    Args:
        key: The object's state key.
        meta: Its metadata entry.
        load: Reads a field's value by its state key.
        load_with: Reads a field's value from its custom store.
    """
    class_id = meta.get("class")
    cls = _registry.get(class_id) if isinstance(class_id, str) else None
    if cls is None:
        raise StateError(
            f"cannot rebuild the BlazenState object at {key!r}: class {class_id!r} is not "
            "registered in this process; call blazen_py.register_state_class(YourClass) first"
        )
    _, store_by, _ = _meta_of(cls)
    obj: Any = object.__new__(cls)  # not __init__: the fields come from state
    for field in meta.get("transient") or ():
        if not hasattr(cls, field):
            setattr(obj, field, None)
    for field in meta.get("fields") or ():
        field_key = f"{key}.{field}"
        store = store_by.get(field)
        setattr(obj, field, load_with(store, field_key) if store is not None else load(field_key))
    setattr(obj, _MARKER, True)
    restore = meta.get("restore")
    if restore:
        method = getattr(obj, restore, None)
        if not callable(method):
            raise StateError(f"{cls.__qualname__} has no method {restore!r} named by meta['restore']")
        method()
    return obj
