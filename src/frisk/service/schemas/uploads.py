"""What a CSV upload of transactions did."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["UploadProblemPublic", "UploadPublic"]


class UploadProblemPublic(BaseModel):
    """A row not decided: invalid (with its row and column) or a conflict (with its id)."""

    reason: str
    row: int | None = Field(default=None, description="Data row in the file, from 1.")
    column: str | None = None
    transaction_id: str | None = None


class UploadPublic(BaseModel):
    """What an upload did; the outcome of every decided row is at ``download``."""

    upload_id: str
    download: str = Field(description="GET this path for the outcome per row as CSV.")
    rows: int = Field(description="Data rows in the file.")
    scored: int = Field(description="Rows decided now or answered from the ledger.")
    replayed: int = Field(description="Of those, answered from the ledger (decided before).")
    invalid: int
    conflicts: int = Field(description="Ids decided before for another body; not decided again.")
    duplicates_dropped: int = Field(description="Rows dropped by the mapping's duplicates option.")
    actions: dict[str, int] = Field(description="Scored rows by action.")
    problems: list[UploadProblemPublic] = Field(description="The first problems, in row order.")
