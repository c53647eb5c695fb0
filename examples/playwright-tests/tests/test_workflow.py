"""The expense workflow driven through its API in the page: `expense_page.start` runs the app's
own workflow module, the tests answer its approval request and read its stream."""

from __future__ import annotations

from typing import Any

import pytest
from expense import STEP_LOG, WORKFLOW

from blazen_py.testing import BlazenPageError


def test_approved_claim_is_priced_by_the_python_step(expense_page: Any) -> None:
    run = expense_page.start(WORKFLOW, {"item": "Laptop stand", "amount": 100})
    request = run.wait_for_input()
    assert request["prompt"] == "Approve Laptop stand for 120.00?"
    assert request["metadata"] == {"total": "120.00", "needsManager": False}
    run.respond(request["requestId"], {"approved": True})
    assert run.result() == {"status": "approved", "item": "Laptop stand", "total": "120.00"}


def test_rejected_claim_keeps_the_reason(expense_page: Any) -> None:
    run = expense_page.start(WORKFLOW, {"item": "Taxi", "amount": 30})
    run.respond(run.wait_for_input()["requestId"], {"approved": False, "reason": "duplicate"})
    assert run.result() == {"status": "rejected", "item": "Taxi", "reason": "duplicate"}


def test_stream_items_come_in_step_order(expense_page: Any) -> None:
    run = expense_page.start(WORKFLOW, {"item": "  Hotel  ", "amount": 450})
    run.respond(run.wait_for_input()["requestId"], {"approved": True})
    run.result()
    items = run.items()
    progress = [x for x in items if x.get("eventType") == "Progress"]
    assert [x["stage"] for x in progress] == ["checked", "priced"]
    assert progress[0]["item"] == "Hotel", "the JS step trims the item"
    assert progress[1]["total"] == "540.00"
    types = [x.get("eventType") for x in items]
    assert types.index("Progress") < types.index("InputRequested")
    assert types.count("InputRequested") == 1
    assert expense_page.js(STEP_LOG) == ["check", "price", "decide"]


@pytest.mark.parametrize(
    "amount, net, tax, total, manager",
    [(0.125, "0.13", "0.03", "0.16", False), (416.67, "416.67", "83.33", "500.00", False),
     (416.68, "416.68", "83.34", "500.02", True)],
)
def test_python_step_rounds_to_the_cent_and_flags_big_claims(
    expense_page: Any, amount: float, net: str, tax: str, total: str, manager: bool
) -> None:
    run = expense_page.start(WORKFLOW, {"item": "Pens", "amount": amount})
    request = run.wait_for_input()
    assert request["metadata"] == {"total": total, "needsManager": manager}
    run.respond(request["requestId"], {"approved": True})
    assert run.result()["total"] == total
    assert expense_page.python(
        "from decimal import Decimal\n"
        f"str(Decimal({net!r}) + Decimal({tax!r}))"
    ) == total, "net plus tax is the total"


@pytest.mark.parametrize(
    "claim, message",
    [({"item": "Desk", "amount": -5}, "amount must be a number in (0, 1000000], got -5"),
     ({"item": "Desk", "amount": "12"}, 'amount must be a number in (0, 1000000], got "12"'),
     ({"item": "   ", "amount": 12}, 'item must be a non-empty string, got "   "'),
     ({"amount": 12}, "item must be a non-empty string, got undefined")],
)
def test_a_bad_claim_fails_the_run_naming_the_field(expense_page: Any, claim: Any, message: str) -> None:
    run = expense_page.start(WORKFLOW, claim)
    with pytest.raises(BlazenPageError, match="ended without a 'InputRequested' item") as ended:
        run.wait_for_input()
    assert message in str(ended.value)
    with pytest.raises(BlazenPageError) as failed:
        run.result()
    assert message in str(failed.value)
    assert expense_page.js(STEP_LOG) == ["check"], "nothing after the check ran"


@pytest.mark.parametrize("answer", ["yes", None, {"approved": "true"}])
def test_a_malformed_approval_fails_the_run(expense_page: Any, answer: Any) -> None:
    run = expense_page.start(WORKFLOW, {"item": "Lunch", "amount": 12.5})
    run.respond(run.wait_for_input()["requestId"], answer)
    with pytest.raises(BlazenPageError, match=r"the approval must be \{approved: boolean\}"):
        run.result()


def test_reload_mid_run_resumes_from_the_indexeddb_checkpoint(expense_page: Any) -> None:
    run = expense_page.start(WORKFLOW, {"item": "Flight", "amount": 300}, {"checkpoint": "indexeddb"})
    run.wait_for_input()
    expense_page.reload()  # the run in flight is cut off; its checkpoint stays in IndexedDB
    with pytest.raises(BlazenPageError, match="gone"):
        run.items()
    resumed = expense_page.js(
        """
        const app = await import('/app/workflow.js');
        const wf = app.buildWorkflow(blazen, pyodide);
        const unfinished = await wf.unfinishedRuns();
        const handler = await wf.resumeCheckpoint(arg, { wait: 5 });
        const request = await new Promise((resolve) => handler.streamEvents((item) => {
          if (item.eventType === 'InputRequested') resolve(item);
        }));
        handler.respondToInput(request.requestId, { approved: true });
        const { data } = await handler.result();
        return { unfinished: unfinished.map((r) => r.runId), prompt: request.prompt, data,
                 left: (await wf.unfinishedRuns()).length };
        """,
        run.run_id,
    )
    assert resumed["unfinished"] == [run.run_id]
    assert resumed["prompt"] == "Approve Flight for 360.00?"
    assert resumed["data"] == {"status": "approved", "item": "Flight", "total": "360.00"}
    assert resumed["left"] == 0, "the checkpoint is deleted when the run ends"
    # the steps the checkpoint recorded as done did not run again after the reload
    assert expense_page.js(STEP_LOG) == ["check", "price", "decide"]
