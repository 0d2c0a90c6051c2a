"""Score page in a real browser: a transaction scored through the API, its reasons on screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from tests.ui.conftest import Ui

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.xdist_group("ui")]


def test_score_a_transaction_and_see_its_reasons(ui: Ui) -> None:
    ui.login("admin")
    page = ui.page
    expect(page.get_by_role("heading", name="Score a transaction")).to_be_visible()
    id_box = page.get_by_label("Transaction id")
    default_id = id_box.input_value()
    page.get_by_role("button", name="Random realistic example").click()
    expect(id_box).not_to_have_value(default_id)
    ui.settle()
    transaction_id = id_box.input_value()
    assert transaction_id.startswith("ui-")
    # A large payment to a new payee from a new device on a young account.
    page.get_by_label("Amount", exact=True).fill("9500")
    page.get_by_label("Payee", exact=True).fill("P99999")
    page.get_by_label("Device", exact=True).fill("D-brand-new")
    page.get_by_label("Account age (days)").fill("2")
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.get_by_text(f"Decision for {transaction_id}")).to_be_visible()

    with ui.stack.http("analyst") as http:
        recorded = http.get(f"/v1/decisions/{transaction_id}")
    assert recorded.status_code == 200, recorded.text
    decision = recorded.json()
    assert float(page.get_by_label("Amount", exact=True).input_value()) == 9500.0
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(decision["action"].upper(), exact=True)).to_be_visible()
    expect(main.get_by_text(decision["risk_tier"], exact=True).first).to_be_visible()
    assert decision["reasons"], "the UI stack explains every decision"
    for reason in decision["reasons"]:
        expect(main.get_by_text(reason["sentence"], exact=False).first).to_be_visible()
    expect(main.locator(".js-plotly-plot")).to_have_count(2)  # the gauge and the reasons
    ui.shot("score")


def test_an_analyst_key_is_told_it_may_not_score(ui: Ui) -> None:
    ui.login("analyst")
    ui.page.get_by_role("button", name="Score", exact=True).click()
    expect(ui.page.get_by_text("This key may not do this (scoring)")).to_be_visible()
    ui.shot("score-forbidden")


def test_an_api_that_is_down_is_said_so_at_login(ui: Ui) -> None:
    ui.login("admin", api="http://127.0.0.1:9")  # the discard port: nothing listens
    expect(ui.page.get_by_text("The API is down.")).to_be_visible()
    ui.shot("api-down")
