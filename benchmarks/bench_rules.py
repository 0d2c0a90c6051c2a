"""Rules: ``python -m benchmarks.bench_rules [--payers N --days D --skip-backtest]``.

1. Per decision: ``Policy.decide`` with 50 realistic rules (velocity, amounts, lists, literal
   lists, string tests, arithmetic; 45 active, 5 shadow) over real feature vectors of simulated
   events, against two references measured in the same run: ``decide`` with one rule (the fixed
   cost: building the variables, list checks, the decision object) and a bare Python loop doing
   50 dict lookups and comparisons (the least any evaluator must do). Median µs per decision.
2. The service path: ``ModelEngine.decide`` (online features, model, thresholds, reasons) with
   and without the 50-rule ``LivePolicy`` attached, on the same events, alternating, so the
   difference is what the policy adds to a decision in the service (evaluation, the decision's
   JSON, the wall-clock read for list expiry). Reasons are off (``explain="none"``): a rule
   that turns an allow into an alert gets the model's reasons too, which costs what explaining
   any alert costs; the alert rates are printed.
3. Backtest throughput on ~1M simulated events (30 days x 30,000 payers): the vectorised rule
   evaluation and per-day report alone (features already computed), and with the offline
   features computed first (``backtest_events``), reported separately.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import polars as pl

from frisk.data.simulator import SimulationConfig, simulate
from frisk.features import compute_offline, resolve_catalogue
from frisk.policy import (
    ListEntry,
    MemoryListStore,
    NamedList,
    Policy,
    Rule,
    backtest,
    backtest_frame,
    rule_variables,
)
from frisk.policy.history import backtest_events

NOW = datetime(2024, 3, 1, tzinfo=UTC)


def realistic_rules() -> list[Rule]:
    """50 rules of the shapes analysts write."""
    templates = [
        "txn_count_by_payer_1h > {k}",
        "txn_count_by_device_1h > {k} && amount > {a}",
        "first_time_by_payer_payee == 1 && amount > {a}",
        'payee_id in blocklist("mule_accounts")',
        'device_id in blocklist("bad_devices") || payer_id in blocklist("bad_payers")',
        'channel in ["cash_out", "bank_transfer"] && amount > {a}',
        "amount > {m} * amount_mean_by_payer_30d && txn_count_by_payer_30d > 3",
        "distinct_payee_by_payer_24h >= {k} && is_night == 1",
        'payee_country in ["NG", "RU", "KP"] && payer_country != payee_country',
        "seconds_since_first_by_device < 3600 && amount > {a}",
        'merchant_category.startsWith("gam") && amount_sum_by_payer_24h > {a}',
        "fraud_count_by_payee_30d > 0 || fraud_rate_by_device_30d > 0.2",
        'score > 0.3 && tier != "critical" && amount > {a}',
    ]
    rules = []
    for i in range(50):
        template = templates[i % len(templates)]
        text = template.format(k=3 + i % 5, a=500 + 100 * i, m=3 + i % 4)
        action = ("review", "block", "tag", "allow")[i % 4] if i % 13 else "review"
        mode = "shadow" if i % 10 == 9 else "active"
        rules.append(Rule(f"rule_{i:02d}", text, action, priority=i, mode=mode))  # type: ignore[arg-type]
    return rules


def list_store(table: pl.DataFrame) -> MemoryListStore:
    store = MemoryListStore()
    for name in ("mule_accounts", "bad_devices", "bad_payers"):
        store.create(NamedList(name, "block"), actor="bench", at=NOW)
    store.create(NamedList("vip_payers", "allow", field="payer_id"), actor="bench", at=NOW)
    payees = table.get_column("payee_id").unique().sort().to_list()
    store.add("mule_accounts", [ListEntry(p) for p in payees[::50]], actor="bench", at=NOW)
    devices = table.get_column("device_id").drop_nulls().unique().sort().to_list()
    store.add("bad_devices", [ListEntry(d) for d in devices[::100]], actor="bench", at=NOW)
    return store


def per_decision(table: pl.DataFrame, features: pl.DataFrame, repeat: int) -> None:
    catalogue_names = features.columns
    variables = rule_variables(resolve_catalogue("default", table))
    lists = list_store(table).snapshot()
    rules = realistic_rules()
    full = Policy(rules, variables, lists)
    single = Policy(rules[:1], variables, lists)
    # Worst case: every rule matches, so every decision records 50 matches with their values.
    always = [
        Rule(f"all_{i:02d}", f"amount > -{i} && !missing(amount)", "tag", priority=i)
        for i in range(50)
    ]
    everything = Policy(always, variables, lists)
    sample = min(2000, table.height)
    fields = table.head(sample).drop("timestamp", "label_timestamp").to_dicts()
    vectors = [dict(zip(catalogue_names, row, strict=True)) for row in features.head(sample).rows()]
    pairs = list(zip(fields, vectors, strict=True))
    consts = [(name, 1.0) for name in catalogue_names[:50] if name not in ("channel", "currency")]

    def run_policy(policy: Policy) -> float:
        began = time.perf_counter()
        for f, v in pairs:
            policy.decide(f, v, 0.1, "low", "allow", NOW)
        return (time.perf_counter() - began) / len(pairs) * 1e6

    def run_floor() -> float:
        began = time.perf_counter()
        for _f, v in pairs:
            hits = 0
            for name, c in consts:
                x: Any = v.get(name)
                if x is not None and x.__class__ is float and x > c:
                    hits += 1
        return (time.perf_counter() - began) / len(pairs) * 1e6

    results: dict[str, list[float]] = {"50 rules": [], "1 rule": [], "floor": [], "all": []}
    for _ in range(repeat):
        results["all"].append(run_policy(everything))
        results["50 rules"].append(run_policy(full))
        results["1 rule"].append(run_policy(single))
        results["floor"].append(run_floor())
    med = {k: statistics.median(v) for k, v in results.items()}
    matched = sum(len(full.decide(f, v, 0.1, "low", "allow", NOW).matches) for f, v in pairs)
    print(
        f"per decision, median of {repeat} x {len(pairs)} decisions "
        f"({matched / len(pairs):.2f} rules match per decision on average):"
    )
    print(f"  Policy.decide, 50 rules: {med['50 rules']:.1f} µs")
    print(f"  Policy.decide, 1 rule:   {med['1 rule']:.1f} µs (fixed cost)")
    print(f"  Policy.decide, 50 rules that all match: {med['all']:.1f} µs (worst case)")
    print(f"  bare loop, {len(consts)} dict lookups + comparisons: {med['floor']:.1f} µs")
    per_rule = (med["50 rules"] - med["1 rule"]) / 49
    print(
        f"  50 rules add {med['50 rules'] - med['1 rule']:.1f} µs over one ({per_rule:.2f} µs a "
        f"rule); {med['50 rules'] / med['floor']:.1f}x the bare loop"
    )


def service_path(repeat: int) -> None:
    import tempfile
    from pathlib import Path

    from frisk.engine import ModelEngine, ModelSource
    from frisk.models import save_model
    from frisk.models.pipeline import model_catalogue, train_events
    from frisk.policy import LivePolicy, RuleBook
    from frisk.schema import Transaction

    table = simulate(SimulationConfig(days=12, payers=1500, seed=5))
    model = train_events(table, end=datetime(2024, 1, 9, tzinfo=UTC))
    catalogue = model_catalogue(model)
    extras = {"account_age_days": "number", "entry_mode": "string"}
    live = LivePolicy(
        rule_variables(catalogue, extras=extras),  # type: ignore[arg-type]
        RuleBook(realistic_rules()),
        list_store(table),
    )
    core = [c for c in table.columns if c not in ("label", "label_timestamp", "label_source")]
    txns = []
    for row in table.select(core).iter_rows(named=True):
        extra = {k: row.pop(k) for k in ("account_age_days", "entry_mode", "scenario")}
        extra.pop("scenario")
        body = {k: v for k, v in row.items() if v is not None}
        txns.append(Transaction.model_validate({**body, "extra": extra}))
    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, Path(tmp) / "m")
        runs: dict[str, list[float]] = {"model only": [], "model + policy": []}
        alerts: dict[str, int] = {"model only": 0, "model + policy": 0}
        matches = 0
        for i in range(repeat):
            for label in ("model only", "model + policy")[:: 1 if i % 2 == 0 else -1]:
                source = ModelSource(directory=Path(tmp) / "m")
                engine = ModelEngine(source, snapshot_seconds=0, explain="none")
                engine.start()
                if label == "model + policy":
                    engine.use_policy(live)
                began = time.perf_counter()
                for txn in txns:
                    verdict = engine.decide(txn)
                    alerts[label] += verdict.action != "allow"
                    if verdict.policy is not None:
                        matches += len(verdict.policy["matched"])
                runs[label].append((time.perf_counter() - began) / len(txns) * 1e6)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"service path, ModelEngine.decide over {len(txns):,} events, median of {repeat} "
        f"({matches / (len(txns) * repeat):.2f} matches per decision):"
    )
    print(f"  model only:              {med['model only']:.1f} µs")
    print(f"  model + 50-rule policy:  {med['model + policy']:.1f} µs")
    print(f"  the policy adds {med['model + policy'] - med['model only']:.1f} µs a decision")
    total = len(txns) * repeat
    print(
        f"  alert rate: model {alerts['model only'] / total:.2%}, "
        f"with the rules {alerts['model + policy'] / total:.2%}"
    )


def backtest_throughput(table: pl.DataFrame, features: pl.DataFrame, repeat: int) -> None:
    catalogue = resolve_catalogue("default", table)
    variables = rule_variables(catalogue, model=False)
    lists = list_store(table).snapshot()
    rules = [r for r in realistic_rules() if "score" not in r.expression]
    one = Policy(rules[:1], variables, lists)
    many = Policy(rules, variables, lists)
    frame = backtest_frame(table, features)
    n = table.height
    for label, policy in (("1 rule", one), (f"{len(rules)} rules", many)):
        runs = []
        for _ in range(repeat):
            began = time.perf_counter()
            reports = backtest(frame, policy, now=NOW, current=None)
            runs.append(time.perf_counter() - began)
        med = statistics.median(runs)
        assert len(reports) == len(policy.rules)
        print(f"  backtest, features given, {label}: {med:.2f} s ({n / med:,.0f} events/s)")
    began = time.perf_counter()
    backtest_events(table, rules[:1], catalogue=catalogue, now=NOW, lists=lists)
    took = time.perf_counter() - began
    print(
        f"  backtest_events incl. offline features, 1 rule: {took:.2f} s ({n / took:,.0f} events/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payers", type=int, default=30_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-backtest", action="store_true")
    parser.add_argument("--skip-service", action="store_true")
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()}")
    table = simulate(SimulationConfig(days=args.days, payers=args.payers, seed=11))
    catalogue = resolve_catalogue("default", table)
    began = time.perf_counter()
    features = compute_offline(table, catalogue)
    print(f"{table.height:,} events; offline features in {time.perf_counter() - began:.1f} s")
    per_decision(table, features, args.repeat)
    if not args.skip_service:
        service_path(args.repeat)
    if not args.skip_backtest:
        print(f"backtest over {table.height:,} events (median of {args.repeat}):")
        backtest_throughput(table, features, args.repeat)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
