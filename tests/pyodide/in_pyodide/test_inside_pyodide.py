"""Facts only true inside Pyodide, so this tier is never vacuous.

Never collected on CPython (tests/pyodide/conftest.py ignores this folder); the harness
copies it into Pyodide and runs it there, in Node and in Chromium.
"""

import importlib.metadata
import sys

from blazen_py import START_EVENT, STOP_EVENT, Workflow


def test_runs_on_emscripten():
    assert sys.platform == "emscripten"
    assert sys.version_info[:2] == (3, 14)


def test_blazen_py_comes_from_the_installed_wheel():
    import blazen_py

    assert "site-packages" in blazen_py.__file__, blazen_py.__file__
    dist = importlib.metadata.distribution("blazen_py")
    wheel = dist.read_text("WHEEL")
    assert "Tag: py3-none-any" in wheel
    assert "Root-Is-Purelib: true" in wheel
    assert dist.version == getattr(blazen_py, "__version__", dist.version)


async def test_quickstart_workflow_runs_on_pyodides_event_loop():
    wf = Workflow("demo")

    async def greet(event, ctx):
        ctx.set("name", event["name"])
        return {"type": STOP_EVENT, "result": {"greeting": "Hello, " + event["name"]}}

    wf.add_step("greet", [START_EVENT], greet)
    result = await wf.run({"name": "Ada"})
    assert result.data == {"greeting": "Hello, Ada"}
    assert len(result.run_id) == 36
