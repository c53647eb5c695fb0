"""blazen_py.notebook: live timelines shown through a notebook's display-update mechanism
(here a fake IPython display hook that records every call), trace(), answering input
requests, and what `import blazen_py` does not load."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

import blazen_py.notebook as nb
from blazen_py import (
    INPUT_REQUEST_EVENT,
    INPUT_RESPONSE_EVENT,
    START_EVENT,
    STOP_EVENT,
    InputRequestError,
    Workflow,
    runtime,
)

SVG = "{http://www.w3.org/2000/svg}"


class FakeHandle:
    def __init__(self, log: list[tuple[str, str, dict[str, str]]], display_id: str) -> None:
        self.log = log
        self.display_id = display_id

    def update(self, obj: dict[str, str], raw: bool = False) -> None:
        assert raw
        self.log.append(("update", self.display_id, obj))


class FakeIPython:
    """IPython.display's display(..., display_id=True) and the handle's update(), recorded."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.shown: list[Any] = []

    def display(self, obj: Any, raw: bool = False, display_id: bool = False) -> FakeHandle | None:
        if not raw:  # a widget
            self.shown.append(obj)
            return None
        assert display_id is True
        handle = FakeHandle(self.log, f"d{len(self.log)}")
        self.log.append(("display", handle.display_id, obj))
        return handle


@pytest.fixture
def ipython(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIPython]:
    fake = FakeIPython()
    package = types.ModuleType("IPython")
    package.get_ipython = lambda: object()  # type: ignore[attr-defined]
    display = types.ModuleType("IPython.display")
    display.display = fake.display  # type: ignore[attr-defined]
    package.display = display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", package)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # not installed
    yield fake
    nb.trace(False)


def three_steps(delay: float) -> Workflow:
    wf = Workflow("three")

    async def step(event, ctx):
        await asyncio.sleep(delay)
        return {"type": event["next"]} if "next" in event else None

    async def first(event, ctx):
        await asyncio.sleep(delay)
        return {"type": "B"}

    async def second(event, ctx):
        await asyncio.sleep(delay)
        return {"type": "C"}

    async def third(event, ctx):
        await asyncio.sleep(delay)
        return {"type": STOP_EVENT, "result": "done"}

    wf.add_step("first", [START_EVENT], first, emits=["B"])
    wf.add_step("second", ["B"], second, emits=["C"])
    wf.add_step("third", ["C"], third, emits=[STOP_EVENT])
    return wf


def svg_of(bundle: dict[str, str]) -> ET.Element:
    root = ET.fromstring(bundle["text/html"])
    assert root.get("class") == "blazen-timeline"
    svg = root.find(SVG + "svg")
    assert svg is not None
    return svg


def states(log: list[tuple[str, str, dict[str, str]]]) -> list[tuple[str, str, int]]:
    out = []
    for kind, _, bundle in log:
        svg = svg_of(bundle)
        out.append((kind, svg.get("data-state"), int(svg.get("data-spans"))))
    return out


async def test_a_traced_run_shows_then_updates_in_place_and_ends_with_the_summary(
    ipython: FakeIPython,
) -> None:
    with nb.trace():
        result = await three_steps(0.08).run({})
    assert result.data == "done"
    log = ipython.log
    assert log[0][0] == "display"
    assert {display_id for _, display_id, _ in log} == {log[0][1]}  # every update goes to that one output
    seen = states(log)
    assert seen[0] == ("display", "running", 0)
    running = [s for s in seen[1:] if s[1] == "running"]
    assert len({n for _, _, n in running}) >= 2  # more than one state while it ran
    assert seen[-1] == ("update", "finished", 3)
    assert [s[1] for s in seen].index("finished") == len(seen) - 1  # nothing after the final state
    final = log[-1][2]
    assert final["text/plain"].startswith("timeline of 'three': completed in")
    summary = [
        "".join(t.itertext())
        for t in svg_of(final).iter(SVG + "text")
        if (t.get("class") or "").startswith("summary")
    ]
    assert summary[0].startswith("completed in")
    assert "3 step runs" in summary[0]
    assert "slowest:" in summary[0]


async def test_updates_are_throttled(ipython: FakeIPython) -> None:
    # A long interval: the first item's update, then only the final one.
    handler = await three_steps(0.005).run_with_handler({})
    nb.LiveTimeline(handler._run, interval=60).attach().show()
    await handler.result()
    assert [kind for kind, _, _ in ipython.log] == ["display", "update", "update"]
    assert [state for _, state, _ in states(ipython.log)] == ["running", "running", "finished"]


async def test_a_waiting_run_is_still_redrawn_less_and_less_often(ipython: FakeIPython) -> None:
    # No item comes while the step waits for its answer; its span grows all the same.
    handler = await approval().run_with_handler({})
    handler._ipython_display_()
    await asyncio.sleep(1.8)
    summaries = [b["text/plain"] for kind, _, b in ipython.log if kind == "update"]
    assert 3 <= len(summaries) <= 8  # redraws at about 0.5, 1 and 2 s apart, not every 0.1 s
    assert len(set(summaries)) == len(summaries)  # "running for ..." moved on each time
    [request_id] = list(nb._live[handler.run].model.requests)
    handler.respond_to_input(request_id, "ok")
    await handler.result()
    count = len(ipython.log)
    await asyncio.sleep(0.6)
    assert len(ipython.log) == count  # no redraw once the run has ended


async def test_a_handler_displayed_in_a_cell_draws_its_run(ipython: FakeIPython) -> None:
    handler = await three_steps(0.02).run_with_handler({})
    handler._ipython_display_()  # what IPython calls for a cell's value or display(handler)
    handler._ipython_display_()  # shown twice: one timeline, two outputs
    await handler.result()
    ids = [display_id for kind, display_id, _ in ipython.log if kind == "display"]
    assert len(ids) == 2
    finals = [
        b for kind, _, b in ipython.log if kind == "update" and svg_of(b).get("data-state") == "finished"
    ]
    assert len(finals) == 2
    assert int(svg_of(finals[0]).get("data-spans")) == 3


async def test_trace_is_scoped_by_with_and_switched_by_calls(ipython: FakeIPython) -> None:
    wf = three_steps(0)
    with nb.trace():
        await wf.run({})
    assert nb._on_run not in runtime.run_hooks
    await wf.run({})
    assert len([k for k, _, _ in ipython.log if k == "display"]) == 1
    nb.trace()
    await wf.run({})
    await wf.run({})
    nb.trace(False)
    await wf.run({})
    assert len([k for k, _, _ in ipython.log if k == "display"]) == 3
    assert nb._on_run not in runtime.run_hooks


def approval() -> Workflow:
    wf = Workflow("approval")

    async def ask(event, ctx):
        answer = await ctx.request_input("Refund <b>30</b>?", {"amount": 30})
        return {"type": STOP_EVENT, "result": answer}

    wf.add_step("ask", [START_EVENT], ask)
    return wf


async def test_without_widgets_the_answer_call_is_shown(ipython: FakeIPython) -> None:
    with nb.trace():
        run = asyncio.ensure_future(approval().run({}))
        for _ in range(50):
            await asyncio.sleep(0.01)
            if any("respond_to_input" in b["text/html"] for _, _, b in ipython.log):
                break
        html = [b["text/html"] for _, _, b in ipython.log if "respond_to_input" in b["text/html"]][-1]
        assert "Refund &lt;b&gt;30&lt;/b&gt;?" in html  # the prompt as text
        root = ET.fromstring(html)
        codes = [c.text for c in root.iter("code")]
        request_id = codes[0].split("'")[1]
        assert codes == [
            f"handler.respond_to_input('{request_id}', answer)",
            f"blazen_py.notebook.respond('{request_id}', answer)",
        ]
        nb.respond(request_id, "yes")
        assert (await run).data == "yes"
        with pytest.raises(InputRequestError, match="no run shown here"):
            nb.respond(request_id, "again")
    final = ipython.log[-1][2]["text/html"]
    assert "respond_to_input" not in final
    kinds = [c.get("class") for c in svg_of(ipython.log[-1][2]).iter()]
    assert "dot input" in kinds
    assert "dot answer" in kinds


class FakeWidget:
    def __init__(self, *children: Any, **traits: Any) -> None:
        self.children = list(children[0]) if children else []
        self.value = traits.get("value", "")
        self.disabled = False
        self.clicks: list[Any] = []

    def on_click(self, fn: Any) -> None:
        self.clicks.append(fn)

    def on_submit(self, fn: Any) -> None:
        self.clicks.append(fn)


async def test_with_widgets_the_request_is_answered_from_the_cell(
    ipython: FakeIPython, monkeypatch: pytest.MonkeyPatch
) -> None:
    widgets = types.ModuleType("ipywidgets")
    for name in ("Label", "Text", "Button", "VBox", "HBox"):
        setattr(widgets, name, FakeWidget)
    monkeypatch.setitem(sys.modules, "ipywidgets", widgets)
    handler = await approval().run_with_handler({})
    handler._ipython_display_()
    for _ in range(50):
        await asyncio.sleep(0.01)
        if ipython.shown:
            break
    [box] = ipython.shown
    label, row, status = box.children
    text, button = row.children
    assert label.value == "Refund <b>30</b>?"  # a Label widget shows text, not HTML
    assert all("respond_to_input" not in b["text/html"] for _, _, b in ipython.log)
    text.value = "approved"
    button.clicks[0](button)
    assert (await handler.result()).data == "approved"
    assert text.disabled
    assert button.disabled
    assert status.value == "answered"
    button.clicks[0](button)  # a second click changes nothing and says why
    assert "already answered" in status.value or "has ended" in status.value


async def test_a_durable_request_is_answered_through_notebook_respond(ipython: FakeIPython) -> None:
    wf = Workflow("durable")
    wf.add_step("draft", [START_EVENT], lambda e, c: {"type": INPUT_REQUEST_EVENT, "prompt": "publish?"})
    wf.add_step("decide", [INPUT_RESPONSE_EVENT], lambda e, c: {"type": STOP_EVENT, "result": e["response"]})
    handler = await wf.run_with_handler({})
    timeline = nb.live_timeline(handler)
    await asyncio.sleep(0.02)
    [request_id] = list(timeline.model.requests)
    nb.respond(request_id, "ok")
    assert (await handler.result()).data == "ok"
    await asyncio.sleep(0)
    assert timeline.model.requests == {}


async def test_outside_ipython_the_summary_is_printed_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "IPython", None)
    with nb.trace():
        await three_steps(0.001).run({})
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith("timeline of 'three': completed in")


async def test_a_broken_display_never_breaks_the_run() -> None:
    class Broken:
        def show(self, bundle: dict[str, str]) -> None:
            pass

        def update(self, bundle: dict[str, str], final: bool) -> None:
            raise RuntimeError("display gone")

    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
    with nb.trace(display=Broken):
        assert (await three_steps(0.001).run({})).data == "done"
    assert reported
    assert set(reported) == {"blazen_py live timeline failed"}


def test_a_snapshot_summary_object_displays_as_html() -> None:
    summary = nb.snapshot_summary('{"format": "nope"}')
    assert str(summary).startswith("not a valid blazen_py snapshot")
    assert ET.fromstring(summary._repr_html_()).get("class") == "blazen-snapshot"


def test_import_blazen_py_loads_no_drawing_code() -> None:
    code = (
        "import sys, blazen_py\n"
        "prefixes = ('blazen_py.notebook', 'blazen_py._draw', 'IPython')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(prefixes))\n"
        "assert not loaded, loaded\n"
        "wf = blazen_py.Workflow('w')\n"
        "wf.add_step('s', [blazen_py.START_EVENT], lambda e, c: None)\n"
        "assert wf.to_svg().startswith('<svg')\n"
        "assert 'blazen_py.notebook' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
