"""The static server: dist/ (or any folder, plus mounts) on 127.0.0.1, with the MIME types
Pyodide needs. `python build.py serve`, the tests, the benchmarks and the memory snapshot
all serve through `make_server`, which lives in `blazen_py/testing/_server.py` (the shipped
pytest plugin serves sites with it and cannot import blazen_build); `serve` is here."""

from __future__ import annotations

import contextlib
import errno
import http.server
from collections.abc import Callable

from blazen_build.common import BuildError
from blazen_build.paths import DIST, DIST_LAB, ROOT
from blazen_py.testing._server import MIME_TYPES, StaticHandler, make_server, server_url, serving

__all__ = ["MIME_TYPES", "StaticHandler", "listen", "make_server", "serve", "server_url", "serving"]


# Why a port cannot be had, by errno, for `serve`'s message (anything else is not expected).
PORT_PROBLEMS = {
    errno.EADDRINUSE: "is already in use (is another `python build.py serve` running?)",
    errno.EACCES: "is not allowed for this user (ports below 1024 need root)",
}


def listen(port: int, quiet: bool) -> http.server.ThreadingHTTPServer:
    """make_server(DIST, port) for `serve`: a port it cannot have is a BuildError that says
    which other ports to use, not an OSError traceback."""
    try:
        return make_server(DIST, port, quiet=quiet, precompressed=True)
    except OSError as exc:
        if exc.errno not in PORT_PROBLEMS:
            raise
        other = port + 1 if 1024 <= port < 65535 else 8000
        raise BuildError(
            f"port {port} on 127.0.0.1 {PORT_PROBLEMS[exc.errno]}. Serve on another port: "
            f"`python build.py serve --port 0` picks a free one, or name one "
            f"(`python build.py serve --port {other}`)."
        ) from exc


def serve(port: int, verbose: bool, build: Callable[[], object]) -> None:
    """Serve dist/ on 127.0.0.1 until interrupted, once `build` has made it. The port is
    taken first, so one that cannot be had fails at once, not after the build."""
    server = listen(port, quiet=not verbose)
    try:
        build()
        print(f"Serving {DIST.relative_to(ROOT)}/ at {server_url(server)}  (Ctrl+C stops)", flush=True)
        if (DIST_LAB / "index.html").is_file():
            print(f"JupyterLite notebooks at {server_url(server)}lab/", flush=True)
        else:
            print("(no JupyterLite site: `python build.py lab` writes one to dist/lab/)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    finally:
        server.server_close()
