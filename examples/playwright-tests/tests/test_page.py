"""The app's own page (site/index.html) driven like a user: the Playwright page of
`blazen_page`, the form, the approval buttons, a reload while the claim waits."""

from __future__ import annotations

from typing import Any

from expense import STEP_LOG


def submit(app_page: Any, item: str, amount: str) -> None:
    page = app_page.page
    page.fill("#item", item)
    page.fill("#amount", amount)
    page.click("#submit")


def test_page_submits_and_approves(app_page: Any) -> None:
    page = app_page.page
    submit(app_page, "Train ticket", "50")
    page.wait_for_selector("#approval:not([hidden])")
    assert page.text_content("#prompt") == "Approve Train ticket for 60.00?"
    page.click("#approve")
    page.wait_for_selector("#status[data-state=approved]")
    assert page.text_content("#status") == "approved: Train ticket"


def test_page_reload_while_waiting_resumes_the_claim(app_page: Any) -> None:
    page = app_page.page
    submit(app_page, "Conference", "800")
    page.wait_for_selector("#approval:not([hidden])")
    app_page.reload()
    page.wait_for_selector("#status[data-ready=true]")
    page.wait_for_selector("#approval:not([hidden])")
    assert page.text_content("#status") == "Resumed your claim."
    assert page.is_hidden("#claim"), "a resumed claim is not asked for again"
    assert page.text_content("#prompt") == "Approve Conference for 960.00?"
    page.click("#reject")
    page.wait_for_selector("#status[data-state=rejected]")
    assert app_page.js(STEP_LOG) == ["check", "price", "decide"]


def test_page_shows_a_bad_amount_without_starting_a_run(app_page: Any) -> None:
    page = app_page.page
    submit(app_page, "Coffee", "a lot")
    page.wait_for_selector("#status[data-state=error]")
    assert page.text_content("#status") == "Error: amount must be a number in (0, 1000000], got null"
    assert page.is_visible("#claim"), "the form stays for a corrected claim"
    assert app_page.js(STEP_LOG) == []
