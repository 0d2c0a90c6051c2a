"""Plotly figures for the pages: pure functions from API payloads to figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

__all__ = [
    "ACTION_COLOURS",
    "actions_bar",
    "activity_timeline",
    "alert_rate_chart",
    "backtest_chart",
    "drift_bar",
    "latency_bar",
    "performance_chart",
    "reasons_bar",
    "risk_gauge",
    "score_histogram",
    "volume_chart",
]

ACTION_COLOURS = {"allow": "#2e7d32", "review": "#f9a825", "block": "#c62828"}
TIER_COLOURS = {"low": "#c8e6c9", "medium": "#fff59d", "high": "#ffcc80", "critical": "#ef9a9a"}
# The risk score puts the model's thresholds at these points, whatever the model
# (frisk.models.thresholds.RISK_SCORE_CUTS; a unit test keeps the two equal).
RISK_SCORE_CUTS = (40.0, 70.0, 90.0)
_LAYOUT: dict[str, Any] = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 320}


def risk_gauge(decision: Mapping[str, Any]) -> Any:
    """The risk score (0-100) as a gauge, banded by tier."""
    medium, review, block = RISK_SCORE_CUTS
    action = str(decision.get("action", ""))
    figure = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=decision.get("risk_score", 0),
            number={"suffix": " / 100"},
            title={"text": f"{decision.get('risk_tier', '?')} risk · {action.upper()}"},
            gauge={
                "axis": {"range": [0, 100]},
                "bar": {"color": ACTION_COLOURS.get(action, "#455a64")},
                "steps": [
                    {"range": [0, medium], "color": TIER_COLOURS["low"]},
                    {"range": [medium, review], "color": TIER_COLOURS["medium"]},
                    {"range": [review, block], "color": TIER_COLOURS["high"]},
                    {"range": [block, 100], "color": TIER_COLOURS["critical"]},
                ],
            },
        )
    )
    # Side margins wide enough for the axis labels at the ends of the arc ("100" was clipped).
    figure.update_layout(
        **{**_LAYOUT, "height": 260, "margin": {"l": 45, "r": 45, "t": 60, "b": 10}}
    )
    return figure


def reasons_bar(reasons: Sequence[Mapping[str, Any]]) -> Any:
    """Each reason's contribution to the log-odds, largest at the top, its sentence on hover."""
    ordered = sorted(reasons, key=lambda r: abs(float(r.get("contribution", 0.0))))
    figure = go.Figure(
        go.Bar(
            x=[float(r.get("contribution", 0.0)) for r in ordered],
            y=[str(r.get("feature", "")) for r in ordered],
            orientation="h",
            marker_color=[
                ACTION_COLOURS["block"] if float(r.get("contribution", 0.0)) > 0 else "#1565c0"
                for r in ordered
            ],
            hovertext=[str(r.get("sentence", "")) for r in ordered],
            hoverinfo="text+x",
        )
    )
    figure.update_layout(
        **{**_LAYOUT, "height": 80 + 40 * max(len(ordered), 1)},
        title="Contribution to the score (log-odds)",
        xaxis_title="contribution",
    )
    return figure


def actions_bar(counts: Mapping[str, float], title: str) -> Any:
    names = [a for a in ("allow", "review", "block") if a in counts] + sorted(
        a for a in counts if a not in ACTION_COLOURS
    )
    figure = go.Figure(
        go.Bar(
            x=names,
            y=[counts[a] for a in names],
            marker_color=[ACTION_COLOURS.get(a, "#455a64") for a in names],
            text=[f"{counts[a]:,.0f}" for a in names],
            textposition="auto",
        )
    )
    figure.update_layout(**_LAYOUT, title=title)
    return figure


def score_histogram(bins: Sequence[tuple[float, float, float]]) -> Any:
    """Decisions per score bucket (the service's histogram), log scale: alerts are rare."""
    figure = go.Figure(
        go.Bar(
            x=[(lo + hi) / 2 for lo, hi, _ in bins],
            y=[count for _, _, count in bins],
            width=[hi - lo for lo, hi, _ in bins],
            marker_color="#5c6bc0",
            hovertext=[f"{lo:.2f}-{hi:.2f}: {count:,.0f}" for lo, hi, count in bins],
            hoverinfo="text",
        )
    )
    figure.update_layout(
        **_LAYOUT, title="Score distribution", xaxis_title="score", yaxis_type="log"
    )
    return figure


def latency_bar(p50: float | None, p99: float | None) -> Any:
    figure = go.Figure(
        go.Bar(
            x=["p50", "p99"],
            y=[p50 or 0.0, p99 or 0.0],
            marker_color=["#26a69a", "#00695c"],
            text=[f"{v:.2f} ms" if v is not None else "-" for v in (p50, p99)],
            textposition="auto",
        )
    )
    figure.update_layout(**_LAYOUT, title="Decision latency (ms)")
    return figure


def alert_rate_chart(days: Sequence[Mapping[str, Any]], budget: float) -> Any:
    """Daily alert rate per model version against the alert budget."""
    figure = go.Figure()
    for version, rows in _by_version(days).items():
        figure.add_trace(
            go.Scatter(
                x=[r["day"] for r in rows],
                y=[r.get("alert_rate") for r in rows],
                mode="lines+markers",
                name=version,
            )
        )
    figure.add_hline(y=budget, line_dash="dash", line_color="#c62828", annotation_text="budget")
    figure.update_layout(
        **_LAYOUT, title="Alert rate by day", yaxis_tickformat=".2%", xaxis_type="category"
    )
    return figure


def volume_chart(days: Sequence[Mapping[str, Any]]) -> Any:
    """Decisions per day, stacked by model version."""
    figure = go.Figure(
        [
            go.Bar(
                x=[str(r["day"]) for r in rows],
                y=[r.get("decisions", 0) for r in rows],
                name=version,
            )
            for version, rows in _by_version(days).items()
        ]
    )
    figure.update_layout(
        **_LAYOUT, title="Decisions by day", barmode="stack", xaxis_type="category"
    )
    return figure


def performance_chart(days: Sequence[Mapping[str, Any]]) -> Any:
    """Precision and recall on labelled decisions, by day and model version."""
    figure = go.Figure()
    for version, rows in _by_version(days).items():
        x = [r["day"] for r in rows]
        figure.add_trace(
            go.Scatter(x=x, y=[r.get("precision") for r in rows], name=f"precision {version}")
        )
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[r.get("recall") for r in rows],
                name=f"recall {version}",
                line_dash="dot",
            )
        )
    figure.update_layout(
        **_LAYOUT,
        title="Live precision and recall",
        yaxis_range=[0, 1],
        yaxis_tickformat=".0%",
        xaxis_type="category",
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def drift_bar(features: Sequence[Mapping[str, Any]], alert_level: float | None) -> Any:
    """PSI per feature, worst first; the bars over the alert level in red, the features that
    grow with time (never an alert) in grey and marked."""
    top = list(features)[:25][::-1]
    figure = go.Figure(
        go.Bar(
            x=[float(f.get("psi") or 0.0) for f in top],
            y=[f"{f.get('name', '')}{' (grows with time)' if f.get('ages') else ''}" for f in top],
            orientation="h",
            marker_color=[
                "#c62828" if f.get("alert") else "#b0bec5" if f.get("ages") else "#5c6bc0"
                for f in top
            ],
        )
    )
    if alert_level is not None:
        figure.add_vline(x=alert_level, line_dash="dash", annotation_text="alert")
    figure.update_layout(
        **{**_LAYOUT, "height": 120 + 22 * max(len(top), 1)},
        title="Drift per feature (PSI against the training reference)",
    )
    return figure


def backtest_chart(days: Sequence[Mapping[str, Any]]) -> Any:
    """Hits and fraudulent hits per day of a backtest."""
    x = [d["day"] for d in days]
    figure = go.Figure(
        [
            go.Bar(x=x, y=[d.get("hits", 0) for d in days], name="hits", marker_color="#90a4ae"),
            go.Bar(
                x=x,
                y=[d.get("fraud_hits", 0) for d in days],
                name="fraudulent hits",
                marker_color=ACTION_COLOURS["block"],
            ),
        ]
    )
    figure.update_layout(
        **_LAYOUT, title="Rule hits by day", barmode="overlay", xaxis_type="category"
    )
    return figure


def activity_timeline(history: Sequence[Mapping[str, Any]], title: str) -> Any:
    """Recent payments as points in time, sized by amount, coloured by action."""
    figure = go.Figure()
    for action in sorted({str(h.get("action")) for h in history}):
        rows = [h for h in history if str(h.get("action")) == action]
        figure.add_trace(
            go.Scatter(
                x=[h.get("event_time") for h in rows],
                y=[h.get("amount") for h in rows],
                mode="markers",
                name=action,
                marker={"color": ACTION_COLOURS.get(action, "#455a64"), "size": 10},
                hovertext=[
                    f"{h.get('transaction_id')}: {h.get('payer_id')} → {h.get('payee_id')}, "
                    f"score {float(h.get('score') or 0):.3f}, label {h.get('label') or '-'}"
                    for h in rows
                ],
                hoverinfo="text+y",
            )
        )
    figure.update_layout(**{**_LAYOUT, "height": 260}, title=title, yaxis_title="amount")
    return figure


def _by_version(days: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for row in sorted(days, key=lambda r: str(r.get("day"))):
        out.setdefault(str(row.get("model_version") or "all"), []).append(row)
    return out
