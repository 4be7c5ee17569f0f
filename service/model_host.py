"""The model the service scores with, and its hot swap.

`ModelHost.reload()` fetches the new model from its source, loads it beside the serving one
and checks it (its features are ones the service builds; it scores probe rows with
probabilities in [0, 1], p_severe ≤ p_late and known grades; it explains them). Only then is it
swapped in, by a single reference assignment under a lock, so a request sees either the old
model or the new one, never a mix. A model that fails any step never replaces a working one;
the outcome of the last reload is kept for the readiness probe.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from features.errors import CreditRiskError
from features.grades import GRADES
from features.point_in_time import FEATURES
from features.scoring_model import MANIFEST, ScoringModel
from service.errors import ModelNotReady, ModelReloadRefused

__all__ = [
    "BundleDirectory",
    "ModelHost",
    "ModelSource",
    "RegistryAlias",
    "ReloadOutcome",
    "check_model",
]

Probe = Callable[[], pd.DataFrame]  # feature rows a candidate model must score sensibly


class ModelSource(Protocol):
    """Where models come from: `fetch` puts a bundle directory under `workdir`, returns it;
    `pointer` cheaply says what the source points at now (it changes when a new model is put
    there: the alias moved, the bundle was replaced), None when it cannot tell."""

    @property
    def description(self) -> str: ...

    def fetch(self, workdir: Path) -> Path: ...

    def pointer(self) -> str | None: ...


@dataclass(frozen=True)
class BundleDirectory:
    """A bundle directory on disk (tests, air-gapped installs)."""

    path: Path

    @property
    def description(self) -> str:
        return f"bundle directory {self.path}"

    def fetch(self, workdir: Path) -> Path:
        return self.path

    def pointer(self) -> str | None:
        """The manifest's digest: it lists every file's SHA-256, so any new bundle changes it."""
        try:
            return hashlib.sha256((self.path / MANIFEST).read_bytes()).hexdigest()
        except OSError:
            return None


@dataclass(frozen=True)
class RegistryAlias:
    """The version holding `alias` of a registered model in an MLflow store."""

    tracking_uri: str
    name: str
    alias: str

    @property
    def description(self) -> str:
        return f"MLflow model {self.name!r}@{self.alias} at {self.tracking_uri}"

    def fetch(self, workdir: Path) -> Path:
        # Imported here: MLflow takes seconds to import and a bundle directory does not need it.
        import mlflow
        from mlflow.exceptions import MlflowException
        from mlflow.models import Model

        client = mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        try:
            version = client.get_model_version_by_alias(self.name, self.alias)
            # Not a models:/ URI: MLflow would resolve it with the global registry URI, not ours.
            source = client.get_model_version_download_uri(self.name, version.version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(workdir), tracking_uri=self.tracking_uri
            )
            flavor = Model.load(local).flavors["python_function"]
            return Path(local) / flavor["artifacts"]["bundle"]["path"]
        except (MlflowException, KeyError, OSError) as error:
            raise ModelReloadRefused(f"cannot fetch {self.description}: {error}") from None

    def pointer(self) -> str | None:
        """The registry version number holding the alias."""
        import mlflow
        from mlflow.exceptions import MlflowException

        client = mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        try:
            return str(client.get_model_version_by_alias(self.name, self.alias).version)
        except (MlflowException, OSError):
            return None


@dataclass(frozen=True)
class ReloadOutcome:
    """What the last reload did, for /health/ready and /v1/model."""

    ok: bool
    at: datetime
    source: str
    seconds: float
    version: str | None  # the version loaded (ok) or the one refused, when known
    message: str


def check_model(model: ScoringModel, probe: pd.DataFrame) -> None:
    """Refuse a model that cannot score the service's features sensibly (ModelReloadRefused)."""
    unknown = [name for name in model.features if name not in FEATURES]
    if unknown:
        raise ModelReloadRefused(
            f"model {model.version} needs features this service does not build: "
            f"{', '.join(unknown)}"
        )
    try:
        scores = model.predict(probe)
        model.contributions(probe)
    except (ValueError, TypeError) as error:
        raise ModelReloadRefused(f"model {model.version} fails on probe rows: {error}") from None
    p_late, p_severe = scores["p_late"].to_numpy(), scores["p_severe"].to_numpy()
    sane = (
        np.all((p_late >= 0) & (p_late <= 1))
        and np.all(p_severe <= p_late + 1e-12)
        and np.all(np.isfinite(scores["expected_days_late"].to_numpy()))
        and scores["grade"].isin(GRADES).all()
    )
    if not sane:
        raise ModelReloadRefused(f"model {model.version} gives impossible scores on probe rows")


class ModelHost:
    """Holds the serving model; `reload` swaps in a new one only when it passes its checks."""

    def __init__(
        self,
        source: ModelSource,
        probe: Probe,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = source
        self._probe = probe
        self._clock = clock
        self._model: ScoringModel | None = None
        self._loaded_at: datetime | None = None
        self._last: ReloadOutcome | None = None
        self._pointer: str | None = None  # what the source pointed at when last fetched
        # One reload at a time; readers never wait for it (they read one reference).
        self._lock = threading.Lock()

    @property
    def model(self) -> ScoringModel:
        model = self._model
        if model is None:
            raise ModelNotReady(
                f"no model is loaded yet from {self.source.description}"
                + (f"; last attempt: {self._last.message}" if self._last else "")
            )
        return model

    @property
    def ready(self) -> bool:
        return self._model is not None

    @property
    def loaded_at(self) -> datetime | None:
        return self._loaded_at

    @property
    def last_reload(self) -> ReloadOutcome | None:
        return self._last

    def reload(self) -> ReloadOutcome:
        """Load, check and swap in the source's current model; raise ModelReloadRefused (after
        recording the outcome) when the candidate fails, leaving the serving model in place."""
        with self._lock:
            started = time.perf_counter()
            pointer = self.source.pointer()
            try:
                candidate = self._candidate()
            # InvalidModelBundle (corrupted, truncated) is a CreditRiskError like the others.
            except (CreditRiskError, OSError) as error:
                self._pointer = pointer  # refused: not retried until the source moves again
                self._last = self._outcome(False, started, None, f"refused: {error}")
                raise ModelReloadRefused(
                    f"the new model was refused, {self._serving()}: {error}"
                ) from None
            self._model, self._loaded_at = candidate, self._clock()  # the swap
            self._pointer = pointer
            self._last = self._outcome(True, started, candidate.version, "loaded and checked")
            return self._last

    def reload_if_moved(self) -> ReloadOutcome | None:
        """Reload when the source points at something new since the last fetch (the alias
        moved, the bundle was replaced); None when nothing moved. Raises like `reload`."""
        pointer = self.source.pointer()
        if pointer is None or pointer == self._pointer:
            return None
        return self.reload()

    def _candidate(self) -> ScoringModel:
        with tempfile.TemporaryDirectory(prefix="credit-risk-model-") as workdir:
            bundle = self.source.fetch(Path(workdir))
            # The bundle is read whole into memory: the temporary copy can go afterwards.
            candidate = ScoringModel.load(bundle)
        check_model(candidate, self._probe())
        return candidate

    def _serving(self) -> str:
        if self._model is None:
            return "no model is serving"
        return f"version {self._model.version} keeps serving"

    def _outcome(
        self, ok: bool, started: float, version: str | None, message: str
    ) -> ReloadOutcome:
        return ReloadOutcome(
            ok=ok,
            at=self._clock(),
            source=self.source.description,
            seconds=round(time.perf_counter() - started, 3),
            version=version,
            message=message,
        )
