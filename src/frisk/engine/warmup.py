"""Feature state across restarts: snapshots on disk, then the ledger for whatever they missed.

    <home>/state/features-<stamp>.snap   OnlineFeatures.snapshot (tied to the catalogue version)
    <home>/state/features.json           which snapshot is current, and what it holds

``features.json`` is replaced atomically after its snapshot is written, so it is the commit point:
a crash mid-snapshot leaves the previous pair in force. It records the wall-clock time the
snapshot was taken under the engine's lock, and the ids decided in the few seconds before it.

On start the engine restores the snapshot, then replays the ledger's decisions *created* from
``taken_at - MARGIN`` on, skipping the ids the snapshot already holds. Replaying by creation time
(the order the live engine saw them) rather than event time catches late events too. A decision's
``created_at`` is stamped just after ``decide`` returns, outside the engine's lock, so one decided
before the snapshot may carry a slightly later stamp: the margin and the recent ids cover that.
Without a usable snapshot (none, corrupt, or another catalogue) the whole ledger is replayed in
event order. Labels whose ledger row changed after the snapshot's label watermark are queued first.

This is what makes velocity history survive a SIGKILL: the snapshot may be minutes old, the
ledger holds every decision a client was given.

Nothing from the future is learnt back. Feature state runs on event time and its clock never
goes back, so a decision recorded before the input bounds with a far-future time (9999-12-31 was
accepted once) would stop every entity's clock again at each start. Warm-up leaves out decisions
whose event time lies more than ``ahead`` (the service's ``api.event_ahead_seconds``) past the
server's clock, and those whose body no longer validates, and counts them in a warning; a
snapshot whose clock is past that point is not used (the ledger rebuilds the state).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from frisk.bounds import EventWindow
from frisk.errors import FeatureError, StoreError
from frisk.features import Catalogue, OnlineFeatures
from frisk.schema import Transaction
from frisk.store.ledger import DecisionRecord, Ledger

__all__ = [
    "MARGIN",
    "SnapshotMeta",
    "event_of",
    "read_meta",
    "restore",
    "warm_from_ledger",
    "write_state",
]

log = logging.getLogger("frisk.engine")

META_FILE = "features.json"
# How late a decision's created_at may be stamped after the snapshot that already counted it.
MARGIN = timedelta(seconds=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAGE = 1000
#: how far past the server's clock a learnt event may lie (the live window's default skew)
AHEAD: timedelta = EventWindow().ahead


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """What a snapshot holds: its file, catalogue, time, recent ids and label watermark."""

    file: str
    catalogue_version: str
    taken_at: datetime
    recent_ids: tuple[str, ...]
    labels_until: datetime | None
    model_version: str

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "catalogue_version": self.catalogue_version,
            "taken_at": self.taken_at.isoformat(),
            "recent_ids": list(self.recent_ids),
            "labels_until": None if self.labels_until is None else self.labels_until.isoformat(),
            "model_version": self.model_version,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SnapshotMeta:
        until = data.get("labels_until")
        return cls(
            file=str(data["file"]),
            catalogue_version=str(data["catalogue_version"]),
            taken_at=datetime.fromisoformat(data["taken_at"]),
            recent_ids=tuple(str(i) for i in data.get("recent_ids", ())),
            labels_until=None if until is None else datetime.fromisoformat(until),
            model_version=str(data.get("model_version", "")),
        )


def event_of(txn: Transaction) -> dict[str, Any]:
    """The canonical event mapping: core fields by column name, extra attributes by their name."""
    event = dict(txn.__dict__)  # the validated fields, without pydantic's dump machinery
    extra = event.pop("extra")
    if extra:
        event.update(extra)  # Transaction refuses extra names that shadow a known column
    return event


def write_state(directory: Path, features: OnlineFeatures, meta: SnapshotMeta) -> None:
    """Write ``features`` and then ``meta`` (the commit point); drop older snapshots."""
    directory.mkdir(parents=True, exist_ok=True)
    features.snapshot(directory / meta.file)
    tmp = directory / (META_FILE + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(meta.to_json(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(directory / META_FILE)
    except OSError as exc:
        raise StoreError(f"cannot write {str(directory / META_FILE)!r}: {exc}") from exc
    for old in directory.glob("features-*.snap"):
        if old.name != meta.file:
            old.unlink(missing_ok=True)


def read_meta(directory: Path) -> SnapshotMeta | None:
    path = directory / META_FILE
    if not path.is_file():
        return None
    try:
        return SnapshotMeta.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None


def restore(
    directory: Path, catalogue: Catalogue, *, ahead: timedelta = AHEAD
) -> tuple[OnlineFeatures, SnapshotMeta] | None:
    """The snapshot's state for ``catalogue``, or None (logged why) when there is none usable:
    none, another catalogue, unreadable, or a clock more than ``ahead`` past the server's."""
    meta = read_meta(directory)
    if meta is None:
        return None
    if meta.catalogue_version != catalogue.version:
        log.warning(
            "feature snapshot is for catalogue %s, the model reads %s: rebuilding from the ledger",
            meta.catalogue_version,
            catalogue.version,
        )
        return None
    try:
        features = OnlineFeatures.restore(directory / meta.file, catalogue)
    except (FeatureError, StoreError) as exc:
        log.warning("feature snapshot unusable (%s): rebuilding from the ledger", exc)
        return None
    clock = features.store.clock
    latest = datetime.now(UTC) + ahead
    if clock is not None and _EPOCH + timedelta(microseconds=clock) > latest:
        log.warning(
            "feature snapshot's clock (%s) is past the server's clock: an event from the future "
            "stopped it; rebuilding from the ledger without such events",
            f"{_EPOCH + timedelta(microseconds=clock):%Y-%m-%dT%H:%M:%SZ}",
        )
        return None
    return features, meta


def warm_from_ledger(
    features: OnlineFeatures,
    ledger: Ledger,
    meta: SnapshotMeta | None,
    *,
    ahead: timedelta = AHEAD,
) -> tuple[int, datetime | None]:
    """Replay what ``meta``'s snapshot missed (everything without one); return count, label mark.

    Decisions more than ``ahead`` past the server's clock, or whose body no longer validates
    (recorded before the input bounds), are left out and counted in a warning."""
    labels_until = _queue_labels(features, ledger, None if meta is None else meta.labels_until)
    if meta is None:
        records: Iterable[DecisionRecord] = ledger.decisions_since(_EPOCH)
    else:
        records = _created_since(ledger, meta.taken_at - MARGIN, set(meta.recent_ids))
    latest = datetime.now(UTC) + ahead
    count = future = invalid = 0
    for record in records:
        if record.event_time > latest:
            future += 1
            continue
        try:
            txn = Transaction.model_validate(record.transaction)
        except ValidationError:
            invalid += 1
            continue
        features.update(event_of(txn))
        count += 1
    if future or invalid:
        log.warning(
            "warm-up left out %d recorded decisions dated past the server's clock and %d whose "
            "body no longer validates (recorded before the input bounds)",
            future,
            invalid,
        )
    return count, labels_until


def _created_since(ledger: Ledger, since: datetime, skip: set[str]) -> list[DecisionRecord]:
    """Decisions created at or after ``since``, oldest first, without ids in ``skip``."""
    found: dict[str, DecisionRecord] = {}
    before: datetime | None = None
    while True:
        page = ledger.recent_decisions(_PAGE, before=before)
        fresh = [r for r in page if r.created_at >= since and r.transaction_id not in found]
        for record in fresh:
            found[record.transaction_id] = record
        if len(page) < _PAGE or page[-1].created_at < since or not fresh:
            break
        # ``before`` is strict: step one microsecond past the page's oldest so that rows sharing
        # its timestamp are read again rather than skipped (the dict drops the repeats).
        before = page[-1].created_at + timedelta(microseconds=1)
    ordered = sorted(found.values(), key=lambda r: (r.created_at, r.transaction_id))
    return [r for r in ordered if r.transaction_id not in skip]


def _queue_labels(
    features: OnlineFeatures, ledger: Ledger, since: datetime | None
) -> datetime | None:
    """Queue the labels the ledger changed after ``since``; the new watermark."""
    latest = since
    for label in ledger.labels_changed_since(since):
        if label.label in ("fraud", "legit"):
            features.apply_label(
                label.transaction_id, 1 if label.label == "fraud" else 0, label.label_timestamp
            )
        latest = label.updated_at if latest is None else max(latest, label.updated_at)
    return latest
