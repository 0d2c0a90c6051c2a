"""MLflow tracking without MLflow: the missing-package error, flattening, and a fake module."""

from __future__ import annotations

import math
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from frisk.errors import ConfigError, ModelError
from frisk.models.tracking import flatten, log_run, tracking_wanted


def test_missing_mlflow_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'frisk\[mlflow\]'"):
        log_run({"a": 1}, {"b": 2.0})


def test_flatten_nests_with_dots_and_drops_undefined() -> None:
    data = {"model": {"recall": 0.4, "auc": math.nan, "note": None}, "days": [1, {"x": 2}]}
    assert flatten(data) == {"model.recall": 0.4, "days.0": 1, "days.1.x": 2}


def test_tracking_wanted() -> None:
    assert tracking_wanted(True, {})
    assert not tracking_wanted(False, {})
    assert tracking_wanted(False, {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
    assert not tracking_wanted(False, {"MLFLOW_TRACKING_URI": ""})


class _FakeMlflow(types.ModuleType):
    def __init__(self, fail: bool = False) -> None:
        super().__init__("mlflow")
        self.calls: list[tuple[str, Any]] = []
        self.fail = fail

    def set_tracking_uri(self, uri: str) -> None:
        self.calls.append(("uri", uri))

    def set_experiment(self, name: str) -> None:
        if self.fail:
            raise RuntimeError("connection refused")
        self.calls.append(("experiment", name))

    @contextmanager
    def start_run(self, run_name: str | None = None) -> Any:
        yield types.SimpleNamespace(info=types.SimpleNamespace(run_id="run-1"))

    def log_params(self, params: dict[str, str]) -> None:
        self.calls.append(("params", params))

    def log_metrics(self, metrics: dict[str, float]) -> None:
        self.calls.append(("metrics", metrics))

    def log_artifact(self, path: str) -> None:
        self.calls.append(("artifact", path))


def test_log_run_with_a_fake_mlflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    run = log_run(
        {"budget": 0.005, "window": {"start": "2024-01-01", "end": None}},
        {"model": {"recall": 0.5, "alerts": 10, "ok": True}},
        [report],
        "file:///tmp/x",
    )
    assert run == "run-1"
    assert ("uri", "file:///tmp/x") in fake.calls
    assert ("params", {"budget": "0.005", "window.start": "2024-01-01"}) in fake.calls
    assert ("metrics", {"model.recall": 0.5, "model.alerts": 10.0}) in fake.calls
    assert ("artifact", str(report)) in fake.calls


def test_mlflow_failures_become_model_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", _FakeMlflow(fail=True))
    with pytest.raises(ModelError, match="connection refused"):
        log_run({}, {}, tracking_uri="http://127.0.0.1:1")
    with pytest.raises(ModelError, match="missing artifact"):
        log_run({}, {}, [tmp_path / "nope.html"])


def test_default_store_is_an_sqlite_file_under_the_frisk_home(tmp_path: Path) -> None:
    from frisk.models.tracking import default_uri

    uri = default_uri(tmp_path)
    assert uri == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
