from __future__ import annotations

from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import transactions_of
from frisk.schema import Transaction


def test_every_simulated_row_becomes_a_valid_score_request() -> None:
    table = simulate(SimulationConfig(days=3, payers=100, seed=2))
    bodies = list(transactions_of(table))
    assert len(bodies) == table.height
    assert [b["transaction_id"] for b in bodies] == table.get_column("transaction_id").to_list()
    for body in bodies:
        assert not {"label", "label_timestamp", "scenario"} & set(body)
        Transaction.model_validate(body)
    assert any("account_age_days" in b.get("extra", {}) for b in bodies)
