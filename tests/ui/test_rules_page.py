"""Rules page in a real browser: a rule with a syntax error shown inline, backtested, activated."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from frisk.dashboard.examples import random_transaction

if TYPE_CHECKING:
    from tests.ui.conftest import Ui

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.xdist_group("ui")]

RULE = "ui_big_amounts"


def test_backtest_a_rule_and_activate_it(ui: Ui) -> None:
    rng = random.Random(23)
    start = datetime.now(UTC) - timedelta(minutes=20)
    payments = [random_transaction(rng, start + timedelta(seconds=5 * i)) for i in range(80)]
    with ui.stack.http("admin") as http:
        assert http.post("/v1/score/batch", json=payments).status_code == 200
        labels = [
            {
                "transaction_id": p["transaction_id"],
                "label": "fraud" if p["amount"] > 500 else "legit",
            }
            for p in payments
        ]
        assert http.post("/v1/labels", json={"labels": labels}).status_code == 200
        today = datetime.now(UTC).date()
        expected = http.post(
            "/v1/rules/backtest",
            json={
                "rule": {"name": RULE, "expression": "amount > 500", "action": "review"},
                "start": (today - timedelta(days=30)).isoformat(),
                "end": (today + timedelta(days=1)).isoformat(),
            },
        ).json()["totals"]
    assert expected["hits"] > 0

    ui.login("admin")
    ui.open("Rules & lists")
    page = ui.page
    main = page.get_by_test_id("stMain")
    page.get_by_label("Name", exact=True).fill(RULE)
    expression = page.get_by_label("Expression (CEL)")
    expression.fill("amount > ")
    expression.press("Tab")
    expect(main.get_by_text("line 1, column")).to_be_visible()  # the syntax error, inline
    ui.shot("rules-syntax-error")
    expression.fill("amount > 500")
    expression.press("Tab")
    expect(main.get_by_text("valid", exact=True)).to_be_visible()

    page.get_by_role("button", name="Run backtest").click()
    figures = main.get_by_test_id("stMetric")
    hits = figures.filter(has_text="Hits").first.get_by_test_id("stMetricValue")
    expect(hits).to_have_text(f"{expected['hits']:,}")
    expect(figures.filter(has_text="Precision").get_by_test_id("stMetricValue")).to_have_text(
        f"{expected['precision']:.1%}"
    )
    expect(main.get_by_text("Rule hits by day")).to_be_visible()
    ui.shot("rules-backtest-small")

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("button", name="Activate")).to_be_visible()
    with ui.stack.http("analyst") as http:
        assert http.get(f"/v1/rules/{RULE}").json()["mode"] == "shadow"
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("button", name="Switch to shadow")).to_be_visible()
    with ui.stack.http("analyst") as http:
        stored = http.get(f"/v1/rules/{RULE}").json()
    assert (stored["mode"], stored["expression"], stored["action"]) == (
        "active",
        "amount > 500",
        "review",
    )
    ui.shot("rules")
