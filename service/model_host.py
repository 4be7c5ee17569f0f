"""The model the service scores with, and its hot swap.

`ModelHost.reload()` fetches the new model from its source, loads it beside the serving one
and checks it (its features are ones the service builds; it scores probe rows with
probabilities in [0, 1], p_severe ≤ p_late and known grades; it explains them). Only then is it
swapped in, by a single reference assignment under a lock, so a request sees either the old
model or the new one, never a mix. A model that fails any step never replaces a working one;
the outcome of the last reload is kept for the readiness probe.

A worker starts (`ModelHost.start`) from its `ServedCopy` when it has one: the files of the model
it served last, kept on local disk. They pass the same checks as any candidate, the worker
serves at once, and it asks the source in the background, swapping in what the source holds
if it moved meanwhile. Fetching from the registry takes seconds (importing MLflow is most of
them), and fails while the registry is out of reach: a restart needs neither.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
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
from features.scoring_model import MANIFEST, InvalidModelBundle, ScoringModel
from service.errors import ModelNotReady, ModelReloadRefused

__all__ = [
    "BundleDirectory",
    "ModelHost",
    "ModelSource",
    "RegistryAlias",
    "ReloadOutcome",
    "ServedCopy",
    "check_model",
]

log = logging.getLogger(__name__)

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


_SERVED = "served.json"  # in a source's folder: which copy it holds, of what
_STALE_STAGING_SECONDS = 3600.0


@dataclass(frozen=True)
class ServedCopy:
    """The files of the last model each source served, under `root`, a folder per source.

    A copy is the bundle as fetched (its manifest is checked again when loaded) in a folder of
    its own, and `served.json` naming it with the source's pointer and the model's version; both
    are replaced atomically, so a worker killed while keeping a copy leaves the previous one,
    and workers keeping copies at the same time leave one of theirs."""

    root: Path

    def load(self, source: ModelSource) -> tuple[ScoringModel, str] | None:
        """The model and the source's pointer when it was served; None without a copy, or
        when the copy is unreadable (it is then ignored, and replaced by the next reload)."""
        folder = self.folder_of(source)
        try:
            served = json.loads((folder / _SERVED).read_text(encoding="utf-8"))
            if served.get("source") != source.description:
                return None  # another source whose description hashes alike: not this one
            return ScoringModel.load(folder / str(served["copy"])), str(served["pointer"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, InvalidModelBundle) as error:
            log.warning("the local copy of the served model in %s is ignored: %s", folder, error)
            return None

    def keep(self, source: ModelSource, pointer: str, version: str, bundle: Path) -> None:
        """Keep the bundle at `bundle`, which the source gave for `pointer`, as its copy."""
        folder = self.folder_of(source)
        folder.mkdir(parents=True, exist_ok=True)
        # A folder of its own each time: a copy is never changed in place, so a worker reading
        # the previous one (or one spoilt on disk) is never given a mix.
        name = f"{_file_safe(pointer)}-{uuid.uuid4().hex[:12]}"
        staged = folder / f".staged-{name}"
        shutil.copytree(bundle, staged)
        staged.rename(folder / name)
        served = {"source": source.description, "pointer": pointer, "version": version,
                  "copy": name}  # fmt: skip
        written = folder / f".{_SERVED}-{name}"
        written.write_text(json.dumps(served, indent=1), encoding="utf-8")
        os.replace(written, folder / _SERVED)
        current = json.loads((folder / _SERVED).read_text(encoding="utf-8")).get("copy")
        _prune(folder, {name, current})

    def folder_of(self, source: ModelSource) -> Path:
        """Where the copy of what `source` served is kept."""
        return self.root / hashlib.sha256(source.description.encode()).hexdigest()[:16]


def _prune(folder: Path, kept: set[str]) -> None:
    """Earlier copies go; `kept` stays (this copy, and the one named now, should another worker
    have named its own since), and what workers are staging, unless a worker killed while
    staging left it there long ago."""
    for entry in folder.iterdir():
        staging = entry.name.startswith(".")
        if staging and time.time() - entry.stat().st_mtime < _STALE_STAGING_SECONDS:
            continue
        if entry.is_dir() and entry.name not in kept:
            shutil.rmtree(entry, ignore_errors=True)
        elif staging and entry.is_file():
            entry.unlink(missing_ok=True)


def _file_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:40]


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
        copy: ServedCopy | None = None,
    ) -> None:
        self.source = source
        self._probe = probe
        self._clock = clock
        self._copy = copy  # where the model served is kept for the next start, if anywhere
        self._confirming: threading.Thread | None = None
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
                candidate = self._candidate(pointer)
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
        return self.reload() if self._moved(self.source.pointer()) else None

    def _moved(self, pointer: str | None) -> bool:
        """Whether the source's pointer names something other than what was last fetched
        (None: the source could not tell, which is no move)."""
        return pointer is not None and pointer != self._pointer

    def start(self) -> ReloadOutcome:
        """A worker's first load: the local copy of the model served last, when there is one
        and it passes the checks, while a background thread asks the source whether it moved
        meanwhile (and reloads if so); else `reload`, which raises like it."""
        started = time.perf_counter()
        kept = self._copy.load(self.source) if self._copy is not None else None
        if kept is None:
            return self.reload()
        model, pointer = kept
        try:
            check_model(model, self._probe())
        except ModelReloadRefused as error:
            log.warning("the local copy of the served model is refused: %s", error)
            return self.reload()
        with self._lock:
            self._model, self._loaded_at, self._pointer = model, self._clock(), pointer
            self._last = self._outcome(
                True, started, model.version,
                f"started from the local copy of version {model.version}; asking the source "
                "whether it moved",
            )  # fmt: skip
            started_from = self._last
        self._confirming = threading.Thread(
            target=self._confirm, args=(started_from,), name="model-confirm", daemon=True
        )
        self._confirming.start()
        return started_from

    def stop(self, timeout: float = 5.0) -> None:
        """Wait a while for the start's question to the source, if it is still out (a registry
        out of reach may take MLflow minutes of retries: a stopping worker does not wait them
        out)."""
        if self._confirming is not None:
            self._confirming.join(timeout)

    def _confirm(self, started_from: ReloadOutcome) -> None:
        """After a start from the local copy: reload if the source moved, else say what it
        answered (unless a reload came first)."""
        started = time.perf_counter()
        pointer = self.source.pointer()
        if self._moved(pointer):
            try:
                self.reload()
            except ModelReloadRefused as error:
                log.error("the source moved while the worker was down, and was refused: %s", error)
            return
        version = started_from.version
        answer = (
            f"started from the local copy of version {version}, which the source still serves"
            if pointer is not None
            else f"serving the local copy of version {version}: the source named no model (out "
            "of reach, or the alias removed); it is asked again at the next reload or watch"
        )
        with self._lock:
            if self._last is started_from:
                self._last = self._outcome(True, started, version, answer)

    def _candidate(self, pointer: str | None) -> ScoringModel:
        with tempfile.TemporaryDirectory(prefix="credit-risk-model-") as workdir:
            bundle = self.source.fetch(Path(workdir))
            # The bundle is read whole into memory: the temporary copy can go afterwards.
            candidate = ScoringModel.load(bundle)
            check_model(candidate, self._probe())
            if self._copy is not None and pointer is not None:
                self._keep(pointer, candidate.version, bundle)
        return candidate

    def _keep(self, pointer: str, version: str, bundle: Path) -> None:
        """The copy for the next start; a copy that cannot be written only costs that start
        its head start."""
        assert self._copy is not None
        try:
            self._copy.keep(self.source, pointer, version, bundle)
        except OSError as error:
            log.warning("no local copy of model %s kept: %s", version, error)

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
