"""Fixtures of the browser tier: dist/ served on 127.0.0.1 and a headless Chromium.

The server is build.py's own (the one `python build.py serve` runs), on a free port.
The Chromium is $BLAZEN_CHROMIUM (set by `python build.py test`) or one found on PATH;
Playwright never downloads a browser of its own here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blazen_build.chromium import CHROMIUM_ARGS, find_chromium
from blazen_build.paths import DIST, ROOT
from blazen_build.server import make_server, server_url

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def origin() -> Iterator[str]:
    """dist/ served by build.py's server on a free port, with the test pages of
    tests/browser/pages mounted at /_test/ (dist's own paths are unaffected)."""
    if not (DIST / "index.html").is_file():
        pytest.fail("dist/ is not built: run `python build.py` (or `python build.py test`)")
    server = make_server(DIST, 0, mounts={"/_test/": Path(__file__).parent / "pages"})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_url(server)
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def base_url(origin: str) -> str:
    """URL of dist/ (the same server as ``origin``)."""
    return origin


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """The one Playwright instance of the session (its sync API allows only one)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium the tests drive (never a browser Playwright downloads)."""
    chromium = find_chromium()
    if chromium is None:
        pytest.fail("no Chromium: set BLAZEN_CHROMIUM or run `python build.py test`")
    return chromium


@pytest.fixture(scope="session")
def browser(playwright: Any, chromium_path: str) -> Iterator[Any]:
    """A headless Chromium, launched once per session."""
    browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for screenshots (ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
