from __future__ import annotations

from frisk.dashboard.metrics import parse_metrics
from frisk.service.metrics import ServiceMetrics


def test_reads_decisions_and_the_score_distribution_from_the_service_exposition() -> None:
    metrics = ServiceMetrics()
    for score, action, tier in [
        (0.01, "allow", "low"),
        (0.02, "allow", "low"),
        (0.93, "block", "critical"),
        (0.61, "review", "high"),
    ]:
        metrics.decisions.labels(action=action, tier=tier).inc()
        metrics.scores.observe(score)
    metrics.replays.inc(3)
    snapshot = parse_metrics(metrics.render().decode())
    assert snapshot.by_action() == {"allow": 2.0, "block": 1.0, "review": 1.0}
    assert snapshot.by_tier() == {"low": 2.0, "critical": 1.0, "high": 1.0}
    assert snapshot.replays == 3.0
    counts = {(round(lo, 2), round(hi, 2)): n for lo, hi, n in snapshot.score_bins}
    assert sum(counts.values()) == 4
    assert counts[(0.0, 0.05)] == 2
    assert counts[(0.6, 0.65)] == 1
    assert counts[(0.9, 0.95)] == 1
    assert all(hi > lo for lo, hi, _ in snapshot.score_bins)


def test_an_exposition_without_decisions_is_empty() -> None:
    snapshot = parse_metrics(ServiceMetrics().render().decode())
    assert snapshot.by_action() == {}
    assert not any(n for _, _, n in snapshot.score_bins)
