"""The JSON Schema subset that tool arguments are validated against (no socket: portable)."""

from __future__ import annotations

from typing import Any

import pytest

from blazen_py.agent import MAX_ARGUMENTS_CHARS, check_schema, schema_problem
from blazen_py.agent._schema import MAX_DEPTH, SchemaProblem, parse_arguments

PORTABLE = True

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 5},
        "age": {"type": "integer", "minimum": 0, "exclusiveMaximum": 200},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "kind": {"enum": ["a", "b"]},
        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        "note": {"type": "string", "nullable": True},
        "any": {"anyOf": [{"type": "boolean"}, {"const": 0}]},
    },
    "required": ["name"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "value, problem",
    [
        ({"name": "Ada"}, None),
        ({"name": "Ada", "age": 36.0, "tags": ["x"], "kind": "a", "id": 3, "note": None, "any": 0}, None),
        ({}, "missing required property 'name'"),
        ({"name": ""}, "at least 1 characters"),
        ({"name": "toolong"}, "at most 5 characters"),
        ({"name": "a", "age": 1.5}, "$.age: expected integer, got number"),
        ({"name": "a", "age": True}, "$.age: expected integer, got boolean"),
        ({"name": "a", "age": -1}, "must be >= 0"),
        ({"name": "a", "age": 200}, "must be < 200"),
        ({"name": "a", "tags": ["x", 1]}, "$.tags[1]: expected string, got integer"),
        ({"name": "a", "tags": ["x", "y", "z"]}, "at most 2 items"),
        ({"name": "a", "kind": "c"}, "must be one of"),
        ({"name": "a", "id": 1.5}, "matches none of oneOf"),
        ({"name": "a", "any": 1}, "matches none of anyOf"),
        ({"name": "a", "any": True}, None),
        ({"name": "a", "extra": 1}, "unexpected property 'extra'"),
        ({"name": "a", "note": 3}, "$.note: expected string or null"),
    ],
)
def test_validation(value: Any, problem: str | None) -> None:
    found = schema_problem(value, PERSON)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found, found


def test_true_is_not_one_and_one_point_zero_is_an_integer() -> None:
    assert schema_problem(True, {"const": 1}) is not None
    assert schema_problem(1, {"enum": [True]}) is not None
    assert schema_problem(1.0, {"type": "integer"}) is None
    assert schema_problem(float("inf"), {"type": "integer"}) is not None


@pytest.mark.parametrize(
    "schema, match",
    [
        ({"$ref": "#/defs/x"}, "'\\$ref'"),
        ({"type": "object", "properties": {"a": {"pattern": "x+"}}}, "'pattern'"),
        ({"type": "thing"}, "unknown type"),
        ({"required": "a"}, "list of names"),
        ({"anyOf": []}, "non-empty list"),
        ({"minItems": -1}, ">= 0"),
        ({"maximum": "3"}, "must be a number"),
        ([], "must be a JSON Schema object"),
    ],
)
def test_unsupported_or_malformed_schemas_are_refused(schema: Any, match: str) -> None:
    with pytest.raises(SchemaProblem, match=match):
        check_schema(schema)


def test_a_deep_schema_is_refused() -> None:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(MAX_DEPTH + 2):
        schema = {"type": "array", "items": schema}
    with pytest.raises(SchemaProblem, match="deeper"):
        check_schema(schema)


@pytest.mark.parametrize(
    "text, match",
    [
        ("[" * 10_000 + "]" * 10_000, "deeper than"),
        ('{"a": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}", "deeper than"),
        ("x" * (MAX_ARGUMENTS_CHARS + 1), "longer than"),
        ('{"a": NaN}', "not valid JSON"),
        ("42", "not integer"),
        ("null", "not null"),
    ],
)
def test_hostile_arguments_text(text: str, match: str) -> None:
    with pytest.raises(SchemaProblem, match=match):
        parse_arguments(text)


def test_arguments_text() -> None:
    assert parse_arguments("") == {}
    assert parse_arguments('  {"a": [1, {"b": "[{"}]}') == {"a": [1, {"b": "[{"}]}
    # brackets inside strings do not count as nesting
    assert parse_arguments('{"s": "' + "[" * 500 + '"}') == {"s": "[" * 500}
