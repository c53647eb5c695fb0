"""The memory snapshot: Pyodide with blazen_py already imported, made in headless Chromium.

blazen.js boots from a memory snapshot of Pyodide with blazen_py imported when the build
leaves one beside the runtime: dist/pyodide/blazen-snapshot.json names the file, a small
container (`pack_container`) of the snapshot's non-zero blocks and the wheel's files, gzipped.
A snapshot loads only on the Pyodide build that made it, and holds the modules imported
from this wheel: its key covers both, and it is remade only when the key changes."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from blazen_build.chromium import CHROMIUM_ARGS, find_chromium
from blazen_build.common import BuildError, log, sha256_file, stop_process_group, write_text_if_changed
from blazen_build.paths import DIST, DIST_PYODIDE, PACKAGE, PYODIDE_VERSION
from blazen_build.server import StaticHandler, make_server, serving
from blazen_build.wheel import canonical_name, version

# 1: the raw memory image, gzipped; 2: its non-zero blocks, gzipped; 3: its non-zero blocks
# and the wheel's files (pack_container), gzipped.
SNAPSHOT_FORMAT = 3
SNAPSHOT_MANIFEST = DIST_PYODIDE / "blazen-snapshot.json"
SNAPSHOT_TIMEOUT_S = 240
SNAPSHOT_PREFIX = "/__blazen_snapshot__/"
# What the snapshot imports. Nothing here may keep a JS object that the page's globals do
# not reach (Pyodide records such objects as paths from globalThis), nor load a package.
SNAPSHOT_IMPORTS = "blazen_py, blazen_py._jsbridge, blazen_py.llm"

SNAPSHOT_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>blazen_py: making the memory snapshot</title>
<script type="module">
const report = (what, body) => fetch("%(prefix)s" + what, { method: "POST", body });
try {
  const { loadPyodide } = await import("/pyodide/pyodide.mjs");
  const pyodide = await loadPyodide({ indexURL: "/pyodide/", _makeSnapshot: true });
  const wheel = await fetch("/pyodide/%(wheel)s");
  if (!wheel.ok) throw new Error("%(wheel)s: HTTP " + wheel.status);
  // loadPackage is not allowed before a snapshot: unpack the wheel instead.
  pyodide.unpackArchive(new Uint8Array(await wheel.arrayBuffer()), "wheel");
  pyodide.runPython("import %(imports)s");
  await report("snapshot", pyodide.makeMemorySnapshot());
} catch (error) {
  await report("error", String((error && error.stack) || error));
}
</script>
"""


# The container of format 3: what a page needs to restore Python, in one file. About half of
# a memory image is zero pages: only the other blocks are kept. The wheel's files are kept
# too (the file system is not in the image), stored: a page writes them as they are, where it
# would otherwise fetch the wheel and inflate its ~80 entries on its main thread (measured:
# reloads ~80 ms faster, first visits ~50). All integers are little-endian u32:
#
#   magic "BLZSNAP3", image size, block-run count R, file count F,
#   R x (offset, length), F x (name length, data length),
#   the runs' bytes in order, then each file's UTF-8 name and data in order.
#
# blazen.js (web/boot.js, expandContainer) checks every bound and every name of it.
CONTAINER_MAGIC = b"BLZSNAP3"
SPARSE_BLOCK = 4096
_HEAD = struct.Struct("<8sIII")
_PAIR = struct.Struct("<II")


def pack_container(image: bytes, files: Sequence[tuple[str, bytes]] = ()) -> bytes:
    """The container of `image` (its runs of non-zero SPARSE_BLOCK-sized blocks) and of
    `files`, (relative path, bytes) pairs."""
    if len(image) >= 2**32:
        raise BuildError(f"a memory image of {len(image)} bytes does not fit the snapshot container")
    for name, data in files:
        if not is_plain_path(name):
            raise BuildError(f"{name!r} cannot go in the snapshot container: not a plain relative file path")
        if len(data) >= 2**32:
            raise BuildError(f"{name!r} cannot go in the snapshot container: {len(data)} bytes is too large")
    runs = nonzero_runs(image)
    named = [(name.encode(), data) for name, data in files]
    view = memoryview(image)
    return b"".join(
        [
            _HEAD.pack(CONTAINER_MAGIC, len(image), len(runs), len(named)),
            *(_PAIR.pack(offset, length) for offset, length in runs),
            *(_PAIR.pack(len(name), len(data)) for name, data in named),
            *(view[offset : offset + length] for offset, length in runs),
            *(part for pair in named for part in pair),
        ]
    )


def nonzero_runs(image: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each run of non-zero SPARSE_BLOCK-sized blocks of `image`."""
    zero = bytes(SPARSE_BLOCK)
    runs: list[tuple[int, int]] = []
    view = memoryview(image)
    for start in range(0, len(image), SPARSE_BLOCK):
        block = view[start : start + SPARSE_BLOCK]
        if block == zero[: len(block)]:
            continue
        if runs and runs[-1][0] + runs[-1][1] == start:
            runs[-1] = (runs[-1][0], runs[-1][1] + len(block))
        else:
            runs.append((start, len(block)))
    return runs


def is_plain_path(name: str) -> bool:
    """Whether `name` is a relative path of a file, with no "", "." or ".." part (what
    boot.js's safeName accepts)."""
    parts = name.split("/")
    return bool(name) and "\\" not in name and all(part not in ("", ".", "..") for part in parts)


def unpack_container(packed: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The memory image and the files a container holds (the inverse of pack_container; for
    tests and checks). Raises ValueError for a damaged one."""
    if len(packed) < _HEAD.size:
        raise ValueError("a blazen snapshot container cut short")
    magic, size, run_count, file_count = _HEAD.unpack_from(packed)
    if magic != CONTAINER_MAGIC:
        raise ValueError("not a blazen snapshot container")
    position = _HEAD.size + (run_count + file_count) * _PAIR.size
    if position > len(packed):
        raise ValueError("the tables of a blazen snapshot container are cut short")
    pairs = [_PAIR.unpack_from(packed, _HEAD.size + i * _PAIR.size) for i in range(run_count + file_count)]
    image = bytearray(size)
    for index, (offset, length) in enumerate(pairs[:run_count]):
        if offset + length > size or position + length > len(packed):
            raise ValueError(f"block run {index} of a blazen snapshot container is out of bounds")
        image[offset : offset + length] = packed[position : position + length]
        position += length
    files = []
    for index, (name_length, data_length) in enumerate(pairs[run_count:]):
        if position + name_length + data_length > len(packed):
            raise ValueError(f"file {index} of a blazen snapshot container is out of bounds")
        name = packed[position : position + name_length].decode()
        position += name_length
        files.append((name, packed[position : position + data_length]))
        position += data_length
    if position != len(packed):
        raise ValueError("a blazen snapshot container with bytes left over")
    return bytes(image), files


def wheel_files(wheel: Path) -> list[tuple[str, bytes]]:
    """(path, bytes) of each file of `wheel`, in the archive's order."""
    with zipfile.ZipFile(wheel) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist() if not info.is_dir()]


def snapshot_key(wheel: Path) -> str:
    """What a snapshot depends on: the Pyodide runtime files, the wheel, how it is made."""
    digest = hashlib.sha256(f"{SNAPSHOT_FORMAT}\0{SNAPSHOT_IMPORTS}\0{SNAPSHOT_PAGE}\0".encode())
    for path in [*(DIST_PYODIDE / n for n in ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm")), wheel]:
        digest.update(f"{path.name}\0{sha256_file(path)}\0".encode())
    return digest.hexdigest()


def ensure_memory_snapshot(wheel: Path) -> set[Path]:
    """Make dist/pyodide's memory snapshot unless it is current; return its files (none
    without a Chromium: the site then boots Pyodide normally)."""
    key = snapshot_key(wheel)
    if SNAPSHOT_MANIFEST.is_file():
        manifest = json.loads(SNAPSHOT_MANIFEST.read_text())
        named = [manifest.get(field) for field in ("file", "zstd_file")]
        files = {SNAPSHOT_MANIFEST, *(DIST_PYODIDE / name for name in named if isinstance(name, str))}
        if manifest.get("key") == key and all(path.is_file() for path in files):
            return files | add_zstd_copy(manifest)
    chromium = find_chromium()
    if chromium is None:
        log("no Chromium found: dist/ gets no memory snapshot (pages boot Pyodide without one)")
        return set()
    started = time.monotonic()
    try:
        raw = make_memory_snapshot(chromium, wheel)
    except BuildError as exc:
        log(f"warning: {exc}\ndist/ gets no memory snapshot (pages boot Pyodide without one)")
        return set()
    container = pack_container(raw, wheel_files(wheel))
    packed = gzip.compress(container, compresslevel=6, mtime=0)
    target = DIST_PYODIDE / f"blazen-snapshot-{key[:16]}.bin.gz"
    target.write_bytes(packed)
    files = {SNAPSHOT_MANIFEST, target}
    zstd = zstd_compress(container)
    if zstd is not None:
        zstd_target = target.with_suffix(".zst")
        zstd_target.write_bytes(zstd)
        files.add(zstd_target)
    manifest = {
        "format": SNAPSHOT_FORMAT,
        "key": key,
        "file": target.name,
        "size": len(raw),
        "container_size": len(container),
        "gzip_size": len(packed),
        # The same container zstd-compressed, for servers that send it as `Content-Encoding:
        # zstd` under the .gz's URL (pages always ask for "file"); null without a zstd here.
        "zstd_file": None if zstd is None else target.with_suffix(".zst").name,
        "zstd_size": None if zstd is None else len(zstd),
        "pyodide": PYODIDE_VERSION,
        "package": canonical_name(PACKAGE),
        "version": version(),
        "wheel": wheel.name,
        "imports": SNAPSHOT_IMPORTS,
    }
    write_text_if_changed(SNAPSHOT_MANIFEST, json.dumps(manifest, indent=2) + "\n")
    log(
        f"made the memory snapshot in {time.monotonic() - started:.1f} s: "
        f"{len(raw) / 2**20:.1f} MiB, {len(container) / 2**20:.1f} MiB without its zero blocks, "
        "with the wheel's files, "
        f"{len(packed) / 2**20:.1f} MiB gzipped"
        + ("" if zstd is None else f", {len(zstd) / 2**20:.1f} MiB with zstd")
    )
    return files


def add_zstd_copy(manifest: dict[str, object]) -> set[Path]:
    """A current snapshot made without zstd gets its zstd copy once zstd is here."""
    if manifest.get("zstd_file") is not None or shutil.which("zstd") is None:
        return set()
    gz = DIST_PYODIDE / str(manifest["file"])
    zstd = zstd_compress(gzip.decompress(gz.read_bytes()))
    if zstd is None:
        return set()
    target = gz.with_suffix(".zst")
    target.write_bytes(zstd)
    manifest |= {"zstd_file": target.name, "zstd_size": len(zstd)}
    write_text_if_changed(SNAPSHOT_MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return {target}


ZSTD_LEVEL = 12  # 19% smaller than gzip -6 in ~10 s; 19 gains 8% more for 4x the time


def zstd_compress(data: bytes) -> bytes | None:
    """`data` zstd-compressed, or None when nothing here can: the standard library's
    compression.zstd (Python 3.14 on), else the `zstd` program. Optional: the pages always
    have the gzip file, and blazen.js never decodes zstd itself (only a browser that sent
    `Accept-Encoding: zstd` is ever given it, as a Content-Encoding)."""
    try:
        # Named by string: the module is standard only from 3.14 on, the build runs on 3.11.
        zstd = importlib.import_module("compression.zstd")
    except ImportError:
        pass
    else:
        return bytes(zstd.compress(data, level=ZSTD_LEVEL))
    program = shutil.which("zstd")
    if program is None:
        log("no zstd (Python 3.14 or the zstd program): the snapshot is gzip only")
        return None
    done = subprocess.run(
        [program, f"-{ZSTD_LEVEL}", "-q", "-c", "-"], input=data, capture_output=True, check=False
    )
    if done.returncode != 0 or not done.stdout.startswith(b"\x28\xb5\x2f\xfd"):
        why = done.stderr.decode(errors="replace").strip()
        log(f"warning: zstd failed ({why}): the snapshot is gzip only")
        return None
    return done.stdout


class _SnapshotHandler(StaticHandler):
    """Serves dist/ and the snapshot-making page; takes the page's POSTed result."""

    page: ClassVar[bytes] = b""
    outcome: ClassVar[dict[str, bytes]] = {}
    arrived: ClassVar[threading.Event]

    def do_GET(self) -> None:
        """The making page at /__blazen_snapshot__/, dist/ everywhere else."""
        if self.path.split("?", 1)[0] != SNAPSHOT_PREFIX:
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def do_POST(self) -> None:
        """/__blazen_snapshot__/snapshot (the bytes) or .../error (a message)."""
        what = self.path.removeprefix(SNAPSHOT_PREFIX)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204 if what in ("snapshot", "error") else 404)
        self.end_headers()
        if what in ("snapshot", "error"):
            self.outcome[what] = body
            self.arrived.set()


def make_memory_snapshot(chromium: str, wheel: Path) -> bytes:
    """Open the snapshot-making page in headless Chromium; return the snapshot it posts.

    Made in Chromium, not Node: a snapshot made in Node 20 (no stack switching) breaks
    run_sync when loaded in a browser."""
    page = SNAPSHOT_PAGE % {"prefix": SNAPSHOT_PREFIX, "wheel": wheel.name, "imports": SNAPSHOT_IMPORTS}
    outcome: dict[str, bytes] = {}
    arrived = threading.Event()
    server = make_server(DIST, handler=_SnapshotHandler, page=page.encode(), outcome=outcome, arrived=arrived)
    with serving(server) as url, tempfile.TemporaryDirectory(prefix="blazen-snapshot-") as profile:
        command = [chromium, "--headless", *CHROMIUM_ARGS, f"--user-data-dir={profile}"]
        browser = subprocess.Popen(
            [*command, url + SNAPSHOT_PREFIX.lstrip("/")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            problem = wait_for_snapshot(browser, arrived)
        finally:
            stop_process_group(browser)
    if "snapshot" in outcome:
        return outcome["snapshot"]
    if "error" in outcome:
        problem = f"the page failed:\n{outcome['error'].decode(errors='replace')}"
    raise BuildError(f"making the memory snapshot with {chromium}: {problem}")


def wait_for_snapshot(browser: subprocess.Popen[bytes], arrived: threading.Event) -> str:
    """Wait until the page posts its result; else say why not (Chromium exited, timeout)."""
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
    while not arrived.wait(0.25):
        if browser.poll() is not None:
            return f"Chromium exited (code {browser.returncode}) before the page answered"
        if time.monotonic() > deadline:
            return f"no answer from the page in {SNAPSHOT_TIMEOUT_S} s"
    return ""
