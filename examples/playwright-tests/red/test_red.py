"""A deliberately failing test (not collected by the normal run: testpaths = tests): it answers
the approval with a bare "sure", so the run fails in the page and `result()` raises with the
page's own message. tests/browser/test_example_project.py runs it alone and asserts it is red."""

from __future__ import annotations

from typing import Any

WORKFLOW = "const app = await import('/app/workflow.js'); return app.buildWorkflow(blazen, pyodide);"


def test_red_malformed_approval(blazen_page: Any) -> None:
    run = blazen_page.start(WORKFLOW, {"item": "Red pen", "amount": 10})
    run.respond(run.wait_for_input()["requestId"], "sure")
    assert run.result() == {"status": "approved", "item": "Red pen", "total": "12.00"}
