"""POST /v1/uploads (score a CSV or Parquet file) and GET /v1/uploads/{upload_id} (its result)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from frisk.service.auth import ScorerKey
from frisk.service.deps import ScorerDep, StateDep
from frisk.service.schemas import ErrorPublic, UploadProblemPublic, UploadPublic
from frisk.service.uploads import (
    UploadOutcome,
    find_mapping,
    receive_upload,
    result_path,
    score_upload,
)

router = APIRouter(prefix="/v1", tags=["uploads"])

# The body is read by hand (streamed to disk under a size limit), so FastAPI cannot derive it.
_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "mapping": {"type": "string", "description": "A mapping's name."},
                    },
                }
            }
        },
    }
}


@router.post(
    "/uploads",
    response_model=UploadPublic,
    responses={code: {"model": ErrorPublic} for code in (401, 403, 413, 415, 422, 429, 503)},
    openapi_extra=_FORM,
)
async def upload(
    request: Request, state: StateDep, scorer: ScorerDep, _key: ScorerKey
) -> UploadPublic:
    """Decide every row of a CSV or Parquet file (`.csv`, `.parquet`, `.pq`) in the `file` field.

    Synchronous: the answer comes when every row is decided and recorded (many rows per commit),
    so a file holds at most `api.upload_max_rows` rows (10,000 by default) and
    `api.upload_max_bytes` bytes (50 MB); beyond either, 413. The outcome file is kept for
    `api.upload_result_hours` (24 by default), then GET answers 404. `mapping` names a column
    mapping in the mappings directory (its file stem).
    Invalid rows are counted and reported by row, column and reason; the others are decided as by
    `POST /v1/score`, in event-time order: ids decided before answer from the ledger, an id decided
    before for another body is a conflict of that row only. The outcome per row is at `download`.
    """
    settings = state.settings
    directory = Path(tempfile.mkdtemp(prefix="frisk-upload-"))
    try:
        received = await receive_upload(
            request.stream(),
            request.headers.get("content-type", ""),
            directory,
            settings.api.upload_max_bytes,
        )
        name = received.fields.get("mapping", "").strip()
        mapping = find_mapping(settings.mapping_dir, name) if name else None
        outcome = await run_in_threadpool(score_upload, received, mapping, scorer, settings)
    finally:
        await run_in_threadpool(shutil.rmtree, directory, True)
    return _public(outcome)


@router.get(
    "/uploads/{upload_id}",
    response_class=FileResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The outcome per row."},
        **{code: {"model": ErrorPublic} for code in (401, 403, 404, 429)},
    },
)
async def download(upload_id: str, state: StateDep, _key: ScorerKey) -> FileResponse:
    """The outcome of each row of an upload, as CSV."""
    path = result_path(state.settings, upload_id)
    return FileResponse(path, media_type="text/csv", filename=f"upload-{upload_id}.csv")


def _public(outcome: UploadOutcome) -> UploadPublic:
    return UploadPublic(
        upload_id=outcome.upload_id,
        download=f"/v1/uploads/{outcome.upload_id}",
        rows=outcome.rows,
        scored=outcome.scored,
        replayed=outcome.replayed,
        invalid=outcome.invalid,
        conflicts=outcome.conflicts,
        duplicates_dropped=outcome.duplicates_dropped,
        actions=outcome.actions,
        problems=[
            UploadProblemPublic(
                reason=p.reason, row=p.row, column=p.column, transaction_id=p.transaction_id
            )
            for p in outcome.problems
        ],
    )
