"""Scoring a whole file: receive a multipart upload, read it through a mapping, decide each row.

``receive_upload`` streams the request body to a temporary file and refuses it once it passes the
size limit, so a large upload never sits in memory. ``score_upload`` reads it with
``read_events(skip_invalid=True)``, so bad rows are reported (row, column, reason) rather than
refusing the file, and decides each valid row through the same ``Scorer`` as ``POST /v1/score``:
an id already decided answers from the ledger, one reused for another body is a per-row conflict.
Rows are decided in event-time order (the importer's order; ties keep file order), the order
feature state must see them in, and recorded many per commit (``Decider.decide_many``). The outcome
per row is kept as ``<home>/uploads/<id>.csv`` for ``api.upload_result_hours``.

The form is read by python-multipart's streaming parser, fed chunk by chunk, rather than by
``Request.form()``, which spools the whole file before anything can refuse it: here the size limit
acts on the file part while it streams.
"""

from __future__ import annotations

import codecs
import csv
import re
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from frisk.config import Settings
from frisk.data.importer import read_events
from frisk.data.mapping import Mapping
from frisk.data.table import extra_columns
from frisk.data.timestamps import NAIVE_REFUSED
from frisk.errors import (
    DataFormatError,
    FriskError,
    InvalidEventError,
    MappingError,
    NotFoundError,
    RecordRefusedError,
    RowProblem,
)
from frisk.schema import CORE_COLUMNS, Transaction

# The upload errors live with the one error-to-status table (service.errors).
from frisk.service.errors import UnsupportedUploadError, UploadTooLargeError, redact
from frisk.service.scoring import Decided, Scorer

if TYPE_CHECKING:  # a typing-only name of python-multipart
    from python_multipart.multipart import MultipartCallbacks

__all__ = [
    "Received",
    "UnsupportedUploadError",
    "UploadOutcome",
    "UploadProblem",
    "UploadTooLargeError",
    "expire_results",
    "find_mapping",
    "receive_upload",
    "result_path",
    "score_upload",
]

# Extensions an upload may have, and the format read_events infers from them.
SUFFIXES: Final = (".csv", ".parquet", ".pq")
# Per-row problems in a response: enough to fix a file, not a copy of it.
MAX_PROBLEMS: Final = 100
RESULT_COLUMNS: Final = (
    "transaction_id",
    "outcome",
    "action",
    "risk_tier",
    "risk_score",
    "score",
    "model_version",
    "degraded",
)

_MAPPING_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_MAX_PART_HEADERS: Final = 8
_MAX_FIELD: Final = 1024


@dataclass(frozen=True, slots=True)
class Received:
    """The uploaded file, saved under ``path``, and the form's other fields."""

    path: Path
    filename: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class UploadProblem:
    """A row not decided: invalid (``row`` known) or a conflict (``transaction_id`` known)."""

    reason: str
    row: int | None = None
    column: str | None = None
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    upload_id: str
    rows: int
    scored: int  # decided now or answered from the ledger
    replayed: int
    invalid: int
    conflicts: int
    duplicates_dropped: int
    actions: dict[str, int]
    problems: tuple[UploadProblem, ...]  # the first MAX_PROBLEMS


# -- receiving ---------------------------------------------------------------------------------


async def receive_upload(
    body: AsyncIterable[bytes], content_type: str, directory: Path, max_bytes: int
) -> Received:
    """Save the ``file`` part of a multipart/form-data ``body`` under ``directory``.

    Raises ``UploadTooLargeError`` as soon as the file passes ``max_bytes``,
    ``UnsupportedUploadError`` for a name or content that is neither CSV nor Parquet, and
    ``InvalidEventError`` for a body that is not a well-formed form with one file.
    """
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedUploadError("send the file as multipart/form-data in a field named 'file'")
    form = _Form(directory, max_bytes)
    parser = MultipartParser(
        boundary, form.callbacks(), max_header_count=_MAX_PART_HEADERS, max_header_size=_MAX_FIELD
    )
    try:
        async for chunk in body:
            if form.ended:
                break  # an epilogue after the closing delimiter is ignored
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise _malformed(str(exc)) from None
    finally:
        form.close()
    if not form.ended:
        raise _malformed("the body ends early")
    if form.saved is None:
        raise InvalidEventError("file", None, "the form has no file field named 'file'")
    _sniff(form.saved, form.filename)
    return Received(form.saved, form.filename, form.fields)


class _Form:
    """python-multipart's callbacks: the file part streams to disk under the size limit, the
    other fields (small) are kept in memory."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self.saved: Path | None = None
        self.filename = ""
        self.ended = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._field: tuple[str, bytearray] | None = None
        self._file: BinaryIO | None = None
        self._size = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        name = bytes(self._header_name).decode("latin-1").strip().lower()
        self._headers[name] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get("content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise _malformed("a part has no Content-Disposition with a name")
        name = params[b"name"].decode("utf-8", errors="replace")
        filename = params.get(b"filename")
        if filename is None:
            self._field = (name, bytearray())
            return
        if name != "file" or self.saved is not None:
            raise _malformed(f"unexpected file field {name!r}; send one file, named 'file'")
        self.filename = filename.decode("utf-8", errors="replace")
        suffix = next((s for s in SUFFIXES if self.filename.lower().endswith(s)), None)
        if suffix is None:
            raise UnsupportedUploadError(
                f"file {self.filename!r}: expected a name ending in {', '.join(SUFFIXES)}"
            )
        self.saved = self.directory / f"upload{suffix}"
        # Plain writes on the loop: chunks are at most a socket read, and the page cache takes
        # them in microseconds; a thread hop per chunk would cost more than the write.
        self._file = self.saved.open("wb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._size += end - start
            if self._size > self.max_bytes:  # while the file streams, not once it is whole
                raise UploadTooLargeError(f"file {self.filename!r} is over {self.max_bytes} bytes")
            self._file.write(data[start:end])
        elif self._field is not None:
            name, value = self._field
            value += data[start:end]
            if len(value) > _MAX_FIELD:
                raise InvalidEventError(
                    name, None, f"a form field holds at most {_MAX_FIELD} bytes"
                )

    def _part_end(self) -> None:
        if self._field is not None:
            name, value = self._field
            self.fields[name] = value.decode("utf-8", errors="replace")
            self._field = None
        self.close()

    def _end(self) -> None:
        self.ended = True


def _sniff(path: Path, filename: str) -> None:
    """Refuse content that contradicts the extension (a renamed binary, a zipped CSV)."""
    with path.open("rb") as file:
        head = file.read(64 * 1024)
        if path.suffix in (".parquet", ".pq"):
            file.seek(max(path.stat().st_size - 4, 0))
            if not (head.startswith(b"PAR1") and file.read(4) == b"PAR1"):
                raise UnsupportedUploadError(f"file {filename!r} is not a Parquet file")
            return
    try:
        # Incremental: the 64 KiB cut may fall inside a character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise UnsupportedUploadError(f"file {filename!r} is not UTF-8 text") from exc
    if b"\x00" in head:
        raise UnsupportedUploadError(f"file {filename!r} is not a text (CSV) file")


def _malformed(reason: str) -> InvalidEventError:
    return InvalidEventError("body", None, f"not a well-formed multipart form: {reason}")


# -- scoring -----------------------------------------------------------------------------------


def find_mapping(directory: Path, name: str) -> Mapping:
    """The mapping ``<directory>/<name>.toml``; a name is a file stem, never a path."""
    if not _MAPPING_NAME.match(name) or ".." in name:
        raise InvalidEventError("mapping", name, "a mapping is named by its file stem, no path")
    path = directory / f"{name}.toml"
    if not path.is_file():
        raise MappingError(f"no mapping named {name!r}")
    return Mapping.load(path)


def score_upload(
    received: Received, mapping: Mapping | None, scorer: Scorer, settings: Settings
) -> UploadOutcome:
    """Read the received file and decide its valid rows in order; keep the result as a CSV.

    Rows are checked as ``POST /v1/score`` checks a body: without a mapping, a time must carry
    its UTC offset (a mapping may name the timezone of wall-clock times instead).
    """
    try:
        result = read_events(
            received.path, mapping or Mapping(timezone=NAIVE_REFUSED), skip_invalid=True
        )
    except (MappingError, DataFormatError) as exc:  # they name the file: the client's name
        message = str(exc).replace(str(received.path), received.filename)
        raise type(exc)(message) from None
    report = result.report
    limit = settings.api.upload_max_rows
    if report.rows_read > limit:
        raise UploadTooLargeError(
            f"file {received.filename!r} has {report.rows_read} rows; an upload holds at most "
            f"{limit} (api.upload_max_rows)"
        )
    problems = [_invalid(p) for p in report.problems]
    table = result.table
    extras = extra_columns(table)
    actions: Counter[str] = Counter()
    replayed = conflicts = failed = 0
    rows: list[tuple[str, Transaction | InvalidEventError]] = []
    for values in table.select(*CORE_COLUMNS, *extras).iter_rows(named=True):
        try:  # the importer's checks are the model's; belt and braces
            rows.append((str(values["transaction_id"]), Transaction.parse(_event(values, extras))))
        except InvalidEventError as exc:
            rows.append((str(values["transaction_id"]), exc))
    # Decided in file order, many per commit (Decider.decide_many): ~1,000 rows/s one commit each.
    outcomes = iter(scorer.decide_many([t for _, t in rows if isinstance(t, Transaction)]))
    directory = settings.uploads_dir
    directory.mkdir(parents=True, exist_ok=True)
    expire_results(settings)
    upload_id = secrets.token_hex(16)
    partial = directory / f"{upload_id}.csv.partial"
    with partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(RESULT_COLUMNS)
        for txn_id, parsed in rows:
            outcome: Decided | FriskError = (
                parsed if isinstance(parsed, FriskError) else next(outcomes)
            )
            if isinstance(outcome, InvalidEventError):
                failed += 1
                problems.append(
                    UploadProblem(outcome.reason, column=outcome.field, transaction_id=txn_id)
                )
                continue
            if isinstance(outcome, RecordRefusedError):  # the ledger cannot hold this row
                failed += 1
                problems.append(
                    UploadProblem(
                        f"the ledger refused it: {redact(str(outcome))}", transaction_id=txn_id
                    )
                )
                continue
            if isinstance(outcome, FriskError):  # a conflict: the id was decided for another body
                conflicts += 1
                problems.append(UploadProblem(str(outcome), transaction_id=txn_id))
                writer.writerow([txn_id, "conflict", "", "", "", "", "", ""])
                continue
            record = outcome.record
            replayed += outcome.replayed
            actions[record.action] += 1
            writer.writerow(
                [
                    txn_id,
                    "replayed" if outcome.replayed else "decided",
                    record.action,
                    record.tier,
                    record.risk_score,
                    record.score,
                    record.model_version,
                    record.degraded,
                ]
            )
    partial.replace(directory / f"{upload_id}.csv")
    return UploadOutcome(
        upload_id=upload_id,
        rows=report.rows_read,
        scored=sum(actions.values()),
        replayed=replayed,
        invalid=report.invalid_rows + failed,
        conflicts=conflicts,
        duplicates_dropped=report.duplicate_rows_dropped,
        actions=dict(actions),
        problems=tuple(problems[:MAX_PROBLEMS]),
    )


def result_path(settings: Settings, upload_id: str) -> Path:
    """Where the result of upload ``upload_id`` is kept; ``NotFoundError`` for unknown ids and
    for results past ``api.upload_result_hours`` (which are deleted)."""
    path = settings.uploads_dir / f"{upload_id}.csv"
    if not _UPLOAD_ID.match(upload_id) or not path.is_file() or _expired(path, settings):
        path.unlink(missing_ok=True)
        raise NotFoundError(f"no upload {upload_id!r} (results are kept for a limited time)")
    return path


def expire_results(settings: Settings) -> int:
    """Delete result files (and partial ones a crash left) older than ``api.upload_result_hours``;
    the number deleted. Run on every upload, so the directory holds about a day's results."""
    deleted = 0
    directory = settings.uploads_dir
    if not directory.is_dir():
        return 0
    for path in directory.iterdir():
        if path.name.endswith((".csv", ".csv.partial")) and _expired(path, settings):
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


def _expired(path: Path, settings: Settings) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    return age > settings.api.upload_result_hours * 3600


def _event(values: dict[str, object], extras: list[str]) -> dict[str, object]:
    event = {name: values[name] for name in CORE_COLUMNS if values[name] is not None}
    event["extra"] = {name: values[name] for name in extras if values[name] is not None}
    return event


def _invalid(problem: RowProblem) -> UploadProblem:
    return UploadProblem(
        problem.reason,
        row=problem.row,
        column=problem.column,
        transaction_id=problem.transaction_id,
    )
