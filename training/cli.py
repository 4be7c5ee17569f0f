"""`credit-risk train`, `promote`, `rollback` and `models`: the analyst's model lifecycle."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.cli import DatabaseOption, console, progress_bar
from features.errors import CreditRiskError
from training.settings import TrainingSettings

out = Console()

TrackingOption = Annotated[
    str | None,
    typer.Option("--tracking-uri", envvar="CREDIT_RISK_TRACKING_URI",
                 help="MLflow tracking URI (default: SQLite file in the data folder)."),
]  # fmt: skip


def _settings(database_url: str | None, tracking_uri: str | None) -> TrainingSettings:
    settings = TrainingSettings()
    return settings.model_copy(update={
        "database_url": database_url or settings.database_url,
        "tracking_uri": tracking_uri or settings.tracking_uri,
    })  # fmt: skip


def train_command(
    cutoff: Annotated[str | None, typer.Option(help="Train as of this day (YYYY-MM-DD); "
                                               "default: the ledger's last day.")] = None,
    holdout_months: Annotated[int, typer.Option(min=1, help="Most recent months held out "
                                                "for evaluation.")] = 4,
    validation_months: Annotated[int, typer.Option(min=1, help="Months before the holdout for "
                                                   "early stopping and calibration.")] = 3,
    if_no_champion: Annotated[bool, typer.Option(
        "--if-no-champion", help="Do nothing when a champion exists already.")] = False,
    promote: Annotated[bool, typer.Option(
        "--promote", help="Promote the new model right away if it passes the rules.")] = False,
    database_url: DatabaseOption = None,
    tracking_uri: TrackingOption = None,
) -> None:  # fmt: skip
    """Train P(late), P(severe) and days-late models on the ledger, evaluate them on the most
    recent months against baselines (and the oracle on demo data), log the run to MLflow and
    register the model as the `challenger`. Then `credit-risk promote` decides."""
    if if_no_champion and _has_champion(database_url, tracking_uri):
        out.print("A champion model exists already: kept as is.")
        return
    import pandas as pd

    from features.ledger import LedgerStore
    from training.pipeline import TrainingConfig
    from training.run import load_ledger, tracking
    from training.run import train as run_training

    settings = _settings(database_url, tracking_uri)
    config = TrainingConfig(holdout_months=holdout_months, validation_months=validation_months)
    try:
        ledger, oracle = load_ledger(LedgerStore.open(settings.ledger_url))
        with (
            tracking(settings.mlflow_uri, settings.artifact_root) as registry,
            progress_bar("training") as update,
        ):
            result = run_training(ledger, registry, config, oracle=oracle,
                                  cutoff=pd.Timestamp(cutoff) if cutoff else None,
                                  progress=update)  # fmt: skip
    except (CreditRiskError, ValueError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    out.print(f"Trained version {result.version} (run {result.run_id}) in "
              f"{result.seconds['total']:.0f} s on {result.data.summary()['train']:,} invoices;"
              " it is now the challenger.")  # fmt: skip
    for line in result.evaluation.customers.summary_lines():
        out.print("  known customers · " + line)
    for line in result.evaluation.prospects.summary_lines():
        out.print("  as prospects · " + line)
    if promote:
        promote_command(database_url, tracking_uri)


def _has_champion(database_url: str | None, tracking_uri: str | None) -> bool:
    from training.registry import CHAMPION
    from training.run import tracking

    settings = _settings(database_url, tracking_uri)
    with tracking(settings.mlflow_uri, settings.artifact_root) as registry:
        return registry.version_of(CHAMPION) is not None


def promote_command(
    database_url: DatabaseOption = None, tracking_uri: TrackingOption = None
) -> None:
    """Make the challenger the champion if it is not worse on today's holdout (both models are
    scored on the same recent invoices); otherwise say which metric failed."""
    from features.ledger import LedgerStore
    from training.registry import PromotionRefused
    from training.run import decide_promotion, load_ledger, tracking

    settings = _settings(database_url, tracking_uri)
    try:
        ledger, _ = load_ledger(LedgerStore.open(settings.ledger_url))
        with tracking(settings.mlflow_uri, settings.artifact_root) as registry:
            outcome = decide_promotion(ledger, registry)
            for reason in outcome.decision.reasons:
                out.print(f"- {reason}")
            if not outcome.decision.allowed:
                console.print(
                    f"[red]Promotion refused: version {outcome.challenger} stays challenger; "
                    f"the champion is still version {outcome.champion}.[/red]"
                )
                raise typer.Exit(1)
            champion = registry.promote(outcome.decision)
    except (CreditRiskError, PromotionRefused) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    out.print(f"Version {champion} is now the champion.")


def rollback_command(
    database_url: DatabaseOption = None, tracking_uri: TrackingOption = None
) -> None:
    """Give the champion alias back to the previous champion."""
    from training.run import tracking

    settings = _settings(database_url, tracking_uri)
    try:
        with tracking(settings.mlflow_uri, settings.artifact_root) as registry:
            version = registry.rollback()
    except CreditRiskError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    out.print(f"Rolled back: version {version} is the champion again.")


def models_command(tracking_uri: TrackingOption = None) -> None:
    """The registered versions, their aliases and headline metrics."""
    from training.registry import CHALLENGER, CHAMPION
    from training.run import tracking

    settings = _settings(None, tracking_uri)
    with tracking(settings.mlflow_uri, settings.artifact_root) as registry:
        table = Table(title=f"Registered model {registry.name!r}")
        for column in ("version", "alias", "late ROC-AUC", "severe ROC-AUC", "late ECE"):
            table.add_column(column)
        aliases = {registry.version_of(CHAMPION): CHAMPION, registry.version_of(CHALLENGER):
                   CHALLENGER}  # fmt: skip
        for version in registry.versions():
            metrics = registry.metrics_of(version)
            table.add_row(version, aliases.get(version, ""),
                          *(f"{metrics.get(k, float('nan')):.3f}"
                            for k in ("late_roc_auc", "severe_roc_auc", "late_ece")))  # fmt: skip
        out.print(table)
