"""The preload hints `python build.py` writes (issue 24): the built pages and
dist/preload-hints.html name exactly the files a boot fetches, in the form the later
requests take (a hint that differs makes the browser fetch twice: tests/browser/
test_fast_boot.py checks that in Chromium), and the bench's cold page carries them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bench import run
from blazen_build.dist import HINTS_FILE, HINTS_MARK, preload_lines, with_preload_hints
from blazen_build.paths import DIST, DIST_PYODIDE
from blazen_build.snapshot import SNAPSHOT_MANIFEST

LINK = re.compile(r"<link ([^>]*)>")
MODULE = re.compile(r'^rel="modulepreload" href="([^"]+)"$')
FETCH = re.compile(r'^rel="preload" as="fetch" crossorigin="anonymous" href="([^"]+)"$')


def hinted(text: str) -> dict[str, str]:
    """href -> "module" or "fetch" of every preload hint in `text`; any other form fails."""
    found: dict[str, str] = {}
    for attributes in LINK.findall(text):
        if "preload" not in attributes:
            continue
        module, fetch = MODULE.match(attributes), FETCH.match(attributes)
        assert module or fetch, f"a hint of another form: <link {attributes}>"
        href = (module or fetch).group(1)  # type: ignore[union-attr]
        assert href not in found, f"{href} hinted twice"
        found[href] = "module" if module else "fetch"
    return found


def boot_files() -> dict[str, str]:
    """What a boot of blazen.js loads, by path under dist/, but the snapshot file: a
    preload of it would request it on reloads too, where the Cache API's copy is used. No
    wheel: a boot from the snapshot has its files in the snapshot's container."""
    files = dict.fromkeys(("blazen.js", "boot.js", "errors.js", "codec.js", "remote.js"), "module")
    files |= {"pyodide/pyodide.mjs": "module", "pyodide/pyodide.asm.mjs": "module"}
    for name in ("pyodide.asm.wasm", "pyodide-lock.json", "python_stdlib.zip"):
        files[f"pyodide/{name}"] = "fetch"
    if SNAPSHOT_MANIFEST.is_file():
        files["pyodide/blazen-snapshot.json"] = "fetch"
    return files


def test_the_hints_file_names_exactly_the_files_of_a_boot() -> None:
    text = HINTS_FILE.read_text()
    assert text.startswith(HINTS_MARK)
    found = hinted(text)
    assert found == {f"./{path}": kind for path, kind in boot_files().items()}
    assert all((DIST / href).is_file() for href in found), found


def test_the_hints_name_the_manifest_not_the_snapshot_file_nor_the_wheel() -> None:
    if not SNAPSHOT_MANIFEST.is_file():
        pytest.skip("no memory snapshot in dist/ (no Chromium at build time)")
    manifest = json.loads(SNAPSHOT_MANIFEST.read_text())
    found = hinted(HINTS_FILE.read_text())
    assert "./pyodide/blazen-snapshot.json" in found  # what makes boot.js open it at import
    assert not [href for href in found if "blazen-snapshot-" in href], found
    # The snapshot's container holds the wheel's files: a boot from it never fetches the wheel.
    assert (DIST_PYODIDE / manifest["wheel"]).is_file()
    assert not [href for href in found if href.endswith(".whl")], found


@pytest.mark.parametrize("page", ["index.html", "embed.html"])
def test_the_built_pages_hint_the_boot_and_their_own_modules(page: str) -> None:
    found = hinted((DIST / page).read_text())
    boot = {f"./{path}": kind for path, kind in boot_files().items()}
    assert {href: found.get(href) for href in boot} == boot
    extra = {href for href in found if href not in boot}
    assert all(found[href] == "module" and (DIST / href).is_file() for href in extra), extra


def test_a_page_in_a_subfolder_gets_paths_up_to_dist() -> None:
    html = (
        "<html><head><title>t</title></head><body>"
        '<script type="module">\nimport init from "./blazen.js";\n</script></body></html>'
    )
    out = with_preload_hints(html, DIST / "deep" / "page.html")
    found = hinted(out)
    assert found == {f"../{path}": kind for path, kind in boot_files().items()}
    assert out.index(HINTS_MARK) < out.index("</head>")


def test_a_page_without_blazen_js_gets_only_its_modules() -> None:
    assert preload_lines(["graph.js"], "./") == ['<link rel="modulepreload" href="./graph.js">']


def test_the_bench_cold_page_carries_the_hints_from_the_sites_root() -> None:
    page = (run.prepare_cold_page() / "cold_blazen.html").read_text()
    assert run.HINTS_PLACE not in page
    found = hinted(page)
    assert found == {f"/{path}": kind for path, kind in boot_files().items()}
    assert page.index(HINTS_MARK) < page.index("</head>") < page.index('import("/blazen.js")')


def cold_results(first: float, reload: float) -> dict[str, Any]:
    """Browser results with cold starts whose first results come at `first` / `reload` ms."""
    stages = ("module", "runtime", "snapshot", "restore", "package", "bridge", "ready")

    def marks(end: float) -> dict[str, float]:
        return {**{stage: end * (i + 1) / 10 for i, stage in enumerate(stages)}, "result": end}

    runs = [{"first": marks(first + d), "reload": marks(reload + d)} for d in (-20.0, 0.0, 30.0)]
    return {"browser": {"cold": dict.fromkeys(("pyodide", "blazen", "snapshot", "snapshot_plain"), runs)}}


@pytest.mark.parametrize(
    "first, reload, met", [(840.0, 440.0, True), (860.0, 400.0, False), (800.0, 460.0, False)]
)
def test_the_issue_24_target_is_judged_from_the_cold_start_medians(
    first: float, reload: float, met: bool
) -> None:
    report = run.Report(cold_results(first, reload), run.FULL, quick=False)
    report.cold()
    rows = [t for t in report.targets if "issue 24" in t[0]]
    assert len(rows) == 1
    name, measured, verdict, _ = rows[0]
    assert "first visit <= 850 ms and reload <= 450 ms" in name
    assert f"first visit {first:,.0f} ms" in measured
    assert f"reload {reload:,.0f} ms" in measured
    assert verdict is met


def test_only_cold_is_a_choice_of_the_bench() -> None:
    assert run.parse_args(["--only", "cold"]).only == ["cold"]
    with pytest.raises(SystemExit, match="2"):
        run.parse_args(["--only", "warm"])
