"""Start the dashboard as a Streamlit server in its own process (``frisk dashboard``, the demo)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from frisk.client import API_KEY_ENV, API_URL_ENV
from frisk.extras import require_installed

__all__ = ["APP", "dashboard_command", "dashboard_env", "start_dashboard", "wait_until_up"]

# Not dashboard/app.py: a pages/ folder beside the script would make Streamlit list its modules.
APP = Path(__file__).parent / "entry" / "app.py"


def dashboard_command(host: str, port: int) -> list[str]:
    """``streamlit run`` on the app, headless, without usage statistics or file watching."""
    require_installed("streamlit", "dashboard", "The dashboard")
    require_installed("plotly", "dashboard", "The dashboard")
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--theme.base",
        "light",
    ]


def start_dashboard(
    api_url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8501,
    api_key: str | None = None,
    log: IO[bytes] | int | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """The dashboard process; the key, when given, spares the login form.

    ``log`` takes its output (None: this process's terminal).
    """
    return subprocess.Popen(
        dashboard_command(host, port),
        env=dashboard_env(api_url, api_key),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
    )


def dashboard_env(api_url: str, api_key: str | None) -> dict[str, str]:
    """This process's environment plus the API's URL and, when given, its key."""
    env = {**os.environ, API_URL_ENV: api_url}
    if api_key is not None:
        env[API_KEY_ENV] = api_key
    return env


def wait_until_up(
    url: str,
    process: subprocess.Popen[bytes],
    timeout: float = 60.0,
    *,
    what: str = "the dashboard",
    log: Path | None = None,
) -> None:
    """Until ``url`` (a health check) answers 200; ``ConfigError`` if the process dies first or
    time runs out, naming ``what`` and, when given, the log to read."""
    from frisk.errors import ConfigError

    see = "" if log is None else f"; see {log}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"{what} exited with code {process.returncode}{see}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise ConfigError(f"{what} did not answer at {url} within {timeout:.0f} s{see}")
