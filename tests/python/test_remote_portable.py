"""The remote handler's own checks, on CPython and in Pyodide (Node, Chromium): bad URLs
and ids are typed errors, and a hand-off that reaches no server leaves the run paused here,
ready to go on (the server itself is tested in test_server_*.py)."""

from __future__ import annotations

import pytest

from blazen_py import (
    INPUT_REQUEST_EVENT,
    INPUT_RESPONSE_EVENT,
    START_EVENT,
    STOP_EVENT,
    RemoteError,
    RemoteHandler,
    Workflow,
)

PORTABLE = True

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there


def asking() -> Workflow:
    wf = Workflow("asking")
    wf.add_step("ask", [START_EVENT], lambda e, c: {"type": INPUT_REQUEST_EVENT, "prompt": "go?"})
    wf.add_step("done", [INPUT_RESPONSE_EVENT], lambda e, c: {"type": STOP_EVENT, "result": e["response"]})
    return wf


@pytest.mark.parametrize("url", ["ftp://x/", "127.0.0.1:8765", "", "http://", "/relative"])
def test_a_remote_handler_needs_an_absolute_http_url(url: str) -> None:
    with pytest.raises(RemoteError, match="absolute http"):
        RemoteHandler(url, "run")


def test_a_remote_handler_needs_a_run_id() -> None:
    for run_id in ("", None, 5):
        with pytest.raises(RemoteError, match="run_id"):
            RemoteHandler("http://127.0.0.1:8765", run_id)  # type: ignore[arg-type]


async def test_a_hand_off_to_no_server_leaves_the_run_paused_here() -> None:
    handler = await asking().run_with_handler({})
    async for item in handler.events():
        if item.event_type == "InputRequested":
            request_id = item["request_id"]
            break
    with pytest.raises(RemoteError, match="could not be reached") as refused:
        await handler.hand_off(UNREACHABLE, token="t" * 20, timeout=10)
    assert refused.value.status is None
    assert "t" * 20 not in str(refused.value), "the token never shows in an error"
    assert handler.status == "paused"
    await handler.resume_in_place()
    handler.respond_to_input(request_id, "yes")
    assert (await handler.result()).data == "yes"
