"""The framework floor for ``bench_service``: bare FastAPI parsing the same ``Transaction`` body.

    python -m uvicorn benchmarks.service_floor:app --port 8001

No keys, no ledger, no engine: what FastAPI + uvicorn cost for the same request and a response of
the same shape, so the service's numbers can be read as a ratio to it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from frisk.schema import Transaction

app = FastAPI()

_DECISION: dict[str, Any] = {
    "score": 0.01,
    "risk_score": 1,
    "risk_tier": "low",
    "action": "allow",
    "reasons": [],
    "model_version": "floor",
    "latency_ms": 0.0,
    "degraded": False,
}


@app.post("/v1/score")
async def score(txn: Transaction) -> dict[str, Any]:
    # Async, like the service's route: no thread-pool hop (a sync route costs one per request).
    return {"transaction_id": txn.transaction_id, **_DECISION}
