"""One caller's broken input cannot reach another caller's decisions (issue #20, case 2).

Honest clients score payments to one payee over HTTP, concurrently, against the policy model on
PostgreSQL. Beside them, a consumer in the same process decides transactions it built in code
(``model_copy``: pydantic does not check them again) holding a NUL, which PostgreSQL cannot
store, one at a time and in batches. Afterwards the victim payee's feature state must count
exactly the payments the ledger holds for it: a refused payment is never learnt.

On the decider before ``store.admission``, the engine learnt each hostile payment, then the
ledger refused it (and with it a whole batch of 128): the payee's 24 h count read 280 with 240
payments recorded.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from frisk.errors import FriskError
from frisk.schema import Transaction

pytestmark = pytest.mark.integration

VICTIM = "victim-payee"
CLIENTS = 6
PER_CLIENT = 30  # honest payments per HTTP client
HOSTILE = 20  # single hostile decisions; and as many batches of 4 (one bad row in each)


def _body(txn_id: str, payer: str, at: datetime) -> dict[str, Any]:
    return {
        "transaction_id": txn_id,
        "timestamp": at.isoformat(),
        "amount": 25.0,
        "currency": "EUR",
        "payer_id": payer,
        "payee_id": VICTIM,
    }


def test_refused_payments_never_reach_another_callers_features(
    postgres_url: str, serve_model: Any
) -> None:
    served = serve_model(postgres_url)
    scorer = served.app.state.frisk.scorer
    start = datetime.now(UTC) - timedelta(minutes=30)

    def honest(client_no: int) -> list[int]:
        codes = []
        with served.client() as client:
            for i in range(PER_CLIENT):
                at = start + timedelta(seconds=client_no * PER_CLIENT + i)
                body = _body(f"ok-{client_no}-{i}", f"payer-{client_no}", at)
                codes.append(
                    client.post("/v1/score", json=body, headers=served.keys["scorer"]).status_code
                )
        return codes

    def hostile() -> int:
        """Decisions built in code with a NUL; returns how many were recorded."""
        refused = 0
        for i in range(HOSTILE):
            at = start + timedelta(seconds=i)
            clean = Transaction.model_validate(_body(f"bad-{i}", "attacker", at))
            nul = clean.model_copy(update={"payer_id": "attacker\x00"})
            try:
                scorer.decide(nul)
            except FriskError:
                refused += 1
            batch = [
                Transaction.model_validate(_body(f"mix-{i}-{j}", f"mixer-{j}", at))
                for j in range(4)
            ]
            batch[1] = batch[1].model_copy(update={"extra": {"note": "a\x00b"}})
            try:
                refused += sum(isinstance(got, FriskError) for got in scorer.decide_many(batch))
            except FriskError:  # the whole batch failed
                refused += len(batch)
        return refused

    with ThreadPoolExecutor(CLIENTS + 1) as pool:
        bad = pool.submit(hostile)
        honest_codes = [code for codes in pool.map(honest, range(CLIENTS)) for code in codes]
        refused = bad.result(timeout=120)

    assert honest_codes == [200] * (CLIENTS * PER_CLIENT)  # no honest payment failed
    recorded = sum(
        1
        for record in served.ledger.decisions_since(datetime(1970, 1, 1, tzinfo=UTC))
        if record.transaction["payee_id"] == VICTIM
    )
    # A probe for the victim payee reads its state: every recorded payment, and nothing else.
    with served.client() as client:
        probe = client.post(
            "/v1/score",
            json=_body("probe", "payer-probe", datetime.now(UTC)),
            headers=served.keys["scorer"],
        )
    assert probe.status_code == 200, probe.text
    decision = served.ledger.get_decision("probe")
    assert decision is not None
    counted = decision.features["txn_count_by_payee_24h"]  # the payments before the probe
    assert (counted, recorded) == (recorded, recorded)
    # Each NUL payment was refused, and only it: the batches' other rows are recorded.
    assert refused == 2 * HOSTILE
    assert recorded == CLIENTS * PER_CLIENT + 3 * HOSTILE
