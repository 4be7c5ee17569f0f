"""A training run end to end: ledger -> features -> models -> report -> MLflow registry.

Every run logs its parameters, metrics, report and plots, and the model (a bundle of files,
with its signature and an input example) as a new registered version that becomes the
`challenger`. Promotion re-scores the challenger and the champion on the same, current
holdout and moves `champion` only when the challenger is not worse.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
import pandas as pd
from mlflow import MlflowClient

from features.ledger import LedgerStore
from features.point_in_time import FEATURES, Ledger
from features.scoring_model import ScoringModel, bundle_version
from training.evaluation import EvaluationReport
from training.pipeline import (
    Evaluation,
    TrainingConfig,
    TrainingData,
    evaluate_model,
    fit,
    prepare,
)
from training.plots import save_plots
from training.registry import (
    CHALLENGER,
    CHAMPION,
    ModelRegistry,
    PromotionDecision,
    compare,
)

Progress = Callable[[str, float], None]
EXPERIMENT = "credit-risk"
_TABLES = ("invoice", "payment", "customer", "company", "financial_statement", "legal_event")


def _quiet(_stage: str, _fraction: float) -> None:
    """Progress callback for when nobody watches."""


def load_predictor(directory: Path) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The pyfunc loader: a bundle directory -> a function from features to scores."""
    model = ScoringModel.load(Path(directory))

    def predict(features: pd.DataFrame) -> pd.DataFrame:
        return model.predict(features).drop(columns="grade")

    return predict


def load_ledger(store: LedgerStore) -> tuple[Ledger, pd.DataFrame | None]:
    """The ledger tables, and the demo oracle when the store holds one."""
    tables = {name: store.read(name) for name in _TABLES}
    oracle = store.read("demo_oracle") if store.count("demo_oracle") else None
    return Ledger.from_tables(tables), oracle


def _is_tracking_server(uri: str) -> bool:
    """Whether the tracking URI names a tracking server (not a database or a folder)."""
    return urlsplit(uri).scheme in ("http", "https")


@contextmanager
def tracking(uri: str, artifact_root: Path | None = None) -> Iterator[ModelRegistry]:
    """Point MLflow at a tracking store (and its registry) for the duration.

    `artifact_root` is where a new experiment of a database or folder store keeps its
    artifacts; a tracking server chooses (and usually serves) that place itself.
    """
    # MLflow keeps the tracking URI in process-wide state (the registry follows it when unset);
    # it is put back as it was, unset included, so that no later caller writes into this store.
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        client = MlflowClient(uri)
        if client.get_experiment_by_name(EXPERIMENT) is None:
            location = None
            # Given to a server, a local path would have runs upload to this machine's disk,
            # out of reach of the service and of anyone else using the server.
            if artifact_root is not None and not _is_tracking_server(uri):
                location = artifact_root.resolve().as_uri()
            client.create_experiment(EXPERIMENT, artifact_location=location)
        mlflow.set_experiment(EXPERIMENT)
        yield ModelRegistry(uri)
    finally:
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]  # None unsets it


@dataclass
class TrainingResult:
    model: ScoringModel
    evaluation: Evaluation
    data: TrainingData
    version: str | None
    run_id: str
    seconds: dict[str, float]


def train(
    ledger: Ledger,
    registry: ModelRegistry,
    config: TrainingConfig | None = None,
    *,
    oracle: pd.DataFrame | None = None,
    cutoff: pd.Timestamp | None = None,
    progress: Progress = _quiet,
) -> TrainingResult:
    """Train, evaluate, log and register a new version; it becomes the challenger."""
    config = config or TrainingConfig()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    progress("features", 0.0)
    data = prepare(ledger, config, cutoff=cutoff, oracle=oracle)
    seconds["prepare"] = time.perf_counter() - started
    trained = fit(data, config, progress=lambda stage, done: progress(stage, 0.1 + 0.6 * done))
    seconds.update(trained.timings)
    progress("evaluating", 0.75)
    evaluation = evaluate_model(trained.model, data, config)
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as folder:
        progress("logging", 0.9)
        model = _with_version(trained.model, Path(folder) / "bundle", run.info.run_id)
        _log_run(config, data, evaluation, trained.importance, Path(folder))
        version = registry.log_bundle(
            Path(folder) / "bundle",
            input_example=data.features.loc[data.rows("holdout")].head(5)[list(FEATURES)],
            loader=load_predictor,
        )
        registry.set_challenger(version)
        seconds["total"] = time.perf_counter() - started
        mlflow.log_metrics({f"seconds_{k}": v for k, v in seconds.items()})
    progress("done", 1.0)
    return TrainingResult(model, evaluation, data, version, run.info.run_id, seconds)


def _with_version(model: ScoringModel, directory: Path, run_id: str) -> ScoringModel:
    """Save the bundle, then stamp it with its own content hash as its version."""
    model.save(directory)
    stamped = ScoringModel(
        model.boosters, model.calibrators, model.features, model.bands, model.psi_references,
        {**model.metadata, "version": bundle_version(directory), "run_id": run_id},
    )  # fmt: skip
    stamped.save(directory)
    return stamped


def _log_run(
    config: TrainingConfig,
    data: TrainingData,
    evaluation: Evaluation,
    importance: dict[str, float],
    folder: Path,
) -> None:
    mlflow.log_params({**asdict(config), **{f"data_{k}": v for k, v in data.summary().items()}})
    mlflow.log_metrics(evaluation.metrics())
    reports = folder / "report"
    reports.mkdir()
    (reports / "report.md").write_text(report_markdown(evaluation))
    (reports / "report.json").write_text(json.dumps(
        {"customers": evaluation.customers.to_dict(),
         "prospects": evaluation.prospects.to_dict()}, indent=1))  # fmt: skip
    plots = folder / "plots"
    save_plots(evaluation.customers, plots, feature_importance=importance)
    prospect_plots = save_plots(evaluation.prospects, folder / "prospect_plots")
    for path in prospect_plots:
        path.rename(plots / f"prospects_{path.name}")
    mlflow.log_artifacts(str(reports), "report")
    mlflow.log_artifacts(str(plots), "plots")


def report_markdown(evaluation: Evaluation) -> str:
    return (
        "# Evaluation on the holdout\n\n## Known customers\n\n"
        + evaluation.customers.to_markdown()
        + "\n\n## The same invoices scored as prospects (company data only)\n\n"
        + evaluation.prospects.to_markdown()
    )


# ---- promotion ------------------------------------------------------------------------------


@dataclass
class PromotionOutcome:
    decision: PromotionDecision
    champion: str | None  # the champion after the decision
    challenger: str
    metrics: dict[str, dict[str, float]]


def decide_promotion(
    ledger: Ledger, registry: ModelRegistry, config: TrainingConfig | None = None
) -> PromotionOutcome:
    """Score challenger and champion on today's holdout and compare (nothing is moved)."""
    challenger = registry.version_of(CHALLENGER)
    if challenger is None:
        from training.registry import NoChallenger

        raise NoChallenger("there is no challenger: run `credit-risk train` first")
    champion = registry.version_of(CHAMPION)
    data = prepare(ledger, config or TrainingConfig())
    metrics = {"challenger": _holdout_metrics(registry, challenger, data)}
    if champion is not None:
        metrics["champion"] = _holdout_metrics(registry, champion, data)
    decision = compare(metrics.get("champion"), metrics["challenger"])
    return PromotionOutcome(decision, champion, challenger, metrics)


def _holdout_metrics(registry: ModelRegistry, version: str, data: TrainingData) -> dict[str, float]:
    from training.evaluation import evaluate

    model = registry.load(version)
    rows = data.rows("holdout")
    scored = pd.concat(
        [data.outcomes.loc[rows, ["late", "severe", "days_late"]],
         model.predict(data.features.loc[rows])], axis=1,
    )  # fmt: skip
    report: EvaluationReport = evaluate(scored, bands=model.bands)
    return report.flat_metrics()
