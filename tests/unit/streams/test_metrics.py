"""A consumer's metrics as Prometheus scrapes them."""

from __future__ import annotations

import socket

import httpx
from prometheus_client.parser import text_string_to_metric_families

from frisk.streams import ConsumerMetrics


def test_the_metrics_are_served_on_localhost() -> None:
    metrics = ConsumerMetrics()
    metrics.messages.labels(stream="payments", outcome="decided").inc(3)
    metrics.lag.labels(stream="payments").set(42)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stop = metrics.serve(port)
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        stop()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    key = (("outcome", "decided"), ("stream", "payments"))
    assert samples[("frisk_consumer_messages_total", key)] == 3
    assert samples[("frisk_consumer_lag", (("stream", "payments"),))] == 42
