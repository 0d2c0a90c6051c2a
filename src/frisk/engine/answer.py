"""The answer for a recorded decision: the JSON body every entry point sends back."""

from __future__ import annotations

from typing import Any

from frisk.store.records import DecisionRecord

__all__ = ["decision_body"]


def decision_body(record: DecisionRecord) -> dict[str, Any]:
    """The public body of a recorded decision, as plain JSON-ready data.

    ``POST /v1/score`` answers with it, ``GET /v1/decisions/{id}`` validates it into
    ``DecisionPublic`` (``frisk.service.schemas``), and a stream consumer publishes it; a test
    pins it to ``DecisionPublic``'s own dump. Building it without pydantic saves ~30 µs a decision.
    """
    return {
        "transaction_id": record.transaction_id,
        "score": float(record.score),
        "risk_score": int(record.risk_score),
        "risk_tier": record.tier,
        "action": record.action,
        "reasons": [
            {
                "feature": r["feature"],
                "value": _reason_value(r.get("value")),
                "contribution": float(r["contribution"]),
                "sentence": r["sentence"],
            }
            for r in record.reasons
        ],
        "model_version": record.model_version,
        "latency_ms": float(record.timings.get("total", 0.0)),
        "degraded": bool(record.degraded),
        # Recorded as the policy's own JSON (``PolicyDecision.to_json``), the public shape.
        "policy": record.policy,
    }


def _reason_value(value: Any) -> float | str | None:
    # As ReasonPublic.value (float | str | None) validates it: a number becomes a float.
    if value is None or isinstance(value, str):
        return value
    return float(value)
