"""What every build step shares: its error, its log line, running a command, file helpers."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path


class BuildError(RuntimeError):
    """A set-up or build step failed; the message says what to do."""


def log(message: str) -> None:
    """Print one progress line of build.py."""
    print(f"[build.py] {message}", flush=True)


def run(cmd: Sequence[str | Path], *, quiet: bool = False, **kwargs: object) -> None:
    """Run a command, raising BuildError with the command line when it fails.

    quiet: capture its output and show it only if the command fails."""
    printable = " ".join(str(c) for c in cmd)
    if quiet:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        subprocess.run([str(c) for c in cmd], check=True, **kwargs)  # type: ignore[call-overload]
    except FileNotFoundError as exc:
        raise BuildError(f"command not found: {cmd[0]} (running: {printable})") from exc
    except subprocess.CalledProcessError as exc:
        output = f"\n{exc.stdout}" if quiet and exc.stdout else ""
        raise BuildError(f"command failed with exit code {exc.returncode}: {printable}{output}") from exc


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Terminate a process started with start_new_session, and its children (Chromium's)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text_if_changed(path: Path, text: str) -> None:
    """Write a text file unless it already holds exactly that text."""
    if not (path.is_file() and path.read_text() == text):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
