"""Finding a Chromium (or installing Debian's), and the flags every launch uses.

The lookup and the flags live in `blazen_py/testing/_chromium.py` (the shipped pytest
plugin needs them and cannot import blazen_build); this module adds the install."""

from __future__ import annotations

from blazen_build import apt
from blazen_build.common import BuildError, log
from blazen_py.testing._chromium import CHROMIUM_ARGS, CHROMIUM_NAMES, ChromiumNotFoundError
from blazen_py.testing._chromium import find_chromium as _find_chromium

__all__ = ["CHROMIUM_ARGS", "CHROMIUM_NAMES", "ensure_chromium", "find_chromium"]



def find_chromium() -> str | None:
    """A Chromium: $BLAZEN_CHROMIUM, else one of the usual names on PATH (the lookup itself
    lives in blazen_py.testing, which the shipped plugin uses too)."""
    try:
        return _find_chromium()
    except ChromiumNotFoundError as exc:
        raise BuildError(str(exc)) from None


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
