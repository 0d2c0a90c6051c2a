"""POST /v1/labels and GET /v1/labels/{transaction_id}: outcomes flowing back (analyst, admin).

A label is written to the ledger first (a changed one keeps its history), then handed to the
running engine's label features, which see it from its ``label_timestamp`` on; the order and its
lock are ``frisk.engine.labels``', shared with stream consumers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from frisk.engine import labels as engine_labels
from frisk.engine.labels import LABEL_WRITES
from frisk.errors import InvalidEventError, NotFoundError
from frisk.service.auth import AnalystKey, Principal
from frisk.service.deps import LedgerDep, ServiceState, StateDep
from frisk.service.schemas import (
    ErrorPublic,
    LabelChangePublic,
    LabelCreate,
    LabelOutcomePublic,
    LabelPublic,
    LabelsCreated,
    LabelsPublic,
    labels_body_schema,
)
from frisk.store.ledger import LabelOutcome, LabelWrite

__all__ = [
    "LABEL_WRITES",
    "actor_of",
    "apply_labels",
    "checked_text",
    "parse_labels",
    "record_labels",
    "router",
]

router = APIRouter(prefix="/v1", tags=["labels"])

# Documented bound of a batch; the configured one (settings.api.max_batch) is enforced.
_DOC_MAX_BATCH = 10_000


@router.post(
    "/labels",
    response_model=LabelsCreated,
    responses={code: {"model": ErrorPublic} for code in (401, 403, 409, 413, 422, 429, 503)},
    openapi_extra={"requestBody": labels_body_schema(_DOC_MAX_BATCH)},
)
async def post_labels(request: Request, state: StateDep, key: AnalystKey) -> LabelsCreated:
    """Store labels (one object, or ``{"labels": [...]}``) and apply them to feature state.

    Every item is checked before any is written: one invalid item is a 422 naming
    ``labels[i].field``, and nothing is stored. Ids without a decision are stored and listed in
    ``unknown``.
    """
    payload = await _json(request)
    writes = parse_labels(payload, max_batch=state.settings.api.max_batch, now=datetime.now(UTC))
    actor = await actor_of(state, key)
    outcomes, applied = await run_in_threadpool(record_labels, state, writes, actor)
    items = [
        LabelOutcomePublic(
            transaction_id=o.record.transaction_id,
            label=o.record.label,
            previous=o.previous,
            status="unknown" if not o.known else o.status.value,
        )
        for o in outcomes
    ]
    return LabelsCreated(
        received=len(items),
        applied=applied,
        new=sum(i.status == "new" for i in items),
        changed=sum(i.status == "changed" for i in items),
        unchanged=sum(i.status == "unchanged" for i in items),
        unknown=list(dict.fromkeys(i.transaction_id for i in items if i.status == "unknown")),
        labels=items,
    )


@router.get(
    "/labels/{transaction_id}",
    response_model=LabelsPublic,
    responses={code: {"model": ErrorPublic} for code in (401, 403, 404, 429)},
)
async def get_label(transaction_id: str, ledger: LedgerDep, _key: AnalystKey) -> LabelsPublic:
    """The transaction's label and its history (who changed it, when, from what)."""
    checked_text(transaction_id, "transaction_id")

    def read() -> LabelsPublic:
        record = ledger.get_label(transaction_id)
        history = ledger.label_history(transaction_id)
        if record is None and not history:
            raise NotFoundError(f"no label for transaction {transaction_id!r}")
        return LabelsPublic(
            label=None if record is None else LabelPublic.model_validate(record),
            history=[LabelChangePublic.model_validate(h) for h in history],
        )

    return await run_in_threadpool(read)


def parse_labels(payload: Any, *, max_batch: int, now: datetime) -> list[LabelWrite]:
    """Check every label of a request body; the first problem raises, naming its item."""
    if isinstance(payload, dict) and "labels" in payload:
        extra = sorted(set(payload) - {"labels"})
        if extra:
            raise InvalidEventError(extra[0], payload[extra[0]], "unexpected beside 'labels'")
        items = payload["labels"]
        if not isinstance(items, list) or not 1 <= len(items) <= max_batch:
            size = len(items) if isinstance(items, list) else items
            raise InvalidEventError("labels", size, f"a list of 1 to {max_batch} labels")
        prefixes = [f"labels[{i}]." for i in range(len(items))]
    else:
        items, prefixes = [payload], [""]
    writes = []
    for item, prefix in zip(items, prefixes, strict=True):
        if not isinstance(item, dict):
            raise InvalidEventError(prefix.rstrip(".") or "body", item, "must be a label object")
        try:
            label = LabelCreate.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "label"
            reason = str(err["msg"]).removeprefix("Value error, ")
            raise InvalidEventError(prefix + field, item.get(field), reason) from None
        at = label.label_timestamp or now
        if at > now:
            raise InvalidEventError(prefix + "label_timestamp", at.isoformat(), "is in the future")
        writes.append(LabelWrite(label.transaction_id, label.label.value, at, label.source))
    return writes


def record_labels(
    state: ServiceState, writes: Sequence[LabelWrite], actor: str
) -> tuple[list[LabelOutcome], int]:
    """Write labels to the ledger, then apply them to the engine (``frisk.engine.labels``)."""
    return engine_labels.record_labels(state.ledger, state.decision_engine, writes, actor)


def apply_labels(state: ServiceState, outcomes: Sequence[LabelOutcome]) -> int:
    """``frisk.engine.labels.apply_labels`` on the service's engine; hold ``LABEL_WRITES``."""
    return engine_labels.apply_labels(state.decision_engine, outcomes)


async def actor_of(state: ServiceState, key: Principal) -> str:
    """Who a key is in histories and the audit log: its name (its log id if it is gone)."""
    record = await state.keys.get(key.key_id)
    return record.name if record is not None else key.log_id


def checked_text(value: str | None, field: str) -> str | None:
    """``value`` unless it holds a NUL, which no stored text can (PostgreSQL refuses it)."""
    if value is not None and "\x00" in value:
        raise InvalidEventError(field, value, "must not contain NUL characters")
    return value


async def _json(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEventError("body", None, f"not valid JSON ({exc})") from None
