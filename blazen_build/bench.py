"""`python build.py bench`: set up, then hand over to bench/run.py (the benchmarks)."""

from __future__ import annotations

import subprocess

from blazen_build.chromium import ensure_chromium
from blazen_build.common import log
from blazen_build.dist import build
from blazen_build.lab import build_lab
from blazen_build.npm import ensure_node
from blazen_build.paths import ROOT
from blazen_build.tiers import tier_env
from blazen_build.virtualenvs import ensure_bench_venv, ensure_venv


def bench(quick: bool) -> int:
    """Set up .venv (Playwright), the bench virtualenv, Chromium and dist/, then run
    bench/run.py, which measures everything and rewrites bench/RESULTS.md."""
    python = ensure_venv()
    peers = ensure_bench_venv()
    ensure_node()
    chromium = ensure_chromium()
    build()
    log(f"running the benchmarks{' (quick)' if quick else ''}: ~{1 if quick else 10} min")
    command = [str(python), "-m", "bench.run", "--bench-python", str(peers), *(["--quick"] if quick else [])]
    return subprocess.run(command, cwd=ROOT, env=tier_env(chromium), check=False).returncode


def bench_lab(quick: bool) -> int:
    """Build dist/lab/, then bench/lab_timing.py: where the lab's time goes from opening a
    notebook to its first output (cold and warm, medians; it prints a table)."""
    python = ensure_venv()
    chromium = ensure_chromium()
    build_lab()
    runs = "1" if quick else "5"
    log(f"timing the lab: {runs} cold and warm opens, ~{1 if quick else 5} min")
    command = [str(python), "-m", "bench.lab_timing", "--runs", runs]
    return subprocess.run(command, cwd=ROOT, env=tier_env(chromium), check=False).returncode
