#!/usr/bin/env python3
"""The one entry point of blazen_py: build the static site, serve it, test it.

    python build.py                 build dist/ (wheel, Pyodide runtime, lock file, web/)
    python build.py serve [--port]  build, then serve dist/ on 127.0.0.1
    python build.py test [-- ARGS]  set up .venv, npm packages and Chromium, build, run all tiers
    python build.py lab             build dist/, then the JupyterLite site dist/lab/
    python build.py bench [--quick] benchmarks against the peers; rewrites bench/RESULTS.md
    python build.py bench --lab     only the lab's time to first output (bench/lab_timing.py)

Standard library only: it runs with the system Python before any virtualenv exists.
Every set-up step is cached (.venv/, node_modules/, .cache/wheels/, .cache/lab-venv/),
so a second run downloads nothing. The steps themselves are the package blazen_build/
(one module per concern); this file is its command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from blazen_build import server
from blazen_build.bench import bench, bench_lab
from blazen_build.common import BuildError, log
from blazen_build.dist import build
from blazen_build.lab import build_lab
from blazen_build.paths import DIST_LAB, ROOT
from blazen_build.tiers import TIERS, test


def port_number(text: str) -> int:
    """A --port value: a whole number from 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (a number from 0 to 65535)")
    return port


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command line of build.py."""
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("build", help="build dist/ (the default)")
    serve_p = sub.add_parser("serve", help="build, then serve dist/ on 127.0.0.1")
    serve_p.add_argument(
        "--port", type=port_number, default=8000, help="port (0 picks a free one; default 8000)"
    )
    serve_p.add_argument("--verbose", action="store_true", help="log every request")
    sub.add_parser("lab", help="build dist/, then the JupyterLite site dist/lab/")
    test_p = sub.add_parser("test", help="set up, build and run the test tiers")
    test_p.add_argument(
        "--tier", action="append", choices=TIERS, help="run only this tier (repeatable; default: all)"
    )
    test_p.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    bench_p = sub.add_parser("bench", help="run the benchmarks, rewrite bench/RESULTS.md")
    bench_p.add_argument("--quick", action="store_true", help="tiny sizes, few runs (a smoke run)")
    bench_p.add_argument(
        "--lab", action="store_true", help="only the lab's time to first output (bench/lab_timing.py)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "serve":
            server.serve(args.port, args.verbose, build)
        elif args.command == "test":
            return test(args.tier or TIERS, args.pytest_args)
        elif args.command == "bench":
            return bench_lab(args.quick) if args.lab else bench(args.quick)
        elif args.command == "lab":
            build_lab()
            log(f"serve it with `python build.py serve`: {DIST_LAB.relative_to(ROOT)}/ is at /lab/")
        else:
            build()
    except BuildError as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
