"""``frisk rules``: the ledger's rules as code (load, list, show), rule files, what-if on history.

``load`` makes the rule set of the ledger (or of a service, ``--api``) exactly a rules file's, in
one version, every difference audited; a file with any error is refused as a whole and nothing
changes. ``check`` compiles a file without storing it; ``backtest`` runs rules over history.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from frisk.cli._policy import (
    ActorOpt,
    ApiOpt,
    DatabaseOpt,
    LedgerAccess,
    ModelOpt,
    RegistryOpt,
    actor_of,
    one_place,
    service_at,
)
from frisk.cli.app import app
from frisk.cli.options import (
    EndOpt,
    EventsOpt,
    MappingOpt,
    SkipInvalidOpt,
    StartOpt,
    parse_instant,
)
from frisk.errors import InputError

if TYPE_CHECKING:
    from frisk.policy import AuditRecord, BacktestReport, ListSnapshot, Rule

rules_app = typer.Typer(
    help="Load, list and check rules; backtest rules on history.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")

CatalogueOpt = Annotated[
    str, typer.Option("--catalogue", help="Feature catalogue rules may read: 'default' or a TOML.")
]
ListsOpt = Annotated[
    Path | None, typer.Option("--lists", help="Lists file (JSON, as `frisk lists` writes it).")
]


@rules_app.command("check")
def check(
    file: Annotated[Path, typer.Option("--file", help="Rules file (YAML).", show_default=False)],
    catalogue: CatalogueOpt = "default",
    lists: ListsOpt = None,
) -> None:
    """Compile every rule of a file; report each error with its line and column."""
    from frisk.features import resolve_catalogue
    from frisk.policy import Policy, RuleError, load_rules, rule_variables

    rules = load_rules(_read(file), str(file))
    variables = rule_variables(resolve_catalogue(catalogue))
    snapshot = _lists(lists)
    failed = 0
    for rule in rules:
        try:
            Policy([rule], variables, snapshot)
        except RuleError as exc:
            failed += 1
            typer.echo(f"{file}: {exc}", err=True)
        else:
            typer.echo(f"ok  {rule.name}  [{rule.mode} {rule.action}, priority {rule.priority}]")
    if failed:
        raise InputError(f"{file}: {failed} of {len(rules)} rule(s) do not compile")
    typer.echo(f"{file}: {len(rules)} rule(s) compile")


@rules_app.command("load")
def load(
    file: Annotated[Path, typer.Option("--file", help="Rules file (YAML).", show_default=False)],
    database: DatabaseOpt = None,
    api: ApiOpt = None,
    model: ModelOpt = None,
    registry: RegistryOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Make the stored rule set exactly the file's: one version, each difference audited.

    Every rule is compiled against the served model's variables and the stored lists first; any
    error refuses the whole file and nothing changes.
    """
    from frisk.policy import RuleError, load_rules
    from frisk.store.policy_source import replace_ledger_rules

    one_place(database=database, api=api)
    text = _read(file)
    rules = load_rules(text, str(file))  # the file's own errors, named by rule, before any I/O
    if api is not None:
        if actor is not None or model or registry:
            raise InputError(
                "with --api the service's audit names the key and it compiles against its own "
                "model: drop --actor, --model and --registry"
            )
        try:
            with service_at(api) as client:
                answer = client.replace_rules([r.to_json() for r in rules])
        except InputError as exc:
            raise InputError(f"{file}: {exc}\nnothing was changed") from exc
        for change in answer["changes"]:
            typer.echo(f"{change['action']} rule:{change['rule']}")
        _loaded(file, len(rules), len(answer["changes"]), answer["version"])
        return
    with LedgerAccess(database, model=model, registry=registry) as ledger:
        catalogue, _ = ledger.served
        try:
            # Not through ``ledger.live``: that compiles the stored rules, and a set written
            # for another model must still be replaceable.
            records: list[AuditRecord] = replace_ledger_rules(
                ledger.ledger, rules, catalogue, actor=actor_of(actor), at=datetime.now(UTC)
            )
        except RuleError as exc:
            raise InputError(
                f"{file}: {exc}\nnothing was changed (rules compile against "
                f"{ledger.compiled_against})"
            ) from exc
        for record in records:
            typer.echo(f"{record.action} {record.target} by {record.actor}")
        _loaded(file, len(rules), len(records), ledger.rules.version)


@rules_app.command("list")
def list_rules(
    database: DatabaseOpt = None,
    api: ApiOpt = None,
    as_yaml: Annotated[
        bool, typer.Option("--yaml", help="Print the rule set as a rules file (rules-as-code).")
    ] = False,
) -> None:
    """The stored rules by priority: mode, action, expression, who changed each last."""
    from frisk.policy import Rule as RuleClass
    from frisk.policy import rules_to_yaml

    one_place(database=database, api=api)
    if api is not None:
        with service_at(api) as client:
            answer = client.rules()
        version, rows = answer["version"], answer["rules"]
    else:
        with LedgerAccess(database) as ledger:
            version, infos = ledger.rules.describe()
        rows = [
            {**i.rule.to_json(), "updated_by": i.updated_by, "updated_at": i.updated_at}
            for i in infos
        ]
    if as_yaml:
        fields = ("name", "expression", "action", "priority", "mode", "description")
        rules = [RuleClass(**{k: r[k] for k in fields}) for r in rows]
        typer.echo(rules_to_yaml(rules), nl=False)
        return
    typer.echo(f"rules version {version}: {len(rows)} rule(s)")
    for r in rows:
        hits = f", {r['hits']:,} hits" if "hits" in r else ""
        typer.echo(
            f"{r['priority']:>6}  {r['name']}  [{r['mode']} {r['action']}{hits}]  "
            f"{r['expression']}  ({r['updated_by']}, {_when(r['updated_at'])})"
        )


@rules_app.command("show")
def show(name: str, database: DatabaseOpt = None, api: ApiOpt = None) -> None:
    """One stored rule as a rules file entry, and who changed it last."""
    from frisk.errors import NotFoundError
    from frisk.policy import Rule as RuleClass
    from frisk.policy import rules_to_yaml

    one_place(database=database, api=api)
    if api is not None:
        with service_at(api) as client:
            row = client.rule(name)
    else:
        with LedgerAccess(database) as ledger:
            _, infos = ledger.rules.describe()
        found = [i for i in infos if i.rule.name == name]
        if not found:
            raise NotFoundError(f"no rule named {name!r}")
        info = found[0]
        row = {**info.rule.to_json(), "updated_by": info.updated_by, "updated_at": info.updated_at}
    fields = ("name", "expression", "action", "priority", "mode", "description")
    typer.echo(rules_to_yaml([RuleClass(**{k: row[k] for k in fields})]), nl=False)
    hits = f"; {row['hits']:,} hits since the service started" if "hits" in row else ""
    typer.echo(f"# changed by {row['updated_by']} at {_when(row['updated_at'])}{hits}")


def _loaded(file: Path, count: int, changes: int, version: int) -> None:
    if changes:
        typer.echo(
            f"{file}: {count} rule(s) in force, {changes} change(s); rules version {version}"
        )
    else:
        typer.echo(f"{file}: the {count} rule(s) were already in force; rules version {version}")


def _when(value: datetime | str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@rules_app.command("backtest")
def backtest(
    events: EventsOpt,
    rule: Annotated[
        str | None, typer.Option("--rule", help="One expression to backtest (named 'candidate').")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Rules file to backtest.")] = None,
    mapping: MappingOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    start: StartOpt = None,
    end: EndOpt = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Model artifact: rules may read its score, and overlap."),
    ] = None,
    current: Annotated[
        Path | None,
        typer.Option("--current", help="Rules already in force (YAML), for what a rule adds."),
    ] = None,
    catalogue: CatalogueOpt = "default",
    lists: ListsOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Lists as of this instant (default: now).")
    ] = None,
    out_json: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON.")
    ] = None,
) -> None:
    """Per day: hits, frauds, precision, fraud amount caught, and what each rule adds."""
    from frisk.data.importer import load_events
    from frisk.features import resolve_catalogue
    from frisk.policy import Rule as RuleClass
    from frisk.policy import load_rules
    from frisk.policy.history import backtest_events

    if (rule is None) == (file is None):
        raise InputError("give exactly one of --rule EXPR or --file rules.yaml")
    candidates: list[Rule] = (
        [RuleClass("candidate", rule, "review")]
        if rule is not None
        else load_rules(_read(file), str(file))
    )
    now = parse_instant(as_of, "--as-of") or datetime.now(UTC)
    table = load_events(events, mapping, skip_invalid)
    loaded = None
    if model is not None:
        from frisk.models import load_model

        loaded = load_model(model)
    reports = backtest_events(
        table,
        candidates,
        catalogue=resolve_catalogue(catalogue, table),
        now=now,
        model=loaded,
        lists=_lists(lists),
        current=load_rules(_read(current), str(current)) if current is not None else (),
        start=parse_instant(start, "--start"),
        end=parse_instant(end, "--end"),
    )
    for report in reports:
        _show(report)
    if out_json is not None:
        body = [r.to_json() for r in reports]
        out_json.write_text(json.dumps(body, indent=1, default=str), encoding="utf-8")
        typer.echo(f"report -> {out_json}")


def _show(report: BacktestReport) -> None:
    t = report.totals
    typer.echo(f"\n{report.rule}: {report.expression}")
    precision = "n/a" if t["precision"] is None else f"{t['precision']:.3f}"
    typer.echo(
        f"  {t['events']:,} events, {t['hits']:,} hits, {t['frauds']:,} frauds "
        f"(precision {precision}), fraud amount {t['fraud_amount'] or 0:,.2f}"
    )
    if t["new_hits"] is not None:
        typer.echo(
            f"  adds: {t['new_hits']:,} hits not already alerted, {t['new_frauds']:,} frauds, "
            f"fraud amount {t['new_fraud_amount'] or 0:,.2f}"
        )
    for row in report.days.iter_rows(named=True):
        p = "  -  " if row["precision"] is None else f"{row['precision']:.3f}"
        new = "" if row["new_hits"] is None else f"  new {int(row['new_hits']):>6,}"
        typer.echo(
            f"  {row['day']}  hits {row['hits']:>7,}  frauds {row['frauds']:>6,}  p {p}{new}"
        )


def _read(path: Path | None) -> str:
    assert path is not None
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{str(path)!r}: cannot read ({exc.strerror})") from exc


def _lists(path: Path | None) -> ListSnapshot | None:
    from frisk.policy import MemoryListStore

    return None if path is None else MemoryListStore.load(path).snapshot()
