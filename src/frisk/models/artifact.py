"""Model artifacts: a directory holding everything needed to score, checked when loaded.

    model.txt          the LightGBM booster (text format, best iteration only)
    catalogue.json     the feature catalogue (``Catalogue.to_dict()``)
    encoding.json      categorical vocabularies
    calibration.json   calibrator knots and values
    thresholds.json    review / block / medium cut points
    metadata.json      schema version, training window, counts, metrics, data fingerprint, library
                       versions, drift reference, and a SHA-256 of every other file

Loading refuses, with ``ArtifactError`` naming the file and the problem: a missing file, corrupt
JSON or booster, a catalogue whose version differs from the one recorded, features that differ
between booster and catalogue, a file changed since it was written, and a LightGBM version other
than the one installed (another version can load the same text and give other probabilities).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from frisk.errors import ArtifactError, FeatureError, ModelError
from frisk.models.calibration import Calibrator
from frisk.models.dataset import FeatureSpec
from frisk.models.encoding import CategoryEncoder
from frisk.models.lightgbm_import import import_lightgbm
from frisk.models.scoring import FraudModel
from frisk.models.thresholds import Thresholds

__all__ = ["ARTIFACT_FILES", "SCHEMA_VERSION", "artifact_id", "load_model", "save_model"]

SCHEMA_VERSION: Final = 1
MODEL_FILE: Final = "model.txt"
METADATA_FILE: Final = "metadata.json"
ARTIFACT_FILES: Final = (
    MODEL_FILE,
    "catalogue.json",
    "encoding.json",
    "calibration.json",
    "thresholds.json",
    METADATA_FILE,
)


def save_model(model: FraudModel, path: Path, *, overwrite: bool = False) -> Path:
    """Write ``model`` as an artifact directory at ``path``; all files appear at once.

    The files are written to a temporary sibling directory that is then renamed into place, so a
    reader never sees half an artifact. An existing non-empty ``path`` is refused unless
    ``overwrite``.
    """
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise ArtifactError(f"{str(path)!r} already exists and is not empty (overwrite it?)")
    files = artifact_files(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        if path.exists():
            retired = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, retired)
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ArtifactError(f"cannot write model artifact {str(path)!r}: {exc}") from exc
    return path


def artifact_files(model: FraudModel) -> dict[str, str]:
    """The text of every artifact file; ``metadata.json`` carries the others' checksums."""
    booster_text: str = model.booster.model_to_string()
    files = {
        MODEL_FILE: booster_text,
        "catalogue.json": _dumps(model.catalogue),
        "encoding.json": _dumps(model.encoder.to_dict()),
        "calibration.json": _dumps(model.calibrator.to_dict()),
        "thresholds.json": _dumps(model.thresholds.to_dict()),
    }
    metadata = dict(model.metadata)
    metadata["schema_version"] = SCHEMA_VERSION
    metadata["features"] = model.spec.to_dict()
    metadata.setdefault("artifact_id", artifact_id(booster_text, metadata))
    metadata["checksums"] = {name: _sha256(text) for name, text in files.items()}
    files[METADATA_FILE] = _dumps(metadata)
    return files


def load_model(path: Path, *, num_threads: int = 0) -> FraudModel:
    """Load and check an artifact directory; raises ``ArtifactError`` saying what is wrong."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"model artifact {str(path)!r}: no such directory")
    missing = [name for name in ARTIFACT_FILES if not (path / name).is_file()]
    if missing:
        raise ArtifactError(f"model artifact {str(path)!r} lacks {', '.join(missing)}")
    texts = {name: _read(path, name) for name in ARTIFACT_FILES}
    metadata = _json(path, METADATA_FILE, texts[METADATA_FILE])
    _check_versions(path, metadata)
    catalogue = _json(path, "catalogue.json", texts["catalogue.json"])
    spec = _spec(path, metadata)
    _check_catalogue(path, catalogue, metadata, spec)
    booster = _booster(path, texts[MODEL_FILE], spec)
    encoder = CategoryEncoder.from_dict(_json(path, "encoding.json", texts["encoding.json"]))
    if sorted(encoder.columns) != sorted(spec.categorical):
        raise ArtifactError(
            f"{_where(path, 'encoding.json')}: vocabularies for {encoder.columns}, "
            f"but the categorical features are {list(spec.categorical)}"
        )
    calibrator = Calibrator.from_dict(_json(path, "calibration.json", texts["calibration.json"]))
    thresholds = Thresholds.from_dict(_json(path, "thresholds.json", texts["thresholds.json"]))
    _check_checksums(path, metadata, texts)
    return FraudModel(
        booster,
        spec,
        encoder,
        calibrator,
        thresholds,
        catalogue=catalogue,
        metadata=metadata,
        num_threads=num_threads,
    )


def artifact_id(booster_text: str, metadata: Mapping[str, Any]) -> str:
    """A short content id: the booster and the training data fingerprint."""
    digest = hashlib.sha256(booster_text.encode("utf-8"))
    digest.update(str(metadata.get("data_fingerprint", "")).encode("utf-8"))
    return digest.hexdigest()[:12]


def _check_versions(path: Path, metadata: Mapping[str, Any]) -> None:
    lightgbm = import_lightgbm()

    schema = metadata.get("schema_version")
    if schema != SCHEMA_VERSION:
        raise ArtifactError(
            f"{_where(path, METADATA_FILE)}: artifact schema version {schema!r}; "
            f"this Frisk reads version {SCHEMA_VERSION}"
        )
    trained_with = (metadata.get("versions") or {}).get("lightgbm")
    if trained_with != lightgbm.__version__:
        raise ArtifactError(
            f"model artifact {str(path)!r} was trained with lightgbm {trained_with}, but lightgbm "
            f"{lightgbm.__version__} is installed; install lightgbm=={trained_with} or retrain "
            "(another version may silently give other probabilities)"
        )


def _spec(path: Path, metadata: Mapping[str, Any]) -> FeatureSpec:
    try:
        features = metadata["features"]
        return FeatureSpec(
            tuple(str(n) for n in features["names"]),
            tuple(str(n) for n in features["categorical"]),
        )
    except (KeyError, TypeError, ModelError) as exc:
        raise ArtifactError(f"{_where(path, METADATA_FILE)}: bad feature list ({exc})") from exc


def _check_catalogue(
    path: Path, catalogue: Mapping[str, Any], metadata: Mapping[str, Any], spec: FeatureSpec
) -> None:
    recorded = (metadata.get("catalogue") or {}).get("version")
    stored = catalogue.get("version")
    if recorded != stored:
        raise ArtifactError(
            f"{_where(path, 'catalogue.json')}: catalogue version {stored!r} does not match "
            f"version {recorded!r} recorded in metadata.json"
        )
    rebuilt = _rebuilt_version(path, catalogue)
    if rebuilt is not None and rebuilt != stored:
        raise ArtifactError(
            f"{_where(path, 'catalogue.json')}: its definitions give catalogue version "
            f"{rebuilt!r}, not the recorded {stored!r}"
        )
    names = catalogue.get("names")
    if names is not None and list(names) != list(spec.names):
        raise ArtifactError(
            f"{_where(path, 'catalogue.json')}: the catalogue's features differ from the "
            "model's feature list in metadata.json"
        )


def _rebuilt_version(path: Path, catalogue: Mapping[str, Any]) -> str | None:
    """The version the feature engine derives from the stored catalogue, when it can rebuild it."""
    try:
        from frisk.features import Catalogue
    except ImportError:  # the feature engine is optional for model-level use
        return None
    if "definitions" not in catalogue and "features" not in catalogue:
        return None  # a bare feature list (model-level artifacts), nothing to rebuild
    try:
        version = Catalogue.from_dict(dict(catalogue)).version
    except (FeatureError, KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{_where(path, 'catalogue.json')}: cannot be rebuilt ({exc})") from exc
    return str(version)


def _booster(path: Path, text: str, spec: FeatureSpec) -> Any:
    lightgbm = import_lightgbm()

    try:
        booster = lightgbm.Booster(model_str=text)
    except lightgbm.basic.LightGBMError as exc:
        raise ArtifactError(f"{_where(path, MODEL_FILE)}: not a LightGBM model ({exc})") from exc
    names = list(booster.feature_name())
    if names != list(spec.names):
        raise ArtifactError(
            f"{_where(path, MODEL_FILE)}: the booster reads {len(names)} feature(s) that differ "
            f"from the {len(spec.names)} in metadata.json"
        )
    return booster


def _check_checksums(path: Path, metadata: Mapping[str, Any], texts: Mapping[str, str]) -> None:
    sums = metadata.get("checksums")
    if not isinstance(sums, dict):
        raise ArtifactError(f"{_where(path, METADATA_FILE)}: no checksums")
    for name, text in texts.items():
        if name != METADATA_FILE and sums.get(name) != _sha256(text):
            raise ArtifactError(
                f"{_where(path, name)} was changed or corrupted after it was written "
                "(checksum mismatch); override thresholds at serve time instead of editing files"
            )


def _read(path: Path, name: str) -> str:
    try:
        return (path / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{_where(path, name)}: unreadable ({exc})") from exc


def _json(path: Path, name: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{_where(path, name)}: corrupt JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ArtifactError(f"{_where(path, name)}: expected a JSON object")
    return value


def _where(path: Path, name: str) -> str:
    return f"model artifact {str(path)!r}, {name}"


def _dumps(value: Any) -> str:
    return json.dumps(_finite(value), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    """JSON has no nan: undefined metrics are written as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
