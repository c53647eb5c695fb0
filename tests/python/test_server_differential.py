"""Durability by difference, across a hand-off: generated workflows (workflow_gen.py)
paused at step boundaries here, handed to a blazen_py.server and driven to their end over
HTTP (input requests answered through the API), end exactly like uninterrupted runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_gen_app import SEEDS
from server_proc import TOKEN, Server
from test_differential import uninterrupted
from workflow_gen import SERVER_KINDS, Generated, answer_for

from blazen_py import HandlerStateError, RemoteHandler
from blazen_py.remote import send_snapshot

pytest.importorskip("dbos", reason="blazen_py[server] is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("differential")
    proc = Server(
        f"sqlite:///{folder / 'gen.sqlite'}",
        args=["--app", "tests.python.server_gen_app:workflows", "--concurrency", "4"],
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def handed_off_at(gen: Generated, boundary: int, server: Server) -> tuple[dict, bool]:
    """Pause after the ``boundary``-th step invocation here; the server does the rest."""
    holder: dict = {"n": 0, "pause": None}

    def hook() -> None:
        holder["n"] += 1
        if holder["n"] == boundary:
            holder["pause"] = holder["handler"].pause()

    gen.hook = hook
    handler = await gen.builder().build().run_with_handler({})
    holder["handler"] = handler
    async for item in handler.events():
        if holder["pause"] is not None:
            break
        if item.event_type == "InputRequested":
            handler.respond_to_input(item["request_id"], answer_for(item))
    gen.hook = None
    if holder["pause"] is None:
        return (await handler.result()).data, False
    try:
        snapshot = await holder["pause"]
    except HandlerStateError:
        return (await handler.result()).data, False  # the step that paused also ended the run
    remote = RemoteHandler(server.url, handler.run_id, token=TOKEN)
    await send_snapshot(remote, snapshot)
    handler.abort()  # the run goes on over there only
    async for item in remote.events():
        if item.event_type == "InputRequested":
            await remote.respond_to_input(item["request_id"], answer_for(item))
    return (await remote.result()).data, True


async def test_runs_handed_off_at_step_boundaries_end_like_uninterrupted_runs(server: Server) -> None:
    checked = handed = 0
    for seed in range(SEEDS):
        gen = Generated(seed, SERVER_KINDS)
        expected, boundaries = await uninterrupted(gen)
        for boundary in sorted({1, max(1, boundaries // 2), boundaries}):
            got, remote = await handed_off_at(gen, boundary, server)
            assert got == expected, f"seed {seed}, handed off after step {boundary}"
            checked += 1
            handed += remote
    assert checked >= SEEDS
    assert handed >= SEEDS, f"only {handed} of {checked} runs were handed off"
