"""The evaluation report's pictures, each returned as a base64 PNG ready for a ``data:`` URI.

Figures are built on matplotlib's object API with the Agg canvas, never through ``pyplot``: no
global figure state, no GUI backend, safe in a server thread.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from frisk.models.metrics import PayerPrecision, ReliabilityBin, pr_curve, roc_curve

__all__ = [
    "importance_png",
    "payer_precision_png",
    "pr_png",
    "reliability_png",
    "roc_png",
    "score_distribution_png",
]

Floats = npt.NDArray[np.float64]
# Curves are thinned to this many points: enough for a 6-inch picture, small enough to embed.
MAX_POINTS: Final = 2000
TOP_IMPORTANCES: Final = 20


def pr_png(labels: Floats, scores: Mapping[str, Floats]) -> str:
    figure, axes = _figure()
    for name, s in scores.items():
        recall, precision = pr_curve(labels, s)
        axes.step(*_thin(recall, precision), where="post", label=name)
    axes.axhline(float(labels.mean()) if labels.size else 0.0, color="grey", lw=0.8, ls=":")
    _finish(axes, "Precision-recall", "recall", "precision")
    return _png(figure)


def roc_png(labels: Floats, scores: Mapping[str, Floats]) -> str:
    figure, axes = _figure()
    for name, s in scores.items():
        fpr, tpr = roc_curve(labels, s)
        axes.plot(*_thin(fpr[1:], tpr[1:]), label=name)  # (0, 0) has no place on a log axis
    negatives = max(int((labels == 0).sum()), 1)
    left = min(0.1, 1.0 / negatives)
    axes.plot([left, 1], [left, 1], color="grey", lw=0.8, ls=":")
    # Alert budgets live far left: a log axis shows the part that decides the business case.
    axes.set_xscale("log")
    axes.set_xlim(left, 1.0)
    _finish(axes, "ROC (log false positive rate)", "false positive rate", "true positive rate")
    return _png(figure)


def score_distribution_png(labels: Floats, scores: Floats, threshold: float) -> str:
    figure, axes = _figure()
    low, high = min(float(scores.min(initial=0.0)), 0.0), max(float(scores.max(initial=1.0)), 1.0)
    bins = [float(b) for b in np.linspace(low, high, 51)]
    for value, name, colour in ((0, "legit", "tab:blue"), (1, "fraud", "tab:red")):
        chosen = scores[labels == value]
        if chosen.size:
            axes.hist(chosen, bins=bins, histtype="step", lw=1.5, color=colour, label=name)
    if np.isfinite(threshold):
        axes.axvline(threshold, color="black", lw=0.8, ls="--", label="alert threshold")
    axes.set_yscale("log")
    _finish(axes, "Model score by outcome", "score", "events (log)")
    return _png(figure)


def reliability_png(bins: Sequence[ReliabilityBin]) -> str:
    figure, axes = _figure()
    predicted = np.array([b.mean_predicted for b in bins])
    observed = np.array([b.observed_rate for b in bins])
    # Log axes, since fraud probabilities span decades; a zero rate sits on the bottom edge.
    floor = min(1e-4, float(predicted[predicted > 0].min(initial=1e-4)) / 2)
    axes.plot([floor, 1], [floor, 1], color="grey", lw=0.8, ls=":", label="perfect")
    axes.plot(np.maximum(predicted, floor), np.maximum(observed, floor), marker="o", label="model")
    axes.set_xscale("log")
    axes.set_yscale("log")
    _finish(axes, "Reliability", "mean predicted probability", "observed fraud rate")
    return _png(figure)


def importance_png(importances: Mapping[str, float]) -> str:
    top = sorted(importances.items(), key=lambda item: (-item[1], item[0]))[:TOP_IMPORTANCES]
    figure = Figure(figsize=(7.0, 0.6 + 0.28 * max(len(top), 1)), dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    names = [name for name, _ in reversed(top)]
    axes.barh(names, [value for _, value in reversed(top)], color="tab:blue")
    axes.set_title(f"Feature importance (gain), top {len(top)}")
    axes.tick_params(axis="y", labelsize=8)
    return _png(figure)


def payer_precision_png(payers: Mapping[str, PayerPrecision]) -> str:
    figure, axes = _figure()
    for name, result in payers.items():
        days = [d.day for d in result.days]
        axes.plot(days, [d.precision for d in result.days], marker=".", label=name)
    axes.set_ylim(-0.02, 1.02)
    if payers:
        first = next(iter(payers.values()))
        axes.set_xticks(_sparse_ticks([d.day for d in first.days]))
        k = first.k
    else:
        k = 0
    axes.tick_params(axis="x", labelrotation=45, labelsize=7)
    _finish(axes, f"Payer precision@{k} per day", "day", "precision")
    return _png(figure)


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(6.0, 4.0), dpi=90)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _finish(axes: Axes, title: str, xlabel: str, ylabel: str) -> None:
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8)


def _png(figure: Figure) -> str:
    figure.tight_layout()
    buffer = io.BytesIO()
    # No "Software" metadata: the file then names no URL and is the same bytes for the same data.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _thin(x: Floats, y: Floats) -> tuple[Floats, Floats]:
    if x.size <= MAX_POINTS:
        return x, y
    keep = np.unique(np.linspace(0, x.size - 1, MAX_POINTS).astype(np.int64))
    return x[keep], y[keep]


def _sparse_ticks(days: list[str], most: int = 12) -> list[str]:
    step = max(1, -(-len(days) // most))
    return days[::step]
