from __future__ import annotations

from frisk.dashboard import charts
from frisk.dashboard.launch import APP, dashboard_command


def test_reasons_are_drawn_largest_on_top_with_their_sentences() -> None:
    reasons = [
        {"feature": "amount", "contribution": 2.5, "sentence": "a big amount"},
        {"feature": "hour_of_day", "contribution": -0.4, "sentence": "a usual hour"},
        {"feature": "new_device", "contribution": 1.1, "sentence": "a new device"},
    ]
    bar = charts.reasons_bar(reasons).data[0]
    assert list(bar.y) == ["hour_of_day", "new_device", "amount"]  # plotly draws bottom-up
    assert list(bar.hovertext) == ["a usual hour", "a new device", "a big amount"]


def test_daily_charts_have_one_trace_per_model_version() -> None:
    days = [
        {"day": "2024-02-02", "model_version": "b", "decisions": 5, "alert_rate": 0.2},
        {"day": "2024-02-01", "model_version": "a", "decisions": 9, "alert_rate": 0.1},
        {"day": "2024-02-02", "model_version": "a", "decisions": 7, "alert_rate": 0.0},
    ]
    volume = charts.volume_chart(days)
    assert [(t.name, list(t.x), list(t.y)) for t in volume.data] == [
        ("a", ["2024-02-01", "2024-02-02"], [9, 7]),
        ("b", ["2024-02-02"], [5]),
    ]
    assert len(charts.performance_chart(days).data) == 4  # precision and recall per version
    assert len(charts.alert_rate_chart(days, 0.005).data) == 2


def test_the_gauge_shows_the_risk_score_and_action() -> None:
    gauge = charts.risk_gauge({"risk_score": 82, "risk_tier": "high", "action": "review"})
    indicator = gauge.data[0]
    assert indicator.value == 82
    assert "REVIEW" in indicator.title.text
    assert [step.range for step in indicator.gauge.steps][-1] == (90.0, 100)


def test_the_dashboard_runs_its_app_headless_on_the_port() -> None:
    command = dashboard_command("127.0.0.1", 8765)
    assert command[1:4] == ["-m", "streamlit", "run"]
    assert str(APP) in command
    assert APP.is_file()
    assert command[command.index("--server.port") + 1] == "8765"
    assert command[command.index("--server.headless") + 1] == "true"
