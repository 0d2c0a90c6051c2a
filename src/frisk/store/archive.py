"""Old decisions, labels and reviews out of the ledger into Parquet, and back in for analysis.

``archive_ledger(engine, before, to)`` moves every decision whose transaction happened before
``before`` (and the labels, label history and review of each) into Parquet files under ``to``,
one directory per day of the transaction (UTC), hive style::

    to/decisions/day=2024-03-01/part-20261206T031500-000000.parquet
    to/labels/day=2024-03-01/part-....parquet          (same day as the decision's)
    to/label_history/day=2024-03-01/...
    to/reviews/day=2024-03-01/...

A part is written to a temporary name, read back and compared with what was read from the
ledger, renamed, and only then are its rows deleted from the ledger, in short transactions of
``batch`` transactions each, so live writes wait at most for one of them. A run that stops half
way leaves every row in the ledger or in a verified part (or, between a part's rename and its
deletes, in both: readers take one copy, ``read_decisions`` the last).

Decisions keep every column; the JSON ones (transaction, features, reasons, timings, policy) as
JSON text, the features as names and values and the rest unpacked too (not the ledger's packed
vector and record), so the archive reads without the ledger's catalogues and any Parquet reader
can query it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from frisk.errors import InputError, StoreError
from frisk.store._driver_errors import translate_errors
from frisk.store.decision_pages import decision_pages
from frisk.store.decision_rows import unpack_payload
from frisk.store.feature_catalogues import catalogues_of
from frisk.store.partitions import drop_day, ensure_partitions, is_partitioned, partition_days
from frisk.store.tables import decision_ids, decisions, label_history, labels, reviews

__all__ = [
    "ArchiveResult",
    "archive_ledger",
    "archived_days",
    "read_decisions",
    "read_labels",
    "with_archived",
]

TABLES = ("decisions", "labels", "label_history", "reviews")
_UTC = pl.Datetime("us", "UTC")
_JSON_COLUMNS = ("transaction", "features", "reasons", "timings", "policy")
_IN = 500  # ids per IN (...) list


@dataclass(slots=True)
class ArchiveResult:
    """What a run moved: rows per table, the days touched, the parts written."""

    before: datetime
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    days: set[date] = field(default_factory=set)
    parts: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    #: Days whose partition was dropped whole (PostgreSQL), not deleted row by row.
    dropped: set[date] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before.isoformat(),
            "rows": dict(self.rows),
            "days": sorted(d.isoformat() for d in self.days),
            "parts": len(self.parts),
            "dropped_days": sorted(d.isoformat() for d in self.dropped),
            "seconds": round(self.seconds, 3),
        }


def archive_ledger(
    engine: Engine,
    before: datetime,
    to: Path,
    *,
    chunk: int = 50_000,
    batch: int = 500,
    pause: float = 0.0,
    progress: Callable[[ArchiveResult], None] | None = None,
) -> ArchiveResult:
    """Move decisions of transactions before ``before`` (with their labels, label history and
    reviews) into Parquet under ``to``; see the module docstring.

    ``chunk`` decisions per part, ``batch`` per deleting transaction, ``pause`` seconds between
    those (room for live writers on a busy SQLite file).
    """
    if before.tzinfo is None:
        raise InputError(f"--before {before!r} has no time zone")
    if chunk < 1 or batch < 1:
        raise InputError("chunk and batch must be at least 1")
    began = time.perf_counter()
    result = ArchiveResult(before.astimezone(UTC))
    catalogues = catalogues_of(engine)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    with translate_errors("creating the ledger's partitions"):
        ensure_partitions(engine)
        with engine.connect() as conn:
            partitioned = set(partition_days(conn)) if is_partitioned(conn) else None
    done: set[date] = set()
    while True:
        oldest = _oldest(engine, result.before, after=max(done, default=None))
        if oldest is None:
            break
        day = oldest.astimezone(UTC).date()
        done.add(day)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = min(start + timedelta(days=1), result.before)
        # A whole day with a partition of its own (PostgreSQL): its rows stay until the day is
        # in the archive, then the partition is dropped (``partitions.drop_day``).
        whole = partitioned is not None and day in partitioned and end - start == timedelta(days=1)
        archived: list[str] = []
        # The oldest rows of the day first, a page after the last one read. After a short page
        # the day is done; what arrives late for it is for the next run, so that a run does not
        # chase a stream of late payments one small part at a time.
        for rows in decision_pages(
            engine,
            decisions.c.event_time >= start,
            decisions.c.event_time < end,
            batch=chunk,
            doing="reading decisions to archive",
        ):
            ids = [r.transaction_id for r in rows]
            frames = {"decisions": _decision_frame(rows, catalogues)}
            frames.update(_related(engine, ids))
            name = f"part-{stamp}-{len(result.parts):06d}-{uuid.uuid4().hex[:8]}.parquet"
            for table, frame in frames.items():
                if frame.height:
                    result.parts.append(_write_verified(frame, to / table / f"day={day}" / name))
                    result.rows[table] += frame.height
            result.days.add(day)
            if whole:
                archived.extend(ids)
            else:
                _delete(engine, ids, batch, pause)
            if progress is not None:
                progress(result)
        if archived:
            with translate_errors("dropping an archived day's partition"):
                dropped = drop_day(engine, day, len(archived))
            if dropped:
                result.dropped.add(day)
                _delete_ids(engine, archived, (*_RELATED_TABLES, decision_ids))
            else:  # rows arrived for the day during the run: the archived ones go one by one
                _delete(engine, archived, batch, pause)
    result.seconds = time.perf_counter() - began
    return result


def archived_days(archive: Path, table: str = "decisions") -> list[date]:
    """The days ``archive`` holds parts of ``table`` for, oldest first."""
    found = []
    for path in (archive / table).glob("day=*"):
        try:
            found.append(date.fromisoformat(path.name.removeprefix("day=")))
        except ValueError:
            continue
    return sorted(found)


def read_decisions(
    archive: Path,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Archived decisions whose transaction happened in ``[start, end)``, in event order, one
    row per transaction id (the last part's, should a run have stopped between two steps)."""
    parts = _parts(archive, "decisions", start, end)
    if not parts:
        return pl.DataFrame()
    frame = pl.scan_parquet(parts)
    if start is not None:
        frame = frame.filter(pl.col("event_time") >= start)
    if end is not None:
        frame = frame.filter(pl.col("event_time") < end)
    if columns is not None:
        frame = frame.select(list(dict.fromkeys(["transaction_id", "event_time", *columns])))
    out = frame.collect().unique("transaction_id", keep="last", maintain_order=True)
    return out.sort("event_time", "transaction_id")


def read_labels(archive: Path) -> pl.DataFrame:
    """Every archived label (the ``labels`` table's columns); empty if there are none."""
    parts = _parts(archive, "labels", None, None)
    if not parts:
        return pl.DataFrame(
            schema={
                "transaction_id": pl.String,
                "label": pl.String,
                "label_timestamp": _UTC,
                "source": pl.String,
                "updated_by": pl.String,
                "updated_at": _UTC,
            }
        )
    return pl.read_parquet(parts).unique("transaction_id", keep="last", maintain_order=True)


def decision_dicts(frame: pl.DataFrame) -> Iterator[dict[str, Any]]:
    """Rows of ``read_decisions`` with their JSON columns as Python values."""
    for row in frame.iter_rows(named=True):
        for name in _JSON_COLUMNS:
            if name in row:
                text = row[name]
                row[name] = None if text is None else orjson.loads(text)
        yield row


def with_archived(
    engine: Engine,
    live: list[dict[str, Any]],
    archive: Path,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """The ledger's ``live`` decisions with labels (``Ledger.decisions_with_labels``) and the
    archive's before them: what a backtest over recorded decisions reads. An archived decision's
    label is the ledger's when it has one (a label that arrived after the archive run), else the
    archived one."""
    if not (archive / "decisions").is_dir():
        return live
    columns = ["transaction", "features", "score", "risk_score", "tier", "action", "policy"]
    archived = read_decisions(archive, start=start, end=end, columns=columns)
    if not archived.height:
        return live
    in_ledger = {row["transaction_id"] for row in live}
    archived = archived.filter(~pl.col("transaction_id").is_in(in_ledger))
    stored = read_labels(archive).select("transaction_id", "label")
    ids = archived.get_column("transaction_id").to_list()
    later = _ledger_labels(engine, ids)
    archived = archived.join(stored, on="transaction_id", how="left")
    if later:
        archived = archived.with_columns(
            pl.col("transaction_id")
            .replace_strict(later, default=pl.col("label"), return_dtype=pl.String)
            .alias("label")
        )
    rows = list(decision_dicts(archived))
    return sorted([*rows, *live], key=lambda r: (r["event_time"], r["transaction_id"]))


def _ledger_labels(engine: Engine, ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    with translate_errors("reading labels of archived decisions"), engine.connect() as conn:
        for start in range(0, len(ids), _IN):
            query = sa.select(labels.c.transaction_id, labels.c.label).where(
                labels.c.transaction_id.in_(ids[start : start + _IN])
            )
            found.update((r[0], r[1]) for r in conn.execute(query))
    return found


# -- internals ------------------------------------------------------------------------------


def _oldest(engine: Engine, before: datetime, *, after: date | None = None) -> datetime | None:
    """The oldest event time before ``before`` (and on a day after ``after``)."""
    query = sa.select(sa.func.min(decisions.c.event_time)).where(decisions.c.event_time < before)
    if after is not None:
        next_day = datetime(after.year, after.month, after.day, tzinfo=UTC) + timedelta(days=1)
        query = query.where(decisions.c.event_time >= next_day)
    with translate_errors("finding the oldest decision"), engine.connect() as conn:
        found = conn.execute(query).scalar_one_or_none()
    return None if found is None else found.astimezone(UTC)


def _decision_frame(rows: Sequence[Any], catalogues: Any) -> pl.DataFrame:
    out: dict[str, list[Any]] = {c.name: [] for c in decisions.c}
    for c in ("catalogue_id", "feature_values", "record", "amount"):
        out.pop(c)
    for row in rows:
        m = unpack_payload(dict(row._mapping))
        m["features"] = catalogues.features(
            m.pop("catalogue_id"), m.pop("feature_values"), m["features"]
        )
        for name, value in m.items():
            if name in _JSON_COLUMNS:
                value = None if value is None else orjson.dumps(value).decode()
            out[name].append(value)
    return pl.DataFrame(out, schema=_DECISION_SCHEMA)


_DECISION_SCHEMA: dict[str, Any] = {
    "transaction_id": pl.String,
    "body_hash": pl.String,
    "event_time": _UTC,
    "transaction": pl.String,
    "features": pl.String,
    "score": pl.Float64,
    "risk_score": pl.Int16,
    "tier": pl.String,
    "action": pl.String,
    "reasons": pl.String,
    "model_version": pl.String,
    "timings": pl.String,
    "created_at": _UTC,
    "degraded": pl.Boolean,
    "policy": pl.String,
    "payer_id": pl.String,
    "payee_id": pl.String,
}
_RELATED = {
    "labels": (labels, labels.c.transaction_id),
    "label_history": (label_history, label_history.c.transaction_id),
    "reviews": (reviews, reviews.c.transaction_id),
}


def _related(engine: Engine, ids: Sequence[str]) -> dict[str, pl.DataFrame]:
    """The labels, label history and reviews of ``ids``."""
    out: dict[str, pl.DataFrame] = {}
    with translate_errors("reading labels and reviews to archive"), engine.connect() as conn:
        for name, (table, key) in _RELATED.items():
            rows: list[dict[str, Any]] = []
            for start in range(0, len(ids), _IN):
                query = sa.select(table).where(key.in_(ids[start : start + _IN]))
                rows.extend(dict(r._mapping) for r in conn.execute(query))
            schema = {c.name: _polars_type(c) for c in table.c}
            out[name] = (
                pl.DataFrame(rows, schema=schema, orient="row")
                if rows
                else pl.DataFrame(schema=schema)
            )
    return out


def _polars_type(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.Integer):
        return pl.Int64
    if isinstance(kind, sa.Float):
        return pl.Float64
    if isinstance(kind, sa.Boolean):
        return pl.Boolean
    if isinstance(kind, sa.DateTime | sa.types.TypeDecorator):
        return _UTC
    return pl.String


def _write_verified(frame: pl.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` through a temporary name, read it back, compare, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        frame.write_parquet(temporary, compression="zstd", statistics=True)
        back = pl.read_parquet(temporary)
    except OSError as exc:
        raise StoreError(f"cannot write the archive part {str(path)!r}: {exc}") from exc
    if not back.equals(frame):
        temporary.unlink(missing_ok=True)
        raise StoreError(f"the archive part {str(path)!r} does not read back as written")
    temporary.replace(path)
    return path


_RELATED_TABLES = (reviews, label_history, labels)


def _delete(
    engine: Engine,
    ids: Sequence[str],
    batch: int,
    pause: float,
    *,
    tables: Sequence[sa.Table] = (*_RELATED_TABLES, decisions, decision_ids),
) -> None:
    if engine.dialect.name != "postgresql":  # ``decision_ids`` is PostgreSQL's only
        tables = [t for t in tables if t is not decision_ids]
    for start in range(0, len(ids), batch):
        part = ids[start : start + batch]
        with translate_errors("deleting archived rows"), engine.begin() as conn:
            for table in tables:
                conn.execute(table.delete().where(table.c.transaction_id.in_(part)))
        if pause:
            time.sleep(pause)


_IDS_PER_DELETE = 10_000


def _delete_ids(engine: Engine, ids: Sequence[str], tables: Sequence[sa.Table]) -> None:
    """The labels, label history, reviews and ids of a dropped day's decisions (PostgreSQL).
    Larger batches than SQLite's: a delete there locks only its own rows, which a live write
    waits for only if it labels or reviews an archived transaction at that moment."""
    for start in range(0, len(ids), _IDS_PER_DELETE):
        part = list(ids[start : start + _IDS_PER_DELETE])
        with translate_errors("deleting archived rows"), engine.begin() as conn:
            for table in tables:
                key = table.c.transaction_id
                conn.execute(table.delete().where(key == sa.func.any(sa.bindparam("ids", part))))


def _parts(archive: Path, table: str, start: datetime | None, end: datetime | None) -> list[Path]:
    if not archive.is_dir():
        raise InputError(f"archive {str(archive)!r} is not a directory")
    first = None if start is None else start.astimezone(UTC).date()
    last = None if end is None else end.astimezone(UTC).date()
    parts: list[Path] = []
    for day in archived_days(archive, table):
        if (first is not None and day < first) or (last is not None and day > last):
            continue
        parts.extend(sorted((archive / table / f"day={day}").glob("part-*.parquet")))
    return parts
