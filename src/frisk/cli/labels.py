"""``frisk labels import``: bulk labels (chargebacks, investigations) into the ledger or a service.

Two kinds of file are read, through the same TOML mappings as every ``--events`` command:

* a labels file: ``transaction_id``, ``label`` and optionally ``label_timestamp`` and
  ``label_source`` (a chargeback report names the transaction and when it came back);
* an event file whose mapping maps ``label`` (and ``label_timestamp`` or ``options.label_delay``):
  every row with a label and its arrival time is a label.

Every row is checked before anything is written; a bad row is reported by its row number and
column and refuses the file unless ``--skip-invalid`` drops it.
"""

from __future__ import annotations

import getpass
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from frisk.cli.app import app
from frisk.cli.options import EventsOpt, MappingOpt, SkipInvalidOpt
from frisk.errors import (
    ConfigError,
    DataFormatError,
    FriskError,
    InvalidRowsError,
    RowProblem,
    StoreError,
)
from frisk.store.ledger import LabelWrite

if TYPE_CHECKING:
    pass

__all__ = ["labels_app", "read_labels"]

labels_app = typer.Typer(help="Import labels (chargebacks, investigations).", no_args_is_help=True)
app.add_typer(labels_app, name="labels")

_LABEL_ONLY = ("transaction_id", "label", "label_timestamp", "label_source")
_EVENT_ONLY = ("timestamp", "amount", "payer_id", "payee_id")
_ROLE = "an analyst or admin"  # of the key --api needs


@dataclass(frozen=True, slots=True)
class _Read:
    writes: list[LabelWrite]
    rows: int
    skipped: int  # rows without a label (event files), or invalid rows dropped
    problems: list[RowProblem]


@labels_app.command("import")
def import_labels(
    events: EventsOpt,
    mapping: MappingOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="Ledger URL to write to (default: FRISK_DATABASE_URL, else the SQLite ledger "
            "under FRISK_HOME). Labels reach a running service's features only when it restarts.",
        ),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            help="Send the labels to a running service at this URL (POST /v1/labels, an analyst "
            "key in FRISK_API_KEY) instead of writing the ledger: the service stores them and "
            "applies them to its features at once. Use this while a service is running.",
        ),
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="Source of labels whose file names none.")
    ] = "import",
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Labels per write (per request with --api).")
    ] = 100,
) -> None:
    """Import labels from a file; report new, changed, unchanged and unknown ids, and bad rows.

    A label already stored with the same value is left alone (re-importing a file is safe); a
    changed one keeps the old value in its history. Ids without a decision in the ledger are
    stored and counted as unknown.
    """
    if database and api:
        raise ConfigError("give --database or --api, not both")
    read = read_labels(events, mapping, skip_invalid=skip_invalid, source=source)
    for problem in read.problems:
        typer.echo(f"skipped {problem}", err=True)
    send = _via_api(api, batch) if api else _via_ledger(database, batch)
    counts = send(read.writes)
    typer.echo(
        f"{len(read.writes):,} labels from {read.rows:,} rows ({read.skipped:,} skipped): "
        f"{counts['new']:,} new, {counts['changed']:,} changed, "
        f"{counts['unchanged']:,} unchanged, {counts['unknown']:,} unknown ids"
    )


def read_labels(path: Path, mapping_path: Path | None, *, skip_invalid: bool, source: str) -> _Read:
    """The labels of a labels file or an event file, every row checked (see the module doc)."""
    import polars as pl

    from frisk.data.importer import file_columns, read_events
    from frisk.data.mapping import Mapping

    mapping = Mapping.load(mapping_path) if mapping_path is not None else Mapping()
    columns = file_columns(path)
    mapped = set(mapping.columns) | set(mapping.defaults) | set(columns)
    if all(c in mapped for c in _EVENT_ONLY):
        result = read_events(path, mapping, skip_invalid=skip_invalid)
        table = result.table
        if "label" not in table.columns:
            raise DataFormatError(f"{str(path)!r}: no label column (map one in the mapping)")
        labelled = table.filter(
            pl.col("label").is_not_null() & pl.col("label_timestamp").is_not_null()
        )
        sources = (
            labelled.get_column("label_source").to_list()
            if "label_source" in labelled.columns
            else [None] * labelled.height
        )
        writes = [
            LabelWrite(txn, "fraud" if label == 1 else "legit", at, src or source)
            for txn, label, at, src in zip(
                labelled.get_column("transaction_id").to_list(),
                labelled.get_column("label").to_list(),
                labelled.get_column("label_timestamp").to_list(),
                sources,
                strict=True,
            )
        ]
        skipped = result.report.rows_read - labelled.height
        return _not_future(writes, result.report.rows_read, skipped, skip_invalid, str(path))
    return _labels_file(path, mapping, columns, skip_invalid=skip_invalid, source=source)


def _labels_file(
    path: Path, mapping: Any, columns: list[str], *, skip_invalid: bool, source: str
) -> _Read:
    import polars as pl

    from frisk.data.importer import read_raw
    from frisk.data.timestamps import parse_timestamps
    from frisk.schema import parse_label

    where = {c: mapping.columns.get(c, (c,)) for c in _LABEL_ONLY}
    for canonical in ("transaction_id", "label"):
        names = where[canonical]
        if any(n not in columns for n in names):
            raise DataFormatError(
                f"{str(path)!r}: no {canonical} column ({'+'.join(names)}); a labels file has "
                f"transaction_id and label (map yours with --mapping); its columns are "
                f"{', '.join(map(repr, columns))}"
            )
    frame = read_raw(path)
    now = datetime.now(UTC)

    def column(canonical: str) -> list[Any] | None:
        names = where[canonical]
        if any(n not in columns for n in names):
            return None
        if len(names) == 1:
            values: list[Any] = frame.get_column(names[0]).to_list()
            return values
        joined = pl.concat_str([pl.col(n).cast(pl.String) for n in names], separator=":")
        composed: list[Any] = frame.select(joined).to_series().to_list()
        return composed

    ids, labels = column("transaction_id"), column("label")
    assert ids is not None
    assert labels is not None
    times: list[Any] = [None] * frame.height
    time_errors: list[Any] = [None] * frame.height
    if column("label_timestamp") is not None:
        raw = frame.get_column(where["label_timestamp"][0])
        parsed = parse_timestamps(
            raw,
            mapping.format_of(where["label_timestamp"][0]),
            mapping.timezone,
            decimal_comma=mapping.decimal_comma,
        )
        times, time_errors = parsed.values.to_list(), parsed.errors.to_list()
    sources = column("label_source") or [None] * frame.height
    default_source = mapping.label_source or source
    writes: list[LabelWrite] = []
    problems: list[RowProblem] = []
    unlabelled = 0
    for row, (txn, label, at, error, src) in enumerate(
        zip(ids, labels, times, time_errors, sources, strict=True), start=1
    ):
        problem = None
        if _no_label(label):
            unlabelled += 1  # "no label yet": counted as skipped, never an error
            continue
        if txn is None or not str(txn).strip():
            problem = RowProblem(row, "transaction_id", "is empty")
        elif error is not None:
            problem = RowProblem(row, "label_timestamp", str(error))
        else:
            try:
                value = parse_label(label.strip() if isinstance(label, str) else label)
            except ValueError as exc:
                problem = RowProblem(row, "label", str(exc))
            else:
                at = now if at is None else at
                if at > now:
                    problem = RowProblem(
                        row, "label_timestamp", f"{at.isoformat()} is in the future"
                    )
        if problem is not None:
            problems.append(problem)
            continue
        writes.append(LabelWrite(str(txn).strip(), value.value, at, str(src or default_source)))
    if problems and not skip_invalid:
        raise InvalidRowsError(problems[:20], len(problems), source=str(path))
    return _Read(writes, frame.height, len(problems) + unlabelled, problems[:20])


def _no_label(value: object) -> bool:
    """An empty cell (or a float NaN, pandas' "no value") means the row has no label yet."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    return isinstance(value, str) and not value.strip()


def _not_future(
    writes: list[LabelWrite], rows: int, skipped: int, skip_invalid: bool, source: str
) -> _Read:
    # Row numbers are gone once the importer has sorted the table: name the transaction.
    now = datetime.now(UTC)
    late = [w for w in writes if w.label_timestamp > now]
    problems = [
        RowProblem(0, "label_timestamp", f"transaction {w.transaction_id!r}: in the future")
        for w in late
    ]
    if late and not skip_invalid:
        raise InvalidRowsError(problems[:20], len(late), source=source)
    kept = [w for w in writes if w.label_timestamp <= now]
    return _Read(kept, rows, skipped + len(late), problems[:20])


def _via_ledger(url: str | None, batch: int) -> Callable[[Sequence[LabelWrite]], Counter[str]]:
    def send(writes: Sequence[LabelWrite]) -> Counter[str]:
        from frisk.config import load_settings
        from frisk.store import default_url, open_ledger

        settings = load_settings()
        ledger = open_ledger(url or settings.database_url or default_url(settings.home))
        counts: Counter[str] = Counter(new=0, changed=0, unchanged=0, unknown=0)
        try:
            for start in range(0, len(writes), batch):
                for o in ledger.set_labels(writes[start : start + batch], actor=_actor()):
                    counts["unknown" if not o.known else o.status.value] += 1
        finally:
            ledger.close()
        return counts

    return send


def _via_api(url: str, batch: int) -> Callable[[Sequence[LabelWrite]], Counter[str]]:
    from frisk.cli._policy import api_key, service_at

    api_key(_ROLE)  # a missing key fails here, before any file is read

    def send(writes: Sequence[LabelWrite]) -> Counter[str]:
        counts: Counter[str] = Counter(new=0, changed=0, unchanged=0, unknown=0)
        start = 0
        try:
            with service_at(url, role=_ROLE) as client:
                for start in range(0, len(writes), batch):
                    items = [
                        {
                            "transaction_id": w.transaction_id,
                            "label": w.label,
                            "source": w.source,
                            "label_timestamp": w.label_timestamp.isoformat(),
                        }
                        for w in writes[start : start + batch]
                    ]
                    for item in client.post_labels(items)["labels"]:
                        counts[item["status"]] += 1
        except FriskError as exc:
            last = min(start + batch, len(writes))
            where = f"labels {start + 1}-{last}: {exc}; the labels before them were stored"
            raise (ConfigError if isinstance(exc, ConfigError) else StoreError)(where) from None
        return counts

    return send


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
