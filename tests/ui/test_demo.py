"""`make demo` as a newcomer meets it: after the replay every figure of the dashboard has data.

The demo runs once (small: tests/ui/conftest.py's DEMO_SMALL). The first tests read the API the
way the dashboard's pages do; the browser tests open the pages themselves, each by its own URL
from a cold start (a new browser context, as a link shared by a colleague would be opened).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from frisk.dashboard.metrics import parse_metrics

if TYPE_CHECKING:
    from tests.ui.conftest import Demo

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.xdist_group("ui")]

README = Path(__file__).resolve().parents[2] / "README.md"
REPLAY_DAYS = 3  # DEMO_SMALL's --replay-days


def test_the_demo_prints_its_urls_and_a_key(demo: Demo) -> None:
    assert f"dashboard  {demo.dashboard}" in demo.output
    assert f"{demo.api}/docs" in demo.output
    assert demo.key.startswith("frisk_")
    assert re.search(r"5/5 replayed [\d,]+ payments .* with the [\d,]+ labels", demo.output)


def test_after_the_replay_every_monitoring_figure_has_data(demo: Demo) -> None:
    """What the Monitoring page draws, read from the same routes: none of it is empty."""
    with demo.http() as http:
        stats = http.get("/v1/stats").json()
        snapshot = parse_metrics(http.get("/metrics").text)
        performance = http.get("/v1/monitoring/performance", params={"days": 30}).json()
        drift = http.get("/v1/monitoring/drift").json()
    # The figures at the top and the latency chart.
    assert stats["decisions_today"] > 0
    assert stats["latency_ms_p50"] is not None
    assert stats["latency_ms_p99"] is not None
    # Decisions by action and the score distribution (since the API started).
    assert snapshot.by_action().get("allow", 0) > 0
    assert sum(count for _, _, count in snapshot.score_bins) > 0
    # Volume, alert rate and live precision/recall by day: the replayed days up to today.
    days = performance["days"]
    today = datetime.now(UTC).date()
    assert {date.fromisoformat(d["day"]) for d in days} >= {
        today - timedelta(days=n) for n in range(1, REPLAY_DAYS + 1)
    }
    assert any(d["precision"] is not None for d in days), "labels arrived during the replay"
    assert any(d["recall"] is not None for d in days)
    # The by-model table.
    assert [m["role"] for m in performance["models"]] == ["production"]
    assert performance["models"][0]["decisions"] == sum(d["decisions"] for d in days)
    # Drift: measured on every referenced feature, and the features that grow with time (the
    # demo's entities are all as old as its simulation) do not raise a false alarm.
    assert drift["features"]
    assert all(f["psi"] is not None for f in drift["features"])
    assert drift["score"]["psi"] is not None
    assert not [f["name"] for f in drift["features"] if f["alert"] and f["ages"]]


def test_the_review_queue_holds_a_realistic_share(demo: Demo) -> None:
    with demo.http() as http:
        reviews = http.get("/v1/reviews", params={"status": "open", "limit": 1}).json()
        stats = http.get("/v1/stats").json()
    decided = sum(stats["decisions_since_start"].values())
    # The model's alert budget is 0.5 % of traffic; with the small demo's 3 % fraud, more.
    assert 0.002 * decided <= reviews["total"] <= 0.1 * decided


def test_the_rules_backtest_default_period_holds_data(demo: Demo) -> None:
    """The Rules page backtests the last 30 days up to today unless told otherwise."""
    today = datetime.now(UTC).date()
    with demo.http() as http:
        got = http.post(
            "/v1/rules/backtest",
            json={
                "rule": {"expression": "amount > 500", "action": "review"},
                "start": (today - timedelta(days=30)).isoformat(),
                "end": (today + timedelta(days=1)).isoformat(),
            },
        )
    assert got.status_code == 200, got.text
    totals = got.json()["totals"]
    assert totals["transactions"] > 0
    assert totals["hits"] > 0


def readme_example() -> tuple[dict[str, Any], dict[str, Any]]:
    """The README's curl body (with its `$NOW` filled in) and the response it shows."""
    text = README.read_text()
    curl = re.search(r"```bash\n(NOW=.*?curl .*?)\n```", text, re.S)
    assert curl is not None, "the README's curl example"
    body = re.search(r"-d '(\{.*?\})'", curl.group(1), re.S)
    assert body is not None
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    request = json.loads(body.group(1).replace("'\"$NOW\"'", now))
    shown = re.search(r"```json\n(\{.*?\})\n```", text[curl.end() :], re.S)
    assert shown is not None, "the README's response"
    return request, json.loads(shown.group(1))


def test_the_readme_curl_example_runs_on_the_demo(demo: Demo) -> None:
    request, shown = readme_example()
    with demo.http() as http:
        r = http.post("/v1/score", json=request)
        assert r.status_code == 200, r.text
        decided = r.json()
        detail = http.get(
            f"/v1/decisions/{request['transaction_id']}", params={"include": "features"}
        ).json()
    assert set(decided) == set(shown)
    assert {k for r in decided["reasons"] for k in r} == {k for r in shown["reasons"] for k in r}
    # An alert (review or block) there and here; which one depends on the model's thresholds.
    assert shown["action"] != "allow"
    assert decided["action"] != "allow", "the README's example alerts on the demo too"
    # Its payer is one of the demo's, with a history the features saw.
    assert "features" in detail, detail
    assert detail["features"]["txn_count_by_payer_30d"] > 0


def test_docs_render_with_the_network_cut(demo: Demo, page: Any, artifacts: Path) -> None:
    """Swagger UI and ReDoc from Frisk's own files: every request off this machine fails."""
    outside: list[str] = []

    def cut(route: Any) -> None:
        host = re.match(r"\w+://([^/:]+)", route.request.url)
        if host is not None and host.group(1) == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", cut)
    page.goto(f"{demo.api}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Frisk")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.screenshot(path=str(artifacts / "api-docs.png"))
    page.goto(f"{demo.api}/redoc")
    expect(page.get_by_role("heading", name=re.compile("^Frisk"))).to_be_visible()
    assert outside == []


PAGES = {
    "score": "Score a transaction",
    "reviews": "Review queue",
    "monitoring": "Monitoring",
    "rules": "Rules & lists",
    "models": "Models",
}


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_opens_by_its_url_from_a_cold_start(demo: Demo, browser: Any, path: str) -> None:
    """A new browser context per page, straight to its URL, with nothing fetched from outside."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []

    def cut(route: Any) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    try:
        context.route("**/*", cut)
        page = context.new_page()
        page.goto(f"{demo.dashboard}/{path}")
        expect(page.get_by_role("heading", name=PAGES[path], exact=True)).to_be_visible()
        nav = page.get_by_test_id("stSidebarNav")
        expect(nav.get_by_role("link")).to_have_count(len(PAGES))
        for name in ("app", "monitoring.py", "pages"):
            expect(nav.get_by_text(name, exact=True)).to_have_count(0)
        assert outside == [], "the dashboard fetched from outside"
    finally:
        context.close()


def test_a_case_opens_by_its_link_with_the_features_it_read(
    demo: Demo, browser: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    with demo.http() as http:
        cases = http.get("/v1/reviews", params={"status": "open", "limit": 5}).json()["items"]
    case = cases[-1]["transaction_id"]  # not the first: the link, not the default, picks it
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{demo.dashboard}/reviews?case={case}")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_role("heading", name=f"Case {case}")).to_be_visible()
        expect(main.get_by_text("Features the decision read")).to_be_visible()
        expect(main.get_by_test_id("stDataFrame").nth(1)).to_be_visible()
        assert f"case={case}" in page.url
        screenshot(page, "reviews")
    finally:
        context.close()


def test_the_monitoring_page_draws_every_chart_and_the_model_table(
    demo: Demo, page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    page.goto(f"{demo.dashboard}/monitoring")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Drift")).to_be_visible()
    for title in (
        "Decisions by action (since the API started)",
        "Score distribution",
        "Alert rate by day",
        "Live precision and recall",
        "Drift per feature",
    ):
        expect(main.get_by_text(title).first).to_be_visible()
    # Every chart drew marks (bars or lines), none is an empty frame.
    charts = main.locator(".js-plotly-plot")
    assert charts.count() >= 7
    for n in range(charts.count()):
        expect(charts.nth(n).locator("path.point, path.js-line, .bars path").first).to_be_attached()
    expect(main.get_by_text("By model version")).to_be_visible()
    expect(main.get_by_test_id("stDataFrame").first).to_be_visible()
    for empty in ("No decisions", "No scores yet", "No drift figures yet"):
        expect(main.get_by_text(empty)).to_have_count(0)
    screenshot(page, "monitoring")


def test_a_rule_backtests_on_the_demo_over_the_default_period(
    demo: Demo, page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    """The Rules page's default period (the last 30 days) holds the replayed days."""
    page.goto(f"{demo.dashboard}/rules")
    main = page.get_by_test_id("stMain")
    page.get_by_label("Name", exact=True).fill("big_new_payee")
    expression = page.get_by_label("Expression (CEL)")
    expression.fill("amount > 500")
    expression.press("Tab")
    expect(main.get_by_text("valid", exact=True)).to_be_visible()
    page.get_by_role("button", name="Run backtest").click()
    figures = main.get_by_test_id("stMetric")
    transactions = figures.filter(has_text="Transactions").first.get_by_test_id("stMetricValue")
    expect(transactions).not_to_have_text("0")
    expect(main.get_by_text("Rule hits by day")).to_be_visible()
    # A bar per replayed day, not one lonely day.
    ticks = main.locator(".js-plotly-plot .xtick text")
    expect(ticks.nth(REPLAY_DAYS - 1)).to_be_attached()
    screenshot(page, "rules-backtest")
