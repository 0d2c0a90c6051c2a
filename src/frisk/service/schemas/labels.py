"""Labels in (``LabelCreate``) and out (``LabelPublic``, its history)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from frisk.bounds import EARLIEST, text_problem
from frisk.schema import LabelValue, parse_label
from frisk.service.schemas._fields import Text

__all__ = [
    "LabelChangePublic",
    "LabelCreate",
    "LabelOutcomePublic",
    "LabelPublic",
    "LabelsCreated",
    "LabelsPublic",
    "labels_body_schema",
]


class LabelCreate(BaseModel):
    """One label as a client sends it (alone, or as an item of ``{"labels": [...]}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transaction_id: Annotated[Text, StringConstraints(max_length=256)]
    label: LabelValue = Field(
        description="fraud or legit; 1/0, true/false and yes/no are read as well."
    )
    source: Annotated[Text, StringConstraints(max_length=64)] = Field(
        default="api", description="Where the label comes from: chargeback, review, api, ..."
    )
    label_timestamp: Annotated[AwareDatetime, Field(ge=EARLIEST)] | None = Field(
        default=None,
        description="When the label became known (not in the future); default now. Features "
        "of transactions after this time see it.",
    )

    @field_validator("label", mode="before")
    @classmethod
    def _label(cls, value: object) -> LabelValue:
        return parse_label(value)

    @field_validator("transaction_id", "source")
    @classmethod
    def _printable(cls, value: str) -> str:
        problem = text_problem(value)  # frisk.bounds: the same text rules as a transaction's
        if problem is not None:
            raise ValueError(problem)
        return value


def labels_body_schema(max_batch: int) -> dict[str, Any]:
    """The OpenAPI request body of POST /v1/labels: one label, or {"labels": [...]}."""
    one = LabelCreate.model_json_schema()
    one.pop("title", None)
    defs = one.pop("$defs", {})
    # Inline the enum so the schema stands alone (the body is read by hand, see routes.labels).
    one["properties"]["label"] = {
        "anyOf": [
            {"type": "string", "examples": [v.value for v in LabelValue]},
            {"type": "integer", "enum": [0, 1]},
            {"type": "boolean"},
        ],
        "description": one["properties"]["label"].get("description", ""),
    }
    assert all(name == "LabelValue" for name in defs)
    many = {
        "type": "object",
        "additionalProperties": False,
        "required": ["labels"],
        "properties": {
            "labels": {"type": "array", "items": one, "minItems": 1, "maxItems": max_batch}
        },
    }
    return {
        "required": True,
        "content": {"application/json": {"schema": {"anyOf": [one, many]}}},
    }


class LabelOutcomePublic(BaseModel):
    transaction_id: str
    label: str
    previous: str | None = Field(description="The label before this request (None: none).")
    status: Literal["new", "changed", "unchanged", "unknown"] = Field(
        description="unknown: the ledger holds no decision for this id; the label is stored."
    )


class LabelsCreated(BaseModel):
    """What POST /v1/labels did, in total and per item (in the order sent)."""

    received: int
    applied: int = Field(
        description="Labels handed to the running engine's label features (new or changed, "
        "of a known transaction)."
    )
    new: int
    changed: int
    unchanged: int = Field(description="The same label again: nothing written.")
    unknown: list[str] = Field(description="Ids without a decision in the ledger (stored).")
    labels: list[LabelOutcomePublic]


class LabelPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built from the ledger's records

    transaction_id: str
    label: str
    label_timestamp: datetime
    source: str
    updated_by: str
    updated_at: datetime


class LabelChangePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built from the ledger's records

    previous: str | None
    label: str
    source: str
    changed_by: str
    changed_at: datetime


class LabelsPublic(BaseModel):
    """A transaction's label now, and every change of it, oldest first."""

    label: LabelPublic | None
    history: list[LabelChangePublic]
