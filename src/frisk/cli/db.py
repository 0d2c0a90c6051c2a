"""``frisk db upgrade|current``: the ledger's schema."""

from __future__ import annotations

import typer

from frisk.cli.app import app
from frisk.config import load_settings

__all__ = ["db_app"]

db_app = typer.Typer(help="The ledger database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade_command() -> None:
    """Create or migrate the ledger's tables to this Frisk's schema."""
    from frisk.store import current_revision, make_engine, upgrade

    engine = make_engine(_url())
    try:
        before = current_revision(engine)
        after = upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"ledger already at revision {after}")
    else:
        typer.echo(f"ledger upgraded from {before or 'empty'} to revision {after}")


@db_app.command("current")
def current_command() -> None:
    """Print the ledger's schema revision and the newest this Frisk knows."""
    from frisk.store import current_revision, head_revision, make_engine

    engine = make_engine(_url())
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    typer.echo(f"ledger at {current or 'empty'}; newest known {head_revision()}")


def _url() -> str:
    from frisk.store import default_url

    settings = load_settings()
    return settings.database_url or default_url(settings.home)
