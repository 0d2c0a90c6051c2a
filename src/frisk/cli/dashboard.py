"""``frisk dashboard``: the analyst dashboard (Streamlit) against a running Frisk API."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from frisk.cli.app import app

__all__ = ["dashboard"]


@app.command("dashboard")
def dashboard(
    api: Annotated[
        str, typer.Option("--api", help="The Frisk API's base URL.")
    ] = "http://127.0.0.1:8000",
    host: Annotated[str, typer.Option("--host", help="Address the dashboard listens on.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8501,
) -> None:
    """Serve the dashboard; the API key comes from FRISK_API_KEY or its login form."""
    from frisk.client import API_KEY_ENV
    from frisk.dashboard.launch import dashboard_command, dashboard_env

    key = os.environ.get(API_KEY_ENV)
    typer.echo(
        f"dashboard on http://{host}:{port} for the API at {api}"
        + ("" if key else f" (no {API_KEY_ENV}: log in with a key in the browser)"),
        err=True,
    )
    # Streamlit replaces this process, so a supervisor's SIGTERM reaches the server itself (a
    # child would be orphaned when this process is terminated).
    command = dashboard_command(host, port)
    os.execve(command[0], command, dashboard_env(api, key))
