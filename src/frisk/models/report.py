"""The evaluation report: one self-contained HTML file, pictures embedded as base64 PNG.

No script, no stylesheet link, no font or image fetched from anywhere: the file can be mailed,
archived or opened offline. Every piece of text that came from data is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Final

from frisk import __version__
from frisk.errors import InputError
from frisk.extras import require
from frisk.models.evaluate import MODEL, EvaluationResult

__all__ = ["render_report", "write_report"]

_STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
.note { color: #555; font-size: 0.9em; }
"""


def write_report(result: EvaluationResult, path: Path, title: str = "Frisk evaluation") -> Path:
    """Render the report and write it to ``path``; returns ``path``."""
    html = render_report(result, title)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write report {str(path)!r}: {exc.strerror or exc}") from exc
    return path


def render_report(result: EvaluationResult, title: str = "Frisk evaluation") -> str:
    """The whole report as one HTML string (matplotlib: the ``reports`` extra)."""
    require("matplotlib", "reports", "An HTML report")
    from frisk.models import report_plots as plots

    model = result.metrics[MODEL]
    parts = [
        f"<h1>{escape(title)}</h1>",
        _summary(result),
        "<h2>Headline at the alert budget</h2>",
        _headline(result),
        _descriptions(result),
        "<h2>Ranking</h2>",
        '<div class="figures">',
        _img(plots.pr_png(result.labels, result.scores), "precision-recall curves"),
        _img(plots.roc_png(result.labels, result.scores), "ROC curves"),
        "</div>",
        "<h2>Scores and calibration</h2>",
        '<div class="figures">',
        _img(
            plots.score_distribution_png(
                result.labels, result.scores[MODEL], model.at_budget.threshold
            ),
            "model score distribution, fraud vs legit",
        ),
    ]
    if model.calibration is not None and model.calibration.bins:
        parts.append(_img(plots.reliability_png(model.calibration.bins), "reliability curve"))
    parts.append("</div>")
    parts.append(_calibration(result))
    parts.append(f"<h2>Payers: precision@{result.k} per day</h2>")
    parts.append(_img(plots.payer_precision_png({n: m.payers for n, m in result.metrics.items()})))
    if result.importances:
        parts.append("<h2>Feature importance</h2>")
        parts.append(_img(plots.importance_png(result.importances), "feature importance"))
    parts.append("<h2>Recall by fraud scenario</h2>")
    parts.append(_scenarios(result))
    parts.append("<h2>Model per day</h2>")
    parts.append(_daily(result))
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def _summary(result: EvaluationResult) -> str:
    model = result.metrics[MODEL]
    train = "not given" if result.train is None else _window(result.train.to_dict())
    items = [
        ("test window", _window(result.test.to_dict())),
        ("training window", train),
        ("events in window", f"{result.rows:,}"),
        ("dropped, label unknown", f"{result.unlabelled:,}"),
        ("frauds", f"{model.frauds:,} ({_pct(model.fraud_rate)})"),
        ("alert budget", f"{_pct(result.budget)} = {model.at_budget.alerts:,} alerts"),
        ("generated", f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by Frisk {__version__}"),
    ]
    return _table(["", ""], items, header=False)


def _headline(result: EvaluationResult) -> str:
    header = [
        "scorer",
        "ROC AUC",
        "average precision",
        "alerts",
        "recall",
        "precision",
        "amount recall",
        f"payer precision@{result.k}",
        "Brier",
    ]
    rows = [
        (
            str(r["scorer"]),
            _num(r["roc_auc"]),
            _num(r["average_precision"]),
            f"{r['alerts']:,}",
            _num(r["recall"]),
            _num(r["precision"]),
            _num(r["amount_recall"]),
            _num(r[f"payer_precision_at_{result.k}"]),
            _num(r["brier"]),
        )
        for r in result.comparison()
    ]
    ceiling = result.metrics[MODEL].payers.ceiling
    note = (
        '<p class="note">At the budget the top share of events by score is alerted; events tied '
        "at the cut share the remaining alerts equally. Amount recall is the share of the "
        "fraudulent amount inside the alerts. Payer precision@k: each day, the share of "
        "fraudulent payers among the k payers with the highest score, payers already caught "
        f"left out; the best possible on these days is {escape(_num(ceiling))}.</p>"
    )
    return _table(header, rows) + note


def _descriptions(result: EvaluationResult) -> str:
    if not result.descriptions:
        return ""
    rows = [(name, text) for name, text in result.descriptions.items()]
    return _table(["scorer", "what it is"], rows)


def _calibration(result: EvaluationResult) -> str:
    cal = result.metrics[MODEL].calibration
    if cal is None:
        return ""
    summary = _table(
        ["Brier", "log loss", f"ECE ({cal.strategy} bins)"],
        [(_num(cal.brier), _num(cal.log_loss), _num(cal.ece))],
    )
    bins = _table(
        ["bin", "events", "mean predicted", "observed rate"],
        [
            (
                f"{b.lower:.3g} - {b.upper:.3g}",
                f"{b.count:,}",
                f"{b.mean_predicted:.3g}",
                f"{b.observed_rate:.3g}",
            )
            for b in cal.bins
        ],
    )
    return summary + bins


def _scenarios(result: EvaluationResult) -> str:
    names = sorted({s.scenario for m in result.metrics.values() for s in m.scenarios})
    if not names:
        return '<p class="note">The test rows carry no fraud scenario.</p>'
    by_scorer = {
        scorer: {s.scenario: s for s in m.scenarios} for scorer, m in result.metrics.items()
    }
    frauds = {s.scenario: s.frauds for s in result.metrics[MODEL].scenarios}
    rows = [
        (
            name,
            f"{frauds.get(name, 0):,}",
            *(_num(by_scorer[s][name].recall) if name in by_scorer[s] else "-" for s in by_scorer),
        )
        for name in names
    ]
    return _table(["scenario", "frauds", *(f"recall: {s}" for s in by_scorer)], rows)


def _daily(result: EvaluationResult) -> str:
    rows = [
        (
            d.day,
            f"{d.events:,}",
            f"{d.frauds:,}",
            _num(d.mean_score),
            _num(d.roc_auc),
            _num(d.average_precision),
            f"{d.alerts:,}",
            _num(d.recall),
            _num(d.precision),
        )
        for d in result.metrics[MODEL].daily
    ]
    header = [
        "day",
        "events",
        "frauds",
        "mean score",
        "ROC AUC",
        "AP",
        "alerts",
        "recall",
        "precision",
    ]
    return _table(header, rows)


def _table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, header: bool = True) -> str:
    """An HTML table; every cell is escaped here, so callers pass plain text."""
    lines = ["<table>"]
    if header:
        lines.append("<tr>" + "".join(f"<th>{escape(c)}</th>" for c in columns) + "</tr>")
    for row in rows:
        lines.append("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _img(png: str, alt: str = "") -> str:
    return f'<img src="data:image/png;base64,{png}" alt="{escape(alt)}">'


def _num(value: object) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.4f}"
    return "-" if value is None else str(value)


def _pct(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value * 100:.3g}%"


def _window(window: dict[str, str | None]) -> str:
    return f"[{window['start'] or '-inf'}, {window['end'] or '+inf'})"
