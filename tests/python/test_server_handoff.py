"""hand_off: a run started here is paused, sent to a blazen_py.server and followed there
with a RemoteHandler (stream, answers, result, abort); another client reattaches by run
id; a server that refuses leaves the run paused here, nothing lost."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_app import relay
from server_proc import TOKEN, Server

from blazen_py import (
    HandlerStateError,
    InputRequestError,
    MemoryStore,
    RemoteError,
    RemoteHandler,
    WorkflowAbortedError,
)

pytest.importorskip("dbos", reason="blazen_py[server] is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("handoff")
    proc = Server(f"sqlite:///{folder / 'handoff.sqlite'}")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def started_until_input(store: MemoryStore | None = None):  # type: ignore[no-untyped-def]
    handler = await relay.run_with_handler({"n": 7}, checkpoint=store)
    async for item in handler.events():
        if item.event_type == "InputRequested":
            return handler, item["request_id"]
    raise AssertionError("no input request")


async def test_a_handed_off_run_finishes_on_the_server_and_is_followed_from_here(server: Server) -> None:
    store = MemoryStore()
    handler, request_id = await started_until_input(store)
    for _ in range(200):  # the checkpoint is written a moment after the step completes
        if await store.list():
            break
        await asyncio.sleep(0.01)
    assert await store.list() == [handler.run_id]
    remote = await handler.hand_off(server.url, token=TOKEN)
    assert isinstance(remote, RemoteHandler)
    assert remote.run_id == handler.run_id
    assert handler.status == "paused"
    assert await store.list() == [], "the local checkpoint went with the run"

    # another client (a page opened later) reattaches by run id and sees the whole stream
    other = await RemoteHandler.attach(server.url, handler.run_id, token=TOKEN)
    items = []
    async for item in other.events():
        items.append(item)
        if item.event_type == "InputRequested":
            assert item["request_id"] == request_id
            assert item["metadata"] == {"n": 7}
            await other.respond_to_input(request_id, "go on")
            with pytest.raises((InputRequestError, HandlerStateError), match=r"already"):
                await remote.respond_to_input(request_id, "again")
    assert [i.event_type for i in items][-3:] == ["blazen::InputResponseEvent", "B", "blazen::StopEvent"]
    result = await remote.result()
    assert result.data["n"] == 7
    assert result.data["answer"] == "go on"
    assert result.data["pid"] != os.getpid(), "the rest ran on the server"
    assert result.run_id == handler.run_id
    seen = [i.event_type async for i in remote.events()]
    assert seen == [i.event_type for i in items], "every client sees the same stream"
    assert seen[0] == "InputRequested", "the server's part starts where the page paused"
    with pytest.raises(HandlerStateError, match="already completed"):
        await remote.respond_to_input(request_id, "late")


async def test_a_remote_run_can_be_aborted(server: Server) -> None:
    handler, _ = await started_until_input()
    remote = await handler.hand_off(server.url, token=TOKEN)
    await remote.abort()
    with pytest.raises(WorkflowAbortedError):
        await remote.result()
    await remote.abort()  # already ended: nothing to do


async def test_a_hand_off_the_server_refuses_leaves_the_run_paused_here(
    server: Server, tmp_path: Path
) -> None:
    handler, request_id = await started_until_input()
    with pytest.raises(RemoteError, match="401") as refused:
        await handler.hand_off(server.url, token="not-the-token-at-all")
    assert (refused.value.status, refused.value.error_type) == (401, "AuthError")
    with pytest.raises(RemoteError, match="could not be reached") as unreachable:
        await handler.hand_off("http://127.0.0.1:9", token=TOKEN)
    assert unreachable.value.status is None
    assert handler.status == "paused"
    await handler.resume_in_place()
    handler.respond_to_input(request_id, "here")
    result = await handler.result()
    assert result.data["answer"] == "here"
    assert result.data["pid"] == os.getpid()


async def test_a_repeated_hand_off_of_the_same_run_is_one_run(server: Server) -> None:
    handler, request_id = await started_until_input()
    first = await handler.hand_off(server.url, token=TOKEN)
    again = await handler.hand_off(server.url, token=TOKEN)  # as if the first answer was lost
    assert again.run_id == first.run_id
    await again.respond_to_input(request_id, "once")
    assert (await first.result()).data["answer"] == "once"


async def test_attaching_to_an_unknown_run_or_a_bad_url_fails_clearly(server: Server) -> None:
    with pytest.raises(RemoteError, match="404") as missing:
        await RemoteHandler.attach(server.url, "no-such-run", token=TOKEN)
    assert missing.value.error_type == "RunNotFoundError"
    for url in ("ftp://x", "127.0.0.1:8765", "", None):
        with pytest.raises(RemoteError, match="absolute http"):
            RemoteHandler(url, "r")  # type: ignore[arg-type]


async def test_a_remote_stream_survives_the_server_being_killed_and_restarted(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'restart.sqlite'}"
    first = Server(db, args=["--worker-id", "solo"]).start()
    port = first.port
    second: Server | None = None
    try:
        status, body = first.call("POST", "/runs", {"workflow": "ten_steps", "input": {"pause": 0.3}})
        assert status == 202
        remote = await RemoteHandler.attach(first.url, body["run_id"], token=TOKEN)
        seen: list[str] = []
        async for item in remote.events():
            seen.append(item.event_type)
            if item.event_type == "Step3" and second is None:
                await asyncio.to_thread(first.kill)  # the connection drops mid-stream
                second = await asyncio.to_thread(Server(db, args=["--worker-id", "solo"], port=port).start)
        result = await remote.result()
    finally:
        first.kill()
        if second is not None:
            await asyncio.to_thread(second.stop)
    assert second is not None
    assert result.data == {"steps": [True] * 10}
    assert seen.count("blazen::StartEvent") == 1, "the reconnect went on from the last item seen"
    assert seen.count("blazen::StopEvent") == 1
    assert [t for t in dict.fromkeys(seen) if t.startswith("Step")] == [f"Step{i}" for i in range(1, 10)]
