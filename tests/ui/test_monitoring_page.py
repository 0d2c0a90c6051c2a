"""Monitoring and Models pages in a real browser, after payments went through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from frisk.dashboard.examples import random_transaction

if TYPE_CHECKING:
    from tests.ui.conftest import Ui

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.xdist_group("ui")]


def test_the_monitoring_page_shows_the_live_figures(ui: Ui) -> None:
    import random

    rng = random.Random(11)
    start = datetime.now(UTC) - timedelta(minutes=30)
    payments = [random_transaction(rng, start + timedelta(seconds=10 * i)) for i in range(60)]
    with ui.stack.http("admin") as http:
        scored = http.post("/v1/score/batch", json=payments)
        assert scored.status_code == 200, scored.text
        labels = [
            {
                "transaction_id": d["transaction_id"],
                "label": "fraud" if d["score"] > 0.3 else "legit",
            }
            for d in scored.json()
        ]
        assert http.post("/v1/labels", json={"labels": labels}).status_code == 200
        stats = http.get("/v1/stats").json()
        performance = http.get("/v1/monitoring/performance").json()
    assert stats["decisions_today"] >= 60

    ui.login("analyst")
    ui.open("Monitoring")
    page = ui.page
    main = page.get_by_test_id("stMain")
    expect(page.get_by_role("heading", name="Monitoring")).to_be_visible()
    figures = main.get_by_test_id("stMetric")
    decided = figures.filter(has_text="Decisions today").get_by_test_id("stMetricValue")
    assert int(decided.inner_text().replace(",", "")) >= 60
    expect(figures.filter(has_text="Latency p99")).to_contain_text("ms")
    # Actions since start, the score distribution and the latency, as Plotly charts.
    expect(main.locator(".js-plotly-plot").nth(2)).to_be_attached()  # at least three
    expect(main.get_by_text("Decisions by action (since the API started)")).to_be_visible()
    expect(main.get_by_text("Score distribution")).to_be_visible()
    # Live precision and recall by day and model version, from the labels just posted.
    assert performance["days"]
    expect(main.get_by_text("Live precision and recall")).to_be_visible()
    expect(main.get_by_text("Alert rate by day")).to_be_visible()
    expect(main.get_by_role("heading", name="Drift")).to_be_visible()
    expect(main.get_by_text("Drift per feature")).to_be_visible()
    ui.shot("monitoring-small")


def test_the_models_page_shows_the_serving_model(ui: Ui) -> None:
    with ui.stack.http("analyst") as http:
        serving = http.get("/v1/models").json()["serving"]
    ui.login("analyst")
    ui.open("Models")
    main = ui.page.get_by_test_id("stMain")
    expect(main.get_by_text("In production")).to_be_visible()
    expect(main.get_by_text(serving["version"]).first).to_be_visible()
    ui.shot("models")


def test_promote_and_roll_back_with_an_admin_key_only(ui: Ui) -> None:
    with ui.stack.http("analyst") as http:
        models = http.get("/v1/models").json()
    serving = models["serving"]["version"]
    candidate = next(v["version"] for v in models["versions"] if v["version"] != serving)
    page = ui.page
    main = page.get_by_test_id("stMain")

    ui.login("analyst")
    ui.open("Models")
    _choose(ui, candidate)
    page.get_by_role("button", name="Promote to production").click()
    expect(main.get_by_text("This key may not do this (changing models)")).to_be_visible()
    ui.shot("models-forbidden")

    ui.login("admin")
    ui.open("Models")
    _choose(ui, candidate)
    page.get_by_role("button", name="Promote to production").click()
    expect(main.get_by_text(f"{candidate} is now in production.")).to_be_visible()
    with ui.stack.http("analyst") as http:
        assert http.get("/v1/models").json()["serving"]["version"] == candidate
    page.get_by_role("button", name="Roll back production").click()
    expect(main.get_by_text(f"Rolled back: {serving} serves.")).to_be_visible()
    with ui.stack.http("analyst") as http:
        assert http.get("/v1/models").json()["serving"]["version"] == serving


def _choose(ui: Ui, version: str) -> None:
    ui.page.get_by_test_id("stSelectbox").filter(has_text="Version").click()
    ui.page.get_by_role("option", name=version).click()
    ui.settle()
