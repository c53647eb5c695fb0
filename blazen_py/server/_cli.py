"""The command line of ``python -m blazen_py.server``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..workflow import Workflow

__all__ = ["load_app", "main"]

TOKEN_VARIABLE = "BLAZEN_SERVER_TOKEN"


def load_app(spec: str) -> list[Workflow]:
    """The workflows named by ``module:attribute`` (a Workflow, or a list/dict of them).

    Raises:
        SystemExit: the spec is malformed, or does not name workflows.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise SystemExit(f"--app must be module:attribute, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` users expect: their module beside them
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    if isinstance(value, Workflow):
        return [value]
    items = list(value.values()) if isinstance(value, dict) else list(value)
    if not items or not all(isinstance(w, Workflow) for w in items):
        raise SystemExit(f"{spec} must be a Workflow or a list or dict of Workflows")
    return items


def parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(prog="python -m blazen_py.server", description=__doc__)
    p.add_argument("--app", required=True, help="module:attribute naming the workflows to serve")
    p.add_argument("--db", default=None, help="database URL (default sqlite:///blazen_server.sqlite)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument(
        "--token", default=None, help=f"bearer token clients must send (default: ${TOKEN_VARIABLE})"
    )
    p.add_argument(
        "--cors-origin", action="append", default=[], help="an origin allowed by CORS (repeatable)"
    )
    p.add_argument("--concurrency", type=int, default=8, help="runs at once in this worker (default 8)")
    p.add_argument("--worker-id", default="local", help="DBOS executor id: one per worker (default local)")
    p.add_argument(
        "--max-body", type=int, default=1 << 20, help="largest request body, bytes (default 1 MiB)"
    )
    p.add_argument(
        "--max-snapshot", type=int, default=16 << 20, help="largest snapshot body, bytes (default 16 MiB)"
    )
    p.add_argument("--poll-interval", type=float, default=0.05, help="seconds between queue polls")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service until interrupted."""
    import uvicorn

    from ._http import LOCAL_HOSTS, create_app
    from ._worker import Worker

    args = parser().parse_args(argv)
    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    if token is None and args.host not in LOCAL_HOSTS:
        print(
            f"refusing to listen on {args.host} without a token: pass --token or set {TOKEN_VARIABLE} "
            "(auth may be off only on 127.0.0.1 or ::1)",
            file=sys.stderr,
        )
        return 2
    if token is not None and len(token) < 16:
        print("the token must be at least 16 characters", file=sys.stderr)
        return 2
    worker = Worker(
        load_app(args.app),
        db=args.db,
        concurrency=args.concurrency,
        worker_id=args.worker_id,
        poll_interval=args.poll_interval,
    )
    app = create_app(
        worker,
        token=token,
        cors_origins=args.cors_origin,
        max_body=args.max_body,
        max_snapshot=args.max_snapshot,
    )
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", lifespan="on")
    print(
        f"blazen_py.server: {len(worker.workflows)} workflows on http://{args.host}:{args.port}", flush=True
    )
    uvicorn.Server(config).run()
    return 0
