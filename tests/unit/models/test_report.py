"""The HTML report: produced, self-contained, escaped, and carrying the key numbers."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib
import numpy as np
import polars as pl

from frisk.models.evaluate import MODEL, EvaluationResult, Window, evaluate_scores
from frisk.models.report import render_report, write_report

matplotlib.use("Agg")

T0 = datetime(2024, 2, 1, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script>"


def _result(n: int = 1500, fraud_rate: float = 0.05, importances: bool = True) -> EvaluationResult:
    rng = np.random.default_rng(5)
    label = (rng.random(n) < fraud_rate).astype(np.int8)
    rows = pl.DataFrame(
        {
            "timestamp": [
                T0 + timedelta(minutes=int(m)) for m in np.sort(rng.integers(0, 7200, n))
            ],
            "amount": rng.uniform(1, 300, n),
            "payer_id": [f"p{i}" for i in rng.integers(0, 200, n)],
            "label": label,
            "scenario": [
                HOSTILE if f and i % 2 else ("mule" if f else None) for i, f in enumerate(label)
            ],
        }
    )
    scores = {
        MODEL: np.clip(rng.beta(1, 30, n) + 0.5 * label * rng.random(n), 0, 1),
        "logistic_regression": rng.random(n) + 0.3 * label,
        "amount_velocity_rule": rng.random(n),
    }
    return evaluate_scores(
        rows,
        scores,
        0.01,
        k=10,
        test=Window(T0, T0 + timedelta(days=5)),
        train=Window(T0 - timedelta(days=30), T0),
        descriptions={MODEL: "LightGBM <v1>", "amount_velocity_rule": "rank mean of amount"},
        importances={"amount": 120.5, "txn_count_by_payer_1h": 80.0, HOSTILE: 1.0}
        if importances
        else None,
    )


def test_report_is_self_contained_escaped_and_has_the_numbers(tmp_path: Path) -> None:
    result = _result()
    path = write_report(result, tmp_path / "sub" / "report.html")
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # Self-contained: nothing fetched from anywhere.
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert not re.search(r"(https?:)?//[a-z]", text)
    assert not re.search(r"\b(href|src)=\"(?!data:)", html)
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert "LightGBM &lt;v1&gt;" in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 6  # PR, ROC, distribution, reliability, payers, importances
    for image in images:
        assert base64.b64decode(image).startswith(b"\x89PNG")
    model = result.metrics[MODEL]
    assert f"{model.roc_auc:.4f}" in html
    assert f"{model.average_precision:.4f}" in html
    assert f"{model.at_budget.recall:.4f}" in html
    assert f"{model.payers.mean:.4f}" in html
    assert f"<td>{model.at_budget.alerts:,}</td>" in html
    assert "payer precision@10" in html
    assert "mule" in html


def test_report_without_fraud_or_importances_still_renders() -> None:
    result = _result(n=300, fraud_rate=0.0, importances=False)
    html = render_report(result, title="quiet <week>")
    assert "<title>quiet &lt;week&gt;</title>" in html
    assert "no fraud scenario" in html
    assert "Feature importance" not in html
