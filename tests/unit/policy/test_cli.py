"""``frisk rules check`` and ``frisk lists``: errors with positions, audit lines, list files."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from frisk.cli import app


def test_rules_check_reports_each_error_with_its_position(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- {name: typo, expression: 'txn_count_by_payer_1 > 5', action: review}\n"
        "- {name: fine, expression: 'amount > 10', action: tag}\n"
    )
    result = CliRunner().invoke(app, ["rules", "check", "--file", str(rules)])
    assert result.exit_code != 0
    assert "1:1: rule 'typo': unknown name 'txn_count_by_payer_1'" in result.output
    assert "ok  fine" in result.output


def test_lists_commands_keep_a_file_and_an_audit_trail(tmp_path: Path) -> None:
    store, audit = tmp_path / "lists.json", tmp_path / "audit.jsonl"
    run = CliRunner().invoke
    common = ["--store", str(store), "--audit", str(audit), "--actor", "ana"]
    assert run(app, ["lists", "create", "mules", "--kind", "block", *common]).exit_code == 0
    values = tmp_path / "mules.txt"
    values.write_text("q1\nq2\n")
    imported = run(app, ["lists", "import", "mules", "--file", str(values), *common])
    assert imported.exit_code == 0, imported.output
    assert run(app, ["lists", "remove", "mules", "q1", *common]).exit_code == 0
    shown = run(app, ["lists", "show", "mules", "--store", str(store)])
    assert shown.output.split() == ["q2"]
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["action"] for r in records] == ["list.create", "list.add", "list.remove"]
    assert {r["actor"] for r in records} == {"ana"}
