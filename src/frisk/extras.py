"""Optional parts of Frisk, installed as pip extras, and the error that names a missing one.

    dashboard   streamlit, plotly     frisk dashboard, the demo's dashboard
    reports     matplotlib            HTML evaluation and retraining reports
    mlflow      mlflow                frisk evaluate --mlflow
    redis       redis                 feature state in Redis; frisk consume from Redis Streams
    nats        nats-py               frisk consume from NATS JetStream

The decision service and the core never need them: each is imported where it is used.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from frisk.errors import ConfigError

__all__ = ["require", "require_installed"]


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``; ``ConfigError`` naming ``frisk[extra]`` when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise _missing(module, extra, purpose) from exc


def require_installed(module: str, extra: str, purpose: str) -> None:
    """Like ``require``, without importing ``module`` here (another process runs it)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken install
        found = False
    if not found:
        raise _missing(module, extra, purpose)


def _missing(module: str, extra: str, purpose: str) -> ConfigError:
    package = module.partition(".")[0]
    return ConfigError(
        f"{purpose} needs the {package} package, which is not installed: "
        f"pip install 'frisk[{extra}]'"
    )
