"""The pytest plugin (entry point `pytest11: blazen`): fixtures that serve a site built on
blazen.js and drive it in a real Chromium. Needs `pip install blazen_py[testing]`.

Options (command line, or the ini key of the same name with `_`):
  --blazen-dist DIR        the folder to serve (default: `dist` under the rootdir): your site
                           built on the bundle, or the bundle itself; it must hold blazen.js
  --blazen-snapshot on|off boot from the build's memory snapshot (default on)
  --blazen-require-chromium  no Chromium is an error instead of a skip
  --blazen-record          `blazen_cassette` records model calls (default: replays them)
  --blazen-mount PREFIX=DIR  also serve your own folder DIR at /PREFIX/ (repeatable; ini
                           `blazen_mounts`, one `PREFIX=DIR` a line, DIR relative to the rootdir)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ._chromium import CHROMIUM_ARGS, NO_CHROMIUM, ChromiumNotFoundError, find_chromium
from ._page import BlazenPage
from ._server import make_server, serving

WEB = Path(__file__).resolve().parent / "web"


class BlazenSite:
    """The served folder, its base URL (ends in "/") and the extra folders mounted on it
    (`{"/prefix/": folder}`)."""

    def __init__(self, url: str, directory: Path, mounts: dict[str, Path] | None = None) -> None:
        self.url = url
        self.directory = directory
        self.mounts = dict(mounts or {})

    def __repr__(self) -> str:
        return f"BlazenSite({self.url!r}, {str(self.directory)!r})"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("blazen", "blazen_py: workflows in Pyodide and Chromium")
    group.addoption("--blazen-dist", default=None, help="folder to serve (a site built on blazen.js)")
    group.addoption("--blazen-snapshot", default=None, choices=("on", "off"), help="memory snapshot boot")
    group.addoption("--blazen-require-chromium", action="store_true", default=None,
                    help="fail, not skip, when no Chromium is found")
    group.addoption("--blazen-record", action="store_true", default=False,
                    help="blazen_cassette records model calls to cassettes/ (default: replay)")
    group.addoption("--blazen-mount", action="append", default=None, metavar="PREFIX=DIR",
                    help="also serve folder DIR at /PREFIX/ (repeatable)")
    parser.addini("blazen_dist", "folder to serve, relative to the rootdir (default: dist)", default="dist")
    parser.addini("blazen_snapshot", "boot blazen.js from the memory snapshot: on or off", default="on")
    parser.addini("blazen_mounts", "PREFIX=DIR lines: folders also served at /PREFIX/", type="linelist",
                  default=[])
    parser.addini("blazen_require_chromium", "fail, not skip, without Chromium", type="bool", default=False)


def _option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(f"--blazen-{name.replace('_', '-')}")
    return config.getini(f"blazen_{name}") if value is None else value


def dist_folder(config: pytest.Config) -> Path:
    """The folder `blazen_site` serves: option, ini (relative to the rootdir), or dist/."""
    folder = Path(str(_option(config, "dist")))
    if not folder.is_absolute():
        base = Path.cwd() if config.getoption("--blazen-dist") else config.rootpath
        folder = base / folder
    return folder.resolve()


RESERVED_PREFIX = "__blazen__"


def site_mounts(config: pytest.Config) -> dict[str, Path]:
    """`{"/prefix/": folder}` from --blazen-mount (relative to the working directory) or the
    ini key blazen_mounts (relative to the rootdir); a malformed entry fails the session."""
    given = config.getoption("--blazen-mount")
    entries, base = (given, Path.cwd()) if given else (config.getini("blazen_mounts"), config.rootpath)
    mounts: dict[str, Path] = {}
    for entry in entries:
        prefix, sep, folder = str(entry).partition("=")
        prefix = prefix.strip().strip("/")
        segments = prefix.split("/")
        plain = all(re.fullmatch(r"[A-Za-z0-9_.-]+", x) and x not in (".", "..") for x in segments)
        if not sep or not plain or segments[0] == RESERVED_PREFIX:
            pytest.fail(f"blazen_mount: {entry!r} is not PREFIX=DIR with a plain URL prefix "
                        f"(not {RESERVED_PREFIX})", pytrace=False)
        path = Path(folder.strip())
        path = (path if path.is_absolute() else base / path).resolve()
        if not path.is_dir():
            pytest.fail(f"blazen_mount: {entry!r}: {path} is not a folder", pytrace=False)
        mounts[f"/{prefix}/"] = path
    return mounts


@pytest.fixture(scope="session")
def blazen_site(pytestconfig: pytest.Config) -> Iterator[BlazenSite]:
    """Your dist/ served on 127.0.0.1 (a free port) for the session, plus a blank test page
    at /__blazen__/blank.html and the folders of --blazen-mount / blazen_mounts."""
    folder = dist_folder(pytestconfig)
    if not (folder / "blazen.js").is_file():
        pytest.fail(
            f"blazen_site: {folder} has no blazen.js. Point --blazen-dist (or the ini key "
            "blazen_dist) at a site built on the blazen_py bundle.",
            pytrace=False,
        )
    mounts = {**site_mounts(pytestconfig), "/__blazen__/": WEB}
    with serving(make_server(folder, 0, mounts=mounts)) as url:
        yield BlazenSite(url, folder, {p: f for p, f in mounts.items() if p != "/__blazen__/"})


@pytest.fixture(scope="session")
def blazen_chromium(pytestconfig: pytest.Config) -> str:
    """The Chromium executable: $BLAZEN_CHROMIUM, else one on PATH. None found: the test is
    skipped (an error with --blazen-require-chromium)."""
    try:
        path = find_chromium()
    except ChromiumNotFoundError as exc:
        pytest.fail(f"blazen_chromium: {exc}", pytrace=False)
    if path is None:
        if _option(pytestconfig, "require_chromium"):
            pytest.fail(f"blazen_chromium: {NO_CHROMIUM}", pytrace=False)
        pytest.skip(f"blazen_chromium: {NO_CHROMIUM}")
    return path


@pytest.fixture(scope="session")
def blazen_browser(blazen_chromium: str) -> Iterator[Any]:
    """A headless Chromium (that executable, never a downloaded one), once per session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=blazen_chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def blazen_page(
    blazen_browser: Any, blazen_site: BlazenSite, pytestconfig: pytest.Config
) -> Iterator[BlazenPage]:
    """A fresh browser context and page with blazen.js booted on the site's blank page.
    Uncaught page errors left at the end fail the test."""
    snapshot = str(_option(pytestconfig, "snapshot")) != "off"
    context = blazen_browser.new_context()
    try:
        page = BlazenPage(context.new_page(), blazen_site.url, snapshot=snapshot)
        page.goto()
        yield page
        page.check_errors()
    finally:
        context.close()


class BlazenCassette:
    """One test's recorded model calls: `cassettes/<module>/<test>.json` beside the test file.

    `model(make)` gives the model the test uses: with `--blazen-record`, `make()` (a real
    CompletionModel) wrapped by `CompletionModel.record`, the cassette written when the test
    ends; else `CompletionModel.replay` of the file, with no network and no key (a missing
    file fails the test, naming the option that records it)."""

    def __init__(self, path: Path, recording: bool) -> None:
        self.path = path
        self.recording = recording
        self.cassette: Any = None

    def model(self, make: Callable[[], Any]) -> Any:
        """The model for this test (see the class docstring)."""
        from blazen_py.llm import Cassette, CompletionModel

        if self.recording:
            self.cassette = Cassette()
            return CompletionModel.record(make(), self.cassette)
        if not self.path.is_file():
            pytest.fail(f"blazen_cassette: no cassette at {self.path}; record it with --blazen-record",
                        pytrace=False)
        return CompletionModel.replay(self.path.read_text())

    def save(self) -> None:
        """Write what was recorded (only when recording and the model was made)."""
        if self.recording and self.cassette is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(self.cassette.to_json())


@pytest.fixture
def blazen_cassette(request: pytest.FixtureRequest) -> Iterator[BlazenCassette]:
    """Record (`--blazen-record`) or replay this test's model calls; see BlazenCassette."""
    test_file = Path(str(request.node.path))
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    path = test_file.parent / "cassettes" / test_file.stem / f"{name}.json"
    cassette = BlazenCassette(path, bool(request.config.getoption("--blazen-record")))
    yield cassette
    cassette.save()
