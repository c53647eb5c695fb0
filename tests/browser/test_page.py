"""End-to-end: the page at / (the playground) boots Pyodide from its own origin, showing its
progress, and gets ready to run cells (test_playground.py runs them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from blazen_build.snapshot import SNAPSHOT_MANIFEST

BOOT_TIMEOUT_MS = 120_000


@dataclass
class PageRun:
    """What one visit of the page showed and did."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    status_at_start: str = ""
    progress_visible_at_start: bool = False
    final_state: str = ""
    status: str = ""
    cells: int = 0
    versions: str = ""


@pytest.fixture(scope="module")
def page_run(browser: Any, base_url: str, artifacts: Path) -> PageRun:
    """Open / in a fresh context once, record everything, wait until ready, screenshot."""
    run = PageRun()
    context = browser.new_context()
    page = context.new_page()
    page.on("request", lambda request: run.requests.append(request.url))
    page.on("console", lambda msg: msg.type == "error" and run.console_errors.append(msg.text))
    page.on("pageerror", lambda error: run.console_errors.append(f"uncaught: {error}"))
    try:
        # Recorded when the document is parsed (the boot is async, so it cannot be done
        # yet), not queried later: a boot from the cached snapshot can beat the query.
        page.add_init_script(
            "document.addEventListener('DOMContentLoaded', () => {"
            " const progress = document.getElementById('progress');"
            " window.atStart = { status: document.getElementById('status').innerText,"
            " progress: !!progress && progress.getClientRects().length > 0"
            " && getComputedStyle(progress).visibility !== 'hidden' }; });"
        )
        page.goto(base_url, wait_until="domcontentloaded")
        at_start = page.evaluate("window.atStart")
        run.progress_visible_at_start = at_start["progress"]
        run.status_at_start = at_start["status"]
        page.wait_for_function(
            "() => ['ready', 'error'].includes(document.body.dataset.state)", timeout=BOOT_TIMEOUT_MS
        )
        run.final_state = page.evaluate("document.body.dataset.state")
        run.status = page.locator("#status").inner_text()
        run.cells = page.locator("article.cell button.run:enabled").count()
        run.versions = page.locator("#versions").inner_text()
        page.screenshot(path=str(artifacts / "index.png"), full_page=True)
    finally:
        context.close()
    return run


def test_page_shows_progress_while_booting(page_run: PageRun) -> None:
    assert page_run.progress_visible_at_start
    assert page_run.status_at_start.startswith(("Loading", "Reading", "Installing"))


def test_page_gets_ready_to_run_its_cells(page_run: PageRun) -> None:
    assert page_run.final_state == "ready", page_run.status
    assert page_run.status.startswith("Ready in")
    assert page_run.cells == 5  # summarizer, agent, approval, fan-out, snapshot


def test_page_shows_versions_of_this_build(page_run: PageRun) -> None:
    from blazen_build.paths import PYODIDE_VERSION
    from blazen_build.wheel import version

    assert f"blazen_py {version()}" in page_run.versions
    assert f"Pyodide {PYODIDE_VERSION}" in page_run.versions


def test_page_requests_nothing_from_another_origin(page_run: PageRun, base_url: str) -> None:
    origin = urlsplit(base_url)[:2]
    assert page_run.requests, "no request was recorded"
    fetched = [url for url in page_run.requests if not url.startswith("data:")]
    foreign = [url for url in fetched if urlsplit(url)[:2] != origin]
    assert foreign == []
    assert any(url.endswith(".wasm") for url in page_run.requests)
    # blazen_py came from this origin: in the snapshot's container when the build made one
    # (the page then never fetches the wheel), else as the wheel.
    snapshot = SNAPSHOT_MANIFEST.is_file()
    assert any(("blazen-snapshot-" if snapshot else ".whl") in url for url in page_run.requests)
    assert snapshot != any(url.endswith(".whl") for url in page_run.requests)


def test_page_logs_no_console_error(page_run: PageRun) -> None:
    assert page_run.console_errors == []
