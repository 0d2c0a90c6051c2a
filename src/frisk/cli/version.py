"""``frisk version``."""

from __future__ import annotations

import platform

import typer

from frisk import __version__
from frisk.cli.app import app


@app.command()
def version() -> None:
    """Print Frisk's version and the versions it was built against."""
    import polars

    from frisk.models.lightgbm_import import import_lightgbm

    lightgbm = import_lightgbm()

    typer.echo(f"frisk {__version__}")
    typer.echo(
        f"python {platform.python_version()}, polars {polars.__version__}, "
        f"lightgbm {lightgbm.__version__}"
    )
