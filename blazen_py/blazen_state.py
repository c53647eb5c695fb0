"""The BlazenState protocol: objects stored field by field.

An object whose ``__blazen_state__`` attribute is ``True`` is decomposed by ``ctx.set``:
each field of ``vars(obj)`` (except the marker and the ``transient`` fields) is stored at
``{key}.{field}``, or handed to a :class:`FieldStore` named in ``store_by``, and a
metadata entry at ``{key}.__blazen_meta__`` records the class's *registration key* and
the stored fields. ``ctx.get`` sees the metadata entry, rebuilds the object without
calling ``__init__``, sets the marker, and calls the ``restore`` method the class names.

The class declares its configuration in a class attribute ``meta``::

    class SessionState:
        meta = {"transient": ["conn"], "store_by": {}, "restore": "reconnect"}

Stored metadata is data, and data from a snapshot is hostile: it may only name a
registered class (by its key) and list field names. Everything that runs on a rebuild
(``restore``, the field stores) comes from the registered class alone; the metadata is
validated (:func:`check_meta`) and rebuilding is linear in the stored size: field names
are unique and hold no ``.``, so every stored key is reached once, by one path.

Classes are found in a registry: a class is registered under ``module.qualname`` when one
of its instances is stored, and in a fresh process (resuming a snapshot) by
:func:`register_state_class` (which may give an explicit key). Nothing named in a
snapshot is ever imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, overload

from .errors import StateError

__all__ = [
    "META_SUFFIX",
    "FieldStore",
    "check_meta",
    "decompose",
    "is_blazen_state",
    "reassemble",
    "register_state_class",
]

META_SUFFIX = ".__blazen_meta__"
"""Suffix of the state key holding a decomposed object's metadata (reserved: user keys
ending with it are refused by ``ctx.set``)."""

_MARKER = "__blazen_state__"
_registry: dict[str, type] = {}
_keys: dict[type, str] = {}
T = TypeVar("T", bound=type)

# What a stored metadata entry may hold. Only "class" and "fields" are read; the others
# were written by earlier versions (restore, transient...) and are ignored, never obeyed.
_READ = ("class", "fields")
_IGNORED = frozenset({"class_name", "transient", "store_by", "restore", "lang"})
_FORBIDDEN_FIELDS = frozenset({"__proto__", "constructor", "prototype"})
MAX_FIELDS = 10_000
"""Most fields one metadata entry may list."""
MAX_NESTING = 64
"""Deepest nesting of BlazenState objects that ``ctx.get`` rebuilds."""


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


@overload
def register_state_class(cls: T, *, key: str | None = None) -> T: ...


@overload
def register_state_class(cls: None = None, *, key: str | None = None) -> Callable[[T], T]: ...


def register_state_class(cls: T | None = None, *, key: str | None = None) -> T | Callable[[T], T]:
    """Register a BlazenState class so ``ctx.get`` can rebuild it in a fresh process.

    Usable as a class decorator, bare or as ``@register_state_class(key="orders.State")``.
    The key (default ``module.qualname``) is what stored metadata names; registering a key
    again replaces its class (a redefined class). Returns ``cls`` unchanged.

    Raises:
        TypeError: ``cls`` is not a class, or ``key`` is not a non-empty string.
    """
    if cls is None:
        return lambda klass: register_state_class(klass, key=key)
    if not isinstance(cls, type):
        raise TypeError(f"register_state_class() takes a class, got {cls!r}")
    if key is not None and (type(key) is not str or not key):
        raise TypeError(f"register_state_class(key=...) must be a non-empty string, got {key!r}")
    name = key if key is not None else _default_key(cls)
    old = _registry.get(name)
    if old is not None and old is not cls:
        _keys.pop(old, None)
    _registry[name] = cls
    _keys[cls] = name
    return cls


def _default_key(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _key_of(cls: type) -> str:
    """The registration key of ``cls``, registering it under its default key first.

    An implicit registration never replaces another class: two classes with one name would
    otherwise be confused when their objects are rebuilt.
    """
    key = _keys.get(cls)
    if key is not None:
        return key
    key = _default_key(cls)
    other = _registry.get(key)
    if other is not None and other is not cls:
        raise StateError(
            f"another class is registered as {key!r}; register this one explicitly, with its own "
            f"key if both are in use: blazen_py.register_state_class({cls.__qualname__}, key=...)"
        )
    register_state_class(cls)
    return key


def _class_config(cls: type) -> tuple[frozenset[str], dict[str, Any], str | None]:
    """``(transient, store_by, restore)`` as the class declares them in ``meta``."""
    meta = getattr(cls, "meta", None) or {}
    if not isinstance(meta, Mapping):
        meta = {
            name: getattr(meta, name) for name in ("transient", "store_by", "restore") if hasattr(meta, name)
        }
    transient = frozenset(meta.get("transient") or ())
    store_by = dict(meta.get("store_by") or meta.get("storeBy") or {})
    restore = meta.get("restore")
    if restore is not None and not isinstance(restore, str):
        raise StateError(f"{cls.__qualname__}.meta['restore'] must name a method, got {restore!r}")
    return transient, store_by, restore


def check_field(name: object) -> str | None:
    """Why ``name`` cannot be a stored field name, or ``None`` when it can."""
    if type(name) is not str or not name:
        return f"a field name must be a non-empty string, got {name!r}"
    if "." in name:
        return f"field name {name!r} holds a '.'"
    if name.startswith("__") and name.endswith("__"):
        return f"field name {name!r} is a dunder name"
    if name in _FORBIDDEN_FIELDS:
        return f"field name {name!r} is reserved"
    return None


def check_meta(key: str, meta: object) -> tuple[str, list[str]]:
    """Validate a stored metadata entry; return its class key and field names.

    Raises:
        StateError: the entry is not ``{"class": str, "fields": [unique field names]}``
            (earlier versions' extra keys are ignored).
    """
    where = f"the BlazenState metadata of {key!r}"
    if type(meta) is not dict:
        raise StateError(f"{where} must be an object, got {type(meta).__name__}")
    unknown = [k for k in meta if k not in _READ and k not in _IGNORED]
    if unknown:
        raise StateError(f"{where} has unknown entries {sorted(map(str, unknown))!r}")
    class_key = meta.get("class")
    if type(class_key) is not str or not class_key:
        raise StateError(f"{where} must name a class key (a non-empty string), got {class_key!r}")
    fields = meta.get("fields")
    if type(fields) is not list:
        raise StateError(f"{where}: 'fields' must be a list of names, got {type(fields).__name__}")
    if len(fields) > MAX_FIELDS:
        raise StateError(f"{where} lists {len(fields)} fields, over the limit of {MAX_FIELDS}")
    seen: set[str] = set()
    for name in fields:
        problem = check_field(name)
        if problem is not None:
            raise StateError(f"{where}: {problem}")
        if name in seen:
            raise StateError(f"{where} lists field {name!r} more than once")
        seen.add(name)
    return class_key, fields


def decompose(key: str, obj: object) -> tuple[list[tuple[str, Any, FieldStore | None]], dict[str, Any]]:
    """Split ``obj`` into its fields, to be stored under ``key`` (see the module docstring).

    Returns:
        ``(fields, meta)``: each field's state key, value and custom store (or ``None``),
        and the metadata entry to store at ``key + META_SUFFIX``. Nothing is stored here:
        the context stores them (this module knows no context).

    Raises:
        StateError: ``obj`` has no ``__dict__``, a field name the protocol cannot store
            (see :func:`check_field`), or its class's key is taken by another class.
    """
    cls = type(obj)
    transient, store_by, _ = _class_config(cls)
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
        problem = check_field(field)
        if problem is not None:
            raise StateError(f"BlazenState object at {key!r} ({cls.__qualname__}): {problem}")
        parts.append((f"{key}.{field}", value, store_by.get(field)))
        stored.append(field)
    return parts, {"class": _key_of(cls), "fields": stored}


def reassemble(
    key: str,
    meta: object,
    load: Callable[[str], Any],
    load_with: Callable[[FieldStore, str], Any],
    lookup_meta: Callable[[str], Any],
    depth: int = 0,
) -> object:
    """Rebuild the object stored under ``key`` from its metadata entry.

    Args:
        key: The object's state key.
        meta: Its metadata entry (unvalidated: it is checked here).
        load: Reads a plain field's value by its state key.
        load_with: Reads a field's value from its custom store.
        lookup_meta: The metadata entry stored for a field's key, or ``None``: a field
            that is itself a BlazenState object is rebuilt here, one level deeper.
        depth: How deep this object is nested (bounded by :data:`MAX_NESTING`).

    Raises:
        StateError: the metadata is malformed, names an unregistered class or a
            transient field, or the nesting is too deep.
    """
    class_key, fields = check_meta(key, meta)
    cls = _registry.get(class_key)
    if cls is None:
        raise StateError(
            f"cannot rebuild the BlazenState object at {key!r}: class {class_key!r} is not "
            "registered in this process; call blazen_py.register_state_class(YourClass) first"
        )
    if depth >= MAX_NESTING:
        raise StateError(f"BlazenState objects at {key!r} are nested more than {MAX_NESTING} deep")
    transient, store_by, restore = _class_config(cls)
    obj: Any = object.__new__(cls)  # not __init__: the fields come from state
    try:
        attrs = obj.__dict__
    except AttributeError:
        raise StateError(f"{cls.__qualname__} has no __dict__: it cannot be rebuilt field by field") from None
    for field in transient:
        if not hasattr(cls, field):
            attrs[field] = None
    for field in fields:
        if field in transient:
            raise StateError(f"the BlazenState metadata of {key!r} lists transient field {field!r}")
        field_key = f"{key}.{field}"
        store = store_by.get(field)
        if store is not None:
            value = load_with(store, field_key)
        else:
            nested = lookup_meta(field_key)
            if nested is not None:
                value = reassemble(field_key, nested, load, load_with, lookup_meta, depth + 1)
            else:
                value = load(field_key)
        attrs[field] = value  # into __dict__: no property setter runs because data says so
    attrs[_MARKER] = True
    if restore:
        method = getattr(obj, restore, None)
        if not callable(method):
            raise StateError(f"{cls.__qualname__} has no method {restore!r} named by meta['restore']")
        method()
    return obj
