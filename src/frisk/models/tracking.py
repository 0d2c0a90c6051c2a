"""Optional experiment tracking with MLflow: one run per evaluation, params, metrics, files.

MLflow is an optional extra (``pip install 'frisk[mlflow]'``) and is imported only when a run is
logged, so nothing else pays for it. Its errors are translated here, once, into ``ModelError``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from frisk.errors import ConfigError, ModelError
from frisk.extras import require

__all__ = ["ENV_URI", "default_uri", "flatten", "log_run", "require_mlflow", "tracking_wanted"]

ENV_URI: Final = "MLFLOW_TRACKING_URI"
# MLflow refuses longer parameter values (500 characters in the 2.x line we require).
MAX_PARAM_CHARS: Final = 500


def tracking_wanted(flag: bool, environ: Mapping[str, str] | None = None) -> bool:
    """Track when asked to, or when the environment names a tracking server."""
    env = os.environ if environ is None else environ
    return flag or bool(env.get(ENV_URI))


def default_uri(home: Path) -> str:
    """The local store under Frisk's home: an SQLite file (MLflow 3 refuses its old ./mlruns
    file store unless told to allow it)."""
    return f"sqlite:///{(home / 'mlflow.db').resolve()}"


def log_run(
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    artifacts: Sequence[Path] = (),
    tracking_uri: str | None = None,
    *,
    experiment: str = "frisk",
    run_name: str | None = None,
    artifact_root: Path | None = None,
) -> str:
    """Log one run and return its id. Nested params and metrics are flattened to dotted keys.

    A directory among ``artifacts`` (a model artifact) is logged whole under its own name. A new
    experiment keeps its artifacts under ``artifact_root`` when given, else MLflow's default.
    """
    mlflow = require_mlflow()
    missing = [str(p) for p in artifacts if not p.exists()]
    if missing:
        raise ModelError(f"cannot log missing artifact(s) to MLflow: {', '.join(missing)}")
    flat_params = {key: str(value)[:MAX_PARAM_CHARS] for key, value in flatten(params).items()}
    flat_metrics = {
        key: float(value)
        for key, value in flatten(metrics).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    try:
        if tracking_uri:
            mlflow.set_tracking_uri(tracking_uri)
        if artifact_root is not None and mlflow.get_experiment_by_name(experiment) is None:
            mlflow.create_experiment(experiment, artifact_location=artifact_root.resolve().as_uri())
        mlflow.set_experiment(experiment)
        with mlflow.start_run(run_name=run_name) as run:
            if flat_params:
                mlflow.log_params(flat_params)
            if flat_metrics:
                mlflow.log_metrics(flat_metrics)
            for path in artifacts:
                if path.is_dir():
                    mlflow.log_artifacts(str(path), artifact_path=path.name)
                else:
                    mlflow.log_artifact(str(path))
            return str(run.info.run_id)
    except (ModelError, ConfigError):
        raise
    except Exception as exc:  # MLflow raises its own and its HTTP client's errors alike
        where = tracking_uri or os.environ.get(ENV_URI) or "MLflow's default store"
        raise ModelError(f"MLflow tracking at {where} failed: {exc}") from exc


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings and sequences as one level with dotted keys; ``None`` and nan dropped.

    ``{"model": {"recall": 0.4}, "days": [1, 2]}`` gives
    ``{"model.recall": 0.4, "days.0": 1, "days.1": 2}``.
    """
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat.update(flatten({str(i): v for i, v in enumerate(value)}, f"{name}."))
        elif value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        else:
            flat[name] = value
    return flat


def require_mlflow() -> ModuleType:
    """The mlflow module; ``ConfigError`` saying how to install it when it is missing."""
    return require("mlflow", "mlflow", "MLflow tracking")
