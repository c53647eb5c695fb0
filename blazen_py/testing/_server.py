"""The static server: a folder (plus mounts) on 127.0.0.1 with the MIME types Pyodide needs
(standard library only). The plugin's `blazen_site`, `python build.py serve`, the tests, the
benchmarks and the memory snapshot all serve through `make_server`."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator, Mapping
from os import PathLike
from pathlib import Path
from typing import BinaryIO, ClassVar

MIME_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".json": "application/json",
    ".map": "application/json",
    ".html": "text/html",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ts": "text/plain",
}


_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _starts_with(path: str, magic: bytes) -> bool:
    """Whether the file at `path` is there and starts with `magic` (a real compressed file)."""
    try:
        with open(path, "rb") as file:
            return file.read(len(magic)) == magic
    except OSError:
        return False


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """Serves one folder (plus optional mounts) with the MIME types Pyodide needs."""

    extensions_map = {  # noqa: RUF012 (an instance attribute of the stdlib base class)
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        **MIME_TYPES,
    }
    mounts: ClassVar[dict[str, Path]] = {}
    quiet: ClassVar[bool] = True
    # Send gzip files (the memory snapshot) with `Content-Encoding: gzip` to a browser that
    # accepts it: the browser then gunzips them off the page's main thread. When the build
    # also left a zstd copy beside it (X.zst for X.gz) and the browser accepts zstd, that copy
    # is sent instead, under the same URL, with `Content-Encoding: zstd` (a quarter smaller).
    # `serve` does; the tests also serve them as plain files, which blazen.js gunzips itself.
    precompressed: ClassVar[bool] = False
    content_encoding: str | None = None
    served_path: str | None = None

    def send_head(self) -> BinaryIO | None:
        """Decide the Content-Encoding (and so the file) before the stdlib sends the headers."""
        self.served_path = None
        path = self.translate_path(self.path)
        self.content_encoding, self.served_path = self.encoding_of(path)
        return super().send_head()

    def encoding_of(self, path: str) -> tuple[str | None, str | None]:
        """The encoding and file to send for `path` (None, None: the file as it is)."""
        if not (self.precompressed and path.endswith(".gz")):
            return None, None
        offered = self.headers.get("Accept-Encoding", "").split(",")
        accepted = {part.split(";", 1)[0].strip() for part in offered}
        zstd = path.removesuffix(".gz") + ".zst"
        if "zstd" in accepted and _starts_with(zstd, _ZSTD_MAGIC):
            return "zstd", zstd
        if "gzip" in accepted and _starts_with(path, _GZIP_MAGIC):
            return "gzip", None
        return None, None

    def guess_type(self, path: str | PathLike[str]) -> str:
        """The decoded type for a file sent with a Content-Encoding."""
        return "application/octet-stream" if self.content_encoding else super().guess_type(path)

    def translate_path(self, path: str) -> str:
        """Map URL paths under a mount prefix to that mount's folder."""
        if self.served_path is not None:
            return self.served_path
        clean = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, folder in self.mounts.items():
            if clean.startswith(prefix):
                relative = clean[len(prefix) :]
                resolved = (folder / relative).resolve()
                if resolved == folder or folder in resolved.parents:
                    return str(resolved)
                return str(folder / "__forbidden__")
        return super().translate_path(path)

    def end_headers(self) -> None:
        """Never let a browser cache a stale build."""
        self.send_header("Cache-Control", "no-cache")
        if self.content_encoding:
            self.send_header("Content-Encoding", self.content_encoding)
            self.send_header("Vary", "Accept-Encoding")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        """Log requests only when asked to (serve --verbose)."""
        if not self.quiet:
            super().log_message(format, *args)


def make_server(
    directory: Path,
    port: int = 0,
    mounts: Mapping[str, Path] | None = None,
    quiet: bool = True,
    handler: type[StaticHandler] | None = None,
    **attrs: object,
) -> http.server.ThreadingHTTPServer:
    """A ThreadingHTTPServer for `directory` on 127.0.0.1 (port 0 picks a free port).

    `mounts` maps URL prefixes ending in "/" to other folders (the tests use it);
    `handler`, a StaticHandler subclass, and `attrs`, class attributes of it, extend it."""
    attrs |= {"mounts": {p: Path(f).resolve() for p, f in (mounts or {}).items()}, "quiet": quiet}
    served = type("Handler", (handler or StaticHandler,), attrs)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(served, directory=str(directory))
    )
    server.daemon_threads = True
    return server


def server_url(server: http.server.ThreadingHTTPServer) -> str:
    """The http://127.0.0.1:PORT/ base URL of a running server."""
    return f"http://127.0.0.1:{server.server_address[1]}/"


@contextlib.contextmanager
def serving(server: http.server.ThreadingHTTPServer) -> Iterator[str]:
    """Serve `server` from a daemon thread while the block runs; yield its base URL. On
    the way out (an error included) it stops serving and its socket is closed."""
    thread = threading.Thread(target=server.serve_forever, name="blazen-static-server", daemon=True)
    thread.start()
    try:
        yield server_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
