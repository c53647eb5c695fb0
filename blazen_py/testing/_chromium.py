"""Finding a Chromium, and the flags every launch uses (standard library only).

`find_chromium()` is the one lookup: the plugin, build.py, the tests, the benchmarks and the
memory snapshot all use it, so they all drive the same browser. It never downloads one."""

from __future__ import annotations

import os
import shutil

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags that keep Chromium quiet on a closed network (every launch of the tests and benches).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Chromium 156 builds its omnibox popup (a WebUI page in a renderer of its own) for every
    # new window, headless too: ~0.1-1 s of CPU per browser context that no test ever shows,
    # taken from the page under test on a 2-core machine (traced during a cold start).
    "--disable-features=WebUIOmniboxPopup",
]
NO_CHROMIUM = (
    "no Chromium found: install one (Debian: apt-get install chromium) or point "
    "BLAZEN_CHROMIUM at a Chromium/Chrome executable (a browser is never downloaded)"
)


class ChromiumNotFoundError(LookupError):
    """BLAZEN_CHROMIUM names something that is not an executable."""


def find_chromium() -> str | None:
    """A Chromium: $BLAZEN_CHROMIUM, else one of the usual names on PATH (Debian's
    package installs /usr/bin/chromium); None when there is none."""
    configured = os.environ.get("BLAZEN_CHROMIUM")
    if configured:
        path = shutil.which(configured)
        if path is None:
            raise ChromiumNotFoundError(f"BLAZEN_CHROMIUM={configured} is not an executable")
        return path
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None
