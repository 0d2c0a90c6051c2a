"""``frisk train``: features over the whole history, a calibrated model on a time window."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

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

OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Write the model artifact to this directory.")
]
RegistryOpt = Annotated[
    Path | None,
    typer.Option("--registry", help="Register the model in this registry directory."),
]


@app.command("train")
def train(
    events: EventsOpt,
    mapping: MappingOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    start: StartOpt = None,
    end: EndOpt = None,
    out: OutOpt = None,
    registry: RegistryOpt = None,
    promote: Annotated[
        bool, typer.Option("--promote", help="Put the registered model in production.")
    ] = False,
    catalogue: Annotated[
        str, typer.Option("--catalogue", help="Feature catalogue: 'default' or a TOML path.")
    ] = "default",
    params: Annotated[
        str | None,
        typer.Option("--params", help="LightGBM overrides: a JSON object or a .json file."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.")] = 7,
    search: Annotated[
        int, typer.Option("--search", min=0, help="Random-search trials on held-out time.")
    ] = 0,
    alert_budget: Annotated[
        float, typer.Option("--alert-budget", help="Share of traffic sent to review.")
    ] = 0.005,
    block_budget: Annotated[
        float, typer.Option("--block-budget", help="Share of traffic blocked.")
    ] = 0.001,
    block_precision: Annotated[
        float | None,
        typer.Option("--block-precision", help="Block where validation precision reaches this."),
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", min=1, help="LightGBM threads (more only on idle cores).")
    ] = 1,
    labels_as_of: Annotated[
        str | None,
        typer.Option(
            "--labels-as-of",
            help="Use only labels known by this instant: a row is fraud only if its fraud "
            "label_timestamp is before it, else legit (as a retrain from the ledger then would "
            "see it). Default: every label in the file, the data set's final truth.",
        ),
    ] = None,
) -> None:
    """Train a fraud model on the labelled events in [start, end)."""
    from frisk.data.importer import load_events
    from frisk.models import TrainConfig, save_model
    from frisk.models.pipeline import train_events
    from frisk.models.registry import Registry

    if out is None and registry is None:
        raise InputError("say where the model goes: --out DIR and/or --registry DIR")
    if promote and registry is None:
        raise InputError("--promote needs --registry")
    config = TrainConfig(
        seed=seed,
        params=_params(params),
        num_threads=threads,
        search=search,
        alert_budget=alert_budget,
        block_budget=block_budget,
        block_precision=block_precision,
        labels_as_of=parse_instant(labels_as_of, "--labels-as-of"),
    )
    table = load_events(events, mapping, skip_invalid)
    model = train_events(
        table,
        catalogue=catalogue,
        start=parse_instant(start, "--start"),
        end=parse_instant(end, "--end"),
        config=config,
    )
    for line in summary(model.metadata):
        typer.echo(line)
    if out is not None:
        save_model(model, out, overwrite=True)
        typer.echo(f"model written to {out}")
    if registry is not None:
        store = Registry(registry)
        version = store.register(model)
        typer.echo(f"registered as {version} in {registry}")
        if promote:
            store.promote(version)
            typer.echo(f"{version} is now in production")


def summary(metadata: dict[str, Any]) -> list[str]:
    """What was trained on and how it did on held-out time."""
    training = metadata["training"]
    parts = training["parts"]
    validation = metadata["metrics"]["validation"]
    thresholds = metadata["thresholds"]["thresholds"]
    choices = training.get("choices")
    how = (
        list(choices)
        if choices
        else [
            f"split by time: fit {parts['fit']['rows']:,}, early stopping "
            f"{parts['stop']['rows']:,}, calibration {parts['calibrate']['rows']:,}"
        ]
    )
    return [
        f"trained on {training['rows']:,} labelled events ({training['frauds']:,} fraud), "
        f"{parts['fit']['first']} .. {parts['calibrate']['last']}",
        *how,
        f"{training['num_trees']} trees, fraud weight {training['pos_weight']:.1f}, "
        f"features {training.get('feature_seconds', 0):.1f}s, fit {training['seconds']:.1f}s",
        f"validation: ROC AUC {_f(validation['roc_auc'])}, average precision "
        f"{_f(validation['average_precision'])}, recall {_f(validation['recall_at_budget'])} "
        f"and precision {_f(validation['precision_at_budget'])} at a "
        f"{validation['alert_budget']:.2%} alert budget",
        *(
            []
            if choices
            else [
                f"calibration: {metadata['calibration']['method']} "
                f"({metadata['calibration']['frauds']} frauds)"
            ]
        ),
        f"thresholds: review >= {thresholds['review']:.4g}, block >= {thresholds['block']:.4g} "
        f"({metadata['thresholds']['block_rule']}), medium >= {thresholds['medium']:.4g}",
    ]


def _params(value: str | None) -> dict[str, Any]:
    if value is None:
        return {}
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value)
        if not path.is_file():
            raise InputError(f"--params {value!r}: neither a JSON object nor a file")
        text = path.read_text(encoding="utf-8")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--params: not valid JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise InputError("--params: expected a JSON object of LightGBM parameters")
    return parsed


def _f(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"
