"""How ``frisk lists`` and ``frisk rules`` reach the rules and lists a service decides with.

* The ledger (the default; ``--database URL``): the one the settings point at, opened as every
  command that uses the ledger opens it. Changes that could break a rule go through the same
  ``LivePolicy`` the service uses (``frisk.store.policy_source``), compiled against the variables of
  the model the service serves: ``--model DIR``, ``--registry DIR``, else the production model
  of the registry under ``FRISK_HOME``, else the default catalogue. A running service picks the
  change up within ``policy.poll_seconds``.
* A running service (``--api URL``, an admin key in ``FRISK_API_KEY``): its ``/v1/rules`` and
  ``/v1/lists`` routes through the dashboard's ``FriskClient``; the service compiles and audits
  (the audit names the key). Its errors become ``FriskError``s here, in ``service_at``.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from frisk.config import load_settings
from frisk.errors import (
    ConfigError,
    ConflictError,
    FriskError,
    InputError,
    NotFoundError,
    StoreError,
)

if TYPE_CHECKING:
    from frisk.client import ApiError, FriskClient
    from frisk.features import Catalogue
    from frisk.policy import LivePolicy
    from frisk.store import Ledger

__all__ = [
    "ActorOpt",
    "ApiOpt",
    "DatabaseOpt",
    "LedgerAccess",
    "ModelOpt",
    "RegistryOpt",
    "actor_of",
    "one_place",
    "service_at",
]

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Ledger URL (default: FRISK_DATABASE_URL, else the SQLite ledger under FRISK_HOME).",
    ),
]
ApiOpt = Annotated[
    str | None,
    typer.Option(
        "--api",
        help="Go through a running service at this URL instead of the ledger (an admin key in "
        "FRISK_API_KEY; the audit log names the key).",
    ),
]
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model", help="The model directory the service serves: rules compile against it."
    ),
]
RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        help="The registry the service serves from (default: FRISK_HOME's): rules compile "
        "against its production model, or the default catalogue when it has none.",
    ),
]
ActorOpt = Annotated[
    str | None, typer.Option("--actor", help="Who is changing, for the audit (default: cli:$USER).")
]


def actor_of(given: str | None) -> str:
    """The audit's actor: as given, else ``cli:<user>`` like ``frisk keys`` and ``frisk labels``."""
    if given:
        return given
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


def one_place(*, database: str | None, api: str | None, store: Path | None = None) -> None:
    given = [n for n, v in (("--store", store), ("--database", database), ("--api", api)) if v]
    if len(given) > 1:
        raise InputError(f"give one of {', '.join(given)}, not several")


class LedgerAccess:
    """The ledger's policy for one command; the ``LivePolicy`` is compiled only when asked for.

    Adding or reading entries needs no compile, so those commands work even when the served
    model cannot be found; defining or dropping a list, or loading rules, needs ``live``.
    """

    def __init__(
        self, database: str | None, *, model: Path | None = None, registry: Path | None = None
    ) -> None:
        if model is not None and registry is not None:
            raise InputError("give --model or --registry, not both")
        self.database = database
        self.model = model
        self.registry = registry
        self.compiled_against = ""  # what ``live`` compiles against, once it has

    def __enter__(self) -> LedgerAccess:
        from frisk.store import default_url, open_ledger

        settings = load_settings()
        self.settings = settings
        self.ledger: Ledger = open_ledger(
            self.database or settings.database_url or default_url(settings.home)
        )
        self.rules = self.ledger.rules
        self.lists = self.ledger.lists
        return self

    def __exit__(self, *_: object) -> None:
        self.ledger.close()

    @cached_property
    def live(self) -> LivePolicy:
        """The ledger's rules and lists compiled for the served model; changes go through it."""
        from frisk.policy import RuleError
        from frisk.store.policy_source import open_ledger_policy

        catalogue, source = self.served
        try:
            return open_ledger_policy(self.ledger, catalogue).live
        except RuleError as exc:
            raise ConfigError(
                f"the ledger's rules do not compile against {source}: {exc}\n"
                "name the model the service serves with --model DIR or --registry DIR"
            ) from exc

    @cached_property
    def served(self) -> tuple[Catalogue | None, str]:
        """The served model's feature catalogue (None: the default one) and where it came from;
        ``compiled_against`` says the latter from then on."""
        catalogue, source = self._catalogue()
        self.compiled_against = source
        return catalogue, source

    def _catalogue(self) -> tuple[Catalogue | None, str]:
        from frisk.models import load_model
        from frisk.models.pipeline import model_catalogue
        from frisk.models.registry import Registry

        if self.model is not None:
            return model_catalogue(load_model(self.model, num_threads=1)), f"model {self.model}"
        root = self.registry or self.settings.registry_dir
        registry = Registry(root)
        if self.registry is None and (not root.is_dir() or registry.production() is None):
            return None, (
                "the default feature catalogue (no model in production in FRISK_HOME's "
                "registry; name the served one with --model or --registry)"
            )
        model = registry.load(num_threads=1)
        return model_catalogue(model), f"model {model.version} of registry {root}"


@contextmanager
def service_at(url: str, *, role: str = "an admin") -> Iterator[FriskClient]:
    """A client of the service at ``url`` with the key in FRISK_API_KEY (of ``role``, for the
    message when it is missing); its errors translated."""
    from frisk.client import ApiError, FriskClient

    client = FriskClient(url, api_key(role), timeout=60.0)
    try:
        yield client
    except ApiError as exc:
        raise _translated(exc, url) from None
    finally:
        client.close()


def api_key(role: str = "an admin") -> str:
    """The key in FRISK_API_KEY; ``role`` names what it must be when it is missing."""
    key = os.environ.get("FRISK_API_KEY", "")
    if not key:
        raise ConfigError(f"--api needs {role} key in FRISK_API_KEY")
    return key


def _translated(exc: ApiError, url: str) -> FriskError:
    from frisk.client import (
        ApiForbidden,
        ApiNotFound,
        ApiUnauthenticated,
        ApiUnavailable,
    )

    if isinstance(exc, ApiUnavailable):
        return StoreError(exc.message)
    if isinstance(exc, ApiUnauthenticated):
        return ConfigError(f"{url} does not know the key in FRISK_API_KEY ({exc.message})")
    if isinstance(exc, ApiForbidden):
        return ConfigError(f"{exc.route}: the key in FRISK_API_KEY may not ({exc.message})")
    if isinstance(exc, ApiNotFound):
        return NotFoundError(exc.message)
    if exc.status == 409:
        return ConflictError(exc.message)
    if exc.status in (413, 422):  # the message names the field and the reason
        return InputError(exc.message)
    return StoreError(f"{exc.route} answered {exc.status}: {exc.message}")
