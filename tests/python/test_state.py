"""The StateValue codec used by snapshots."""

from __future__ import annotations

import json

import pytest

from blazen_py import SnapshotError, StateError
from blazen_py.state import copy_state_value, decode_state_value, encode_state_value

PORTABLE = True

VALUES = [
    None,
    True,
    0,
    -(2**70),
    1.5,
    "",
    "ünïcode ✓",
    b"",
    b"\x00\xff" * 10,
    [],
    {},
    [1, [2, [3, b"x"]]],
    {"$bytes": "not really bytes"},
    {"$map": {"a": 1}},
    {"a": {"$weird": [b"y"]}, "b": None},
]


@pytest.mark.parametrize("value", VALUES)
def test_round_trip_through_json_is_exact(value) -> None:
    encoded = encode_state_value(copy_state_value(value))
    decoded = decode_state_value(json.loads(json.dumps(encoded)))
    assert decoded == value
    assert type(decoded) is type(value)


def test_bytes_are_tagged_base64() -> None:
    assert encode_state_value(b"Hello") == {"$bytes": "SGVsbG8="}


def test_user_dollar_keys_are_wrapped() -> None:
    assert encode_state_value({"$bytes": "x"}) == {"$map": {"$bytes": "x"}}


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"$bytes": "@@@"}, "invalid \\$bytes"),
        ({"$bytes": 5}, "expected base64 text"),
        ({"$bytes": "AA==", "x": 1}, "invalid tagged value"),
        ({"$nope": 1}, "unknown tag"),
        ({"$map": []}, "expected an object"),
        (float("inf"), "invalid number"),
        ((1, 2), "tuple is not JSON data"),
        ({1: 2}, "invalid key"),
    ],
)
def test_bad_encodings_raise_snapshot_error(data, fragment) -> None:
    with pytest.raises(SnapshotError, match=fragment):
        decode_state_value(data)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    deep: list = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(StateError, match="nested more than"):
        copy_state_value(deep)
    encoded: object = []
    for _ in range(500):
        encoded = [encoded]
    with pytest.raises(SnapshotError, match="nested more than"):
        decode_state_value(encoded)


def test_subclasses_are_stored_as_plain_values() -> None:
    import enum

    class Color(str, enum.Enum):  # noqa: UP042 - a str mixin enum is what is tested
        RED = "red"

    class Count(int):
        pass

    value = copy_state_value({"c": Color.RED, "n": Count(3), "b": True})
    assert value == {"c": "red", "n": 3, "b": True}
    assert [type(value[k]) for k in "cnb"] == [str, int, bool]
