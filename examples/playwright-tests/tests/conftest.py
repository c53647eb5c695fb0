"""The example's fixtures, built only from the public plugin API (its fixtures and
`blazen_py.testing.BlazenPage`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from blazen_py.testing import BlazenPage


@pytest.fixture(scope="module")
def shared_page(blazen_browser: Any, blazen_site: Any) -> Iterator[BlazenPage]:
    """One page booted once for a whole module: booting Pyodide is most of a test's time,
    and each test here starts its own run, so they need not have a page each."""
    context = blazen_browser.new_context()
    try:
        yield BlazenPage(context.new_page(), blazen_site.url).goto()
    finally:
        context.close()


@pytest.fixture
def expense_page(shared_page: BlazenPage) -> Iterator[BlazenPage]:
    """The shared page with the app's step log cleared; page errors fail the test."""
    shared_page.js("localStorage.removeItem('expense-log');")
    yield shared_page
    shared_page.check_errors()


@pytest.fixture
def app_page(blazen_page: BlazenPage) -> BlazenPage:
    """The app's own page (site/index.html) in a fresh context, its start-up finished."""
    blazen_page.goto("app/index.html")
    blazen_page.page.wait_for_selector("#status[data-ready=true]")
    return blazen_page
