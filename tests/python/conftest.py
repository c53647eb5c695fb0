"""Run ``async def`` tests on a fresh event loop, each with a deadline so none can hang."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

TEST_DEADLINE = 60.0


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(asyncio.wait_for(fn(**kwargs), TEST_DEADLINE))
    return True
