"""What input bounds cost a decision: ``python -m benchmarks.bench_validation [--repeat N]``.

Times, per body, the medians of: ``orjson.loads`` of the body (reference: parsing alone), the
``Transaction`` validation of the HTTP route (``TypeAdapter.validate_json``: types, the text,
amount, extra and time bounds of ``frisk.bounds``), and that plus the live checks the scorer adds
(time window around the clock, decimal places of the currency). Run it with main's source on
``PYTHONPATH`` for the before figure (main has no live checks: that row is skipped).

Then the decider's body hash, alternating in the same minutes: SHA-256 of the sorted JSON as it
was (reference) and through the ledger's admission (``store.admission.admit``: the same JSON, and
a search for an escaped NUL), so its row is the cost admission adds to a decision.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from pydantic import TypeAdapter

from frisk.schema import Transaction

_BODY = orjson.dumps(
    {
        "transaction_id": "txn-000123456789",
        "timestamp": datetime.now(UTC).isoformat(),
        "amount": 123.45,
        "currency": "EUR",
        "payer_id": "payer-0001234",
        "payee_id": "merchant-000987",
        "device_id": "device-abcdef012345",
        "channel": "card",
        "merchant_category": "grocery",
        "payer_country": "DE",
        "payee_country": "FR",
        "extra": {"account_age_days": 400, "entry_mode": "chip"},
    }
)


def _median(fn: Callable[[], object], repeat: int, inner: int = 20_000) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        for _ in range(inner):
            fn()
        runs.append((time.perf_counter() - began) / inner)
    return statistics.median(runs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    adapter = TypeAdapter(Transaction)
    reference = _median(lambda: orjson.loads(_BODY), args.repeat)
    validate = _median(lambda: adapter.validate_json(_BODY), args.repeat)
    print(f"orjson.loads (reference)      {reference:6.2f} µs")
    print(f"validate_json (Transaction)   {validate:6.2f} µs  ({validate / reference:.1f}x)")
    try:
        from frisk.bounds import EventWindow, check_amount
    except ImportError:
        print("live checks                      -    (not in this source)")
        return
    window = EventWindow()
    txn = adapter.validate_json(_BODY)

    def live() -> None:
        window.check("timestamp", txn.timestamp)
        check_amount(txn.amount, txn.currency)

    checks = _median(live, args.repeat)
    both = validate + checks
    print(f"live checks (window, decimals) {checks:6.2f} µs")
    print(f"validation + live checks      {both:6.2f} µs  ({both / reference:.1f}x)")
    _admission(txn, args.repeat)


def _admission(txn: Transaction, repeat: int) -> None:
    try:
        from frisk.store.admission import admit
    except ImportError:
        print("admission                        -    (not in this source)")
        return
    body = txn.model_dump(mode="json")
    plain, admitted = [], []
    for _ in range(repeat):  # alternating, so both see the same load
        plain.append(
            _median(lambda: hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)), 1)
        )
        admitted.append(_median(lambda: hashlib.sha256(admit(body)), 1))
    before, after = statistics.median(plain), statistics.median(admitted)
    print(f"body hash (reference)         {before:6.2f} µs")
    print(
        f"body hash through admission   {after:6.2f} µs  ({after - before:+.2f} µs, "
        f"{after / before:.2f}x)"
    )


if __name__ == "__main__":
    main()
