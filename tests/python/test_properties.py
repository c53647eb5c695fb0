"""Property tests of the StateValue codec and the snapshot loader (hypothesis).

Round trips are exact; anything else fed to the loader either loads or raises
SnapshotError, never another exception. The default run tries a few hundred examples
per property; set ``BLAZEN_FUZZ_EXAMPLES=10000`` (or more) for the long run.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blazen_py import SnapshotError, StateError
from blazen_py.snapshot import SNAPSHOT_FORMAT, parse
from blazen_py.state import copy_state_value, decode_state_value, encode_state_value

EXAMPLES = int(os.environ.get("BLAZEN_FUZZ_EXAMPLES", "150"))
settings.register_profile(
    "blazen", max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("blazen")

keys = st.text(max_size=8) | st.sampled_from(["$bytes", "$map", "$", "type", ""])
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.binary()
)
state_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 is not 1.0, b'' is not '')."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(state_values)
def test_state_values_round_trip_exactly_through_json_text(value: Any) -> None:
    encoded = json.dumps(encode_state_value(copy_state_value(value)), allow_nan=False)
    assert same(decode_state_value(json.loads(encoded)), value)


@given(json_values)
def test_decoding_any_json_gives_a_value_or_snapshot_error(data: Any) -> None:
    try:
        decoded = decode_state_value(data)
    except SnapshotError:
        return
    # What decodes is a StateValue, and encodes back to the same JSON.
    assert same(encode_state_value(copy_state_value(decoded)), encode_state_value(decoded))


@given(st.one_of(st.just(float("nan")), st.just(float("inf")), st.builds(object), st.sets(st.integers())))
def test_non_state_values_are_refused_with_state_error(value: Any) -> None:
    try:
        copy_state_value({"v": [value]})
    except StateError:
        return
    raise AssertionError(f"{value!r} was accepted")


BASE = {
    "format": SNAPSHOT_FORMAT,
    "version": 1,
    "workflow": "w",
    "run_id": "r",
    "status": "running",
    "state": {},
    "queue": [],
    "step_inputs": [],
    "input_requests": [],
    "session_refs": [],
    "unrouted": {},
    "metadata": {},
}


def loads_or_snapshot_error(data: Any) -> None:
    with contextlib.suppress(SnapshotError):
        parse(data)


@given(json_values)
def test_loader_on_any_json_value(data: Any) -> None:
    loads_or_snapshot_error(data)


@given(st.text() | st.binary())
def test_loader_on_any_text(text: Any) -> None:
    loads_or_snapshot_error(text)


@given(st.sampled_from(sorted(BASE)), json_values)
def test_loader_on_a_snapshot_with_one_field_replaced(field: str, value: Any) -> None:
    loads_or_snapshot_error({**BASE, field: value})


@given(st.dictionaries(st.sampled_from(sorted(BASE)), json_values))
def test_loader_on_a_snapshot_with_fields_mixed(fields: dict[str, Any]) -> None:
    loads_or_snapshot_error({**BASE, **fields})


@given(st.lists(state_values, max_size=4), st.dictionaries(st.text(max_size=6), state_values, max_size=4))
def test_valid_snapshots_load_to_the_same_values(queue_payloads: list[Any], state: dict[str, Any]) -> None:
    snap = {
        **BASE,
        "state": {k: encode_state_value(copy_state_value(v)) for k, v in state.items()},
        "queue": [{"type": "E", "payload": encode_state_value(copy_state_value(p))} for p in queue_payloads],
    }
    parsed = parse(json.dumps(snap))
    assert same(parsed.state, state)
    assert [e["payload"] for e in parsed.queue] == queue_payloads
