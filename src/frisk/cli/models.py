"""``frisk models``: list, show, promote and roll back registered model versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from frisk.cli.app import app

if TYPE_CHECKING:
    from frisk.models.registry import Registry

models_app = typer.Typer(
    name="models",
    help="Registered model versions and the production pointer.",
    no_args_is_help=True,
)
app.add_typer(models_app)

RegistryOpt = Annotated[
    Path | None,
    typer.Option("--registry", help="Registry directory (default: FRISK_HOME/models)."),
]


@models_app.command("list")
def list_models(registry: RegistryOpt = None) -> None:
    """Every registered version, oldest first; '*' marks production."""
    entries = _registry(registry).entries()
    if not entries:
        typer.echo("no models registered")
        return
    for e in entries:
        ap = "n/a" if e.average_precision is None else f"{e.average_precision:.3f}"
        typer.echo(
            f"{'*' if e.in_production else ' '} {e.version}  trained {e.training_start or '-'} .. "
            f"{e.training_end or '-'}  rows {e.rows or 0:,}  frauds {e.frauds or 0:,}  "
            f"validation AP {ap}"
        )


@models_app.command("show")
def show(version: str, registry: RegistryOpt = None) -> None:
    """A version's metadata (without the drift reference), as JSON."""
    metadata = _registry(registry).metadata(version)
    metadata.pop("reference", None)
    typer.echo(json.dumps(metadata, indent=2, sort_keys=True))


@models_app.command("promote")
def promote(version: str, registry: RegistryOpt = None) -> None:
    """Put a version in production (it is loaded and checked first)."""
    _registry(registry).promote(version)
    typer.echo(f"{version} is now in production")


@models_app.command("rollback")
def rollback(registry: RegistryOpt = None) -> None:
    """Return production to the version before the current one."""
    version = _registry(registry).rollback()
    typer.echo(f"rolled back: {version} is now in production")


def _registry(path: Path | None) -> Registry:
    from frisk.config import load_settings
    from frisk.models.registry import Registry

    return Registry(path if path is not None else load_settings().registry_dir)
