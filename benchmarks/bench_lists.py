"""Lists at scale: ``python -m benchmarks.bench_lists [--entries N]``.

On a fresh SQLite ledger (a temporary directory): one list of ``--entries`` values added in one
call, a full snapshot, a rebuild of the live policy, then what a change costs the policy of this
process and of another instance: one entry added to the big list (applied to a copy of it from
the change's audit entry), and one entry added to a small list beside it. The reference, in the
same run, is one membership test against the snapshot.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from frisk.policy import ListEntry, NamedList
from frisk.store import default_url, open_ledger
from frisk.store.policy_source import open_ledger_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as work:
        ledger = open_ledger(default_url(Path(work)))
        mine = open_ledger_policy(ledger)
        theirs = open_ledger_policy(ledger)  # another instance on the same ledger
        mine.live.create_list(NamedList("cards", "block"), actor="bench", at=now)
        mine.live.create_list(NamedList("mules", "block"), actor="bench", at=now)
        entries = [ListEntry(f"card{i:09d}") for i in range(args.entries)]
        timed(
            "add the entries in one call",
            lambda: mine.lists.add("cards", entries, actor="b", at=now),
        )
        timed("full snapshot", mine.lists.snapshot)
        timed("rebuild of this process's policy (the big list is new to it)", mine.live.sync)
        timed("rebuild of another instance (all lists new to it)", theirs.live.sync)
        timed(
            "one entry into the big list, through the live policy",
            lambda: mine.live.add_entries("cards", [ListEntry("x")], actor="b", at=now),
        )
        timed("another instance's sync after that", theirs.live.sync)
        runs = []
        for i in range(5):
            began = time.perf_counter()
            mine.live.add_entries("mules", [ListEntry(f"m{i}")], actor="b", at=now)
            runs.append(time.perf_counter() - began)
        print(
            f"one entry into a small list beside it: median {statistics.median(runs) * 1e3:.1f} ms"
        )
        timed("another instance's sync after those", theirs.live.sync)
        membership = mine.live.policy.lists.at(now)
        began = time.perf_counter()
        for _ in range(100_000):
            membership.contains("cards", "card000000123")
        each = (time.perf_counter() - began) / 100_000
        print(f"reference, one membership test: {each * 1e6:.2f} µs")
        ledger.close()


def timed(what: str, call: Callable[[], object]) -> None:
    began = time.perf_counter()
    call()
    print(f"{what}: {time.perf_counter() - began:.3f} s")


if __name__ == "__main__":
    main()
