"""``frisk keys create|list|revoke``: API keys in the ledger (shown once, stored as hashes)."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer

from frisk.cli.app import app
from frisk.config import load_settings
from frisk.schema import Role
from frisk.service.keys import create_key, revoke_key

if TYPE_CHECKING:
    from frisk.store import Ledger

__all__ = ["keys_app"]

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create(
    role: Annotated[Role, typer.Option("--role", help="scorer, analyst or admin.")],
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")] = "",
    rate_limit: Annotated[
        float | None,
        typer.Option(
            "--rate-limit",
            help="Requests per second for this key (a batch counts each transaction); "
            "default: its role's (security.rate_limit: scorer 2000/s, others 200/s).",
        ),
    ] = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    with _ledger() as ledger:
        key, record = create_key(
            ledger, role, name or role.value, actor=_actor(), rate_limit=rate_limit
        )
    typer.echo(key)
    typer.echo(
        f"key id {record.key_id}, role {record.role.value}: store the key now, "
        "it cannot be shown again",
        err=True,
    )


@keys_app.command("list")
def list_keys(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
) -> None:
    """List keys (ids, roles, names; never the keys)."""
    with _ledger() as ledger:
        records = ledger.list_api_keys(include_revoked=all_)
    typer.echo(f"{'key id':<14}{'role':<9}{'created (UTC)':<21}{'revoked':<21}{'limit/s':<10}name")
    for r in records:
        revoked = r.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if r.revoked_at else "-"
        created = r.created_at.strftime("%Y-%m-%d %H:%M:%S")
        limit = "role" if r.rate_limit is None else f"{r.rate_limit:g}"
        typer.echo(f"{r.key_id:<14}{r.role.value:<9}{created:<21}{revoked:<21}{limit:<10}{r.name}")


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id from `frisk keys list`.")],
) -> None:
    """Revoke a key; a running service stops accepting it within security.key_cache_seconds."""
    with _ledger() as ledger:
        record = revoke_key(ledger, key_id, actor=_actor())
    typer.echo(f"revoked {record.key_id} ({record.role.value}, {record.name})")


class _ledger:
    """The configured ledger, migrated, closed on exit."""

    def __enter__(self) -> Ledger:
        settings = load_settings()
        from frisk.store import default_url, open_ledger

        self.ledger = open_ledger(settings.database_url or default_url(settings.home))
        return self.ledger

    def __exit__(self, *_: object) -> None:
        self.ledger.close()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"
