"""Screenshots of the playground after running every example, at 1280x900 and 390x844, in
the light and the dark theme, into test-artifacts/ (not committed): made to be looked at.
Each is also checked for what a look would catch first: every example done, nothing wider
than the screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

BOOT_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 60_000


def _run(page: Any, cell_id: str, answer: str | None = None, asking: Path | None = None) -> str:
    cell = page.locator(f"#cell-{cell_id}")
    cell.locator("button.run").click()
    if answer is not None:
        button = cell.locator(".ask").get_by_role("button", name=answer)
        button.wait_for(timeout=RUN_TIMEOUT_MS)
        if asking is not None:
            cell.screenshot(path=str(asking))
        button.click()
    page.wait_for_function(
        "(id) => document.getElementById(id).dataset.status !== 'running'",
        arg=f"cell-{cell_id}",
        timeout=RUN_TIMEOUT_MS,
    )
    return str(cell.get_attribute("data-status"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_playground_screenshots_after_every_example(
    browser: Any, base_url: str, artifacts: Path, width: int, height: int, scheme: str
) -> None:
    phone = width < 500
    context = browser.new_context(
        viewport={"width": width, "height": height}, color_scheme=scheme, has_touch=phone, is_mobile=phone
    )
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(base_url, wait_until="domcontentloaded")
        page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=BOOT_TIMEOUT_MS)
        # A first visit: no endpoint, the model examples replay the shipped cassettes.
        assert _run(page, "summarizer") == "done"
        name = f"playground-{width}x{height}-{scheme}"
        asking = artifacts / f"{name}-agent-asking.png"
        assert _run(page, "agent", answer="Approve", asking=asking) == "done"
        assert _run(page, "approval", answer="Approve") == "done"
        assert _run(page, "fanout") == "done"
        assert _run(page, "snapshot") == "done"
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
        page.locator("#cell-fanout").screenshot(path=str(artifacts / f"{name}-fanout.png"))
        page.locator("#cell-agent").screenshot(path=str(artifacts / f"{name}-agent.png"))
        page.locator("#settings").screenshot(path=str(artifacts / f"{name}-settings.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert errors == []
    finally:
        context.close()
