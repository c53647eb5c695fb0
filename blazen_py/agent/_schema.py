"""A small JSON Schema validator for tool arguments: the subset tools really use.

A tool's ``parameters`` is a JSON Schema, written by the developer; the arguments are
written by the model, so they are hostile: they are checked here before any handler
sees them, and a failure goes back to the model as the tool's result. No dependency: the
core package has none.

Supported keywords (draft 2020-12 meaning): ``type`` (a name or a list of names:
``object``, ``array``, ``string``, ``number``, ``integer``, ``boolean``, ``null``),
``enum``, ``const``, ``properties``, ``required``, ``additionalProperties`` (``false`` or
a schema), ``items`` (one schema), ``minItems`` / ``maxItems``, ``minLength`` /
``maxLength``, ``minimum`` / ``maximum`` / ``exclusiveMinimum`` / ``exclusiveMaximum``,
``anyOf`` / ``oneOf`` / ``allOf``, and ``nullable: true`` (OpenAPI's spelling of
``"null"`` in ``type``). Annotations (``description``, ``title``, ``default``,
``examples``, ``format``) are ignored, as the standard allows. A schema using a keyword
outside this set that would change the verdict (``$ref``, ``pattern``, ``patternProperties``,
``if``/``then``, ``dependentRequired``, ...) is refused when the tool is declared
(:func:`check_schema`), rather than silently not enforced.

``true`` in JSON equals ``1`` in Python: here booleans are never numbers, and ``1.0`` is
an integer (as the standard says).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_ARGUMENTS_CHARS",
    "MAX_DEPTH",
    "SchemaProblem",
    "check_schema",
    "parse_arguments",
    "schema_problem",
]

#: The deepest nesting of arguments accepted (and of a schema).
MAX_DEPTH = 64
#: The longest arguments text a model may send for one call.
MAX_ARGUMENTS_CHARS = 1024 * 1024

_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_KNOWN = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "anyOf",
        "oneOf",
        "allOf",
        "nullable",
        # annotations: never change the verdict
        "description",
        "title",
        "default",
        "examples",
        "format",
        "$schema",
        "$id",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "strict",
    }
)
_MAX_SHOWN = 40
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class SchemaProblem(ValueError):
    """Arguments that do not satisfy a schema, or a schema this validator refuses."""


def check_schema(schema: object, where: str = "parameters", depth: int = 0) -> None:
    """Refuse a schema this validator cannot enforce (see the module's docstring).

    Raises:
        SchemaProblem: ``schema`` is not an object, uses an unsupported keyword, or has
            a keyword of the wrong type.
    """
    if depth > MAX_DEPTH:
        raise SchemaProblem(f"{where} nests deeper than {MAX_DEPTH} levels")
    if schema is True or schema is False:
        return
    if not isinstance(schema, Mapping):
        raise SchemaProblem(f"{where} must be a JSON Schema object, not {type(schema).__name__}")
    unknown = sorted(str(k) for k in schema if k not in _KNOWN)
    if unknown:
        raise SchemaProblem(
            f"{where} uses {', '.join(map(repr, unknown))}, which tool argument validation does "
            "not support (see blazen_py.agent's schema subset)"
        )
    kind = schema.get("type")
    names = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for name in names:
        if name not in _TYPES:
            raise SchemaProblem(f"{where}.type: unknown type {name!r}")
    for key in ("properties",):
        value = schema.get(key)
        if value is not None:
            if not isinstance(value, Mapping):
                raise SchemaProblem(f"{where}.{key} must be an object")
            for name, sub in value.items():
                check_schema(sub, f"{where}.{key}.{name}", depth + 1)
    required = schema.get("required")
    if required is not None and (
        not isinstance(required, list) or not all(isinstance(r, str) for r in required)
    ):
        raise SchemaProblem(f"{where}.required must be a list of names")
    for key in ("additionalProperties", "items"):
        if key in schema:
            check_schema(schema[key], f"{where}.{key}", depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            subs = schema[key]
            if not isinstance(subs, list) or not subs:
                raise SchemaProblem(f"{where}.{key} must be a non-empty list of schemas")
            for index, sub in enumerate(subs):
                check_schema(sub, f"{where}.{key}[{index}]", depth + 1)
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise SchemaProblem(f"{where}.enum must be a list")
    for key in ("minItems", "maxItems", "minLength", "maxLength"):
        value = schema.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise SchemaProblem(f"{where}.{key} must be an integer >= 0")
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        value = schema.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise SchemaProblem(f"{where}.{key} must be a number")


def _too_deep(text: str) -> bool:
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_arguments(text: str) -> dict[str, Any]:
    """The arguments a model wrote for a tool call: a JSON object (``""`` reads as ``{}``).

    Raises:
        SchemaProblem: not JSON, not an object, too long or too deep.
    """
    if not isinstance(text, str):
        raise SchemaProblem("the arguments are not text")
    if len(text) > MAX_ARGUMENTS_CHARS:
        raise SchemaProblem(f"the arguments are longer than {MAX_ARGUMENTS_CHARS} characters")
    if not text.strip():
        return {}
    if _too_deep(text):
        raise SchemaProblem(f"the arguments nest deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        problem = "the arguments are not valid JSON"
    else:
        if isinstance(value, dict):
            return value
        problem = f"the arguments must be a JSON object, not {_json_type(value)}"
    raise SchemaProblem(problem)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is(value: object, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
    if name == "number":
        return not isinstance(value, bool) and isinstance(value, (int, float))
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    return isinstance(value, dict)  # "object"


def _same(a: object, b: object) -> bool:
    """JSON equality: ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def schema_problem(value: object, schema: object, path: str = "$", depth: int = 0) -> str | None:
    """The first way ``value`` breaks ``schema`` (``"$.a[2]: expected integer, got string"``),
    or ``None`` when it satisfies it. ``schema`` must have passed :func:`check_schema`."""
    if schema is True:
        return None
    if schema is False:
        return f"{path}: no value is allowed here"
    if depth > MAX_DEPTH:
        return f"{path}: nests deeper than {MAX_DEPTH} levels"
    assert isinstance(schema, Mapping)
    kind = schema.get("type")
    if kind is not None:
        names = list(kind) if isinstance(kind, list) else [kind]
        if schema.get("nullable") is True:
            names.append("null")
        if not any(_is(value, n) for n in names):
            return f"{path}: expected {' or '.join(names)}, got {_json_type(value)}"
    if "const" in schema and not _same(value, schema["const"]):
        return f"{path}: must be {_shown(schema['const'])}"
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        return f"{path}: must be one of {_shown(schema['enum'])}, got {_shown(value)}"
    problem = _kind_problem(value, schema, path, depth)
    if problem is not None:
        return problem
    return _combined_problem(value, schema, path, depth)


def _kind_problem(value: object, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
    if isinstance(value, dict):
        return _object_problem(value, schema, path, depth)
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return f"{path}: needs at least {schema['minItems']} items, got {len(value)}"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{path}: allows at most {schema['maxItems']} items, got {len(value)}"
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                problem = schema_problem(item, items, f"{path}[{index}]", depth + 1)
                if problem is not None:
                    return problem
        return None
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{path}: needs at least {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{path}: allows at most {schema['maxLength']} characters"
        return None
    if _is(value, "number"):
        assert isinstance(value, (int, float))
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path}: must be >= {schema['minimum']}, got {_shown(value)}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path}: must be <= {schema['maximum']}, got {_shown(value)}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return f"{path}: must be > {schema['exclusiveMinimum']}, got {_shown(value)}"
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            return f"{path}: must be < {schema['exclusiveMaximum']}, got {_shown(value)}"
    return None


def _object_problem(value: dict[str, Any], schema: Mapping[str, Any], path: str, depth: int) -> str | None:
    for name in schema.get("required") or ():
        if name not in value:
            return f"{path}: missing required property {name!r}"
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = (
            f"{path}.{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)) else f"{path}[{name!r}]"
        )
        if name in properties:
            problem = schema_problem(item, properties[name], where, depth + 1)
        elif extra is False:
            problem = f"{path}: unexpected property {str(name)[:_MAX_SHOWN]!r}"
        else:
            problem = schema_problem(item, extra, where, depth + 1)
        if problem is not None:
            return problem
    return None


def _combined_problem(value: object, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
    for sub in schema.get("allOf") or ():
        problem = schema_problem(value, sub, path, depth + 1)
        if problem is not None:
            return problem
    if "anyOf" in schema:
        problems = [schema_problem(value, sub, path, depth + 1) for sub in schema["anyOf"]]
        if all(p is not None for p in problems):
            return f"{path}: matches none of anyOf (first: {problems[0]})"
    if "oneOf" in schema:
        problems = [schema_problem(value, sub, path, depth + 1) for sub in schema["oneOf"]]
        matches = sum(1 for p in problems if p is None)
        if matches == 0:
            return f"{path}: matches none of oneOf (first: {problems[0]})"
        if matches > 1:
            return f"{path}: matches {matches} of oneOf, exactly one is allowed"
    return None
