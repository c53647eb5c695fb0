"""Fixtures of the browser tier: dist/ served on 127.0.0.1 and a headless Chromium.

The server is build.py's own (the one `python build.py serve` runs), on a free port.
The Chromium is $BLAZEN_CHROMIUM (set by `python build.py test`) or one found on PATH;
Playwright never downloads a browser of its own here.

BLAZEN_FAST_LOOP=1: every page that the ``browser`` fixture's contexts load gets a
blazen.js whose ``init()`` adds ``fastLoop: true`` to its options, so the tier runs with
``blazen_py.install_fast_loop()`` (tests that start their own browser or pytest process
are not covered; with a route set, Chromium's CORS preflights are not sent to the server,
so the test that expects one fails in this mode).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blazen_build.chromium import CHROMIUM_ARGS, find_chromium
from blazen_build.paths import DIST, ROOT
from blazen_build.server import make_server, serving

ARTIFACTS = ROOT / "test-artifacts"
FAST_LOOP = os.environ.get("BLAZEN_FAST_LOOP", "") == "1"
INIT_LINE = "export default function init(options = {}) {"


@pytest.fixture(scope="session")
def origin() -> Iterator[str]:
    """dist/ served by build.py's server on a free port, with the test pages of
    tests/browser/pages mounted at /_test/ (dist's own paths are unaffected)."""
    if not (DIST / "index.html").is_file():
        pytest.fail("dist/ is not built: run `python build.py` (or `python build.py test`)")
    with serving(make_server(DIST, 0, mounts={"/_test/": Path(__file__).parent / "pages"})) as url:
        yield url


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


def _blazen_js_on_the_fast_loop(route: Any) -> None:
    if not route.request.url.startswith("http"):
        route.continue_()  # a page opened from a file:// URL: nothing to patch (it must fail)
        return
    response = route.fetch()
    body = response.text()
    if INIT_LINE not in body:
        raise AssertionError(f"BLAZEN_FAST_LOOP: {route.request.url} has no {INIT_LINE!r} to patch")
    patched = body.replace(INIT_LINE, INIT_LINE + " options = { fastLoop: true, ...options };", 1)
    route.fulfill(response=response, body=patched)


class _FastLoopBrowser:
    """A Browser whose new contexts (and pages) load blazen.js with ``fastLoop: true``."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_context(self, *args: Any, **kwargs: Any) -> Any:
        context = self._browser.new_context(*args, **kwargs)
        context.route("**/blazen.js", _blazen_js_on_the_fast_loop)
        return context

    def new_page(self, *args: Any, **kwargs: Any) -> Any:
        page = self._browser.new_page(*args, **kwargs)
        page.context.route("**/blazen.js", _blazen_js_on_the_fast_loop)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


@pytest.fixture(scope="session")
def browser(playwright: Any, chromium_path: str) -> Iterator[Any]:
    """A headless Chromium, launched once per session (BLAZEN_FAST_LOOP=1: see above)."""
    browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    yield _FastLoopBrowser(browser) if FAST_LOOP else browser
    browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for screenshots (ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
