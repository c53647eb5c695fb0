"""Debian packages, installed with apt-get when build.py runs as root: how a set-up step
gets a system program it cannot find (chromium.py does, for Chromium)."""

from __future__ import annotations

import os
import shutil

from blazen_build.common import run


def can_install() -> bool:
    """True when apt-get is on PATH and this process runs as root."""
    return shutil.which("apt-get") is not None and hasattr(os, "geteuid") and os.geteuid() == 0


def install(*packages: str) -> None:
    """`apt-get update`, then `apt-get install` the packages, without questions."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], env=env)
    run(["apt-get", "install", "-y", "-q", *packages], env=env)
