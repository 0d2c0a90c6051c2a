"""Artifacts: round trip, and every way a damaged or mismatched one is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from frisk.errors import ArtifactError
from frisk.models import Thresholds, load_model, save_model
from frisk.models.artifact import ARTIFACT_FILES
from frisk.models.train import Trainer


@pytest.fixture
def saved(trained: Trainer, tmp_path: Path) -> Path:
    return save_model(trained.model_, tmp_path / "model")


def test_round_trip_gives_identical_scores(
    trained: Trainer, saved: Path, synthetic: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    _, features = synthetic
    loaded = load_model(saved)
    assert np.array_equal(loaded.score_many(features), trained.model_.score_many(features))
    assert loaded.thresholds == trained.model_.thresholds
    row = list(features.drop("transaction_id").row(123))
    assert loaded.score_one(row) == pytest.approx(
        trained.model_.score_many(features)[123], abs=1e-12
    )
    assert loaded.metadata["artifact_id"] == trained.model_.metadata["artifact_id"]
    assert sorted(p.name for p in saved.iterdir()) == sorted(ARTIFACT_FILES)


def test_existing_directory_is_not_overwritten_by_accident(trained: Trainer, saved: Path) -> None:
    with pytest.raises(ArtifactError, match="already exists"):
        save_model(trained.model_, saved)
    save_model(trained.model_.with_thresholds(Thresholds(0.1, 0.2, 0.3)), saved, overwrite=True)
    assert load_model(saved).thresholds == Thresholds(0.1, 0.2, 0.3)


def test_missing_file(saved: Path) -> None:
    (saved / "calibration.json").unlink()
    with pytest.raises(ArtifactError, match=r"lacks calibration\.json"):
        load_model(saved)
    with pytest.raises(ArtifactError, match="no such directory"):
        load_model(saved / "nowhere")


def test_corrupt_json(saved: Path) -> None:
    (saved / "metadata.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"metadata\.json: corrupt JSON"):
        load_model(saved)


def test_corrupt_booster(saved: Path) -> None:
    (saved / "model.txt").write_text("tree\nversion=v4\nthis is not a model\n")
    with pytest.raises(ArtifactError, match=r"model\.txt: not a LightGBM model"):
        load_model(saved)


def test_edited_file_fails_its_checksum(saved: Path) -> None:
    thresholds = json.loads((saved / "thresholds.json").read_text())
    thresholds["review"] = thresholds["block"]
    (saved / "thresholds.json").write_text(json.dumps(thresholds))
    with pytest.raises(ArtifactError, match=r"thresholds\.json was changed or corrupted"):
        load_model(saved)


def _edit_metadata(path: Path, key: str, value: object) -> None:
    metadata = json.loads((path / "metadata.json").read_text())
    metadata[key] = value
    (path / "metadata.json").write_text(json.dumps(metadata))


def test_other_lightgbm_version_is_refused(saved: Path) -> None:
    _edit_metadata(saved, "versions", {"lightgbm": "3.3.5"})
    with pytest.raises(
        ArtifactError, match=r"trained with lightgbm 3\.3\.5.*install lightgbm==3\.3\.5"
    ):
        load_model(saved)


def test_catalogue_version_mismatch_is_refused(saved: Path) -> None:
    _edit_metadata(saved, "catalogue", {"name": "test", "version": "v2"})
    with pytest.raises(ArtifactError, match="catalogue version 'v1' does not match version 'v2'"):
        load_model(saved)


def test_unknown_schema_version(saved: Path) -> None:
    _edit_metadata(saved, "schema_version", 99)
    with pytest.raises(ArtifactError, match="schema version 99"):
        load_model(saved)


def test_booster_features_must_match(saved: Path, tmp_path: Path) -> None:
    metadata = json.loads((saved / "metadata.json").read_text())
    metadata["features"]["names"] = list(reversed(metadata["features"]["names"]))
    (saved / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match=r"model\.txt: the booster reads"):
        load_model(saved)
    shutil.rmtree(saved)
