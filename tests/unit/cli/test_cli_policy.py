"""``frisk lists`` and ``frisk rules load|list|show`` on the ledger: SQLite and PostgreSQL.

The SQLite ledger is the one under FRISK_HOME (no option), PostgreSQL the one FRISK_DATABASE_URL
names: the commands find the ledger the way every other ledger command does.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.policy import load_rules
from frisk.store import default_url, open_ledger
from frisk.store.ledger import AuditEntry

T0 = datetime(2024, 3, 1, tzinfo=UTC)
RULES = """
- name: mule_payees
  expression: payee_id in blocklist("mules")
  action: block
  priority: 10
- name: velocity
  expression: txn_count_by_payer_1h > 10
  action: review
  priority: 20
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The ledger the settings point at: FRISK_HOME's SQLite file, or FRISK_DATABASE_URL."""
    monkeypatch.setenv("FRISK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FRISK_DATABASE_URL", raising=False)
    monkeypatch.delenv("FRISK_CONFIG", raising=False)
    if request.param == "sqlite":
        yield default_url(tmp_path / "home")
        return
    found: str = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("FRISK_DATABASE_URL", found)
    yield found


def frisk(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


def audit(url: str, target: str | None = None) -> list[AuditEntry]:
    ledger = open_ledger(url)
    try:
        return ledger.audit_log(target=target, limit=500)[::-1]  # oldest first
    finally:
        ledger.close()


def stored_lists(url: str) -> dict[str, dict[str, str]]:
    """Each list's entries as value -> note."""
    ledger = open_ledger(url)
    try:
        lists = ledger.lists
        _, infos = lists.describe()
        return {i.spec.name: {e.value: e.note for e in lists.entries(i.spec.name)} for i in infos}
    finally:
        ledger.close()


def test_list_commands_change_the_ledger_and_audit_each_change(url: str, tmp_path: Path) -> None:
    assert frisk("lists", "create", "mules", "--kind", "block", "--actor", "ana")[0] == 0
    code, out = frisk("lists", "add", "mules", "q1", "q2", "--note", "ring 7")
    assert code == 0, out
    assert "list.add list:mules by cli:" in out
    values = tmp_path / "mules.csv"
    values.write_text("value,expires_at,note\nq3,,a\nq4,2099-01-01T00:00:00Z,b\nq5,,c\n")
    code, out = frisk("lists", "import", "mules", "--file", str(values), "--batch", "2")
    assert code == 0, out
    assert "3 entries imported into mules" in out
    code, out = frisk("lists", "remove", "mules", "q1", "not-there", "--actor", "bo")
    assert code == 0, out

    assert stored_lists(url) == {"mules": {"q2": "ring 7", "q3": "a", "q4": "b", "q5": "c"}}
    code, out = frisk("lists", "show")
    assert out.splitlines() == ["mules  block  4 entries"]
    code, out = frisk("lists", "show", "mules")
    assert out.splitlines() == [
        "q2  (ring 7)",
        "q3  (a)",
        "q4  until 2099-01-01T00:00:00+00:00  (b)",
        "q5  (c)",
    ]
    entries = audit(url, "list:mules")
    me = f"cli:{getpass.getuser()}"
    # The import is two changes: batches of 2.
    assert [(e.action, e.actor) for e in entries] == [
        ("list.create", "ana"),
        ("list.add", me),
        ("list.add", me),
        ("list.add", me),
        ("list.remove", "bo"),
    ]
    assert [v["value"] for v in entries[2].after["entries"]] == ["q3", "q4"]  # type: ignore[index]
    assert [v["value"] for v in entries[4].before["entries"]] == ["q1"]  # type: ignore[index]
    ledger = open_ledger(url)
    assert ledger.policy_versions() == {"lists": 5}
    ledger.close()

    code, out = frisk("lists", "remove", "mules", "nope")
    assert code != 0
    assert "holds none of nope" in out
    assert frisk("lists", "add", "nothing", "x")[0] != 0
    assert len(audit(url)) == 5  # refused changes leave no trace


def test_a_list_a_rule_reads_cannot_be_dropped(url: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    assert frisk("lists", "create", "mules")[0] == 0
    code, out = frisk("rules", "load", "--file", str(rules))
    assert code == 0, out

    code, out = frisk("lists", "drop", "mules")
    assert code != 0
    assert "list 'mules' is read by a rule: rule 'mule_payees'" in out
    assert "mules" in stored_lists(url)
    # Redefining it as an allow list would break the rule too (it reads a blocklist).
    code, out = frisk("lists", "create", "mules", "--kind", "allow")
    assert code != 0
    assert "mule_payees" in out
    # A hard list on a field rules do not know is refused, as by the API.
    code, out = frisk("lists", "create", "vip", "--kind", "allow", "--field", "nope")
    assert code != 0
    assert "field 'nope'" in out
    assert [e.action for e in audit(url) if e.target.startswith("list:")] == ["list.create"]

    rules.write_text("[]\n")
    assert frisk("rules", "load", "--file", str(rules))[0] == 0
    code, out = frisk("lists", "drop", "mules")
    assert code == 0, out
    assert stored_lists(url) == {}


def test_a_bad_import_file_is_named_by_row_and_changes_nothing(url: str, tmp_path: Path) -> None:
    assert frisk("lists", "create", "mules")[0] == 0
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("value,expires_at\nq1,\nq2,next tuesday\nq3,\n")
    code, out = frisk("lists", "import", "mules", "--file", str(bad_csv), "--batch", "1")
    assert code != 0
    assert "row 2, expires_at" in out
    too_long = tmp_path / "bad.txt"
    too_long.write_text("q1\n\n" + "x" * 300 + "\n")
    code, out = frisk("lists", "import", "mules", "--file", str(too_long))
    assert code != 0
    assert "line 3: the value has 300 characters, over 256" in out
    assert frisk("lists", "add", "mules", "ok", "x" * 257)[0] != 0
    assert stored_lists(url) == {"mules": {}}
    assert [e.action for e in audit(url)] == ["list.create"]


def test_rules_load_makes_the_ledger_hold_exactly_the_file(url: str, tmp_path: Path) -> None:
    assert frisk("lists", "create", "mules")[0] == 0
    first = tmp_path / "rules.yaml"
    first.write_text(RULES)
    code, out = frisk("rules", "load", "--file", str(first), "--actor", "ci")
    assert code == 0, out
    assert "2 change(s); rules version 1" in out
    code, out = frisk("rules", "load", "--file", str(first))
    assert "already in force; rules version 1" in out

    second = tmp_path / "rules2.yaml"
    second.write_text(
        "- {name: velocity, expression: 'txn_count_by_payer_1h > 5', action: block, priority: 5}\n"
        "- {name: night, expression: 'is_night == 1', action: tag, mode: shadow}\n"
    )
    code, out = frisk("rules", "load", "--file", str(second), "--database", url)
    assert code == 0, out
    assert "rules version 2" in out
    changes = [(e.action, e.target, e.actor) for e in audit(url) if e.target.startswith("rule:")]
    me = f"cli:{getpass.getuser()}"
    assert changes == [
        ("rule.create", "rule:mule_payees", "ci"),
        ("rule.create", "rule:velocity", "ci"),
        ("rule.delete", "rule:mule_payees", me),
        ("rule.create", "rule:night", me),
        ("rule.update", "rule:velocity", me),
    ]

    # Any error refuses the whole file: nothing changes, not even the good rules in it.
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- {name: fine, expression: 'amount > 1', action: tag}\n"
        "- {name: types, expression: 'amount > \"1000\"', action: block}\n"
    )
    code, out = frisk("rules", "load", "--file", str(bad))
    assert code != 0
    assert f"{bad}: 1:10: rule 'types': cannot compare a number with a string" in out
    assert "nothing was changed" in out
    bad.write_text("- {name: fine, expression: 'amount > 1', action: tag}\n- {name: x}\n")
    code, out = frisk("rules", "load", "--file", str(bad))
    assert code != 0
    assert "rule 2 (x): missing expression, action" in out
    unknown_list = "- {name: l, expression: 'payer_id in blocklist(\"gone\")', action: block}\n"
    bad.write_text(unknown_list)
    code, out = frisk("rules", "load", "--file", str(bad))
    assert code != 0
    assert "no list named 'gone'" in out
    ledger = open_ledger(url)
    version, held = ledger.rules.state()
    ledger.close()
    assert version == 2
    assert sorted(r.name for r in held) == ["night", "velocity"]

    code, out = frisk("rules", "list")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "rules version 2: 2 rule(s)"
    assert lines[1].split()[:4] == ["5", "velocity", "[active", "block]"]
    assert lines[2].split()[:4] == ["100", "night", "[shadow", "tag]"]
    code, out = frisk("rules", "list", "--yaml")
    assert sorted(load_rules(out), key=lambda r: r.name) == sorted(held, key=lambda r: r.name)
    code, out = frisk("rules", "show", "night")
    assert load_rules(out) == [r for r in held if r.name == "night"]
    assert f"# changed by {me} at " in out
    code, out = frisk("rules", "show", "nope")
    assert code != 0
    assert "no rule named 'nope'" in out


def test_rules_compile_against_the_default_catalogue_without_a_served_model(
    url: str, tmp_path: Path
) -> None:
    # No registry under FRISK_HOME: the default catalogue, which binds no extra attributes.
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {name: young, expression: 'account_age_days < 3', action: review}\n")
    code, out = frisk("rules", "load", "--file", str(rules))
    assert code != 0
    assert "unknown name 'account_age_days'" in out


def test_options_that_contradict_each_other_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRISK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FRISK_API_KEY", raising=False)
    store = str(tmp_path / "lists.json")
    code, out = frisk("lists", "show", "--store", store, "--api", "http://127.0.0.1:9")
    assert code != 0
    assert "give one of --store, --api" in out
    code, out = frisk("lists", "create", "x", "--audit", str(tmp_path / "a.jsonl"))
    assert code != 0
    assert "--audit is for a lists file" in out
    code, out = frisk("lists", "show", "--api", "http://127.0.0.1:9")
    assert code != 0
    assert "FRISK_API_KEY" in out
    monkeypatch.setenv("FRISK_API_KEY", "k")
    code, out = frisk("lists", "add", "x", "v", "--api", "http://127.0.0.1:9", "--actor", "me")
    assert code != 0
    assert "drop --actor" in out
    code, out = frisk("lists", "show", "--api", "http://127.0.0.1:9")
    assert code != 0
    assert "does not answer" in out
    assert not (tmp_path / "home").exists()  # nothing opened a ledger


def test_rules_load_replaces_a_stored_set_that_no_longer_compiles(url: str, tmp_path: Path) -> None:
    """Rules written for another model (a feature this one lacks) can still be replaced."""
    ledger = open_ledger(url)
    try:
        written_elsewhere = load_rules(
            "- {name: old, expression: 'mystery_score > 1', action: tag}"
        )
        ledger.rules.replace_all(written_elsewhere, actor="other", at=T0)
    finally:
        ledger.close()
    assert frisk("lists", "create", "mules")[0] != 0  # the stored rule blocks list definitions
    fixed = tmp_path / "rules.yaml"
    fixed.write_text(RULES.replace('blocklist("mules")', '["m1", "m2"]'))
    code, out = frisk("rules", "load", "--file", str(fixed))
    assert code == 0, out
    assert "rule.delete rule:old" in out
    ledger = open_ledger(url)
    try:
        _, held = ledger.rules.state()
    finally:
        ledger.close()
    assert sorted(r.name for r in held) == ["mule_payees", "velocity"]
    assert frisk("lists", "create", "mules")[0] == 0  # and the ledger's policy compiles again
