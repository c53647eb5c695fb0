"""Fast boot from the build's memory snapshot, in headless Chromium.

The snapshot is Pyodide with blazen_py imported, made by ``python build.py`` in Chromium.
These tests boot tests/browser/pages/boot.html (init, then one workflow) against a copy of
dist/ served on 127.0.0.1, damage that copy in the ways a deployment can (a broken or
truncated file, another Pyodide build, a stale manifest), and check that every boot still
runs the workflow, and says through ``onProgress`` why it did not use the snapshot.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from blazen_build.paths import DIST, DIST_PYODIDE, PYODIDE_VERSION
from blazen_build.server import StaticHandler, make_server, serving
from blazen_build.snapshot import (
    SNAPSHOT_MANIFEST,
    pack_container,
    snapshot_key,
    unpack_container,
    wheel_files,
)
from blazen_build.wheel import version, wheel_name

BOOT_TIMEOUT_MS = 120_000
PAGES = Path(__file__).parent / "pages"
CACHE_NAME = "blazen-py-snapshot"


class Site:
    """A served copy of dist/ that a test may damage."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url

    @property
    def manifest_path(self) -> Path:
        return self.root / "pyodide" / "blazen-snapshot.json"

    @property
    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.manifest_path.read_text())
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.manifest_path.write_text(json.dumps(manifest))

    @property
    def snapshot_path(self) -> Path:
        return self.root / "pyodide" / self.manifest["file"]

    def snapshot_url(self) -> str:
        return f"{self.url}pyodide/{self.manifest['file']}"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    if not SNAPSHOT_MANIFEST.is_file():
        pytest.fail("dist/ has no memory snapshot: `python build.py` makes one when it finds a Chromium")
    root = tmp_path / "site"
    shutil.copytree(DIST, root, ignore=shutil.ignore_patterns("lab"))
    with serving(make_server(root, 0, mounts={"/_test/": PAGES})) as url:
        yield Site(root, url)


class Visitor:
    """One browser context (one profile: its own Cache API) visiting the boot page."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.page.set_default_timeout(BOOT_TIMEOUT_MS)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def boot(self, site: Site, query: str = "") -> dict[str, Any]:
        """Open the boot page; return what it reports (stages, result or error)."""
        self.requests.clear()
        self.page.goto(f"{site.url}_test/boot.html{query}")
        self.page.wait_for_function("window.__boot !== undefined")
        outcome: dict[str, Any] = self.page.evaluate("window.__boot")
        assert self.errors == [], f"uncaught errors in the page: {self.errors}"
        return outcome

    def cached(self) -> list[str]:
        """URLs of the Cache API entries of the snapshot cache."""
        urls: list[str] = self.page.evaluate(
            f"async () => (await (await caches.open('{CACHE_NAME}')).keys()).map((r) => r.url)"
        )
        return urls

    def wait_cached(self, wanted: list[str], timeout: float = 20.0) -> None:
        """The decoded copy is stored after boot, off the critical path: wait for it."""
        deadline = time.monotonic() + timeout
        while self.cached() != wanted:
            if time.monotonic() > deadline:
                pytest.fail(f"cache holds {self.cached()}, expected {wanted}")
            time.sleep(0.1)

    def put_in_cache(self, url: str, data: bytes) -> None:
        """Store `data` as the decoded copy of `url` (a damaged cached copy)."""
        self.page.evaluate(
            """async ([name, key, data]) => {
                const cache = await caches.open(name);
                await cache.put(key, new Response(Uint8Array.from(atob(data), (c) => c.charCodeAt(0))));
            }""",
            [CACHE_NAME, url + "?decoded", base64.b64encode(data).decode()],
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visitor(browser: Any) -> Iterator[Visitor]:
    visitor = Visitor(browser)
    yield visitor
    visitor.close()


def stages(outcome: dict[str, Any]) -> list[str]:
    return [report["stage"] for report in outcome["stages"]]


def fallback_message(outcome: dict[str, Any]) -> str:
    messages = [report["message"] for report in outcome["stages"] if report["stage"] == "fallback"]
    assert len(messages) == 1, outcome["stages"]
    return messages[0]


def booted_from_snapshot(outcome: dict[str, Any]) -> bool:
    return "snapshot" in stages(outcome) and "fallback" not in stages(outcome)


# -- the build ------------------------------------------------------------------------------


def test_build_made_a_snapshot_for_this_runtime_and_wheel() -> None:
    manifest = json.loads(SNAPSHOT_MANIFEST.read_text())
    wheel = DIST_PYODIDE / wheel_name()
    assert manifest["key"] == snapshot_key(wheel)
    assert manifest["wheel"] == wheel.name
    assert manifest["pyodide"] == PYODIDE_VERSION
    packed = gzip.decompress((DIST_PYODIDE / manifest["file"]).read_bytes())
    assert len(packed) == manifest["container_size"]
    raw, files = unpack_container(packed)
    assert len(raw) == manifest["size"]
    assert len(packed) < 0.75 * len(raw)  # the zero blocks stay out of the file
    assert files == wheel_files(wheel)  # what the page writes back, not fetching the wheel
    # Pyodide's header: a magic number, then the build id the runtime checks on load.
    build_id = re.search(r'BUILD_ID:"([0-9a-f]{64})"', (DIST_PYODIDE / "pyodide.mjs").read_text())
    assert build_id is not None
    words = [int.from_bytes(raw[i : i + 4], "little") for i in range(16, 48, 4)]
    assert "".join(f"{w:08x}" for w in words) == build_id.group(1)
    current = {manifest["file"], manifest["zstd_file"]}
    stale = [p.name for p in DIST_PYODIDE.glob("blazen-snapshot-*") if p.name not in current]
    assert stale == []


def test_the_zstd_copy_holds_the_same_container() -> None:
    """Made when Python 3.14 or the zstd program is there; served for the .gz's URL."""
    manifest = json.loads(SNAPSHOT_MANIFEST.read_text())
    if manifest["zstd_file"] is None:
        pytest.skip("this build made no zstd copy (no Python 3.14 and no zstd program)")
    assert manifest["zstd_file"] == manifest["file"].removesuffix(".gz") + ".zst"
    zstd = (DIST_PYODIDE / manifest["zstd_file"]).read_bytes()
    assert len(zstd) == manifest["zstd_size"] < manifest["gzip_size"]
    unzstd = subprocess.run(["zstd", "-d", "-c", "-q", "-"], input=zstd, capture_output=True, check=True)
    assert unzstd.stdout == gzip.decompress((DIST_PYODIDE / manifest["file"]).read_bytes())


# -- booting from it ------------------------------------------------------------------------


def test_boots_from_the_snapshot_then_reuses_the_cached_copy(visitor: Visitor, site: Site) -> None:
    first = visitor.boot(site)
    assert first["result"] == 42
    assert stages(first) == ["runtime", "snapshot", "restore", "package", "bridge", "ready"]
    assert site.snapshot_url() in visitor.requests
    visitor.wait_cached([site.snapshot_url() + "?decoded"])

    again = visitor.boot(site)
    assert again["result"] == 42
    assert booted_from_snapshot(again)
    assert site.snapshot_url() not in visitor.requests  # read from the Cache API
    # the package's files are back: a module the snapshot did not import loads from them
    assert (
        visitor.page.evaluate(
            """async () => {
            const pyodide = await (await import('/blazen.js')).default();
            return pyodide.runPython(
                "import blazen_py._compat._idb_unavailable, importlib.metadata as m; m.version('blazen_py')");
        }"""
        )
        == version()
    )


def test_a_file_the_host_already_gunzipped_is_used_as_it_is(visitor: Visitor, site: Site) -> None:
    """A host that sends .gz files with `Content-Encoding: gzip` has the browser decode them:
    the page then receives the raw snapshot."""
    site.snapshot_path.write_bytes(gzip.decompress(site.snapshot_path.read_bytes()))
    outcome = visitor.boot(site)
    assert booted_from_snapshot(outcome), outcome["stages"]
    assert outcome["result"] == 42


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_a_snapshot_served_with_content_encoding_boots_and_is_cached(
    visitor: Visitor, site: Site, encoding: str
) -> None:
    """`python build.py serve` sends the .gz with `Content-Encoding: gzip`, or its .zst twin
    under the same URL with `Content-Encoding: zstd` (the browser decodes either off the
    main thread); the container is still what is cached."""
    zstd_file = site.manifest.get("zstd_file")
    if encoding == "zstd" and zstd_file is None:
        pytest.skip("this build made no zstd copy (no Python 3.14 and no zstd program)")
    if encoding == "gzip" and zstd_file is not None:
        (site.root / "pyodide" / zstd_file).unlink()  # the host has only the gzip file
    encodings: dict[str, str | None] = {}
    visitor.page.on("response", lambda r: encodings.__setitem__(r.url, r.headers.get("content-encoding")))
    with serving(make_server(site.root, 0, mounts={"/_test/": PAGES}, precompressed=True)) as url:
        encoded = Site(site.root, url)
        outcome = visitor.boot(encoded)
        assert booted_from_snapshot(outcome), outcome["stages"]
        assert encodings[encoded.snapshot_url()] == encoding
        visitor.wait_cached([encoded.snapshot_url() + "?decoded"])
        size = visitor.page.evaluate(
            f"async () => (await (await (await caches.open('{CACHE_NAME}')).match('{encoded.snapshot_url()}?decoded')).arrayBuffer()).byteLength"
        )
        assert size == site.manifest["container_size"]


def test_the_page_does_not_keep_the_snapshot_bytes(visitor: Visitor, site: Site) -> None:
    """Pyodide keeps its loadPyodide options for the life of the page (a private `_api`
    detail): what blazen.js gave it as `_loadSnapshot` must not hold on to 30 MB."""
    assert booted_from_snapshot(visitor.boot(site))
    held = visitor.page.evaluate(
        """async () => {
            const pyodide = await (await import('/blazen.js')).default();
            const given = pyodide._api.config._loadSnapshot;
            return given === undefined ? 'absent' : String(await given);
        }"""
    )
    assert held in ("absent", "undefined")


def test_snapshot_false_boots_normally_and_never_fetches_it(visitor: Visitor, site: Site) -> None:
    outcome = visitor.boot(site, "?snapshot=0")
    assert outcome["result"] == 42
    assert stages(outcome) == ["runtime", "package", "bridge", "ready"]
    # Only the small manifest, requested when blazen.js was imported (init's options unknown).
    fetched = [url for url in visitor.requests if "blazen-snapshot" in url]
    assert fetched == [f"{site.url}pyodide/blazen-snapshot.json"], fetched
    assert site.snapshot_url() not in visitor.requests


def test_init_uses_the_requests_started_at_import(visitor: Visitor, site: Site) -> None:
    """The manifest and the runtime's modules are requested when blazen.js is imported,
    once: an init() called later boots from them."""
    visitor.page.goto(site.url + "_test/blank.html")
    outcome = visitor.page.evaluate(
        """async () => {
            const stages = [];
            const { default: init } = await import('/blazen.js');
            await new Promise((resolve) => setTimeout(resolve, 500));
            const called = performance.now();
            await init({ onProgress: ({ stage, message }) => stages.push({ stage, message }) });
            const started = {};
            for (const entry of performance.getEntriesByType('resource')) {
                (started[entry.name] ??= []).push(entry.startTime < called);
            }
            return { stages, started };
        }"""
    )
    assert booted_from_snapshot(outcome), outcome["stages"]
    for name in ("blazen-snapshot.json", "pyodide.mjs", "pyodide.asm.mjs"):
        assert outcome["started"].get(f"{site.url}pyodide/{name}") == [True], (name, outcome["started"])
    # The snapshot itself only once init() asked for it.
    assert outcome["started"].get(site.snapshot_url()) == [False], outcome["started"]


def test_a_page_that_imports_blazen_js_and_never_calls_init_is_left_in_peace(
    visitor: Visitor, site: Site
) -> None:
    """The requests made at import fail quietly (here: no manifest) and fetch nothing big."""
    no_manifest(site)
    rejections: list[str] = []
    visitor.page.on("console", lambda m: rejections.append(m.text) if "Uncaught" in m.text else None)
    visitor.page.goto(site.url + "_test/blank.html")
    visitor.page.evaluate("import('/blazen.js').then(() => new Promise((r) => setTimeout(r, 1500)))")
    assert visitor.errors == []
    assert rejections == []
    assert f"{site.url}pyodide/blazen-snapshot.json" in visitor.requests
    assert not [url for url in visitor.requests if url.endswith((".wasm", ".gz", ".whl", ".zip"))]


class _StalledManifestHandler(StaticHandler):
    """Never answers the default runtime's manifest (until the test ends): an init() that
    must not use the request started at import must not wait for it either."""

    released: ClassVar[threading.Event]

    def do_GET(self) -> None:
        if self.path == "/pyodide/blazen-snapshot.json":
            self.released.wait(BOOT_TIMEOUT_MS / 1000)
        super().do_GET()


@pytest.mark.parametrize(
    "options", [{"indexURL": "/alt/"}, {"snapshot": False}], ids=["indexURL", "no-snapshot"]
)
def test_init_with_other_options_ignores_the_requests_started_at_import(
    visitor: Visitor, site: Site, options: dict[str, Any]
) -> None:
    released = threading.Event()
    server = make_server(
        site.root,
        0,
        mounts={"/alt/": site.root / "pyodide", "/_test/": PAGES},
        handler=_StalledManifestHandler,
        released=released,
    )
    with serving(server) as url:
        try:
            visitor.page.goto(f"{url}_test/blank.html")
            outcome = visitor.page.evaluate(
                """async (options) => {
                    const stages = [];
                    const { default: init, Workflow } = await import('/blazen.js');
                    await init({ ...options, onProgress: ({ stage, message }) => stages.push({ stage, message }) });
                    const wf = new Workflow('other');
                    wf.addStep('only', ['blazen::StartEvent'], (e) => ({ type: 'blazen::StopEvent', result: e.x + 1 }));
                    return { result: (await wf.run({ x: 41 })).data, stages };
                }""",
                options,
            )
        finally:
            released.set()  # before the server stops: the stalled request ends
    assert outcome["result"] == 42
    assert booted_from_snapshot(outcome) is ("indexURL" in options), outcome["stages"]
    if "indexURL" in options:
        assert f"{url}alt/{site.manifest['file']}" in visitor.requests
        assert f"{url}pyodide/{site.manifest['file']}" not in visitor.requests


def test_a_new_build_replaces_the_cached_copy(visitor: Visitor, site: Site) -> None:
    visitor.boot(site)
    old = site.snapshot_url()
    visitor.wait_cached([old + "?decoded"])
    # What a rebuild leaves: the same kind of file under a new key.
    manifest = site.manifest
    new_name = "blazen-snapshot-0123456789abcdef.bin.gz"
    site.snapshot_path.rename(site.root / "pyodide" / new_name)
    site.write_manifest({**manifest, "file": new_name, "key": "0123456789abcdef" * 4})

    outcome = visitor.boot(site)
    assert booted_from_snapshot(outcome)
    assert outcome["result"] == 42
    assert site.snapshot_url() in visitor.requests
    visitor.wait_cached([site.snapshot_url() + "?decoded"])  # the old copy is gone


def test_a_cached_copy_of_the_wrong_size_is_dropped_and_fetched_again(visitor: Visitor, site: Site) -> None:
    visitor.page.goto(site.url + "_test/blank.html")
    visitor.put_in_cache(site.snapshot_url(), bytes(1024))
    outcome = visitor.boot(site)
    assert booted_from_snapshot(outcome)
    assert site.snapshot_url() in visitor.requests
    visitor.wait_cached([site.snapshot_url() + "?decoded"])
    size = visitor.page.evaluate(
        f"async () => (await (await (await caches.open('{CACHE_NAME}')).match('{site.snapshot_url()}?decoded')).arrayBuffer()).byteLength"
    )
    assert size == site.manifest["container_size"]


def test_a_cached_copy_that_does_not_load_is_forgotten(visitor: Visitor, site: Site) -> None:
    visitor.page.goto(site.url + "_test/blank.html")
    # a well-formed container of the right size whose runs hold only zeros
    packed = gzip.decompress(site.snapshot_path.read_bytes())
    start, end = runs_span(packed)
    visitor.put_in_cache(site.snapshot_url(), packed[:start] + bytes(end - start) + packed[end:])
    outcome = visitor.boot(site)
    assert outcome["result"] == 42
    assert re.search(r"it did not load \(.*invalid magic number", fallback_message(outcome))
    assert visitor.cached() == []
    # the next visit fetches the real file and boots from it
    again = visitor.boot(site)
    assert booted_from_snapshot(again)
    assert again["result"] == 42


def test_every_page_boots_with_fresh_random_state(browser: Any, site: Site) -> None:
    """A snapshot freezes the state of `random`: each boot must reseed it."""
    draws = []
    for _ in range(2):
        visitor = Visitor(browser)
        try:
            assert booted_from_snapshot(visitor.boot(site))
            draws.append(
                visitor.page.evaluate(
                    """async () => (await (await import('/blazen.js')).default())
                        .runPython('import random; [random.random() for _ in range(3)]').toJs()"""
                )
            )
        finally:
            visitor.close()
    assert draws[0] != draws[1]


# -- falling back -----------------------------------------------------------------------------


def damage_bytes(site: Site) -> None:
    data = bytearray(site.snapshot_path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    site.snapshot_path.write_bytes(bytes(data))


def truncate(site: Site) -> None:
    data = site.snapshot_path.read_bytes()
    site.snapshot_path.write_bytes(data[: len(data) // 2])


def container(site: Site) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The memory image and the files of the site's snapshot."""
    return unpack_container(gzip.decompress(site.snapshot_path.read_bytes()))


def runs_span(packed: bytes) -> tuple[int, int]:
    """Where the runs' bytes of the container `packed` start and end (its files follow)."""

    def u32(at: int) -> int:
        return int.from_bytes(packed[at : at + 4], "little")

    runs, files = u32(12), u32(16)
    start = 20 + 8 * (runs + files)
    return start, start + sum(u32(24 + 8 * i) for i in range(runs))


def write_container(site: Site, packed: bytes) -> None:
    """`packed` as the site's snapshot file, its manifest's container size made to match."""
    site.snapshot_path.write_bytes(gzip.compress(packed, compresslevel=1))
    site.write_manifest({**site.manifest, "container_size": len(packed)})


def other_build_id(site: Site) -> None:
    """A well-formed snapshot of another Pyodide build: only its build id differs."""
    raw, files = container(site)
    image = bytearray(raw)
    image[16:48] = bytes(32)
    write_container(site, pack_container(bytes(image), files))


def bad_run_table(site: Site) -> None:
    """The gzip is intact, the container inside is not: its first run reaches past the image."""
    packed = bytearray(gzip.decompress(site.snapshot_path.read_bytes()))
    packed[20:24] = (0xFFFFFFF0).to_bytes(4, "little")
    site.snapshot_path.write_bytes(gzip.compress(bytes(packed), compresslevel=1))


def wrong_magic(site: Site) -> None:
    """A file of the container's size whose first bytes are not the container's magic."""
    packed = bytearray(gzip.decompress(site.snapshot_path.read_bytes()))
    packed[0:8] = b"NOTSPRS1"
    site.snapshot_path.write_bytes(gzip.compress(bytes(packed), compresslevel=1))


def not_a_container(site: Site) -> None:
    """A format-1 file (the raw image, gzipped) under a format-3 manifest."""
    raw, _ = container(site)
    site.snapshot_path.write_bytes(gzip.compress(raw, compresslevel=1))


def renamed_file(site: Site, name: bytes) -> None:
    """The container with its first file renamed to `name` (bytes: not always UTF-8), its
    tables and sizes kept consistent: a hostile container, not a damaged one."""
    raw, files = container(site)
    placeholder = "p" * len(name)
    packed = pack_container(raw, [(placeholder, files[0][1]), *files[1:]])
    _, start = runs_span(packed)  # the first file's name follows the runs' bytes
    assert packed[start : start + len(name)] == placeholder.encode()
    write_container(site, packed[:start] + name + packed[start + len(name) :])


def file_outside_the_working_directory(site: Site) -> None:
    renamed_file(site, b"../../escaped.py")


def absolute_file_name(site: Site) -> None:
    renamed_file(site, b"/tmp/escaped.py")


def file_name_not_utf8(site: Site) -> None:
    renamed_file(site, b"bad\xff\xfe.py")


def file_past_the_end(site: Site) -> None:
    """A file table whose last file claims more bytes than the container has."""
    raw, files = container(site)
    packed = bytearray(pack_container(raw, files))
    runs = int.from_bytes(packed[12:16], "little")
    last = 20 + 8 * (runs + len(files) - 1) + 4  # the last file's data length
    packed[last : last + 4] = (0xFFFFFF00).to_bytes(4, "little")
    write_container(site, bytes(packed))


def huge_file_count(site: Site) -> None:
    """A head that claims 2**32 - 1 files: refused from the tables' size, nothing allocated."""
    packed = bytearray(gzip.decompress(site.snapshot_path.read_bytes()))
    packed[16:20] = (0xFFFFFFFF).to_bytes(4, "little")
    site.snapshot_path.write_bytes(gzip.compress(bytes(packed), compresslevel=1))


def other_pyodide(site: Site) -> None:
    site.write_manifest({**site.manifest, "pyodide": "0.0.0"})


def wrong_size(site: Site) -> None:
    site.write_manifest({**site.manifest, "size": site.manifest["size"] + 16})


def no_file(site: Site) -> None:
    site.snapshot_path.unlink()


def no_manifest(site: Site) -> None:
    site.manifest_path.unlink()


def bad_manifest(site: Site) -> None:
    site.manifest_path.write_text("{not json")


def absurd_size(site: Site) -> None:
    """A manifest that would have the page allocate far more than a wasm32 memory."""
    site.write_manifest({**site.manifest, "size": 2**53})


def size_not_a_number(site: Site) -> None:
    site.write_manifest({**site.manifest, "size": "31457280"})


def container_size_not_a_number(site: Site) -> None:
    site.write_manifest({**site.manifest, "container_size": None})


def format_2_manifest(site: Site) -> None:
    """A manifest of the format before the container held the wheel's files."""
    manifest = {**site.manifest, "format": 2, "sparse_size": site.manifest["container_size"]}
    del manifest["container_size"]
    site.write_manifest(manifest)


def inflates_past_its_size(site: Site) -> None:
    # What the file inflates to is more than the manifest says: reading stops at the limit.
    site.write_manifest({**site.manifest, "container_size": 4096})


FALLBACKS: list[tuple[Callable[[Site], None], str]] = [
    (damage_bytes, r"blazen-snapshot-\w+\.bin\.gz is damaged"),
    (truncate, r"blazen-snapshot-\w+\.bin\.gz is damaged"),
    (bad_run_table, r"blazen-snapshot-\w+\.bin\.gz is damaged \(run 0 out of bounds\)"),
    (wrong_magic, r"blazen-snapshot-\w+\.bin\.gz is damaged \(not a snapshot container\)"),
    # The raw image is twice the container: refused at the container's size, before its magic.
    (not_a_container, r"blazen-snapshot-\w+\.bin\.gz is damaged \(it inflates past \d+ bytes\)"),
    (other_build_id, r"it did not load \(Snapshot build id mismatch"),
    (other_pyodide, r"made for Pyodide 0\.0\.0, this is 314\.0\.7"),
    (wrong_size, r"holds \d+ bytes, its manifest says \d+"),
    (no_file, r"blazen-snapshot-\w+\.bin\.gz: HTTP 404"),
    (no_manifest, r"no blazen-snapshot\.json \(HTTP 404\)"),
    (bad_manifest, r"blazen-snapshot\.json unreadable"),
    (absurd_size, r"snapshot size 9007199254740992 is not a memory image's"),
    (size_not_a_number, r'snapshot size "31457280" is not a memory image\'s'),
    (container_size_not_a_number, r"snapshot container size null is not a container's"),
    (format_2_manifest, r"snapshot format 2, expected 3"),
    (
        file_outside_the_working_directory,
        r'damaged \(file 0: "\.\./\.\./escaped\.py" is not a plain relative path\)',
    ),
    (absolute_file_name, r'damaged \(file 0: "/tmp/escaped\.py" is not a plain relative path\)'),
    (file_name_not_utf8, r"damaged \(file 0 is not named in UTF-8\)"),
    (file_past_the_end, r"damaged \(file \d+ out of bounds\)"),
    (huge_file_count, r"damaged \(its tables are cut short\)"),
    (inflates_past_its_size, r"blazen-snapshot-\w+\.bin\.gz is damaged \(it inflates past 4096 bytes\)"),
]


@pytest.mark.parametrize("damage, reason", FALLBACKS, ids=[f.__name__ for f, _ in FALLBACKS])
def test_a_bad_snapshot_falls_back_to_a_normal_boot_and_says_why(
    visitor: Visitor, site: Site, damage: Callable[[Site], None], reason: str
) -> None:
    damage(site)
    outcome = visitor.boot(site)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"] == 42
    assert re.search(reason, fallback_message(outcome)), fallback_message(outcome)
    assert stages(outcome)[-3:] == ["package", "bridge", "ready"]
    assert visitor.cached() == []


class _SlowSnapshotHandler(StaticHandler):
    """Holds the snapshot back until the runtime's wasm has been served in full, so that
    the wasm is compiled and instantiated before the image arrives."""

    wasm_sent: ClassVar[threading.Event]

    def do_GET(self) -> None:
        if "blazen-snapshot-" in self.path:
            self.wasm_sent.wait(60)
            time.sleep(1.0)  # the compile of the wasm runs meanwhile
        super().do_GET()
        if self.path.endswith("pyodide.asm.wasm"):
            self.wasm_sent.set()


@pytest.mark.parametrize("damaged", [False, True], ids=["intact", "damaged"])
def test_the_runtime_built_before_the_snapshot_arrives_waits_for_it(
    visitor: Visitor, site: Site, damaged: bool
) -> None:
    """The wasm module is built while the snapshot downloads: the module waits for the
    image; a damaged image arriving after it still falls back to a normal boot."""
    if damaged:
        damage_bytes(site)
    server = make_server(
        site.root, 0, mounts={"/_test/": PAGES}, handler=_SlowSnapshotHandler, wasm_sent=threading.Event()
    )
    with serving(server) as url:
        outcome = visitor.boot(Site(site.root, url))
    assert outcome["result"] == 42, outcome
    assert booted_from_snapshot(outcome) is not damaged, outcome["stages"]
    if damaged:
        assert re.search(r"bin\.gz is damaged", fallback_message(outcome)), fallback_message(outcome)


# -- the built pages' preload hints -----------------------------------------------------------

HINT = re.compile(r'<link rel="(modulepreload|preload)"[^>]*? href="\./([^"]+)">')


def hints(page: str) -> list[tuple[str, str]]:
    return HINT.findall((DIST / page).read_text())


@pytest.mark.parametrize("page", ["index.html", "embed.html"])
def test_the_built_pages_hint_every_file_of_the_boot(page: str) -> None:
    found = {path: kind for kind, path in hints(page)}
    manifest = json.loads(SNAPSHOT_MANIFEST.read_text())
    wanted = {
        "blazen.js": "modulepreload",
        "boot.js": "modulepreload",
        "errors.js": "modulepreload",
        "pyodide/pyodide.mjs": "modulepreload",
        "pyodide/pyodide.asm.mjs": "modulepreload",
        "pyodide/pyodide.asm.wasm": "preload",
        "pyodide/pyodide-lock.json": "preload",
        "pyodide/blazen-snapshot.json": "preload",
    }
    assert {path: found.get(path) for path in wanted} == wanted
    assert f"pyodide/{manifest['file']}" not in found  # opened at import, see below
    assert f"pyodide/{manifest['wheel']}" not in found  # its files are in the snapshot
    assert all((DIST / path).is_file() for path in found), found
    assert len(found) == len(hints(page))  # no file hinted twice


def test_each_hinted_file_is_used_and_fetched_once(browser: Any, site: Site) -> None:
    """A hint that does not match the request that uses it (mode, credentials, integrity)
    makes the browser fetch the file twice and warn that the preload went unused."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(BOOT_TIMEOUT_MS)
    requests: list[str] = []
    warnings: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    try:
        page.goto(f"{site.url}embed.html")
        page.wait_for_function("!document.getElementById('go').disabled")
        page.click("#go")
        page.wait_for_function("/words?/.test(document.getElementById('out').textContent)")
        page.wait_for_timeout(3500)  # Chromium warns of an unused preload ~3 s after load
    finally:
        context.close()
    hinted = [f"{site.url}{path}" for _, path in hints("embed.html")]
    assert len(hinted) >= 8
    assert {url: requests.count(url) for url in hinted} == dict.fromkeys(hinted, 1)
    assert not [url for url in requests if url.endswith(".whl")]  # restored from the snapshot
    assert [w for w in warnings if "preload" in w] == []


def hinted_page(site: Site, page: str = "boot.html", extra: str = "") -> str:
    """A page of one's own with dist/preload-hints.html (and `extra`) in its head, as
    docs/deploying.md says (a test page, copied to the site's root where the hints' paths
    hold)."""
    html = (PAGES / page).read_text()
    hints = (site.root / "preload-hints.html").read_text() + extra
    (site.root / f"hinted-{page}").write_text(html.replace("</head>", hints + "</head>"))
    return f"{site.url}hinted-{page}"


def visit_then_reload(visitor: Visitor, site: Site, url: str) -> Iterator[str]:
    """A first visit of the boot page `url`, then a reload: each boots from the snapshot,
    its copy kept, with time for Chromium's warning of an unused preload (~3 s after load).
    Yields "first", then "reload", while visitor.requests holds that visit's requests."""
    for visit in ("first", "reload"):
        visitor.requests.clear()
        if visit == "first":
            visitor.page.goto(url)
        else:
            visitor.page.reload()
        visitor.page.wait_for_function("window.__boot !== undefined")
        outcome = visitor.page.evaluate("window.__boot")
        assert outcome.get("result") == 42, outcome
        assert booted_from_snapshot(outcome), (visit, outcome["stages"])
        visitor.wait_cached([site.snapshot_url() + "?decoded"])
        visitor.page.wait_for_timeout(3500)
        yield visit


def hinted_urls(site: Site) -> list[str]:
    hints = (site.root / "preload-hints.html").read_text()
    return [site.url + path.removeprefix("./") for path in re.findall(r'href="([^"]+)"', hints)]


def test_a_page_with_the_hints_fetches_each_file_once_and_the_snapshot_only_on_a_first_visit(
    visitor: Visitor, site: Site
) -> None:
    """The manifest's hint has boot.js open the snapshot at import: a first visit fetches
    the file once and keeps its copy in the Cache API; a reload reads that copy and does not
    request the file at all (a preload of it would, on every visit). No visit fetches a
    hinted file twice or leaves a preload unused."""
    url = hinted_page(site)
    hinted = hinted_urls(site)
    assert len(hinted) >= 10
    assert site.snapshot_url() not in hinted
    warnings: list[str] = []
    visitor.page.on("console", lambda m: warnings.append(m.text) if "preload" in m.text else None)
    for visit in visit_then_reload(visitor, site, url):
        assert {u: visitor.requests.count(u) for u in hinted} == dict.fromkeys(hinted, 1), visit
        assert visitor.requests.count(site.snapshot_url()) == (1 if visit == "first" else 0), visit
        assert warnings == [], (visit, warnings)
        assert visitor.errors == [], (visit, visitor.errors)


INIT_LATER = """async () => {
    const stages = [];
    const { default: init } = await import('/blazen.js');
    await new Promise((resolve) => setTimeout(resolve, 800));
    const called = performance.now();
    await init({ onProgress: ({ stage, message }) => stages.push({ stage, message }) });
    const started = {};
    for (const entry of performance.getEntriesByType('resource')) {
        (started[entry.name] ??= []).push(entry.startTime < called);
    }
    return { stages, started };
}"""


def test_a_hinted_page_has_the_snapshot_fetched_before_init_on_a_first_visit_only(
    visitor: Visitor, site: Site
) -> None:
    """A page that calls init() well after importing blazen.js: with the manifest hinted,
    the snapshot is requested at import, once the manifest names it (the
    unhinted page waits for init(): test_init_uses_the_requests_started_at_import). On a
    reload the Cache API's copy is opened then instead, and the file is not requested."""
    url = hinted_page(site, "blank.html")
    visitor.page.goto(url)
    first = visitor.page.evaluate(INIT_LATER)
    assert booted_from_snapshot(first), first["stages"]
    wheel = f"{site.url}pyodide/{site.manifest['wheel']}"
    assert first["started"].get(site.snapshot_url()) == [True], first["started"]
    assert wheel not in first["started"]  # its files come in the snapshot's container
    visitor.wait_cached([site.snapshot_url() + "?decoded"])
    visitor.requests.clear()
    visitor.page.reload()
    again = visitor.page.evaluate(INIT_LATER)
    assert booted_from_snapshot(again), again["stages"]
    assert site.snapshot_url() not in again["started"]
    assert site.snapshot_url() not in visitor.requests
    assert visitor.errors == []


class _StalledSnapshotHandler(StaticHandler):
    """Holds back the snapshot file (until the test ends): a fetch of it stays in flight."""

    released: ClassVar[threading.Event]

    def do_GET(self) -> None:
        if self.path.startswith("/pyodide/blazen-snapshot-"):
            self.released.wait(BOOT_TIMEOUT_MS / 1000)
        super().do_GET()


def test_init_without_the_snapshot_stops_the_fetch_a_hinted_page_started(
    visitor: Visitor, site: Site
) -> None:
    """The hints opened the snapshot at import; init({snapshot: false}) aborts its download
    (here held back by the server) and boots the other way, with nothing left unhandled."""
    url = hinted_page(site, "blank.html").removeprefix(site.url)
    released = threading.Event()
    server = make_server(
        site.root, 0, mounts={"/_test/": PAGES}, handler=_StalledSnapshotHandler, released=released
    )
    with serving(server) as base:
        failed: list[str] = []
        rejections: list[str] = []
        visitor.page.on("requestfailed", lambda request: failed.append(request.url))
        visitor.page.on("console", lambda m: rejections.append(m.text) if "Uncaught" in m.text else None)
        snapshot = f"{base}pyodide/{site.manifest['file']}"
        try:
            visitor.page.goto(base + url)
            with visitor.page.expect_request(snapshot):
                visitor.page.evaluate("import('/blazen.js').then(() => null)")
            outcome = visitor.page.evaluate(
                """async () => {
                    const stages = [];
                    const { default: init, Workflow } = await import('/blazen.js');
                    await init({ snapshot: false, onProgress: ({ stage }) => stages.push({ stage }) });
                    const wf = new Workflow('plain');
                    wf.addStep('only', ['blazen::StartEvent'], (e) => ({ type: 'blazen::StopEvent', result: e.x + 1 }));
                    return { result: (await wf.run({ x: 41 })).data, stages };
                }"""
            )
            deadline = time.monotonic() + 10
            while snapshot not in failed and time.monotonic() < deadline:
                visitor.page.wait_for_timeout(100)
        finally:
            released.set()  # before the server stops: the stalled request ends
    assert outcome["result"] == 42
    assert not booted_from_snapshot(outcome), outcome["stages"]
    assert snapshot in failed  # aborted while the server still held it back
    assert visitor.errors == []
    assert rejections == []


def test_a_page_that_preloads_the_snapshot_file_itself_has_the_preload_taken_on_a_reload(
    visitor: Visitor, site: Site
) -> None:
    """A hand-made or older <head> that preloads the snapshot file: the first visit uses
    the preload, a reload (which preloads it again) reads the Cache API's copy and cancels
    the preload. The file is requested once per visit and no preload is left unused."""
    line = (
        f'<link rel="preload" as="fetch" crossorigin="anonymous" href="./pyodide/{site.manifest["file"]}">\n'
    )
    url = hinted_page(site, extra=line)
    warnings: list[str] = []
    visitor.page.on("console", lambda m: warnings.append(m.text) if "preload" in m.text else None)
    for visit in visit_then_reload(visitor, site, url):
        assert visitor.requests.count(site.snapshot_url()) == 1, visit
        assert warnings == [], (visit, warnings)


# -- the wheel's files, put back without unpackArchive ----------------------------------------

FILES_OF_THE_PAGE = """async () => {
    const pyodide = await (await import('/blazen.js')).default();
    return JSON.parse(pyodide.runPython(`
import hashlib, json, os
root = os.getcwd()
found = {}
for folder, _, names in os.walk(root):
    for name in names:
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        found[os.path.relpath(path, root)] = f"{digest} {os.stat(path).st_mode:o}"
json.dumps(found)
`));
}"""


LATE_IMPORT = """async () => (await (await import('/blazen.js')).default()).runPython(`
import sys
before = "blazen_py._draw.timeline" in sys.modules
import blazen_py._draw.timeline as late
[before, late.__name__]
`).toJs()"""


def wheel_contents(wheel: Path) -> dict[str, str]:
    """sha256 and mode of each file of the wheel, as unpackArchive leaves them in the page
    (Python's open() in Emscripten's file system: mode 0o666, no umask)."""
    with zipfile.ZipFile(wheel) as archive:
        return {
            info.filename: f"{hashlib.sha256(archive.read(info)).hexdigest()} 100666"
            for info in archive.infolist()
            if not info.is_dir()
        }


def test_the_wheels_files_are_put_back_as_unpack_archive_would(visitor: Visitor, site: Site) -> None:
    outcome = visitor.boot(site)
    assert booted_from_snapshot(outcome), outcome["stages"]
    files = visitor.page.evaluate(FILES_OF_THE_PAGE)
    assert files == wheel_contents(site.root / "pyodide" / site.manifest["wheel"])
    # A module the snapshot did not import loads from them.
    imported = visitor.page.evaluate(LATE_IMPORT)
    assert imported == [False, "blazen_py._draw.timeline"]


ESCAPED = """async () => (await (await import('/blazen.js')).default()).runPython(`
import os
[os.path.exists(p) for p in ("../../escaped.py", "/escaped.py", "../escaped.py")]
`).toJs()"""


def test_a_container_file_named_outside_the_working_directory_is_never_written(
    visitor: Visitor, site: Site
) -> None:
    """A hostile container (well-formed, its first file named "../../escaped.py") is refused
    whole before anything is written: the page boots normally, and no file lands above the
    working directory (nor anywhere else)."""
    file_outside_the_working_directory(site)
    outcome = visitor.boot(site)
    assert outcome["result"] == 42
    assert "is not a plain relative path" in fallback_message(outcome)
    assert visitor.page.evaluate(ESCAPED) == [False, False, False]
    assert visitor.cached() == []
