"""Lists: expiry, bulk import, persistence, versions and audit records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from frisk.errors import NotFoundError
from frisk.policy import ListEntry, MemoryListStore, NamedList, RuleError, read_entries

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def test_expired_entries_never_match() -> None:
    store = MemoryListStore()
    store.create(NamedList("mules", "block"), actor="ana", at=NOW)
    store.add(
        "mules",
        [ListEntry("forever"), ListEntry("brief", NOW + timedelta(minutes=5))],
        actor="ana",
        at=NOW,
    )
    snap = store.snapshot()
    assert snap.at(NOW).contains("mules", "brief")
    assert not snap.at(NOW + timedelta(minutes=5)).contains("mules", "brief")  # now < expires_at
    assert snap.at(NOW + timedelta(days=900)).contains("mules", "forever")
    assert not snap.at(NOW).contains("mules", "other")
    assert not snap.at(NOW).contains("nolist", "forever")
    assert snap.members(NOW + timedelta(hours=1)) == {"mules": frozenset({"forever"})}


def test_every_change_is_versioned_and_audited() -> None:
    store = MemoryListStore()
    created = store.create(NamedList("mules", "block", description="d"), actor="ana", at=NOW)
    added = store.add("mules", [ListEntry("a", note="case 1")], actor="bo", at=NOW)
    removed = store.remove("mules", ["a", "never-there"], actor="bo", at=NOW)
    dropped = store.drop("mules", actor="ana", at=NOW)
    assert store.version == 4
    assert (created.action, created.target, created.before) == ("list.create", "list:mules", None)
    assert created.after == {"name": "mules", "kind": "block", "field": None, "description": "d"}
    assert (added.actor, added.after) == (
        "bo",
        [{"value": "a", "expires_at": None, "note": "case 1"}],
    )
    assert removed.before == [{"value": "a", "expires_at": None, "note": "case 1"}]
    assert (dropped.action, dropped.after) == ("list.drop", None)
    with pytest.raises(NotFoundError, match="mules"):
        store.entries("mules")


def test_bulk_import_and_file_round_trip(tmp_path: Path) -> None:
    csv = tmp_path / "mules.csv"
    csv.write_text("value,expires_at,note\nq1,2026-02-01T00:00:00+00:00,ring\nq2,,\n")
    txt = tmp_path / "devices.txt"
    txt.write_text("# one per line\nd1\n\nd2\n")
    entries = read_entries(csv)
    assert entries[0] == ListEntry("q1", datetime(2026, 2, 1, tzinfo=UTC), "ring")
    assert entries[1] == ListEntry("q2")
    assert [e.value for e in read_entries(txt)] == ["d1", "d2"]
    store = MemoryListStore()
    store.create(NamedList("mules", "block", field="payee_id"), actor="a", at=NOW)
    store.add("mules", entries, actor="a", at=NOW)
    store.save(tmp_path / "lists.json")
    again = MemoryListStore.load(tmp_path / "lists.json")
    assert again.snapshot() == store.snapshot()
    bad = tmp_path / "bad.csv"
    bad.write_text("value,expires_at\nq1,2026-02-01T00:00:00\n")
    with pytest.raises(RuleError, match="row 1, expires_at"):
        read_entries(bad)


def test_names_and_kinds_are_checked() -> None:
    with pytest.raises(RuleError, match="list name"):
        NamedList("Bad Name", "block")
    with pytest.raises(RuleError, match="kind"):
        NamedList("x", "maybe")  # type: ignore[arg-type]
    with pytest.raises(RuleError, match="timezone"):
        ListEntry("x", datetime(2026, 1, 1))


def test_a_snapshot_never_changes_after_it_is_taken() -> None:
    store = MemoryListStore()
    store.create(NamedList("mules", "block"), actor="a", at=NOW)
    store.create(NamedList("devices", "block"), actor="a", at=NOW)
    store.add("mules", [ListEntry("q1")], actor="a", at=NOW)
    first = store.snapshot()
    store.add("mules", [ListEntry("q2")], actor="a", at=NOW)
    store.remove("mules", ["q1"], actor="a", at=NOW)
    second = store.snapshot()
    assert first.members(NOW)["mules"] == {"q1"}
    assert second.members(NOW)["mules"] == {"q2"}
    assert second.values["devices"] is first.values["devices"]  # unchanged lists are shared
