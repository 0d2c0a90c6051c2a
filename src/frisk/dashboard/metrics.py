"""What the Monitoring page reads from the API's Prometheus text (/metrics)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["MetricsSnapshot", "parse_metrics"]


@dataclass(frozen=True)
class MetricsSnapshot:
    """Decisions by action and tier, and the score distribution, since the process started."""

    decisions: dict[tuple[str, str], float] = field(default_factory=dict)
    # (lower, upper, count) per score bucket, counts not cumulative.
    score_bins: list[tuple[float, float, float]] = field(default_factory=list)
    replays: float = 0.0
    degraded: float = 0.0

    def by_action(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for (action, _tier), count in self.decisions.items():
            out[action] = out.get(action, 0.0) + count
        return out

    def by_tier(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for (_action, tier), count in self.decisions.items():
            out[tier] = out.get(tier, 0.0) + count
        return out


def parse_metrics(text: str) -> MetricsSnapshot:
    """Pick the dashboard's figures out of the exposition; unknown metrics are ignored."""
    decisions: dict[tuple[str, str], float] = {}
    cumulative: list[tuple[float, float]] = []
    replays = degraded = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "frisk_decisions_total":
                key = (sample.labels.get("action", ""), sample.labels.get("tier", ""))
                decisions[key] = decisions.get(key, 0.0) + sample.value
            elif sample.name == "frisk_decision_score_bucket":
                upper = float(sample.labels["le"])
                if not math.isinf(upper):
                    cumulative.append((upper, sample.value))
            elif sample.name == "frisk_decision_replays_total":
                replays = sample.value
            elif sample.name == "frisk_decisions_degraded_total":
                degraded = sample.value
    return MetricsSnapshot(decisions, _bins(sorted(cumulative)), replays, degraded)


def _bins(cumulative: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    out = []
    lower, below = 0.0, 0.0
    for upper, count in cumulative:
        out.append((lower, upper, count - below))
        lower, below = upper, count
    return out
