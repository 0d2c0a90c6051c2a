"""Review queue in a real browser: resolve cases (button, keyboard), the labels in the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from tests.ui.conftest import Ui

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.xdist_group("ui")]


def payment(i: int) -> dict[str, Any]:
    return {
        "transaction_id": f"rev-{i}",
        "timestamp": (datetime.now(UTC) - timedelta(minutes=10 - i)).isoformat(),
        "amount": 9000.0 + i,
        "currency": "EUR",
        "payer_id": f"P9{i:04d}",
        "payee_id": "M00042",
        "channel": "bank_transfer",
    }


def test_resolve_reviews_and_see_the_labels_in_the_api(ui: Ui) -> None:
    with ui.stack.http("admin") as http:
        rule = {"expression": "amount > 8999", "action": "review", "mode": "active"}
        assert http.put("/v1/rules/ui_review_big", json=rule).status_code == 200
        decided = http.post("/v1/score/batch", json=[payment(i) for i in range(3)]).json()
    assert [d["action"] for d in decided] == ["review"] * 3

    ui.login("analyst")
    ui.open("Review queue")
    page = ui.page
    main = page.get_by_test_id("stMain")
    expect(main.get_by_test_id("stDataFrame").first).to_be_visible()  # the queue
    _open_case(ui, "rev-1")
    expect(main.get_by_text("Case rev-1")).to_be_visible()
    expect(
        main.get_by_text("The payer's recent activity").or_(
            main.get_by_text("No earlier activity for the payer.")
        )
    ).to_be_visible()
    page.get_by_label("Note").fill("cardholder confirmed the payment was not theirs")
    page.get_by_label("Note").press("Tab")
    page.get_by_role("button", name="Fraud").click()
    ui.settle()
    with ui.stack.http("analyst") as http:
        label = http.get("/v1/labels/rev-1").json()["label"]
        review = http.get("/v1/reviews/rev-1").json()["review"]
    assert (label["label"], label["source"]) == ("fraud", "review")
    assert (review["status"], review["resolution"]) == ("resolved", "fraud")
    assert review["note"] == "cardholder confirmed the payment was not theirs"

    _open_case(ui, "rev-2")
    expect(main.get_by_text("Case rev-2")).to_be_visible()
    ui.shot("reviews-small")
    page.keyboard.press("Alt+l")  # resolve as legit from the keyboard
    ui.settle()
    with ui.stack.http("analyst") as http:
        assert http.get("/v1/labels/rev-2").json()["label"]["label"] == "legit"


def test_an_empty_queue_says_so(ui: Ui) -> None:
    ui.login("analyst")
    ui.open("Review queue")
    page = ui.page
    # exact: with an empty queue, "The queue is empty: no review matches these filters" matches too
    page.get_by_test_id("stExpander").get_by_text("Filters", exact=True).click()
    page.get_by_label("Assignee").fill("nobody-at-all")
    page.get_by_label("Assignee").press("Enter")
    expect(page.get_by_text("The queue is empty")).to_be_visible()
    ui.shot("reviews-empty")


def _open_case(ui: Ui, transaction_id: str) -> None:
    box = ui.page.get_by_test_id("stMain").get_by_test_id("stSelectbox").last
    box.click()
    ui.page.get_by_role("option", name=transaction_id, exact=True).click()
    main = ui.page.get_by_test_id("stMain")
    expect(main.get_by_text(f"Case {transaction_id}")).to_be_visible()
    expect(main.get_by_label("Note")).to_have_count(1)  # the previous case's form is gone
    ui.settle()
