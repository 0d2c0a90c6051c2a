"""Metrics of a fraud score at a fixed alert budget: ranking, alerts, payers, calibration.

An alert budget ``b`` alerts the ``floor(b * n)`` highest-scored of ``n`` events. Ties at the cut
are shared: every event tied with the last alerted score counts as alerted with the same fraction,
the expected value when the tie is broken at random. Row order never decides, so a model whose
calibration produces plateaus of equal scores is neither flattered nor punished by table order.

Undefined values are ``nan`` (``None`` in ``to_dict``), never an exception: AUC without both
classes, precision with no alerts, recall with no fraud.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from frisk.errors import InputError

__all__ = [
    "BudgetMetrics",
    "Calibration",
    "DayMetrics",
    "PayerDay",
    "PayerPrecision",
    "ReliabilityBin",
    "ScenarioRecall",
    "ScoreMetrics",
    "alert_count",
    "alert_shares",
    "average_precision",
    "budget_metrics",
    "calibration",
    "daily_metrics",
    "jsonable",
    "payer_precision_at_k",
    "pr_curve",
    "roc_auc",
    "roc_curve",
    "scenario_recall",
    "score_metrics",
]

Floats = npt.NDArray[np.float64]
BinStrategy = Literal["log", "quantile", "uniform"]
# The log bins' lowest edge: below it probabilities share one bin.
LOG_BIN_FLOOR: Final = 1e-6
# Columns ``score_metrics`` reads from the event rows; ``scenario`` is optional.
METRIC_COLUMNS: Final = ("timestamp", "amount", "payer_id", "label")
UNKNOWN_SCENARIO: Final = "unknown"


@dataclass(frozen=True, slots=True)
class BudgetMetrics:
    """What an analyst team working the top ``budget`` share of events would see."""

    budget: float
    alerts: int
    threshold: float  # the lowest alerted score (nan when nothing is alerted)
    caught: float  # expected number of frauds among the alerts (fractional at a tie)
    recall: float
    precision: float
    amount_recall: float  # share of the fraudulent amount inside the alerts


@dataclass(frozen=True, slots=True)
class ScenarioRecall:
    scenario: str
    frauds: int
    caught: float
    recall: float


@dataclass(frozen=True, slots=True)
class PayerDay:
    day: str
    candidates: int  # payers active that day and not found before
    fraud_payers: int  # of which fraudulent that day
    alerted: int  # min(k, candidates)
    hits: float  # expected fraudulent payers among the alerted
    precision: float


@dataclass(frozen=True, slots=True)
class PayerPrecision:
    k: int
    mean: float  # over days with at least one candidate payer
    # The best mean possible, every fraudulent payer ranked first: fewer than k fraudulent
    # payers a day caps precision@k well below 1.
    ceiling: float
    days: tuple[PayerDay, ...]


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True, slots=True)
class Calibration:
    brier: float
    log_loss: float
    ece: float  # expected calibration error over the bins below, weighted by count
    strategy: str
    bins: tuple[ReliabilityBin, ...]


@dataclass(frozen=True, slots=True)
class DayMetrics:
    """One day's figures; the same shape live monitoring reports."""

    day: str
    events: int
    frauds: int
    mean_score: float
    roc_auc: float
    average_precision: float
    alerts: int
    recall: float
    precision: float


@dataclass(frozen=True, slots=True)
class ScoreMetrics:
    events: int
    frauds: int
    fraud_rate: float
    roc_auc: float
    average_precision: float
    at_budget: BudgetMetrics
    payers: PayerPrecision
    calibration: Calibration | None
    scenarios: tuple[ScenarioRecall, ...]
    daily: tuple[DayMetrics, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; ``nan`` becomes ``None``."""
        result: dict[str, Any] = jsonable(asdict(self))
        return result


def score_metrics(
    rows: pl.DataFrame,
    scores: npt.ArrayLike,
    budget: float,
    *,
    k: int = 100,
    probabilities: bool = True,
    n_bins: int = 10,
) -> ScoreMetrics:
    """Every metric of ``scores`` on labelled event ``rows`` (same order).

    ``rows`` needs ``timestamp``, ``amount``, ``payer_id`` and ``label`` (0/1, no nulls); a
    ``scenario`` column adds per-scenario recall. ``probabilities=False`` skips calibration, for
    scores that are rankings rather than probabilities.
    """
    missing = [c for c in METRIC_COLUMNS if c not in rows.columns]
    if missing:
        raise InputError(f"evaluation rows lack column(s): {', '.join(missing)}")
    labels = _labels(rows.get_column("label"))
    score = _scores(scores, rows.height)
    amounts = rows.get_column("amount").cast(pl.Float64).fill_null(0.0).to_numpy()
    days = rows.get_column("timestamp").dt.date()
    at_budget = budget_metrics(labels, score, budget, amounts)
    shares = alert_shares(score, at_budget.alerts)
    scenarios: tuple[ScenarioRecall, ...] = ()
    if "scenario" in rows.columns:
        scenarios = scenario_recall(labels, shares, rows.get_column("scenario"))
    frauds = int(labels.sum())
    return ScoreMetrics(
        events=rows.height,
        frauds=frauds,
        fraud_rate=frauds / rows.height if rows.height else math.nan,
        roc_auc=roc_auc(labels, score),
        average_precision=average_precision(labels, score),
        at_budget=at_budget,
        payers=payer_precision_at_k(days, rows.get_column("payer_id"), labels, score, k),
        calibration=calibration(labels, score, n_bins) if probabilities else None,
        scenarios=scenarios,
        daily=daily_metrics(days, labels, score, budget),
    )


def roc_auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half); nan without both classes."""
    y, s = _pair(labels, scores)
    positives = int(y.sum())
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        return math.nan
    rank_sum = float(_average_ranks(s)[y == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def average_precision(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Average precision as scikit-learn defines it (step-wise, one step per distinct score)."""
    y, s = _pair(labels, scores)
    positives = int(y.sum())
    if positives == 0:
        return math.nan
    tp, fp, _ = _cumulative_counts(y, s)
    precision = tp / (tp + fp)
    recall = tp / positives
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def pr_curve(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[Floats, Floats]:
    """(recall, precision) at every distinct score, highest score first."""
    y, s = _pair(labels, scores)
    tp, fp, _ = _cumulative_counts(y, s)
    positives = max(int(y.sum()), 1)
    return tp / positives, tp / np.maximum(tp + fp, 1.0)


def roc_curve(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[Floats, Floats]:
    """(false positive rate, true positive rate) from (0, 0) through every distinct score."""
    y, s = _pair(labels, scores)
    tp, fp, _ = _cumulative_counts(y, s)
    positives = max(int(y.sum()), 1)
    negatives = max(y.size - int(y.sum()), 1)
    return np.concatenate(([0.0], fp / negatives)), np.concatenate(([0.0], tp / positives))


def alert_count(events: int, budget: float) -> int:
    """How many of ``events`` a budget alerts: ``floor(budget * events)``, never above it."""
    if not 0.0 < budget <= 1.0 or not math.isfinite(budget):
        raise InputError(f"alert budget {budget!r}: expected a share in (0, 1], e.g. 0.005")
    # The epsilon keeps 0.07 * 100 from flooring to 6 through binary rounding.
    return min(events, math.floor(budget * events + 1e-9))


def alert_shares(scores: npt.ArrayLike, alerts: int) -> Floats:
    """Per event, the share of it that is alerted: 1 above the cut, a fraction at the tied cut."""
    s = np.asarray(scores, dtype=np.float64)
    shares = np.zeros(s.size)
    if alerts <= 0 or s.size == 0:
        return shares
    if alerts >= s.size:
        shares[:] = 1.0
        return shares
    cut = np.partition(s, s.size - alerts)[s.size - alerts]
    above = s > cut
    tied = s == cut
    shares[above] = 1.0
    shares[tied] = (alerts - int(above.sum())) / int(tied.sum())
    return shares


def budget_metrics(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    budget: float,
    amounts: npt.ArrayLike | None = None,
) -> BudgetMetrics:
    """Recall, precision and amount-weighted recall when the top ``budget`` share is alerted."""
    y, s = _pair(labels, scores)
    alerts = alert_count(y.size, budget)
    shares = alert_shares(s, alerts)
    caught = float(shares @ y)
    frauds = float(y.sum())
    amount = np.ones(y.size) if amounts is None else np.asarray(amounts, dtype=np.float64)
    fraud_amount = float(amount @ y)
    return BudgetMetrics(
        budget=budget,
        alerts=alerts,
        threshold=float(s[shares > 0].min()) if alerts else math.nan,
        caught=caught,
        recall=caught / frauds if frauds else math.nan,
        precision=caught / alerts if alerts else math.nan,
        amount_recall=float((shares * y) @ amount) / fraud_amount if fraud_amount else math.nan,
    )


def scenario_recall(
    labels: npt.ArrayLike, shares: npt.ArrayLike, scenarios: pl.Series
) -> tuple[ScenarioRecall, ...]:
    """Recall per fraud scenario from each event's alert share; frauds without one: 'unknown'."""
    frame = pl.DataFrame(
        {
            "label": np.asarray(labels, dtype=np.float64),
            "share": np.asarray(shares, dtype=np.float64),
            "scenario": scenarios.cast(pl.String).fill_null(UNKNOWN_SCENARIO),
        }
    ).filter(pl.col("label") == 1)
    grouped = (
        frame.group_by("scenario")
        .agg(pl.len().alias("frauds"), pl.col("share").sum().alias("caught"))
        .sort("scenario")
    )
    return tuple(
        ScenarioRecall(str(name), int(frauds), float(caught), float(caught) / int(frauds))
        for name, frauds, caught in grouped.iter_rows()
    )


def payer_precision_at_k(
    days: pl.Series,
    payers: pl.Series,
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    k: int = 100,
) -> PayerPrecision:
    """Each day, the share of fraudulent payers among the ``k`` payers with the highest score.

    A payer's score for a day is its highest event score that day; it is fraudulent that day if any
    of its events that day is fraud. A fraudulent payer once alerted is found and left out of later
    days. Ties at the cut are shared as for events, and every fraudulent payer in a tied cut counts
    as found: the conservative choice, since it can only lower later days.
    """
    if k < 1:
        raise InputError(f"payer precision k={k}: expected at least 1")
    y, s = _pair(labels, scores)
    per_payer = (
        pl.DataFrame(
            {
                "day": days.cast(pl.Date),
                # Categorical codes are a cheap integer id per payer (ranking strings is not).
                "payer": payers.cast(pl.String).cast(pl.Categorical).to_physical().cast(pl.Int64),
                "label": y,
                "score": s,
            }
        )
        .group_by("day", "payer")
        .agg(pl.col("score").max(), pl.col("label").max())
        .sort("day", "payer")
    )
    largest = per_payer.get_column("payer").max()
    found = np.zeros(int(largest) + 1 if isinstance(largest, int) else 0, dtype=np.bool_)
    results: list[PayerDay] = []
    for (day,), group in per_payer.group_by("day", maintain_order=True):
        payer = group.get_column("payer").to_numpy()
        open_ = ~found[payer]
        payer, fraud = payer[open_], group.get_column("label").to_numpy()[open_]
        alerted = min(k, payer.size)
        shares = alert_shares(group.get_column("score").to_numpy()[open_], alerted)
        hits = float(shares @ fraud)
        found[payer[(shares > 0) & (fraud == 1)]] = True
        results.append(
            PayerDay(
                day=str(day),
                candidates=int(payer.size),
                fraud_payers=int(fraud.sum()),
                alerted=alerted,
                hits=hits,
                precision=hits / alerted if alerted else math.nan,
            )
        )
    defined = [d for d in results if d.alerted]
    if not defined:
        return PayerPrecision(k, math.nan, math.nan, tuple(results))
    mean = float(np.mean([d.precision for d in defined]))
    ceiling = float(np.mean([min(d.fraud_payers, d.alerted) / d.alerted for d in defined]))
    return PayerPrecision(k, mean, ceiling, tuple(results))


def calibration(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    n_bins: int = 10,
    strategy: BinStrategy = "log",
) -> Calibration:
    """Brier score, log loss and a reliability curve of probabilities.

    Log-spaced bins by default, from the smallest positive score (at least ``LOG_BIN_FLOOR``) to
    1, plus one bin below: with fraud rates under 1%, equal-width bins put nearly every event in
    the first bin, and quantile bins put every score that could raise an alert in the last one.
    """
    y, p = _pair(labels, scores)
    if p.size and (p.min() < 0.0 or p.max() > 1.0):
        raise InputError(
            f"calibration needs probabilities in [0, 1]; scores span {p.min():g}..{p.max():g}"
        )
    if n_bins < 1:
        raise InputError(f"calibration n_bins={n_bins}: expected at least 1")
    if p.size == 0:
        return Calibration(math.nan, math.nan, math.nan, strategy, ())
    eps = np.finfo(np.float64).eps
    clipped = np.clip(p, eps, 1 - eps)
    log_loss = -float(np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped)))
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
    elif strategy == "log":
        low = max(float(p[p > 0].min(initial=1.0)), LOG_BIN_FLOOR)
        upper = np.logspace(math.log10(low), 0.0, n_bins) if low < 1.0 else np.ones(1)
        edges = np.unique(np.concatenate(([0.0], upper)))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    if edges.size == 1:  # every score equal: one bin
        edges = np.array([edges[0], edges[0]])
    index = np.searchsorted(edges[1:-1], p, side="right")
    counts = np.bincount(index, minlength=edges.size - 1)
    pred_sum = np.bincount(index, weights=p, minlength=edges.size - 1)
    obs_sum = np.bincount(index, weights=y, minlength=edges.size - 1)
    bins = tuple(
        ReliabilityBin(
            float(edges[i]),
            float(edges[i + 1]),
            int(counts[i]),
            float(pred_sum[i] / counts[i]),
            float(obs_sum[i] / counts[i]),
        )
        for i in np.flatnonzero(counts)
    )
    ece = sum(b.count * abs(b.mean_predicted - b.observed_rate) for b in bins) / p.size
    return Calibration(
        brier=float(np.mean((p - y) ** 2)),
        log_loss=log_loss,
        ece=float(ece),
        strategy=strategy,
        bins=bins,
    )


def daily_metrics(
    days: pl.Series, labels: npt.ArrayLike, scores: npt.ArrayLike, budget: float
) -> tuple[DayMetrics, ...]:
    """Per UTC day: volume, fraud, ranking and recall at the budget applied within the day."""
    y, s = _pair(labels, scores)
    day = days.cast(pl.Date)
    order = np.argsort(day.to_physical().to_numpy(), kind="stable")
    sorted_days = day.gather(order)
    y, s = y[order], s[order]
    _, starts = np.unique(sorted_days.to_physical().to_numpy(), return_index=True)
    bounds = np.append(starts, y.size)
    results: list[DayMetrics] = []
    for i, start in enumerate(bounds[:-1]):
        yd, sd = y[start : bounds[i + 1]], s[start : bounds[i + 1]]
        at = budget_metrics(yd, sd, budget)
        results.append(
            DayMetrics(
                day=str(sorted_days[int(start)]),
                events=int(yd.size),
                frauds=int(yd.sum()),
                mean_score=float(sd.mean()),
                roc_auc=roc_auc(yd, sd),
                average_precision=average_precision(yd, sd),
                alerts=at.alerts,
                recall=at.recall,
                precision=at.precision,
            )
        )
    return tuple(results)


def jsonable(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _pair(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[Floats, Floats]:
    y = np.asarray(labels, dtype=np.float64).ravel()
    s = _scores(scores, y.size)
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise InputError("labels must be 0 (legit) or 1 (fraud); drop unknown labels first")
    return y, s


def _scores(scores: npt.ArrayLike, size: int) -> Floats:
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size != size:
        raise InputError(f"{s.size} scores for {size} events")
    bad = int(np.count_nonzero(~np.isfinite(s)))
    if bad:
        raise InputError(f"{bad} score(s) are not finite numbers (nan or inf)")
    return s


def _labels(series: pl.Series) -> Floats:
    nulls = series.null_count()
    if nulls:
        raise InputError(f"column 'label' has {nulls} unknown (null) label(s); drop them first")
    return series.cast(pl.Float64).to_numpy()


def _average_ranks(values: Floats) -> Floats:
    """1-based ranks, tied values sharing their average rank."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], values.size)
    group_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(values.size)
    ranks[order] = group_rank[np.cumsum(first) - 1]
    return ranks


def _cumulative_counts(y: Floats, s: Floats) -> tuple[Floats, Floats, Floats]:
    """True and false positives above each distinct score, highest first, and those scores."""
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.concatenate((s[1:] != s[:-1], [True])) if s.size else np.zeros(0, dtype=bool)
    tp = np.cumsum(y)[last]
    fp = np.cumsum(1.0 - y)[last]
    return tp, fp, s[last]
