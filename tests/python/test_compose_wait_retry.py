"""``ctx.wait_for_event``'s timeout is a typed error (``WaitTimeoutError``, a
``TimeoutError``) that the retry policy retries: by default, by class, by name, and not
when ``retry_on`` leaves it out; the last attempt's timeout is the step's failure.

PORTABLE: run on CPython and, by tests/pyodide, inside Pyodide in Node and Chromium.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from blazen_py import START_EVENT, STOP_EVENT, StepError, WaitTimeoutError, Workflow

PORTABLE = True


def waiting(retry: dict[str, Any], seen: list[Any]) -> Workflow:
    wf = Workflow("wait-retry")

    async def wait(event: Any, ctx: Any) -> Any:
        seen.append(ctx.attempt)
        got = await ctx.wait_for_event("Approval", timeout=0.02 if ctx.attempt < 3 else 5)
        return {"type": STOP_EVENT, "result": [got["ok"], ctx.attempt]}

    wf.add_step("wait", [START_EVENT], wait, retry=retry)
    return wf


@pytest.mark.parametrize("retry_on", [None, WaitTimeoutError, TimeoutError, "WaitTimeoutError"])
async def test_a_wait_timeout_is_retried_and_a_later_attempt_gets_the_event(retry_on: Any) -> None:
    seen: list[Any] = []
    policy: dict[str, Any] = {"max_attempts": 3, "initial_delay": 0, "backoff": "fixed"}
    if retry_on is not None:
        policy["retry_on"] = [retry_on]
    handler = await waiting(policy, seen).run_with_handler()
    for _ in range(2000):
        if seen == [1, 2, 3]:
            break
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)  # attempt 3 is waiting now
    handler.send_event({"type": "Approval", "ok": True})
    assert (await handler.result()).data == [True, 3]
    assert seen == [1, 2, 3]


async def test_a_wait_timeout_left_out_of_retry_on_fails_at_once() -> None:
    seen: list[Any] = []
    policy = {"max_attempts": 3, "initial_delay": 0, "backoff": "fixed", "retry_on": ["ConnectionError"]}
    with pytest.raises(StepError, match="'wait'") as info:
        await waiting(policy, seen).run()
    assert isinstance(info.value.__cause__, WaitTimeoutError)
    assert seen == [1]


async def test_the_last_attempts_wait_timeout_is_the_steps_failure() -> None:
    seen: list[Any] = []
    with pytest.raises(StepError, match="'wait'") as info:
        await waiting({"max_attempts": 2, "initial_delay": 0, "backoff": "fixed"}, seen).run()
    cause = info.value.__cause__
    assert isinstance(cause, WaitTimeoutError)
    assert isinstance(cause, TimeoutError)
    assert "'Approval'" in str(cause)
    assert seen == [1, 2]
