"""Finding a Chromium (or installing Debian's), and the flags every launch uses.

`find_chromium()` is the one lookup: the tests, the benchmarks and the memory snapshot
all use it, so they all drive the same browser. It never downloads a browser of its own."""

from __future__ import annotations

import os
import shutil

from blazen_build import apt
from blazen_build.common import BuildError, log

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
]


def find_chromium() -> str | None:
    """A Chromium: $BLAZEN_CHROMIUM, else one of the usual names on PATH."""
    configured = os.environ.get("BLAZEN_CHROMIUM")
    if configured:
        path = shutil.which(configured)
        if path is None:
            raise BuildError(f"BLAZEN_CHROMIUM={configured} is not an executable")
        return path
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium() -> str:
    """Find a Chromium, installing Debian's with apt-get when running as root; never a tool's own."""
    path = find_chromium()
    if path:
        return path
    if not apt.can_install():
        raise BuildError(
            "No Chromium found. Install one (Debian: apt-get install chromium) "
            "or point BLAZEN_CHROMIUM at a Chromium/Chrome executable."
        )
    log("no Chromium on PATH: installing Debian's chromium with apt-get")
    apt.install("chromium")
    path = find_chromium()
    if path is None:
        raise BuildError("apt-get installed chromium but no chromium executable is on PATH")
    return path
