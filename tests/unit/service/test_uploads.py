"""POST /v1/uploads and GET /v1/uploads/{id}: the logic of frisk.service.uploads through the app."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

from frisk.errors import InvalidEventError
from frisk.service.uploads import UploadTooLargeError, receive_upload

HEADER = "transaction_id,timestamp,amount,currency,payer_id,payee_id\n"


def rows(*lines: str) -> bytes:
    return (HEADER + "".join(f"{line}\n" for line in lines)).encode()


def row(txn_id: str, amount: str = "120.0", minute: int = 0) -> str:
    return f"{txn_id},2024-03-01T12:{minute:02d}:00+00:00,{amount},EUR,payer-1,payee-1"


def post(
    client: TestClient,
    headers: dict[str, str],
    content: bytes,
    name: str = "events.csv",
    **fields: str,
) -> Any:
    return client.post(
        "/v1/uploads", headers=headers, files={"file": (name, content)}, data=fields or None
    )


def test_csv_is_decided_row_by_row_and_kept_for_download(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    got = post(client, keys["scorer"], rows(row("u-1"), row("u-2", "9000", 1), row("u-3", "x", 2)))
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["rows"], body["scored"], body["invalid"], body["conflicts"]) == (3, 2, 1, 0)
    assert body["actions"] == {"allow": 1, "block": 1}
    assert body["problems"] == [
        {"reason": "'x' is not a number", "row": 3, "column": "amount", "transaction_id": "u-3"}
    ]
    result = client.get(body["download"], headers=keys["admin"])
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(result.text)))
    assert [(r["transaction_id"], r["outcome"], r["action"]) for r in table] == [
        ("u-1", "decided", "allow"),
        ("u-2", "decided", "block"),
    ]


def test_parquet_through_a_named_mapping(
    make_client: Callable[..., TestClient], keys: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    mappings = tmp_path / "maps"
    mappings.mkdir()
    (mappings / "bank").write_text("not a mapping: no .toml suffix")
    (mappings / "bank.toml").write_text(
        '[columns]\ntransaction_id = "ref"\namount = "amt"\n[defaults]\ncurrency = "EUR"\n'
    )
    frame = pl.DataFrame(
        {
            "ref": ["p-2", "p-1"],
            "timestamp": ["2024-03-01T12:05:00+00:00", "2024-03-01T12:00:00+00:00"],
            "amt": [6000.0, 10.0],
            "payer_id": ["a", "a"],
            "payee_id": ["b", "b"],
        }
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    client = make_client(api={"mappings_dir": str(mappings)})
    got = post(client, keys["scorer"], buffer.getvalue(), "events.parquet", mapping="bank")
    assert got.status_code == 200, got.text
    assert got.json()["actions"] == {"allow": 1, "review": 1}
    result = client.get(got.json()["download"], headers=keys["scorer"]).text
    # Event-time order, not file order: the order feature state must see them in.
    assert [r["transaction_id"] for r in csv.DictReader(io.StringIO(result))] == ["p-1", "p-2"]


@pytest.mark.parametrize("name", ["../bank", "a/b", "..", "missing"])
def test_a_bad_mapping_name_is_422(
    client: TestClient, keys: dict[str, dict[str, str]], name: str
) -> None:
    got = post(client, keys["scorer"], rows(row("u-1")), mapping=name)
    assert got.status_code == 422, got.text


def test_a_reused_id_with_another_body_is_a_conflict_of_that_row_only(
    client: TestClient, keys: dict[str, dict[str, str]], amount_engine: Any
) -> None:
    first = post(client, keys["scorer"], rows(row("d-1"), row("d-2", minute=1)))
    assert first.json()["scored"] == 2
    again = post(client, keys["scorer"], rows(row("d-1"), row("d-2", "55.0", 1), row("d-3")))
    body = again.json()
    assert again.status_code == 200, again.text
    assert (body["scored"], body["replayed"], body["conflicts"]) == (2, 1, 1)
    assert body["problems"][0]["transaction_id"] == "d-2"
    assert "already decided" in body["problems"][0]["reason"]
    assert amount_engine.calls == 3  # d-1 and d-2 once each, then d-3


def test_oversized_file_is_413(
    make_client: Callable[..., TestClient], keys: dict[str, dict[str, str]]
) -> None:
    client = make_client(api={"upload_max_bytes": 2048})
    big = rows(*(row(f"big-{i}") for i in range(100)))
    assert post(client, keys["scorer"], big).status_code == 413
    assert post(client, keys["scorer"], rows(row("small"))).status_code == 200


def test_too_many_rows_is_413(
    make_client: Callable[..., TestClient], keys: dict[str, dict[str, str]]
) -> None:
    client = make_client(api={"upload_max_rows": 2})
    got = post(client, keys["scorer"], rows(*(row(f"r-{i}") for i in range(3))))
    assert got.status_code == 413
    assert "upload_max_rows" in got.json()["message"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("events.xlsx", rows(row("u-1"))),
        ("events.parquet", rows(row("u-1"))),  # text named as Parquet
        ("events.csv", b"PK\x03\x04\x00\x00\xff\xfe binary"),
    ],
)
def test_wrong_type_is_415(
    client: TestClient, keys: dict[str, dict[str, str]], name: str, content: bytes
) -> None:
    assert post(client, keys["scorer"], content, name).status_code == 415


def test_a_form_without_a_file_or_not_a_form(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    no_file = client.post("/v1/uploads", headers=keys["scorer"], data={"mapping": "x"})
    assert no_file.status_code in (415, 422)
    as_json = client.post("/v1/uploads", headers=keys["scorer"], json={"file": "x"})
    assert as_json.status_code == 415


def test_roles_and_unknown_ids(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    assert post(client, keys["analyst"], rows(row("u-1"))).status_code == 403
    assert post(client, keys["admin"], rows(row("u-1"))).status_code == 200
    assert client.get("/v1/uploads/" + "0" * 32, headers=keys["scorer"]).status_code == 404
    assert client.get("/v1/uploads/..%2Fx", headers=keys["scorer"]).status_code == 404
    assert client.get("/v1/uploads/" + "0" * 32, headers=keys["analyst"]).status_code == 403


async def _chunked(body: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(body), size):
        yield body[at : at + size]


def _form(boundary: str, content: bytes) -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="mapping"\r\n\r\nbank\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="e.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_the_parser_finds_boundaries_across_chunks(tmp_path: Path, chunk: int) -> None:
    # A file that holds the boundary's prefix, so a split delimiter must not end the part early.
    content = rows(row("u-1")) + b"\r\n--bound\r\n--boun"
    body = _form("bound-x", content)
    got = asyncio.run(
        receive_upload(
            _chunked(body, chunk), "multipart/form-data; boundary=bound-x", tmp_path, 10**6
        )
    )
    assert got.path.read_bytes() == content
    assert got.fields == {"mapping": "bank"}


def test_the_parser_stops_at_the_limit_while_streaming(tmp_path: Path) -> None:
    read = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal read
        yield _form("b", b"")[:-7]  # headers, then a file that never ends
        while True:
            read += 1
            yield b"x" * 1024

    with pytest.raises(UploadTooLargeError):
        asyncio.run(receive_upload(endless(), "multipart/form-data; boundary=b", tmp_path, 10_000))
    assert read < 20


def test_a_truncated_form_is_invalid(tmp_path: Path) -> None:
    body = _form("b", rows(row("u-1")))[:-20]
    with pytest.raises(InvalidEventError):
        asyncio.run(
            receive_upload(_chunked(body, 50), "multipart/form-data; boundary=b", tmp_path, 10**6)
        )


def test_many_rows_share_commits_and_retries_replay(
    client: TestClient, keys: dict[str, dict[str, str]], ledger: Any, amount_engine: Any
) -> None:
    lines = [row(f"m-{i}", f"{10 + i}.5", i % 60) for i in range(300)]
    first = post(client, keys["scorer"], rows(*lines)).json()
    assert (first["rows"], first["scored"], first["replayed"]) == (300, 300, 0)
    assert amount_engine.calls == 300
    assert all(ledger.has_decision(f"m-{i}") for i in range(300))
    again = post(client, keys["scorer"], rows(*lines)).json()
    assert (again["scored"], again["replayed"]) == (300, 300)
    assert amount_engine.calls == 300


def test_score_many_commits_in_chunks_and_reports_each_row(ledger: Any, amount_engine: Any) -> None:
    from frisk.errors import ConflictError
    from frisk.schema import Transaction
    from frisk.service.metrics import ServiceMetrics
    from frisk.service.scoring import Decided, Scorer
    from frisk.service.stats import LiveStats

    commits: list[int] = []

    def record_many(records: list[Any]) -> list[Any]:
        commits.append(len(records))
        return ledger.record_decisions(records)

    scorer = Scorer(
        ledger, amount_engine, ServiceMetrics(), LiveStats(100), record_many=record_many
    )

    def txn(i: int, amount: float = 10.0) -> Transaction:
        return Transaction.parse(
            {"transaction_id": f"s-{i}", "timestamp": "2024-03-01T12:00:00+00:00",
             "amount": amount, "currency": "EUR", "payer_id": "p", "payee_id": "q"}
        )  # fmt: skip

    txns = [txn(i) for i in range(300)]
    txns[10] = txn(5)  # the same id and body again within a chunk: decided once, then replayed
    txns[20] = txn(6, amount=99.0)  # the same id, another body: a conflict of that row
    got = scorer.decide_many(txns)
    # The repeat of s-5 flushed the 10 pending; s-5 and s-6 again were not decided.
    assert commits == [10, 128 - 10 - 2, 128, 44]
    assert isinstance(got[5], Decided)
    assert not got[5].replayed
    assert isinstance(got[10], Decided)
    assert got[10].replayed
    assert isinstance(got[20], ConflictError)
    assert amount_engine.calls == 298
    assert sum(isinstance(g, Decided) and not g.replayed for g in got) == 298


def test_results_expire(
    make_client: Callable[..., TestClient], keys: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    import os
    import time

    client = make_client(api={"upload_result_hours": 1})
    body = post(client, keys["scorer"], rows(row("e-1"))).json()
    assert client.get(body["download"], headers=keys["scorer"]).status_code == 200
    directory = tmp_path / "uploads"
    result = directory / f"{body['upload_id']}.csv"
    stale = directory / f"{'0' * 32}.csv.partial"  # what a crash mid-upload leaves
    stale.write_text("transaction_id\n")
    old = time.time() - 2 * 3600
    os.utime(result, (old, old))
    os.utime(stale, (old, old))
    r = client.get(body["download"], headers=keys["scorer"])
    assert r.status_code == 404
    assert not result.exists()
    post(client, keys["scorer"], rows(row("e-2")))  # every upload sweeps what has expired
    assert not stale.exists()
    assert len(list(directory.glob("*.csv"))) == 1


def test_a_row_the_ledger_refuses_fails_alone_and_is_named(
    client: TestClient,
    keys: dict[str, dict[str, str]],
    ledger: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ledger that cannot hold one row's content: the chunk is recorded row by row, the row is
    a failed row naming its id, the others are decided (the whole upload failed before)."""
    from frisk.errors import RecordRefusedError

    record_decisions = ledger.record_decisions

    def refusing(records: Any) -> Any:
        if any(r.transaction_id == "u-2" for r in records):
            raise RecordRefusedError("recording: the ledger cannot hold it")
        return record_decisions(records)

    monkeypatch.setattr(ledger, "record_decisions", refusing)
    got = post(client, keys["scorer"], rows(row("u-1"), row("u-2", minute=1), row("u-3", minute=2)))
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["rows"], body["scored"], body["invalid"], body["conflicts"]) == (3, 2, 1, 0)
    [problem] = body["problems"]
    assert problem["transaction_id"] == "u-2"
    assert "refused" in problem["reason"]
    assert [ledger.has_decision(f"u-{i}") for i in (1, 2, 3)] == [True, False, True]
