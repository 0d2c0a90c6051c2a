"""Monitoring: volume, actions, alert rate against the budget, latency, scores, drift, precision."""

from __future__ import annotations

from typing import Any

import streamlit as st

from frisk.client import FriskClient
from frisk.dashboard import charts
from frisk.dashboard.metrics import parse_metrics
from frisk.dashboard.session import api_section

__all__ = ["render"]


def render(client: FriskClient) -> None:
    st.title("Monitoring")
    st.button("Refresh")
    stats: dict[str, Any] = {}
    with api_section("reading /v1/stats"):
        stats = client.stats()
        _live(stats)
    left, middle, right = st.columns(3)
    if stats:
        right.plotly_chart(
            charts.latency_bar(stats.get("latency_ms_p50"), stats.get("latency_ms_p99")),
            key="latency",
        )
    with api_section("reading /metrics"):
        snapshot = parse_metrics(client.metrics())
        by_action = snapshot.by_action()
        if by_action:
            left.plotly_chart(
                charts.actions_bar(by_action, "Decisions by action (since the API started)"),
                key="actions",
            )
        else:
            left.info("No decisions since the API started.")
        if any(count for _, _, count in snapshot.score_bins):
            middle.plotly_chart(charts.score_histogram(snapshot.score_bins), key="scores")
        else:
            middle.info("No scores yet.")
    with api_section("reading live performance"):
        days = int(st.session_state.get("monitoring.days", 30))
        _performance(client.performance(days=days))
        st.select_slider("Days", options=[7, 14, 30, 60, 90], key="monitoring.days", value=days)
    with api_section("reading drift"):
        _drift(client.drift())


def _live(stats: dict[str, Any]) -> None:
    cols = st.columns(5)
    cols[0].metric("Decisions today", f"{stats['decisions_today']:,}")
    cols[1].metric("Alerts today", f"{stats['alerts_today']:,}")
    rate, budget = stats["alert_rate_today"], stats["alert_budget"]
    cols[2].metric(
        "Alert rate today",
        f"{rate:.2%}",
        delta=f"{rate - budget:+.2%} vs budget {budget:.2%}",
        delta_color="inverse",
    )
    cols[3].metric("Latency p50", _ms(stats.get("latency_ms_p50")))
    cols[4].metric("Latency p99", _ms(stats.get("latency_ms_p99")))
    if stats.get("over_budget"):
        st.warning(f"Today's alert rate {rate:.2%} is over the budget of {budget:.2%}.")
    st.caption(
        f"model {stats.get('model_version') or 'none loaded'} · up "
        f"{stats['uptime_seconds'] / 60:.0f} min · latency over the last "
        f'{stats["latency_window"]:,} decisions · "today" counts what was decided since '
        "00:00 UTC (a replay decides days of payments at once); the charts by day go by each "
        "payment's own time"
    )


def _performance(perf: dict[str, Any]) -> None:
    days = perf.get("days") or []
    if not days:
        st.info("No decisions in this period yet.")
        return
    budget = float(perf.get("budget") or 0.0)
    left, middle, right = st.columns(3)
    left.plotly_chart(charts.volume_chart(days), key="volume")
    middle.plotly_chart(charts.alert_rate_chart(days, budget), key="alert_rate")
    right.plotly_chart(charts.performance_chart(days), key="precision_recall")
    models = perf.get("models") or []
    if models:
        st.markdown("**By model version**")
        st.dataframe(models, hide_index=True, key="models_perf")


def _drift(drift: dict[str, Any]) -> None:
    features = drift.get("features") or []
    window = drift.get("window") or {}
    reference = drift.get("reference") or {}
    score = drift.get("score") or {}
    st.subheader("Drift")
    st.caption(
        f"{window.get('decisions', 0):,} decisions from {window.get('start')} to "
        f"{window.get('end')} against {reference.get('model_version')}'s training reference "
        f"({reference.get('rows', 0):,} rows); score PSI {score.get('psi', 0) or 0:.3f}"
        + (" — ALERT" if score.get("alert") else "")
    )
    if not features:
        st.info("No drift figures yet: the window holds no decisions.")
        return
    st.plotly_chart(charts.drift_bar(features, drift.get("alert_level")), key="drift")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"
