"""Differential test: pausing at every step boundary and resuming in a fresh workflow,
from the snapshot's JSON text, ends exactly like the uninterrupted run."""

from __future__ import annotations

import json

from workflow_gen import Generated, answer_for

from blazen_py import HandlerStateError, Workflow

PORTABLE = True

WORKFLOWS = 200


async def drive(handler) -> dict:
    """Answer every input request until the run ends; return its result data."""
    async for item in handler.events():
        if item.event_type == "InputRequested":
            handler.respond_to_input(item["request_id"], answer_for(item))
    return (await handler.result()).data


async def uninterrupted(gen: Generated) -> tuple[dict, int]:
    count = {"n": 0}

    def hook() -> None:
        count["n"] += 1

    gen.hook = hook
    data = await drive(await gen.builder().build().run_with_handler({}))
    gen.hook = None
    return data, count["n"]


async def paused_at(gen: Generated, boundary: int) -> dict:
    """Pause after the ``boundary``-th step invocation, resume from JSON in a fresh workflow."""
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
        return (await handler.result()).data
    try:
        snap = await holder["pause"]
    except HandlerStateError:
        return (await handler.result()).data  # the step that paused also stopped the run
    handler.abort()
    text = json.dumps(snap)
    resumed = await Workflow.from_builder(gen.builder()).resume(json.loads(text))
    return await drive(resumed)


async def test_pause_at_every_boundary_resumes_to_the_same_result() -> None:
    checked = 0
    for seed in range(WORKFLOWS):
        gen = Generated(seed)
        expected, boundaries = await uninterrupted(gen)
        assert expected["sinks"] == gen.expected_sinks
        for boundary in range(1, boundaries + 1):
            got = await paused_at(gen, boundary)
            assert got == expected, f"seed {seed}, paused at step {boundary}"
            checked += 1
    assert checked > WORKFLOWS
