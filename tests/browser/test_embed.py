"""dist/embed.html: a workflow embedded in a static page with one module script, as the
README shows it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from blazen_build.paths import DIST, ROOT

BOOT_TIMEOUT_MS = 120_000
PAYLOAD = "<img/src=x/onerror=window.__pwned=1>"  # one word: it becomes the longest word


def embed_script() -> str:
    html = (DIST / "embed.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    modules = [body for attrs, body in scripts if attrs.strip() == 'type="module"']
    assert len(modules) == 1, "embed.html has exactly one module script"
    # ... and the classic one that says what to do when it is opened as a file
    assert len(scripts) == 2
    assert 'location.protocol === "file:"' in scripts[0][1]
    body = modules[0]
    return textwrap.dedent(body).strip()


def test_readme_shows_exactly_the_embedded_script() -> None:
    script = embed_script()
    assert "import init, { Workflow } from './blazen.js';" in script
    readme = (ROOT / "README.md").read_text()
    assert f'<script type="module">\n{textwrap.indent(script, "  ")}\n</script>' in readme


def test_embedded_workflow_runs_and_shows_text(browser: Any, base_url: str, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 900, "height": 700})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    try:
        # Recorded when the document is parsed (the boot is async, so it cannot be done
        # yet), not queried later: a warm boot from the Cache API can beat the query.
        page.add_init_script(
            "document.addEventListener('DOMContentLoaded', () => {"
            " window.goDisabledAtLoad = document.getElementById('go').disabled; });"
        )
        page.goto(base_url.rstrip("/") + "/embed.html", wait_until="domcontentloaded")
        assert page.evaluate("window.goDisabledAtLoad") is True
        page.wait_for_function("() => !document.getElementById('go').disabled", timeout=BOOT_TIMEOUT_MS)
        assert page.text_content("#out") == "Ready."
        assert page.locator("script[type=module]").count() == 1

        text = "word " * 499 + "extraordinarily"
        page.fill("#text", text)
        page.click("#go")
        page.wait_for_function("() => document.getElementById('out').textContent !== 'Ready.'")
        assert page.text_content("#out") == "500 words, about 3 min to read. Longest word: extraordinarily"

        page.fill("#text", f"a {PAYLOAD}")
        page.locator("#text").press("Tab")
        page.keyboard.press("Enter")  # the button, by keyboard
        page.wait_for_function("() => document.getElementById('out').textContent.startsWith('2 words')")
        assert page.text_content("#out") == f"2 words, about 1 min to read. Longest word: {PAYLOAD}"
        page.screenshot(path=str(artifacts / "embed.png"), full_page=True)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main img").count() == 0
    finally:
        context.close()
    origin = urlsplit(base_url)[:2]
    foreign = [u for u in requests if not u.startswith("data:") and urlsplit(u)[:2] != origin]
    assert foreign == []
    assert any(u.endswith("/blazen.js") for u in requests)
    assert any(u.endswith("/boot.js") for u in requests)  # blazen.js's own part, beside it
    assert errors == []
