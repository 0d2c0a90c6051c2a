"""The service's policy at start: the ledger's rules, or exactly ``policy.rules_file``'s."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from frisk.config import Settings
from frisk.errors import ConfigError
from frisk.policy import load_rules
from frisk.service.policy import build_policy
from frisk.store import SqlLedger, default_url, open_ledger

T0 = datetime(2024, 3, 1, tzinfo=UTC)
FOREIGN = "- {name: old, expression: 'mystery_score > 1', action: tag}"  # not this model's


@pytest.fixture
def ledger(tmp_path: Path) -> SqlLedger:
    opened = open_ledger(default_url(tmp_path))
    assert isinstance(opened, SqlLedger)
    opened.rules.replace_all(load_rules(FOREIGN), actor="other", at=T0)
    return opened


def test_a_stored_rule_that_does_not_compile_stops_the_start(
    ledger: SqlLedger, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"rule 'old'.*mystery_score"):
        build_policy(Settings(home=tmp_path), ledger, None)
    ledger.close()


def test_a_rules_file_replaces_stored_rules_that_do_not_compile(
    ledger: SqlLedger, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {name: big, expression: 'amount > 5000', action: review}\n")
    state = build_policy(Settings(home=tmp_path, policy={"rules_file": rules}), ledger, None)
    assert state is not None
    assert [c.rule.name for c in state.live.policy.rules] == ["big"]
    _, stored = ledger.rules.state()
    assert [r.name for r in stored] == ["big"]
    ledger.close()


def test_a_rules_file_that_does_not_compile_changes_nothing(
    ledger: SqlLedger, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {name: bad, expression: 'amount > \"x\"', action: review}\n")
    with pytest.raises(ConfigError, match="rule 'bad'"):
        build_policy(Settings(home=tmp_path, policy={"rules_file": rules}), ledger, None)
    _, stored = ledger.rules.state()
    assert [r.name for r in stored] == ["old"]
    ledger.close()
