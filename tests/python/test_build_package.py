"""build.py and blazen_build/, its parts: standard library only, layered as blazen_build's
docstring draws, and `serve` says what to do when it cannot have its port."""

from __future__ import annotations

import ast
import contextlib
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import blazen_build
from blazen_build.paths import ROOT

BUILD_PY = ROOT / "build.py"
PACKAGE = ROOT / "blazen_build"


def imported_modules(path: Path) -> Iterator[str]:
    """Every module a file imports, anywhere in it (absolute names)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            assert node.module is not None
            if node.module == "blazen_build":
                yield from (f"blazen_build.{alias.name}" for alias in node.names)
            else:
                yield node.module


def layers() -> list[str]:
    """The modules of blazen_build in the order its docstring lists them, bottom first."""
    assert blazen_build.__doc__ is not None
    return re.findall(r"^    (\w+) {2,}\S", blazen_build.__doc__, flags=re.M)


def test_build_py_and_its_package_import_only_the_standard_library() -> None:
    # and the repository's own packages: blazen_py has no dependencies (dist.py renders the
    # JS side of its boundary declaration from it).
    for path in [BUILD_PY, *sorted(PACKAGE.glob("*.py"))]:
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top in sys.stdlib_module_names or top in {"blazen_build", "blazen_py"}, (
                f"{path.name} imports {module}"
            )


def test_build_py_runs_without_site_packages() -> None:
    out = subprocess.run(
        [sys.executable, "-S", str(BUILD_PY), "--help"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert "serve" in out.stdout


def test_each_module_imports_only_the_modules_listed_before_it() -> None:
    order = layers()
    assert sorted(order) == sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    for position, name in enumerate(order):
        below = {f"blazen_build.{other}" for other in order[:position]}
        uses = {m for m in imported_modules(PACKAGE / f"{name}.py") if m.startswith("blazen_build")}
        assert uses <= below, f"{name} imports {sorted(uses - below)}, listed after it"


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another process is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BUILD_PY), "serve", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )


def test_serve_on_a_taken_port_says_so_and_names_other_ports(taken_port: int) -> None:
    out = serve("--port", str(taken_port))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"build.py: error: port {taken_port} on 127.0.0.1 is already in use" in out.stderr
    assert "`python build.py serve --port 0` picks a free one" in out.stderr
    assert f"--port {taken_port + 1}`" in out.stderr
    # The port is taken before the build: nothing was built, nothing is served.
    assert out.stdout == ""


@pytest.mark.parametrize("port", ["65536", "-1", "eighty"])
def test_serve_rejects_what_is_not_a_port(port: str) -> None:
    out = serve(f"--port={port}")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"argument --port: {port!r} is not a port (a number from 0 to 65535)" in out.stderr


# -- the memory snapshot's container and how `serve` sends it ---------------------------------


FILES = [("pkg/__init__.py", b"x = 1\n"), ("pkg/empty.txt", b""), ("pkg-1.0.dist-info/RECORD", b"r" * 5000)]


@pytest.mark.parametrize(
    "image",
    [
        b"",
        b"\x01",
        bytes(4096),
        bytes(5000) + b"\x01" + bytes(10),
        b"\x01" * 8192 + bytes(4096) + b"\x02",
        b"\x03" * 9000 + bytes(9000) + b"\x03",
    ],
    ids=["empty", "one-byte", "all-zero", "tail-block", "two-runs", "odd-size"],
)
@pytest.mark.parametrize("files", [[], FILES], ids=["no-files", "files"])
def test_the_container_round_trips_and_leaves_out_zero_blocks(
    image: bytes, files: list[tuple[str, bytes]]
) -> None:
    from blazen_build.snapshot import SPARSE_BLOCK, pack_container, unpack_container

    packed = pack_container(image, files)
    assert unpack_container(packed) == (image, files)
    blocks = [image[i : i + SPARSE_BLOCK] for i in range(0, len(image), SPARSE_BLOCK)]
    kept = sum(len(block) for block in blocks if any(block))  # the zero blocks stay out
    runs = int.from_bytes(packed[12:16], "little")
    stored = sum(len(name.encode()) + len(data) for name, data in files)  # stored as they are
    assert len(packed) == 20 + 8 * (runs + len(files)) + kept + stored


def test_the_snapshot_container_holds_every_file_of_the_wheel(tmp_path: Path) -> None:
    import zipfile

    from blazen_build.snapshot import wheel_files

    wheel = tmp_path / "p-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("p/", b"")  # a directory entry: implied by the names, not stored
        for name, data in FILES:
            archive.writestr(name, data)
    assert wheel_files(wheel) == FILES


@pytest.mark.parametrize("name", ["", "/etc/passwd", "a/../../b", "./a", "a//b", "a\\b", "dir/"])
def test_the_build_refuses_to_put_a_file_of_an_odd_name_in_the_container(name: str) -> None:
    from blazen_build.common import BuildError
    from blazen_build.snapshot import pack_container

    with pytest.raises(BuildError, match="not a plain relative file path"):
        pack_container(b"\x01", [(name, b"data")])


def _first_file_name_length(packed: bytes) -> int:
    """Where the first file's name length sits: after the head and the run table."""
    return 20 + 8 * int.from_bytes(packed[12:16], "little")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p[:10], "cut short"),
        (lambda p: b"BLZSPRS1" + p[8:], "not a blazen snapshot container"),  # a format-2 file
        (lambda p: p[:20] + (2**31).to_bytes(4, "little") + p[24:], "block run 0 .* out of bounds"),
        (lambda p: p[:16] + (2**30).to_bytes(4, "little") + p[20:], "tables .* cut short"),
        (
            lambda p: (
                p[: _first_file_name_length(p)]
                + (2**31).to_bytes(4, "little")
                + p[_first_file_name_length(p) + 4 :]
            ),
            "file 0 .* out of bounds",
        ),
        (lambda p: p + b"\x00", "left over"),
        (lambda p: p[:-1], "file 2 .* out of bounds"),
    ],
    ids=["head", "magic", "long-run", "file-count", "long-name", "trailing", "cut"],
)
def test_a_damaged_container_is_refused(damage: object, message: str) -> None:
    from blazen_build.snapshot import pack_container, unpack_container

    packed = pack_container(b"\x07" * 5000, FILES)
    with pytest.raises(ValueError, match=message):
        unpack_container(damage(packed))  # type: ignore[operator]


def test_serve_sends_gzip_files_with_content_encoding_to_clients_that_accept_it(tmp_path: Path) -> None:
    import gzip
    import urllib.request

    from blazen_build.server import make_server, serving

    (tmp_path / "s.bin.gz").write_bytes(gzip.compress(b"payload"))
    (tmp_path / "fake.gz").write_bytes(b"not gzip at all")

    def get(base: str, name: str, accept: str | None) -> tuple[str | None, str | None, bytes]:
        request = urllib.request.Request(base + name)
        if accept is not None:
            request.add_header("Accept-Encoding", accept)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers["Content-Encoding"], response.headers["Content-Type"], response.read()

    with (
        serving(make_server(tmp_path, 0, precompressed=True)) as server,
        serving(make_server(tmp_path, 0)) as plain,
    ):
        encoding, kind, body = get(server, "s.bin.gz", "gzip, deflate, br, zstd")
        assert (encoding, kind, gzip.decompress(body)) == ("gzip", "application/octet-stream", b"payload")
        # A zstd twin beside it is sent instead, under the same URL, to a client that takes zstd.
        zstd = b"\x28\xb5\x2f\xfd" + b"zstd frame"
        (tmp_path / "s.bin.zst").write_bytes(zstd)
        (tmp_path / "fake.zst").write_bytes(b"not zstd at all")
        assert get(server, "s.bin.gz", "gzip, br, zstd") == ("zstd", "application/octet-stream", zstd)
        assert get(server, "s.bin.gz", "gzip;q=1.0, zstd;q=0.9")[0] == "zstd"
        assert get(server, "s.bin.gz", "gzip, br")[0] == "gzip"  # no zstd: the gzip file
        assert get(server, "s.bin.gz", "zstdx, xgzip")[0] is None  # whole names only
        assert get(server, "s.bin.zst", "zstd")[0] is None  # only a .gz's twin is encoded
        assert get(server, "fake.gz", "zstd, gzip")[0] is None  # a twin that is not zstd
        assert get(plain, "s.bin.gz", "zstd")[0] is None
        assert get(server, "s.bin.gz", None)[0] is None  # not accepted: sent as a plain file
        assert get(server, "fake.gz", "gzip")[0] is None  # only real gzip files
        assert get(plain, "s.bin.gz", "gzip")[0] is None  # the tests' plain server


@pytest.mark.parametrize("fails", [False, True], ids=["block ends", "block raises"])
def test_serving_serves_while_the_block_runs_and_closes_the_socket_after(tmp_path: Path, fails: bool) -> None:
    import urllib.request

    from blazen_build.server import make_server, serving

    (tmp_path / "hello.txt").write_text("hi")
    server = make_server(tmp_path, 0)
    port = server.server_address[1]
    with contextlib.suppress(RuntimeError), serving(server) as url:
        assert url == f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url + "hello.txt", timeout=10) as response:
            assert response.read() == b"hi"
        if fails:
            raise RuntimeError("the block failed")
    assert server.socket.fileno() == -1  # closed, whether the block ended or raised
    with pytest.raises(OSError, match="refused"):
        urllib.request.urlopen(url + "hello.txt", timeout=10)


@pytest.mark.parametrize(
    "line, summary",
    [
        ("===== 3 passed, 1 skipped in 2.01s =====", "3 passed, 1 skipped in 2.01s"),
        ("1 passed, 407 deselected in 35.20s", "1 passed, 407 deselected in 35.20s"),
        ("== 1 failed, 2 errors in 0.50s (0:00:00) ==", "1 failed, 2 errors in 0.50s (0:00:00)"),
    ],
)
def test_the_summary_line_of_a_tier_is_found_with_and_without_q(line: str, summary: str) -> None:
    from blazen_build.tiers import SUMMARY_RE, count_outcomes

    match = SUMMARY_RE.match(line)
    assert match is not None
    assert match.group(1) == summary
    assert sum(count_outcomes([summary]).values()) > 0


def test_a_line_of_test_output_is_not_taken_for_the_summary() -> None:
    from blazen_build.tiers import SUMMARY_RE

    assert SUMMARY_RE.match("tests/python/test_x.py ....  [ 20%]") is None
    assert SUMMARY_RE.match("the run finished in 3s") is None


def test_tests_named_after_the_double_dash_run_alone_in_their_tier() -> None:
    from blazen_build.tiers import named_tests, tier_arguments

    assert tier_arguments("python", ["-q"]) == ["tests/python", "-q"]
    assert tier_arguments("browser", ["-q"]) == ["tests/browser", "-n", "2", "--dist", "loadfile", "-q"]
    assert tier_arguments("python", ["-q", "tests/python/test_runtime.py::test_x"]) == [
        "-q",
        "tests/python/test_runtime.py::test_x",
    ]
    # an option's value that is no test path (-k expression) does not count as a named test
    assert named_tests(["-k", "runtime", "nowhere/test_x.py"]) == []
