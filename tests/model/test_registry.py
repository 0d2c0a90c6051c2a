"""The registry: versions, production pointer, promote and rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from frisk.errors import ArtifactError, ConflictError, NotFoundError
from frisk.models import Thresholds
from frisk.models.registry import Registry
from frisk.models.train import Trainer

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_register_promote_rollback(
    trained: Trainer, tmp_path: Path, synthetic: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    registry = Registry(tmp_path / "registry")
    model = trained.model_
    assert registry.versions() == []
    assert registry.production() is None
    a = registry.register(model, now=T0)
    b = registry.register(
        model.with_thresholds(Thresholds(0.1, 0.2, 0.3)), now=T0 + timedelta(seconds=1)
    )
    c = registry.register(model, now=T0 + timedelta(seconds=2))
    assert a.startswith("m-20240301-120000-")
    assert len(a.rsplit("-", 1)[1]) == 6
    assert registry.versions() == [a, b, c]

    registry.promote(a)
    registry.promote(b)
    registry.promote(c)
    assert registry.production() == c
    assert [e.in_production for e in registry.entries()] == [False, False, True]
    assert registry.rollback() == b
    assert registry.load().thresholds == Thresholds(0.1, 0.2, 0.3)
    assert registry.load().version == b
    assert registry.rollback() == a
    with pytest.raises(NotFoundError, match="nothing before it"):
        registry.rollback()
    registry.promote(c)
    assert registry.rollback() == a
    assert [h["action"] for h in registry.history()][-2:] == ["promote", "rollback"]

    _, features = synthetic
    assert registry.load(c).score_many(features.head(5)).shape == (5,)
    with pytest.raises(ConflictError, match="in production"):
        registry.remove(a)
    registry.remove(b)
    assert registry.versions() == [a, c]


def test_unknown_version_and_empty_registry(trained: Trainer, tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    with pytest.raises(NotFoundError, match="no model is in production"):
        registry.load()
    with pytest.raises(NotFoundError, match="nothing to roll back"):
        registry.rollback()
    with pytest.raises(NotFoundError, match="'m-nope' is not registered"):
        registry.promote("m-nope")
    version = registry.register(trained.model_, now=T0)
    with pytest.raises(ConflictError, match="already registered"):
        registry.register(trained.model_, now=T0)
    assert registry.versions() == [version]


def test_a_broken_artifact_is_never_promoted(trained: Trainer, tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    version = registry.register(trained.model_, now=T0)
    (registry.path(version) / "model.txt").write_text("garbage")
    with pytest.raises(ArtifactError, match="not a LightGBM model"):
        registry.promote(version)
    assert registry.production() is None
