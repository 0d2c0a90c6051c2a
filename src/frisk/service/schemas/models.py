"""The models serving and registered, promotions and the shadow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["ModelPublic", "ModelVersionPublic", "ModelsPublic", "PromotePublic", "ShadowCreate"]


class ModelPublic(BaseModel):
    """The model deciding now."""

    version: str
    catalogue_version: str | None = None
    thresholds: dict[str, float] | None = Field(
        default=None, description="Cut points on the score: medium, review, block."
    )
    loaded_at: datetime | None = None
    source: str | None = None
    features: int | None = None


class ModelVersionPublic(BaseModel):
    """A registered model version."""

    version: str
    stage: str = Field(description="production, shadow, archived (served once) or candidate.")
    created_at: str | None = None
    training: dict[str, Any] = Field(
        default_factory=dict, description="Training window, rows and frauds."
    )
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="Validation metrics recorded at training."
    )
    report: bool = Field(description="GET /v1/models/{version}/report has an HTML report.")


class ModelsPublic(BaseModel):
    serving: ModelPublic | None = Field(description="None while no engine is loaded.")
    shadow: ModelPublic | None = Field(
        default=None,
        description="The challenger scoring in shadow; its decisions are recorded "
        "in shadow_decisions, never returned.",
    )
    shadow_error: str | None = Field(
        default=None, description="Why the configured shadow model is not loaded."
    )
    reload_error: str | None = Field(
        default=None,
        description="Why the registry's production version is not served (the previous model "
        "keeps serving).",
    )
    versions: list[ModelVersionPublic] = Field(
        default_factory=list, description="Registered versions, oldest first (registry only)."
    )


class PromotePublic(BaseModel):
    version: str = Field(min_length=1, max_length=128, description="A registered version.")


class ShadowCreate(BaseModel):
    version: str | None = Field(
        default=None, max_length=128, description="A registered version; null stops shadowing."
    )
