"""``frisk report live``: live performance per day and model, from the ledger settings name."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from frisk.cli.app import app

__all__ = ["live"]

report_app = typer.Typer(
    name="report", help="Reports on what the service decided.", no_args_is_help=True
)
app.add_typer(report_app)

_COLUMNS = (
    ("day", "day"),
    ("model", "model_version"),
    ("role", "role"),
    ("decisions", "decisions"),
    ("alerts", "alerts"),
    ("alert rate", "alert_rate"),
    ("labelled", "labelled"),
    ("fraud", "fraud"),
    ("caught", "alerted_fraud"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("fraud amt", "fraud_amount"),
    ("amt caught", "amount_caught"),
)


@report_app.command("live")
def live(
    days: Annotated[
        int, typer.Option("--days", min=1, max=366, help="Days up to the newest decision.")
    ] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Alerts, precision and recall by the labels received so far, per day and model version."""
    from frisk.config import load_settings
    from frisk.models.registry import Registry
    from frisk.monitoring import live_performance
    from frisk.store import default_url, open_ledger

    settings = load_settings()
    ledger = open_ledger(settings.database_url or default_url(settings.home))
    try:
        production = Registry(settings.registry_dir).production()
        result = live_performance(
            ledger, days=days, budget=settings.api.alert_budget, production=production
        )
    finally:
        ledger.close()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    if not result.days:
        typer.echo("no decisions in the ledger")
        return
    rows = [r.to_dict() for r in result.days]
    totals = [{**r.to_dict(), "day": "total"} for r in result.models if r.decisions]
    typer.echo(_table([*rows, *totals]))
    typer.echo(
        f"{result.start} .. {result.end}; alert budget {result.budget:.2%}; precision = alerted "
        "fraud / alerts and recall = alerted fraud / labelled fraud, by the labels so far"
    )


def _table(rows: list[dict[str, object]]) -> str:
    header = [title for title, _ in _COLUMNS]
    cells = [[_cell(row[key], key) for _, key in _COLUMNS] for row in rows]
    widths = [max(len(c) for c in column) for column in zip(header, *cells, strict=True)]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in [header, *cells]
    )


def _cell(value: object, key: str) -> str:
    if value is None:
        return "-"
    if key in ("alert_rate", "precision", "recall") and isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)
