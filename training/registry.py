"""The MLflow model registry of the scoring model, used by alias: `champion` and `challenger`.

A model is a *bundle*: a directory in the project's own format that the service reads directly,
without MLflow. The registry stores it as an MLflow pyfunc model (so that MLflow can load and
serve it too, with its signature) whose `artifacts/` hold the bundle unchanged; `download`
gives the bundle directory back.

Promotion is a two-step, auditable act: `compare` (pure) decides from the metrics of champion
and challenger on the same holdout, and `promote` moves the alias only on an allowed decision.
Every champion replaced is pushed onto a history kept in a tag of the registered model
(`champion_history`, a JSON list), which `rollback` pops.

Rollback decision: the rolled-back version loses the `champion` alias and receives no alias;
it is tagged `rolled_back_at` on its model version. It does not become the challenger, because
it is known to be bad and because that would silently replace a challenger under evaluation.
"""

from __future__ import annotations

import importlib
import json
import math
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.models import Model, infer_signature

from features.errors import CreditRiskError
from features.scoring_model import ScoringModel
from training.evaluation import metric_key

with warnings.catch_warnings():
    # Importing mlflow.pyfunc warns about MLflow's own agent types ("Any type hint is inferred
    # as AnyType"): not ours to fix, and it would break every importer that runs with warnings
    # as errors (the test suite does).
    warnings.filterwarnings("ignore", r".*Any type hint is inferred as AnyType", UserWarning)
    import mlflow.pyfunc
    from mlflow.pyfunc import PythonModel, PythonModelContext

__all__ = [
    "BUNDLE_ARTIFACT",
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_MODEL_NAME",
    "HISTORY_TAG",
    "BundleModel",
    "Loader",
    "ModelRegistry",
    "NoChallenger",
    "NothingToRollBack",
    "PromotionDecision",
    "PromotionRefused",
    "PromotionRules",
    "UnknownModelVersion",
    "compare",
    "loader_reference",
    "resolve_loader",
]

DEFAULT_MODEL_NAME = "credit-risk"
CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"
HISTORY_LIMIT = 50  # oldest entries dropped, to stay far below MLflow's tag size limit
BUNDLE_ARTIFACT = "bundle"
MODEL_ARTIFACT_PATH = "model"

# A loader reads a bundle directory and returns its predict function (frame -> predictions).
Predict = Callable[[pd.DataFrame], Any]
Loader = Callable[[Path], Predict]


# --- errors -----------------------------------------------------------------------------------


class PromotionRefused(CreditRiskError):
    """The challenger is worse than the champion; `reasons` say which metric and by how much."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = list(reasons)
        listed = "\n".join(f"  - {reason}" for reason in self.reasons)
        super().__init__(f"promotion refused, the champion stays:\n{listed}")


class NothingToRollBack(CreditRiskError):
    """Rollback asked for while no previous champion is recorded."""


class NoChallenger(CreditRiskError):
    """Promotion asked for while no version holds the challenger alias."""


class UnknownModelVersion(CreditRiskError, LookupError):
    """An alias that is not set or a version that does not exist."""


# --- promotion rules (pure) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromotionRules:
    """How much worse than the champion a challenger may be, per target, on the same holdout.

    Metrics are read under the keys of `training.evaluation.metric_key` for the model on all
    rows, e.g. "late_roc_auc", "severe_brier", "late_ece".
    """

    targets: tuple[str, ...] = ("late", "severe")
    max_auc_drop: float = 0.002
    max_brier_rise: float = 0.002
    max_ece: float = 0.02  # an ECE at or below this passes even if the champion's is lower


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger may replace the champion, and why (the failures when refused)."""

    allowed: bool
    reasons: list[str] = field(default_factory=list)


def compare(
    champion: Mapping[str, float] | None,
    challenger: Mapping[str, float],
    rules: PromotionRules | None = None,
) -> PromotionDecision:
    """Decide a promotion from the two models' metrics on the same holdout.

    Allowed when every check passes (reasons then list the checks); refused otherwise (reasons
    list only the failed checks, each with both values). A metric missing or NaN on either side
    fails its check: promotion needs evidence.
    """
    rules = rules or PromotionRules()
    if not champion:
        return PromotionDecision(True, ["no champion yet"])
    checks = []
    for target in rules.targets:
        checks.append(_not_worse(metric_key(target, "roc_auc"), champion, challenger,
                                 rules.max_auc_drop, higher_is_better=True))  # fmt: skip
        checks.append(_not_worse(metric_key(target, "brier"), champion, challenger,
                                 rules.max_brier_rise, higher_is_better=False))  # fmt: skip
        checks.append(_calibrated(metric_key(target, "ece"), champion, challenger, rules.max_ece))
    failures = [reason for passed, reason in checks if not passed]
    if failures:
        return PromotionDecision(False, failures)
    return PromotionDecision(True, [reason for _, reason in checks])


def _value(metrics: Mapping[str, float], key: str) -> float:
    value = metrics.get(key)
    return float(value) if value is not None else math.nan


def _missing(key: str, champion: float, challenger: float) -> str | None:
    if math.isnan(challenger):
        return f"{key}: the challenger has no value"
    if math.isnan(champion):
        return f"{key}: the champion has no value to compare with"
    return None


def _not_worse(
    key: str,
    champion: Mapping[str, float],
    challenger: Mapping[str, float],
    tolerance: float,
    *,
    higher_is_better: bool,
) -> tuple[bool, str]:
    """The challenger's metric is at most `tolerance` worse than the champion's."""
    old, new = _value(champion, key), _value(challenger, key)
    if problem := _missing(key, old, new):
        return False, problem
    worse, side = ("lower", "below") if higher_is_better else ("higher", "above")
    if new < old - tolerance if higher_is_better else new > old + tolerance:
        return False, (
            f"{key}: challenger {new:.4f} is more than {tolerance} {side} champion {old:.4f}"
        )
    return True, f"{key}: challenger {new:.4f}, champion {old:.4f} (at most {tolerance} {worse})"


def _calibrated(
    key: str, champion: Mapping[str, float], challenger: Mapping[str, float], limit: float
) -> tuple[bool, str]:
    old, new = _value(champion, key), _value(challenger, key)
    if math.isnan(new):
        return False, f"{key}: the challenger has no value"
    if new <= limit:
        return True, f"{key}: challenger {new:.4f} is within {limit}"
    if not math.isnan(old) and new <= old:
        return True, f"{key}: challenger {new:.4f} is above {limit}, not above champion {old:.4f}"
    shown = "no value" if math.isnan(old) else f"{old:.4f}"
    return False, f"{key}: challenger {new:.4f} is above {limit} and above champion ({shown})"


# --- the pyfunc wrapper of a bundle -----------------------------------------------------------


def loader_reference(loader: str | Loader) -> str:
    """ "module:function" of a loader; it must be importable where the model is loaded.

    A reference is stored instead of the function itself so that the pickled model holds a
    name, not code: loading the registered model runs the loader of the installed project.
    """
    if isinstance(loader, str):
        reference = loader
    else:
        qualname = getattr(loader, "__qualname__", "")
        if not qualname or "<" in qualname:
            raise ValueError(
                f"the loader must be a module-level function (got {loader!r}): the registered "
                "model imports it by name when it is loaded"
            )
        reference = f"{loader.__module__}:{qualname}"
    resolve_loader(reference)  # fail now rather than when the model is loaded
    return reference


def resolve_loader(reference: str) -> Loader:
    """The loader function named by a "module:function" reference."""
    module_name, _, qualname = reference.partition(":")
    if not module_name or not qualname:
        raise ValueError(
            f"a loader reference looks like 'package.module:function', got {reference!r}"
        )
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ValueError(f"loader {reference!r}: {module_name} has no {qualname}")
    if not callable(target):
        raise ValueError(f"loader {reference!r} is not callable")
    loader: Loader = target
    return loader


class BundleModel(PythonModel):
    """An MLflow pyfunc model that delegates to the project's loader of a bundle directory."""

    def __init__(self, loader: str) -> None:
        self.loader = loader
        self._predict: Predict | None = None

    def load_context(self, context: PythonModelContext) -> None:
        bundle_dir = Path(context.artifacts[BUNDLE_ARTIFACT])
        self._predict = resolve_loader(self.loader)(bundle_dir)

    # The type hints matter: without them MLflow warns at logging time.
    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> Any:
        if self._predict is None:
            raise RuntimeError("BundleModel.predict called before load_context")
        return self._predict(model_input)


# --- the registry -----------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ModelRegistry:
    """The registered model `name` in the MLflow store at `tracking_uri`, used by alias."""

    def __init__(
        self,
        tracking_uri: str,
        name: str = DEFAULT_MODEL_NAME,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.name = name
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._clock = clock

    def log_bundle(
        self,
        bundle_dir: Path,
        *,
        input_example: pd.DataFrame,
        loader: str | Loader,
        run_id: str | None = None,
        pip_requirements: Sequence[str] | None = None,
    ) -> str:
        """Log a bundle as a pyfunc model into the active run (or `run_id`); register it.

        loader: "module:function" (or the function) that reads a bundle directory and returns
        a predict function; the signature is inferred from `input_example` and its prediction.
        pip_requirements default to this environment's mlflow-skinny, pandas and numpy: MLflow's
        own inference would import the model in a subprocess, which is slow and noisy.
        Returns the new version number.
        """
        bundle_dir = Path(bundle_dir)
        if not bundle_dir.is_dir():
            raise ValueError(f"the model bundle {bundle_dir} is not a directory")
        reference = loader_reference(loader)
        prediction = resolve_loader(reference)(bundle_dir)(input_example)
        signature = infer_signature(input_example, prediction)
        with self._run(run_id):
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT_PATH,
                python_model=BundleModel(reference),
                artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
                input_example=input_example,
                signature=signature,
                registered_model_name=self.name,
                pip_requirements=list(pip_requirements or _default_requirements()),
            )
        return str(info.registered_model_version)

    def set_challenger(self, version: str | int) -> None:
        version = self._existing(str(version))
        self.client.set_registered_model_alias(self.name, CHALLENGER, version)

    def version_of(self, alias: str) -> str | None:
        """The version holding an alias, or None when the alias (or the model) is not set."""
        registered = self._registered_model()
        if registered is None:
            return None
        version = registered.aliases.get(alias)
        return None if version is None else str(version)

    def download(self, alias_or_version: str | int, dst: Path) -> Path:
        """A local copy of a version's bundle directory, in the folder `dst` (the caller's to
        remove: a scratch folder of its own, or where the copy is kept)."""
        version = self._resolve(alias_or_version)
        # Not a models:/ URI: MLflow resolves those with the global registry URI, not ours.
        source = self.client.get_model_version_download_uri(self.name, version)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(dst), tracking_uri=self.tracking_uri
        )
        flavor = Model.load(local).flavors["python_function"]
        return Path(local) / flavor["artifacts"][BUNDLE_ARTIFACT]["path"]

    def load(self, alias_or_version: str | int) -> ScoringModel:
        """A version's model, read into memory from a download that is removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="credit-risk-") as scratch:
            return ScoringModel.load(self.download(alias_or_version, Path(scratch)))

    def metrics_of(self, alias_or_version: str | int) -> dict[str, float]:
        """The metrics of the run that logged a version ({} when it has no run)."""
        model_version = self.client.get_model_version(self.name, self._resolve(alias_or_version))
        if not model_version.run_id:
            return {}
        return dict(self.client.get_run(model_version.run_id).data.metrics)

    def versions(self) -> list[str]:
        """Every registered version, oldest first."""
        found = self.client.search_model_versions(f"name = '{self.name}'")
        return sorted((str(v.version) for v in found), key=int)

    def history(self) -> list[dict[str, str]]:
        """Previous champions, oldest first: version, replaced_by and replaced_at (UTC)."""
        registered = self._registered_model()
        tags = registered.tags if registered is not None else {}
        history: list[dict[str, str]] = json.loads(tags.get(HISTORY_TAG, "[]"))
        return history

    def promote(self, decision: PromotionDecision) -> str:
        """Make the challenger the champion if the decision allows it; return the new champion.

        The previous champion goes onto the history; the challenger alias is released, ready
        for the next candidate. Raises PromotionRefused (with the reasons) otherwise.
        """
        if not decision.allowed:
            raise PromotionRefused(decision.reasons)
        challenger = self.version_of(CHALLENGER)
        if challenger is None:
            raise NoChallenger(f"model {self.name!r} has no challenger to promote")
        champion = self.version_of(CHAMPION)
        if champion == challenger:
            raise NoChallenger(f"the challenger, version {challenger}, is already the champion")
        now = self._clock().isoformat()
        if champion is not None:
            entry = {"version": champion, "replaced_by": challenger, "replaced_at": now}
            self._write_history([*self.history(), entry])
        # History first: if the alias move failed, a rollback would return to the same version,
        # which is harmless; the other order could lose the way back.
        self.client.set_registered_model_alias(self.name, CHAMPION, challenger)
        self.client.delete_registered_model_alias(self.name, CHALLENGER)
        self.client.set_model_version_tag(self.name, challenger, "promoted_at", now)
        return challenger

    def rollback(self) -> str:
        """Give the champion alias back to the previous champion; return its version."""
        history = self.history()
        if not history:
            raise NothingToRollBack(f"model {self.name!r} has no previous champion to go back to")
        previous = history.pop()
        current = self.version_of(CHAMPION)
        self._write_history(history)
        self.client.set_registered_model_alias(self.name, CHAMPION, previous["version"])
        if current is not None:
            now = self._clock().isoformat()
            self.client.set_model_version_tag(self.name, current, "rolled_back_at", now)
        return previous["version"]

    def _registered_model(self) -> RegisteredModel | None:
        try:
            return self.client.get_registered_model(self.name)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _write_history(self, history: list[dict[str, str]]) -> None:
        value = json.dumps(history[-HISTORY_LIMIT:])
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, value)

    def _resolve(self, alias_or_version: str | int) -> str:
        text = str(alias_or_version)
        if text.isdigit():
            return self._existing(text)
        version = self.version_of(text)
        if version is None:
            raise UnknownModelVersion(f"model {self.name!r} has no version with alias {text!r}")
        return version

    def _existing(self, version: str) -> str:
        try:
            return str(self.client.get_model_version(self.name, version).version)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise UnknownModelVersion(f"model {self.name!r} has no version {version}") from None
            raise

    @contextmanager
    def _run(self, run_id: str | None) -> Iterator[None]:
        """Point MLflow's global state at this store for the run, and put it back afterwards."""
        active = mlflow.active_run()
        if active is not None:
            if run_id is not None and run_id != active.info.run_id:
                raise ValueError(f"run {run_id} given while run {active.info.run_id} is active")
            if mlflow.get_tracking_uri() != self.tracking_uri:
                raise ValueError(
                    f"the active run is tracked at {mlflow.get_tracking_uri()}, "
                    f"not in this registry's store {self.tracking_uri}"
                )
            yield
            return
        if run_id is None:
            raise ValueError(
                "log_bundle needs an MLflow run: call it in mlflow.start_run() or pass run_id"
            )
        previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            with mlflow.start_run(run_id=run_id):
                yield
        finally:
            mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]  # None unsets it


def _default_requirements() -> list[str]:
    return [
        f"mlflow-skinny=={mlflow.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
    ]
