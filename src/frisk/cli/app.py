"""The Typer application that every command module registers on."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    name="frisk",
    help="Frisk: real-time payment fraud decisions. Simulate, import, featurize, train, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Frisk: real-time payment fraud decisions."""
