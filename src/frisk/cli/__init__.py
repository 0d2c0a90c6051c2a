"""Command line: thin wrappers that parse arguments and call the library.

Each command lives in its own module and registers itself on ``app``; ``main`` turns a
``FriskError`` into one readable line on stderr and a non-zero exit.
"""

from __future__ import annotations

import sys

import typer

from frisk.cli import (
    consume,  # noqa: F401  (registers its command)
    dashboard,  # noqa: F401  (registers its command)
    db,  # noqa: F401  (registers its command)
    demo,  # noqa: F401  (registers its command)
    evaluate,  # noqa: F401  (registers its command)
    features,  # noqa: F401  (registers its command)
    importing,  # noqa: F401  (registers its command)
    keys,  # noqa: F401  (registers its command)
    labels,  # noqa: F401  (registers its command)
    ledger,  # noqa: F401  (registers its command)
    lists,  # noqa: F401  (registers its command)
    models,  # noqa: F401  (registers its command)
    report,  # noqa: F401  (registers its command)
    retrain,  # noqa: F401  (registers its command)
    rules,  # noqa: F401  (registers its command)
    score,  # noqa: F401  (registers its command)
    serve,  # noqa: F401  (registers its command)
    simulate,  # noqa: F401  (registers its command)
    state,  # noqa: F401  (registers its command)
    train,  # noqa: F401  (registers its command)
    version,  # noqa: F401  (registers its command)
)
from frisk.cli.app import app
from frisk.errors import FriskError

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except FriskError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
