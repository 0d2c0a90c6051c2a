"""A backtest's counts equal those of replaying the same events through the live decision path.

The live path here is what the service does per transaction: online features event by event
(labels applied as they arrive), single-row scoring, then ``Policy.decide`` with the candidate
rules active next to the current ones. The backtest is vectorised: offline features, batch
scoring, ``match_many``/``decide_many``. Per day, hits, frauds, fraud amount and what the rule
adds must be equal, and so must every final action.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from frisk.data.simulator import SimulationConfig, simulate
from frisk.features import OnlineFeatures
from frisk.models.pipeline import model_catalogue, train_events
from frisk.policy import ListEntry, MemoryListStore, NamedList, Policy, Rule, rule_variables
from frisk.policy.history import backtest_events, history_frame

START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 2, 1, tzinfo=UTC)
CANDIDATES = [
    Rule("burst", "txn_count_by_payer_1h > 2 || distinct_payee_by_payer_24h >= 3", "review", 10),
    Rule("new_payee_big", "first_time_by_payer_payee == 1 && amount > 300", "block", 20),
    Rule("risky", 'score > 0.3 || tier == "critical" || payee_id in blocklist("mules")', "tag"),
    Rule("shadow_night", "is_night == 1 && amount / 2 > 50", "block", 1, "shadow"),
]
CURRENT = [
    Rule("cash_out_big", 'channel == "cash_out" && amount > 500', "review", 5),
    Rule("trusted_small", "amount < 2 && !missing(device_id)", "allow", 50),
]


@pytest.mark.slow
def test_backtest_counts_equal_the_live_replay() -> None:
    table = simulate(SimulationConfig(days=12, payers=500, seed=11, fraud_rate=0.02))
    model = train_events(table, end=START + timedelta(days=8))
    catalogue = model_catalogue(model)
    store = MemoryListStore()
    store.create(NamedList("mules", "block"), actor="t", at=NOW)
    store.create(NamedList("vip", "allow", field="payer_id"), actor="t", at=NOW)
    payees = table.get_column("payee_id").unique().sort().to_list()
    store.add("mules", [ListEntry(p) for p in payees[:20]], actor="t", at=NOW)
    store.add(
        "vip", [ListEntry(p) for p in table["payer_id"].unique().sort()[:10]], actor="t", at=NOW
    )
    lists = store.snapshot()
    window = (START + timedelta(days=8), START + timedelta(days=12))

    reports = backtest_events(
        table, CANDIDATES, catalogue=catalogue, now=NOW, model=model, lists=lists,
        current=CURRENT, start=window[0], end=window[1],
    )  # fmt: skip

    variables = rule_variables(catalogue)
    live = Policy([*CURRENT, *CANDIDATES], variables, lists)
    current = Policy(CURRENT, variables, lists)
    vectors = OnlineFeatures(catalogue).replay(table)
    expected: dict[str, Counter[tuple[str, str]]] = {r.name: Counter() for r in CANDIDATES}
    amounts: dict[str, float] = {r.name: 0.0 for r in CANDIDATES}
    live_actions: list[str] = []
    names = catalogue.names
    for event, vector in zip(table.iter_rows(named=True), vectors.iter_rows(), strict=True):
        if not window[0] <= event["timestamp"] < window[1]:
            continue
        values = list(vector[1:]) if vectors.columns[0] == "transaction_id" else list(vector)
        features = dict(zip(names, values, strict=True))
        score = model.score_one(values)
        t = model.thresholds
        args = (score, t.tier(score).value, t.action(score).value, NOW)
        decision = live.decide(event, features, *args, risk_score=t.risk_score(score))
        alerted = current.decide(event, features, *args).action in ("review", "block")
        live_actions.append(decision.action)
        day = event["timestamp"].date().isoformat()
        fraud = event["label"] == 1
        for match in decision.matches:
            if match.rule not in expected:
                continue
            counts = expected[match.rule]
            counts[(day, "hits")] += 1
            counts[(day, "frauds")] += fraud
            counts[(day, "new_hits")] += not alerted
            counts[(day, "new_frauds")] += fraud and not alerted
            amounts[match.rule] += event["amount"] if fraud else 0.0

    assert len(reports) == len(CANDIDATES)
    for report in reports:
        got = Counter()
        for row in report.days.iter_rows(named=True):
            for key in ("hits", "frauds", "new_hits", "new_frauds"):
                if row[key]:
                    got[(row["day"].isoformat(), key)] += int(row[key])
        assert got == expected[report.rule], report.rule
        assert report.totals["fraud_amount"] == pytest.approx(amounts[report.rule], rel=1e-9)
        assert report.totals["hits"] > 0, f"{report.rule} never fires: a vacuous test"

    frame = history_frame(table, catalogue, model).filter(
        pl.col("timestamp").is_between(window[0], window[1], closed="left")
    )
    assert live.decide_many(frame, NOW).get_column("action").to_list() == live_actions


@pytest.mark.slow
def test_scoring_only_the_hit_rows_changes_no_count() -> None:
    # Candidates that do not read the model's verdict get it only on rows they hit; a rule that
    # reads the score forces every row to be scored. Both must report the same.
    table = simulate(SimulationConfig(days=10, payers=300, seed=12, fraud_rate=0.03))
    model = train_events(table, end=START + timedelta(days=7))
    catalogue = model_catalogue(model)
    candidates = [
        r for r in CANDIDATES if "score" not in r.expression and "mules" not in r.expression
    ]
    forced = Rule("reads_score", "score > 2", "tag")  # never true: only forces scoring
    window = {"start": START + timedelta(days=7), "end": START + timedelta(days=9)}
    common = {"catalogue": catalogue, "now": NOW, "model": model, "current": CURRENT, **window}
    fast = backtest_events(table, candidates, **common)  # type: ignore[arg-type]
    full = backtest_events(table, [*candidates, forced], **common)  # type: ignore[arg-type]
    assert sorted(r.rule for r in fast) == sorted(r.name for r in candidates)
    by_name = {r.rule: r for r in full}
    for a in fast:
        b = by_name[a.rule]
        assert a.days.equals(b.days), a.rule
        assert a.totals == b.totals
        assert a.totals["new_hits"] is not None
        assert 0 < a.totals["new_hits"] <= a.totals["hits"]
