"""API keys through the API: created (the key shown once), listed, revoked."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from frisk.schema import Role

__all__ = ["KeyCreate", "KeyCreated", "KeyPublic", "KeysPublic"]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    name: str = Field(default="", max_length=128, description="Who or what uses the key.")
    rate_limit: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="Requests per second for this key (a batch counts each transaction); "
        "default: its role's (security.rate_limit: scorer keys 2000/s, others 200/s).",
    )


class KeyPublic(BaseModel):
    """A key as stored: never the key itself."""

    model_config = ConfigDict(from_attributes=True)  # built from the ledger's records

    key_id: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None
    rate_limit: float | None = Field(description="Its own requests per second; null: its role's.")


class KeyCreated(KeyPublic):
    key: str = Field(description="The key, shown this once: only its hash is stored.")


class KeysPublic(BaseModel):
    items: list[KeyPublic]
