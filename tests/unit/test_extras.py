"""The decision service and the CLI work without the optional extras installed (dashboard,
reports, mlflow, redis); a command that needs one says which (``pip install 'frisk[...]'``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Run in a fresh interpreter where importing an extra's packages fails as if not installed.
_WITHOUT_EXTRAS = textwrap.dedent(
    """
    import sys

    class Absent:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in {"streamlit", "plotly", "matplotlib", "mlflow", "redis"}:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Absent())
    """
)


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = _WITHOUT_EXTRAS + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"FRISK_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        check=False,
    )


@pytest.mark.slow
def test_the_service_and_the_cli_need_no_extra(tmp_path: Path) -> None:
    done = _run(
        """
        from fastapi.testclient import TestClient
        from frisk.cli import app
        from frisk.config import Settings
        from frisk.service.app import create_app
        from typer.testing import CliRunner

        with TestClient(create_app(Settings(home="home"))) as client:
            assert client.get("/health").status_code == 200
        assert CliRunner().invoke(app, ["--help"]).exit_code == 0
        print("served")
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "served" in done.stdout


@pytest.mark.slow
def test_a_missing_extra_is_named(tmp_path: Path) -> None:
    done = _run(
        """
        from frisk.dashboard.launch import dashboard_command
        from frisk.errors import ConfigError
        from frisk.models.report import render_report
        from frisk.models.tracking import require_mlflow

        for attempt in (
            lambda: dashboard_command("127.0.0.1", 8501),
            lambda: render_report(None),
            require_mlflow,
        ):
            try:
                attempt()
            except ConfigError as exc:
                print(exc)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "The dashboard needs the streamlit package, which is not installed: "
        "pip install 'frisk[dashboard]'",
        "An HTML report needs the matplotlib package, which is not installed: "
        "pip install 'frisk[reports]'",
        "MLflow tracking needs the mlflow package, which is not installed: "
        "pip install 'frisk[mlflow]'",
    ]
