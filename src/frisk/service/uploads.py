"""Scoring a whole file: receive a multipart upload, read it through a mapping, decide each row.

``receive_upload`` streams the request body to a temporary file and refuses it once it passes the
size limit, so a large upload never sits in memory. ``score_upload`` reads it with
``read_events(skip_invalid=True)``, so bad rows are reported (row, column, reason) rather than
refusing the file, and decides each valid row through the same ``Scorer`` as ``POST /v1/score``:
an id already decided answers from the ledger, one reused for another body is a per-row conflict.
Rows are decided in event-time order (the importer's order; ties keep file order), the order
feature state must see them in, and recorded many per commit (``Decider.decide_many``). The outcome
per row is kept as ``<home>/uploads/<id>.csv`` for ``api.upload_result_hours``.

The multipart parser is our own, about 80 lines: python-multipart is not a dependency, and the
size limit has to act on the file part while it streams, which ``Request.form()`` does not do.
"""

from __future__ import annotations

import codecs
import csv
import re
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from frisk.config import Settings
from frisk.data.importer import read_events
from frisk.data.mapping import Mapping
from frisk.data.table import extra_columns
from frisk.errors import (
    FriskError,
    InvalidEventError,
    MappingError,
    NotFoundError,
    RowProblem,
)
from frisk.schema import CORE_COLUMNS, Transaction

# The upload errors live with the one error-to-status table (service.errors).
from frisk.service.errors import UnsupportedUploadError, UploadTooLargeError
from frisk.service.scoring import Decided, Scorer

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
_PARAM = re.compile(r';\s*([A-Za-z*]+)="([^"]*)"')
_MAX_HEADERS: Final = 16 * 1024
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
    token = _boundary(content_type)
    if token is None:
        raise UnsupportedUploadError("send the file as multipart/form-data in a field named 'file'")
    reader = _Reader(body.__aiter__())
    delimiter = b"\r\n--" + token.encode("latin-1")
    # The first delimiter may open the body, without the CRLF every later one has.
    await reader.pipe_until(delimiter[2:], _discard)
    fields: dict[str, str] = {}
    saved: Received | None = None
    while True:
        after = await reader.take(2)
        if after == b"--":
            break
        if after != b"\r\n":
            raise _malformed("a part delimiter is followed by neither CRLF nor '--'")
        headers = (await reader.take_until(b"\r\n\r\n", _MAX_HEADERS)).decode("latin-1")
        name, filename = _disposition(headers)
        if filename is None:
            value = bytearray()
            await reader.pipe_until(delimiter, _capped(value, name))
            fields[name] = value.decode("utf-8", errors="replace")
        elif name == "file" and saved is None:
            saved = await _save_file(reader, delimiter, filename, directory, max_bytes)
        else:
            raise _malformed(f"unexpected file field {name!r}; send one file, named 'file'")
    if saved is None:
        raise InvalidEventError("file", None, "the form has no file field named 'file'")
    return Received(saved.path, saved.filename, fields)


async def _save_file(
    reader: _Reader, delimiter: bytes, filename: str, directory: Path, max_bytes: int
) -> Received:
    suffix = next((s for s in SUFFIXES if filename.lower().endswith(s)), None)
    if suffix is None:
        raise UnsupportedUploadError(
            f"file {filename!r}: expected a name ending in {', '.join(SUFFIXES)}"
        )
    path = directory / f"upload{suffix}"
    size = 0
    # Plain writes on the loop: chunks are at most a socket read, and the page cache takes them
    # in microseconds; a thread hop per chunk would cost more than the write.
    with path.open("wb") as out:

        def write(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > max_bytes:
                raise UploadTooLargeError(f"file {filename!r} is over {max_bytes} bytes")
            out.write(chunk)

        await reader.pipe_until(delimiter, write)
    _sniff(path, filename)
    return Received(path, filename, {})


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


def _boundary(content_type: str) -> str | None:
    kind, *params = content_type.split(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            return value.strip().strip('"') or None
    return None


def _disposition(headers: str) -> tuple[str, str | None]:
    for line in headers.split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-disposition":
            params = dict(_PARAM.findall(value))
            if "name" not in params:
                break
            return params["name"], params.get("filename")
    raise _malformed("a part has no Content-Disposition with a name")


def _capped(value: bytearray, name: str) -> Callable[[bytes], None]:
    def append(chunk: bytes) -> None:
        value.extend(chunk)
        if len(value) > _MAX_FIELD:
            raise InvalidEventError(name, None, f"a form field holds at most {_MAX_FIELD} bytes")

    return append


def _discard(_chunk: bytes) -> None:
    pass


def _malformed(reason: str) -> InvalidEventError:
    return InvalidEventError("body", None, f"not a well-formed multipart form: {reason}")


class _Reader:
    """A byte stream read up to separators; what precedes one can be streamed to a sink."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()

    async def _fill(self) -> None:
        try:
            self._buffer += await anext(self._chunks)
        except StopAsyncIteration:
            raise _malformed("the body ends early") from None

    async def take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._fill()
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken

    async def take_until(self, separator: bytes, limit: int) -> bytes:
        while (at := self._buffer.find(separator)) < 0:
            if len(self._buffer) > limit:
                raise _malformed(f"part headers over {limit} bytes")
            await self._fill()
        taken = bytes(self._buffer[:at])
        del self._buffer[: at + len(separator)]
        return taken

    async def pipe_until(self, separator: bytes, sink: Callable[[bytes], None]) -> None:
        keep = len(separator) - 1  # a separator may straddle two chunks
        while (at := self._buffer.find(separator)) < 0:
            if len(self._buffer) > keep:
                sink(bytes(self._buffer[:-keep]))
                del self._buffer[:-keep]
            await self._fill()
        sink(bytes(self._buffer[:at]))
        del self._buffer[: at + len(separator)]


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
    """Read the received file and decide its valid rows in order; keep the result as a CSV."""
    result = read_events(received.path, mapping, skip_invalid=True)
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
    return UploadProblem(problem.reason, row=problem.row, column=problem.column)
