"""docs/python-api.md is what docs/gen_api.py makes from the docstrings, and names every
public name; the docs the README links to exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import blazen_py

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs"


def test_python_api_reference_is_up_to_date() -> None:
    out = subprocess.run(
        [sys.executable, str(DOCS / "gen_api.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr


def test_python_api_reference_names_every_public_name() -> None:
    text = (DOCS / "python-api.md").read_text()
    headings = set(re.findall(r"^### (?:class |async )?`(?:async )?(\w+)", text, flags=re.M))
    assert sorted(set(blazen_py.__all__) - headings) == []


def test_readme_links_to_docs_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert {"docs/python-api.md", "docs/js-api.md", "docs/snapshot-format.md", "docs/deploying.md"} <= set(
        links
    )
    for link in links:
        assert (ROOT / link).is_file(), link
