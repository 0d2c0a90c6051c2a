"""Allow and block lists and their entries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field

from frisk.service.schemas._fields import FreeText, ListName

__all__ = [
    "ListChangePublic",
    "ListCreate",
    "ListDetailPublic",
    "ListEntriesCreate",
    "ListEntryCreate",
    "ListEntryPublic",
    "ListPublic",
    "ListUpdate",
    "ListsPublic",
]


class ListUpdate(BaseModel):
    kind: Literal["allow", "block"]
    field: Annotated[str, Field(max_length=128)] | None = Field(
        default=None, description="Makes a hard list: this transaction field is checked first."
    )
    description: FreeText = ""


class ListCreate(ListUpdate):
    name: ListName


class ListPublic(BaseModel):
    name: str
    kind: str
    field: str | None
    description: str
    size: int = Field(description="Entries, expired ones included.")
    updated_by: str
    updated_at: datetime


class ListsPublic(BaseModel):
    version: int
    lists: list[ListPublic]


class ListEntryCreate(BaseModel):
    value: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]
    expires_at: AwareDatetime | None = Field(default=None, description="Stops matching then.")
    note: FreeText = ""


class ListEntriesCreate(BaseModel):
    entries: list[ListEntryCreate] = Field(min_length=1, max_length=10_000)


class ListEntryPublic(BaseModel):
    value: str
    expires_at: datetime | None
    note: str
    added_by: str
    added_at: datetime
    expired: bool


class ListDetailPublic(ListPublic):
    entries: list[ListEntryPublic] = Field(description="By value; page with cursor.")
    next_cursor: str | None


class ListChangePublic(BaseModel):
    list: str
    changed: int
    version: int = Field(description="The lists' version after the change.")
