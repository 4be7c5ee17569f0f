"""What the model card shows: the champion, the challenger, their metrics, plots and drift.

Training logs its metrics, report and plots to the MLflow run of each version; the model
bundle itself holds its metadata (with the run id), grade bands and PSI references. So with a
registry the card fetches metrics and plots from the run (once per version, in the background:
MLflow takes seconds to import), and with a bundle directory it looks for a `plots/` folder
beside the bundle's files, and otherwise says that they are not available.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.drift import (
    ACT_THRESHOLD,
    SCORE_REFERENCE,
    WATCH_THRESHOLD,
    PsiReference,
    drift_level,
    psi,
)
from features.scoring_model import ScoringModel
from service.model_host import BundleDirectory, RegistryAlias

__all__ = [
    "ACT_THRESHOLD",
    "ORDER_FEATURES",
    "WATCH_THRESHOLD",
    "DriftRow",
    "ModelArtifacts",
    "ModelArtifactsCache",
    "RegisteredVersion",
    "drift_rows",
    "headline_metrics",
]

log = logging.getLogger(__name__)

PLOT_NAME = re.compile(r"^[a-z0-9_]+\.png$")
# Features that describe the order: a portfolio scoring has no order, so they drift by design.
ORDER_FEATURES = frozenset({"terms_days", "amount_vs_usual", "amount", "po_missing"})
_HEADLINE = re.compile(r"(roc_auc|gini|ks|pr_auc|brier|ece|mae)")


@dataclass(frozen=True)
class RegisteredVersion:
    version: str
    run_id: str | None
    metrics: dict[str, float]


@dataclass(frozen=True)
class ModelArtifacts:
    """What the card could find for the serving model."""

    model_version: str
    registry: bool
    champion: RegisteredVersion | None = None
    challenger: RegisteredVersion | None = None
    plots_dir: Path | None = None
    plots: tuple[str, ...] = ()
    problem: str | None = None  # the registry could not be read


def headline_metrics(metrics: Mapping[str, float]) -> list[tuple[str, float]]:
    """The model's own headline metrics on the holdout: known customers (`late_roc_auc`),
    then the same invoices scored as prospects (`prospects.late_roc_auc`). Baselines and the
    oracle (`all.oracle.…`) stay in MLflow."""

    def shown(name: str) -> bool:
        own = name.removeprefix("prospects.")
        return "." not in own and bool(_HEADLINE.search(own)) and not own.startswith("seconds_")

    return sorted(
        ((name, value) for name, value in metrics.items() if shown(name)),
        key=lambda item: (item[0].startswith("prospects."), item[0]),
    )


def _plots_in(folder: Path | None) -> tuple[str, ...]:
    if folder is None or not folder.is_dir():
        return ()
    return tuple(sorted(p.name for p in folder.iterdir() if PLOT_NAME.match(p.name)))


def _bundle_artifacts(model: ScoringModel, source: BundleDirectory) -> ModelArtifacts:
    for folder in (source.path / "plots", source.path.parent / "plots"):
        plots = _plots_in(folder)
        if plots:
            return ModelArtifacts(model.version, False, plots_dir=folder, plots=plots)
    return ModelArtifacts(model.version, False)


def _registry_artifacts(
    model: ScoringModel, source: RegistryAlias, workdir: Path
) -> ModelArtifacts:
    import mlflow  # seconds to import: only here, in the background
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=source.tracking_uri, registry_uri=source.tracking_uri)

    def registered(alias: str) -> RegisteredVersion | None:
        try:
            found = client.get_model_version_by_alias(source.name, alias)
        except MlflowException:
            return None
        metrics = dict(client.get_run(found.run_id).data.metrics) if found.run_id else {}
        return RegisteredVersion(str(found.version), found.run_id, metrics)

    try:
        champion = registered(source.alias)
        challenger = registered("challenger")
        run_id = model.metadata.get("run_id") or (champion.run_id if champion else None)
        plots_dir: Path | None = None
        if run_id:
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=str(run_id), artifact_path="plots", dst_path=str(workdir),
                    tracking_uri=source.tracking_uri,
                )  # fmt: skip
                plots_dir = Path(local)
            except (MlflowException, OSError) as error:
                log.warning("no plots for run %s: %s", run_id, error)
    except (MlflowException, OSError) as error:
        return ModelArtifacts(model.version, True, problem=str(error))
    return ModelArtifacts(
        model.version, True, champion, challenger, plots_dir, _plots_in(plots_dir)
    )


@dataclass
class ModelArtifactsCache:
    """The artifacts of the serving model, fetched once per model version."""

    _value: ModelArtifacts | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Where a registry model's plots are fetched to: made on the first fetch, removed with
    # the cache (at the latest when the process ends).
    _workdir: Path | None = field(default=None, init=False)

    def current(self, model: ScoringModel) -> ModelArtifacts | None:
        """The artifacts if fetched for this model version, else None (not yet)."""
        value = self._value
        return value if value is not None and value.model_version == model.version else None

    def refresh(self, model: ScoringModel, source: object) -> ModelArtifacts:
        with self._lock:
            found = self.current(model)
            if found is not None:
                return found
            if isinstance(source, RegistryAlias):
                folder = self._scratch() / re.sub(r"[^A-Za-z0-9_.-]", "_", model.version)
                folder.mkdir(parents=True, exist_ok=True)
                found = _registry_artifacts(model, source, folder)
            elif isinstance(source, BundleDirectory):
                found = _bundle_artifacts(model, source)
            else:
                found = ModelArtifacts(model.version, False)
            self._value = found
            return found

    def _scratch(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="credit-risk-model-card-"))
            weakref.finalize(self, shutil.rmtree, self._workdir, ignore_errors=True)
        return self._workdir


@dataclass(frozen=True)
class DriftRow:
    name: str
    psi: float
    level: str
    order_feature: bool


def drift_rows(references: Mapping[str, PsiReference], features: pd.DataFrame) -> list[DriftRow]:
    """PSI of each referenced feature present in `features`, the largest first."""
    rows = [
        DriftRow(name, value, drift_level(value), name in ORDER_FEATURES)
        for name, reference in references.items()
        if name in features.columns
        for value in [psi(reference, features[name])]
    ]
    return sorted(rows, key=lambda r: r.psi, reverse=True)


def score_drift(reference_scores: np.ndarray, recent_scores: np.ndarray) -> DriftRow | None:
    """PSI of P(late) between a reference scoring and a recent one (deciles of the reference)."""
    if len(reference_scores) < 10 or len(recent_scores) == 0:
        return None
    reference = PsiReference.fit("p_late", reference_scores)
    value = psi(reference, recent_scores)
    return DriftRow("p_late", value, drift_level(value), False)


def score_drift_from(reference: PsiReference, recent_scores: np.ndarray) -> DriftRow | None:
    """PSI of P(late) between the model's own score reference (stored at training) and a
    recent scoring."""
    if len(recent_scores) == 0:
        return None
    value = psi(reference, recent_scores)
    return DriftRow(SCORE_REFERENCE, value, drift_level(value), False)


def describe_metadata(metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The metadata worth reading on a card: training data summary and boosting rounds."""
    shown: list[tuple[str, str]] = []
    for name, value in (metadata.get("data") or {}).items():
        shown.append((f"data.{name}", str(value)))
    for name, value in (metadata.get("rounds") or {}).items():
        shown.append((f"rounds.{name}", str(value)))
    return shown
